//! Kiss-o'-Death codes (RFC 5905 §7.4, Figure 13; IANA "NTP Kiss-o'-Death Codes").
//!
//! A KoD is a server packet with stratum 0 whose reference id carries four
//! ASCII characters. The 14 RFC codes and RFC 8915's NTSN are named; anything else is kept as it
//! came (`Unknown`), codes beginning with `X` being experimental by definition.

use std::fmt;

/// What RFC 5905 requires of a client that receives the code.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum KissAction {
    /// DENY, RSTR: demobilize the association and stop sending to this server.
    StopSending,
    /// RATE: reduce the polling rate, and again on each further RATE.
    ReducePolling,
    /// Every other code: informational.
    None,
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum KissCode {
    Acst,
    Auth,
    Auto,
    Bcst,
    Cryp,
    Deny,
    Drop,
    Rstr,
    Init,
    Mcst,
    Nkey,
    Rate,
    Rmot,
    Step,
    /// NTS NAK (RFC 8915 §5.7, registered with IANA): the server could not
    /// decrypt or validate the request's NTS cookie.
    Ntsn,
    /// Any other four octets, kept exactly as received.
    Unknown([u8; 4]),
}

const TABLE: [(KissCode, &[u8; 4]); 15] = [
    (KissCode::Acst, b"ACST"),
    (KissCode::Auth, b"AUTH"),
    (KissCode::Auto, b"AUTO"),
    (KissCode::Bcst, b"BCST"),
    (KissCode::Cryp, b"CRYP"),
    (KissCode::Deny, b"DENY"),
    (KissCode::Drop, b"DROP"),
    (KissCode::Rstr, b"RSTR"),
    (KissCode::Init, b"INIT"),
    (KissCode::Mcst, b"MCST"),
    (KissCode::Nkey, b"NKEY"),
    (KissCode::Rate, b"RATE"),
    (KissCode::Rmot, b"RMOT"),
    (KissCode::Step, b"STEP"),
    (KissCode::Ntsn, b"NTSN"),
];

impl KissCode {
    /// Every code RFC 5905 defines, in the RFC's order.
    pub const ALL: [KissCode; 14] = [
        KissCode::Acst,
        KissCode::Auth,
        KissCode::Auto,
        KissCode::Bcst,
        KissCode::Cryp,
        KissCode::Deny,
        KissCode::Drop,
        KissCode::Rstr,
        KissCode::Init,
        KissCode::Mcst,
        KissCode::Nkey,
        KissCode::Rate,
        KissCode::Rmot,
        KissCode::Step,
    ];

    pub fn from_bytes(b: [u8; 4]) -> KissCode {
        TABLE
            .iter()
            .find(|(_, raw)| **raw == b)
            .map(|(c, _)| *c)
            .unwrap_or(KissCode::Unknown(b))
    }

    /// Parses a code given by a user (`rate`, `RATE`); any four printable ASCII
    /// characters are accepted, shorter ones are zero-padded as on the wire.
    pub fn parse(s: &str) -> Option<KissCode> {
        let s = s.trim();
        if s.is_empty() || s.len() > 4 || !s.bytes().all(|c| c.is_ascii_graphic()) {
            return None;
        }
        let mut b = [0u8; 4];
        for (i, c) in s.bytes().enumerate() {
            b[i] = c.to_ascii_uppercase();
        }
        Some(KissCode::from_bytes(b))
    }

    pub fn bytes(self) -> [u8; 4] {
        match self {
            KissCode::Unknown(b) => b,
            known => *TABLE
                .iter()
                .find(|(c, _)| *c == known)
                .map(|(_, b)| *b)
                .unwrap_or(b"????"),
        }
    }

    /// The code as text; non-printable octets are shown as `\xNN`, trailing NULs dropped.
    pub fn text(self) -> String {
        ascii_text(&self.bytes())
    }

    /// True when the four octets read as a kiss code: printable ASCII,
    /// left-justified, zero-filled (RFC 5905 §7.4).
    pub fn looks_like_code(b: [u8; 4]) -> bool {
        let len = b.iter().position(|&c| c == 0).unwrap_or(4);
        len > 0 && b[..len].iter().all(|c| c.is_ascii_graphic()) && b[len..].iter().all(|&c| c == 0)
    }

    pub fn is_experimental(self) -> bool {
        matches!(self, KissCode::Unknown(b) if b[0] == b'X')
    }

    /// What the RFC says the code means.
    pub fn meaning(self) -> &'static str {
        match self {
            KissCode::Acst => "the association belongs to a unicast server",
            KissCode::Auth => "server authentication failed",
            KissCode::Auto => "Autokey sequence failed",
            KissCode::Bcst => "the association belongs to a broadcast server",
            KissCode::Cryp => "cryptographic authentication or identification failed",
            KissCode::Deny => "access denied by the remote server",
            KissCode::Drop => "lost peer in symmetric mode",
            KissCode::Rstr => "access denied due to local policy",
            KissCode::Init => "the association has not yet synchronized for the first time",
            KissCode::Mcst => "the association belongs to a dynamically discovered server",
            KissCode::Nkey => "no key found: the key was never installed or is not trusted",
            KissCode::Rate => "rate exceeded: the server has temporarily denied access",
            KissCode::Rmot => "alteration of association from a remote host running ntpdc",
            KissCode::Step => "a step change in system time has occurred, not yet resynchronized",
            KissCode::Ntsn => {
                "NTS negative acknowledgment: the server could not decrypt or validate the request's cookie"
            }
            KissCode::Unknown(b) if b[0] == b'X' => "experimental code, not assigned by IANA",
            KissCode::Unknown(_) => "not a code RFC 5905 or RFC 8915 defines",
        }
    }

    pub fn action(self) -> KissAction {
        match self {
            KissCode::Deny | KissCode::Rstr => KissAction::StopSending,
            KissCode::Rate => KissAction::ReducePolling,
            _ => KissAction::None,
        }
    }
}

impl fmt::Display for KissCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text())
    }
}

/// Four octets as ASCII, trailing NULs dropped, other non-printables escaped.
pub fn ascii_text(b: &[u8; 4]) -> String {
    let end = b.iter().rposition(|&c| c != 0).map_or(0, |p| p + 1);
    let mut s = String::new();
    for &c in &b[..end] {
        if c.is_ascii_graphic() || c == b' ' {
            s.push(c as char);
        } else {
            s.push_str(&format!("\\x{c:02x}"));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_fourteen_round_trip() {
        for c in KissCode::ALL {
            assert_eq!(KissCode::from_bytes(c.bytes()), c);
            assert_eq!(KissCode::parse(&c.text().to_lowercase()), Some(c));
            assert!(KissCode::looks_like_code(c.bytes()));
            assert!(!c.meaning().is_empty());
        }
    }

    #[test]
    fn actions_follow_the_rfc() {
        assert_eq!(KissCode::Deny.action(), KissAction::StopSending);
        assert_eq!(KissCode::Rstr.action(), KissAction::StopSending);
        assert_eq!(KissCode::Rate.action(), KissAction::ReducePolling);
        assert_eq!(KissCode::Init.action(), KissAction::None);
    }

    #[test]
    fn unknown_codes_are_kept() {
        let c = KissCode::from_bytes(*b"XFOO");
        assert_eq!(c, KissCode::Unknown(*b"XFOO"));
        assert!(c.is_experimental());
        assert_eq!(c.text(), "XFOO");
        let odd = KissCode::from_bytes([0x01, b'A', 0, 0]);
        assert_eq!(odd.text(), "\\x01A");
        assert!(!KissCode::looks_like_code([0x01, b'A', 0, 0]));
        assert!(!KissCode::looks_like_code([0, 0, 0, 0]));
        assert!(!KissCode::looks_like_code([b'A', 0, b'B', 0]));
        assert!(KissCode::looks_like_code(*b"DNS\0"));
        assert_eq!(KissCode::parse("toolong"), None);
        assert_eq!(KissCode::parse("dns"), Some(KissCode::Unknown(*b"DNS\0")));
    }
}

//! The reference identifier (RFC 5905 §7.3, "Reference ID (refid)").
//!
//! Its meaning depends on the stratum of the packet that carries it:
//! stratum 0 — a kiss code; stratum 1 — an ASCII clock source (`GPS`, `PPS`,
//! `LOCL`); stratum 2–15 — the IPv4 address of the upstream server, or the
//! first four octets of the MD5 hash of its IPv6 address; stratum 16 — in
//! practice ASCII again (`INIT`, `XFAC`) from implementations that send their
//! unsynchronized state.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use md5::{Digest, Md5};

use super::kiss::{KissCode, ascii_text};

#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Debug)]
pub struct ReferenceId(pub [u8; 4]);

/// How a reference id reads at a given stratum.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum RefIdMeaning {
    /// Stratum 0: a kiss code.
    Kiss(KissCode),
    /// Stratum 0 with octets that are no code (often all zero).
    NoCode([u8; 4]),
    /// Stratum 1 (or 16): an ASCII source name.
    Source(String),
    /// Stratum 2–15: an IPv4 upstream, or a hash of an IPv6 upstream.
    Upstream(Ipv4Addr),
}

impl ReferenceId {
    pub const fn from_ascii(b: &[u8; 4]) -> ReferenceId {
        ReferenceId(*b)
    }

    /// Pads a 1–4 character name with NULs; `None` if longer or not ASCII.
    pub fn from_name(s: &str) -> Option<ReferenceId> {
        if s.is_empty() || s.len() > 4 || !s.is_ascii() {
            return None;
        }
        let mut b = [0u8; 4];
        b[..s.len()].copy_from_slice(s.as_bytes());
        Some(ReferenceId(b))
    }

    pub fn from_ipv4(a: Ipv4Addr) -> ReferenceId {
        ReferenceId(a.octets())
    }

    /// RFC 5905: the first four octets of the MD5 hash of the IPv6 address.
    pub fn from_ipv6(a: Ipv6Addr) -> ReferenceId {
        let h = Md5::digest(a.octets());
        ReferenceId([h[0], h[1], h[2], h[3]])
    }

    pub fn as_ipv4(self) -> Ipv4Addr {
        Ipv4Addr::from(self.0)
    }

    pub fn ascii(self) -> String {
        ascii_text(&self.0)
    }

    pub fn meaning(self, stratum: u8) -> RefIdMeaning {
        match stratum {
            0 if KissCode::looks_like_code(self.0) => {
                RefIdMeaning::Kiss(KissCode::from_bytes(self.0))
            }
            0 => RefIdMeaning::NoCode(self.0),
            1 => RefIdMeaning::Source(self.ascii()),
            2..=15 => RefIdMeaning::Upstream(self.as_ipv4()),
            _ if KissCode::looks_like_code(self.0) => RefIdMeaning::Source(self.ascii()),
            _ => RefIdMeaning::Upstream(self.as_ipv4()),
        }
    }

    /// As `ntpq` shows it: `.GPS.`, `.INIT.` for codes and names, dotted quad otherwise.
    pub fn display(self, stratum: u8) -> String {
        match self.meaning(stratum) {
            RefIdMeaning::Kiss(c) => format!(".{}.", c.text()),
            RefIdMeaning::NoCode(b) => format!("{} (no code)", Ipv4Addr::from(b)),
            RefIdMeaning::Source(s) => format!(".{s}."),
            RefIdMeaning::Upstream(a) => a.to_string(),
        }
    }

    /// A longer description for packet dumps.
    pub fn describe(self, stratum: u8) -> String {
        match self.meaning(stratum) {
            RefIdMeaning::Kiss(c) => format!("{} (kiss code: {})", c.text(), c.meaning()),
            RefIdMeaning::NoCode(b) => {
                format!(
                    "{:02x}{:02x}{:02x}{:02x} (stratum 0 without a kiss code)",
                    b[0], b[1], b[2], b[3]
                )
            }
            RefIdMeaning::Source(s) if stratum == 1 => format!("{s} (reference clock)"),
            RefIdMeaning::Source(s) => s.to_string(),
            RefIdMeaning::Upstream(a) => {
                format!("{a} (upstream IPv4 address, or hash of an IPv6 one)")
            }
        }
    }
}

impl fmt::Display for ReferenceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:02x}{:02x}{:02x}{:02x}",
            self.0[0], self.0[1], self.0[2], self.0[3]
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_by_stratum() {
        let init = ReferenceId(*b"INIT");
        assert_eq!(init.display(0), ".INIT.");
        assert_eq!(
            init.describe(0),
            "INIT (kiss code: the association has not yet synchronized for the first time)"
        );
        assert_eq!(ReferenceId(*b"GPS\0").display(1), ".GPS.");
        assert_eq!(ReferenceId([192, 0, 2, 1]).display(2), "192.0.2.1");
        assert_eq!(ReferenceId(*b"XFAC").display(16), ".XFAC.");
        assert_eq!(ReferenceId([0, 0, 0, 0]).display(0), "0.0.0.0 (no code)");
        assert_eq!(ReferenceId([10, 0, 0, 1]).display(16), "10.0.0.1");
    }

    #[test]
    fn ipv6_hash() {
        // Expected values from Python's hashlib.md5(IPv6Address(a).packed).
        assert_eq!(
            ReferenceId::from_ipv6(Ipv6Addr::LOCALHOST).0,
            [0xcf, 0x40, 0x4d, 0xc8]
        );
        let doc: Ipv6Addr = "2001:db8::1".parse().unwrap();
        assert_eq!(ReferenceId::from_ipv6(doc).0, [0x39, 0xab, 0x9b, 0x37]);
    }

    #[test]
    fn names() {
        assert_eq!(ReferenceId::from_name("LOCL"), Some(ReferenceId(*b"LOCL")));
        assert_eq!(ReferenceId::from_name("GPS"), Some(ReferenceId(*b"GPS\0")));
        assert_eq!(ReferenceId::from_name("TOOLONG"), None);
        assert_eq!(ReferenceId::from_name(""), None);
    }
}

//! NTS on the server side (RFC 8915 §4.1.2–§4.1.8, §5.7), with the faults
//! `serve --nts` reproduces on purpose. Sans-IO: the KE answer is decided
//! from the request's octets and the keys the TLS edge exported; an NTP
//! request's fate from its octets, the plain reply's header and random
//! octets given by the caller.

use rand::Rng;

use crate::wire::nts::{self, CookieKey, Keys, NONCE_LEN, NtsError};
use crate::wire::nts_ke::{self, AEAD_AES_SIV_CMAC_256, PROTOCOL_NTPV4, Read, ServerAnswer};

/// Cookies handed out by one KE exchange (RFC 8915 §4.1.6 suggests 8).
pub const KE_COOKIES: usize = 8;
/// Most cookies one NTP reply brings (one per cookie and placeholder).
pub const MAX_REPLY_COOKIES: usize = 8;

/// What `serve --nts` breaks on purpose.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NtsFault {
    /// A certificate whose validity ended yesterday.
    ExpiredCert,
    /// A certificate valid only from tomorrow.
    NotYetValidCert,
    /// A self-signed certificate (not issued by the CA clients are given).
    SelfSignedCert,
    /// The TLS server offers no ALPN.
    NoAlpn,
    /// TLS 1.2 only.
    Tls12,
    /// An Error record with this code instead of an answer.
    KeError(u16),
    /// A KE answer without New Cookie records.
    NoCookies,
    /// Every NTS request answered with the NTSN kiss.
    Ntsn,
    /// NTS requests (with extension fields) dropped; plain ones answered.
    DropNts,
    /// NTS requests answered as plain ones (48 octets, no NTS fields).
    PlainReplies,
}

impl NtsFault {
    /// The names `--nts-fault` takes.
    pub const NAMES: &'static [&'static str] = &[
        "expired",
        "not-yet-valid",
        "self-signed",
        "no-alpn",
        "tls12",
        "ke-error[=CODE]",
        "no-cookies",
        "ntsn",
        "drop-nts",
        "plain-replies",
    ];

    pub fn parse(s: &str) -> Result<NtsFault, String> {
        Ok(match s {
            "expired" => NtsFault::ExpiredCert,
            "not-yet-valid" => NtsFault::NotYetValidCert,
            "self-signed" => NtsFault::SelfSignedCert,
            "no-alpn" => NtsFault::NoAlpn,
            "tls12" => NtsFault::Tls12,
            "ke-error" => NtsFault::KeError(2),
            "no-cookies" => NtsFault::NoCookies,
            "ntsn" => NtsFault::Ntsn,
            "drop-nts" => NtsFault::DropNts,
            "plain-replies" => NtsFault::PlainReplies,
            s => match s.strip_prefix("ke-error=") {
                Some(c) => NtsFault::KeError(
                    c.parse()
                        .map_err(|_| format!("ke-error={c}: the code is a number 0-65535"))?,
                ),
                None => {
                    return Err(format!(
                        "unknown NTS fault `{s}` (one of: {})",
                        NtsFault::NAMES.join(", ")
                    ));
                }
            },
        })
    }
}

/// The NTS side of one served profile, shared by its KE and NTP loops.
#[derive(Clone, Debug, PartialEq)]
pub struct NtsServer {
    pub cookie_key: CookieKey,
    pub faults: Vec<NtsFault>,
    /// NTPv4 Server Negotiation to send (when NTP is served elsewhere).
    pub ntp_server: Option<String>,
    /// NTPv4 Port Negotiation to send (when NTP is not on 123).
    pub ntp_port: Option<u16>,
}

/// What the KE exchange decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeDecision {
    pub answer: ServerAnswer,
    /// The AEAD whose keys the cookies hold (the edge exports them).
    pub aead: Option<u16>,
}

/// What to do with an NTP request that carries NTS fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NtpDecision {
    /// Send these octets (an authenticated reply or an NTSN kiss).
    Reply {
        bytes: Vec<u8>,
        ntsn: bool,
    },
    Drop(NtsDrop),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NtsDrop {
    /// The `drop-nts` fault.
    Fault,
    /// The NTS fields are malformed or missing.
    Malformed,
    /// The authenticator does not verify with the cookie's key.
    BadAuthenticator,
}

impl NtsServer {
    pub fn new(cookie_key: CookieKey) -> NtsServer {
        NtsServer {
            cookie_key,
            faults: Vec::new(),
            ntp_server: None,
            ntp_port: None,
        }
    }

    pub fn has(&self, f: NtsFault) -> bool {
        self.faults.contains(&f)
    }

    /// Decides the KE answer to a whole request. `keys` exports the two
    /// keys for the chosen AEAD from the TLS session.
    pub fn ke_answer(
        &self,
        request: &[u8],
        keys: impl FnOnce(u16) -> Option<Keys>,
        rng: &mut impl Rng,
    ) -> KeDecision {
        let error = |code| KeDecision {
            answer: ServerAnswer {
                error: Some(code),
                ..ServerAnswer::default()
            },
            aead: None,
        };
        let r = match nts_ke::read_message(request) {
            Ok(Read::Done(r, _)) => r,
            // Bad Request (RFC 8915 §4.1.3, code 1).
            _ => return error(1),
        };
        if !r.unknown_critical.is_empty() {
            return error(0);
        }
        if let Some(code) = self.faults.iter().find_map(|f| match f {
            NtsFault::KeError(c) => Some(*c),
            _ => None,
        }) {
            return error(code);
        }
        if !r
            .next_protocols
            .as_ref()
            .is_some_and(|p| p.contains(&PROTOCOL_NTPV4))
        {
            return error(1);
        }
        let aead = r
            .aead
            .as_ref()
            .and_then(|a| a.iter().copied().find(|&x| x == AEAD_AES_SIV_CMAC_256));
        let mut answer = ServerAnswer {
            aead,
            server: self.ntp_server.clone(),
            port: self.ntp_port,
            ..ServerAnswer::default()
        };
        if let Some(a) = aead
            && !self.has(NtsFault::NoCookies)
        {
            match keys(a) {
                Some(k) => {
                    answer.cookies = (0..KE_COOKIES)
                        .map(|_| self.cookie_key.make(&k, &nonce(rng)))
                        .collect();
                }
                None => return error(2),
            }
        }
        KeDecision { answer, aead }
    }

    /// Decides the answer to an NTP request with NTS fields. `header` is the
    /// plain 48-octet reply already made; `kiss` the NTSN kiss header.
    pub fn ntp_answer(
        &self,
        request: &[u8],
        header: &[u8],
        kiss: &[u8],
        rng: &mut impl Rng,
    ) -> NtpDecision {
        if self.has(NtsFault::DropNts) {
            return NtpDecision::Drop(NtsDrop::Fault);
        }
        let fields = match nts::read_request(request) {
            Ok(f) => f,
            Err(_) => return NtpDecision::Drop(NtsDrop::Malformed),
        };
        let keys = match self.cookie_key.open(fields.cookie) {
            Ok(k) if !self.has(NtsFault::Ntsn) => k,
            Ok(_) | Err(NtsError::UnknownCookie) => {
                return NtpDecision::Reply {
                    bytes: nts::ntsn_reply(kiss, fields.unique_id),
                    ntsn: true,
                };
            }
            Err(_) => return NtpDecision::Drop(NtsDrop::Malformed),
        };
        if fields.verify(request, &keys.c2s).is_err() {
            return NtpDecision::Drop(NtsDrop::BadAuthenticator);
        }
        let mut n = (1 + fields.placeholders).min(MAX_REPLY_COOKIES);
        loop {
            let cookies: Vec<_> = (0..n)
                .map(|_| self.cookie_key.make(&keys, &nonce(rng)))
                .collect();
            let bytes =
                nts::server_reply(header, fields.unique_id, &keys.s2c, &nonce(rng), &cookies);
            // Never larger than the request (no amplification).
            if bytes.len() <= request.len() || n == 0 {
                return NtpDecision::Reply { bytes, ntsn: false };
            }
            n -= 1;
        }
    }
}

fn nonce(rng: &mut impl Rng) -> [u8; NONCE_LEN] {
    let mut n = [0u8; NONCE_LEN];
    rng.fill_bytes(&mut n);
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::nts::{ClientRequest, KEY_LEN, client_request, verify_reply};
    use rand::SeedableRng;

    fn server() -> NtsServer {
        NtsServer::new(CookieKey {
            id: 1,
            key: [7; KEY_LEN],
        })
    }

    fn keys() -> Keys {
        Keys {
            c2s: [1; KEY_LEN],
            s2c: [2; KEY_LEN],
        }
    }

    #[test]
    fn ke_answers_and_faults() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let req = nts_ke::client_request(&[AEAD_AES_SIV_CMAC_256]);
        let d = server().ke_answer(&req, |_| Some(keys()), &mut rng);
        assert_eq!(d.aead, Some(15));
        assert_eq!(d.answer.cookies.len(), KE_COOKIES);
        let mut s = server();
        s.faults = vec![NtsFault::NoCookies];
        assert!(
            s.ke_answer(&req, |_| Some(keys()), &mut rng)
                .answer
                .cookies
                .is_empty()
        );
        s.faults = vec![NtsFault::KeError(1)];
        assert_eq!(
            s.ke_answer(&req, |_| Some(keys()), &mut rng).answer.error,
            Some(1)
        );
        // No AEAD in common: an empty list, no cookies.
        let other = nts_ke::client_request(&[30]);
        let d = server().ke_answer(&other, |_| Some(keys()), &mut rng);
        assert_eq!((d.aead, d.answer.cookies.len()), (None, 0));
        assert_eq!(
            server()
                .ke_answer(&req[..3], |_| None, &mut rng)
                .answer
                .error,
            Some(1)
        );
    }

    #[test]
    fn ntp_answer_authenticated_ntsn_and_dropped() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(2);
        let s = server();
        let cookie = s.cookie_key.make(&keys(), &[3; NONCE_LEN]);
        let uid = [9u8; 32];
        let req = client_request(&ClientRequest {
            header: &[0x23; 48],
            unique_id: &uid,
            cookie: &cookie,
            placeholders: 3,
            c2s: &keys().c2s,
            nonce: &[4; NONCE_LEN],
        });
        let NtpDecision::Reply { bytes, ntsn: false } =
            s.ntp_answer(&req, &[0x24; 48], &[0xe4; 48], &mut rng)
        else {
            panic!("no reply")
        };
        assert_eq!(bytes.len(), req.len());
        assert_eq!(
            verify_reply(&bytes, &uid, &keys().s2c)
                .unwrap()
                .cookies
                .len(),
            4
        );
        let mut rotated = server();
        rotated.cookie_key.id = 2;
        assert!(matches!(
            rotated.ntp_answer(&req, &[0x24; 48], &[0xe4; 48], &mut rng),
            NtpDecision::Reply { ntsn: true, .. }
        ));
        let mut dropping = server();
        dropping.faults = vec![NtsFault::DropNts];
        assert_eq!(
            dropping.ntp_answer(&req, &[0x24; 48], &[0xe4; 48], &mut rng),
            NtpDecision::Drop(NtsDrop::Fault)
        );
        let mut forged = req.clone();
        let n = forged.len();
        forged[n - 1] ^= 1;
        assert_eq!(
            s.ntp_answer(&forged, &[0x24; 48], &[0xe4; 48], &mut rng),
            NtpDecision::Drop(NtsDrop::BadAuthenticator)
        );
    }

    #[test]
    fn fault_names() {
        assert_eq!(NtsFault::parse("ke-error=0"), Ok(NtsFault::KeError(0)));
        assert_eq!(NtsFault::parse("ke-error"), Ok(NtsFault::KeError(2)));
        assert!(NtsFault::parse("bogus").is_err());
    }
}

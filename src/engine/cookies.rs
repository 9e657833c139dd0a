//! An NTS client's protocol state for one source, as a daemon keeps it
//! (RFC 8915 §5.7, §6): the keys and the cookie jar from NTS-KE, the Unique
//! Identifier of each request in flight, what an NTSN kiss does, and when a
//! failed key exchange may be tried again. Sans-IO: the edge runs the key
//! exchange when [`CookieJar::needs_key_exchange`] says so and hands its
//! outcome in; time and random octets are parameters.

use std::time::{Duration, Instant};

use crate::wire::nts::{self, ClientRequest, Keys, NONCE_LEN};

/// How long a source whose key exchange failed waits before the next try.
pub const KE_RETRY: Duration = Duration::from_secs(60);

/// Requests in flight remembered (older ones are forgotten).
pub const PENDING_MAX: usize = 16;

/// What a jar did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JarStats {
    pub key_exchanges: u64,
    pub key_exchanges_failed: u64,
    pub sent: u64,
    pub authenticated: u64,
    pub ntsn: u64,
    /// Replies dropped because they did not verify.
    pub rejected: u64,
    /// Requests not sent: no cookie (the key exchange failed).
    pub unsent: u64,
    pub last_failure: Option<String>,
}

/// One NTS source's keys, cookies and requests in flight.
#[derive(Default)]
pub struct CookieJar {
    keys: Option<Keys>,
    cookies: Vec<Vec<u8>>,
    /// (the request's transmit timestamp, its Unique Identifier), newest last.
    pending: Vec<([u8; 8], [u8; 32])>,
    next_ke: Option<Instant>,
    pub stats: JarStats,
}

impl CookieJar {
    pub fn new() -> CookieJar {
        CookieJar::default()
    }

    /// A key exchange is due: the jar is empty, and the retry time after a
    /// failure has passed.
    pub fn needs_key_exchange(&self, now: Instant) -> bool {
        (self.cookies.is_empty() || self.keys.is_none()) && self.next_ke.is_none_or(|t| now >= t)
    }

    /// The outcome of a key exchange run at `now`: keys and cookies, or why
    /// it failed (the next try waits [`KE_RETRY`]).
    pub fn key_exchanged(&mut self, now: Instant, outcome: Result<(Keys, Vec<Vec<u8>>), String>) {
        self.stats.key_exchanges += 1;
        match outcome {
            Ok((keys, cookies)) if !cookies.is_empty() => {
                self.keys = Some(keys);
                self.cookies = cookies;
                self.next_ke = None;
            }
            failed => {
                self.stats.key_exchanges_failed += 1;
                self.stats.last_failure = match failed {
                    Err(e) => Some(e),
                    Ok(_) => Some("the key exchange gave no cookies".into()),
                };
                self.keys = None;
                self.next_ke = Some(now + KE_RETRY);
            }
        }
    }

    /// The engine's 48-octet request with NTS fields and one cookie, its
    /// Unique Identifier `uid` and AEAD nonce `nonce` drawn by the caller;
    /// `None` (nothing to send) when the jar has no cookie.
    pub fn wrap(
        &mut self,
        header: &[u8; 48],
        uid: [u8; 32],
        nonce: [u8; NONCE_LEN],
    ) -> Option<Vec<u8>> {
        let (Some(keys), Some(cookie)) = (self.keys.clone(), self.cookies.pop()) else {
            self.stats.unsent += 1;
            return None;
        };
        let placeholders = usize::from(self.cookies.len() < 4);
        let req = nts::client_request(&ClientRequest {
            header,
            unique_id: &uid,
            cookie: &cookie,
            placeholders,
            c2s: &keys.c2s,
            nonce: &nonce,
        });
        let mut xmt = [0u8; 8];
        xmt.copy_from_slice(&header[40..48]);
        self.pending.push((xmt, uid));
        if self.pending.len() > PENDING_MAX {
            self.pending.remove(0);
        }
        self.stats.sent += 1;
        Some(req)
    }

    /// What of a reply reaches the engine: its header when authenticated
    /// (its cookies join the jar), or when it is an NTSN kiss for one of our
    /// requests (the jar is then emptied: a fresh key exchange follows);
    /// nothing otherwise (RFC 8915 §5.7: a reply without our Unique
    /// Identifier, or that does not verify, is not ours).
    pub fn unwrap<'a>(&mut self, bytes: &'a [u8]) -> Option<&'a [u8]> {
        let origin = bytes.get(24..32)?;
        let i = self.pending.iter().position(|(x, _)| x == origin)?;
        let (_, uid) = self.pending.remove(i);
        let keys = self.keys.clone()?;
        match nts::verify_reply(bytes, &uid, &keys.s2c) {
            Ok(v) => {
                self.stats.authenticated += 1;
                self.cookies.extend(v.cookies);
                Some(&bytes[..48])
            }
            // An NTSN kiss carries our Unique Identifier and no authenticator.
            Err(nts::NtsError::NoAuthenticator) if bytes[1] == 0 && &bytes[12..16] == b"NTSN" => {
                self.stats.ntsn += 1;
                self.cookies.clear();
                self.keys = None;
                Some(&bytes[..48])
            }
            Err(e) => {
                self.stats.rejected += 1;
                self.stats.last_failure = Some(e.to_string());
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> Keys {
        Keys {
            c2s: [1; crate::wire::nts::KEY_LEN],
            s2c: [2; crate::wire::nts::KEY_LEN],
        }
    }

    fn header(xmt: u8) -> [u8; 48] {
        let mut h = [0u8; 48];
        h[0] = 0x23;
        h[40..48].copy_from_slice(&[xmt; 8]);
        h
    }

    /// An empty jar asks for a key exchange; a failed one waits KE_RETRY;
    /// one with cookies fills the jar, and each request takes one.
    #[test]
    fn key_exchange_retry_and_cookies() {
        let t0 = Instant::now();
        let mut j = CookieJar::new();
        assert!(j.needs_key_exchange(t0));
        assert_eq!(j.wrap(&header(1), [0; 32], [0; NONCE_LEN]), None);
        assert_eq!(j.stats.unsent, 1);
        j.key_exchanged(t0, Err("refused".into()));
        assert!(!j.needs_key_exchange(t0 + Duration::from_secs(59)));
        assert!(j.needs_key_exchange(t0 + KE_RETRY));
        assert_eq!(j.stats.last_failure.as_deref(), Some("refused"));
        j.key_exchanged(
            t0 + KE_RETRY,
            Ok((keys(), vec![vec![7; 100], vec![8; 100]])),
        );
        assert!(!j.needs_key_exchange(t0 + KE_RETRY));
        assert!(j.wrap(&header(1), [3; 32], [4; NONCE_LEN]).is_some());
        assert!(j.wrap(&header(2), [5; 32], [6; NONCE_LEN]).is_some());
        assert!(
            j.needs_key_exchange(t0 + KE_RETRY),
            "two cookies, two requests: empty"
        );
        assert_eq!(j.stats.sent, 2);
        assert_eq!(j.stats.key_exchanges, 2);
        assert_eq!(j.stats.key_exchanges_failed, 1);
    }

    /// A reply to no request in flight, or one that does not verify, never
    /// reaches the engine; an NTSN kiss for ours does, and empties the jar.
    #[test]
    fn replies_are_matched_and_verified() {
        let t0 = Instant::now();
        let mut j = CookieJar::new();
        j.key_exchanged(t0, Ok((keys(), vec![vec![7; 100]; 3])));
        j.wrap(&header(9), [3; 32], [4; NONCE_LEN]).unwrap();
        let mut stray = header(0).to_vec();
        stray[24..32].copy_from_slice(&[1; 8]);
        assert_eq!(j.unwrap(&stray), None, "origin of no request");
        let mut forged = header(0).to_vec();
        forged[24..32].copy_from_slice(&[9; 8]);
        assert_eq!(
            j.unwrap(&forged),
            None,
            "no Unique Identifier, no authenticator"
        );
        assert_eq!(j.stats.rejected, 1);
        // The request was used up by the forged reply: an NTSN for it is stray.
        j.wrap(&header(10), [3; 32], [4; NONCE_LEN]).unwrap();
        let mut ntsn = header(0).to_vec();
        ntsn[0] = 0xe4;
        ntsn[1] = 0;
        ntsn[12..16].copy_from_slice(b"NTSN");
        ntsn[24..32].copy_from_slice(&[10; 8]);
        // Its Unique Identifier field (type 0x0104, 36 octets), no authenticator.
        ntsn.extend([0x01, 0x04, 0x00, 0x24]);
        ntsn.extend([3u8; 32]);
        assert!(j.unwrap(&ntsn).is_some());
        assert_eq!(j.stats.ntsn, 1);
        assert!(j.needs_key_exchange(t0), "an NTSN empties the jar");
        // At most PENDING_MAX requests are remembered.
        j.key_exchanged(t0, Ok((keys(), vec![vec![7; 100]; 40])));
        for x in 0..(PENDING_MAX as u8 + 4) {
            j.wrap(&header(100 + x), [x; 32], [x; NONCE_LEN]).unwrap();
        }
        let mut old = header(0).to_vec();
        old[24..32].copy_from_slice(&[100; 8]);
        assert_eq!(j.unwrap(&old), None, "forgotten");
    }
}

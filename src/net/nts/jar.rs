//! `watch`'s NTS sources: the engine's cookie jar, with the key exchange
//! run here when the jar asks for one.

use super::*;

/// One NTS source while `watch` polls it: the engine's cookie jar
/// ([`crate::engine::cookies::CookieJar`]), and the key exchange run here
/// when the jar asks for one. The engine's 48-octet requests are wrapped
/// here and only authenticated replies (or an NTSN kiss) reach it.
pub struct Jar {
    name: String,
    ke_server: SocketAddr,
    run: Arc<NtsRun>,
    timeout: Duration,
    jar: crate::engine::cookies::CookieJar,
}

impl Jar {
    pub fn new(name: &str, ke_server: SocketAddr, run: Arc<NtsRun>, timeout: Duration) -> Jar {
        Jar {
            name: name.to_string(),
            ke_server,
            run,
            timeout,
            jar: crate::engine::cookies::CookieJar::new(),
        }
    }

    /// What the jar did.
    pub fn stats(&self) -> &JarStats {
        &self.jar.stats
    }

    /// The engine's request with NTS fields and one cookie (NTS-KE first
    /// when the jar asks for it); `None` (nothing to send) when no cookie
    /// can be had.
    pub fn wrap(&mut self, header: &[u8; 48]) -> Option<Vec<u8>> {
        let now = Instant::now();
        if self.jar.needs_key_exchange(now) {
            let s = key_exchange(&self.name, self.ke_server, self.timeout, &self.run.trust);
            let outcome = match (s.keys.clone(), s.ready()) {
                (Some(k), true) => Ok((k, s.cookies.clone())),
                _ => Err(s
                    .probe
                    .log
                    .last()
                    .map_or_else(|| "the key exchange failed".into(), |l| l.text.clone())),
            };
            self.jar.key_exchanged(now, outcome);
        }
        self.jar.wrap(header, rand::random(), rand::random())
    }

    /// What of a reply reaches the engine (see
    /// [`crate::engine::cookies::CookieJar::unwrap`]).
    pub fn unwrap<'a>(&mut self, bytes: &'a [u8]) -> Option<&'a [u8]> {
        self.jar.unwrap(bytes)
    }
}

//! NTS at the edge (RFC 8915): the client's key exchange over TCP and TLS,
//! its NTS-protected NTP requests, and `serve --nts`'s KE server.
//!
//! Every wait is bounded by the probe's timeout; every step is written to a
//! log shown as the probe shows packets, and summed up in
//! [`NtsClient`] facts for the rule table.

mod jar;
mod ke;
mod ntp;

pub mod server;
pub mod tls;

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;
use socket2::{Domain, Protocol, Socket, Type};

pub use crate::diagnose::evidence::{LogLine, NtsProbe};
use crate::diagnose::facts::{
    CertCheck, Icmp, KeConnect, KeOutcome, NtsClient, NtsNtp, Sender, TlsOutcome, TrueTimeCheck,
};
use crate::diagnose::{SourcePort, TargetEvidence};
use crate::engine::exchange::{ReplyClass, Request, build_request, judge_reply};
use crate::engine::probe::ProbeConfig;
use crate::wire::KissCode;
use crate::wire::icmp::{ErrorQuote, IcmpError, QuotedProto};
use crate::wire::nts::{self, ClientRequest, EXPORTER_LABEL, KEY_LEN, Keys, NONCE_LEN};
use crate::wire::nts_ke::{self, AEAD_AES_SIV_CMAC_256, Read as KeRead, record_name};
use crate::wire::{NtpTimestamp, nts_ke::MAX_MESSAGE};

use super::clock;
pub use jar::*;
use ke::*;
use ntp::*;

/// The NTS-KE port (RFC 8915 §4).
pub const KE_PORT: u16 = 4460;

/// A key exchange done, with what the NTP part needs.
pub struct Session {
    pub probe: NtsProbe,
    keys: Option<Keys>,
    cookies: Vec<Vec<u8>>,
    verifier: Option<Arc<tls::Recording>>,
    server_name: Option<ServerName<'static>>,
    start: Instant,
}

impl Session {
    fn log(&mut self, text: impl Into<String>) {
        self.probe.log.push(LogLine {
            at: self.start.elapsed(),
            text: text.into(),
            packet: None,
        });
    }

    /// Where NTP goes: the negotiated server (if the KE named one, resolved
    /// here) and port, else the KE server's address and `port`.
    pub fn ntp_target(&self, port: u16) -> Result<SocketAddr, String> {
        let ke = self.probe.facts.ke.as_ref();
        let port = ke.and_then(|k| k.port).unwrap_or(port);
        match ke.and_then(|k| k.server.clone()) {
            None => Ok(SocketAddr::new(self.probe.facts.ke_server.ip(), port)),
            Some(name) => match name.parse::<IpAddr>() {
                Ok(ip) => Ok(SocketAddr::new(ip, port)),
                Err(_) => super::resolve::resolve(
                    &name,
                    port,
                    super::resolve::Family::Any,
                    Duration::from_secs(5),
                )
                .map_err(|e| format!("the negotiated NTP server {name}: {e}"))?
                .first()
                .copied()
                .ok_or_else(|| format!("the negotiated NTP server {name} has no address")),
            },
        }
    }

    /// The key exchange gave keys and at least one cookie.
    pub fn ready(&self) -> bool {
        self.keys.is_some() && !self.cookies.is_empty()
    }
}

/// NTS settings of a run: whom to trust, the KE port.
pub struct NtsRun {
    pub trust: tls::Trust,
    pub port: u16,
}

/// The NTS client's run against `addr`'s host, and the plain probe of the
/// NTP address it gives (the negotiated one, else `addr`), whose time
/// checks a certificate refused for its dates.
pub fn probe(host: &str, addr: SocketAddr, cfg: &ProbeConfig, run: &NtsRun) -> TargetEvidence {
    let mut session = key_exchange(
        host,
        SocketAddr::new(addr.ip(), run.port),
        ke_timeout(cfg),
        &run.trust,
    );
    let target = match session.ntp_target(addr.port()) {
        Ok(t) => t,
        Err(e) => {
            session.log(format!("NTS: {e}; NTP goes to {addr} instead"));
            addr
        }
    };
    let mut ev = super::probe::probe_address(host, target, cfg, SourcePort::Ephemeral);
    if session.ready() {
        ntp_exchange(
            &mut session,
            target,
            cfg.samples.min(8),
            cfg.timeout,
            cfg.interval,
        );
    }
    if session.probe.facts.cert.is_some()
        && let Some(b) = crate::diagnose::probe::facts(&ev).best
    {
        check_at_true_time(&mut session, b.value.sample.offset);
    }
    ev.nts = Some(session.probe);
    ev
}

pub use crate::engine::cookies::{JarStats, KE_RETRY};

/// watch's check of its NTS sources before polling them (as `probe --nts`,
/// two samples): each source given with its NTS run and the name its
/// certificate must carry is probed with NTS, all at once, and judged by
/// the exchange table; a plain source gets `None`.
pub fn check_sources(
    sources: &[(SocketAddr, Option<(&NtsRun, &str)>)],
) -> Vec<Option<crate::diagnose::Verdict>> {
    std::thread::scope(|sc| {
        let hs: Vec<_> = sources
            .iter()
            .map(|(addr, nts)| {
                sc.spawn(move || {
                    nts.map(|(run, host)| {
                        let cfg = ProbeConfig {
                            samples: 2,
                            local_precision: clock::precision(),
                            ..Default::default()
                        };
                        crate::diagnose::probe::diagnose(&probe(host, *addr, &cfg, run))
                    })
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().ok().flatten()).collect()
    })
}

//! NTS at the edge (RFC 8915): the client's key exchange over TCP and TLS,
//! its NTS-protected NTP requests, and `serve --nts`'s KE server.
//!
//! Every wait is bounded by the probe's timeout; every step is written to a
//! log shown as the probe shows packets, and summed up in
//! [`NtsClient`] facts for the rule table.

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

/// Connects to `addr`, telling a refusal's sender when this host may read
/// ICMP (raw socket, root or CAP_NET_RAW).
/// Connects to `addr`. Besides the stream or the error: the ICMP error that
/// quoted our SYN, and whether ICMP could be read here at all.
fn connect(
    addr: SocketAddr,
    timeout: Duration,
) -> (Result<TcpStream, std::io::Error>, Option<Icmp>, bool) {
    let domain = if addr.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    };
    let s = match Socket::new(domain, Type::STREAM, Some(Protocol::TCP)) {
        Ok(s) => s,
        Err(e) => return (Err(e), None, false),
    };
    let any: SocketAddr = if addr.is_ipv4() {
        "0.0.0.0:0".parse().expect("address")
    } else {
        "[::]:0".parse().expect("address")
    };
    if let Err(e) = s.bind(&any.into()) {
        return (Err(e), None, false);
    }
    let local_port = s
        .local_addr()
        .ok()
        .and_then(|a| a.as_socket())
        .map_or(0, |a| a.port());
    let raw = if addr.is_ipv4() {
        Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4))
    } else {
        Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::ICMPV6))
    }
    .ok()
    .filter(|r| r.set_nonblocking(true).is_ok());
    let readable = raw.is_some();
    let r = s.connect_timeout(&addr.into(), timeout);
    match r {
        Ok(()) => (Ok(s.into()), None, readable),
        Err(e) => {
            let icmp = raw.and_then(|raw| icmp_quoting(&raw, addr, local_port));
            (Err(e), icmp, readable)
        }
    }
}

/// The ICMP error, among those queued on `raw`, that quotes our SYN.
fn icmp_quoting(raw: &Socket, dst: SocketAddr, local_port: u16) -> Option<Icmp> {
    let mut buf = [0u8; 1500];
    for _ in 0..64 {
        let (n, from) = match nix::sys::socket::recvfrom::<nix::sys::socket::SockaddrStorage>(
            raw.as_raw_fd(),
            &mut buf,
        ) {
            Ok((n, Some(from))) => (n, from),
            _ => return None,
        };
        // A raw ICMP socket gives the IPv4 packet with its header; a raw
        // ICMPv6 socket gives the message alone, its sender in `from`.
        let (offender, to, q): (IpAddr, Option<IpAddr>, _) = if dst.is_ipv4() {
            let Some((src, to, q)) = ErrorQuote::in_ipv4(&buf[..n]) else {
                continue;
            };
            (src.into(), Some(to.into()), q)
        } else {
            let src = from.as_sockaddr_in6().map(|a| a.ip())?;
            let Some(q) = ErrorQuote::parse(&buf[..n], true) else {
                continue;
            };
            (src.into(), None, q)
        };
        if q.quoted_proto == QuotedProto::Tcp
            && q.quoted_dst == dst
            && q.quoted_src.port() == local_port
        {
            return Some(Icmp {
                error: q.error,
                offender: Some(offender),
                sender: if offender == dst.ip() {
                    Sender::Server
                } else if offender.is_loopback() || Some(offender) == to {
                    // From this host to itself: a local REJECT rule.
                    Sender::ClientHost
                } else {
                    Sender::Router
                },
                rtt_ms: None,
            });
        }
    }
    None
}

/// The rustls error inside an I/O error, if any.
fn tls_error(e: &std::io::Error) -> Option<&rustls::Error> {
    e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>())
}

fn records(list: &[(bool, u16, usize)]) -> String {
    list.iter()
        .map(|(c, k, l)| {
            format!(
                "{}{} {}({l})",
                if *c { "!" } else { "" },
                k,
                record_name(*k)
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// NTS settings of a run: whom to trust, the KE port.
pub struct NtsRun {
    pub trust: tls::Trust,
    pub port: u16,
}

/// How long the key exchange may take: a few probe timeouts (connect,
/// handshake, answer), at least 3 s.
pub fn ke_timeout(cfg: &ProbeConfig) -> Duration {
    (cfg.timeout * 3).max(Duration::from_secs(3))
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

/// A TLS connection to NTS-KE.
type KeStream = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// Runs NTS-KE with `addr`, verifying the certificate for `name`: the TCP
/// connection, the TLS handshake, the records; each step logged and summed
/// up in the session's facts.
pub fn key_exchange(
    name: &str,
    addr: SocketAddr,
    timeout: Duration,
    trust: &tls::Trust,
) -> Session {
    let start = Instant::now();
    let mut s = Session {
        probe: NtsProbe {
            facts: NtsClient {
                ke_server: addr,
                name: name.to_string(),
                trust: trust.loaded.clone(),
                connect: KeConnect::Failed {
                    error: crate::engine::local::LocalError {
                        kind: crate::engine::local::LocalErrorKind::Other,
                        op: "connect".into(),
                        target: addr.to_string(),
                        errno: None,
                        message: "not tried".into(),
                    },
                },
                tls: None,
                chain: Vec::new(),
                cert: None,
                ke: None,
                ntp: None,
            },
            log: Vec::new(),
        },
        keys: None,
        cookies: Vec::new(),
        verifier: None,
        server_name: None,
        start,
    };
    let Some(tcp) = s.connect_step(addr, timeout) else {
        return s;
    };
    let deadline = Instant::now() + timeout;
    let Some(mut tls) = s.handshake(tcp, name, addr, deadline, timeout, trust) else {
        return s;
    };
    s.exchange_records(&mut tls, deadline, timeout);
    tls.conn.send_close_notify();
    let _ = tls.conn.complete_io(&mut tls.sock);
    s
}

impl Session {
    /// Connects, or says why not.
    fn connect_step(&mut self, addr: SocketAddr, timeout: Duration) -> Option<TcpStream> {
        self.log(format!("NTS-KE: TCP connect to {addr}"));
        let (tcp, icmp, icmp_readable) = connect(addr, timeout);
        let tcp = match tcp {
            Ok(t) => {
                let ms = self.start.elapsed().as_secs_f64() * 1000.0;
                self.probe.facts.connect = KeConnect::Connected { ms };
                self.log(format!("NTS-KE: connected in {ms:.1} ms"));
                t
            }
            Err(e) => {
                use std::io::ErrorKind as K;
                let c = match e.kind() {
                    K::TimedOut | K::WouldBlock => KeConnect::NoReply {
                        waited_s: self.start.elapsed().as_secs_f64(),
                    },
                    // An RST, or an ICMP error read from the raw socket; an
                    // unreachable without ICMP is this host's own (no route).
                    K::ConnectionRefused => KeConnect::Refused {
                        icmp,
                        icmp_readable,
                        error: e.to_string(),
                    },
                    K::HostUnreachable | K::NetworkUnreachable if icmp.is_some() => {
                        KeConnect::Refused {
                            icmp,
                            icmp_readable,
                            error: e.to_string(),
                        }
                    }
                    _ => KeConnect::Failed {
                        error: super::errno::local_error("connect", addr, &e),
                    },
                };
                let text = match &c {
                    KeConnect::NoReply { waited_s } => {
                        format!("NTS-KE: no SYN-ACK, RST or ICMP error in {waited_s:.1} s")
                    }
                    KeConnect::Refused { icmp: Some(i), .. } => format!(
                        "NTS-KE: refused: {} from {}",
                        i.error,
                        i.offender.map_or("?".into(), |o| o.to_string())
                    ),
                    KeConnect::Refused { error, .. } => format!("NTS-KE: refused: {error}"),
                    KeConnect::Failed { error } => format!("NTS-KE: cannot connect: {error}"),
                    KeConnect::Connected { .. } => format!("NTS-KE: cannot connect: {e}"),
                };
                self.probe.facts.connect = c;
                self.log(text);
                return None;
            }
        };
        Some(tcp)
    }

    /// The TLS handshake, its certificate and ALPN, or why it failed.
    fn handshake(
        &mut self,
        tcp: TcpStream,
        name: &str,
        addr: SocketAddr,
        deadline: Instant,
        timeout: Duration,
        trust: &tls::Trust,
    ) -> Option<KeStream> {
        let verifier = match tls::Recording::new(trust) {
            Ok(v) => Arc::new(v),
            Err(e) => {
                self.probe.facts.tls = Some(TlsOutcome::Failed {
                    no_tls13: false,
                    no_alpn: false,
                    cut: false,
                    detail: e.clone(),
                });
                self.log(format!("TLS: {e}"));
                return None;
            }
        };
        let server_name = match ServerName::try_from(name.to_string()) {
            Ok(n) => n,
            Err(_) => ServerName::IpAddress(addr.ip().into()),
        };
        self.verifier = Some(verifier.clone());
        self.server_name = Some(server_name.clone());
        let config = match tls::client_config(verifier.clone()) {
            Ok(c) => Arc::new(c),
            Err(e) => {
                self.log(format!("TLS: {e}"));
                return None;
            }
        };
        let conn = match rustls::ClientConnection::new(config, server_name) {
            Ok(c) => c,
            Err(e) => {
                self.log(format!("TLS: {e}"));
                return None;
            }
        };
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        self.log(format!(
            "TLS: ClientHello (TLS 1.3 only, ALPN {}, server name {name})",
            String::from_utf8_lossy(tls::ALPN)
        ));
        while tls.conn.is_handshaking() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return self.tls_failed(
                    false,
                    false,
                    true,
                    format!(
                        "the handshake did not end within {:.1} s",
                        timeout.as_secs_f64()
                    ),
                );
            }
            let _ = tls.sock.set_read_timeout(Some(left));
            let _ = tls.sock.set_write_timeout(Some(left));
            if let Err(e) = tls.conn.complete_io(&mut tls.sock) {
                self.probe.facts.chain = chain(&verifier);
                return match tls_error(&e) {
                    Some(te) => {
                        if let Some(p) = tls::cert_problem(te) {
                            self.log(format!("TLS: certificate refused: {te}"));
                            self.probe.facts.cert = Some(CertCheck {
                                problem: p,
                                at_true_time: None,
                            });
                            self.probe.facts.tls = Some(TlsOutcome::Failed {
                                no_tls13: false,
                                no_alpn: false,
                                cut: false,
                                detail: te.to_string(),
                            });
                            return None;
                        }
                        use rustls::AlertDescription as A;
                        let (v, a) = match te {
                            rustls::Error::AlertReceived(A::ProtocolVersion) => (true, false),
                            rustls::Error::AlertReceived(A::NoApplicationProtocol) => (false, true),
                            _ => (false, false),
                        };
                        self.tls_failed(v, a, false, te.to_string())
                    }
                    None => {
                        use std::io::ErrorKind as K;
                        let detail = match e.kind() {
                            K::WouldBlock | K::TimedOut => format!(
                                "the server said nothing more within {:.1} s of the handshake's start",
                                timeout.as_secs_f64()
                            ),
                            K::UnexpectedEof => {
                                "the server closed the connection in the handshake".into()
                            }
                            _ => e.to_string(),
                        };
                        // A server that answers with something other than TLS
                        // (an HTTP server, garbage) shows as a decode error above.
                        self.tls_failed(false, false, true, detail)
                    }
                };
            }
        }
        self.probe.facts.chain = chain(&verifier);
        let version = tls
            .conn
            .protocol_version()
            .map_or("?".into(), |v| format!("{v:?}"));
        let suite = tls
            .conn
            .negotiated_cipher_suite()
            .map_or("?".into(), |c| format!("{:?}", c.suite()));
        let alpn = tls
            .conn
            .alpn_protocol()
            .map(|a| String::from_utf8_lossy(a).into_owned());
        self.log(format!(
            "TLS: {version}, {suite}, ALPN {}, certificate {}",
            alpn.as_deref().unwrap_or("none"),
            self.probe
                .facts
                .chain
                .first()
                .map_or("?".to_string(), |c| format!(
                    "{} issued by {}",
                    c.subject, c.issuer
                ))
        ));
        self.probe.facts.tls = Some(TlsOutcome::Done {
            version,
            suite,
            alpn: alpn.clone(),
        });
        if alpn.as_deref().map(str::as_bytes) != Some(tls::ALPN) {
            self.log("TLS: the server selected no ALPN ntske/1: stopping (RFC 8915 §4)");
            return None;
        }
        Some(tls)
    }

    /// The KE request and the answer's records; the keys and cookies.
    fn exchange_records(&mut self, tls: &mut KeStream, deadline: Instant, timeout: Duration) {
        // The request goes in one write: some servers need it whole.
        let request = nts_ke::client_request(&[AEAD_AES_SIV_CMAC_256]);
        let mut ke = KeOutcome {
            sent: list(&request),
            ..KeOutcome::default()
        };
        self.log(format!("NTS-KE → {}", records(&ke.sent)));
        if let Err(e) = tls.write_all(&request).and_then(|_| tls.flush()) {
            ke.problem = Some(format!("sending the request failed: {e}"));
            self.log(format!(
                "NTS-KE: {}",
                ke.problem.as_deref().unwrap_or_default()
            ));
            self.probe.facts.ke = Some(ke);
            return;
        }
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        let response = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break Err(format!(
                    "{} octet(s) of the answer and no End of Message within {:.1} s",
                    got.len(),
                    timeout.as_secs_f64()
                ));
            }
            let _ = tls.sock.set_read_timeout(Some(left));
            match tls.read(&mut buf) {
                Ok(0) => {
                    break Err(format!(
                        "the server closed the connection after {} octet(s), before End of Message",
                        got.len()
                    ));
                }
                Ok(n) => {
                    got.extend_from_slice(&buf[..n]);
                    match nts_ke::read_message(&got) {
                        Ok(KeRead::Done(r, _)) => break Ok(r),
                        Ok(KeRead::More(_)) if got.len() <= MAX_MESSAGE => {}
                        Ok(KeRead::More(_)) => {
                            break Err(format!(
                                "more than {MAX_MESSAGE} octets without End of Message"
                            ));
                        }
                        Err(e) => break Err(format!("malformed answer: {e}")),
                    }
                }
                Err(e) => {
                    use std::io::ErrorKind as K;
                    break Err(match e.kind() {
                        K::WouldBlock | K::TimedOut => format!(
                            "{} octet(s) of the answer and no End of Message within {:.1} s",
                            got.len(),
                            timeout.as_secs_f64()
                        ),
                        K::UnexpectedEof => format!(
                            "the connection ended without TLS close_notify after {} octet(s), before End of Message",
                            got.len()
                        ),
                        _ => format!("reading the answer failed: {e}"),
                    });
                }
            }
        };
        match response {
            Err(p) => {
                self.log(format!("NTS-KE: {p}"));
                ke.problem = Some(p);
            }
            Ok(r) => {
                ke.received = r.records.clone();
                ke.next_protocols = r.next_protocols.clone();
                ke.aead = r.aead.clone();
                ke.errors = r.errors.clone();
                ke.warnings = r.warnings.clone();
                ke.unknown_critical = r.unknown_critical.clone();
                ke.cookies = r.cookies.len() + r.cookies_dropped;
                ke.cookie_len = r.cookies.first().map(Vec::len);
                ke.cookie_lens_differ = r.cookies.windows(2).any(|w| w[0].len() != w[1].len());
                ke.server = r.server.clone();
                ke.port = r.port;
                self.log(format!("NTS-KE ← {}", records(&ke.received)));
                let aead_ok = r
                    .aead
                    .as_ref()
                    .is_some_and(|a| a.first() == Some(&AEAD_AES_SIV_CMAC_256));
                if aead_ok && r.errors.is_empty() {
                    let export = |s2c| {
                        tls.conn
                            .export_keying_material(
                                [0u8; KEY_LEN],
                                EXPORTER_LABEL,
                                Some(&nts::exporter_context(AEAD_AES_SIV_CMAC_256, s2c)),
                            )
                            .ok()
                    };
                    if let (Some(c2s), Some(s2c)) = (export(false), export(true)) {
                        self.keys = Some(Keys { c2s, s2c });
                    }
                    self.cookies = r.cookies;
                }
            }
        }
        self.probe.facts.ke = Some(ke);
    }

    fn tls_failed(
        &mut self,
        no_tls13: bool,
        no_alpn: bool,
        cut: bool,
        detail: String,
    ) -> Option<KeStream> {
        self.log(format!("TLS: failed: {detail}"));
        self.probe.facts.tls = Some(TlsOutcome::Failed {
            no_tls13,
            no_alpn,
            cut,
            detail,
        });
        None
    }
}

fn chain(v: &tls::Recording) -> Vec<crate::diagnose::facts::CertInfo> {
    let seen = v.seen();
    seen.end_entity
        .iter()
        .chain(seen.intermediates.iter())
        .filter_map(|c| tls::cert_info(c))
        .collect()
}

fn list(message: &[u8]) -> Vec<(bool, u16, usize)> {
    match nts_ke::read_message(message) {
        Ok(KeRead::Done(r, _)) | Ok(KeRead::More(r)) => r.records,
        Err(_) => Vec::new(),
    }
}

/// Verifies the refused certificate again at the time the server's clock
/// gives (this host's clock + `offset_s`, from plain NTP with the same host).
pub fn check_at_true_time(s: &mut Session, offset_s: f64) {
    let (Some(v), Some(name)) = (&s.verifier, &s.server_name) else {
        return;
    };
    let Some(check) = s.probe.facts.cert.as_mut() else {
        return;
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    let at = (now + offset_s).max(0.0) as u64;
    let Some(r) = v.verify_at(name, at) else {
        return;
    };
    let t = TrueTimeCheck {
        offset_s,
        valid: r.is_ok(),
        problem: r.as_ref().err().and_then(tls::cert_problem),
        detail: r.err().map(|e| e.to_string()),
    };
    let text = format!(
        "TLS: the same chain verified at the server's time ({offset_s:+.0} s from this host's): {}",
        if t.valid {
            "valid".to_string()
        } else {
            format!("refused too ({})", t.detail.as_deref().unwrap_or("?"))
        }
    );
    check.at_true_time = Some(t);
    s.log(text);
}

/// Sends `samples` NTS-protected requests to `target`, one cookie each.
pub fn ntp_exchange(
    s: &mut Session,
    target: SocketAddr,
    samples: u32,
    timeout: Duration,
    interval: Duration,
) {
    let mut n = NtsNtp {
        address: Some(target),
        ..NtsNtp::default()
    };
    let Some(keys) = s.keys.clone() else {
        return;
    };
    let bind: SocketAddr = if target.is_ipv4() {
        "0.0.0.0:0".parse().expect("address")
    } else {
        "[::]:0".parse().expect("address")
    };
    let sock = match UdpSocket::bind(bind).and_then(|u| u.connect(target).map(|_| u)) {
        Ok(u) => u,
        Err(e) => {
            n.send_error = Some(e.to_string());
            s.log(format!("NTS: cannot open a socket to {target}: {e}"));
            s.probe.facts.ntp = Some(n);
            return;
        }
    };
    let mut buf = [0u8; 2048];
    for i in 0..samples {
        if i > 0 {
            std::thread::sleep(interval);
        }
        let Some(cookie) = s.cookies.pop() else {
            s.log("NTS: no cookie left");
            break;
        };
        let nonce = NtpTimestamp(rand::random());
        let header = build_request(nonce, 4, 6);
        let uid: [u8; 32] = rand::random();
        let aead_nonce: [u8; NONCE_LEN] = rand::random();
        // Ask for the cookie back when the jar would run dry.
        let placeholders = usize::from(s.cookies.len() < samples as usize);
        let req = nts::client_request(&ClientRequest {
            header: &header,
            unique_id: &uid,
            cookie: &cookie,
            placeholders,
            c2s: &keys.c2s,
            nonce: &aead_nonce,
        });
        n.request_len = req.len();
        let t1 = clock::now();
        if let Err(e) = sock.send(&req) {
            n.send_error = Some(e.to_string());
            s.log(format!("NTS → #{}: sending failed: {e}", i + 1));
            break;
        }
        n.sent += 1;
        s.log(format!(
            "NTS → #{} {} octets to {target}: Unique Identifier, cookie ({} octets), {} placeholder(s), authenticator",
            i + 1,
            req.len(),
            cookie.len(),
            placeholders
        ));
        let request = Request {
            nonce,
            t1,
            version: 4,
            local_precision: clock::precision(),
        };
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                s.log(format!(
                    "NTS ← #{}: nothing within {:.1} s",
                    i + 1,
                    timeout.as_secs_f64()
                ));
                break;
            }
            let _ = sock.set_read_timeout(Some(left));
            let len = match sock.recv(&mut buf) {
                Ok(len) => len,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                    n.icmp.get_or_insert(Icmp {
                        error: if target.is_ipv4() {
                            IcmpError::v4(3, 3)
                        } else {
                            IcmpError::v6(1, 4)
                        },
                        offender: None,
                        sender: Sender::Unknown,
                        rtt_ms: None,
                    });
                    s.log(format!("NTS ← #{}: ICMP port unreachable", i + 1));
                    break;
                }
                Err(_) => {
                    s.log(format!(
                        "NTS ← #{}: nothing within {:.1} s",
                        i + 1,
                        timeout.as_secs_f64()
                    ));
                    break;
                }
            };
            let t4 = clock::now();
            let bytes = &buf[..len];
            let j = judge_reply(&request, bytes, t4, None);
            let logged = s.probe.log.len();
            match &j.class {
                ReplyClass::Duplicate | ReplyClass::Bogus(_) => continue,
                ReplyClass::Kiss(KissCode::Ntsn) => {
                    n.ntsn += 1;
                    s.log(format!(
                        "NTS ← #{} {len} octets: kiss NTSN (the server cannot read the cookie)",
                        i + 1
                    ));
                }
                _ => match nts::verify_reply(bytes, &uid, &keys.s2c) {
                    Ok(v) => {
                        n.authenticated += 1;
                        n.new_cookies += v.cookies.len() as u64;
                        let c = v.cookies.len();
                        s.cookies.extend(v.cookies);
                        s.log(format!(
                            "NTS ← #{} {len} octets: authenticated, {c} new cookie(s), {}{}",
                            i + 1,
                            j.class.label(),
                            j.sample
                                .map(|x| format!(
                                    ", offset {:+.3} ms, delay {:.3} ms",
                                    x.offset * 1e3,
                                    x.delay * 1e3
                                ))
                                .unwrap_or_default()
                        ));
                    }
                    Err(e) => {
                        n.unverified += 1;
                        n.first_unverified.get_or_insert_with(|| e.to_string());
                        s.log(format!("NTS ← #{} {len} octets: not authentic: {e}", i + 1));
                    }
                },
            }
            if let (Some(h), Some(line)) = (j.header, s.probe.log.get_mut(logged)) {
                line.packet = Some((h, nonce));
            }
            break;
        }
    }
    s.probe.facts.ntp = Some(n);
}

/// How long a source whose key exchange failed waits before the next try.
pub const KE_RETRY: Duration = Duration::from_secs(60);

/// One NTS source's state while `watch` polls it, as a daemon keeps it: the
/// keys and the cookie jar from NTS-KE, the Unique Identifier of each
/// request in flight. The engine's 48-octet requests are wrapped here and
/// only authenticated replies (or an NTSN kiss) reach it.
pub struct Jar {
    name: String,
    ke_server: SocketAddr,
    run: Arc<NtsRun>,
    timeout: Duration,
    keys: Option<Keys>,
    cookies: Vec<Vec<u8>>,
    /// (the request's transmit timestamp, its Unique Identifier), newest last.
    pending: Vec<([u8; 8], [u8; 32])>,
    next_ke: Option<Instant>,
    pub stats: JarStats,
}

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

impl Jar {
    pub fn new(name: &str, ke_server: SocketAddr, run: Arc<NtsRun>, timeout: Duration) -> Jar {
        Jar {
            name: name.to_string(),
            ke_server,
            run,
            timeout,
            keys: None,
            cookies: Vec::new(),
            pending: Vec::new(),
            next_ke: None,
            stats: JarStats::default(),
        }
    }

    /// Runs NTS-KE when the jar is empty (at most once per [`KE_RETRY`]
    /// after a failure).
    fn refill(&mut self) {
        if !self.cookies.is_empty() && self.keys.is_some() {
            return;
        }
        if self.next_ke.is_some_and(|t| Instant::now() < t) {
            return;
        }
        let s = key_exchange(&self.name, self.ke_server, self.timeout, &self.run.trust);
        self.stats.key_exchanges += 1;
        if s.ready() {
            self.keys = s.keys;
            self.cookies = s.cookies;
            self.next_ke = None;
        } else {
            self.stats.key_exchanges_failed += 1;
            self.stats.last_failure = s.probe.log.last().map(|l| l.text.clone());
            self.keys = None;
            self.next_ke = Some(Instant::now() + KE_RETRY);
        }
    }

    /// The engine's request with NTS fields and one cookie; `None` (nothing
    /// to send) when no cookie can be had.
    pub fn wrap(&mut self, header: &[u8; 48]) -> Option<Vec<u8>> {
        self.refill();
        let (Some(keys), Some(cookie)) = (self.keys.clone(), self.cookies.pop()) else {
            self.stats.unsent += 1;
            return None;
        };
        let uid: [u8; 32] = rand::random();
        let placeholders = usize::from(self.cookies.len() < 4);
        let req = nts::client_request(&ClientRequest {
            header,
            unique_id: &uid,
            cookie: &cookie,
            placeholders,
            c2s: &keys.c2s,
            nonce: &rand::random(),
        });
        let mut xmt = [0u8; 8];
        xmt.copy_from_slice(&header[40..48]);
        self.pending.push((xmt, uid));
        if self.pending.len() > 16 {
            self.pending.remove(0);
        }
        self.stats.sent += 1;
        Some(req)
    }

    /// What of a reply reaches the engine: its header when authenticated,
    /// or when it is an NTSN kiss for one of our requests (the jar is then
    /// emptied: a fresh key exchange follows); nothing otherwise.
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

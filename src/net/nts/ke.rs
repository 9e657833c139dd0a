//! The NTS client's key exchange (RFC 8915 §4): the TCP connection (with
//! the ICMP error that refused it, read from a raw socket where this host
//! may), TLS 1.3 with ALPN `ntske/1`, the records, the certificate checked
//! against the server's own time, and the keys exported from the session.

use super::*;

/// Connects to `addr`, telling a refusal's sender when this host may read
/// ICMP (raw socket, root or CAP_NET_RAW).
/// Connects to `addr`. Besides the stream or the error: the ICMP error that
/// quoted our SYN, and whether ICMP could be read here at all.
pub(super) fn connect(
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
pub(super) fn icmp_quoting(raw: &Socket, dst: SocketAddr, local_port: u16) -> Option<Icmp> {
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
pub(super) fn tls_error(e: &std::io::Error) -> Option<&rustls::Error> {
    e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>())
}

pub(super) fn records(list: &[(bool, u16, usize)]) -> String {
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

/// How long the key exchange may take: a few probe timeouts (connect,
/// handshake, answer), at least 3 s.
pub fn ke_timeout(cfg: &ProbeConfig) -> Duration {
    (cfg.timeout * 3).max(Duration::from_secs(3))
}

/// A TLS connection to NTS-KE.
pub(super) type KeStream = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

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
    pub(super) fn connect_step(
        &mut self,
        addr: SocketAddr,
        timeout: Duration,
    ) -> Option<TcpStream> {
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
                        error: crate::net::errno::local_error("connect", addr, &e),
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
    pub(super) fn handshake(
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
    pub(super) fn exchange_records(
        &mut self,
        tls: &mut KeStream,
        deadline: Instant,
        timeout: Duration,
    ) {
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

    pub(super) fn tls_failed(
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

pub(super) fn chain(v: &tls::Recording) -> Vec<crate::diagnose::facts::CertInfo> {
    let seen = v.seen();
    seen.end_entity
        .iter()
        .chain(seen.intermediates.iter())
        .filter_map(|c| tls::cert_info(c))
        .collect()
}

pub(super) fn list(message: &[u8]) -> Vec<(bool, u16, usize)> {
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

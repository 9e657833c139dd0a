//! `serve --nts`: the NTS-KE server (TLS on TCP 4460). One thread accepts;
//! each connection gets a thread of its own, at most [`MAX_CONNECTIONS`] at
//! once, each bounded by [`CONNECTION_TIMEOUT`]. What to answer is the
//! engine's decision ([`NtsServer::ke_answer`]); the keys are exported from
//! the TLS session here.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::engine::nts::NtsServer;
use crate::wire::nts::{EXPORTER_LABEL, KEY_LEN, Keys, exporter_context};
use crate::wire::nts_ke::{MAX_MESSAGE, Read as KeRead, read_message, server_response};

/// Connections served at once; more wait in the kernel's backlog.
pub const MAX_CONNECTIONS: usize = 64;
/// A connection's whole life: handshake, request, answer.
pub const CONNECTION_TIMEOUT: Duration = Duration::from_secs(5);

/// What the KE server did.
#[derive(Debug, Default)]
pub struct KeStats {
    pub connections: AtomicU64,
    pub handshakes_failed: AtomicU64,
    pub answered: AtomicU64,
    pub errors_sent: AtomicU64,
    pub cookies_sent: AtomicU64,
}

pub struct KeServer {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    pub addr: SocketAddr,
    pub stats: Arc<KeStats>,
}

impl KeServer {
    pub fn stop(mut self) -> Arc<KeStats> {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.stats.clone()
    }
}

impl Drop for KeServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Binds `addr` and serves NTS-KE until stopped.
pub fn start(
    addr: SocketAddr,
    tls: Arc<rustls::ServerConfig>,
    nts: Arc<NtsServer>,
) -> std::io::Result<KeServer> {
    let listener = TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    let bound = listener.local_addr()?;
    let stop = Arc::new(AtomicBool::new(false));
    let stats = Arc::new(KeStats::default());
    let (st, ss) = (stop.clone(), stats.clone());
    let thread = std::thread::spawn(move || accept_loop(&listener, &tls, &nts, &st, &ss));
    Ok(KeServer {
        stop,
        thread: Some(thread),
        addr: bound,
        stats,
    })
}

fn accept_loop(
    listener: &TcpListener,
    tls: &Arc<rustls::ServerConfig>,
    nts: &Arc<NtsServer>,
    stop: &AtomicBool,
    stats: &Arc<KeStats>,
) {
    let active = Arc::new(AtomicUsize::new(0));
    while !stop.load(Ordering::Relaxed) {
        if active.load(Ordering::SeqCst) >= MAX_CONNECTIONS {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        }
        match listener.accept() {
            Ok((conn, _)) => {
                stats.connections.fetch_add(1, Ordering::Relaxed);
                active.fetch_add(1, Ordering::SeqCst);
                let (tls, nts, stats, active) =
                    (tls.clone(), nts.clone(), stats.clone(), active.clone());
                std::thread::spawn(move || {
                    serve_one(conn, tls, &nts, &stats);
                    active.fetch_sub(1, Ordering::SeqCst);
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                let fd = std::os::fd::AsFd::as_fd(listener);
                let mut fds = [nix::poll::PollFd::new(fd, nix::poll::PollFlags::POLLIN)];
                let _ = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(200u16));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

fn serve_one(tcp: TcpStream, tls: Arc<rustls::ServerConfig>, nts: &NtsServer, stats: &KeStats) {
    let deadline = Instant::now() + CONNECTION_TIMEOUT;
    let _ = tcp.set_nonblocking(false);
    let Ok(conn) = rustls::ServerConnection::new(tls) else {
        return;
    };
    let mut s = rustls::StreamOwned::new(conn, tcp);
    let left = |d: Instant| {
        Some(
            d.saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1)),
        )
    };
    while s.conn.is_handshaking() {
        let _ = s.sock.set_read_timeout(left(deadline));
        let _ = s.sock.set_write_timeout(left(deadline));
        if s.conn.complete_io(&mut s.sock).is_err() || Instant::now() >= deadline {
            stats.handshakes_failed.fetch_add(1, Ordering::Relaxed);
            return;
        }
    }
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if Instant::now() >= deadline {
            return;
        }
        let _ = s.sock.set_read_timeout(left(deadline));
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                got.extend_from_slice(&buf[..n]);
                match read_message(&got) {
                    Ok(KeRead::More(_)) if got.len() <= MAX_MESSAGE => continue,
                    _ => break,
                }
            }
        }
    }
    let conn = &s.conn;
    let d = nts.ke_answer(
        &got,
        |aead| {
            let export = |s2c| {
                conn.export_keying_material(
                    [0u8; KEY_LEN],
                    EXPORTER_LABEL,
                    Some(&exporter_context(aead, s2c)),
                )
                .ok()
            };
            Some(Keys {
                c2s: export(false)?,
                s2c: export(true)?,
            })
        },
        &mut rand::rng(),
    );
    if d.answer.error.is_some() {
        stats.errors_sent.fetch_add(1, Ordering::Relaxed);
    }
    stats
        .cookies_sent
        .fetch_add(d.answer.cookies.len() as u64, Ordering::Relaxed);
    let _ = s.sock.set_write_timeout(left(deadline));
    if s.write_all(&server_response(&d.answer))
        .and_then(|_| s.flush())
        .is_ok()
    {
        stats.answered.fetch_add(1, Ordering::Relaxed);
    }
    s.conn.send_close_notify();
    let _ = s.conn.complete_io(&mut s.sock);
}

/// How to build an NTS server (`serve --nts`, `probe --builtin --nts`): its
/// certificate, loaded or made for a name, its faults on purpose, and the
/// NTP port KE names when NTP is not on 123.
pub struct Spec<'a> {
    /// The name a generated certificate is for.
    pub name: &'a str,
    /// A certificate chain and key to load instead (PEM files).
    pub cert_key: Option<(&'a std::path::Path, &'a std::path::Path)>,
    /// The Unix time a generated certificate is valid around (the served
    /// clock's).
    pub valid_at: i64,
    pub faults: Vec<crate::engine::nts::NtsFault>,
    /// Port Negotiation (RFC 8915 §4.1.8) when NTP is not on 123.
    pub ntp_port: Option<u16>,
}

/// An NTS server ready to start: its TLS identity's CA (generated
/// certificates), TLS configuration, and the engine with a fresh cookie key.
pub struct Built {
    pub ca_pem: Option<String>,
    pub tls: Arc<rustls::ServerConfig>,
    pub engine: Arc<NtsServer>,
}

/// The one builder of an NTS server.
pub fn build(spec: &Spec) -> Result<Built, String> {
    let identity = match spec.cert_key {
        Some((c, k)) => super::tls::load(c, k)?,
        None => super::tls::generate(spec.name, spec.valid_at, &spec.faults)?,
    };
    let tls = Arc::new(super::tls::server_config(&identity, &spec.faults)?);
    let mut engine = NtsServer::new(crate::wire::nts::CookieKey {
        id: rand::random(),
        key: rand::random(),
    });
    engine.faults = spec.faults.clone();
    engine.ntp_port = spec.ntp_port;
    Ok(Built {
        ca_pem: identity.ca_pem.clone(),
        tls,
        engine: Arc::new(engine),
    })
}

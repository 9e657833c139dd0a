//! The server's socket loop: bytes in, the responder decides, bytes out.
//! One thread per listening address; a shared stop flag ends them within
//! 200 ms.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use super::clock;
use super::udp::NtpSocket;
use crate::engine::local::LocalError;
use crate::engine::server::{Action, Responder, ServerConfig};

/// Counters, readable while the server runs.
#[derive(Default, Debug)]
pub struct Stats {
    pub received: AtomicU64,
    pub replied: AtomicU64,
    pub dropped: AtomicU64,
    pub send_errors: AtomicU64,
}

pub struct ServerHandle {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    /// The bound addresses (with the real port when 0 was asked for).
    pub addrs: Vec<SocketAddr>,
    pub stats: Arc<Stats>,
}

impl ServerHandle {
    /// Asks every loop to stop and waits for them.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }

    /// Runs until `stop` becomes true (e.g. set by a signal handler).
    pub fn wait_until(self, stop: &AtomicBool) {
        while !stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(100));
        }
        self.stop();
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Binds every address, then starts serving. Fails (binding nothing) if any
/// address cannot be bound.
pub fn start(listen: &[SocketAddr], cfg: ServerConfig) -> Result<ServerHandle, LocalError> {
    let mut socks = Vec::new();
    for a in listen {
        let s = NtpSocket::bind(*a)?;
        let bound = s.local_addr().unwrap_or(*a);
        socks.push((s, bound));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let stats = Arc::new(Stats::default());
    let responder = Responder::new(cfg);
    let addrs = socks.iter().map(|(_, a)| *a).collect();
    let threads = socks
        .into_iter()
        .map(|(sock, _)| {
            let stop = stop.clone();
            let stats = stats.clone();
            let responder = responder.clone();
            std::thread::spawn(move || serve_loop(&sock, &responder, &stop, &stats))
        })
        .collect();
    Ok(ServerHandle {
        stop,
        threads,
        addrs,
        stats,
    })
}

fn serve_loop(sock: &NtpSocket, responder: &Responder, stop: &AtomicBool, stats: &Stats) {
    let mut buf = [0u8; 2048];
    let mut out = [0u8; 512];
    while !stop.load(Ordering::Relaxed) {
        if !sock.wait(Duration::from_millis(200)).unwrap_or(false) {
            continue;
        }
        // Discard queued ICMP errors (clients that went away).
        while let Ok(Some(_)) = sock.recv_error() {}
        for _ in 0..256 {
            let d = match sock.recv(&mut buf) {
                Ok(Some(d)) => d,
                Ok(None) => break,
                Err(_) => continue,
            };
            stats.received.fetch_add(1, Ordering::Relaxed);
            let recv_ts = d.kernel_time.map_or_else(clock::now, clock::from_unix);
            match responder.handle(&buf[..d.len], recv_ts, clock::now(), &mut out) {
                Action::Reply(n) => {
                    if sock.send_to(&out[..n], d.from).is_ok() {
                        stats.replied.fetch_add(1, Ordering::Relaxed);
                    } else {
                        stats.send_errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Action::Drop(_) => {
                    stats.dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
}

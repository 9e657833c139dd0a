//! The server's socket loops: bytes in, the core ([`Server`]) decides, bytes
//! out. Per listening address, `threads` sockets share the port with
//! SO_REUSEPORT, one thread each, each with its own core state; a small BPF
//! program makes the kernel send all datagrams of one source address to the
//! same socket, so per-client rate limiting sees a client whole, without
//! locks. Datagrams move in batches (recvmmsg/sendmmsg); replies
//! leave from the address they were asked on (IP_PKTINFO) unless the profile
//! says otherwise; the transmit timestamp is written just before sending.
//!
//! All sockets are bound before any privileges are dropped (`--user`).
//! A shared stop flag ends every loop within 200 ms.

use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rand::Rng;
use socket2::{Domain, Protocol, Socket, Type};

use super::clock;
use super::due::DueQueue;
use super::errno::local_error;
use super::mmsg::{Batch, OutMsg, enable_recv_meta, steer_by_source};
use crate::engine::local::LocalError;
use crate::engine::profile::{Action, Counters, Server, ServerProfile};
use crate::engine::server::ServerConfig;

/// Datagrams per batch.
const BATCH: usize = 64;
/// Most replies held for `--delay` at once per thread; beyond, they are dropped.
pub const DELAY_QUEUE_MAX: usize = 65_536;

/// One profile served on some addresses.
#[derive(Clone, Debug)]
pub struct Listener {
    pub profile: ServerProfile,
    pub addrs: Vec<SocketAddr>,
}

#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Sockets (and threads) per address; 0 = one per available core.
    pub threads: usize,
    /// Drop root to this user after binding.
    pub user: Option<String>,
}

pub struct ServerHandle {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    /// (profile name, bound address) for every listening address.
    pub bound: Vec<(String, SocketAddr)>,
    /// Counters per profile, filled in as threads stop.
    totals: Arc<Mutex<Vec<(String, Counters)>>>,
}

impl ServerHandle {
    /// The first bound address (handy for single-address servers).
    pub fn addr(&self) -> SocketAddr {
        self.bound[0].1
    }

    /// Stops every loop, waits for them, returns the counters per profile.
    pub fn stop(mut self) -> Vec<(String, Counters)> {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        std::mem::take(&mut *self.totals.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Runs until `flag` becomes true (set by a signal handler), then stops.
    pub fn wait_until(self, flag: &AtomicBool) -> Vec<(String, Counters)> {
        while !flag.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(100));
        }
        self.stop()
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// A single healthy server on `listen` with `cfg`: the minimal form.
pub fn start_simple(listen: &[SocketAddr], cfg: ServerConfig) -> Result<ServerHandle, LocalError> {
    let profile = ServerProfile {
        name: "builtin".into(),
        server: cfg,
        ..ServerProfile::default()
    };
    start(
        vec![Listener {
            profile,
            addrs: listen.to_vec(),
        }],
        &Options {
            threads: 1,
            user: None,
        },
    )
}

fn bind_one(addr: SocketAddr, reuse: bool) -> Result<Socket, LocalError> {
    let domain = if addr.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    };
    let s = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))
        .map_err(|e| local_error("socket", addr, &e))?;
    if addr.is_ipv6() {
        s.set_only_v6(true)
            .map_err(|e| local_error("setsockopt(IPV6_V6ONLY)", addr, &e))?;
    }
    if reuse {
        s.set_reuse_port(true)
            .map_err(|e| local_error("setsockopt(SO_REUSEPORT)", addr, &e))?;
    }
    s.set_nonblocking(true)
        .map_err(|e| local_error("fcntl(O_NONBLOCK)", addr, &e))?;
    s.bind(&addr.into())
        .map_err(|e| local_error("bind", addr, &e))?;
    enable_recv_meta(s.as_raw_fd(), addr.is_ipv6(), addr.ip().is_unspecified())
        .map_err(|e| local_error("setsockopt(PKTINFO)", addr, &e))?;
    Ok(s)
}

/// Binds every address (all or nothing), drops privileges if asked, starts
/// the loops.
pub fn start(listeners: Vec<Listener>, opts: &Options) -> Result<ServerHandle, LocalError> {
    let threads = if opts.threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        opts.threads
    };
    let mut sockets: Vec<(usize, Socket)> = Vec::new();
    let mut bound = Vec::new();
    for (li, l) in listeners.iter().enumerate() {
        for a in &l.addrs {
            if threads > 1 && a.port() != 0 {
                // SO_REUSEPORT would let this group share the port with
                // another SO_REUSEPORT user (a second ntpdiag serve) without
                // a word: bind once without it to find out, then let go.
                drop(bind_one(*a, false)?);
            }
            let first = bind_one(*a, threads > 1)?;
            let actual = first
                .local_addr()
                .ok()
                .and_then(|x| x.as_socket())
                .unwrap_or(*a);
            if threads > 1 {
                // One source address, one socket: per-client state stays whole.
                steer_by_source(first.as_raw_fd(), threads as u32, a.is_ipv6())
                    .map_err(|e| local_error("setsockopt(SO_ATTACH_REUSEPORT_CBPF)", a, &e))?;
            }
            sockets.push((li, first));
            for _ in 1..threads {
                sockets.push((li, bind_one(actual, true)?));
            }
            bound.push((l.profile.name.clone(), actual));
        }
    }
    if let Some(user) = &opts.user {
        drop_privileges(user)?;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let totals: Arc<Mutex<Vec<(String, Counters)>>> = Arc::new(Mutex::new(Vec::new()));
    let start = Instant::now();
    let handles = sockets
        .into_iter()
        .map(|(li, sock)| {
            let server = Server::with_seed(listeners[li].profile.clone(), rand::random());
            let stop = stop.clone();
            let totals = totals.clone();
            std::thread::spawn(move || {
                let name = server.profile().name.clone();
                let counters = serve_loop(&sock, server, &stop, start);
                let mut t = totals.lock().unwrap_or_else(|e| e.into_inner());
                match t.iter_mut().find(|(n, _)| *n == name) {
                    Some((_, c)) => merge(c, &counters),
                    None => t.push((name, counters)),
                }
            })
        })
        .collect();
    Ok(ServerHandle {
        stop,
        threads: handles,
        bound,
        totals,
    })
}

/// Counts `n` datagrams lost at the edge under `why` (shown with the other
/// drop reasons when the server stops).
fn count(c: &mut Counters, why: String, n: u64) {
    *c.dropped.entry(why).or_default() += n;
}

/// Counts what a send left unsent: an error for all of them, or a short count.
fn account(c: &mut Counters, r: std::io::Result<usize>, wanted: usize) {
    match r {
        Ok(k) if k >= wanted => {}
        Ok(k) => count(c, "send incomplete".into(), (wanted - k) as u64),
        Err(e) => count(c, format!("send failed: {e}"), wanted as u64),
    }
}

fn merge(into: &mut Counters, c: &Counters) {
    into.received += c.received;
    into.replied += c.replied;
    into.kod_sent += c.kod_sent;
    into.control_answered += c.control_answered;
    for (k, v) in &c.dropped {
        *into.dropped.entry(k.clone()).or_default() += v;
    }
}

fn drop_privileges(user: &str) -> Result<(), LocalError> {
    use nix::unistd::{User, setgid, setgroups, setuid};
    let err = |op: &str, e: nix::Error| local_error(op, user, &std::io::Error::from(e));
    let u = User::from_name(user)
        .map_err(|e| err("getpwnam", e))?
        .ok_or_else(|| {
            local_error(
                "getpwnam",
                user,
                &std::io::Error::new(std::io::ErrorKind::NotFound, "no such user"),
            )
        })?;
    setgroups(&[u.gid]).map_err(|e| err("setgroups", e))?;
    setgid(u.gid).map_err(|e| err("setgid", e))?;
    setuid(u.uid).map_err(|e| err("setuid", e))?;
    Ok(())
}

/// Where a reply of this batch is: a 48-octet slot, or an NTS reply of its own.
#[derive(Clone, Copy)]
enum Slot {
    Small(usize),
    Big(usize),
}

/// A reply held for `--delay`.
struct Held {
    dest: SocketAddr,
    source: Option<IpAddr>,
    bytes: Vec<u8>,
    len: usize,
    stamp: bool,
}

fn serve_loop(sock: &Socket, mut server: Server, stop: &AtomicBool, start: Instant) -> Counters {
    let fd = sock.as_raw_fd();
    let mut rx = Batch::new(BATCH);
    let mut tx = Batch::new(BATCH);
    // Replies are 48 octets, or as long as the request for NTS (at most a datagram).
    let mut out = vec![[0u8; 48]; BATCH];
    let mut big: Vec<Vec<u8>> = Vec::new();
    let mut sends: Vec<(SocketAddr, Option<IpAddr>, Slot, usize)> = Vec::with_capacity(BATCH);
    let mut held: DueQueue<Held> = DueQueue::default();
    let mut rng = rand::rng();
    let mut ctl_buf = vec![0u8; super::mmsg::DGRAM_MAX];
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        let wait = held
            .next_due()
            .map_or(Duration::from_millis(200), |d| {
                d.saturating_duration_since(now)
            })
            .min(Duration::from_millis(200));
        let mut fds = [nix::poll::PollFd::new(
            std::os::fd::AsFd::as_fd(sock),
            nix::poll::PollFlags::POLLIN,
        )];
        let ms = wait.as_millis() as u16;
        if let Err(e) = nix::poll::poll(
            &mut fds,
            nix::poll::PollTimeout::from(if wait.is_zero() { 0 } else { ms.max(1) }),
        ) && e != nix::errno::Errno::EINTR
        {
            count(&mut server.counters, format!("poll failed: {e}"), 1);
        }
        // Read and answer until the socket is empty (bounded per wake-up so
        // held replies and the stop flag are still looked at).
        for _ in 0..64 {
            let n = match rx.recv(fd) {
                Ok(0) => break,
                Err(e) => {
                    count(&mut server.counters, format!("receive failed: {e}"), 1);
                    break;
                }
                Ok(n) => n,
            };
            let now_ms = start.elapsed().as_millis() as u64;
            sends.clear();
            big.clear();
            for i in 0..n {
                let m = rx.meta[i];
                let recv_ts = m.kernel_time.map_or_else(clock::now, clock::from_unix);
                let payload = if m.truncated { &[][..] } else { rx.payload(i) };
                let slot = sends.len();
                match server.handle(
                    now_ms,
                    m.from,
                    recv_ts,
                    rng.next_u32(),
                    payload,
                    &mut ctl_buf,
                ) {
                    Action::Reply(r) => {
                        // 48 octets in this batch's slot, or an NTS reply of
                        // its own (authenticated as made: never stamped later).
                        let big_reply = r.len > 48;
                        let len = r.len.min(if big_reply { ctl_buf.len() } else { 48 });
                        let source = r.source.or(m.local);
                        if !r.delay.is_zero() {
                            if held.len() >= DELAY_QUEUE_MAX {
                                count(&mut server.counters, "delay queue full".into(), 1);
                            } else {
                                held.push(
                                    Instant::now() + r.delay,
                                    Held {
                                        dest: m.from,
                                        source,
                                        bytes: ctl_buf[..len].to_vec(),
                                        len,
                                        stamp: r.stamp && !big_reply,
                                    },
                                );
                            }
                        } else if big_reply {
                            big.push(ctl_buf[..len].to_vec());
                            sends.push((m.from, source, Slot::Big(big.len() - 1), len));
                        } else {
                            out[slot][..len].copy_from_slice(&ctl_buf[..len]);
                            if r.stamp {
                                server.stamp(&mut out[slot][..len], clock::now());
                            }
                            sends.push((m.from, source, Slot::Small(slot), len));
                        }
                    }
                    Action::Control(frags) => {
                        for f in &frags {
                            let r = tx.send(
                                fd,
                                &[OutMsg {
                                    dest: m.from,
                                    source: m.local,
                                    payload: f,
                                }],
                            );
                            account(&mut server.counters, r, 1);
                        }
                    }
                    Action::Drop(_) => {}
                }
            }
            if !sends.is_empty() {
                let msgs: Vec<OutMsg> = sends
                    .iter()
                    .map(|(dest, source, slot, len)| OutMsg {
                        dest: *dest,
                        source: *source,
                        payload: match slot {
                            Slot::Small(i) => &out[*i][..*len],
                            Slot::Big(i) => &big[*i][..*len],
                        },
                    })
                    .collect();
                let r = tx.send(fd, &msgs);
                account(&mut server.counters, r, msgs.len());
            }
            if n < rx.capacity() {
                break;
            }
        }
        // Release held replies that are due.
        let now = Instant::now();
        while let Some(mut h) = held.pop_due(now) {
            if h.stamp {
                server.stamp(&mut h.bytes[..h.len], clock::now());
            }
            let r = tx.send(
                fd,
                &[OutMsg {
                    dest: h.dest,
                    source: h.source,
                    payload: &h.bytes[..h.len],
                }],
            );
            account(&mut server.counters, r, 1);
        }
    }
    server.counters.clone()
}

//! Drives the client [`Engine`] over real UDP sockets: one socket per
//! association on a random port (RFC 9109), with IP_RECVERR so that ICMP
//! errors reach the association they concern; a source configured `nts`
//! goes through its cookie jar ([`super::nts::Jar`]). The only place
//! `watch` touches the network and the clock: it reads time, sends and
//! receives, and hands the engine's snapshots and events out. Whether a
//! source is used, and why not, is [`crate::diagnose::watch`]'s.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rand::Rng;

use super::clock;
use super::nts::Jar;
use super::udp::{Inbox, NtpSocket, Poller, drain};
use crate::engine::client::{Engine, Event, Snapshot};
use crate::engine::local::LocalError;
use crate::engine::probe::IcmpReport;
use crate::wire::NtpTimestamp;

/// What the driver hands out as it goes.
pub enum Report<'a> {
    Event(&'a Event, &'a Snapshot),
    Snapshot(&'a Snapshot),
}

/// When to stop: after `duration`, after `count` snapshots, or when `stop`
/// is set (Ctrl-C). Every loop is bounded by one of them or by the flag.
pub struct Limits<'a> {
    pub duration: Option<Duration>,
    pub count: Option<u64>,
    pub stop: &'a AtomicBool,
}

struct AssocInbox<'a> {
    engine: &'a mut Engine,
    index: usize,
    addr: SocketAddr,
    /// The association's NTS state: replies reach the engine only through it.
    nts: Option<&'a mut Jar>,
}

impl Inbox for AssocInbox<'_> {
    fn icmp(&mut self, r: IcmpReport) {
        self.engine
            .handle_icmp(Instant::now(), self.addr, r.error, r.offender);
    }
    fn datagram(&mut self, from: SocketAddr, t4: NtpTimestamp, bytes: &[u8]) {
        let bytes = match self.nts.as_deref_mut() {
            None => Some(bytes),
            Some(jar) => jar.unwrap(bytes),
        };
        if let Some(b) = bytes {
            self.engine.handle_datagram(Instant::now(), from, t4, b);
        }
    }
    fn socket_error(&mut self, e: LocalError) {
        self.engine.handle_send_error(Instant::now(), self.index, e);
    }
    fn tx_timestamp(&mut self, id: u32, t1: NtpTimestamp) {
        self.engine.handle_tx_timestamp(self.index, id, t1);
    }
}

/// How often selection runs while datagrams come in.
const SELECT_EVERY: Duration = Duration::from_millis(100);

/// A snapshot this long after the last request of a round, so that its
/// replies are in.
const SETTLE: Duration = Duration::from_millis(1500);

/// Runs until a limit is reached; returns the last snapshot. `nts[i]`, when
/// given, carries association `i`'s requests and replies through NTS.
pub fn run(
    engine: &mut Engine,
    limits: &Limits,
    nts: &mut [Option<Jar>],
    report: impl FnMut(Report),
) -> Snapshot {
    drive(engine, limits, nts, report, |_, _| {}, true)
}

/// [`run`], calling `tick` at least every 200 ms with the engine (a lab
/// node disciplines its own clock there, and hands the engine its own
/// clock readings: the host's are not read).
pub fn run_with(
    engine: &mut Engine,
    limits: &Limits,
    report: impl FnMut(Report),
    tick: impl FnMut(&mut Engine, Instant),
) -> Snapshot {
    drive(engine, limits, &mut [], report, tick, false)
}

fn drive(
    engine: &mut Engine,
    limits: &Limits,
    nts: &mut [Option<Jar>],
    mut report: impl FnMut(Report),
    mut tick: impl FnMut(&mut Engine, Instant),
    host_clocks: bool,
) -> Snapshot {
    let start = Instant::now();
    let addrs: Vec<SocketAddr> = engine.associations().iter().map(|a| a.spec.addr).collect();
    let socks: Vec<Result<NtpSocket, LocalError>> = addrs
        .iter()
        .map(|a| {
            let any: IpAddr = if a.is_ipv4() {
                Ipv4Addr::UNSPECIFIED.into()
            } else {
                Ipv6Addr::UNSPECIFIED.into()
            };
            NtpSocket::bind(SocketAddr::new(any, 0))
        })
        .collect();
    // One epoll set for every socket; without it (it cannot fail in
    // practice) each association's error says why.
    let mut poller = match Poller::new() {
        Ok(p) => {
            for (i, s) in socks.iter().enumerate() {
                if let Ok(s) = s
                    && let Err(e) = p.add(s, i as u64)
                {
                    engine.handle_send_error(
                        Instant::now(),
                        i,
                        super::errno::local_error("epoll_ctl", addrs[i], &e),
                    );
                }
            }
            Some(p)
        }
        Err(e) => {
            for (i, a) in addrs.iter().enumerate() {
                engine.handle_send_error(
                    Instant::now(),
                    i,
                    super::errno::local_error("epoll_create", a, &e),
                );
            }
            None
        }
    };
    let mut rng = rand::rng();
    let mut buf = [0u8; 2048];
    let mut snapshot_due: Option<Instant> = None;
    let mut next_select = Instant::now();
    let mut snapshots = 0u64;
    loop {
        tick(engine, Instant::now());
        let now = Instant::now();
        if host_clocks {
            engine.clocks(now, clock::readings());
        }
        while let Some(tx) = engine.poll_transmit(now, clock::now(), rng.next_u64()) {
            let wrapped = match nts.get_mut(tx.assoc) {
                Some(Some(jar)) => match jar.wrap(&tx.payload) {
                    Some(w) => Some(w),
                    // No cookie: a daemon sends nothing either.
                    None => continue,
                },
                _ => None,
            };
            match &socks[tx.assoc] {
                Ok(s) => {
                    let payload = wrapped.as_deref().unwrap_or(&tx.payload);
                    if let Err(e) = s.send_to(payload, tx.dest) {
                        engine.handle_send_error(Instant::now(), tx.assoc, e);
                    }
                }
                Err(e) => engine.handle_send_error(Instant::now(), tx.assoc, e.clone()),
            }
            snapshot_due.get_or_insert(Instant::now() + SETTLE);
        }
        // Selection and the events it finds run at most every 100 ms (each
        // run costs what the number of sources costs); the snapshot the
        // events are told against is built only when there are events.
        let mut events = vec![];
        if Instant::now() >= next_select {
            next_select = Instant::now() + SELECT_EVERY;
            while let Some(ev) = engine.poll_event() {
                events.push(ev);
            }
        }
        if !events.is_empty() {
            let snap = engine.snapshot(Instant::now());
            for ev in &events {
                report(Report::Event(ev, &snap));
            }
        }
        if snapshot_due.is_some_and(|d| Instant::now() >= d) {
            snapshot_due = None;
            snapshots += 1;
            report(Report::Snapshot(&engine.snapshot(Instant::now())));
        }
        let done = limits.stop.load(Ordering::Relaxed)
            || limits.duration.is_some_and(|d| start.elapsed() >= d)
            || limits.count.is_some_and(|c| snapshots >= c);
        if done {
            break;
        }
        // Wake for the next request, the next snapshot, the end, or at
        // least every 200 ms to look at the stop flag.
        let mut wake = Instant::now() + Duration::from_millis(200);
        for t in [
            engine.poll_timeout(),
            snapshot_due,
            engine.is_dirty().then_some(next_select),
            limits.duration.map(|d| start + d),
        ]
        .into_iter()
        .flatten()
        {
            wake = wake.min(t);
        }
        let timeout = wake.saturating_duration_since(Instant::now());
        match poller.as_mut().map(|p| p.wait(timeout)) {
            Some(Ok(ready)) => {
                for token in ready {
                    let i = token as usize;
                    if let Some(Ok(s)) = socks.get(i) {
                        let mut inbox = AssocInbox {
                            engine,
                            index: i,
                            addr: addrs[i],
                            nts: nts.get_mut(i).and_then(Option::as_mut),
                        };
                        drain(s, addrs[i], &mut inbox, &mut buf);
                    }
                }
            }
            None => std::thread::sleep(timeout),
            Some(Err(e)) => {
                // Keep it, and do not spin on a broken poll.
                for (i, a) in addrs.iter().enumerate() {
                    engine.handle_send_error(
                        Instant::now(),
                        i,
                        super::errno::local_error("poll", a, &e),
                    );
                }
                std::thread::sleep(timeout);
            }
        }
    }
    engine.snapshot(Instant::now())
}

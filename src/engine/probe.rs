//! The probe session: a few client exchanges with one server address, plus a
//! liveness check when the server stays silent, as a sans-IO state machine in
//! quinn-proto's form.
//!
//! The driver (the `net` edge, or a simulation in tests) loops:
//! `poll_transmit` → send; wait until `poll_timeout` or a datagram/ICMP error;
//! `handle_datagram` / `handle_icmp` / `handle_timeout`; until `is_finished`.
//! Monotonic time (`Instant`) drives timers; wall time (`NtpTimestamp`) is only
//! what goes into and comes out of packets. Both are passed in.
//!
//! Behaviour:
//! - sample *i* is sent at `start + i·interval` and waits `timeout` for its answer;
//! - a KoD DENY/RSTR/RATE, an ICMP error or a failed send stops further
//!   requests (RFC 5905 §7.4: DENY/RSTR MUST stop, RATE MUST slow down);
//! - when the first request times out with nothing heard at all, one datagram
//!   goes to a closed high port of the same host: an ICMP port unreachable back
//!   proves the host is up and the path works both ways, so the silence is
//!   particular to NTP.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use super::exchange::{Judgement, ReplyClass, Request, build_request, judge_reply};
use super::local::LocalError;
use crate::wire::icmp::IcmpError;
use crate::wire::packet::field;
use crate::wire::{KissCode, NtpTimestamp, Packet};

/// Port the liveness datagram goes to (the first traceroute port; nothing
/// should listen there).
pub const LIVENESS_PORT: u16 = 33434;
const LIVENESS_MAGIC: &[u8] = b"ntpdiag liveness check ";

#[derive(Clone, Debug)]
pub struct ProbeConfig {
    pub samples: u32,
    pub interval: Duration,
    pub timeout: Duration,
    pub version: u8,
    pub poll: i8,
    /// log2 of the local clock precision (s).
    pub local_precision: i8,
    /// Port for the liveness check; `None` disables it.
    pub liveness_port: Option<u16>,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        ProbeConfig {
            samples: 4,
            interval: Duration::from_millis(200),
            timeout: Duration::from_secs(1),
            version: 4,
            poll: 6,
            local_precision: -20,
            liveness_port: Some(LIVENESS_PORT),
        }
    }
}

/// What a datagram we sent was for.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Purpose {
    /// NTP request number *n* (1-based).
    Sample(u32),
    /// The datagram to a closed port.
    Liveness,
}

/// A datagram the driver should send now.
#[derive(Clone, Debug)]
pub struct Transmit {
    pub dest: SocketAddr,
    pub payload: Vec<u8>,
    pub purpose: Purpose,
}

/// An ICMP error the kernel delivered for one of our datagrams.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct IcmpReport {
    pub error: IcmpError,
    /// Who sent the ICMP error: the server itself or a router on the way.
    pub offender: Option<IpAddr>,
    /// Destination of the datagram that caused it.
    pub original_dest: Option<SocketAddr>,
    /// The UDP payload quoted back (may be shorter than what we sent).
    pub quoted: Vec<u8>,
}

#[derive(Clone, Debug)]
pub enum EventKind {
    Sent {
        purpose: Purpose,
        dest: SocketAddr,
        nonce: Option<NtpTimestamp>,
        t1: NtpTimestamp,
        len: usize,
    },
    SendFailed {
        purpose: Purpose,
        error: LocalError,
    },
    Received {
        from: SocketAddr,
        t4: NtpTimestamp,
        bytes: Vec<u8>,
        /// The request this answers (origin match), if any.
        matched: Option<Purpose>,
        /// Came from an address other than the one probed.
        other_address: bool,
        /// The NTP judgement (absent for datagrams from the liveness port).
        judgement: Option<Judgement>,
    },
    Icmp {
        report: IcmpReport,
        matched: Option<Purpose>,
    },
    Timeout {
        purpose: Purpose,
    },
    /// An error the socket reported that belongs to no one datagram (a
    /// failed wait or read, a locally generated error on the queue): kept
    /// as evidence, never dropped.
    SocketError {
        error: LocalError,
    },
}

/// One thing that happened, `at` after the session started.
#[derive(Clone, Debug)]
pub struct Event {
    pub at: Duration,
    pub kind: EventKind,
}

/// How a request ended; the index points into the event list.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Outcome {
    Reply(usize),
    Icmp(usize),
    SendFailed(usize),
    Timeout,
    /// Not sent: the session stopped early.
    Unsent,
}

/// A request and how it ended.
#[derive(Clone, Debug)]
pub struct SampleRecord {
    pub number: u32,
    pub request: Request,
    pub outcome: Outcome,
}

/// Everything the session saw: the evidence for the diagnosis.
#[derive(Clone, Debug)]
pub struct ProbeRecord {
    pub target: SocketAddr,
    pub config: ProbeConfig,
    pub events: Vec<Event>,
    pub samples: Vec<SampleRecord>,
    /// `None` when no liveness check was made.
    pub liveness: Option<Outcome>,
}

struct Pending {
    request: Request,
    sent_at: Instant,
    outcome: Option<Outcome>,
    last_transmit: Option<NtpTimestamp>,
}

enum Liveness {
    Disabled,
    Idle,
    Due,
    Pending { deadline: Instant },
    Done(Outcome),
}

pub struct ProbeSession {
    cfg: ProbeConfig,
    target: SocketAddr,
    start: Instant,
    sent: Vec<Pending>,
    stopped: bool,
    liveness: Liveness,
    events: Vec<Event>,
}

impl ProbeSession {
    pub fn new(cfg: ProbeConfig, target: SocketAddr, start: Instant) -> ProbeSession {
        let liveness = if cfg.liveness_port.is_some() {
            Liveness::Idle
        } else {
            Liveness::Disabled
        };
        ProbeSession {
            cfg,
            target,
            start,
            sent: Vec::new(),
            stopped: false,
            liveness,
            events: Vec::new(),
        }
    }

    fn push(&mut self, now: Instant, kind: EventKind) -> usize {
        self.events.push(Event {
            at: now.saturating_duration_since(self.start),
            kind,
        });
        self.events.len() - 1
    }

    fn next_sample_at(&self) -> Option<Instant> {
        let n = self.sent.len() as u32;
        if self.stopped || n >= self.cfg.samples {
            return None;
        }
        Some(self.start + self.cfg.interval * n)
    }

    /// The next datagram to send at `now`, if any. `wall` is the local clock
    /// read just before the call (it becomes T1); `nonce` 64 random bits.
    pub fn poll_transmit(
        &mut self,
        now: Instant,
        wall: NtpTimestamp,
        nonce: u64,
    ) -> Option<Transmit> {
        if matches!(self.liveness, Liveness::Due) {
            let port = self.cfg.liveness_port.unwrap_or(LIVENESS_PORT);
            let dest = SocketAddr::new(self.target.ip(), port);
            let mut payload = LIVENESS_MAGIC.to_vec();
            payload.extend_from_slice(format!("{nonce:016x}").as_bytes());
            self.liveness = Liveness::Pending {
                deadline: now + self.cfg.timeout,
            };
            self.push(
                now,
                EventKind::Sent {
                    purpose: Purpose::Liveness,
                    dest,
                    nonce: None,
                    t1: wall,
                    len: payload.len(),
                },
            );
            return Some(Transmit {
                dest,
                payload,
                purpose: Purpose::Liveness,
            });
        }
        let due = self.next_sample_at()?;
        if due > now {
            return None;
        }
        let number = self.sent.len() as u32 + 1;
        // A zero nonce would read as "no origin"; avoid it.
        let nonce = NtpTimestamp(nonce.max(1));
        let request = Request {
            nonce,
            t1: wall,
            version: self.cfg.version,
            local_precision: self.cfg.local_precision,
        };
        let payload = build_request(nonce, self.cfg.version, self.cfg.poll).to_vec();
        self.sent.push(Pending {
            request,
            sent_at: now,
            outcome: None,
            last_transmit: None,
        });
        let purpose = Purpose::Sample(number);
        self.push(
            now,
            EventKind::Sent {
                purpose,
                dest: self.target,
                nonce: Some(nonce),
                t1: wall,
                len: payload.len(),
            },
        );
        Some(Transmit {
            dest: self.target,
            payload,
            purpose,
        })
    }

    /// When the driver must call `handle_timeout` (or `poll_transmit`) next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut t = self.next_sample_at();
        let mut consider = |x: Instant| t = Some(t.map_or(x, |y: Instant| y.min(x)));
        for p in self.sent.iter().filter(|p| p.outcome.is_none()) {
            consider(p.sent_at + self.cfg.timeout);
        }
        match self.liveness {
            Liveness::Pending { deadline, .. } => consider(deadline),
            Liveness::Due => consider(self.start),
            _ => {}
        }
        t
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        let timeout = self.cfg.timeout;
        let mut expired = Vec::new();
        for (i, p) in self.sent.iter_mut().enumerate() {
            if p.outcome.is_none() && p.sent_at + timeout <= now {
                p.outcome = Some(Outcome::Timeout);
                expired.push(i as u32 + 1);
            }
        }
        for n in &expired {
            self.push(
                now,
                EventKind::Timeout {
                    purpose: Purpose::Sample(*n),
                },
            );
        }
        if !expired.is_empty() && matches!(self.liveness, Liveness::Idle) && self.heard_nothing() {
            self.liveness = Liveness::Due;
        }
        if let Liveness::Pending { deadline, .. } = self.liveness
            && deadline <= now
        {
            self.liveness = Liveness::Done(Outcome::Timeout);
            self.push(
                now,
                EventKind::Timeout {
                    purpose: Purpose::Liveness,
                },
            );
        }
    }

    fn heard_nothing(&self) -> bool {
        !self.events.iter().any(|e| {
            matches!(
                e.kind,
                EventKind::Received { .. } | EventKind::Icmp { .. } | EventKind::SendFailed { .. }
            )
        })
    }

    /// A datagram arrived on the probe socket at `now`, kernel/local time `t4`.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        from: SocketAddr,
        t4: NtpTimestamp,
        bytes: &[u8],
    ) {
        if let (Some(port), Liveness::Pending { .. }) = (self.cfg.liveness_port, &self.liveness)
            && from.port() == port
            && from.ip() == self.target.ip()
        {
            let idx = self.push(
                now,
                EventKind::Received {
                    from,
                    t4,
                    bytes: bytes.to_vec(),
                    matched: Some(Purpose::Liveness),
                    other_address: false,
                    judgement: None,
                },
            );
            self.liveness = Liveness::Done(Outcome::Reply(idx));
            return;
        }
        let origin = Packet::new_checked(bytes).ok().map(|p| p.origin_ts());
        let slot = origin.and_then(|o| self.sent.iter().position(|p| p.request.nonce == o));
        // Judge against the request it answers, else against the latest one
        // (so a bogus reply is reported against what we expected).
        let Some(idx) = slot.or_else(|| self.sent.len().checked_sub(1)) else {
            // Nothing sent yet: an unsolicited datagram. Record it unjudged.
            self.push(
                now,
                EventKind::Received {
                    from,
                    t4,
                    bytes: bytes.to_vec(),
                    matched: None,
                    other_address: from != self.target,
                    judgement: None,
                },
            );
            return;
        };
        let p = &self.sent[idx];
        let judgement = judge_reply(&p.request, bytes, t4, p.last_transmit);
        let matched = slot.map(|i| Purpose::Sample(i as u32 + 1));
        let class = judgement.class.clone();
        let transmit = judgement.header.map(|h| h.transmit_ts);
        let ev = self.push(
            now,
            EventKind::Received {
                from,
                t4,
                bytes: bytes.to_vec(),
                matched,
                other_address: from != self.target,
                judgement: Some(judgement),
            },
        );
        if let Some(i) = slot {
            let p = &mut self.sent[i];
            if class != ReplyClass::Duplicate && p.outcome.is_none() {
                p.outcome = Some(Outcome::Reply(ev));
                p.last_transmit = transmit;
            }
            if let ReplyClass::Kiss(KissCode::Deny | KissCode::Rstr | KissCode::Rate) = class {
                self.stopped = true;
            }
        }
    }

    /// The kernel reported an ICMP error for one of our datagrams.
    pub fn handle_icmp(&mut self, now: Instant, report: IcmpReport) {
        let liveness_port = self.cfg.liveness_port;
        let to_liveness = matches!(self.liveness, Liveness::Pending { .. })
            && (report
                .original_dest
                .map(|d| Some(d.port()) == liveness_port)
                .unwrap_or(false)
                || report.quoted.starts_with(LIVENESS_MAGIC));
        if to_liveness {
            let idx = self.push(
                now,
                EventKind::Icmp {
                    report,
                    matched: Some(Purpose::Liveness),
                },
            );
            self.liveness = Liveness::Done(Outcome::Icmp(idx));
            return;
        }
        // Attribute by the nonce in the quoted request; failing that (routers
        // may quote only 8 octets), by destination to the oldest open request.
        let by_nonce = report.quoted.get(field::TRANSMIT_TS).and_then(|q| {
            let mut a = [0u8; 8];
            a.copy_from_slice(q);
            let n = NtpTimestamp(u64::from_be_bytes(a));
            self.sent.iter().position(|p| p.request.nonce == n)
        });
        let by_dest = || {
            (report.original_dest.is_none_or(|d| d == self.target))
                .then(|| self.sent.iter().position(|p| p.outcome.is_none()))
                .flatten()
        };
        let slot = by_nonce.or_else(by_dest);
        let matched = slot.map(|i| Purpose::Sample(i as u32 + 1));
        let ev = self.push(now, EventKind::Icmp { report, matched });
        if let Some(i) = slot {
            if self.sent[i].outcome.is_none() {
                self.sent[i].outcome = Some(Outcome::Icmp(ev));
            }
            self.stopped = true;
        }
    }

    /// Sending `purpose` failed locally.
    pub fn handle_send_error(&mut self, now: Instant, purpose: Purpose, error: LocalError) {
        let ev = self.push(now, EventKind::SendFailed { purpose, error });
        match purpose {
            Purpose::Sample(n) => {
                if let Some(p) = self.sent.get_mut(n as usize - 1) {
                    p.outcome = Some(Outcome::SendFailed(ev));
                }
                self.stopped = true;
            }
            Purpose::Liveness => self.liveness = Liveness::Done(Outcome::SendFailed(ev)),
        }
    }

    /// The kernel's transmit time of the `id`-th datagram sent (from 0,
    /// counting every send of this session): it replaces the T1 read
    /// before sending, while that request is still unanswered.
    pub fn handle_tx_timestamp(&mut self, id: u32, t1: NtpTimestamp) {
        let Some(ev) = self
            .events
            .iter_mut()
            .filter(|e| matches!(e.kind, EventKind::Sent { .. }))
            .nth(id as usize)
        else {
            return;
        };
        let EventKind::Sent {
            purpose: Purpose::Sample(n),
            t1: ev_t1,
            ..
        } = &mut ev.kind
        else {
            return;
        };
        if let Some(p) = self.sent.get_mut(*n as usize - 1)
            && p.outcome.is_none()
        {
            p.request.t1 = t1;
            *ev_t1 = t1;
        }
    }

    /// Records an error the edge met while waiting or reading.
    pub fn handle_socket_error(&mut self, now: Instant, error: LocalError) {
        self.push(now, EventKind::SocketError { error });
    }

    pub fn is_finished(&self) -> bool {
        self.next_sample_at().is_none()
            && self.sent.iter().all(|p| p.outcome.is_some())
            && !matches!(self.liveness, Liveness::Due | Liveness::Pending { .. })
    }

    pub fn finish(self) -> ProbeRecord {
        let mut samples: Vec<SampleRecord> = self
            .sent
            .iter()
            .enumerate()
            .map(|(i, p)| SampleRecord {
                number: i as u32 + 1,
                request: p.request,
                outcome: p.outcome.unwrap_or(Outcome::Timeout),
            })
            .collect();
        for n in samples.len() as u32 + 1..=self.cfg.samples {
            samples.push(SampleRecord {
                number: n,
                request: Request {
                    nonce: NtpTimestamp::ZERO,
                    t1: NtpTimestamp::ZERO,
                    version: self.cfg.version,
                    local_precision: self.cfg.local_precision,
                },
                outcome: Outcome::Unsent,
            });
        }
        let liveness = match self.liveness {
            Liveness::Disabled | Liveness::Idle => None,
            Liveness::Due | Liveness::Pending { .. } => Some(Outcome::Timeout),
            Liveness::Done(o) => Some(o),
        };
        ProbeRecord {
            target: self.target,
            config: self.cfg,
            events: self.events,
            samples,
            liveness,
        }
    }
}

/// Runs a session against a simulated peer, for tests and the deterministic
/// harness: `respond` maps each transmit to what comes back and when.
pub mod sim {
    use super::*;

    /// What the simulated network does with one datagram.
    pub enum Response {
        Silence,
        Datagram {
            after: Duration,
            from: SocketAddr,
            bytes: Vec<u8>,
        },
        Icmp {
            after: Duration,
            report: IcmpReport,
        },
    }

    /// Drives `session` to completion in simulated time. `wall0` is the wall
    /// clock at `start`; `respond` receives the transmit and the wall time at
    /// which it left. Bounded: at most 10 000 steps.
    pub fn run(
        mut session: ProbeSession,
        start: Instant,
        wall0: NtpTimestamp,
        mut respond: impl FnMut(&Transmit, NtpTimestamp) -> Vec<Response>,
    ) -> ProbeRecord {
        use crate::wire::NtpDuration;
        let wall = |t: Instant| wall0 + NtpDuration::from_std(t - start);
        let mut now = start;
        let mut inbox: Vec<(Instant, Response)> = Vec::new();
        let mut nonce = 0x1234_5678_9abc_def0u64;
        for _ in 0..10_000 {
            while let Some(tx) = session.poll_transmit(now, wall(now), nonce) {
                nonce = nonce
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                for r in respond(&tx, wall(now)) {
                    let at = match &r {
                        Response::Silence => continue,
                        Response::Datagram { after, .. } | Response::Icmp { after, .. } => {
                            now + *after
                        }
                    };
                    inbox.push((at, r));
                }
            }
            if session.is_finished() {
                break;
            }
            let next_in = inbox.iter().map(|(t, _)| *t).min();
            let next_timer = session.poll_timeout();
            let next = match (next_in, next_timer) {
                (Some(a), Some(b)) => a.min(b),
                (Some(a), None) => a,
                (None, Some(b)) => b,
                (None, None) => break,
            };
            now = now.max(next);
            let (due, rest): (Vec<_>, Vec<_>) = inbox.drain(..).partition(|(t, _)| *t <= now);
            inbox = rest;
            for (_, r) in due {
                match r {
                    Response::Datagram { from, bytes, .. } => {
                        session.handle_datagram(now, from, wall(now), &bytes)
                    }
                    Response::Icmp { report, .. } => session.handle_icmp(now, report),
                    Response::Silence => {}
                }
            }
            session.handle_timeout(now);
        }
        session.finish()
    }

    /// A peer that answers as `engine::server`'s responder configured by
    /// `cfg`, from `from`, its clock `shift` seconds off; it drops the
    /// liveness datagram.
    pub fn server(
        cfg: crate::engine::server::ServerConfig,
        from: SocketAddr,
        shift: f64,
    ) -> impl FnMut(&Transmit, NtpTimestamp) -> Vec<Response> {
        use crate::engine::server::{Action, Responder};
        let r = Responder::new(cfg);
        move |tx, wall| {
            if tx.purpose == Purpose::Liveness {
                return vec![];
            }
            let w = wall + crate::wire::NtpDuration::from_secs_f64(shift);
            let mut out = [0u8; 64];
            match r.handle(&tx.payload, w, w, &mut out) {
                Action::Reply(n) => vec![Response::Datagram {
                    after: Duration::from_micros(400),
                    from,
                    bytes: out[..n].to_vec(),
                }],
                Action::Drop(_) => vec![],
            }
        }
    }

    /// A network that answers every datagram with this ICMP error from `offender`.
    pub fn icmp(
        err: crate::wire::icmp::IcmpError,
        offender: &str,
    ) -> impl FnMut(&Transmit, NtpTimestamp) -> Vec<Response> + use<> {
        let offender: std::net::IpAddr = offender.parse().expect("an address");
        move |tx, _| {
            vec![Response::Icmp {
                after: Duration::from_micros(300),
                report: IcmpReport {
                    error: err,
                    offender: Some(offender),
                    original_dest: Some(tx.dest),
                    quoted: tx.payload.clone(),
                },
            }]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::sim::{Response, run};
    use super::*;
    use crate::engine::server::{Responder, ServerConfig};
    use crate::wire::NtpDate;

    fn target() -> SocketAddr {
        "198.51.100.1:123".parse().unwrap()
    }

    fn wall0() -> NtpTimestamp {
        NtpDate::from_unix(1_764_000_000, 0).timestamp()
    }

    fn serve(cfg: ServerConfig) -> impl FnMut(&Transmit, NtpTimestamp) -> Vec<Response> {
        let responder = Responder::new(cfg);
        move |tx, wall| {
            if tx.purpose == Purpose::Liveness {
                return vec![];
            }
            let mut out = [0u8; 1024];
            match responder.handle(&tx.payload, wall, wall, &mut out) {
                crate::engine::server::Action::Reply(n) => {
                    vec![Response::Datagram {
                        after: Duration::from_millis(2),
                        from: target(),
                        bytes: out[..n].to_vec(),
                    }]
                }
                crate::engine::server::Action::Drop(_) => vec![],
            }
        }
    }

    #[test]
    fn healthy_server_four_valid_samples() {
        let start = Instant::now();
        let rec = run(
            ProbeSession::new(ProbeConfig::default(), target(), start),
            start,
            wall0(),
            serve(ServerConfig::default()),
        );
        assert_eq!(rec.samples.len(), 4);
        for s in &rec.samples {
            let Outcome::Reply(i) = s.outcome else {
                panic!("{:?}", s.outcome)
            };
            let EventKind::Received {
                judgement: Some(j), ..
            } = &rec.events[i].kind
            else {
                panic!()
            };
            assert_eq!(j.class, ReplyClass::Valid);
            let smp = j.sample.unwrap();
            assert!(
                smp.offset.abs() < 0.01 && (smp.delay - 0.002).abs() < 0.001,
                "{smp:?}"
            );
        }
        assert!(rec.liveness.is_none());
        // Last sample sent at 600 ms, answered 2 ms later.
        assert_eq!(rec.events.last().unwrap().at, Duration::from_millis(602));
    }

    #[test]
    fn silence_triggers_one_liveness_check() {
        let start = Instant::now();
        let rec = run(
            ProbeSession::new(ProbeConfig::default(), target(), start),
            start,
            wall0(),
            |_, _| vec![],
        );
        assert!(rec.samples.iter().all(|s| s.outcome == Outcome::Timeout));
        assert_eq!(rec.liveness, Some(Outcome::Timeout));
        let sent_live: Vec<_> = rec
            .events
            .iter()
            .filter(|e| {
                matches!(
                    e.kind,
                    EventKind::Sent {
                        purpose: Purpose::Liveness,
                        ..
                    }
                )
            })
            .collect();
        assert_eq!(sent_live.len(), 1);
        assert_eq!(sent_live[0].at, Duration::from_secs(1));
        // Ends when the last request (sent at 600 ms) and the check (1 s) time out.
        assert_eq!(rec.events.last().unwrap().at, Duration::from_secs(2));
    }

    #[test]
    fn liveness_icmp_is_attributed_to_the_check() {
        let start = Instant::now();
        let rec = run(
            ProbeSession::new(ProbeConfig::default(), target(), start),
            start,
            wall0(),
            |tx, _| {
                if tx.purpose == Purpose::Liveness {
                    vec![Response::Icmp {
                        after: Duration::from_millis(1),
                        report: IcmpReport {
                            error: IcmpError::v4(3, 3),
                            offender: Some(target().ip()),
                            original_dest: Some(tx.dest),
                            quoted: tx.payload.clone(),
                        },
                    }]
                } else {
                    vec![]
                }
            },
        );
        assert!(matches!(rec.liveness, Some(Outcome::Icmp(_))));
        assert!(rec.samples.iter().all(|s| s.outcome == Outcome::Timeout));
    }

    #[test]
    fn icmp_stops_the_probe_and_matches_by_nonce() {
        let start = Instant::now();
        let rec = run(
            ProbeSession::new(ProbeConfig::default(), target(), start),
            start,
            wall0(),
            |tx, _| {
                vec![Response::Icmp {
                    after: Duration::from_millis(1),
                    report: IcmpReport {
                        error: IcmpError::v4(3, 3),
                        offender: Some(target().ip()),
                        original_dest: Some(tx.dest),
                        quoted: tx.payload.clone(),
                    },
                }]
            },
        );
        assert!(matches!(rec.samples[0].outcome, Outcome::Icmp(_)));
        assert!(
            rec.samples[1..]
                .iter()
                .all(|s| s.outcome == Outcome::Unsent)
        );
        assert_eq!(rec.events.last().unwrap().at, Duration::from_millis(1));
        assert!(rec.liveness.is_none());
    }

    #[test]
    fn short_quote_is_matched_by_destination() {
        let start = Instant::now();
        let rec = run(
            ProbeSession::new(ProbeConfig::default(), target(), start),
            start,
            wall0(),
            |tx, _| {
                vec![Response::Icmp {
                    after: Duration::from_millis(1),
                    report: IcmpReport {
                        error: IcmpError::v4(3, 1),
                        offender: Some("203.0.113.1".parse().unwrap()),
                        original_dest: Some(tx.dest),
                        quoted: vec![],
                    },
                }]
            },
        );
        assert!(matches!(rec.samples[0].outcome, Outcome::Icmp(_)));
    }

    #[test]
    fn spoofed_kod_is_ignored_and_real_deny_stops_sending() {
        let start = Instant::now();
        let deny = ServerConfig {
            kiss: Some(KissCode::Deny),
            ..ServerConfig::default()
        };
        let mut real = serve(deny);
        let rec = run(
            ProbeSession::new(ProbeConfig::default(), target(), start),
            start,
            wall0(),
            move |tx, wall| {
                // A spoofed DENY with a wrong origin arrives first.
                let mut out = real(tx, wall);
                if let Some(Response::Datagram { bytes, .. }) = out.first() {
                    let mut spoof = bytes.clone();
                    spoof[24] ^= 0xff;
                    out.insert(
                        0,
                        Response::Datagram {
                            after: Duration::from_millis(1),
                            from: target(),
                            bytes: spoof,
                        },
                    );
                }
                out
            },
        );
        let classes: Vec<_> = rec
            .events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::Received {
                    judgement: Some(j), ..
                } => Some(j.class.clone()),
                _ => None,
            })
            .collect();
        assert!(matches!(classes[0], ReplyClass::Bogus(_)));
        assert_eq!(classes[1], ReplyClass::Kiss(KissCode::Deny));
        assert!(matches!(rec.samples[0].outcome, Outcome::Reply(_)));
        assert_eq!(rec.samples[1].outcome, Outcome::Unsent);
    }

    #[test]
    fn reply_from_another_address_is_flagged() {
        let start = Instant::now();
        let mut inner = serve(ServerConfig::default());
        let rec = run(
            ProbeSession::new(ProbeConfig::default(), target(), start),
            start,
            wall0(),
            move |tx, w| {
                inner(tx, w)
                    .into_iter()
                    .map(|r| match r {
                        Response::Datagram { after, bytes, .. } => Response::Datagram {
                            after,
                            from: "198.51.100.9:123".parse().unwrap(),
                            bytes,
                        },
                        other => other,
                    })
                    .collect()
            },
        );
        let Outcome::Reply(i) = rec.samples[0].outcome else {
            panic!()
        };
        assert!(matches!(
            rec.events[i].kind,
            EventKind::Received {
                other_address: true,
                ..
            }
        ));
    }
}

//! The RFC 5905 client engine, sans-IO: associations with their poll
//! process, reach registers and clock filters ([`assoc`]); selection,
//! cluster and combine under a rule profile ([`select`], [`rules`]); the
//! clock update a daemon would make, computed and never applied. Time and
//! randomness come in as parameters (quinn-proto's shape:
//! `poll_transmit`, `handle_*`, `poll_timeout`); what it reports are facts
//! ([`Status`], [`SysStatus`]) — the words are `diagnose::watch`'s.

pub mod assoc;
pub mod filter;
pub mod replay;
pub mod rules;
pub mod select;

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

pub use assoc::{Association, Mark, ServerSpec, Transmit};
pub use rules::{Profile, Rules, Selection};
use select::{Candidate, cluster, combine, intersect};

use crate::engine::limits::{MAXSTRAT, PHI};
use crate::engine::local::LocalError;
use crate::wire::icmp::IcmpError;
use crate::wire::packet::Leap;
use crate::wire::{KissCode, NtpTimestamp, Repr};

/// Why a source is (not) used: the fact, with its numbers.
#[derive(Clone, Debug, PartialEq)]
pub enum Status {
    /// No usable reply in the reach register; the last poll's mark says
    /// what came instead.
    Unreachable,
    /// A genuine KoD DENY/RSTR stopped the association.
    Stopped(KissCode),
    /// It answers, but says it is unsynchronized (leap 3 or stratum ≥ 16).
    Unsynchronized {
        leap: u8,
        stratum: u8,
    },
    /// Root distance over the select threshold.
    TooFar {
        distance: f64,
        threshold: f64,
    },
    /// Its reference is this host.
    Loop,
    /// Configured `noselect`.
    Noselect,
    /// Outside the intersection.
    Falseticker,
    /// Dropped by the cluster algorithm.
    Outlier,
    /// A survivor beyond maxclock.
    Backup,
    /// Combined with the system peer.
    Candidate,
    SystemPeer,
}

impl Status {
    /// Every state's id, in the order a source climbs to use (metric
    /// label values, one gauge each).
    pub const IDS: [&'static str; 11] = [
        "unreachable",
        "stopped",
        "unsynchronized",
        "too_far",
        "loop",
        "noselect",
        "falseticker",
        "outlier",
        "backup",
        "candidate",
        "system_peer",
    ];

    /// The state's id (one of [`Status::IDS`]).
    pub fn id(&self) -> &'static str {
        match self {
            Status::Unreachable => "unreachable",
            Status::Stopped(_) => "stopped",
            Status::Unsynchronized { .. } => "unsynchronized",
            Status::TooFar { .. } => "too_far",
            Status::Loop => "loop",
            Status::Noselect => "noselect",
            Status::Falseticker => "falseticker",
            Status::Outlier => "outlier",
            Status::Backup => "backup",
            Status::Candidate => "candidate",
            Status::SystemPeer => "system_peer",
        }
    }

    /// The state in a word or two, as watch's events print it.
    pub fn word(&self) -> String {
        match self {
            Status::Stopped(k) => format!("stopped by KoD {}", k.text()),
            Status::TooFar { .. } => "too far".into(),
            Status::SystemPeer => "system peer".into(),
            s => s.id().into(),
        }
    }
}

impl Status {
    /// The tally code, as `ntpq -p` prints it.
    pub fn tally(&self) -> char {
        match self {
            Status::Falseticker => 'x',
            Status::Outlier => '-',
            Status::Backup => '#',
            Status::Candidate => '+',
            Status::SystemPeer => '*',
            _ => ' ',
        }
    }
}

/// The system's state.
#[derive(Clone, Debug, PartialEq)]
pub enum SysStatus {
    Synchronized,
    /// No source passed the fit tests.
    NoCandidates,
    /// Candidates, but no majority agrees.
    NoMajority,
    /// A majority agrees, but fewer than `minsane` sources (ntpd `tos
    /// minsane`, chrony `minsources`): the clock is left alone.
    TooFewSources {
        truechimers: usize,
        minsane: usize,
    },
}

/// What a daemon would do to the clock now (computed, never applied).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ClockAction {
    None,
    Slew(f64),
    Step(f64),
    /// Beyond the panic threshold: ntpd exits unless started with -g.
    Panic(f64),
}

/// One source as the engine sees it now.
#[derive(Clone, Debug, PartialEq)]
pub struct SourceView {
    pub name: String,
    pub addr: SocketAddr,
    pub status: Status,
    pub tally: char,
    pub reach: u8,
    pub heard: u8,
    pub polls: u64,
    pub received: u64,
    pub usable: u64,
    pub hpoll: i8,
    /// Seconds since the last usable reply.
    pub when: Option<f64>,
    pub stratum: Option<u8>,
    pub leap: Option<u8>,
    pub refid: Option<String>,
    pub offset: f64,
    pub delay: f64,
    pub jitter: f64,
    pub root_distance: f64,
    pub flash: u16,
    /// Valid samples in the clock filter (of 8).
    pub samples: usize,
    pub strip: Vec<Mark>,
    pub last_mark: Option<Mark>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SystemView {
    pub status: SysStatus,
    pub peer: Option<usize>,
    pub offset: f64,
    pub jitter: f64,
    pub candidates: usize,
    pub truechimers: usize,
    pub interval: Option<(f64, f64)>,
    pub action: ClockAction,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    pub rules: Profile,
    /// Seconds since the engine started.
    pub t: f64,
    pub sources: Vec<SourceView>,
    pub system: SystemView,
}

/// A state change.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    Source {
        t: f64,
        index: usize,
        from: Status,
        to: Status,
    },
    SystemPeer {
        t: f64,
        from: Option<usize>,
        to: Option<usize>,
    },
    /// This clock jumped, and no step of this engine's driver explains it;
    /// `daemons`: the time daemons the driver says run on this host.
    Clock {
        t: f64,
        jump: crate::engine::jump::Jump,
        daemons: Vec<String>,
    },
}

pub struct Engine {
    pub rules: Rules,
    start: Instant,
    /// log2 precision of the local clock, as seconds.
    precision: f64,
    assocs: Vec<Association>,
    status: Vec<Status>,
    system: SystemView,
    events: VecDeque<Event>,
    /// Something changed at this time; selection has not run since.
    dirty: Option<Instant>,
    /// Where `poll_transmit` looks first.
    cursor: usize,
    /// Refids (IPv4 addresses) of this host, for the loop test.
    pub local_refids: Vec<[u8; 4]>,
    /// Time daemons running on this host, as the driver found them (a jump
    /// may be theirs).
    pub local_daemons: Vec<String>,
    jumps: crate::engine::jump::Detector,
    /// The clock-hop hysteresis now (s); 0 when none runs.
    clockhop: f64,
}

impl Engine {
    pub fn new(rules: Rules, start: Instant, precision_log2: i8) -> Engine {
        Engine {
            rules,
            start,
            precision: 2f64.powi(precision_log2 as i32),
            assocs: vec![],
            status: vec![],
            system: SystemView {
                status: SysStatus::NoCandidates,
                peer: None,
                offset: 0.0,
                jitter: 0.0,
                candidates: 0,
                truechimers: 0,
                interval: None,
                action: ClockAction::None,
            },
            events: VecDeque::new(),
            dirty: None,
            cursor: 0,
            local_refids: vec![],
            local_daemons: vec![],
            jumps: crate::engine::jump::Detector::new(),
            clockhop: 0.0,
        }
    }

    /// Adds a server; its first poll is after `first_delay` (spread them
    /// so that a thousand do not leave at once).
    pub fn add(&mut self, spec: ServerSpec, now: Instant, first_delay: Duration) -> usize {
        self.assocs
            .push(Association::new(spec, &self.rules, now, first_delay));
        self.status.push(Status::Unreachable);
        self.assocs.len() - 1
    }

    pub fn associations(&self) -> &[Association] {
        &self.assocs
    }

    fn t(&self, now: Instant) -> f64 {
        now.saturating_duration_since(self.start).as_secs_f64()
    }

    /// The next request to send, if one is due.
    pub fn poll_transmit(
        &mut self,
        now: Instant,
        wall: NtpTimestamp,
        rand: u64,
    ) -> Option<Transmit> {
        let at = assoc::At {
            now,
            wall,
            rand,
            t: self.t(now),
        };
        // Resume where the last call stopped: draining every due request
        // stays linear in the number of associations.
        let n = self.assocs.len();
        let mut sent = None;
        for k in 0..n {
            let i = (self.cursor + k) % n;
            if let Some(tx) = self.assocs[i].transmit(i, &at, &self.rules, self.precision) {
                self.cursor = i;
                sent = Some(tx);
                break;
            }
        }
        if sent.is_some() {
            self.dirty = Some(now);
        }
        sent
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.assocs.iter().filter_map(|a| a.next_send()).min()
    }

    /// A datagram from `from`, received at wall time `t4`.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        from: SocketAddr,
        t4: NtpTimestamp,
        bytes: &[u8],
    ) {
        let t = self.t(now);
        let org = crate::wire::Packet::new_checked(bytes)
            .map(|p| p.origin_ts())
            .ok();
        let by_addr = self.assocs.iter().position(|a| a.spec.addr == from);
        let by_origin = org.and_then(|o| self.assocs.iter().position(|a| a.owns(o)));
        match (by_addr, by_origin) {
            (Some(i), _) => {
                self.assocs[i].receive(bytes, t4, t, self.precision, self.rules.filter_sorts);
                if let Some((st, off)) = self.assocs[i].filter.newest()
                    && let Some(jump) = self.jumps.sample(i, st, off)
                {
                    self.events.push_back(Event::Clock {
                        t,
                        jump,
                        daemons: self.local_daemons.clone(),
                    });
                }
            }
            // Answers one of our requests, from another address.
            (None, Some(i)) => self.assocs[i].other_address(from),
            (None, None) => return,
        }
        self.dirty = Some(now);
    }

    /// An ICMP error quoting a request to `dest`.
    pub fn handle_icmp(
        &mut self,
        now: Instant,
        dest: SocketAddr,
        error: IcmpError,
        from: Option<IpAddr>,
    ) {
        if let Some(a) = self.assocs.iter_mut().find(|a| a.spec.addr == dest) {
            a.icmp(error, from);
        }
        self.dirty = Some(now);
    }

    /// The kernel's transmit time of association `assoc`'s `id`-th request.
    pub fn handle_tx_timestamp(&mut self, assoc: usize, id: u32, t1: NtpTimestamp) {
        if let Some(a) = self.assocs.get_mut(assoc) {
            a.tx_timestamp(id, t1);
        }
    }

    pub fn handle_send_error(&mut self, now: Instant, assoc: usize, error: LocalError) {
        if let Some(a) = self.assocs.get_mut(assoc) {
            a.send_failed(error);
        }
        self.dirty = Some(now);
    }

    /// The next state change. Selection runs here (once for everything
    /// that happened since the last call), not on every datagram: with a
    /// thousand sources that is the difference that matters.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.update();
        self.events.pop_front()
    }

    /// The local clock was moved by `by` seconds (a step, or one slice of a
    /// slew): every association's samples are restated against it, and
    /// selection runs again. The engine never moves a clock itself; a
    /// driver that keeps its own clock (the lab's virtual clocks) calls this.
    pub fn clock_adjusted(&mut self, now: Instant, by: f64) {
        self.jumps.expect(by);
        for a in &mut self.assocs {
            a.filter.shift(by);
        }
        self.dirty = Some(now);
    }

    /// The clocks read now (the driver's): a step or suspend seen in them
    /// becomes an [`Event::Clock`].
    pub fn clocks(&mut self, now: Instant, r: crate::engine::jump::Reading) {
        if let Some(jump) = self.jumps.clocks(r) {
            self.events.push_back(Event::Clock {
                t: self.t(now),
                jump,
                daemons: self.local_daemons.clone(),
            });
        }
    }

    /// The local clock was stepped by `by` (by a driver that keeps its own
    /// clock): every association starts over, as ntpd's do after a step.
    pub fn clock_stepped(&mut self, now: Instant, by: f64) {
        // Restated, not forgotten: a move seen before the step (every
        // source moving at once) still counts against the ones after it.
        self.jumps.driver_stepped(by);
        for a in &mut self.assocs {
            a.clear_after_step(now);
        }
        self.dirty = Some(now);
    }

    /// Whether something changed since selection last ran.
    pub fn is_dirty(&self) -> bool {
        self.dirty.is_some()
    }

    /// Runs selection if anything changed since it last ran.
    pub fn update(&mut self) {
        if let Some(now) = self.dirty.take() {
            self.reselect(now);
        }
    }

    /// Replays a reply a daemon logged (ntpsec `rawstats`: T1-T4 and the
    /// header) at engine time `t` (s): the association whose address is
    /// `from` takes it as its poll's answer, then the system process runs.
    /// Returns the association, or `None` when no association has `from`.
    pub fn replay(
        &mut self,
        t: f64,
        from: SocketAddr,
        reply: &Repr,
        t1: NtpTimestamp,
        t4: NtpTimestamp,
    ) -> Option<usize> {
        let i = self.assocs.iter().position(|a| a.spec.addr == from)?;
        let mut h = *reply;
        h.origin_ts = t1;
        let sort = self.rules.filter_sorts;
        self.assocs[i].replay(&h.to_bytes(), t1, t4, t, self.precision, sort);
        self.reselect_at(t);
        Some(i)
    }

    /// The fit tests (RFC 5905 §11.2 fit(), ntpsec's peer flash bits):
    /// `Ok(candidate)` or why not.
    fn fit(&self, a: &Association, t: f64) -> Result<Candidate, Status> {
        if let Some(k) = a.stopped {
            return Err(Status::Stopped(k));
        }
        if a.reach == 0 || a.filter.t.is_none() {
            return Err(Status::Unreachable);
        }
        let h = a.header.expect("a usable reply sets the header");
        if h.leap == Leap::Unsynchronized || h.stratum >= MAXSTRAT || h.stratum == 0 {
            return Err(Status::Unsynchronized {
                leap: h.leap.bits(),
                stratum: h.stratum,
            });
        }
        let distance = a.root_distance(t, self.rules.mindist);
        let threshold = if self.rules.maxdist_grows_with_poll {
            self.rules.maxdist + PHI * 2f64.powi(a.hpoll as i32)
        } else {
            self.rules.maxdist
        };
        if distance > threshold {
            return Err(Status::TooFar {
                distance,
                threshold,
            });
        }
        if h.stratum > 1 && self.local_refids.contains(&h.reference_id.0) {
            return Err(Status::Loop);
        }
        if a.spec.noselect {
            return Err(Status::Noselect);
        }
        Ok(Candidate {
            offset: a.filter.offset,
            distance,
            stratum: h.stratum,
            jitter: a.filter.jitter,
            prefer: a.spec.prefer,
        })
    }

    /// Selection, cluster, combine: new statuses, the system peer, and the
    /// events for what changed.
    fn reselect(&mut self, now: Instant) {
        self.reselect_at(self.t(now));
    }

    fn reselect_at(&mut self, t: f64) {
        let mut status: Vec<Status> = Vec::with_capacity(self.assocs.len());
        let mut cands: Vec<Candidate> = vec![];
        let mut cand_of: Vec<usize> = vec![];
        for (i, a) in self.assocs.iter().enumerate() {
            match self.fit(a, t) {
                Ok(c) => {
                    cands.push(c);
                    cand_of.push(i);
                    status.push(Status::Falseticker);
                }
                Err(s) => status.push(s),
            }
        }
        let x = intersect(self.rules.selection, &cands);
        let true_idx: Vec<usize> = (0..cands.len()).filter(|i| x.truechimer[*i]).collect();
        let mut sys = SystemView {
            status: SysStatus::NoCandidates,
            peer: None,
            offset: 0.0,
            jitter: 0.0,
            candidates: cands.len(),
            truechimers: true_idx.len(),
            interval: x.interval,
            action: ClockAction::None,
        };
        if !cands.is_empty() {
            sys.status = SysStatus::NoMajority;
        }
        if !true_idx.is_empty() && true_idx.len() < self.rules.minsane {
            sys.status = SysStatus::TooFewSources {
                truechimers: true_idx.len(),
                minsane: self.rules.minsane,
            };
        }
        if !true_idx.is_empty() && true_idx.len() >= self.rules.minsane {
            let kept = if self.rules.cluster {
                let c = cluster(
                    &cands,
                    &true_idx,
                    self.rules.maxdist,
                    self.rules.minclock,
                    self.rules.maxclock,
                    self.rules.cluster_weighted,
                );
                for o in &c.outliers {
                    status[cand_of[*o]] = Status::Outlier;
                }
                for b in &c.backups {
                    status[cand_of[*b]] = Status::Backup;
                }
                c.kept
            } else {
                // chrony: the best by distance (plus 1 ms per stratum,
                // `stratumweight`), the others combined with it.
                let min_st = true_idx
                    .iter()
                    .map(|i| cands[*i].stratum)
                    .min()
                    .unwrap_or(0);
                let mut k = true_idx.clone();
                let score =
                    |i: &usize| cands[*i].distance + 0.001 * (cands[*i].stratum - min_st) as f64;
                k.sort_by(|a, b| score(a).total_cmp(&score(b)));
                if let Some(p) = k.iter().position(|i| cands[*i].prefer) {
                    let p = k.remove(p);
                    k.insert(0, p);
                }
                // combinelimit: too distant to combine ('D' in selectdata,
                // '-' in chronyc sources).
                if let (Some(limit), Some(&best)) = (self.rules.combine_limit, k.first()) {
                    let max = cands[best].distance * limit;
                    let mut keep = vec![];
                    for (n, i) in k.iter().enumerate() {
                        if n == 0 || cands[*i].distance < max {
                            keep.push(*i);
                        } else {
                            status[cand_of[*i]] = Status::Outlier;
                        }
                    }
                    k = keep;
                }
                k
            };
            let kept = self.hop(&cands, &cand_of, kept);
            for (n, i) in kept.iter().enumerate() {
                status[cand_of[*i]] = if n == 0 {
                    Status::SystemPeer
                } else {
                    Status::Candidate
                };
            }
            let (offset, jitter) = combine(&cands, &kept);
            sys.status = SysStatus::Synchronized;
            sys.peer = kept.first().map(|i| cand_of[*i]);
            sys.offset = offset;
            sys.jitter = jitter;
            sys.action = match (self.rules.panic, self.rules.step) {
                (Some(p), _) if offset.abs() > p => ClockAction::Panic(offset),
                (_, Some(s)) if offset.abs() > s => ClockAction::Step(offset),
                _ => ClockAction::Slew(offset),
            };
        }
        for (i, s) in status.iter().enumerate() {
            // A change of state, not of the numbers it carries.
            if std::mem::discriminant(&self.status[i]) != std::mem::discriminant(s) {
                self.events.push_back(Event::Source {
                    t,
                    index: i,
                    from: self.status[i].clone(),
                    to: s.clone(),
                });
            }
        }
        if self.system.peer != sys.peer {
            self.events.push_back(Event::SystemPeer {
                t,
                from: self.system.peer,
                to: sys.peer,
            });
        }
        // Bounded: a consumer that never reads does not grow memory.
        while self.events.len() > 4096 {
            self.events.pop_front();
        }
        self.status = status;
        self.system = sys;
    }

    /// ntp_proto.c clock_select()'s clock-hop dance: when the best
    /// survivor is not the system peer, but within `mindist` of its offset,
    /// the system peer stays while the difference is under a hysteresis
    /// that starts at `mindist` and halves every round. Only a survivor can
    /// stay (never a source the majority rejected).
    fn hop(&mut self, cands: &[Candidate], cand_of: &[usize], mut kept: Vec<usize>) -> Vec<usize> {
        let old = self
            .system
            .peer
            .and_then(|p| kept.iter().position(|i| cand_of[*i] == p));
        let (Some(pos), Some(&best), true) = (old, kept.first(), self.rules.clockhop) else {
            self.clockhop = 0.0;
            return kept;
        };
        if pos == 0 {
            self.clockhop = 0.0;
            return kept;
        }
        let x = (cands[best].offset - cands[kept[pos]].offset).abs();
        if x >= self.rules.mindist {
            self.clockhop = 0.0;
            return kept;
        }
        self.clockhop = if self.clockhop == 0.0 {
            self.rules.mindist
        } else {
            self.clockhop * 0.5
        };
        if x < self.clockhop {
            let stay = kept.remove(pos);
            kept.insert(0, stay);
        } else {
            self.clockhop = 0.0;
        }
        kept
    }

    /// The state at `now`, selection brought up to date first.
    pub fn snapshot(&mut self, now: Instant) -> Snapshot {
        self.update();
        self.snapshot_at(self.t(now))
    }

    /// The snapshot at engine time `t` (s).
    pub fn snapshot_at(&self, t: f64) -> Snapshot {
        let sources = self
            .assocs
            .iter()
            .zip(&self.status)
            .map(|(a, s)| SourceView {
                name: a.spec.name.clone(),
                addr: a.spec.addr,
                status: s.clone(),
                tally: s.tally(),
                reach: a.reach,
                heard: a.heard,
                polls: a.polls,
                received: a.received,
                usable: a.usable,
                hpoll: a.hpoll,
                when: a.last_sample.map(|x| t - x),
                stratum: a.header.map(|h| h.stratum),
                leap: a.header.map(|h| h.leap.bits()),
                refid: a.header.map(|h| h.reference_id.display(h.stratum)),
                offset: a.filter.offset,
                delay: a.filter.delay,
                jitter: a.filter.jitter,
                root_distance: a.root_distance(t, self.rules.mindist),
                flash: a.flash
                    | match s {
                        Status::Unreachable => assoc::flash::PEER_UNREACH,
                        Status::Unsynchronized { .. } => assoc::flash::PEER_STRATUM,
                        Status::TooFar { .. } => assoc::flash::PEER_DIST,
                        Status::Loop => assoc::flash::PEER_LOOP,
                        _ => 0,
                    },
                samples: a.filter.samples(),
                strip: a.strip.iter().cloned().collect(),
                last_mark: a.last_mark().cloned(),
            })
            .collect();
        Snapshot {
            rules: self.rules.profile,
            t,
            sources,
            system: self.system.clone(),
        }
    }

    /// What the other profiles would say of source `i`'s root distance:
    /// `(profile, threshold)` pairs, for "chrony would accept it (3 s)".
    pub fn thresholds() -> [(Profile, f64); 3] {
        [Profile::Ntpd, Profile::Chrony, Profile::Rfc].map(|p| (p, Rules::of(p).maxdist))
    }
}

#[cfg(test)]
mod tests;

//! One association: the poll process (RFC 5905 §13), the reach register
//! kept two ways, the packet tests with ntpsec's flash bits, the clock
//! filter, and a strip of what each poll got.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use super::filter::ClockFilter;
use super::rules::Rules;
use crate::engine::exchange::{
    BogusReason, InvalidReason, ReplyClass, Request, UnsyncReason, build_request, judge_reply,
};
use crate::engine::local::LocalError;
use crate::wire::icmp::IcmpError;
use crate::wire::{KissCode, NtpTimestamp, Repr};

/// ntpsec's flash bits (`ntpq -c rv` `flash=`; names from ntpq's
/// `ntp/util.py`, BOGON1..13).
pub mod flash {
    pub const PKT_DUP: u16 = 0x0001;
    pub const PKT_BOGUS: u16 = 0x0002;
    pub const PKT_UNSYNC: u16 = 0x0004;
    pub const PKT_DENIED: u16 = 0x0008;
    pub const PKT_AUTH: u16 = 0x0010;
    pub const PKT_STRATUM: u16 = 0x0020;
    pub const PKT_HEADER: u16 = 0x0040;
    pub const PEER_STRATUM: u16 = 0x0200;
    pub const PEER_DIST: u16 = 0x0400;
    pub const PEER_LOOP: u16 = 0x0800;
    pub const PEER_UNREACH: u16 = 0x1000;

    const NAMES: [&str; 13] = [
        "pkt_dup",
        "pkt_bogus",
        "pkt_unsync",
        "pkt_denied",
        "pkt_auth",
        "pkt_stratum",
        "pkt_header",
        "pkt_autokey",
        "pkt_crypto",
        "peer_stratum",
        "peer_dist",
        "peer_loop",
        "peer_unreach",
    ];

    /// The set bits by name, as ntpq prints them.
    pub fn names(f: u16) -> Vec<&'static str> {
        (0..13)
            .filter(|i| f & (1 << i) != 0)
            .map(|i| NAMES[i])
            .collect()
    }
}

/// What one poll got.
#[derive(Clone, Debug, PartialEq)]
pub enum Mark {
    /// A reply that passed the packet tests.
    Answered,
    /// A reply that failed them: the flash bits and why, in words.
    Rejected { flash: u16, why: String },
    /// Not an NTP server reply at all.
    Malformed(String),
    /// A genuine Kiss-o'-Death.
    Kod(KissCode),
    /// The reply came from another address.
    OtherAddress(SocketAddr),
    Icmp {
        error: IcmpError,
        from: Option<IpAddr>,
    },
    /// The request could not be sent.
    NotSent(LocalError),
    /// Nothing came back.
    Silent,
}

impl Mark {
    /// One character for the strip.
    pub fn symbol(&self) -> char {
        match self {
            Mark::Answered => '+',
            Mark::Rejected { .. } => 'r',
            Mark::Malformed(_) => 'm',
            Mark::Kod(_) => 'k',
            Mark::OtherAddress(_) => 'a',
            Mark::Icmp { .. } => '!',
            Mark::NotSent(_) => 'e',
            Mark::Silent => '.',
        }
    }

    /// Which outcome of one poll tells most: an answer over a kiss over a
    /// rejection over an ICMP error over silence.
    fn weight(&self) -> u8 {
        match self {
            Mark::Answered => 7,
            Mark::Kod(_) => 6,
            Mark::Rejected { .. } => 5,
            Mark::OtherAddress(_) => 4,
            Mark::Malformed(_) => 3,
            Mark::Icmp { .. } => 2,
            Mark::NotSent(_) => 1,
            Mark::Silent => 0,
        }
    }
}

/// How long the strip is.
pub const STRIP: usize = 16;

/// A configured server.
#[derive(Clone, Debug, PartialEq)]
pub struct ServerSpec {
    pub name: String,
    pub addr: SocketAddr,
    pub iburst: bool,
    pub minpoll: Option<i8>,
    pub maxpoll: Option<i8>,
    pub prefer: bool,
    pub noselect: bool,
}

impl ServerSpec {
    pub fn new(name: impl Into<String>, addr: SocketAddr) -> ServerSpec {
        ServerSpec {
            name: name.into(),
            addr,
            iburst: false,
            minpoll: None,
            maxpoll: None,
            prefer: false,
            noselect: false,
        }
    }
}

/// The moment a request may leave: monotonic time, wall time, engine time
/// (s since start) and randomness for the nonce and the interval's jitter.
#[derive(Clone, Copy, Debug)]
pub struct At {
    pub now: Instant,
    pub wall: NtpTimestamp,
    pub rand: u64,
    pub t: f64,
}

#[derive(Clone, Copy, Debug)]
struct Outstanding {
    nonce: NtpTimestamp,
    t1: NtpTimestamp,
}

/// A datagram to send.
#[derive(Clone, Debug, PartialEq)]
pub struct Transmit {
    pub assoc: usize,
    pub dest: SocketAddr,
    pub payload: [u8; 48],
}

#[derive(Clone, Debug)]
pub struct Association {
    pub spec: ServerSpec,
    pub minpoll: i8,
    pub maxpoll: i8,
    /// log2 of the poll interval now.
    pub hpoll: i8,
    next: Instant,
    poll_started: Instant,
    /// Burst requests left to send (2 s apart).
    burst: u32,
    burst_waits_reply: bool,
    /// Polls since the last usable reply.
    pub unreach: u32,
    /// The reach register as ntpd keeps it: replies that passed the tests.
    pub reach: u8,
    /// The same register counting every reply from the server.
    pub heard: u8,
    pub polls: u64,
    /// Requests sent (burst ones too): the kernel numbers them from 0.
    pub sent: u64,
    pub received: u64,
    pub usable: u64,
    outstanding: Option<Outstanding>,
    last_xmt: Option<NtpTimestamp>,
    pub filter: ClockFilter,
    /// The last reply's header (valid or not).
    pub header: Option<Repr>,
    /// Flash bits of the last reply.
    pub flash: u16,
    /// This poll's outcome so far.
    current: Option<Mark>,
    /// The last polls, oldest first.
    pub strip: VecDeque<Mark>,
    /// Stopped by a genuine KoD DENY/RSTR.
    pub stopped: Option<KissCode>,
    /// Time of the last usable sample (s since the engine started).
    pub last_sample: Option<f64>,
}

impl Association {
    pub fn new(
        spec: ServerSpec,
        rules: &Rules,
        now: Instant,
        first_delay: Duration,
    ) -> Association {
        let minpoll = spec.minpoll.unwrap_or(rules.minpoll).clamp(3, 17);
        let maxpoll = spec.maxpoll.unwrap_or(rules.maxpoll).clamp(minpoll, 17);
        Association {
            spec,
            minpoll,
            maxpoll,
            hpoll: minpoll,
            next: now + first_delay,
            poll_started: now,
            burst: 0,
            burst_waits_reply: false,
            unreach: 0,
            reach: 0,
            heard: 0,
            polls: 0,
            sent: 0,
            received: 0,
            usable: 0,
            outstanding: None,
            last_xmt: None,
            filter: ClockFilter::default(),
            header: None,
            flash: 0,
            current: None,
            strip: VecDeque::with_capacity(STRIP),
            stopped: None,
            last_sample: None,
        }
    }

    /// What ntpd does to every association when it steps the clock
    /// (`peer_clear(peer, "STEP")`): the samples go (they were taken with
    /// the old clock), the reach register is cleared, polling starts over
    /// at minpoll — with a burst, for `iburst` — one second from now.
    pub fn clear_after_step(&mut self, now: Instant) {
        self.filter = ClockFilter::default();
        self.reach = 0;
        self.unreach = 0;
        self.hpoll = self.minpoll;
        self.burst = 0;
        self.outstanding = None;
        if self.stopped.is_none() {
            self.next = now + Duration::from_secs(1);
        }
    }

    pub fn next_send(&self) -> Option<Instant> {
        (self.stopped.is_none()).then_some(self.next)
    }

    fn note(&mut self, m: Mark) {
        if self
            .current
            .as_ref()
            .is_none_or(|c| m.weight() >= c.weight())
        {
            self.current = Some(m);
        }
    }

    /// Closes the poll that is running: its mark goes to the strip.
    fn close_poll(&mut self) {
        if self.polls == 0 {
            return;
        }
        let m = self.current.take().unwrap_or(Mark::Silent);
        if self.strip.len() == STRIP {
            self.strip.pop_front();
        }
        self.strip.push_back(m);
    }

    /// The request due now, if any. `rand` gives the transmit nonce and the
    /// interval's jitter.
    pub fn transmit(
        &mut self,
        id: usize,
        at: &At,
        rules: &Rules,
        precision: f64,
    ) -> Option<Transmit> {
        let At { now, wall, rand, t } = *at;
        if self.stopped.is_some() || now < self.next {
            return None;
        }
        // Up to +5 % of jitter on each interval, as ntpsec randomises it.
        let interval = |hpoll: i8| {
            Duration::from_secs_f64(
                2f64.powi(hpoll as i32) * (1.0 + ((rand >> 40) % 1000) as f64 / 20_000.0),
            )
        };
        if self.burst > 0 {
            if self.burst_waits_reply && self.heard & 1 == 0 {
                // ntpsec: the rest of the burst waits for a first reply.
                self.burst = 0;
                self.next = self.poll_started + interval(self.hpoll);
                if now < self.next {
                    return None;
                }
            } else {
                self.burst -= 1;
                self.burst_waits_reply = false;
                self.next = if self.burst > 0 {
                    now + Duration::from_secs(2)
                } else {
                    self.poll_started + interval(self.hpoll)
                };
                return Some(self.request(id, wall, rand));
            }
        }
        // A new poll: close the last one, shift the registers.
        self.close_poll();
        self.polls += 1;
        self.poll_started = now;
        if self.polls > 1 {
            if self.reach & 1 == 0 {
                self.unreach += 1;
            } else {
                self.unreach = 0;
            }
            self.reach <<= 1;
            self.heard <<= 1;
            if rules.dummy_mask != 0 && self.reach & rules.dummy_mask == 0 {
                self.filter.dummy(t, precision);
            }
            if self.unreach > rules.unreach {
                self.hpoll = (self.hpoll + 1).min(self.maxpoll);
            }
        }
        if self.spec.iburst
            && self.reach == 0
            && rules.iburst > 1
            && (rules.burst_while_unreachable || self.polls == 1)
        {
            self.burst = rules.iburst - 1;
            self.burst_waits_reply = rules.burst_after_reply;
        }
        self.next = if self.burst > 0 {
            now + Duration::from_secs(2)
        } else {
            now + interval(self.hpoll)
        };
        Some(self.request(id, wall, rand))
    }

    fn request(&mut self, id: usize, wall: NtpTimestamp, rand: u64) -> Transmit {
        let nonce = NtpTimestamp(rand | 1);
        self.outstanding = Some(Outstanding { nonce, t1: wall });
        self.sent += 1;
        Transmit {
            assoc: id,
            dest: self.spec.addr,
            payload: build_request(nonce, 4, self.hpoll),
        }
    }

    /// Whether `org` answers this association's outstanding request.
    pub fn owns(&self, org: NtpTimestamp) -> bool {
        self.outstanding.is_some_and(|o| o.nonce == org)
    }

    /// A datagram from this association's server. Returns true when it gave
    /// a new usable sample.
    pub fn receive(
        &mut self,
        bytes: &[u8],
        t4: NtpTimestamp,
        t: f64,
        precision: f64,
        sort: bool,
    ) -> bool {
        self.received += 1;
        self.heard |= 1;
        let Some(out) = self.outstanding else {
            self.flash = flash::PKT_BOGUS;
            self.note(Mark::Rejected {
                flash: flash::PKT_BOGUS,
                why: "no request outstanding".into(),
            });
            return false;
        };
        let req = Request {
            nonce: out.nonce,
            t1: out.t1,
            version: 4,
            local_precision: precision.log2().round() as i8,
        };
        let j = judge_reply(&req, bytes, t4, self.last_xmt);
        if j.header.is_some() {
            self.header = j.header;
        }
        let (bit, why) = match &j.class {
            ReplyClass::Valid => (0, String::new()),
            ReplyClass::Duplicate => (flash::PKT_DUP, "a duplicate of the last reply".into()),
            ReplyClass::Bogus(BogusReason::OriginMismatch { .. }) => (
                flash::PKT_BOGUS,
                "origin is not our transmit timestamp".into(),
            ),
            ReplyClass::Bogus(BogusReason::ZeroOrigin) => {
                (flash::PKT_BOGUS, "origin timestamp zero".into())
            }
            ReplyClass::Invalid(InvalidReason::ZeroTimestamp(w)) => {
                (flash::PKT_UNSYNC, format!("{w} timestamp zero"))
            }
            ReplyClass::Invalid(InvalidReason::ReferenceAfterTransmit) => (
                flash::PKT_HEADER,
                "reference time later than transmit time".into(),
            ),
            ReplyClass::Unsynchronized(UnsyncReason::RootDistance) => (
                flash::PKT_HEADER,
                UnsyncReason::RootDistance.describe().into(),
            ),
            ReplyClass::Unsynchronized(r) => (flash::PKT_STRATUM, r.describe().into()),
            ReplyClass::Kiss(code) => {
                self.flash = 0;
                self.outstanding = None;
                self.note(Mark::Kod(*code));
                match code {
                    KissCode::Rate => {
                        // Erratum 3007: a RATE kiss raises the interval.
                        let server_poll = j.header.map_or(self.hpoll, |h| h.poll);
                        self.hpoll = (self.hpoll + 1)
                            .max(server_poll)
                            .clamp(self.minpoll, self.maxpoll);
                        self.burst = 0;
                    }
                    KissCode::Deny | KissCode::Rstr => self.stopped = Some(*code),
                    _ => {}
                }
                return false;
            }
            ReplyClass::Invalid(r) => {
                self.note(Mark::Malformed(r.describe()));
                return false;
            }
        };
        if bit != 0 {
            self.flash = bit;
            self.note(Mark::Rejected { flash: bit, why });
            return false;
        }
        let Some(s) = j.sample else {
            return false;
        };
        self.last_xmt = j.header.map(|h| h.transmit_ts);
        self.outstanding = None;
        self.flash = 0;
        self.reach |= 1;
        self.usable += 1;
        self.note(Mark::Answered);
        self.last_sample = Some(t);
        self.filter
            .add_sorted(s.offset, s.delay, s.dispersion, t, precision, sort)
    }

    /// Replays one reply as a daemon logged it (ntpsec `rawstats`): a poll
    /// whose request left at `t1`, and `reply` (with origin `t1`) received at
    /// `t4`, engine time `t`. Returns whether it gave a new sample.
    pub fn replay(
        &mut self,
        reply: &[u8],
        t1: NtpTimestamp,
        t4: NtpTimestamp,
        t: f64,
        precision: f64,
        sort: bool,
    ) -> bool {
        self.close_poll();
        self.polls += 1;
        self.reach <<= 1;
        self.heard <<= 1;
        self.outstanding = Some(Outstanding { nonce: t1, t1 });
        self.receive(reply, t4, t, precision, sort)
    }

    /// The kernel's transmit time of the `id`-th request (from 0): it
    /// replaces T1 while that request is the one outstanding.
    pub fn tx_timestamp(&mut self, id: u32, t1: NtpTimestamp) {
        if u64::from(id) + 1 == self.sent
            && let Some(o) = &mut self.outstanding
        {
            o.t1 = t1;
        }
    }

    pub fn other_address(&mut self, from: SocketAddr) {
        self.received += 1;
        self.note(Mark::OtherAddress(from));
    }

    pub fn icmp(&mut self, error: IcmpError, from: Option<IpAddr>) {
        self.note(Mark::Icmp { error, from });
    }

    pub fn send_failed(&mut self, e: LocalError) {
        self.note(Mark::NotSent(e));
    }

    /// Root distance λ at `t` (RFC 5905 A.5.5.2): max(mindist, root delay +
    /// delay)/2 + root dispersion + dispersion + PHI·age + jitter.
    pub fn root_distance(&self, t: f64, mindist: f64) -> f64 {
        use crate::engine::limits::PHI;
        let (rd, rdisp) = self.header.map_or((0.0, 0.0), |h| {
            (h.root_delay.as_secs_f64(), h.root_dispersion.as_secs_f64())
        });
        (rd + self.filter.delay).max(mindist) / 2.0
            + rdisp
            + self.filter.disp
            + PHI * (t - self.filter.t.unwrap_or(t)).max(0.0)
            + self.filter.jitter
    }

    /// The most telling mark of the last few polls (the current one first).
    pub fn last_mark(&self) -> Option<&Mark> {
        self.current.as_ref().or(self.strip.back())
    }
}

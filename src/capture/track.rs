//! Conversations: client address:port ↔ server address:123, built from
//! decoded frames as they stream by.
//!
//! Requests are paired with replies by timestamps (a reply's origin is the
//! request's transmit), not by order; ICMP errors are paired with the
//! request they quote. A reply whose origin belongs to a request of another
//! conversation of the same client is a reply from another address.
//!
//! Memory is bounded by the number of open conversations, not by the
//! capture: each keeps at most [`PENDING_MAX`] unanswered requests and a
//! fixed set of counters and first examples; at most `max_open` are open at
//! once (the least recently active is closed early), and one idle longer
//! than `idle` is closed and judged.

use std::collections::VecDeque;

/// foldhash: fast, and seeded at random per process, so a crafted capture
/// cannot aim its keys at one bucket.
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
use std::net::{IpAddr, SocketAddr};

use super::decode::{Decoded, IcmpQuote, NtpDatagram};
use crate::diagnose::facts::AnswerKind;
use crate::engine::exchange::{Judgement, ReplyClass, Request, Sample, UnsyncReason, judge_reply};
use crate::engine::limits::{ANSWER_WINDOW, DISCARD_MIN_INTERVAL};
use crate::wire::icmp::IcmpError;
use crate::wire::packet::{Mode, Packet};
use crate::wire::{KissCode, NtpDate, NtpTimestamp, Repr};

/// Unanswered requests remembered per conversation.
pub const PENDING_MAX: usize = 64;
/// Replies remembered per conversation (to count sightings of the same one).
const SEEN_MAX: usize = 16;

/// A capture timestamp: Unix seconds and nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd, Default)]
pub struct Ts {
    pub secs: i64,
    pub nanos: u32,
}

impl Ts {
    pub fn as_f64(self) -> f64 {
        self.secs as f64 + self.nanos as f64 * 1e-9
    }

    pub fn ntp(self) -> NtpTimestamp {
        NtpDate::from_unix(self.secs, self.nanos).timestamp()
    }
}

/// Where a first example was seen: packet number and time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct At {
    pub no: u64,
    pub ts: Ts,
}

#[derive(Clone, Copy, Debug)]
struct Pending {
    xmt: u64,
    at: At,
    sightings: u32,
}

/// Everything kept about one conversation.
#[derive(Clone, Debug, Default)]
pub struct Conv {
    pub client: Option<SocketAddr>,
    pub server: Option<SocketAddr>,
    pub first: Option<At>,
    pub last: Option<At>,
    /// Distinct requests (copies of the same request seen again are sightings).
    pub requests: u64,
    pub answered: u64,
    /// Datagrams from the server side (replies of any kind).
    pub replies: u64,
    pub valid: u64,
    /// The class of the first reply that answered a request.
    pub first_answer: Option<AnswerKind>,
    pub best: Option<(Sample, At, Repr)>,
    pub kiss: Option<(KissCode, At, Option<Repr>)>,
    pub kiss_n: u64,
    pub unsync: Option<(UnsyncReason, At, Repr)>,
    pub unsync_n: u64,
    pub bogus: Option<(At, String)>,
    pub bogus_n: u64,
    pub malformed: Option<(At, String)>,
    pub malformed_n: u64,
    /// Replies to this conversation's requests that came from another address.
    pub other_addr: Option<(At, SocketAddr)>,
    pub other_n: u64,
    pub icmp: Option<(At, IcmpError, IpAddr)>,
    pub icmp_n: u64,
    /// Requests an ICMP error was matched to.
    pub icmp_resolved: u64,
    /// ICMP errors the client's host sent back for replies (no socket took them).
    pub reply_bounced: Option<(At, IcmpError, IpAddr)>,
    pub reply_bounced_n: u64,
    /// Replies the capture's snap length cut too short to read.
    pub replies_cut: u64,
    /// Replies in a conversation whose requests are not in the capture.
    pub unpaired: u64,
    /// Request intervals: how many, their sum, how many under 2 s.
    pub intervals: u64,
    pub interval_sum: f64,
    pub short_intervals: u64,
    pub first_short: Option<At>,
    last_request: Option<Ts>,
    first_request: Option<Ts>,
    /// Most times one request / one reply was seen (two-sided captures see each twice).
    pub request_sightings_max: u32,
    pub reply_sightings_max: u32,
    pending: VecDeque<Pending>,
    seen_replies: VecDeque<(u64, u32)>,
    /// Does the client echo our last reply's transmit in its next request's
    /// origin (classic ntpd/ntpsec do)? Counted over requests that follow a reply.
    last_reply_xmt: Option<u64>,
    pub echo_yes: u64,
    pub echo_no: u64,
    pub first_echo_no: Option<At>,
    /// Replies seen before any request of this conversation, held until
    /// their request comes (captures out of time order).
    early: VecDeque<Early>,
    /// Requests still inside their answer window when the capture ended:
    /// neither answered nor unanswered.
    pub pending_at_end: u64,
    /// The first of them.
    pub first_pending: Option<At>,
}

/// A reply held back until its request comes.
#[derive(Clone, Debug)]
struct Early {
    origin: u64,
    at: At,
    src: SocketAddr,
    payload: Vec<u8>,
}

/// Replies held back per conversation, and their largest size (a reply
/// with a MAC or NTS fields fits; anything larger is only counted).
const EARLY_MAX: usize = 4;
const EARLY_BYTES: usize = 256;

/// What follows the 48-octet header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trailer {
    Nts,
    Mac,
    CryptoNak,
    Other,
}

/// Reads what follows an NTP header: a 4-octet crypto-NAK (RFC 5905
/// §7.3's MAC with only a zero key id), a MAC (key id + 16- or 20-octet
/// digest, RFC 8573), or extension fields (RFC 7822: type and length, the
/// length a multiple of 4 and at least 16) among which RFC 8915's NTS
/// fields — Unique Identifier 0x0104, Cookie 0x0204, Cookie Placeholder
/// 0x0304, Authenticator and Encrypted Extension Fields 0x0404.
pub fn trailer(t: &[u8]) -> Trailer {
    if t.len() == 4 {
        return Trailer::CryptoNak;
    }
    let mut off = 0;
    let mut nts = false;
    let mut chain = true;
    while off + 4 <= t.len() {
        let ty = u16::from_be_bytes([t[off], t[off + 1]]);
        let len = u16::from_be_bytes([t[off + 2], t[off + 3]]) as usize;
        if len < 16 || !len.is_multiple_of(4) || off + len > t.len() {
            chain = false;
            break;
        }
        nts |= matches!(ty, 0x0104 | 0x0204 | 0x0304 | 0x0404);
        off += len;
    }
    if chain && off == t.len() && nts {
        Trailer::Nts
    } else if matches!(t.len(), 20 | 24) {
        Trailer::Mac
    } else {
        Trailer::Other
    }
}

/// Conversations kept in detail by default.
pub const DEFAULT_MAX_KEPT: usize = 10_000;

/// A client host's conversations with one server, summed.
#[derive(Clone, Debug)]
pub struct Group {
    pub client: IpAddr,
    pub server: SocketAddr,
    /// Boxed: groups are moved from map to list to verdicts.
    pub conv: Box<Conv>,
    pub conversations: usize,
}

/// What a finished capture holds.
pub struct Finished {
    pub conversations: Vec<(Key, Conv)>,
    pub groups: Vec<Group>,
    pub stats: CaptureStats,
}

/// Conversation key: (client, server).
pub type Key = (SocketAddr, SocketAddr);

/// The key as three integers: hashing it costs a third of hashing two
/// `SocketAddr`s (measured on a 1 M-packet capture).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
struct CKey(u128, u128, u32);

fn ip128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(a.to_ipv6_mapped()),
        IpAddr::V6(a) => u128::from(a),
    }
}

fn key_of(c: &Conv) -> Key {
    let unspecified = SocketAddr::from(([0, 0, 0, 0], 0));
    (
        c.client.unwrap_or(unspecified),
        c.server.unwrap_or(unspecified),
    )
}

impl From<Key> for CKey {
    fn from(k: Key) -> CKey {
        CKey(
            ip128(k.0.ip()),
            ip128(k.1.ip()),
            (k.0.port() as u32) << 16 | k.1.port() as u32,
        )
    }
}

/// Counts over the whole capture.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CaptureStats {
    pub frames: u64,
    pub ntp: u64,
    pub icmp: u64,
    pub fragments: u64,
    pub undecodable: u64,
    pub truncated: u64,
    /// Mode 6 (ntpq) and mode 7 (ntpdc) datagrams.
    pub control: u64,
    /// Of those: mode 6 queries and answers (the response bit).
    pub control_queries: u64,
    pub control_answers: u64,
    /// Mode 7 (ntpdc, classic ntpd's private mode) datagrams, and how many
    /// are `monlist` (request codes 20 and 42): the amplification of
    /// CVE-2013-5211.
    pub private: u64,
    pub monlist: u64,
    /// Symmetric active/passive (modes 1 and 2): peers, not client/server.
    pub symmetric: u64,
    /// Broadcast/multicast (mode 5).
    pub broadcast: u64,
    /// NTP datagrams by version field (index 0-7).
    pub versions: [u64; 8],
    /// Datagrams with NTS extension fields (RFC 8915: unique identifier,
    /// cookie, authenticator), with a MAC (key id and digest), and
    /// crypto-NAKs (a 4-octet MAC: authentication refused).
    pub nts: u64,
    pub mac: u64,
    pub crypto_nak: u64,
    pub other: u64,
    /// Conversations closed early because too many were open.
    pub evicted: u64,
    /// Conversations beyond the detail bound: counted in their client
    /// host's and server's totals, not listed one by one.
    pub folded: u64,
}

pub struct Tracker {
    /// Boxed: a conversation is large, and the map moves its values.
    open: HashMap<CKey, Box<Conv>>,
    /// Pending requests, by transmit timestamp and client address (two
    /// clients may send the same transmit value: SNTP's zero, symmetric
    /// peers) → their conversation.
    nonces: HashMap<(u64, u128), Key>,
    /// The newest capture time seen (frames may come out of order), or
    /// when a live capture stopped: the capture's end.
    pub latest: Option<Ts>,
    idle: f64,
    max_open: usize,
    last_sweep: f64,
    pub closed: Vec<(Key, Conv)>,
    /// Every closed conversation, summed per (client host, server): the
    /// server view, complete even when details are no longer kept.
    groups: HashMap<(IpAddr, SocketAddr), (Box<Conv>, usize)>,
    /// Conversations kept in detail (beyond, they are only in their group).
    max_kept: usize,
    pub stats: CaptureStats,
}

fn direction(p: &NtpDatagram) -> Option<bool> {
    // true: client → server.
    let mode = p.payload.first().map(|b| Mode::from_bits(*b));
    match mode {
        Some(Mode::Client | Mode::SymmetricActive) => Some(true),
        Some(Mode::Server | Mode::SymmetricPassive | Mode::Broadcast) => Some(false),
        _ if p.dst.port() == 123 && p.src.port() != 123 => Some(true),
        _ if p.src.port() == 123 && p.dst.port() != 123 => Some(false),
        _ => None,
    }
}

impl Tracker {
    pub fn new(idle_secs: f64, max_open: usize) -> Tracker {
        Tracker {
            open: HashMap::default(),
            nonces: HashMap::default(),
            latest: None,
            idle: idle_secs,
            max_open: max_open.max(1),
            last_sweep: f64::MIN,
            closed: Vec::new(),
            groups: HashMap::default(),
            max_kept: DEFAULT_MAX_KEPT,
            stats: CaptureStats::default(),
        }
    }

    /// At most `n` conversations kept in detail.
    pub fn max_kept(mut self, n: usize) -> Tracker {
        self.max_kept = n;
        self
    }

    fn conv(&mut self, key: Key, at: At) -> &mut Conv {
        if self.open.len() >= self.max_open && !self.open.contains_key(&CKey::from(key)) {
            // Too many open: close the least recently active eighth early
            // (in one sort, so a flood of new conversations stays linear).
            let mut by_age: Vec<(f64, CKey)> = self
                .open
                .iter()
                .map(|(k, c)| (c.last.map_or(0.0, |x| x.ts.as_f64()), *k))
                .collect();
            let n = (self.max_open / 8).max(1).min(by_age.len());
            // The n oldest, in no order: a selection, not a sort.
            if n < by_age.len() {
                by_age.select_nth_unstable_by(n, |a, b| a.0.total_cmp(&b.0));
            }
            for (_, k) in by_age.into_iter().take(n) {
                self.close(k);
                self.stats.evicted += 1;
            }
        }
        let c = self.open.entry(CKey::from(key)).or_default();
        if c.first.is_none() {
            c.client = Some(key.0);
            c.server = Some(key.1);
            c.first = Some(at);
        }
        c.last = Some(at);
        c
    }

    fn close(&mut self, k: CKey) {
        if let Some(c) = self.open.remove(&k) {
            let client = c.client.map_or(0, |a| ip128(a.ip()));
            for p in &c.pending {
                self.nonces.remove(&(p.xmt, client));
            }
            let mut c = *c;
            // Its per-request state is done with: free it.
            c.pending = VecDeque::new();
            c.seen_replies = VecDeque::new();
            c.early = VecDeque::new();
            let key = key_of(&c);
            match self.groups.get_mut(&(key.0.ip(), key.1)) {
                Some((g, n)) => {
                    g.merge(&c);
                    *n += 1;
                }
                None => {
                    self.groups
                        .insert((key.0.ip(), key.1), (Box::new(c.clone()), 1));
                }
            }
            if self.closed.len() < self.max_kept {
                self.closed.push((key, c));
            } else {
                self.stats.folded += 1;
            }
        }
    }

    /// Feeds one frame.
    pub fn push(&mut self, no: u64, ts: Ts, d: &Decoded) {
        self.stats.frames += 1;
        if self.latest.is_none_or(|l| ts > l) {
            self.latest = Some(ts);
        }
        let at = At { no, ts };
        match d {
            Decoded::Ntp(p) => {
                self.stats.ntp += 1;
                if p.truncated {
                    self.stats.truncated += 1;
                }
                self.ntp(at, p);
            }
            Decoded::Icmp(q) => {
                self.stats.icmp += 1;
                self.icmp(at, q);
            }
            Decoded::Fragment { .. } => self.stats.fragments += 1,
            Decoded::Undecodable(_) => self.stats.undecodable += 1,
            Decoded::Other => self.stats.other += 1,
        }
        // Close idle conversations now and then (capture time).
        let now = ts.as_f64();
        if now - self.last_sweep > self.idle.min(60.0) {
            self.last_sweep = now;
            let idle: Vec<CKey> = self
                .open
                .iter()
                .filter(|(_, c)| c.last.is_some_and(|l| now - l.ts.as_f64() > self.idle))
                .map(|(k, _)| *k)
                .collect();
            for k in idle {
                self.close(k);
            }
        }
    }

    fn ntp(&mut self, at: At, p: &NtpDatagram) {
        if let Some(b) = p.payload.first() {
            // Versions of time packets (ntpq and ntpdc speak version 2).
            if !matches!(Mode::from_bits(*b), Mode::Control | Mode::Private) {
                self.stats.versions[((b >> 3) & 7) as usize] += 1;
            }
            if let Some(t) = p.payload.get(48..).filter(|t| !t.is_empty()) {
                match trailer(t) {
                    Trailer::Nts => self.stats.nts += 1,
                    Trailer::Mac => self.stats.mac += 1,
                    Trailer::CryptoNak => self.stats.crypto_nak += 1,
                    Trailer::Other => {}
                }
            }
            match Mode::from_bits(*b) {
                Mode::Control => {
                    self.stats.control += 1;
                    // RFC 1305 appendix B: bit 7 of the second octet marks a response.
                    if p.payload.get(1).is_some_and(|x| x & 0x80 != 0) {
                        self.stats.control_answers += 1;
                    } else {
                        self.stats.control_queries += 1;
                    }
                    return;
                }
                Mode::Private => {
                    self.stats.control += 1;
                    self.stats.private += 1;
                    // ntp_request.h: the fourth octet is the request code;
                    // MON_GETLIST 20, MON_GETLIST_1 42.
                    if p.payload.get(3).is_some_and(|c| *c == 20 || *c == 42) {
                        self.stats.monlist += 1;
                    }
                    return;
                }
                Mode::SymmetricActive | Mode::SymmetricPassive => {
                    self.stats.symmetric += 1;
                    return;
                }
                Mode::Broadcast => {
                    self.stats.broadcast += 1;
                    return;
                }
                _ => {}
            }
        }
        match direction(p) {
            Some(true) => self.request(at, p),
            Some(false) => self.reply(at, p),
            None => self.stats.other += 1,
        }
    }

    fn request(&mut self, at: At, p: &NtpDatagram) {
        let key = (p.src, p.dst);
        let Ok(pk) = Packet::new_checked(p.payload) else {
            let c = self.conv(key, at);
            c.requests += 1;
            return;
        };
        let xmt = pk.transmit_ts().0;
        let org = pk.origin_ts().0;
        let c = self.conv(key, at);
        if let Some(pend) = c.pending.iter_mut().find(|x| x.xmt == xmt) {
            pend.sightings += 1;
            c.request_sightings_max = c.request_sightings_max.max(pend.sightings);
            return;
        }
        c.requests += 1;
        c.request_sightings_max = c.request_sightings_max.max(1);
        if let Some(prev) = c.last_request {
            let dt = at.ts.as_f64() - prev.as_f64();
            c.intervals += 1;
            c.interval_sum += dt;
            if dt < DISCARD_MIN_INTERVAL {
                c.short_intervals += 1;
                c.first_short.get_or_insert(at);
            }
        }
        c.last_request = Some(at.ts);
        c.first_request.get_or_insert(at.ts);
        if let Some(r) = c.last_reply_xmt.take() {
            if org == r {
                c.echo_yes += 1;
            } else if c.echo_yes > 0 {
                // Only a client that has echoed before is expected to echo
                // (classic ntpd does; ntpsec and chrony send zero origins).
                c.echo_no += 1;
                c.first_echo_no.get_or_insert(at);
            }
        }
        let mut evicted = None;
        if c.pending.len() >= PENDING_MAX {
            evicted = c.pending.pop_front().map(|x| x.xmt);
        }
        c.pending.push_back(Pending {
            xmt,
            at,
            sightings: 1,
        });
        let client = ip128(key.0.ip());
        if let Some(e) = evicted {
            self.nonces.remove(&(e, client));
        }
        self.nonces.insert((xmt, client), key);
        // A reply stored before this request (a capture out of time order)?
        let early = {
            let c = self.open.get_mut(&CKey::from(key)).expect("just used");
            c.early
                .iter()
                .position(|e| e.origin == xmt)
                .map(|i| c.early.remove(i).expect("found"))
        };
        if let Some(e) = early {
            let c = self.open.get_mut(&CKey::from(key)).expect("just used");
            c.unpaired = c.unpaired.saturating_sub(1);
            self.reply_raw(e.at, e.src, key.0, &e.payload, false, true);
        }
    }

    fn reply(&mut self, at: At, p: &NtpDatagram) {
        self.reply_raw(at, p.src, p.dst, p.payload, p.truncated, false);
    }

    /// A reply from `src` to `dst`; `replayed` when it was held back until
    /// its request came (already counted and deduplicated then).
    fn reply_raw(
        &mut self,
        at: At,
        src: SocketAddr,
        dst: SocketAddr,
        payload: &[u8],
        truncated: bool,
        replayed: bool,
    ) {
        let p = NtpDatagram {
            src,
            dst,
            payload,
            truncated,
        };
        let p = &p;
        let key = (p.dst, p.src);
        let Ok(pk) = Packet::new_checked(p.payload) else {
            let c = self.conv(key, at);
            c.replies += 1;
            if p.truncated {
                // Cut by the capture's snap length, not by the server.
                c.replies_cut += 1;
                return;
            }
            c.malformed_n += 1;
            c.malformed.get_or_insert((
                at,
                format!("{} octets: too short for an NTP header", p.payload.len()),
            ));
            return;
        };
        let org = pk.origin_ts().0;
        let xmt = pk.transmit_ts().0;
        // A copy of a reply already seen (two-sided capture)?
        if !replayed {
            let c = self.conv(key, at);
            c.replies += 1;
            if let Some(s) = c
                .seen_replies
                .iter_mut()
                .find(|(x, _)| *x == xmt && xmt != 0)
            {
                s.1 += 1;
                c.reply_sightings_max = c.reply_sightings_max.max(s.1);
                c.replies -= 1;
                return;
            }
            if c.seen_replies.len() >= SEEN_MAX {
                c.seen_replies.pop_front();
            }
            c.seen_replies.push_back((xmt, 1));
            c.reply_sightings_max = c.reply_sightings_max.max(1);
        }
        // Which request does it answer?
        let owner = self.nonces.get(&(org, ip128(p.dst.ip()))).copied();
        let target_key = match owner {
            Some(k) => k,
            None => key,
        };
        let other_address = owner.is_some_and(|k| k != key);
        // The reply's own conversation exists (created above); another one
        // is used only when the origin names it and it is still open.
        let tk = CKey::from(
            if target_key != key && self.open.contains_key(&CKey::from(target_key)) {
                target_key
            } else {
                key
            },
        );
        let Some(c) = self.open.get_mut(&tk) else {
            return;
        };
        let pos = c.pending.iter().position(|x| x.xmt == org);
        let req_at = pos.map(|i| c.pending[i].at);
        let request = Request {
            nonce: NtpTimestamp(if pos.is_some() {
                org
            } else {
                c.pending.back().map_or(1, |x| x.xmt)
            }),
            t1: req_at.map_or(NtpTimestamp::ZERO, |r| r.ts.ntp()),
            version: pk.version().clamp(1, 4),
            local_precision: -20,
        };
        if pos.is_none() && c.requests == 0 && !other_address {
            // No request of this conversation is in the capture yet (it
            // began mid-conversation, holds one direction, or is out of
            // time order): the origin test cannot be applied. Held back
            // (a few, bounded) in case its request follows.
            c.unpaired += 1;
            if c.early.len() < EARLY_MAX && p.payload.len() <= EARLY_BYTES {
                c.early.push_back(Early {
                    origin: org,
                    at,
                    src: p.src,
                    payload: p.payload.to_vec(),
                });
            }
            return;
        }
        let j: Judgement = judge_reply(&request, p.payload, at.ts.ntp(), None);
        if other_address {
            c.other_n += 1;
            c.other_addr.get_or_insert((at, p.src));
        }
        if let Some(i) = pos {
            c.pending.remove(i);
            self.nonces.remove(&(org, ip128(p.dst.ip())));
            c.answered += 1;
            c.last_reply_xmt = Some(xmt);
        }
        match &j.class {
            ReplyClass::Valid if !other_address => {
                c.valid += 1;
                c.first_answer.get_or_insert(AnswerKind::Valid);
                if let (Some(s), Some(h)) = (j.sample, j.header)
                    && c.best.as_ref().is_none_or(|(b, _, _)| s.delay < b.delay)
                {
                    c.best = Some((s, at, h));
                }
            }
            ReplyClass::Valid => {}
            ReplyClass::Kiss(k) => {
                c.kiss_n += 1;
                c.first_answer.get_or_insert(AnswerKind::Kiss);
                c.kiss.get_or_insert((*k, at, j.header));
            }
            ReplyClass::Unsynchronized(r) => {
                c.unsync_n += 1;
                c.first_answer.get_or_insert(AnswerKind::Unsynchronized);
                if let Some(h) = j.header {
                    c.unsync.get_or_insert((*r, at, h));
                }
            }
            ReplyClass::Bogus(b) => {
                c.bogus_n += 1;
                // The capture's own words: no internal placeholder (the
                // nonce judged against is only a stand-in when no request
                // matches).
                let detail = match b {
                    crate::engine::exchange::BogusReason::OriginMismatch { got, .. } => {
                        format!(
                            "origin {} is the transmit of none of this client's requests in the capture{}",
                            got.hex(),
                            match c.pending.back() {
                                Some(last) => format!(
                                    " (its last unanswered one: {})",
                                    NtpTimestamp(last.xmt).hex()
                                ),
                                None => String::new(),
                            }
                        )
                    }
                    _ => j.class.label(),
                };
                c.bogus.get_or_insert((at, detail));
            }
            ReplyClass::Duplicate => {}
            ReplyClass::Invalid(_) => {
                c.malformed_n += 1;
                c.malformed.get_or_insert((at, j.class.label()));
            }
        }
    }

    fn icmp(&mut self, at: At, q: &IcmpQuote) {
        // The quoted datagram went client → server (a request) or server →
        // client (a reply bounced on its way back).
        let (key, is_request) = if q.quoted_dst.port() == 123 && q.quoted_src.port() != 123 {
            ((q.quoted_src, q.quoted_dst), true)
        } else if q.quoted_src.port() == 123 && q.quoted_dst.port() != 123 {
            ((q.quoted_dst, q.quoted_src), false)
        } else {
            ((q.quoted_src, q.quoted_dst), true)
        };
        let c = self.conv(key, at);
        if !is_request {
            c.reply_bounced_n += 1;
            c.reply_bounced.get_or_insert((at, q.error, q.offender));
            return;
        }
        c.icmp_n += 1;
        c.icmp.get_or_insert((at, q.error, q.offender));
        {
            if let Some(x) = q.quoted_payload.get(40..48) {
                let xmt = u64::from_be_bytes(x.try_into().unwrap_or([0; 8]));
                if let Some(i) = c.pending.iter().position(|p| p.xmt == xmt) {
                    c.pending.remove(i);
                    c.icmp_resolved += 1;
                    self.nonces.remove(&(xmt, ip128(key.0.ip())));
                }
            }
        }
    }

    /// A live capture ran until `t`, later than its last frame (silence is
    /// part of what it saw).
    pub fn ended_at(&mut self, t: Ts) {
        if self.latest.is_none_or(|l| t > l) {
            self.latest = Some(t);
        }
    }

    /// Closes every open conversation; returns the conversations kept in
    /// detail, in order of first packet, and every (client host, server)
    /// group with its number of conversations.
    /// Requests sent within [`ANSWER_WINDOW`] of the capture's last frame
    /// are pending, not unanswered: their answer may simply not be in it.
    pub fn finish_all(mut self) -> Finished {
        if let Some(end) = self.latest {
            let end = end.as_f64();
            for c in self.open.values_mut() {
                let young: Vec<At> = c
                    .pending
                    .iter()
                    .filter(|p| end - p.at.ts.as_f64() < ANSWER_WINDOW)
                    .map(|p| p.at)
                    .collect();
                c.pending_at_end = young.len() as u64;
                c.first_pending = young.first().copied();
            }
        }
        // Close in order of first packet, so that details and groups are
        // in time order.
        let mut keys: Vec<(u64, CKey)> = self
            .open
            .iter()
            .map(|(k, c)| (c.first.map_or(0, |a| a.no), *k))
            .collect();
        keys.sort_unstable_by_key(|(no, _)| *no);
        for (_, k) in keys {
            self.close(k);
        }
        let mut all = self.closed;
        all.sort_by_key(|(_, c)| c.first.map_or(0, |a| a.no));
        let mut groups: Vec<Group> = self
            .groups
            .into_iter()
            .map(|((client, server), (conv, conversations))| Group {
                client,
                server,
                conv,
                conversations,
            })
            .collect();
        groups.sort_by_key(|g| g.conv.first.map_or(0, |a| a.no));
        Finished {
            conversations: all,
            groups,
            stats: self.stats,
        }
    }

    /// [`Tracker::finish_all`], the conversations and statistics only.
    pub fn finish(self) -> (Vec<(Key, Conv)>, CaptureStats) {
        let f = self.finish_all();
        (f.conversations, f.stats)
    }
}

impl Conv {
    /// Adds `o` (a later conversation of the same client host and server,
    /// e.g. the next source port of a client that uses one per request, as
    /// RFC 9109 asks) to this one: counts summed, first examples and the
    /// best sample kept, request intervals continued across the two.
    pub fn merge(&mut self, o: &Conv) {
        fn earliest<T: Clone>(a: &mut Option<T>, b: &Option<T>) {
            if a.is_none() {
                a.clone_from(b);
            }
        }
        if let (Some(prev), Some(next)) = (self.last_request, o.first_request) {
            let dt = next.as_f64() - prev.as_f64();
            if dt >= 0.0 {
                self.intervals += 1;
                self.interval_sum += dt;
                if dt < DISCARD_MIN_INTERVAL {
                    self.short_intervals += 1;
                    if self.first_short.is_none() {
                        self.first_short = o.first.map(|a| At { no: a.no, ts: next });
                    }
                }
            }
        }
        if self
            .first
            .is_none_or(|f| o.first.is_some_and(|x| x.ts < f.ts))
        {
            self.first = o.first;
        }
        if self
            .last
            .is_none_or(|l| o.last.is_some_and(|x| x.ts > l.ts))
        {
            self.last = o.last;
        }
        self.first_request = match (self.first_request, o.first_request) {
            (Some(a), Some(b)) => Some(if b < a { b } else { a }),
            (a, b) => a.or(b),
        };
        self.last_request = match (self.last_request, o.last_request) {
            (Some(a), Some(b)) => Some(if b > a { b } else { a }),
            (a, b) => a.or(b),
        };
        self.requests += o.requests;
        self.answered += o.answered;
        self.replies += o.replies;
        self.valid += o.valid;
        earliest(&mut self.first_answer, &o.first_answer);
        if let Some(b) = &o.best
            && self.best.as_ref().is_none_or(|a| b.0.delay < a.0.delay)
        {
            self.best = Some(*b);
        }
        earliest(&mut self.kiss, &o.kiss);
        self.kiss_n += o.kiss_n;
        earliest(&mut self.unsync, &o.unsync);
        self.unsync_n += o.unsync_n;
        earliest(&mut self.bogus, &o.bogus);
        self.bogus_n += o.bogus_n;
        earliest(&mut self.malformed, &o.malformed);
        self.malformed_n += o.malformed_n;
        earliest(&mut self.other_addr, &o.other_addr);
        self.other_n += o.other_n;
        earliest(&mut self.icmp, &o.icmp);
        self.icmp_n += o.icmp_n;
        self.icmp_resolved += o.icmp_resolved;
        earliest(&mut self.reply_bounced, &o.reply_bounced);
        self.reply_bounced_n += o.reply_bounced_n;
        self.replies_cut += o.replies_cut;
        self.unpaired += o.unpaired;
        self.intervals += o.intervals;
        self.interval_sum += o.interval_sum;
        self.short_intervals += o.short_intervals;
        earliest(&mut self.first_short, &o.first_short);
        self.request_sightings_max = self.request_sightings_max.max(o.request_sightings_max);
        self.reply_sightings_max = self.reply_sightings_max.max(o.reply_sightings_max);
        self.echo_yes += o.echo_yes;
        self.echo_no += o.echo_no;
        earliest(&mut self.first_echo_no, &o.first_echo_no);
        self.pending_at_end += o.pending_at_end;
        earliest(&mut self.first_pending, &o.first_pending);
    }

    /// Requests that got neither a reply nor an ICMP error matched to them.
    pub fn unanswered(&self) -> u64 {
        self.requests
            .saturating_sub(self.answered + self.icmp_resolved + self.pending_at_end)
    }
}

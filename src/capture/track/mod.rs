//! Conversations: client address:port ↔ server address:123, built from
//! decoded frames as they stream by.
//!
//! Requests are paired with replies by timestamps (a reply's origin is the
//! request's transmit), not by order; ICMP errors are paired with the
//! request they quote. A reply whose origin belongs to a request of another
//! conversation of the same client is a reply from another address.
//!
//! Numbers are summed as packets come into the conversation's (client
//! host, server) group and, for the first `max_kept` conversations, into
//! the conversation's own detail. Memory is bounded, not by the capture:
//! an open conversation keeps only pairing state (at most [`PENDING_MAX`]
//! unanswered requests, the last replies seen); at most `max_open` are open
//! at once (the least recently active eighth is closed early), one idle
//! longer than `idle` is closed; at most `max_hosts` groups are kept, new
//! client hosts beyond are summed per server as "other client hosts".

use smallvec::SmallVec;

/// foldhash: fast, and seeded at random per process, so a crafted capture
/// cannot aim its keys at one bucket.
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
use std::net::{IpAddr, SocketAddr};

use super::decode::{Decoded, IcmpQuote, NtpDatagram};
use crate::diagnose::facts::{AnswerKind, HeaderTells};
use crate::engine::exchange::{
    Judgement, ReplyClass, Request, Sample, UnsyncReason, classify_header, judge_reply,
};
use crate::engine::limits::{ANSWER_WINDOW, DISCARD_MIN_INTERVAL, PANIC_THRESHOLD};
use crate::wire::icmp::IcmpError;
use crate::wire::packet::{Mode, Packet};
use crate::wire::{KissCode, NtpDate, NtpTimestamp, Repr};

mod conv;
mod join;
mod ke;
mod tables;

pub use conv::*;
use join::*;
pub use ke::*;
use tables::*;

/// Unanswered requests remembered per conversation.
pub const PENDING_MAX: usize = 64;
/// Replies remembered per conversation (to count sightings of the same one).
const SEEN_MAX: usize = 2;

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

/// Conversations kept in detail by default.
pub const DEFAULT_MAX_KEPT: usize = 10_000;
/// (Client host, server) sums kept by default; beyond, a new client host
/// is summed into its server's "other client hosts".
pub const DEFAULT_MAX_HOSTS: usize = 262_144;

/// A client host's conversations with one server, summed.
#[derive(Clone, Debug)]
pub struct HostGroup {
    /// Boxed: the list of groups moves pointers as it grows. Its `client`
    /// and `server` are the group's.
    pub conv: Box<Conv>,
    pub conversations: usize,
    /// The sum of client hosts beyond the bound.
    pub others: bool,
}

impl HostGroup {
    /// The client host (the unspecified address for the other client hosts).
    pub fn client(&self) -> IpAddr {
        match self.conv.client {
            Some(c) if !self.others => c.ip(),
            Some(SocketAddr::V6(_)) => IpAddr::from([0u16; 8]),
            _ => IpAddr::from([0u8; 4]),
        }
    }

    pub fn server(&self) -> SocketAddr {
        self.conv
            .server
            .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)))
    }
}

/// What a finished capture holds.
pub struct Finished {
    pub conversations: Vec<(Key, Conv)>,
    pub groups: Vec<HostGroup>,
    /// NTS-KE per server, in order of first connection.
    pub nts_ke: Vec<KeSeen>,
    pub stats: CaptureStats,
}

/// A tracker's sums once its conversations are closed.
pub struct Closed {
    details: Vec<(Key, Conv)>,
    /// The packet that opened each detail's conversation.
    opened: Vec<u64>,
    groups: Vec<HostGroup>,
    /// Each group's first packet (the order of the server view), read on
    /// the closing tracker's thread.
    group_first: Vec<u64>,
    ke: Vec<KeSeen>,
    stats: CaptureStats,
    max_kept: usize,
}

/// Conversation key: (client, server).
pub type Key = (SocketAddr, SocketAddr);

/// The key as three integers: hashing it costs a third of hashing two
/// `SocketAddr`s (measured on a 1 M-packet capture). Packed to 4-octet
/// alignment: 36 octets, not 48, in every open conversation.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[repr(C, packed(4))]
struct CKey(u128, u128, u32);

fn ip128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(a.to_ipv6_mapped()),
        IpAddr::V6(a) => u128::from(a),
    }
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
    /// TCP segments to or from the NTS-KE port.
    pub nts_ke: u64,
    pub other: u64,
    /// IP datagrams rebuilt from fragments, and those whose fragments never
    /// all came (a fragment dropped on the way, or outside the capture).
    pub reassembled: u64,
    pub fragments_incomplete: u64,
    /// Conversations closed early because too many were open.
    pub evicted: u64,
    /// Conversations beyond the detail bound: counted in their client
    /// host's and server's totals, not listed one by one.
    pub folded: u64,
    /// Conversations of client hosts beyond the host bound: summed in
    /// their server's "other client hosts".
    pub hosts_folded: u64,
}

impl CaptureStats {
    /// The adapter: what the other-traffic remarks read.
    pub fn other_traffic(&self) -> crate::diagnose::traffic::OtherTraffic {
        crate::diagnose::traffic::OtherTraffic {
            control_queries: self.control_queries,
            control_answers: self.control_answers,
            private: self.private,
            monlist: self.monlist,
            symmetric: self.symmetric,
            broadcast: self.broadcast,
            versions: self.versions,
            nts: self.nts,
            mac: self.mac,
            crypto_nak: self.crypto_nak,
        }
    }
}

pub struct Tracker {
    /// The open conversations: pairing state only.
    open: OpenMap,
    nonces: Nonces,
    /// The newest capture time seen (frames may come out of order), or
    /// when a live capture stopped: the capture's end.
    pub latest: Option<Ts>,
    idle: f64,
    max_open: usize,
    last_sweep: f64,
    /// No open conversation's last packet is older than the smaller of
    /// these: the oldest left by the last sweep, the oldest frame since.
    /// A sweep before that is `idle` old finds nothing to close, and is
    /// skipped (it would visit every open conversation).
    sweep_floor: f64,
    oldest_since_sweep: f64,
    /// Every conversation summed per (client host, server): the server
    /// view, complete even when details are no longer kept; and the
    /// details.
    sums: Sums,
    reasm: super::reasm::Reassembler,
    /// NTS-KE per server, and the state of each connection.
    ke: Vec<KeSeen>,
    ke_conns: HashMap<(SocketAddr, SocketAddr), KeConn>,
    /// This tracker's share of the client hosts: (its number, how many).
    shard: (u64, u64),
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

/// Closes a conversation: its pending requests leave the nonce table;
/// its sums are already in its group and detail.
/// What a reply whose request is not in the capture tells by its header
/// alone, or by its transmit time against the capture's clock; `None` when
/// nothing (it can only be judged with its request).
fn header_tells(at: At, payload: &[u8]) -> Option<HeaderTells> {
    match classify_header(payload) {
        (Some(h), ReplyClass::Kiss(k)) => Some(HeaderTells::Kiss(k, h)),
        (Some(h), ReplyClass::Unsynchronized(r)) => Some(HeaderTells::Unsynchronized(r, h)),
        (_, c @ ReplyClass::Invalid(_)) => Some(HeaderTells::Malformed(c.label())),
        (Some(h), ReplyClass::Valid) => {
            let off = h.transmit_ts.since(at.ts.ntp()).as_secs_f64();
            (off.abs() > PANIC_THRESHOLD).then_some(HeaderTells::FarFromCapture(off, h))
        }
        _ => None,
    }
}

fn close(open: &mut OpenMap, nonces: &mut Nonces, k: &CKey) {
    if let Some(o) = open.remove(k) {
        for p in &o.pending {
            nonces.remove(p.xmt, o.key.0);
        }
    }
}

/// The open conversation of `key`, opened (evicting the least recently
/// active eighth when `max_open` are open) if new; its first and last
/// packets noted in its sums.
fn conv<'a>(
    open: &'a mut OpenMap,
    nonces: &mut Nonces,
    sums: &mut Sums,
    stats: &mut CaptureStats,
    max_open: usize,
    key: Key,
    at: At,
) -> &'a mut Open {
    let ck = CKey::from(key);
    if open.len() >= max_open && !open.contains_key(&ck) {
        // Too many open: close the least recently active eighth early
        // (in one selection, so a flood of new conversations stays linear).
        let mut by_age: Vec<(f64, CKey)> = open.values().map(|o| (o.last, o.key)).collect();
        let n = (max_open / 8).max(1).min(by_age.len());
        if n < by_age.len() {
            by_age.select_nth_unstable_by(n, |a, b| a.0.total_cmp(&b.0));
        }
        for (_, k) in by_age.into_iter().take(n) {
            close(open, nonces, &k);
            stats.evicted += 1;
        }
    }
    let o = open.get_or_insert_with(ck, || {
        let (group, detail) = sums.begin(key, at, stats);
        Open {
            key: ck,
            group,
            detail,
            last: at.ts.as_f64(),
            requested: false,
            pending: SmallVec::new(),
            seen_replies: [(0, 0); SEEN_MAX],
            last_reply_xmt: 0,
            has_last_reply: false,
            early: None,
        }
    });
    o.last = o.last.max(at.ts.as_f64());
    sums.each(o.group, o.detail, |c| {
        if c.first.is_none_or(|f| at.ts < f.ts) {
            c.first = Some(at);
        }
        if c.last.is_none_or(|l| at.ts >= l.ts) {
            c.last = Some(at);
        }
    });
    o
}

/// [`conv`] on a tracker's fields, leaving its other fields free to borrow.
macro_rules! open_conv {
    ($t:ident, $key:expr, $at:expr) => {
        conv(
            &mut $t.open,
            &mut $t.nonces,
            &mut $t.sums,
            &mut $t.stats,
            $t.max_open,
            $key,
            $at,
        )
    };
}

impl Tracker {
    pub fn new(idle_secs: f64, max_open: usize) -> Tracker {
        Tracker {
            open: OpenMap::default(),
            nonces: Nonces::default(),
            latest: None,
            idle: idle_secs,
            max_open: max_open.max(1),
            last_sweep: f64::MIN,
            sweep_floor: f64::INFINITY,
            oldest_since_sweep: f64::INFINITY,
            sums: Sums {
                groups: Vec::new(),
                index: hashbrown::HashTable::new(),
                hasher: Default::default(),
                details: Vec::new(),
                opened: Vec::new(),
                max_kept: DEFAULT_MAX_KEPT,
                max_kept_all: DEFAULT_MAX_KEPT,
                max_hosts: DEFAULT_MAX_HOSTS,
            },
            reasm: Default::default(),
            ke: Vec::new(),
            ke_conns: HashMap::default(),
            shard: (0, 1),
            stats: CaptureStats::default(),
        }
    }

    /// Tracks only the client hosts of share `index` of `of` (by a hash of
    /// the client's address), for one of `of` trackers reading the same
    /// frames on their own threads: every one counts every frame, the
    /// first follows NTS-KE, and [`Tracker::finish_shards`] joins them.
    /// A client host's conversations with every server stay in one share,
    /// so pairing (a reply from another address too) is the same as in one
    /// tracker. The bounds are per tracker: `max_open` and `max_hosts` are
    /// divided among the shares; each keeps at most twice its share of
    /// `max_kept` details (all of them with two trackers), and the first
    /// `max_kept` to open among them are kept: the same details as one
    /// tracker keeps unless one share opened more than that (a few client
    /// hosts with many conversations each), and details held at once stay
    /// within twice `max_kept` with any number of trackers.
    pub fn shard(mut self, index: usize, of: usize) -> Tracker {
        let of = of.max(1);
        self.shard = ((index % of) as u64, of as u64);
        self.max_open = self.max_open.div_ceil(of).max(1);
        self.sums.max_hosts = self.sums.max_hosts.div_ceil(of).max(1);
        self.sums.max_kept =
            (self.sums.max_kept_all.div_ceil(of).saturating_mul(2)).min(self.sums.max_kept_all);
        self
    }

    /// Is `client` in this tracker's share?
    fn mine(&self, client: IpAddr) -> bool {
        if self.shard.1 == 1 {
            return true;
        }
        let a = ip128(client);
        let h = ((a >> 64) as u64 ^ a as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        // The high 32 bits scaled to 0..of (no division on every frame).
        ((h >> 32) * self.shard.1) >> 32 == self.shard.0
    }

    /// At most `n` conversations kept in detail.
    pub fn max_kept(mut self, n: usize) -> Tracker {
        self.sums.max_kept = n;
        self.sums.max_kept_all = n;
        self
    }

    /// At most `n` (client host, server) sums, plus one per server for
    /// the client hosts beyond.
    pub fn max_hosts(mut self, n: usize) -> Tracker {
        self.sums.max_hosts = n;
        self
    }

    fn conv(&mut self, key: Key, at: At) -> &mut Open {
        open_conv!(self, key, at)
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
            Decoded::Tcp(t) => self.tcp(t),
            Decoded::Fragment(f) => {
                self.stats.fragments += 1;
                if let super::reasm::Push::Whole(whole) = self.reasm.push(ts.as_f64(), f) {
                    self.stats.reassembled += 1;
                    match super::decode::transport(f.src, f.dst, f.proto, &whole) {
                        Decoded::Ntp(p) => {
                            self.stats.ntp += 1;
                            self.ntp(at, &p);
                        }
                        Decoded::Icmp(q) => {
                            self.stats.icmp += 1;
                            self.icmp(at, &q);
                        }
                        _ => {}
                    }
                }
            }
            Decoded::Undecodable(_) => self.stats.undecodable += 1,
            Decoded::Other => self.stats.other += 1,
        }
        // Close idle conversations now and then (capture time).
        let now = ts.as_f64();
        self.oldest_since_sweep = self.oldest_since_sweep.min(now);
        if now - self.last_sweep > self.idle.min(60.0) {
            self.last_sweep = now;
            if now - self.idle > self.sweep_floor.min(self.oldest_since_sweep) {
                let mut floor = f64::INFINITY;
                let mut idle: Vec<CKey> = Vec::new();
                for o in self.open.values() {
                    if now - o.last > self.idle {
                        idle.push(o.key);
                    } else {
                        floor = floor.min(o.last);
                    }
                }
                for k in idle {
                    close(&mut self.open, &mut self.nonces, &k);
                }
                self.sweep_floor = floor;
                self.oldest_since_sweep = f64::INFINITY;
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
                // A time packet is 48 octets at least: a shorter datagram is
                // judged by its direction (a reply to a request: malformed),
                // whatever its first octet's mode bits say.
                _ if p.payload.len() < crate::wire::packet::HEADER_LEN => {}
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
            Some(true) if self.mine(p.src.ip()) => self.request(at, p),
            Some(false) if self.mine(p.dst.ip()) => self.reply(at, p),
            Some(_) => {}
            None => self.stats.other += 1,
        }
    }

    fn request(&mut self, at: At, p: &NtpDatagram) {
        let key = (p.src, p.dst);
        let Ok(pk) = Packet::new_checked(p.payload) else {
            let o = self.conv(key, at);
            o.requested = true;
            let (g, d) = (o.group, o.detail);
            self.sums.each(g, d, |c| c.requests += 1);
            return;
        };
        let xmt = pk.transmit_ts().0;
        let org = pk.origin_ts().0;
        let o = open_conv!(self, key, at);
        let (g, d) = (o.group, o.detail);
        if let Some(pend) = o.pending.iter_mut().find(|x| x.xmt == xmt) {
            pend.sightings += 1;
            let s = pend.sightings;
            self.sums.each(g, d, |c| {
                c.request_sightings_max = c.request_sightings_max.max(s)
            });
            return;
        }
        o.requested = true;
        // Echo of our last reply's transmit (classic ntpd/ntpsec do).
        let echo = o.has_last_reply.then_some(org == o.last_reply_xmt);
        o.has_last_reply = false;
        self.sums.each(g, d, |c| {
            c.requests += 1;
            c.request_sightings_max = c.request_sightings_max.max(1);
            if let Some(prev) = c.last_request.get().filter(|_| !c.mixed_hosts) {
                let dt = at.ts.as_f64() - prev.as_f64();
                if dt >= 0.0 {
                    c.intervals += 1;
                    c.interval_sum += dt;
                    if dt < DISCARD_MIN_INTERVAL {
                        c.short_intervals += 1;
                        c.rare_mut().first_short.get_or_insert(at);
                    }
                }
            }
            if c.last_request.get().is_none_or(|l| at.ts > l) {
                c.last_request = LastTs(at.ts);
            }
            match echo {
                Some(true) => c.echo_yes += 1,
                // Only a client that has echoed before is expected to echo
                // (classic ntpd does; ntpsec and chrony send zero origins).
                Some(false) if c.echo_yes > 0 => {
                    c.rare_mut().echo_no += 1;
                    c.rare_mut().first_echo_no.get_or_insert(at);
                }
                _ => {}
            }
        });
        let client = ip128(key.0.ip());
        if o.pending.len() >= PENDING_MAX {
            let e = o.pending.remove(0);
            self.nonces.remove(e.xmt, client);
        }
        o.pending.push(Pending::new(xmt, at));
        self.nonces.insert(xmt, o.key);
        // A reply stored before this request (a capture out of time order)?
        if let Some(early) = o.early.as_mut()
            && let Some(i) = early.iter().position(|e| e.origin == xmt)
        {
            let e = early.remove(i);
            let told = header_tells(e.at, &e.payload).is_some();
            self.sums.each(g, d, |c| {
                let r = c.rare_mut();
                r.unpaired = r.unpaired.saturating_sub(1);
                if told {
                    r.unpaired_told_n = r.unpaired_told_n.saturating_sub(1);
                    if r.unpaired_told
                        .as_ref()
                        .is_some_and(|(a, _)| a.no == e.at.no)
                    {
                        r.unpaired_told = None;
                    }
                }
            });
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
        let key = (dst, src);
        let Ok(pk) = Packet::new_checked(payload) else {
            let o = self.conv(key, at);
            let (g, d) = (o.group, o.detail);
            let detail = format!("{} octets: too short for an NTP header", payload.len());
            self.sums.each(g, d, |c| {
                c.replies += 1;
                if truncated {
                    // Cut by the capture's snap length, not by the server.
                    c.rare_mut().replies_cut += 1;
                } else {
                    c.rare_mut().malformed_n += 1;
                    c.rare_mut()
                        .malformed
                        .get_or_insert_with(|| (at, detail.clone()));
                }
            });
            return;
        };
        let org = pk.origin_ts().0;
        let xmt = pk.transmit_ts().0;
        let ck = CKey::from(key);
        // A copy of a reply already seen (two-sided capture)?
        let o = if replayed {
            match self.open.get_mut(&ck) {
                Some(o) => o,
                None => return,
            }
        } else {
            let o = open_conv!(self, key, at);
            let (g, d) = (o.group, o.detail);
            if let Some(s) = o
                .seen_replies
                .iter_mut()
                .find(|(x, n)| *n > 0 && *x == xmt && xmt != 0)
            {
                s.1 += 1;
                let n = s.1;
                self.sums.each(g, d, |c| {
                    c.reply_sightings_max = c.reply_sightings_max.max(n)
                });
                return;
            }
            // Into the first free slot, or in place of the oldest.
            let slot = match o.seen_replies.iter().position(|(_, n)| *n == 0) {
                Some(i) => i,
                None => {
                    o.seen_replies.rotate_left(1);
                    SEEN_MAX - 1
                }
            };
            o.seen_replies[slot] = (xmt, 1);
            self.sums.each(g, d, |c| {
                c.replies += 1;
                c.reply_sightings_max = c.reply_sightings_max.max(1);
            });
            o
        };
        // Which request does it answer? One of its own conversation's;
        // else the one its origin names among the client's other
        // conversations (a reply from another address), if still open.
        let (o, other_address) = if o.pending.iter().any(|x| x.xmt == org) {
            (o, false)
        } else {
            let owner = self.nonces.get(org, ip128(dst.ip()));
            let other_address = owner.is_some_and(|k| k != ck);
            let tk = match owner {
                Some(k) if k != ck && self.open.contains_key(&k) => k,
                _ => ck,
            };
            match self.open.get_mut(&tk) {
                Some(o) => (o, other_address),
                None => return,
            }
        };
        let (g, d) = (o.group, o.detail);
        let pos = o.pending.iter().position(|x| x.xmt == org);
        let req_at = pos.map(|i| o.pending[i].at());
        let request = Request {
            nonce: NtpTimestamp(if pos.is_some() {
                org
            } else {
                o.pending.last().map_or(1, |x| x.xmt)
            }),
            t1: req_at.map_or(NtpTimestamp::ZERO, |r| r.ts.ntp()),
            version: pk.version().clamp(1, 4),
            local_precision: -20,
        };
        if pos.is_none() && !o.requested && !other_address {
            // No request of this conversation is in the capture yet (it
            // began mid-conversation, holds one direction, or is out of
            // time order): the origin test cannot be applied. Held back
            // (a few, bounded) in case its request follows.
            let told = header_tells(at, payload);
            self.sums.each(g, d, |c| {
                let r = c.rare_mut();
                r.unpaired += 1;
                if let Some(t) = &told {
                    r.unpaired_told_n += 1;
                    r.unpaired_told.get_or_insert_with(|| (at, t.clone()));
                }
            });
            let early = o.early.get_or_insert_default();
            if early.len() < EARLY_MAX && payload.len() <= EARLY_BYTES {
                early.push(Early {
                    origin: org,
                    at,
                    src,
                    payload: payload.to_vec(),
                });
            }
            return;
        }
        let last_unanswered = o.pending.last().map(|x| x.xmt);
        let j: Judgement = judge_reply(&request, payload, at.ts.ntp(), None);
        if let Some(i) = pos {
            o.pending.remove(i);
            self.nonces.remove(org, ip128(dst.ip()));
            o.last_reply_xmt = xmt;
            o.has_last_reply = true;
        }
        // The capture's own words: no internal placeholder (the nonce
        // judged against is only a stand-in when no request matches).
        let bogus_detail = match &j.class {
            ReplyClass::Bogus(crate::engine::exchange::BogusReason::OriginMismatch {
                got, ..
            }) => format!(
                "origin {} is the transmit of none of this client's requests in the capture{}",
                got.hex(),
                match last_unanswered {
                    Some(last) =>
                        format!(" (its last unanswered one: {})", NtpTimestamp(last).hex()),
                    None => String::new(),
                }
            ),
            ReplyClass::Bogus(_) => j.class.label(),
            _ => String::new(),
        };
        self.sums.each(g, d, |c| {
            if other_address {
                c.rare_mut().other_n += 1;
                c.rare_mut().other_addr.get_or_insert((at, src));
            }
            if pos.is_some() {
                c.answered += 1;
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
                    c.rare_mut().kiss_n += 1;
                    c.first_answer.get_or_insert(AnswerKind::Kiss);
                    c.rare_mut().kiss.get_or_insert((*k, at, j.header));
                }
                ReplyClass::Unsynchronized(r) => {
                    c.rare_mut().unsync_n += 1;
                    c.first_answer.get_or_insert(AnswerKind::Unsynchronized);
                    if let Some(h) = j.header {
                        c.rare_mut().unsync.get_or_insert((*r, at, h));
                    }
                }
                ReplyClass::Bogus(_) => {
                    c.rare_mut().bogus_n += 1;
                    c.rare_mut()
                        .bogus
                        .get_or_insert_with(|| (at, bogus_detail.clone()));
                }
                ReplyClass::Duplicate => {}
                ReplyClass::Invalid(_) => {
                    c.rare_mut().malformed_n += 1;
                    c.rare_mut()
                        .malformed
                        .get_or_insert_with(|| (at, j.class.label()));
                }
            }
        });
    }

    fn icmp(&mut self, at: At, q: &IcmpQuote) {
        if q.ke {
            if self.shard.0 != 0 {
                return;
            }
            // An error about a segment to the NTS-KE port.
            let (client, server) = (q.quoted_src, q.quoted_dst);
            if let Some(c) = self.ke_conns.get_mut(&(client, server))
                && !c.answered
                && !c.refused
            {
                c.refused = true;
                let k = self.ke_server(server);
                k.icmp += 1;
                k.icmp_first.get_or_insert((q.error, q.offender));
            }
            return;
        }
        // The quoted datagram went client → server (a request) or server →
        // client (a reply bounced on its way back).
        let (key, is_request) = if q.quoted_dst.port() == 123 && q.quoted_src.port() != 123 {
            ((q.quoted_src, q.quoted_dst), true)
        } else if q.quoted_src.port() == 123 && q.quoted_dst.port() != 123 {
            ((q.quoted_dst, q.quoted_src), false)
        } else {
            ((q.quoted_src, q.quoted_dst), true)
        };
        if !self.mine(key.0.ip()) {
            return;
        }
        let o = open_conv!(self, key, at);
        let (g, d) = (o.group, o.detail);
        if !is_request {
            self.sums.each(g, d, |c| {
                c.rare_mut().reply_bounced_n += 1;
                c.rare_mut()
                    .reply_bounced
                    .get_or_insert((at, q.error, q.offender));
            });
            return;
        }
        let mut resolved = false;
        if let Some(x) = q.quoted_payload.get(40..48) {
            let xmt = u64::from_be_bytes(x.try_into().unwrap_or([0; 8]));
            if let Some(i) = o.pending.iter().position(|p| p.xmt == xmt) {
                o.pending.remove(i);
                resolved = true;
                self.nonces.remove(xmt, ip128(key.0.ip()));
            }
        }
        self.sums.each(g, d, |c| {
            c.rare_mut().icmp_n += 1;
            c.rare_mut().icmp.get_or_insert((at, q.error, q.offender));
            if resolved {
                c.rare_mut().icmp_resolved += 1;
            }
        });
    }

    /// A live capture ran until `t`, later than its last frame (silence is
    /// part of what it saw).
    pub fn ended_at(&mut self, t: Ts) {
        if self.latest.is_none_or(|l| t > l) {
            self.latest = Some(t);
        }
    }
}

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
use crate::diagnose::facts::AnswerKind;
use crate::engine::exchange::{Judgement, ReplyClass, Request, Sample, UnsyncReason, judge_reply};
use crate::engine::limits::{ANSWER_WINDOW, DISCARD_MIN_INTERVAL};
use crate::wire::icmp::IcmpError;
use crate::wire::packet::{Mode, Packet};
use crate::wire::{KissCode, NtpDate, NtpTimestamp, Repr};

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

/// An unanswered request: its transmit, where it was (an [`At`] laid out
/// flat: 32 octets, not 40), how many times it was seen.
#[derive(Clone, Copy, Debug)]
struct Pending {
    xmt: u64,
    no: u64,
    secs: i64,
    nanos: u32,
    sightings: u32,
}

impl Pending {
    fn new(xmt: u64, at: At) -> Pending {
        Pending {
            xmt,
            no: at.no,
            secs: at.ts.secs,
            nanos: at.ts.nanos,
            sightings: 1,
        }
    }

    fn at(&self) -> At {
        At {
            no: self.no,
            ts: Ts {
                secs: self.secs,
                nanos: self.nanos,
            },
        }
    }
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
    /// A sum over several client hosts (beyond --max-hosts): requests of
    /// different hosts make no polling interval.
    pub mixed_hosts: bool,
    /// What most conversations never have: kiss codes, refusals, bogus
    /// replies… (boxed, so that a conversation stays small).
    pub rare: Option<Box<Rare>>,
    /// Request intervals: how many, their sum, how many under 2 s.
    pub intervals: u64,
    pub interval_sum: f64,
    pub short_intervals: u64,
    last_request: LastTs,
    /// Most times one request / one reply was seen (two-sided captures see each twice).
    pub request_sightings_max: u32,
    pub reply_sightings_max: u32,
    pub echo_yes: u64,
}

/// A time or none, as an `Option<Ts>` in 16 octets, not 24 (none is the
/// earliest time there can be).
#[derive(Clone, Copy, Debug, PartialEq)]
struct LastTs(Ts);

impl Default for LastTs {
    fn default() -> LastTs {
        LastTs(Ts {
            secs: i64::MIN,
            nanos: 0,
        })
    }
}

impl LastTs {
    fn get(self) -> Option<Ts> {
        (self != LastTs::default()).then_some(self.0)
    }
}

/// The rarely used part of a [`Conv`].
#[derive(Clone, Debug, Default)]
pub struct Rare {
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
    pub first_short: Option<At>,
    pub echo_no: u64,
    pub first_echo_no: Option<At>,
    /// Requests still inside their answer window when the capture ended:
    /// neither answered nor unanswered.
    pub pending_at_end: u64,
    /// The first of them.
    pub first_pending: Option<At>,
}

static NO_RARE: Rare = Rare {
    kiss: None,
    kiss_n: 0,
    unsync: None,
    unsync_n: 0,
    bogus: None,
    bogus_n: 0,
    malformed: None,
    malformed_n: 0,
    other_addr: None,
    other_n: 0,
    icmp: None,
    icmp_n: 0,
    icmp_resolved: 0,
    reply_bounced: None,
    reply_bounced_n: 0,
    replies_cut: 0,
    unpaired: 0,
    first_short: None,
    echo_no: 0,
    first_echo_no: None,
    pending_at_end: 0,
    first_pending: None,
};

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

/// NTS-KE (TCP 4460) seen for one server: connection attempts and how
/// each went. A connection is a client address:port; its state is kept
/// for at most [`KE_CONNECTIONS_MAX`] connections, counted beyond.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeSeen {
    pub server: Option<SocketAddr>,
    /// Connections begun (a client's SYN).
    pub connections: u64,
    /// Of them: answered by a SYN-ACK.
    pub answered: u64,
    /// Refused by an RST from the server's address before any data.
    pub reset: u64,
    /// Refused by an ICMP error, and the first one's sender.
    pub icmp: u64,
    pub icmp_first: Option<(IcmpError, IpAddr)>,
    /// SYNs sent again for a connection (no answer yet).
    pub syn_retries: u64,
    /// Octets the server sent (TLS records: the handshake and the KE records).
    pub server_octets: u64,
    /// Connections with data from the server (the TLS handshake went on).
    pub with_data: u64,
    /// Connections beyond the bound: counted only.
    pub untracked: u64,
}

impl KeSeen {
    /// Connections that got neither an answer nor a refusal.
    pub fn unanswered(&self) -> u64 {
        self.connections
            .saturating_sub(self.answered + self.reset + self.icmp + self.untracked)
    }
}

/// NTS-KE connections whose state is kept.
pub const KE_CONNECTIONS_MAX: usize = 4096;

#[derive(Clone, Copy, Debug, Default)]
struct KeConn {
    answered: bool,
    refused: bool,
    data: bool,
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

/// A conversation being read: only what pairing needs. Its sums live in
/// its client host's group and, when kept, in its detail; this is freed
/// when it closes.
#[derive(Debug)]
struct Open {
    key: CKey,
    /// Index of its (client host, server) group.
    group: u32,
    /// Index of its detail, or [`NO_DETAIL`].
    detail: u32,
    /// Capture time of its last packet (idle closing, eviction).
    last: f64,
    /// Has a request of it been seen (else a reply is held, not judged)?
    requested: bool,
    /// Unanswered requests, oldest first (at most [`PENDING_MAX`]).
    pending: SmallVec<[Pending; 1]>,
    /// Replies seen (transmit, sightings), to count copies of the same one.
    /// An unused slot has no sightings.
    seen_replies: [(u64, u32); SEEN_MAX],
    /// Does the client echo our last reply's transmit in its next request's
    /// origin (classic ntpd/ntpsec do)? Counted over requests that follow a reply.
    last_reply_xmt: u64,
    /// Is `last_reply_xmt` set (an Option would take 16 octets, not 9)?
    has_last_reply: bool,
    /// Replies seen before any request of this conversation, held until
    /// their request comes (captures out of time order; boxed: rare).
    #[expect(
        clippy::box_collection,
        reason = "one pointer in every open conversation, where a Vec is three"
    )]
    early: Option<Box<Vec<Early>>>,
}

const NO_DETAIL: u32 = u32::MAX;

/// The open conversations, found by their key, which each holds: a table
/// of slot numbers, not of keys and numbers (40 octets less per slot).
/// They live in one slab, not one allocation each: opening and closing
/// hundreds of thousands of conversations is no work for the allocator
/// (freed one by one, they would leave it that many chunks to sort
/// through at its next large allocation).
#[derive(Default)]
struct OpenMap {
    table: hashbrown::HashTable<u32>,
    slab: Vec<Option<Open>>,
    /// Slots of the slab free for reuse.
    free: Vec<u32>,
    hasher: foldhash::fast::RandomState,
}

impl OpenMap {
    fn hash(&self, k: &CKey) -> u64 {
        use std::hash::BuildHasher;
        self.hasher.hash_one(k)
    }

    fn len(&self) -> usize {
        self.table.len()
    }

    /// The open conversation in slot `i` (every slot the table holds is).
    fn at(slab: &[Option<Open>], i: u32) -> &Open {
        slab[i as usize]
            .as_ref()
            .expect("a slot in the table is open")
    }

    fn contains_key(&self, k: &CKey) -> bool {
        let slab = &self.slab;
        self.table
            .find(self.hash(k), |&i| OpenMap::at(slab, i).key == *k)
            .is_some()
    }

    fn get_mut(&mut self, k: &CKey) -> Option<&mut Open> {
        let h = self.hash(k);
        let slab = &self.slab;
        let i = *self.table.find(h, |&i| OpenMap::at(slab, i).key == *k)?;
        self.slab[i as usize].as_mut()
    }

    fn remove(&mut self, k: &CKey) -> Option<Open> {
        let h = self.hash(k);
        let slab = &self.slab;
        let (i, _) = self
            .table
            .find_entry(h, |&i| OpenMap::at(slab, i).key == *k)
            .ok()?
            .remove();
        self.free.push(i);
        self.slab[i as usize].take()
    }

    /// Every open conversation, in the slab's order (memory order).
    fn values(&self) -> impl Iterator<Item = &Open> {
        self.slab.iter().flatten()
    }

    /// The conversation of `k`, made by `make` when there is none.
    fn get_or_insert_with(&mut self, k: CKey, make: impl FnOnce() -> Open) -> &mut Open {
        let h = self.hash(&k);
        let (slab, free, hasher) = (&mut self.slab, &mut self.free, &self.hasher);
        let i = match self.table.entry(
            h,
            |&i| OpenMap::at(slab, i).key == k,
            |&i| {
                use std::hash::BuildHasher;
                hasher.hash_one(OpenMap::at(slab, i).key)
            },
        ) {
            hashbrown::hash_table::Entry::Occupied(e) => *e.get(),
            hashbrown::hash_table::Entry::Vacant(e) => {
                let o = Some(make());
                let i = match free.pop() {
                    Some(i) => {
                        slab[i as usize] = o;
                        i
                    }
                    None => {
                        slab.push(o);
                        (slab.len() - 1) as u32
                    }
                };
                e.insert(i);
                i
            }
        };
        self.slab[i as usize].as_mut().expect("just found or made")
    }
}
/// Pending requests, by transmit timestamp and client address (two
/// clients may send the same transmit value: SNTP's zero, symmetric
/// peers) → their conversation. The client address is the key's own: an
/// entry is 48 octets, not 80.
#[derive(Default)]
struct Nonces {
    table: hashbrown::HashTable<(u64, CKey)>,
    hasher: foldhash::fast::RandomState,
}

impl Nonces {
    fn hash(&self, xmt: u64, client: u128) -> u64 {
        use std::hash::BuildHasher;
        self.hasher.hash_one((xmt, client))
    }

    fn get(&self, xmt: u64, client: u128) -> Option<CKey> {
        let h = self.hash(xmt, client);
        self.table
            .find(h, |(x, k)| *x == xmt && { k.0 } == client)
            .map(|(_, k)| *k)
    }

    fn remove(&mut self, xmt: u64, client: u128) {
        let h = self.hash(xmt, client);
        if let Ok(e) = self
            .table
            .find_entry(h, |(x, k)| *x == xmt && { k.0 } == client)
        {
            e.remove();
        }
    }

    /// `key`'s request with transmit `xmt`, in place of another
    /// conversation's with the same transmit from the same client.
    fn insert(&mut self, xmt: u64, key: CKey) {
        let client = key.0;
        let h = self.hash(xmt, client);
        let hasher = &self.hasher;
        match self.table.entry(
            h,
            |(x, k)| *x == xmt && { k.0 } == client,
            |(x, k)| {
                use std::hash::BuildHasher;
                hasher.hash_one((*x, { k.0 }))
            },
        ) {
            hashbrown::hash_table::Entry::Occupied(mut e) => e.get_mut().1 = key,
            hashbrown::hash_table::Entry::Vacant(e) => {
                e.insert((xmt, key));
            }
        }
    }
}

/// A group's key: client host (0 for the other client hosts), server.
fn group_key(g: &HostGroup) -> CKey {
    CKey(
        if g.others { 0 } else { ip128(g.client()) },
        ip128(g.server().ip()),
        g.server().port() as u32,
    )
}

/// Where a conversation's numbers are summed: its (client host, server)
/// group, always, and its own detail while fewer than `max_kept` are kept.
struct Sums {
    groups: Vec<HostGroup>,
    /// HostGroup numbers, found by the group's key (held by the group).
    index: hashbrown::HashTable<u32>,
    hasher: foldhash::fast::RandomState,
    details: Vec<(Key, Conv)>,
    /// The packet that opened each detail's conversation (the order
    /// details are kept in, across shards too).
    opened: Vec<u64>,
    /// Details kept by this tracker, and by all the trackers sharing a
    /// capture ([`Tracker::shard`]).
    max_kept: usize,
    max_kept_all: usize,
    max_hosts: usize,
}

impl Sums {
    /// Applies `f` to the group and the detail of a conversation.
    fn each(&mut self, group: u32, detail: u32, mut f: impl FnMut(&mut Conv)) {
        f(&mut self.groups[group as usize].conv);
        if let Some((_, c)) = self.details.get_mut(detail as usize) {
            f(c);
        }
    }

    /// A new conversation: its group (made if new), its detail (when
    /// there is room), counted in both.
    fn begin(&mut self, key: Key, at: At, stats: &mut CaptureStats) -> (u32, u32) {
        use std::hash::BuildHasher;
        let mut gk = CKey(ip128(key.0.ip()), ip128(key.1.ip()), key.1.port() as u32);
        let groups = &self.groups;
        let found = |gk: &CKey, h: u64, index: &hashbrown::HashTable<u32>| {
            index
                .find(h, |g| group_key(&groups[*g as usize]) == *gk)
                .copied()
        };
        let mut h = self.hasher.hash_one(gk);
        let mut g = found(&gk, h, &self.index);
        let mut others = false;
        if g.is_none() && self.index.len() >= self.max_hosts {
            // Beyond the bound: the server's other client hosts, summed.
            gk.0 = 0;
            h = self.hasher.hash_one(gk);
            g = found(&gk, h, &self.index);
            others = true;
            stats.hosts_folded += 1;
        }
        let fresh = || Conv {
            client: Some(key.0),
            server: Some(key.1),
            first: Some(at),
            ..Conv::default()
        };
        let g = match g {
            Some(g) => {
                self.groups[g as usize].conversations += 1;
                g
            }
            None => {
                let g = self.groups.len() as u32;
                self.groups.push(HostGroup {
                    conv: Box::new(Conv {
                        mixed_hosts: others,
                        ..fresh()
                    }),
                    conversations: 1,
                    others,
                });
                let (groups, hasher) = (&self.groups, &self.hasher);
                self.index
                    .insert_unique(h, g, |g| hasher.hash_one(group_key(&groups[*g as usize])));
                g
            }
        };
        let d = if self.details.len() < self.max_kept {
            self.details.push((key, fresh()));
            self.opened.push(at.no);
            (self.details.len() - 1) as u32
        } else {
            stats.folded += 1;
            NO_DETAIL
        };
        (g, d)
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
            self.sums.each(g, d, |c| {
                c.rare_mut().unpaired = c.rare_mut().unpaired.saturating_sub(1)
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
            self.sums.each(g, d, |c| c.rare_mut().unpaired += 1);
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

    fn ke_server(&mut self, server: SocketAddr) -> &mut KeSeen {
        let i = match self.ke.iter().position(|k| k.server == Some(server)) {
            Some(i) => i,
            None => {
                self.ke.push(KeSeen {
                    server: Some(server),
                    ..KeSeen::default()
                });
                self.ke.len() - 1
            }
        };
        &mut self.ke[i]
    }

    /// A TCP segment of NTS-KE: connection attempts, answers, refusals.
    fn tcp(&mut self, t: &super::decode::TcpSeg) {
        use super::decode::NTS_KE_PORT;
        self.stats.nts_ke += 1;
        if self.shard.0 != 0 {
            return;
        }
        let to_server = t.dst.port() == NTS_KE_PORT;
        let (client, server) = if to_server {
            (t.src, t.dst)
        } else {
            (t.dst, t.src)
        };
        let known = self.ke_conns.get(&(client, server)).copied();
        if to_server {
            if t.syn && !t.ack {
                match known {
                    Some(c) if !c.answered && !c.refused => self.ke_server(server).syn_retries += 1,
                    _ => {
                        let tracked = self.ke_conns.len() < KE_CONNECTIONS_MAX;
                        if tracked {
                            self.ke_conns.insert((client, server), KeConn::default());
                        }
                        let k = self.ke_server(server);
                        k.connections += 1;
                        if !tracked {
                            k.untracked += 1;
                        }
                    }
                }
            }
            return;
        }
        let Some(mut c) = known else {
            return;
        };
        if t.syn && t.ack && !c.answered && !c.refused {
            c.answered = true;
            self.ke_server(server).answered += 1;
        } else if t.rst && !c.answered && !c.refused {
            c.refused = true;
            self.ke_server(server).reset += 1;
        }
        if t.len > 0 {
            let k = self.ke_server(server);
            k.server_octets += t.len as u64;
            if !c.data {
                k.with_data += 1;
            }
            c.data = true;
        }
        if (t.fin || t.rst) && (c.answered || c.refused) {
            // The connection is over: its state goes (the bound counts
            // connections at once, not in the whole capture).
            self.ke_conns.remove(&(client, server));
        } else {
            self.ke_conns.insert((client, server), c);
        }
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

    /// Closes every open conversation; returns the conversations kept in
    /// detail, in order of first packet, and every (client host, server)
    /// group with its number of conversations.
    /// Requests sent within [`ANSWER_WINDOW`] of the capture's last frame
    /// are pending, not unanswered: their answer may simply not be in it.
    pub fn finish_all(self) -> Finished {
        Tracker::finish_shards(vec![self])
    }

    /// Joins trackers that read the same frames, each with its share of
    /// the client hosts ([`Tracker::shard`]), into what one tracker would
    /// hold: the counts of the first (each counted every frame), the
    /// bounds' counts summed, the details kept in the order their
    /// conversations opened up to `max_kept`, each server's "other client
    /// hosts" summed into one.
    pub fn finish_shards(shards: Vec<Tracker>) -> Finished {
        Tracker::join(shards.into_iter().map(Tracker::close_all).collect())
    }

    /// [`Tracker::finish_shards`] of trackers already closed (each on its
    /// own thread: closing frees every open conversation).
    pub fn join(parts: Vec<Closed>) -> Finished {
        let mut parts = parts.into_iter();
        let Some(mut first) = parts.next() else {
            return Finished {
                conversations: Vec::new(),
                groups: Vec::new(),
                nts_ke: Vec::new(),
                stats: CaptureStats::default(),
            };
        };
        let max_kept = first.max_kept;
        let mut stats = first.stats.clone();
        let nts_ke = std::mem::take(&mut first.ke);
        let parts: Vec<Closed> = std::iter::once(first).chain(parts).collect();
        for p in &parts[1..] {
            stats.evicted += p.stats.evicted;
            stats.folded += p.stats.folded;
            stats.hosts_folded += p.stats.hosts_folded;
        }
        // Details and groups are put in order by their keys alone and moved
        // once (a detail is hundreds of octets; a group's sums are a
        // pointer away), found by (part, index); the two on two threads.
        let mut details = Vec::with_capacity(parts.len());
        let mut groups = Vec::with_capacity(parts.len());
        for c in parts {
            details.push((c.opened, c.details));
            groups.push((c.groups, c.group_first));
        }
        let (all, joined) = std::thread::scope(|s| {
            let all = s.spawn(|| join_details(details, max_kept));
            let joined = join_groups(groups);
            let (all, folded) = all.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
            stats.folded += folded;
            (all, joined)
        });
        Finished {
            conversations: all,
            groups: joined,
            nts_ke,
            stats,
        }
    }

    /// Closes every open conversation (requests young at the capture's
    /// end are pending): what is left to [`Tracker::join`].
    pub fn close_all(mut self) -> Closed {
        if let Some(end) = self.latest {
            let end = end.as_f64();
            for o in self.open.values() {
                let young: SmallVec<[At; 4]> = o
                    .pending
                    .iter()
                    .map(Pending::at)
                    .filter(|at| end - at.ts.as_f64() < ANSWER_WINDOW)
                    .collect();
                if let Some(first) = young.first().copied() {
                    let n = young.len() as u64;
                    self.sums.each(o.group, o.detail, |c| {
                        c.rare_mut().pending_at_end += n;
                        if c.rare_mut().first_pending.is_none_or(|f| first.ts < f.ts) {
                            c.rare_mut().first_pending = Some(first);
                        }
                    });
                }
            }
        }
        self.stats.fragments_incomplete = self.reasm.abandoned + self.reasm.waiting() as u64;
        let group_first = self
            .sums
            .groups
            .iter()
            .map(|g| g.conv.first.map_or(0, |a| a.no))
            .collect();
        Closed {
            details: self.sums.details,
            opened: self.sums.opened,
            groups: self.sums.groups,
            group_first,
            ke: self.ke,
            stats: self.stats,
            max_kept: self.sums.max_kept_all,
        }
    }

    /// [`Tracker::finish_all`], the conversations and statistics only.
    pub fn finish(self) -> (Vec<(Key, Conv)>, CaptureStats) {
        let f = self.finish_all();
        (f.conversations, f.stats)
    }
}

/// Conversations kept in detail.
type Details = Vec<(Key, Conv)>;

/// The details of every part (the packet that opened each, and each),
/// the first `max_kept` to open kept, in the order of their first
/// packets (ties as they came); and how many were left out.
fn join_details(parts: Vec<(Vec<u64>, Details)>, max_kept: usize) -> (Details, u64) {
    let mut order: Vec<(u64, u32, u32)> = parts
        .iter()
        .enumerate()
        .flat_map(|(p, (opened, _))| {
            opened
                .iter()
                .enumerate()
                .map(move |(i, o)| (*o, p as u32, i as u32))
        })
        .collect();
    let mut folded = 0;
    if order.len() > max_kept {
        // The first `max_kept` to open are kept, as one tracker keeps them.
        folded = (order.len() - max_kept) as u64;
        order.select_nth_unstable(max_kept);
        order.truncate(max_kept);
    }
    let mut shown: Vec<(u64, u32, u32)> = order
        .iter()
        .map(|&(_, p, i)| {
            let c = &parts[p as usize].1[i as usize].1;
            (c.first.map_or(0, |a| a.no), p, i)
        })
        .collect();
    // (Each part's details are in order already: a stable sort merges the
    // runs.)
    shown.sort();
    let mut details: Vec<Vec<Option<(Key, Conv)>>> = parts
        .into_iter()
        .map(|(_, d)| d.into_iter().map(Some).collect())
        .collect();
    let all = shown
        .iter()
        .filter_map(|&(_, p, i)| details[p as usize][i as usize].take())
        .collect();
    (all, folded)
}

/// The groups of every part (each, and its first packet): each server's
/// "other client hosts" summed into one, in the parts' order; then every
/// group in the order of its first packet (ties as they came).
fn join_groups(parts: Vec<(Vec<HostGroup>, Vec<u64>)>) -> Vec<HostGroup> {
    let mut others: HashMap<SocketAddr, usize> = HashMap::default();
    let n: usize = parts.iter().map(|(g, _)| g.len()).sum();
    let mut joined: Vec<HostGroup> = Vec::with_capacity(n);
    let mut keys: Vec<(u64, u32)> = Vec::with_capacity(n);
    for (groups, firsts) in parts {
        for (g, first) in groups.into_iter().zip(firsts) {
            if g.others {
                if let Some(&i) = others.get(&g.server()) {
                    let o: &mut HostGroup = &mut joined[i];
                    o.conv.merge(&g.conv);
                    o.conversations += g.conversations;
                    keys[i].0 = o.conv.first.map_or(0, |a| a.no);
                    continue;
                }
                others.insert(g.server(), joined.len());
            }
            keys.push((first, joined.len() as u32));
            joined.push(g);
        }
    }
    keys.sort();
    let mut slots: Vec<Option<HostGroup>> = joined.into_iter().map(Some).collect();
    keys.iter()
        .filter_map(|&(_, i)| slots[i as usize].take())
        .collect()
}

impl Conv {
    /// Adds `o` (another client host's sums with the same server) to this
    /// one: counts and request intervals summed (an interval is between two
    /// requests of one client host, never across hosts), first examples and
    /// the best sample kept.
    pub fn merge(&mut self, o: &Conv) {
        fn earliest<T: Clone>(a: &mut Option<T>, b: &Option<T>) {
            if a.is_none() {
                a.clone_from(b);
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
        self.last_request = match (self.last_request.get(), o.last_request.get()) {
            (Some(a), Some(b)) if b > a => o.last_request,
            (None, Some(_)) => o.last_request,
            _ => self.last_request,
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
        self.intervals += o.intervals;
        self.interval_sum += o.interval_sum;
        self.short_intervals += o.short_intervals;
        self.request_sightings_max = self.request_sightings_max.max(o.request_sightings_max);
        self.reply_sightings_max = self.reply_sightings_max.max(o.reply_sightings_max);
        self.echo_yes += o.echo_yes;
        if let Some(or) = o.rare.as_deref() {
            let r = self.rare_mut();
            earliest(&mut r.kiss, &or.kiss);
            r.kiss_n += or.kiss_n;
            earliest(&mut r.unsync, &or.unsync);
            r.unsync_n += or.unsync_n;
            earliest(&mut r.bogus, &or.bogus);
            r.bogus_n += or.bogus_n;
            earliest(&mut r.malformed, &or.malformed);
            r.malformed_n += or.malformed_n;
            earliest(&mut r.other_addr, &or.other_addr);
            r.other_n += or.other_n;
            earliest(&mut r.icmp, &or.icmp);
            r.icmp_n += or.icmp_n;
            r.icmp_resolved += or.icmp_resolved;
            earliest(&mut r.reply_bounced, &or.reply_bounced);
            r.reply_bounced_n += or.reply_bounced_n;
            r.replies_cut += or.replies_cut;
            r.unpaired += or.unpaired;
            earliest(&mut r.first_short, &or.first_short);
            r.echo_no += or.echo_no;
            earliest(&mut r.first_echo_no, &or.first_echo_no);
            r.pending_at_end += or.pending_at_end;
            earliest(&mut r.first_pending, &or.first_pending);
        }
    }

    /// Requests that got neither a reply nor an ICMP error matched to them.
    pub fn unanswered(&self) -> u64 {
        let r = self.rare();
        self.requests
            .saturating_sub(self.answered + r.icmp_resolved + r.pending_at_end)
    }

    /// Its rare part (all empty when it has none).
    pub fn rare(&self) -> &Rare {
        self.rare.as_deref().unwrap_or(&NO_RARE)
    }

    /// Its rare part, made when first needed.
    pub fn rare_mut(&mut self) -> &mut Rare {
        self.rare.get_or_insert_with(Default::default)
    }
}

//! One conversation's state: what pairs its requests with replies (the
//! pending requests, the last replies seen), its sums, the rare facts kept
//! aside, and replies held until their request comes.

use super::*;

/// An unanswered request: its transmit, where it was (an [`At`] laid out
/// flat: 32 octets, not 40), how many times it was seen.
#[derive(Clone, Copy, Debug)]
pub(super) struct Pending {
    pub(super) xmt: u64,
    pub(super) no: u64,
    pub(super) secs: i64,
    pub(super) nanos: u32,
    pub(super) sightings: u32,
}

impl Pending {
    pub(super) fn new(xmt: u64, at: At) -> Pending {
        Pending {
            xmt,
            no: at.no,
            secs: at.ts.secs,
            nanos: at.ts.nanos,
            sightings: 1,
        }
    }

    pub(super) fn at(&self) -> At {
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
    pub(super) last_request: LastTs,
    /// Most times one request / one reply was seen (two-sided captures see each twice).
    pub request_sightings_max: u32,
    pub reply_sightings_max: u32,
    pub echo_yes: u64,
}

/// A time or none, as an `Option<Ts>` in 16 octets, not 24 (none is the
/// earliest time there can be).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct LastTs(pub(super) Ts);

impl Default for LastTs {
    fn default() -> LastTs {
        LastTs(Ts {
            secs: i64::MIN,
            nanos: 0,
        })
    }
}

impl LastTs {
    pub(super) fn get(self) -> Option<Ts> {
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
    /// The first of them whose header alone tells a fault, and how many did.
    pub unpaired_told: Option<(At, HeaderTells)>,
    pub unpaired_told_n: u64,
    pub first_short: Option<At>,
    pub echo_no: u64,
    pub first_echo_no: Option<At>,
    /// Requests still inside their answer window when the capture ended:
    /// neither answered nor unanswered.
    pub pending_at_end: u64,
    /// The first of them.
    pub first_pending: Option<At>,
}

pub(super) static NO_RARE: Rare = Rare {
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
    unpaired_told: None,
    unpaired_told_n: 0,
    first_short: None,
    echo_no: 0,
    first_echo_no: None,
    pending_at_end: 0,
    first_pending: None,
};

/// A reply held back until its request comes.
#[derive(Clone, Debug)]
pub(super) struct Early {
    pub(super) origin: u64,
    pub(super) at: At,
    pub(super) src: SocketAddr,
    pub(super) payload: Vec<u8>,
}

/// Replies held back per conversation, and their largest size (a reply
/// with a MAC or NTS fields fits; anything larger is only counted).
pub(super) const EARLY_MAX: usize = 4;

pub(super) const EARLY_BYTES: usize = 256;

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
            earliest(&mut r.unpaired_told, &or.unpaired_told);
            r.unpaired_told_n += or.unpaired_told_n;
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

//! The one evidence type for a client–server exchange: [`Exchange`].
//!
//! Probe ([`super::probe::facts`]), capture (`capture::judge`) and pasted
//! tool output (`explain::paste`) each fill it through a small adapter; the
//! rule table ([`super::rules`]) reads nothing else. Every fact carries where
//! it came from ([`Origin`]): a request number and time, a packet number and
//! time, or the pasted line.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use super::evidence::Neighbour;
use crate::engine::exchange::{Sample, UnsyncReason};
use crate::engine::local::LocalError;
use crate::wire::icmp::IcmpError;
use crate::wire::{KissCode, Repr};

/// Where a fact came from.
#[derive(Clone, Debug, PartialEq, Default)]
pub enum Origin {
    /// A probe's request (1-based) and when its answer came, in ms since the
    /// probe started.
    Request { n: u32, at_ms: f64 },
    /// A moment of a probe not tied to a request, in ms since it started.
    ProbeTime { at_ms: f64 },
    /// A captured packet: its number in the capture and the time of day (UTC).
    Packet { no: u64, time: TimeOfDay },
    /// A pasted line: its number (1-based) and text, and the time a log
    /// line carries (as written).
    Line {
        n: usize,
        text: String,
        time: Option<String>,
    },
    #[default]
    Unknown,
}

/// A time of day (UTC) to the millisecond, written "hh:mm:ss.mmm" only
/// when shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeOfDay {
    pub ms: u32,
}

impl TimeOfDay {
    /// From Unix seconds and nanoseconds.
    pub fn from_unix(secs: i64, nanos: u32) -> TimeOfDay {
        TimeOfDay {
            ms: secs.rem_euclid(86_400) as u32 * 1000 + (nanos / 1_000_000).min(999),
        }
    }
}

impl fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.ms / 1000;
        write!(
            f,
            "{:02}:{:02}:{:02}.{:03}",
            s / 3600,
            (s / 60) % 60,
            s % 60,
            self.ms % 1000
        )
    }
}

/// Milliseconds as the probe prints them (written where they are shown,
/// with no string of their own).
pub fn fmt_ms(v: f64) -> Ms {
    Ms(v)
}

/// [`fmt_ms`]'s value.
#[derive(Clone, Copy, Debug)]
pub struct Ms(pub f64);

impl fmt::Display for Ms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.0;
        super::fixed::write_fixed(f, v, if v < 1.0 { 3 } else { 1 }, false)?;
        f.write_str(" ms")
    }
}

impl Origin {
    /// The short name: "request 2", "packet #17", "line 4".
    pub fn label(&self) -> Label<'_> {
        Label(self)
    }
}

/// [`Origin::label`]'s value.
pub struct Label<'a>(&'a Origin);

impl fmt::Display for Label<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Origin::Request { n, .. } => write!(f, "request {n}"),
            Origin::ProbeTime { at_ms } => write!(f, "{}", fmt_ms(*at_ms)),
            Origin::Packet { no, .. } => {
                f.write_str("packet #")?;
                f.write_str(itoa::Buffer::new().format(*no))
            }
            Origin::Line { n, .. } => write!(f, "line {n}"),
            Origin::Unknown => f.write_str("?"),
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Request { n, at_ms } => write!(f, "request {n} at {}", fmt_ms(*at_ms)),
            Origin::ProbeTime { at_ms } => write!(f, "{}", fmt_ms(*at_ms)),
            Origin::Packet { no, time } => write!(f, "packet #{no} at {time}"),
            Origin::Line {
                n, time: Some(t), ..
            } => write!(f, "line {n}, {t}"),
            Origin::Line { n, .. } => write!(f, "line {n}"),
            Origin::Unknown => f.write_str("?"),
        }
    }
}

/// A fact and where it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Fact<T> {
    pub value: T,
    pub at: Origin,
}

impl<T> Fact<T> {
    pub fn new(value: T, at: Origin) -> Fact<T> {
        Fact { value, at }
    }
}

/// Who made the requests, and so what the evidence can mean.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Vantage {
    /// ntpdiag's own probe: a short burst it sent itself.
    Probe,
    /// A capture: a real client's traffic, seen on the wire.
    Capture,
    /// A tool's output, pasted: what that tool saw.
    Paste(&'static str),
}

/// The probe's settings, when ntpdiag sent the requests.
#[derive(Clone, Debug, PartialEq)]
pub struct ProbeSettings {
    pub samples: u32,
    pub version: u8,
    pub timeout_s: f64,
    pub interval_ms: u128,
    pub liveness_port: u16,
}

/// The class of the first answer that provably answered a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnswerKind {
    Valid,
    Kiss,
    Unsynchronized,
}

/// The best (smallest-delay) valid sample and the header it came with.
#[derive(Clone, Debug, PartialEq)]
pub struct Best {
    pub sample: Sample,
    pub header: Option<Repr>,
}

/// A genuine Kiss-o'-Death.
#[derive(Clone, Debug, PartialEq)]
pub struct Kiss {
    pub code: KissCode,
    pub header: Option<Repr>,
    /// ntpdiag checked the origin against the request's transmit (probe,
    /// capture); a pasted tool's word is taken as it is.
    pub origin_checked: bool,
}

/// A genuine answer from a server with no good time.
#[derive(Clone, Debug, PartialEq)]
pub struct Unsync {
    /// The reason when known from the packet; `None` when a tool only said
    /// "stratum 0" (which may also be a kiss).
    pub reason: Option<UnsyncReason>,
    pub header: Option<Repr>,
    /// As the tool printed it, when there is no header.
    pub stratum: Option<u32>,
    pub refid: Option<String>,
}

/// A datagram that failed the origin test.
#[derive(Clone, Debug, PartialEq)]
pub struct Bogus {
    pub from: Option<SocketAddr>,
    pub detail: String,
}

/// A datagram that is not an NTP server reply.
#[derive(Clone, Debug, PartialEq)]
pub struct Malformed {
    pub from: Option<SocketAddr>,
    pub len: Option<usize>,
    pub detail: String,
}

/// Who sent an ICMP error, relative to the exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sender {
    Server,
    /// This host, or the client's host in a capture.
    ClientHost,
    Router,
    Unknown,
}

/// An ICMP error that quoted one of the requests.
#[derive(Clone, Debug, PartialEq)]
pub struct Icmp {
    pub error: IcmpError,
    pub offender: Option<IpAddr>,
    pub sender: Sender,
    /// How long after its request it came (ms), when known.
    pub rtt_ms: Option<f64>,
}

/// NTS-KE (RFC 8915, TLS on TCP 4460) connections to the server.
#[derive(Clone, Debug, PartialEq)]
pub struct NtsKe {
    /// Connections begun (a SYN from a new client port).
    pub connections: u64,
    /// Of them: answered (a SYN-ACK).
    pub answered: u64,
    /// Refused by a TCP RST from the server's address.
    pub reset: u64,
    /// Refused by an ICMP error: the first one, and how many.
    pub icmp: Option<Icmp>,
    pub icmp_count: u64,
    /// Neither answered nor refused.
    pub unanswered: u64,
    /// SYNs sent again while waiting.
    pub syn_retries: u64,
}

/// What an NTS client (`probe --nts`) saw, from TCP to the NTS-protected
/// NTP exchange (RFC 8915).
#[derive(Clone, Debug, PartialEq)]
pub struct NtsClient {
    /// The NTS-KE server's address (port 4460 unless told).
    pub ke_server: SocketAddr,
    /// The name the certificate must carry (the host as given).
    pub name: String,
    /// The trust anchors loaded ("system: 140 certificate(s)", a CA file).
    pub trust: Vec<String>,
    pub connect: KeConnect,
    pub tls: Option<TlsOutcome>,
    /// The server's certificates, end entity first.
    pub chain: Vec<CertInfo>,
    pub cert: Option<CertCheck>,
    pub ke: Option<KeOutcome>,
    pub ntp: Option<NtsNtp>,
}

/// The TCP connection to NTS-KE.
#[derive(Clone, Debug, PartialEq)]
pub enum KeConnect {
    Connected {
        ms: f64,
    },
    /// Refused by RST, or by an ICMP error (then named, with its sender,
    /// when this host could read it).
    Refused {
        icmp: Option<Icmp>,
        /// ICMP errors could be read here (raw socket): without one, the
        /// refusal was a TCP RST.
        icmp_readable: bool,
        error: String,
    },
    /// Nothing came back in time (SYNs retried by the kernel).
    NoReply {
        waited_s: f64,
    },
    /// The connection failed here (a local firewall rule, no route, …).
    Failed {
        error: LocalError,
    },
}

impl KeConnect {
    /// The outcome's id (`probe --json`'s `nts.connect`).
    pub fn id(&self) -> &'static str {
        match self {
            KeConnect::Connected { .. } => "connected",
            KeConnect::Refused { .. } => "refused",
            KeConnect::NoReply { .. } => "no-reply",
            KeConnect::Failed { .. } => "failed",
        }
    }
}

/// The TLS handshake.
#[derive(Clone, Debug, PartialEq)]
pub enum TlsOutcome {
    Done {
        version: String,
        suite: String,
        /// The ALPN protocol the server selected.
        alpn: Option<String>,
    },
    Failed {
        /// The server does not speak TLS 1.3 (protocol_version alert).
        no_tls13: bool,
        /// The server refused ALPN `ntske/1` (no_application_protocol).
        no_alpn: bool,
        /// The connection ended or stalled in the handshake.
        cut: bool,
        detail: String,
    },
}

/// One certificate as presented.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertInfo {
    pub subject: String,
    pub issuer: String,
    /// Subject alternative names: `DNS:name`, `IP:addr`.
    pub sans: Vec<String>,
    /// Unix seconds.
    pub not_before: i64,
    pub not_after: i64,
    pub self_signed: bool,
}

/// Why the certificate was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CertProblem {
    Expired {
        now: i64,
        not_after: Option<i64>,
    },
    NotYetValid {
        now: i64,
        not_before: Option<i64>,
    },
    Untrusted {
        detail: String,
    },
    NameMismatch {
        expected: String,
        presented: Vec<String>,
    },
}

/// The refused certificate, and the chain verified again at the true time
/// an unauthenticated NTP exchange with the same host gave.
#[derive(Clone, Debug, PartialEq)]
pub struct CertCheck {
    pub problem: CertProblem,
    pub at_true_time: Option<TrueTimeCheck>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct TrueTimeCheck {
    /// The server's clock minus this host's (seconds), from plain NTP.
    pub offset_s: f64,
    /// The chain verifies at that time.
    pub valid: bool,
    pub detail: Option<String>,
    /// Why it is refused at that time, when it is a certificate problem.
    pub problem: Option<CertProblem>,
}

/// The KE records exchanged.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct KeOutcome {
    /// Records sent and received: (critical, type, body length).
    pub sent: Vec<(bool, u16, usize)>,
    pub received: Vec<(bool, u16, usize)>,
    pub next_protocols: Option<Vec<u16>>,
    pub aead: Option<Vec<u16>>,
    pub errors: Vec<u16>,
    pub warnings: Vec<u16>,
    pub unknown_critical: Vec<u16>,
    pub cookies: usize,
    pub cookie_len: Option<usize>,
    /// The cookies are not all of one length.
    pub cookie_lens_differ: bool,
    pub server: Option<String>,
    pub port: Option<u16>,
    /// The answer could not be read whole: malformed, cut, too large, or
    /// nothing within the wait.
    pub problem: Option<String>,
}

/// The NTS-protected NTP requests.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct NtsNtp {
    pub address: Option<SocketAddr>,
    pub sent: u64,
    /// Octets of each request (the size firewalls may drop).
    pub request_len: usize,
    pub authenticated: u64,
    pub ntsn: u64,
    /// Replies that failed NTS verification, the first reason.
    pub unverified: u64,
    pub first_unverified: Option<String>,
    pub new_cookies: u64,
    pub icmp: Option<Icmp>,
    /// Sending failed here.
    pub send_error: Option<String>,
}

/// The liveness check: one datagram to a closed port of the same host.
#[derive(Clone, Debug, PartialEq)]
pub enum Liveness {
    /// An ICMP error came back.
    Icmp {
        error: IcmpError,
        offender: Option<IpAddr>,
    },
    /// A datagram came back from that port.
    Replied,
    /// Nothing came back.
    Silent,
    /// It could not be sent.
    SendFailed(String),
}

/// A local failure and what ntpdiag (or the pasted tool) was doing.
#[derive(Clone, Debug, PartialEq)]
pub struct Local {
    pub error: LocalError,
    pub doing: &'static str,
}

/// Polling behaviour of an observed client (capture).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Polling {
    pub intervals: u64,
    pub mean_interval_s: f64,
    pub short_intervals: u64,
    pub first_short: Option<Origin>,
}

/// What only a capture shows.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Wire {
    /// Datagrams from the server side, of any kind.
    pub replies: u64,
    pub unanswered: u64,
    pub first_request: Option<Origin>,
    pub last_request: Option<Origin>,
    pub polling: Polling,
    /// Most times one request / one reply was seen (two-sided captures).
    pub request_sightings_max: u32,
    pub reply_sightings_max: u32,
    /// ICMP errors the client's host sent back for replies.
    pub reply_bounced: Option<Fact<Icmp>>,
    pub reply_bounced_count: u64,
    /// Requests after a reply that did not echo it, from a client that
    /// echoed before (classic ntpd).
    pub echo_missing: Option<Fact<u64>>,
    /// Replies the capture's snap length cut too short to read.
    pub replies_cut: u64,
    /// Requests the capture ended too soon after to know their fate
    /// (within the answer window), the first of them.
    pub pending: Option<Fact<u64>>,
    /// Replies whose requests are not in the capture (one direction
    /// captured, or it began mid-exchange): the origin test cannot be
    /// applied to them.
    pub unpaired: u64,
    /// The first of them whose header alone tells a fault, and how many did.
    pub unpaired_told: Option<Fact<HeaderTells>>,
    pub unpaired_told_count: u64,
}

/// What a reply's header alone proves, without its request
/// (`engine::exchange::classify_header`), or against the capturing host's
/// clock.
#[derive(Clone, Debug, PartialEq)]
pub enum HeaderTells {
    Kiss(KissCode, Repr),
    Unsynchronized(UnsyncReason, Repr),
    Malformed(String),
    /// Its transmit time is this far from the capture's clock at arrival
    /// (seconds, server minus capture), past the panic threshold.
    FarFromCapture(f64, Repr),
}

/// A source a daemon polls that never answered.
#[derive(Clone, Debug, PartialEq)]
pub struct SilentSource {
    pub name: String,
    /// What the tool says: "reach 0", "Packet count: 0", "no data".
    pub why: String,
    /// Silent over several polls (a daemon's view), not one exchange.
    pub over_polls: bool,
}

/// How many silent sources an exchange keeps with their lines.
pub const SILENT_KEPT: usize = 256;

/// A daemon's own view of its sources, from its tools' output.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct DaemonView {
    pub daemon: String,
    /// Whether the daemon says it is synchronized, and to what.
    pub synchronized: Option<Fact<bool>>,
    pub sys_peer: Option<String>,
    pub sources: usize,
    pub answering: usize,
    /// Answering sources the daemon marks falsetickers (`x`).
    pub falsetickers: usize,
    /// The local clock's offset from the daemon's reference (s).
    pub clock_offset_s: Option<Fact<f64>>,
    /// leap/stratum/refid as the daemon states its own status.
    pub status: Option<String>,
    /// The daemon's own tool could not reach it on this host (ntpq's
    /// "Connection refused", chronyc's "506 Cannot talk to daemon").
    pub unreachable: Option<Fact<String>>,
    /// The daemon says it has no source at all (ntpq's "No association IDs
    /// returned", chronyc's empty sources table).
    pub no_sources: Option<Origin>,
    /// The source it selected is its own undisciplined local clock
    /// (127.127.1.u, refid LOCL): synchronized to no real time.
    pub local_clock: Option<Fact<String>>,
    /// The daemon says it has fewer selectable sources than it requires
    /// (chronyd `minsources`, ntpd `tos minsane`).
    pub too_few: Option<Fact<String>>,
    /// OpenNTPD takes no time until an HTTPS constraint answers, and none
    /// does (its words, with the line).
    pub constraint_failed: Option<Fact<String>>,
    /// Another agent also sets this clock (a hypervisor's time provider, a
    /// second daemon): what it is, as the tool names it.
    pub other_discipline: Option<Fact<OtherAgent>>,
    /// The daemon uses none of its sources and its output does not say
    /// why (OpenNTPD's `peer not valid`: silent, unsynchronized or
    /// rejected alike): what would tell.
    pub unexplained: Option<Fact<String>>,
    /// What it says of the host beneath it (it may not set the clock, the
    /// frequency is past its limit, the clock jumped under it, …), in the
    /// order said.
    pub host_signs: Vec<Fact<HostSign>>,
}

/// What a daemon's own words say of the host beneath it.
#[derive(Clone, Debug, PartialEq)]
pub enum HostSign {
    /// It may not adjust the clock (chronyd's `adjtimex(0x8001) failed :
    /// Operation not permitted`, timesyncd skipped for a missing
    /// CAP_SYS_TIME or in a container): its words.
    NotSettable(String),
    /// The clock's frequency error is past what it may correct.
    Frequency(String),
    /// The clock jumped under it (chronyd's `Forward/Backward time jump
    /// detected`).
    Jump(String),
    /// Its offset is a whole number of quarter hours (s): a local-time RTC.
    QuarterHours(f64),
}

impl HostSign {
    /// In words, for evidence.
    pub fn words(&self) -> String {
        match self {
            HostSign::NotSettable(w) | HostSign::Frequency(w) | HostSign::Jump(w) => w.clone(),
            HostSign::QuarterHours(o) => format!("an offset of {o:+.0} s, whole quarter hours"),
        }
    }

    /// Offsets within a minute of n × 15 min (1 ≤ n ≤ 56) look like a
    /// time zone: an RTC kept in local time.
    pub fn quarter_hours(offset_s: f64) -> bool {
        let q = (offset_s / 900.0).round();
        q != 0.0 && q.abs() <= 56.0 && (offset_s - q * 900.0).abs() <= 60.0
    }
}

/// Another agent that sets the clock, and whether it was seen doing so
/// (chronyd found the clock changed under it) or only named (a Windows
/// time provider chosen as the source: by design on a standalone VM).
#[derive(Clone, Debug, PartialEq)]
pub struct OtherAgent {
    pub what: String,
    pub seen_acting: bool,
}

/// How much of a verdict is wanted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Detail {
    /// All of it.
    #[default]
    Full,
    /// Its cause and first line of evidence only (one row of a table of
    /// many client hosts): the same cause and first line as the full
    /// verdict, the rest left out where leaving it out saves work.
    Headline,
}

/// Everything known about one client–server exchange (or, from a daemon's
/// tools, the exchanges of one daemon with its sources).
#[derive(Clone, Debug, PartialEq)]
pub struct Exchange {
    pub vantage: Vantage,
    /// What of the verdict will be shown (not a fact: the reader's wish).
    pub detail: Detail,
    /// How the exchange is named in prose: "controller (198.51.100.1:123)".
    pub who: String,
    pub server: Option<SocketAddr>,
    pub client: Option<SocketAddr>,
    pub probe: Option<ProbeSettings>,
    /// Requests sent (probe) or seen (capture); 0 when the tool did not say.
    pub requests: u64,
    /// The name did not resolve.
    pub unresolved: Option<String>,
    /// Local failures: socket setup, sends.
    pub local: Vec<Fact<Local>>,

    // Answers.
    pub first_answer: Option<AnswerKind>,
    pub valid: u64,
    pub best: Option<Fact<Best>>,
    pub kiss: Option<Fact<Kiss>>,
    pub kiss_count: u64,
    pub unsync: Option<Fact<Unsync>>,
    pub unsync_count: u64,
    /// Genuine answers that came from another address, first one each.
    pub other_address: Vec<Fact<SocketAddr>>,
    pub other_address_count: u64,
    pub bogus: Option<Fact<Bogus>>,
    pub bogus_count: u64,
    /// The first few.
    pub malformed: Vec<Fact<Malformed>>,
    pub malformed_count: u64,
    /// Datagrams that were read and answered nothing (duplicates, strays).
    pub unrelated: u64,

    // Refusal and silence.
    pub icmp: Option<Fact<Icmp>>,
    pub icmp_count: u64,
    pub liveness: Option<Fact<Liveness>>,
    pub neighbour: Option<Neighbour>,
    pub silent_sources: Vec<Fact<SilentSource>>,
    /// Silent sources beyond the first [`SILENT_KEPT`], counted only.
    pub silent_more: u64,

    pub wire: Option<Wire>,
    pub daemon: Option<DaemonView>,
    /// NTS-KE connections to the server (capture).
    pub nts_ke: Option<Fact<NtsKe>>,
    /// What an NTS client saw (probe --nts).
    pub nts: Option<NtsClient>,
    /// Errors the socket reported that belong to no one datagram.
    pub socket_errors: Vec<Fact<String>>,
}

impl Exchange {
    pub fn new(vantage: Vantage, who: impl Into<String>) -> Exchange {
        Exchange {
            vantage,
            detail: Detail::Full,
            who: who.into(),
            server: None,
            client: None,
            probe: None,
            requests: 0,
            unresolved: None,
            local: vec![],
            first_answer: None,
            valid: 0,
            best: None,
            kiss: None,
            kiss_count: 0,
            unsync: None,
            unsync_count: 0,
            other_address: vec![],
            other_address_count: 0,
            bogus: None,
            bogus_count: 0,
            malformed: vec![],
            malformed_count: 0,
            unrelated: 0,
            icmp: None,
            icmp_count: 0,
            liveness: None,
            neighbour: None,
            silent_sources: vec![],
            silent_more: 0,
            wire: None,
            daemon: None,
            nts_ke: None,
            nts: None,
            socket_errors: vec![],
        }
    }

    /// Genuine answers: replies whose origin matched a request.
    pub fn answered(&self) -> u64 {
        self.valid + self.kiss_count + self.unsync_count
    }

    /// Anything at all came back from the server side.
    pub fn heard(&self) -> bool {
        self.answered() > 0
            || self.other_address_count > 0
            || self.bogus_count > 0
            || self.malformed_count > 0
            || self.icmp_count > 0
    }

    /// Records a valid sample, keeping the one with the smallest delay.
    pub fn add_valid(&mut self, sample: Sample, header: Option<Repr>, at: Origin) {
        self.valid += 1;
        self.first_answer.get_or_insert(AnswerKind::Valid);
        if self
            .best
            .as_ref()
            .is_none_or(|b| sample.delay < b.value.sample.delay)
        {
            self.best = Some(Fact::new(Best { sample, header }, at));
        }
    }

    pub fn add_kiss(&mut self, kiss: Kiss, at: Origin) {
        self.kiss_count += 1;
        self.first_answer.get_or_insert(AnswerKind::Kiss);
        self.kiss.get_or_insert(Fact::new(kiss, at));
    }

    pub fn add_unsync(&mut self, u: Unsync, at: Origin) {
        self.unsync_count += 1;
        self.first_answer.get_or_insert(AnswerKind::Unsynchronized);
        self.unsync.get_or_insert(Fact::new(u, at));
    }

    pub fn add_other_address(&mut self, from: SocketAddr, at: Origin) {
        self.other_address_count += 1;
        if !self.other_address.iter().any(|f| f.value == from) {
            self.other_address.push(Fact::new(from, at));
        }
    }

    pub fn add_bogus(&mut self, b: Bogus, at: Origin) {
        self.bogus_count += 1;
        self.bogus.get_or_insert(Fact::new(b, at));
    }

    pub fn add_malformed(&mut self, m: Malformed, at: Origin) {
        self.malformed_count += 1;
        if self.malformed.len() < 4 {
            self.malformed.push(Fact::new(m, at));
        }
    }

    /// Records a silent source; past [`SILENT_KEPT`] they are counted.
    pub fn add_silent(&mut self, s: Fact<SilentSource>) {
        if self.silent_sources.len() < SILENT_KEPT {
            self.silent_sources.push(s);
        } else {
            self.silent_more += 1;
        }
    }

    pub fn add_icmp(&mut self, i: Icmp, at: Origin) {
        self.icmp_count += 1;
        self.icmp.get_or_insert(Fact::new(i, at));
    }
}

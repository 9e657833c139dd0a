//! What the edge collected about one probed target, as plain data; the
//! probe's adapter ([`super::probe::facts`]) turns it into facts.

use std::net::SocketAddr;

use crate::engine::local::LocalError;
use crate::engine::probe::ProbeRecord;

/// Where the probe's requests came from.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum SourcePort {
    /// A fresh random port per probe (RFC 9109), as chrony does.
    Ephemeral,
    /// A fixed port, usually 123, as ntpd and `ntpdate` without `-u` do.
    Fixed(u16),
}

/// The kernel's neighbour (ARP/ND) entry for an on-link target.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Neighbour {
    /// As `ip neigh` prints it: REACHABLE, STALE, DELAY, PROBE, INCOMPLETE, FAILED, PERMANENT, NOARP.
    pub state: String,
    pub lladdr: Option<String>,
    pub dev: Option<String>,
}

impl Neighbour {
    /// The target answered ARP/ND recently or is configured statically.
    pub fn answered(&self) -> bool {
        self.lladdr.is_some()
            && matches!(
                self.state.as_str(),
                "REACHABLE" | "STALE" | "DELAY" | "PROBE" | "PERMANENT" | "NOARP"
            )
    }

    /// ARP/ND was tried and got no answer.
    pub fn unanswered(&self) -> bool {
        matches!(self.state.as_str(), "INCOMPLETE" | "FAILED")
    }
}

/// Everything known about one (host, address, source port) probe.
#[derive(Clone, Debug)]
pub struct TargetEvidence {
    /// The name or address as the user gave it.
    pub host: String,
    pub address: SocketAddr,
    pub source_port: SourcePort,
    pub local_address: Option<SocketAddr>,
    /// The socket could not be set up (bind, options): nothing was sent.
    pub setup_error: Option<LocalError>,
    pub record: Option<ProbeRecord>,
    pub neighbour: Option<Neighbour>,
    /// The NTS client's run (probe --nts).
    pub nts: Option<NtsProbe>,
}

/// Milliseconds of a probe's elapsed time.
pub fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// One line of what the NTS client did, at a time since it began.
#[derive(Clone, Debug, PartialEq)]
pub struct LogLine {
    pub at: std::time::Duration,
    pub text: String,
    /// A received NTP packet's decoded header, and the transmit nonce of
    /// the request it answers (shown as probe shows plain replies).
    pub packet: Option<(crate::wire::Repr, crate::wire::NtpTimestamp)>,
}

/// Everything the NTS client learnt about one server: the facts for the
/// rule table and the log to show.
#[derive(Clone, Debug)]
pub struct NtsProbe {
    pub facts: super::facts::NtsClient,
    pub log: Vec<LogLine>,
}

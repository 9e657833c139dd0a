//! What the edge collected about one probed target, as plain data.

use std::net::SocketAddr;

use crate::engine::exchange::{Judgement, ReplyClass, Sample};
use crate::engine::local::LocalError;
use crate::engine::probe::{EventKind, IcmpReport, Outcome, ProbeRecord, Purpose};

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
}

/// A received datagram with its judgement, as the rules need it.
pub struct Reply<'a> {
    pub event: usize,
    pub at_ms: f64,
    pub from: SocketAddr,
    pub matched: Option<u32>,
    pub other_address: bool,
    pub judgement: &'a Judgement,
}

impl Reply<'_> {
    pub fn class(&self) -> &ReplyClass {
        &self.judgement.class
    }

    pub fn sample(&self) -> Option<Sample> {
        self.judgement.sample
    }
}

/// An ICMP error as the rules need it.
pub struct IcmpSeen<'a> {
    pub at_ms: f64,
    pub report: &'a IcmpReport,
    pub matched: Option<Purpose>,
    /// How long after the matching datagram was sent (ms).
    pub rtt_ms: Option<f64>,
}

pub fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

impl TargetEvidence {
    pub fn replies(&self) -> Vec<Reply<'_>> {
        let Some(rec) = &self.record else {
            return vec![];
        };
        rec.events
            .iter()
            .enumerate()
            .filter_map(|(i, e)| match &e.kind {
                EventKind::Received {
                    from,
                    matched,
                    other_address,
                    judgement: Some(j),
                    ..
                } => Some(Reply {
                    event: i,
                    at_ms: ms(e.at),
                    from: *from,
                    matched: match matched {
                        Some(Purpose::Sample(n)) => Some(*n),
                        _ => None,
                    },
                    other_address: *other_address,
                    judgement: j,
                }),
                _ => None,
            })
            .collect()
    }

    pub fn icmps(&self) -> Vec<IcmpSeen<'_>> {
        let Some(rec) = &self.record else {
            return vec![];
        };
        rec.events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::Icmp { report, matched } => Some(IcmpSeen {
                    at_ms: ms(e.at),
                    report,
                    matched: *matched,
                    rtt_ms: matched
                        .and_then(|p| self.sent_at_ms(p))
                        .map(|s| ms(e.at) - s),
                }),
                _ => None,
            })
            .collect()
    }

    /// When the datagram for `p` was sent (ms since start).
    pub fn sent_at_ms(&self, p: Purpose) -> Option<f64> {
        let rec = self.record.as_ref()?;
        rec.events.iter().find_map(|e| match e.kind {
            EventKind::Sent { purpose, .. } if purpose == p => Some(ms(e.at)),
            _ => None,
        })
    }

    pub fn requests_sent(&self) -> usize {
        self.record.as_ref().map_or(0, |r| {
            r.events
                .iter()
                .filter(|e| {
                    matches!(
                        e.kind,
                        EventKind::Sent {
                            purpose: Purpose::Sample(_),
                            ..
                        }
                    )
                })
                .count()
        })
    }

    pub fn send_failures(&self) -> Vec<&LocalError> {
        let Some(rec) = &self.record else {
            return vec![];
        };
        rec.events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::SendFailed {
                    purpose: Purpose::Sample(_),
                    error,
                } => Some(error),
                _ => None,
            })
            .collect()
    }

    /// The liveness check's result, with the event it points at.
    pub fn liveness(&self) -> Option<(Outcome, Option<&EventKind>)> {
        let rec = self.record.as_ref()?;
        let o = rec.liveness?;
        let ev = match o {
            Outcome::Reply(i) | Outcome::Icmp(i) | Outcome::SendFailed(i) => {
                rec.events.get(i).map(|e| &e.kind)
            }
            _ => None,
        };
        Some((o, ev))
    }
}

//! The probe's adapter: a [`TargetEvidence`] (the session's record, the
//! local address, the neighbour entry) → the facts of one [`Exchange`],
//! then the rule table. No verdict prose here.

use super::evidence::TargetEvidence;
use super::facts::{
    Bogus, Exchange, Icmp, Kiss, Liveness, Local, Malformed, Origin, ProbeSettings, Sender, Unsync,
    Vantage,
};
use super::rules;
use super::verdict::Verdict;
use crate::engine::exchange::{BogusReason, ReplyClass};
use crate::engine::probe::{EventKind, Outcome, Purpose};

fn who(ev: &TargetEvidence) -> String {
    if ev.host == ev.address.ip().to_string() || ev.host == ev.address.to_string() {
        ev.address.to_string()
    } else {
        format!("{} ({})", ev.host, ev.address)
    }
}

/// The facts of one probe.
pub fn facts(ev: &TargetEvidence) -> Exchange {
    let mut x = Exchange::new(Vantage::Probe, who(ev));
    x.server = Some(ev.address);
    x.client = ev.local_address;
    x.neighbour = ev.neighbour.clone();
    x.nts = ev.nts.as_ref().map(|n| n.facts.clone());
    if let Some(e) = &ev.setup_error {
        x.local.push(super::facts::Fact::new(
            Local {
                error: e.clone(),
                doing: "setting up the probe socket",
            },
            Origin::Unknown,
        ));
    }
    let Some(rec) = &ev.record else {
        return x;
    };
    x.probe = Some(ProbeSettings {
        samples: rec.config.samples,
        version: rec.config.version,
        timeout_s: rec.config.timeout.as_secs_f64(),
        interval_ms: rec.config.interval.as_millis(),
        liveness_port: rec.config.liveness_port.unwrap_or(0),
    });
    let ms = super::evidence::ms;
    let mut sent_at = std::collections::HashMap::new();
    for e in &rec.events {
        let at_ms = ms(e.at);
        match &e.kind {
            EventKind::Sent { purpose, .. } => {
                sent_at.insert(*purpose, at_ms);
                if matches!(purpose, Purpose::Sample(_)) {
                    x.requests += 1;
                }
            }
            EventKind::SendFailed {
                purpose: Purpose::Sample(n),
                error,
            } => x.local.push(super::facts::Fact::new(
                Local {
                    error: error.clone(),
                    doing: "sending the request",
                },
                Origin::Request { n: *n, at_ms },
            )),
            EventKind::Received {
                from,
                bytes,
                matched,
                other_address,
                judgement: Some(j),
                ..
            } => {
                let at = match matched {
                    Some(Purpose::Sample(n)) => Origin::Request { n: *n, at_ms },
                    _ => Origin::ProbeTime { at_ms },
                };
                let genuine = j.class.answers_request();
                match &j.class {
                    _ if genuine && *other_address => x.add_other_address(*from, at),
                    ReplyClass::Valid => {
                        if let Some(s) = j.sample {
                            x.add_valid(s, j.header, at);
                        } else {
                            x.add_malformed(
                                Malformed {
                                    from: Some(*from),
                                    len: Some(bytes.len()),
                                    detail: "a valid reply without usable timestamps".into(),
                                },
                                at,
                            );
                        }
                    }
                    ReplyClass::Kiss(code) => x.add_kiss(
                        Kiss {
                            code: *code,
                            header: j.header,
                            origin_checked: true,
                        },
                        at,
                    ),
                    ReplyClass::Unsynchronized(r) => x.add_unsync(
                        Unsync {
                            reason: Some(*r),
                            header: j.header,
                            stratum: None,
                            refid: None,
                        },
                        at,
                    ),
                    ReplyClass::Bogus(b) => x.add_bogus(
                        Bogus {
                            from: Some(*from),
                            detail: match b {
                                BogusReason::OriginMismatch { expected, got } => format!(
                                    "origin {} where our transmit nonce was {}",
                                    got.hex(),
                                    expected.hex()
                                ),
                                BogusReason::ZeroOrigin => "origin timestamp zero".into(),
                            },
                        },
                        at,
                    ),
                    ReplyClass::Invalid(_) => x.add_malformed(
                        Malformed {
                            from: Some(*from),
                            len: Some(bytes.len()),
                            detail: j.class.label(),
                        },
                        at,
                    ),
                    ReplyClass::Duplicate => x.unrelated += 1,
                }
            }
            EventKind::Icmp {
                report,
                matched: Some(p @ Purpose::Sample(n)),
            } => {
                let sender = match report.offender {
                    Some(o) if o == ev.address.ip() => Sender::Server,
                    Some(o) if o.is_loopback() || ev.local_address.is_some_and(|l| l.ip() == o) => {
                        Sender::ClientHost
                    }
                    Some(_) => Sender::Router,
                    None => Sender::Unknown,
                };
                x.add_icmp(
                    Icmp {
                        error: report.error,
                        offender: report.offender,
                        sender,
                        rtt_ms: sent_at.get(p).map(|s| at_ms - s),
                    },
                    Origin::Request { n: *n, at_ms },
                );
            }
            EventKind::SocketError { error } => x.socket_errors.push(super::facts::Fact::new(
                error.to_string(),
                Origin::ProbeTime { at_ms },
            )),
            _ => {}
        }
    }
    if let Some(o) = rec.liveness {
        let event = match o {
            Outcome::Reply(i) | Outcome::Icmp(i) | Outcome::SendFailed(i) => rec.events.get(i),
            _ => None,
        };
        let at = event.map_or(Origin::Unknown, |e| Origin::ProbeTime { at_ms: ms(e.at) });
        let l = match (o, event.map(|e| &e.kind)) {
            (Outcome::Icmp(_), Some(EventKind::Icmp { report, .. })) => Some(Liveness::Icmp {
                error: report.error,
                offender: report.offender,
            }),
            (Outcome::Reply(_), _) => Some(Liveness::Replied),
            (Outcome::Timeout, _) => Some(Liveness::Silent),
            (Outcome::SendFailed(_), Some(EventKind::SendFailed { error, .. })) => {
                Some(Liveness::SendFailed(error.to_string()))
            }
            _ => None,
        };
        x.liveness = l.map(|l| super::facts::Fact::new(l, at));
    }
    x
}

/// Diagnoses one probed address.
pub fn diagnose(ev: &TargetEvidence) -> Verdict {
    rules::decide(&facts(ev))
}

/// The verdict for a host name that did not resolve.
pub fn name_unresolved(host: &str, error: &str) -> Verdict {
    let mut x = Exchange::new(Vantage::Probe, host);
    x.unresolved = Some(error.to_string());
    rules::decide(&x)
}

/// The probe from a random port and the one from a fixed port (usually 123)
/// of the same address, judged together.
pub fn compare_source_ports(
    ephemeral: &TargetEvidence,
    fixed: &TargetEvidence,
    port: u16,
) -> Verdict {
    rules::source_ports(&facts(ephemeral), &facts(fixed), port)
}

#[cfg(test)]
mod tests;

//! The silence step: nothing usable came back; what the daemon, the
//! capture's timing and the liveness check tell of why.

use super::*;

pub(super) static RULES: &[Rule<Exchange>] = &[
    Rule {
        names: &[Cause::NotJudged],
        when: When::If(|e| {
            e.silent_sources.is_empty()
                && e.daemon.as_ref().is_some_and(|d| d.unexplained.is_some())
        }),
        say: unexplained,
    },
    Rule {
        names: &[Cause::NoMajority],
        when: When::If(|e| {
            e.daemon.as_ref().is_some_and(|d| {
                d.answering >= 2
                    && d.falsetickers * 2 >= d.answering
                    && d.synchronized.as_ref().is_none_or(|s| !s.value)
            })
        }),
        say: no_majority,
    },
    Rule {
        names: &[Cause::DaemonNotSynchronizedYet],
        when: When::If(|e| {
            e.daemon.as_ref().is_some_and(|d| {
                d.answering > 0
                    || (d.sources == 0 && e.silent_sources.is_empty() && e.requests == 0)
            })
        }),
        say: not_synchronized_yet,
    },
    Rule {
        names: &[Cause::Pending],
        when: When::If(|e| {
            e.wire
                .as_ref()
                .is_some_and(|w| w.pending.is_some() && w.unanswered == 0)
        }),
        say: pending,
    },
    Rule {
        names: &[Cause::RepliesUnchecked],
        when: When::If(|e| {
            e.wire
                .as_ref()
                .is_some_and(|w| w.replies_cut > 0 || (w.replies > 0 && e.requests == 0))
        }),
        say: replies_unchecked,
    },
    Rule {
        names: &[Cause::NoReply],
        when: When::If(|e| e.vantage == Vantage::Paste("ntpq") && loopback(e)),
        say: local_query_unanswered,
    },
    Rule {
        names: &[Cause::NoReply],
        when: When::Always,
        say: no_reply,
    },
];

/// The exchange is with this host itself (localhost, 127/8, ::1).
fn loopback(e: &Exchange) -> bool {
    e.server.is_some_and(|s| s.ip().is_loopback())
        || e.who == "localhost"
        || e.who
            .trim_matches(|c| c == '[' || c == ']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// ntpq against this host's own daemon got no answer: no remote server
/// and no path are involved, so the suspects are the daemon's own access
/// rules, the addresses it listens on, and this host's firewall.
pub(super) fn local_query_unanswered(e: &Exchange) -> Verdict {
    let mut v = Verdict::new(
        Cause::NoReply,
        format!(
            "This host's own ntpd did not answer ntpq's query on loopback ({}): no remote server is involved, and time service itself may be fine.",
            e.who
        ),
        Confidence::Low,
    );
    v = silent_evidence(v, e);
    v.alternative(
        Cause::RestrictNoquery,
        "ntpd's own access rules cover loopback: a `restrict default … noquery` (or `ignore`) with no `restrict 127.0.0.1` / `restrict ::1` line (ntpq asks localhost, which is often ::1 first)",
        "`grep ^restrict /etc/ntpsec/ntp.conf /etc/ntp.conf`; `ntpdiag explain` reads them",
    )
    .alternative(
        Cause::NoReply,
        "ntpd listens only on some addresses (`interface ignore wildcard`, `interface listen …`, or `-I`), not on loopback",
        "`ss -ulpn 'sport = :123'`: no 127.0.0.1 or ::1 socket; ntpd's log lists `Listen normally on …`",
    )
    .alternative(
        Cause::LocalFirewallBlocksNtp,
        "a local firewall rule drops udp/123 on lo",
        "`iptables -S`, `nft list ruleset`: a rule without `-i lo` exceptions",
    )
    .fix("let ntpq in on loopback: `restrict 127.0.0.1` and `restrict ::1` in ntp.conf, then restart ntpd")
    .fix("check what ntpd listens on: `ss -ulpn 'sport = :123'`")
}

/// The daemon uses none of its sources and does not say why.
pub(super) fn unexplained(e: &Exchange) -> Verdict {
    let d = e.daemon.as_ref().expect("checked");
    let u = d.unexplained.as_ref().expect("checked");
    Verdict::new(
        Cause::NotJudged,
        if d.sources > 0 && d.answering == 0 {
            format!(
                "{} uses none of its {} source(s), and its output does not say why: silent, unsynchronized or rejected look alike here.",
                d.daemon, d.sources
            )
        } else {
            format!(
                "{}: what was given does not say whether it synchronizes.",
                d.daemon
            )
        },
        Confidence::Low,
    )
    .evidence(format!("{}{}", u.value, at_suffix(&u.at)))
    .fix(Cause::NotJudged.info().fix)
}

pub(super) fn not_synchronized_yet(e: &Exchange) -> Verdict {
    let d = e.daemon.as_ref().expect("checked");
    let mut v = Verdict::new(
        Cause::DaemonNotSynchronizedYet,
        if d.answering > 0 {
            format!(
                "{}'s servers answer, but it has not selected one yet: normal in the first minutes after it starts.",
                d.daemon
            )
        } else {
            format!("{} is not synchronized.", d.daemon)
        },
        Confidence::Medium,
    );
    if d.sources > 0 {
        v = v.evidence(format!(
            "{} sources, {} reachable, none selected",
            d.sources, d.answering
        ));
    }
    if let Some(s) = &d.synchronized {
        v = v.evidence(format!(
            "the daemon says it is not synchronized{}",
            at_suffix(&s.at)
        ));
    }
    if let Some(st) = &d.status {
        v = v.evidence(st.clone());
    }
    v.fix(Cause::DaemonNotSynchronizedYet.info().fix)
}

pub(super) fn no_majority(e: &Exchange) -> Verdict {
    let d = e.daemon.as_ref().expect("checked");
    Verdict::new(
        Cause::NoMajority,
        format!(
            "{} hears {} sources, but marks {} of them falsetickers: no majority agrees, so it selects none (the intersection needs more than half of the sources to agree).",
            d.daemon, d.answering, d.falsetickers
        ),
        Confidence::High,
    )
    .evidence(format!(
        "{} sources, {} answering, {} marked x (falseticker)",
        d.sources, d.answering, d.falsetickers
    ))
    .fix(Cause::NoMajority.info().fix)
    .fix("compare each server's offset directly (`ntpdiag probe SERVER` for each): the ones that disagree with the others are wrong, or this is the truth and the others are")
}

pub(super) fn pending(e: &Exchange) -> Verdict {
    let p = e
        .wire
        .as_ref()
        .and_then(|w| w.pending.as_ref())
        .expect("checked");
    Verdict::new(
        Cause::Pending,
        format!(
            "{}: the capture ended before the answer to its last {} request(s) was due: no verdict on them.",
            e.who, p.value
        ),
        Confidence::Low,
    )
    .evidence(format!(
        "first of them{}, within {ANSWER_WINDOW:.0} s of the capture's end",
        at_suffix(&p.at)
    ))
    .fix(Cause::Pending.info().fix)
}

/// Replies that nothing could check: cut by the snap length, or without
/// their requests (and telling no fault by their header).
pub(super) fn replies_unchecked(e: &Exchange) -> Verdict {
    let w = e.wire.as_ref().expect("checked");
    let mut v = Verdict::new(
        Cause::RepliesUnchecked,
        if w.replies_cut > 0 {
            format!(
                "{}: {} replies came back, but the capture's snap length cut them: they could not be checked, and no verdict is given on them.",
                e.who, w.replies_cut
            )
        } else if w.unpaired > 0 {
            format!(
                "{}: {} replies, but none of their requests is in the capture: the origin test cannot be applied, so they prove nothing either way.",
                e.who, w.unpaired
            )
        } else {
            format!(
                "{}: {} replies, each answering a request sent to another address: judged with that request's conversation, not here.",
                e.who, w.replies
            )
        },
        Confidence::Low,
    );
    if w.unpaired > 0 {
        v = v.evidence(format!(
            "{} replies without their requests; their headers tell no fault (leap, stratum, kiss code, form, transmit time within {PANIC_THRESHOLD:.0} s of the capture's clock)",
            w.unpaired
        ));
    }
    if w.replies_cut > 0 {
        v = v.evidence(format!(
            "{} replies cut by the snap length before the end of their NTP header",
            w.replies_cut
        ));
    }
    v.fix(Cause::RepliesUnchecked.info().fix)
}

pub(super) fn no_reply(e: &Exchange) -> Verdict {
    let w = &e.who;
    let mut v = Verdict::new(
        Cause::NoReply,
        if e.requests > 0 {
            format!(
                "{w} never answered: {} requests sent, no reply and no ICMP error came back.",
                e.requests
            )
        } else {
            format!("{w} never answered: no reply came back.")
        },
        Confidence::Low,
    );
    if let Some(p) = &e.probe {
        let from = e.client.map_or("this host".to_string(), |a| a.to_string());
        v = v
            .evidence(format!(
                "sent {} NTP requests (mode 3, version {}) from {from} to {}; each waited {:.1} s",
                e.requests,
                p.version,
                e.server.map_or("?".into(), |s| s.to_string()),
                p.timeout_s
            ))
            .evidence("no NTP reply and no ICMP error arrived for any of them");
    }
    if let Some(wire) = &e.wire {
        v = v
            .evidence(format!(
                "first request {}, last {}",
                wire.first_request
                    .as_ref()
                    .map_or("?".into(), |a| a.to_string()),
                wire.last_request
                    .as_ref()
                    .map_or("?".into(), |a| a.to_string())
            ))
            .evidence(polling_line(e));
    }
    v = silent_evidence(v, e);
    if e.unrelated > 0 {
        v = v.evidence(format!(
            "{} unrelated datagram(s) arrived and were ignored",
            e.unrelated
        ));
    }
    let port = e.probe.as_ref().map_or(0, |p| p.liveness_port);
    let ip = e.server.map_or("?".into(), |s| s.ip().to_string());
    let mut host_up = false;
    if let Some(l) = &e.liveness {
        match &l.value {
            Liveness::Icmp { error, offender } => {
                host_up = error.kind() == IcmpKind::PortUnreachable
                    && offender.is_some()
                    && *offender == e.server.map(|s| s.ip());
                v = v.evidence(format!(
                    "liveness check: a datagram to closed port {port} on {ip} drew {error} from {}",
                    offender.map_or("?".to_string(), |o| o.to_string())
                ));
            }
            Liveness::Replied => {
                v = v.evidence(format!(
                    "liveness check: port {port} on {ip} answered with a datagram: the host is up"
                ))
            }
            Liveness::Silent => v = v.evidence(format!(
                "liveness check: a datagram to closed port {port} on {ip} drew no ICMP error either"
            )),
            Liveness::SendFailed(err) => {
                v = v.evidence(format!("liveness check could not be sent: {err}"))
            }
        }
    }
    if let Some(n) = &e.neighbour {
        v = v.evidence(format!(
            "neighbour table: {ip} is {}{}{}",
            n.state,
            n.lladdr
                .as_ref()
                .map_or(String::new(), |l| format!(" at {l}")),
            n.dev.as_ref().map_or(String::new(), |d| format!(" on {d}"))
        ));
    }
    use prose::*;
    if host_up {
        v.summary = format!(
            "{w} never answered NTP, but the host is up: a datagram to a closed port drew an ICMP error, so something drops udp/123 in particular."
        );
        // The host is up and udp/123 in particular gets nothing back; a drop
        // on this side (another cause) is not excluded: medium.
        v.confidence = Confidence::Medium;
        return v
            .alternative(Cause::NoReply, FW_DROPS, FW_TELL)
            .alternative(Cause::NoReply, RESTRICT, RESTRICT_TELL)
            .alternative(Cause::LocalFirewallBlocksNtp, LOCAL_DROP, LOCAL_DROP_TELL)
            .fix(ALLOW_NTP)
            .fix(
                "check ntp.conf `restrict` lines on the server for `ignore` matching this client",
            );
    }
    match &e.neighbour {
        Some(n) if n.unanswered() => {
            v.summary = format!(
                "{w} never answered, and it does not answer ARP/neighbour discovery either: it is down or not at that address."
            );
            v.confidence = Confidence::Medium;
            v.alternative(Cause::NoReply, DOWN, DOWN_TELL)
                .alternative(Cause::NoReply, FW_DROPS, "a host behind a firewall still answers ARP; only a host that is off or absent does not")
                .fix(format!("check that the server is up and has address {ip}"))
        }
        Some(n) if n.answered() => {
            v.summary = format!(
                "{w} never answered: the host is on the link (it answers ARP/ND) but silently drops everything sent to it."
            );
            v.confidence = Confidence::Medium;
            v.alternative(
                Cause::NoReply,
                "a firewall on the server drops all inbound traffic by default (policy DROP), udp/123 included",
                FW_TELL,
            )
            .alternative(Cause::NoReply, RESTRICT, RESTRICT_TELL)
            .alternative(Cause::LocalFirewallBlocksNtp, LOCAL_DROP, LOCAL_DROP_TELL)
            .fix(ALLOW_NTP)
        }
        _ => {
            // A daemon's reach register covers 8 polls: silence over minutes.
            if e.silent_sources.iter().any(|s| s.value.over_polls) {
                v.confidence = Confidence::Medium;
            }
            let v = v
                .alternative(Cause::NoReply, FW_DROPS, FW_TELL)
                .alternative(Cause::NoReply, RESTRICT, RESTRICT_TELL)
                .alternative(Cause::NoReply, DOWN, DOWN_TELL)
                .alternative(Cause::LocalFirewallBlocksNtp, LOCAL_DROP, LOCAL_DROP_TELL);
            if e.vantage == Vantage::Probe {
                v.fix("work through the causes above in order: the server's firewall is the most common (see `iptables -S INPUT` there)")
            } else {
                v.fix(PROBE_TO_NAME)
            }
        }
    }
}

/// Combines the probe from a random port with the probe from a fixed port
/// (usually 123) of the same address. `source-port-filtered` needs an NTP
/// answer from the random port: a host that refuses every port (ICMP port
/// unreachable) and also drops source port 123 gets the random port's
/// verdict, with the drop as a further finding.
pub fn source_ports(ephemeral: &Exchange, fixed: &Exchange, port: u16) -> Verdict {
    let ev = decide(ephemeral);
    let fv = decide(fixed);
    if fv.cause.class() == Class::Local {
        return fv.note(format!(
            "from a random source port the verdict is: {} — {}",
            ev.cause, ev.summary
        ));
    }
    let answered_elsewhere = ephemeral.answered() > 0;
    if answered_elsewhere && fv.cause == Cause::NoReply {
        return Verdict::new(
            Cause::SourcePortFiltered,
            format!(
                "{} answers requests from a random source port but not from source port {port}: something on the path filters (or NATs badly) source port {port}.",
                ephemeral.server.map_or_else(|| ephemeral.who.clone(), |s| s.to_string())
            ),
            Confidence::High,
        )
        .evidence(format!("from a random port: {} — {}", ev.cause, ev.summary))
        .evidence(format!("from port {port}: {} — {}", fv.cause, fv.summary))
        .fix("ntpd (classic and ntpsec) always sends from port 123 and is hit by this; chrony uses random ports (RFC 9109) and is not")
        .fix("ask the network's operator to allow udp source port 123, or switch the client to chrony; `ntpdate -u` works around it for one-shot queries")
        .alternative(Cause::SourcePortFiltered, "an ISP or firewall rule against source port 123 (anti-amplification filters)", "probe other servers from port 123: all fail the same way")
        .alternative(Cause::SourcePortFiltered, "a NAT that keeps source port 123 for one host only", "a second host behind the same NAT fails while the first works");
    }
    let mut v = ev;
    if fv.cause == Cause::NoReply && v.cause != Cause::NoReply {
        v.evidence.push(format!(
            "from source port {port}: nothing came back at all, not even the {} the random port drew",
            v.cause
        ));
        v.notes.push(format!(
            "a further finding: requests from source port {port} are dropped silently (a firewall rule against source port {port}); once the cause above is fixed, ntpd, which sends from port {port}, may still get no answer"
        ));
    } else {
        v.notes
            .push(format!("from source port {port} as well: {}", fv.cause));
    }
    v
}

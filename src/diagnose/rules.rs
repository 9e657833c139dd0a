//! The one rule table: [`Exchange`] → [`Verdict`]. Pure: same facts, same
//! verdict, whoever filled them (probe, capture, pasted output).
//!
//! Classify before explaining: [`STEPS`] is ordered from what is certain to
//! what is inferred — local failure, the daemon's own word, answers, ICMP
//! errors, silence — and the first step whose evidence is present decides
//! the class of problem. Its rules then pick the cause, in order; the last
//! rule of each step always applies. Every sentence an operator reads about
//! an exchange is written here (shared wording in [`prose`]), from facts.

use super::cause::{Cause, Class, kiss_fix};
use super::facts::{
    AnswerKind, CertProblem, Detail, Exchange, Fact, Icmp, KeConnect, Liveness, Local, NtsClient,
    Origin, Sender, TlsOutcome, Vantage, fmt_ms,
};
use super::verdict::{Confidence, Verdict};
use crate::engine::exchange::UnsyncReason;
use crate::engine::limits::{
    ANSWER_WINDOW, DISCARD_AVG_INTERVAL, DISCARD_MIN_INTERVAL, MAXDISP, MAXDIST_CHRONY,
    MAXDIST_NTPD, PANIC_THRESHOLD,
};
use crate::engine::local::LocalErrorKind;
use crate::wire::KissCode;
use crate::wire::icmp::IcmpKind;
use crate::wire::kiss::KissAction;
use crate::wire::refid::RefIdMeaning;

/// One rule: when it applies, and the verdict it gives.
pub struct Rule {
    /// The cause it names (for the table's documentation and tests; a rule
    /// for kiss codes names `kod-*`).
    pub names: &'static str,
    pub when: fn(&Exchange) -> bool,
    pub say: fn(&Exchange) -> Verdict,
}

/// A step: what evidence puts an exchange in it, and its rules in order.
pub struct Step {
    pub name: &'static str,
    pub applies: fn(&Exchange) -> bool,
    pub rules: &'static [Rule],
}

/// The condition of a step's last rule (and of the last step): one
/// function, never inlined, so that the table's test can tell it by its
/// address (a closure in a const may be copied into each codegen unit).
#[inline(never)]
fn always(_: &Exchange) -> bool {
    true
}

const ALWAYS: fn(&Exchange) -> bool = always;

/// The table, in order.
pub static STEPS: &[Step] = &[
    Step {
        name: "nts-ke",
        // NTS-KE seen on its own (a capture's TCP 4460 per server).
        applies: |e| {
            e.nts_ke.as_ref().is_some_and(|k| k.value.connections > 0)
                && e.requests == 0
                && !e.heard()
        },
        rules: &[
            Rule {
                names: "nts-ke-refused",
                when: |e| {
                    e.nts_ke.as_ref().is_some_and(|k| {
                        k.value.answered == 0 && (k.value.reset > 0 || k.value.icmp.is_some())
                    })
                },
                say: nts_ke_refused,
            },
            Rule {
                names: "nts-ke-no-reply",
                when: |e| e.nts_ke.as_ref().is_some_and(|k| k.value.answered == 0),
                say: nts_ke_no_reply,
            },
            Rule {
                names: "ok",
                when: ALWAYS,
                say: nts_ke_answered,
            },
        ],
    },
    Step {
        name: "nts",
        // An NTS client's failure (probe --nts): the first that stopped it.
        applies: nts_failed,
        rules: &[
            Rule {
                names: "local-firewall-blocks-ntp",
                when: |e| matches!(&nts(e).connect, KeConnect::Refused { icmp: Some(i), .. } if i.sender == Sender::ClientHost),
                say: nts_refused_here,
            },
            Rule {
                names: "nts-ke-refused",
                when: |e| matches!(nts(e).connect, KeConnect::Refused { .. }),
                say: nts_refused,
            },
            Rule {
                names: "nts-ke-no-reply",
                when: |e| matches!(nts(e).connect, KeConnect::NoReply { .. }),
                say: nts_no_reply,
            },
            Rule {
                names: "local-*",
                when: |e| matches!(nts(e).connect, KeConnect::Failed { .. }),
                say: nts_local,
            },
            Rule {
                names: "local-clock-wrong",
                when: |e| {
                    nts(e).cert.as_ref().is_some_and(|c| {
                        time_problem(&c.problem) && c.at_true_time.as_ref().is_some_and(|t| t.valid)
                    })
                },
                say: local_clock_wrong,
            },
            Rule {
                names: "nts-certificate-*",
                when: |e| nts(e).cert.is_some(),
                say: certificate,
            },
            Rule {
                names: "nts-tls-failed",
                when: |e| tls_failed(nts(e)),
                say: nts_tls_failed,
            },
            Rule {
                names: "nts-ke-error",
                when: |e| ke_error(nts(e)),
                say: nts_ke_error,
            },
            Rule {
                names: "nts-no-cookies",
                when: |e| nts(e).ke.as_ref().is_some_and(|k| k.cookies == 0),
                say: nts_no_cookies,
            },
            Rule {
                names: "kod-ntsn",
                when: |e| nts(e).ntp.as_ref().is_some_and(|n| n.ntsn > 0),
                say: nts_ntsn,
            },
            Rule {
                names: "nts-reply-not-authentic",
                when: |e| {
                    nts(e)
                        .ntp
                        .as_ref()
                        .is_some_and(|n| n.authenticated == 0 && n.unverified > 0)
                },
                say: nts_not_authentic,
            },
            Rule {
                names: "nts-packets-dropped",
                when: ALWAYS,
                say: nts_packets_dropped,
            },
        ],
    },
    Step {
        name: "local",
        applies: |e| {
            e.unresolved.is_some() || (!e.local.is_empty() && !e.heard() && e.unrelated == 0)
        },
        rules: &[
            Rule {
                names: "name-unresolved",
                when: |e| e.unresolved.is_some(),
                say: name_unresolved,
            },
            Rule {
                names: "local-*",
                when: ALWAYS,
                say: local_failure,
            },
        ],
    },
    Step {
        name: "daemon",
        applies: |e| {
            e.daemon.as_ref().is_some_and(|d| {
                d.synchronized.as_ref().is_some_and(|s| s.value)
                    || over_panic(d.clock_offset_s.as_ref())
                    || d.unreachable.is_some()
                    || d.no_sources.is_some()
                    || d.local_clock.is_some()
            })
        },
        rules: &[
            Rule {
                names: "daemon-not-running",
                when: |e| e.daemon.as_ref().is_some_and(|d| d.unreachable.is_some()),
                say: daemon_unreachable,
            },
            Rule {
                names: "no-servers-configured",
                when: |e| e.daemon.as_ref().is_some_and(|d| d.no_sources.is_some()),
                say: daemon_without_sources,
            },
            Rule {
                names: "local-clock-only",
                when: |e| e.daemon.as_ref().is_some_and(|d| d.local_clock.is_some()),
                say: local_clock_only,
            },
            Rule {
                names: "clock-step-needed",
                when: |e| {
                    e.daemon
                        .as_ref()
                        .is_some_and(|d| over_panic(d.clock_offset_s.as_ref()))
                },
                say: clock_step_needed,
            },
            Rule {
                names: "ok",
                when: ALWAYS,
                say: daemon_synchronized,
            },
        ],
    },
    Step {
        name: "answers",
        applies: |e| {
            e.answered() > 0
                || e.other_address_count > 0
                || e.bogus_count > 0
                || e.malformed_count > 0
        },
        rules: &[
            Rule {
                names: "kod-*",
                when: kiss_counts,
                say: kiss,
            },
            Rule {
                names: "asymmetric-path",
                when: |e| good_time(e) && asymmetric(e),
                say: asymmetric_path,
            },
            Rule {
                names: "reply-ignored",
                when: |e| good_time(e) && bounced_by_client(e),
                say: reply_bounced,
            },
            Rule {
                names: "reply-ignored",
                when: |e| good_time(e) && echo_missing(e),
                say: reply_not_echoed,
            },
            Rule {
                names: "client-polls-too-fast",
                when: |e| good_time(e) && too_fast(e),
                say: polls_too_fast,
            },
            Rule {
                names: "offset-over-panic",
                when: |e| good_time(e) && over_panic_sample(e),
                say: offset_over_panic,
            },
            Rule {
                names: "upstream-unsynchronized",
                when: |e| good_time(e) && too_far(e),
                say: root_distance,
            },
            Rule {
                names: "ok",
                when: good_time,
                say: ok,
            },
            Rule {
                names: "upstream-unsynchronized",
                when: |e| e.unsync.is_some(),
                say: unsynchronized,
            },
            Rule {
                names: "reply-from-other-address",
                when: |e| !e.other_address.is_empty(),
                say: other_address,
            },
            Rule {
                names: "malformed-reply",
                when: |e| e.malformed_count > 0 && e.malformed_count >= e.bogus_count,
                say: malformed,
            },
            Rule {
                names: "bogus-reply",
                when: ALWAYS,
                say: bogus,
            },
        ],
    },
    Step {
        name: "refused",
        applies: |e| e.icmp.is_some(),
        rules: &[Rule {
            names: "port-unreachable, admin-prohibited, host-unreachable, net-unreachable",
            when: ALWAYS,
            say: refused,
        }],
    },
    Step {
        name: "silence",
        applies: ALWAYS,
        rules: &[
            Rule {
                names: "no-majority",
                when: |e| {
                    e.daemon.as_ref().is_some_and(|d| {
                        d.answering >= 2
                            && d.falsetickers * 2 >= d.answering
                            && d.synchronized.as_ref().is_none_or(|s| !s.value)
                    })
                },
                say: no_majority,
            },
            Rule {
                names: "daemon-not-synchronized-yet",
                when: |e| {
                    e.daemon.as_ref().is_some_and(|d| {
                        d.answering > 0
                            || (d.sources == 0 && e.silent_sources.is_empty() && e.requests == 0)
                    })
                },
                say: not_synchronized_yet,
            },
            Rule {
                names: "pending",
                when: |e| {
                    e.wire
                        .as_ref()
                        .is_some_and(|w| w.pending.is_some() && w.unanswered == 0)
                },
                say: pending,
            },
            Rule {
                names: "ok",
                when: |e| e.wire.as_ref().is_some_and(|w| w.replies_cut > 0),
                say: replies_cut,
            },
            Rule {
                names: "ok",
                when: |e| e.vantage == Vantage::Capture && e.requests == 0,
                say: only_server_side,
            },
            Rule {
                names: "no-reply",
                when: ALWAYS,
                say: no_reply,
            },
        ],
    },
];

/// The verdict for one exchange, in the detail it asks for.
pub fn decide(e: &Exchange) -> Verdict {
    let v = decide_in_detail(e);
    // Every test that judges a headline checks it against the full verdict.
    #[cfg(debug_assertions)]
    if e.detail == Detail::Headline {
        let full = decide_in_detail(&Exchange {
            detail: Detail::Full,
            ..e.clone()
        });
        assert_eq!(
            (v.cause, v.evidence.first()),
            (full.cause, full.evidence.first()),
            "a headline verdict differs from the full one"
        );
    }
    v
}

fn decide_in_detail(e: &Exchange) -> Verdict {
    let step = STEPS
        .iter()
        .find(|s| (s.applies)(e))
        .expect("the last step always applies");
    let rule = step
        .rules
        .iter()
        .find(|r| (r.when)(e))
        .expect("the last rule of a step always applies");
    let mut v = (rule.say)(e);
    // What follows adds notes and later lines of evidence, unless the rule
    // gave none: then it is the first line.
    if e.detail == Detail::Headline && !v.evidence.is_empty() {
        return v;
    }
    if step.name != "nts"
        && let Some(n) = &e.nts
    {
        for line in nts_summary(n) {
            v.evidence.push(line);
        }
    }
    if let Some(n) = &e.nts
        && n.ke_server.ip().is_loopback()
        && n.name.parse::<std::net::IpAddr>().is_err()
        && n.name != "localhost"
    {
        v.notes.push(format!(
            "{} resolves to a loopback address ({}): NTS talked to this host itself; check /etc/hosts if the server is elsewhere",
            n.name,
            n.ke_server.ip()
        ));
    }
    for f in &e.socket_errors {
        v.notes.push(format!(
            "the socket reported an error at {}: {} (the verdict may miss what it hid)",
            f.at, f.value
        ));
    }
    if let Some(w) = &e.wire {
        v.evidence.push(format!(
            "{} requests, {} answered, {} replies, {} ICMP errors, {} unanswered",
            e.requests,
            e.answered(),
            w.replies,
            e.icmp_count,
            w.unanswered
        ));
        if let Some(p) = &w.pending
            && v.cause != Cause::Pending
        {
            v.notes.push(format!(
                "the capture ended within {ANSWER_WINDOW:.0} s of {} request(s) (first{}): their answers may not be in it, and this verdict does not count them",
                p.value,
                at_suffix(&p.at)
            ));
        }
    }
    v
}

/// Words used by more than one rule, and by explain's node-level rules.
pub mod prose {
    pub const FW_DROPS: &str =
        "a firewall on the server drops udp/123 (iptables/nft DROP, firewalld)";
    pub const FW_TELL: &str = "on the server: `iptables -S INPUT`, `nft list ruleset`, `firewall-cmd --list-all`; DROP counters (`iptables -L INPUT -v -n`) grow while you probe";
    pub const RESTRICT: &str = "ntpd on the server ignores this client (`restrict … ignore`)";
    pub const RESTRICT_TELL: &str = "on the server: `grep ^restrict /etc/ntp.conf`; tcpdump there shows requests arriving and no reply leaving, with no firewall rule matching";
    pub const DOWN: &str = "the server is down or the address is wrong";
    pub const DOWN_TELL: &str =
        "ping it; for a host on this link, `ip neigh show <addr>` says FAILED/INCOMPLETE";
    pub const LOCAL_DROP: &str = "replies are dropped on this side (a local INPUT rule, or a NAT/stateful firewall on the path back)";
    pub const LOCAL_DROP_TELL: &str = "capture here (`ntpdiag capture any --duration 30s`, or `tcpdump -ni any udp port 123`): replies that arrive but never reach the client mean a local drop";
    pub const ALLOW_NTP: &str = "on the server, allow NTP: `iptables -I INPUT -p udp --dport 123 -j ACCEPT` (firewalld: `firewall-cmd --add-service=ntp --permanent && firewall-cmd --reload`)";
    pub const PROBE_TO_NAME: &str = "run `ntpdiag probe <server>` from this node: its liveness check and ICMP errors name the cause";
    pub const STEP_ONCE: &str = "step the wrong clock once (`ntpd -gq`, `chronyc makestep`, or `ntpdig -S <server>`), then let the daemon keep it";
}

// ------------------------------------------------------------ helpers

/// An offset in seconds, or milliseconds below one second.
fn fmt_secs(v: f64) -> impl std::fmt::Display {
    Secs(v)
}

struct Secs(f64);

impl std::fmt::Display for Secs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let v = self.0;
        if v.abs() >= 1.0 {
            super::fixed::write_fixed(f, v, 3, true)?;
            f.write_str(" s")
        } else {
            super::fixed::write_fixed(f, v * 1000.0, 3, true)?;
            f.write_str(" ms")
        }
    }
}

fn over_panic(o: Option<&Fact<f64>>) -> bool {
    o.is_some_and(|f| f.value.abs() > PANIC_THRESHOLD)
}

/// " (packet #3 at …)", or nothing for an unknown origin.
fn at_suffix(at: &Origin) -> impl std::fmt::Display + '_ {
    AtSuffix(at)
}

struct AtSuffix<'a>(&'a Origin);

impl std::fmt::Display for AtSuffix<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Origin::Unknown => Ok(()),
            o => write!(f, " ({o})"),
        }
    }
}

/// "N of M requests", or "N replies" when the number of requests is unknown.
fn of_requests(n: u64, e: &Exchange) -> impl std::fmt::Display {
    OfRequests(n, e.requests)
}

struct OfRequests(u64, u64);

impl std::fmt::Display for OfRequests {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let OfRequests(n, requests) = *self;
        f.write_str(itoa::Buffer::new().format(n))?;
        if requests > 0 {
            f.write_str(" of ")?;
            f.write_str(itoa::Buffer::new().format(requests))?;
            f.write_str(" requests")
        } else {
            f.write_str(" replies")
        }
    }
}

fn kiss_counts(e: &Exchange) -> bool {
    // ntpdiag's own burst drew the kiss after a good first answer: that is
    // the probe being rate-limited, not the client. Said as a note.
    e.kiss.is_some() && !(e.first_answer == Some(AnswerKind::Valid) && e.vantage == Vantage::Probe)
}

fn good_time(e: &Exchange) -> bool {
    e.valid > 0 && (e.first_answer == Some(AnswerKind::Valid) || e.unsync_count == 0)
}

fn asymmetric(e: &Exchange) -> bool {
    e.wire
        .as_ref()
        .is_some_and(|w| w.request_sightings_max >= 2 && w.reply_sightings_max == 1)
}

fn bounced_by_client(e: &Exchange) -> bool {
    e.wire.as_ref().is_some_and(|w| {
        w.reply_bounced
            .as_ref()
            .is_some_and(|b| b.value.sender == Sender::ClientHost)
    })
}

fn echo_missing(e: &Exchange) -> bool {
    e.wire
        .as_ref()
        .and_then(|w| w.echo_missing.as_ref())
        .is_some_and(|f| f.value >= 2)
}

/// ntpd's `limited` defaults: intervals under 2 s, or a mean under 8 s.
fn too_fast(e: &Exchange) -> bool {
    e.wire.as_ref().is_some_and(|w| {
        let p = &w.polling;
        let mean = if p.intervals > 0 {
            p.mean_interval_s
        } else {
            f64::MAX
        };
        (p.short_intervals >= 3 && e.requests > 8)
            || (e.requests >= 10 && mean < DISCARD_AVG_INTERVAL)
    })
}

fn polling_line(e: &Exchange) -> String {
    let p = e
        .wire
        .as_ref()
        .map(|w| w.polling.clone())
        .unwrap_or_default();
    format!(
        "{} requests, mean interval {:.1} s, {} intervals under {DISCARD_MIN_INTERVAL:.0} s{}",
        e.requests,
        if p.intervals > 0 {
            p.mean_interval_s
        } else {
            0.0
        },
        p.short_intervals,
        p.first_short
            .as_ref()
            .map_or(String::new(), |a| format!(" (first: {a})"))
    )
}

fn over_panic_sample(e: &Exchange) -> bool {
    e.best
        .as_ref()
        .is_some_and(|b| b.value.sample.offset.abs() > PANIC_THRESHOLD)
}

fn too_far(e: &Exchange) -> bool {
    e.best
        .as_ref()
        .is_some_and(|b| b.value.sample.root_distance > MAXDIST_NTPD)
}

// ------------------------------------------------------------ local

fn name_unresolved(e: &Exchange) -> Verdict {
    let host = &e.who;
    Verdict::new(
        Cause::NameUnresolved,
        format!("{host} does not resolve to an address: nothing could be sent."),
        Confidence::High,
    )
    .evidence(format!(
        "resolver: {}",
        e.unresolved.clone().unwrap_or_default()
    ))
    .fix(format!(
        "check the name: `getent ahosts {host}`; add it to /etc/hosts or DNS"
    ))
    .fix("in an OpenStack-style setup every node needs the controller's name in /etc/hosts")
}

/// The cause a local error stands for.
pub fn local_cause(kind: LocalErrorKind) -> Cause {
    match kind {
        LocalErrorKind::AddressInUse => Cause::LocalPortInUse,
        LocalErrorKind::PermissionDenied => Cause::LocalPermissionDenied,
        LocalErrorKind::SendNotPermitted => Cause::LocalFirewallBlocksNtp,
        LocalErrorKind::NetworkUnreachable => Cause::NetUnreachable,
        LocalErrorKind::HostUnreachable => Cause::HostUnreachable,
        _ => Cause::LocalError,
    }
}

/// The cause an ICMP error quoting a request stands for.
pub fn icmp_cause(kind: IcmpKind) -> Cause {
    match kind {
        IcmpKind::PortUnreachable => Cause::PortUnreachable,
        IcmpKind::AdminProhibited => Cause::AdminProhibited,
        IcmpKind::HostUnreachable => Cause::HostUnreachable,
        _ => Cause::NetUnreachable,
    }
}

fn local_failure(e: &Exchange) -> Verdict {
    let Some(Fact {
        value: Local { error, doing },
        at,
    }) = e.local.first()
    else {
        unreachable!("the local step needs a local failure")
    };
    let w = &e.who;
    let seen = format!(
        "{} failed while {doing}: {error}{}",
        error.op,
        at_suffix(at)
    );
    let dest = e
        .server
        .map_or_else(|| "<server>".to_string(), |a| a.ip().to_string());
    match local_cause(error.kind) {
        Cause::LocalPortInUse => Verdict::new(
            Cause::LocalPortInUse,
            format!("Cannot send from {}: the port is already held by another socket on this host.", error.target),
            Confidence::High,
        )
        .evidence(seen)
        .evidence("EADDRINUSE: typically a local ntpd or chronyd owns udp/123")
        .fix("see who holds it: `ss -ulpn 'sport = :123'`")
        .fix("probe from a random port (drop --source-port), or query the local daemon (`ntpq -p`, `chronyc sources`)"),
        Cause::LocalPermissionDenied => Verdict::new(
            Cause::LocalPermissionDenied,
            format!("Not allowed to {} {}: ports below 1024 need root or CAP_NET_BIND_SERVICE.", error.op, error.target),
            Confidence::High,
        )
        .evidence(seen)
        .fix(Cause::LocalPermissionDenied.info().fix),
        Cause::LocalFirewallBlocksNtp => Verdict::new(
            Cause::LocalFirewallBlocksNtp,
            format!("This host's firewall refused to send to {w}: sendto() returned EPERM."),
            Confidence::High,
        )
        .evidence(seen)
        .evidence("EPERM on a UDP send comes from a local netfilter rule (OUTPUT chain) that drops or rejects it")
        .fix("list the rules: `iptables -S OUTPUT`, `ip6tables -S OUTPUT`, `nft list ruleset`")
        .fix("allow NTP out: `iptables -I OUTPUT -p udp --dport 123 -j ACCEPT`"),
        Cause::NetUnreachable => Verdict::new(
            Cause::NetUnreachable,
            format!("This host has no route to {w} (ENETUNREACH): the request never left."),
            Confidence::High,
        )
        .evidence(seen)
        .fix(format!("check the routing table: `ip route get {dest}`"))
        .fix("add a default route or a route to the server's network"),
        Cause::HostUnreachable => Verdict::new(
            Cause::HostUnreachable,
            format!("This host cannot reach {w} (EHOSTUNREACH): no neighbour answer, or an `unreachable` route."),
            Confidence::High,
        )
        .evidence(seen)
        .fix(format!("check `ip route get {dest}` and `ip neigh show {dest}`")),
        _ => Verdict::new(Cause::LocalError, format!("Could not probe {w}: {error}."), Confidence::High)
            .evidence(seen)
            .fix(match error.kind {
                LocalErrorKind::FamilyNotSupported => "this host has no support for the address family: probe with -4 or -6",
                LocalErrorKind::AddressNotAvailable => "the local address is not configured on this host",
                _ => "see the error above",
            }),
    }
}

// ------------------------------------------------------------ the daemon's word

fn clock_step_needed(e: &Exchange) -> Verdict {
    let d = e.daemon.as_ref().expect("checked");
    let o = d.clock_offset_s.as_ref().expect("checked");
    Verdict::new(
        Cause::ClockStepNeeded,
        format!(
            "The clock is {:.0} s off: beyond the {PANIC_THRESHOLD:.0} s panic threshold, {} will not correct it.",
            o.value, d.daemon
        ),
        Confidence::High,
    )
    .evidence(format!("offset {:+.3} s{}", o.value, at_suffix(&o.at)))
    .fix(prose::STEP_ONCE)
}

fn daemon_unreachable(e: &Exchange) -> Verdict {
    let d = e.daemon.as_ref().expect("checked");
    let u = d.unreachable.as_ref().expect("checked");
    Verdict::new(
        Cause::DaemonNotRunning,
        format!(
            "{} does not run on this host: its own tool cannot reach it.",
            d.daemon
        ),
        Confidence::High,
    )
    .evidence(format!("{}{}", u.value, at_suffix(&u.at)))
    .fix(Cause::DaemonNotRunning.info().fix)
}

fn daemon_without_sources(e: &Exchange) -> Verdict {
    let d = e.daemon.as_ref().expect("checked");
    let at = d.no_sources.as_ref().expect("checked");
    Verdict::new(
        Cause::NoServersConfigured,
        format!(
            "{} runs but has no time source at all: nothing to synchronize to.",
            d.daemon
        ),
        Confidence::High,
    )
    .evidence(format!("the daemon lists no source{}", at_suffix(at)))
    .fix(Cause::NoServersConfigured.info().fix)
}

/// One evidence line per silent source, the first [`SILENT_SHOWN`]; the
/// rest counted (a pasted table of a million rows gives a verdict, not a
/// million lines).
fn silent_evidence(mut v: Verdict, e: &Exchange) -> Verdict {
    for s in e.silent_sources.iter().take(SILENT_SHOWN) {
        v = v.evidence(format!(
            "{}: {}{}",
            s.value.name,
            s.value.why,
            at_suffix(&s.at)
        ));
    }
    let more = (e.silent_sources.len().saturating_sub(SILENT_SHOWN)) as u64 + e.silent_more;
    if more > 0 {
        v = v.evidence(format!("… and {more} more silent sources"));
    }
    v
}

pub const SILENT_SHOWN: usize = 32;

fn local_clock_only(e: &Exchange) -> Verdict {
    let d = e.daemon.as_ref().expect("checked");
    let l = d.local_clock.as_ref().expect("checked");
    let real = d.sources;
    let summary = if d.answering == 0 {
        format!(
            "{} is synchronized to its own local clock ({}), which follows no real time: none of its {real} real server(s) answers.",
            d.daemon, l.value
        )
    } else {
        format!(
            "{} is synchronized to its own local clock ({}), which follows no real time, although {} real server(s) answer.",
            d.daemon, l.value, d.answering
        )
    };
    let mut v = Verdict::new(Cause::LocalClockOnly, summary, Confidence::High).evidence(format!(
        "system peer: the local clock driver{}",
        at_suffix(&l.at)
    ));
    v = silent_evidence(v, e);
    v.fix(Cause::LocalClockOnly.info().fix)
        .note("its clients see a synchronized server at the local clock's fudged stratum and follow a free-running clock")
}

fn daemon_synchronized(e: &Exchange) -> Verdict {
    let d = e.daemon.as_ref().expect("checked");
    let s = d.synchronized.as_ref().expect("checked");
    let mut v = Verdict::new(
        Cause::Ok,
        match &d.sys_peer {
            Some(p) => format!("{} is synchronized to {p}.", d.daemon),
            None => format!("{} is synchronized.", d.daemon),
        },
        Confidence::High,
    )
    .evidence(format!("the daemon says so{}", at_suffix(&s.at)));
    if let Some(st) = &d.status {
        v = v.evidence(st.clone());
    }
    v
}

// ------------------------------------------------------------ answers

fn kiss(e: &Exchange) -> Verdict {
    let w = &e.who;
    let k = e.kiss.as_ref().expect("checked");
    let code = k.value.code;
    let mut v = Verdict::new(
        Cause::Kod(code),
        format!(
            "{w} refuses service with a Kiss-o'-Death {}: {}.",
            code.text(),
            code.meaning()
        ),
        Confidence::High,
    );
    v = match &k.value.header {
        Some(h) => v.evidence(format!(
            "reply to {}: leap {}, stratum 0, refid {} — a kiss code",
            k.at,
            h.leap.bits(),
            code.text()
        )),
        None => v.evidence(format!("kiss code {}{}", code.text(), at_suffix(&k.at))),
    };
    if k.value.origin_checked {
        v = v.evidence(if e.vantage == Vantage::Probe {
            "its origin timestamp equals our transmit nonce: a genuine KoD, not a spoofed one (RFC 8633 §5.4)"
        } else {
            "its origin timestamp equals the request's transmit timestamp: a genuine KoD, not a spoofed one (RFC 8633 §5.4)"
        });
    }
    if e.requests > 0 {
        v = v.evidence(format!("{} drew this code", of_requests(e.kiss_count, e)));
    }
    if e.wire
        .as_ref()
        .is_some_and(|w| w.polling.short_intervals > 0)
        || too_fast(e)
    {
        v = v.evidence(format!("the client polls fast: {}", polling_line(e)));
    }
    v = v.fix(kiss_fix(code));
    if e.vantage == Vantage::Probe {
        v = match code.action() {
            KissAction::StopSending => v.note(
                "RFC 5905 requires clients to stop sending to this server; ntpdiag sent nothing more",
            ),
            KissAction::ReducePolling => v.note(
                "RFC 5905 requires clients to reduce their polling; ntpdiag sent nothing more",
            ),
            KissAction::None => v,
        };
    }
    v
}

fn asymmetric_path(e: &Exchange) -> Verdict {
    let w = e.wire.as_ref().expect("checked");
    Verdict::new(
        Cause::AsymmetricPath,
        format!("{}: requests are seen twice (leaving the client, reaching the server) but replies only once: they leave the server and do not arrive.", e.who),
        Confidence::Medium,
    )
    .evidence(format!("each request seen up to {} times, each reply once", w.request_sightings_max))
    .fix("the path back drops the replies: a firewall or NAT between the two (stateful rules, asymmetric routing); capture on the client alone to confirm")
}

fn reply_bounced(e: &Exchange) -> Verdict {
    let w = e.wire.as_ref().expect("checked");
    let b = w.reply_bounced.as_ref().expect("checked");
    let v = Verdict::new(
        Cause::ReplyIgnored,
        format!("{}: replies arrive, but the client's host answers them with {}: no socket takes them.", e.who, b.value.error.name()),
        Confidence::High,
    )
    .evidence(format!(
        "{} replies bounced, the first {}: {} from the client {}",
        w.reply_bounced_count,
        b.at,
        b.value.error,
        b.value.offender.map_or("?".into(), |o| o.to_string())
    ))
    .fix("the client closed its socket before the replies came (too short a timeout) or sends from a port it does not read: check the client program; `ss -ulpn` on the client");
    match &e.bogus {
        // A reply that fails the origin test came first: the client took
        // it and closed its socket, so the genuine one bounced.
        Some(bad) if packet_no(&bad.at) < packet_no(&b.at) => v.evidence(format!(
            "before it, a reply with a wrong origin arrived{} ({}): the client {} took that one and closed its socket, so the genuine reply found no socket — a client that does not check origins, fed a spoofed or stale reply",
            at_suffix(&bad.at),
            bad.value.detail,
            e.client.map_or("?".into(), |c| c.to_string())
        )),
        _ => v,
    }
}

fn reply_not_echoed(e: &Exchange) -> Verdict {
    let f = e
        .wire
        .as_ref()
        .and_then(|w| w.echo_missing.as_ref())
        .expect("checked");
    Verdict::new(
        Cause::ReplyIgnored,
        format!("{}: replies reach this capture, but the client's next requests show it never received them.", e.who),
        Confidence::Medium,
    )
    .evidence(format!(
        "{} requests after a reply did not carry that reply's transmit timestamp as their origin, the first {}; a client that got the reply would (classic ntpd and ntpsec do)",
        f.value, f.at
    ))
    .fix("something on the client drops them after the capture point: a local INPUT rule (`iptables -S INPUT`), or a socket/daemon problem")
    .note("judged only for clients that echoed earlier replies (classic ntpd); ntpsec and chrony send zero origins, so for them a local drop shows as no-reply at the client and as replies here")
}

fn polls_too_fast(e: &Exchange) -> Verdict {
    Verdict::new(
        Cause::ClientPollsTooFast,
        format!("{}: the client polls faster than servers allow; expect KoD RATE or dropped requests from rate-limiting servers.", e.who),
        Confidence::High,
    )
    .evidence(polling_line(e))
    .fix(Cause::ClientPollsTooFast.info().fix)
}

/// The best sample's line.
fn stats_line(e: &Exchange) -> String {
    let b = e.best.as_ref().expect("checked");
    let s = b.value.sample;
    format!(
        "{} answered; best sample ({}): offset {}, delay {}, root distance {}",
        of_requests(e.valid, e),
        b.at.label(),
        fmt_secs(s.offset),
        fmt_ms(s.delay * 1000.0),
        fmt_ms(s.root_distance * 1000.0)
    )
}

fn sample_lines(e: &Exchange) -> (String, Option<String>) {
    let b = e.best.as_ref().expect("checked");
    let stats = stats_line(e);
    let server = b.value.header.map(|h| {
        format!(
            "server: stratum {}, leap {} ({}), refid {}, precision 2^{}",
            h.stratum,
            h.leap.bits(),
            h.leap.name(),
            h.reference_id.display(h.stratum),
            h.precision
        )
    });
    (stats, server)
}

fn offset_over_panic(e: &Exchange) -> Verdict {
    let s = e.best.as_ref().expect("checked").value.sample;
    let (stats, server) = sample_lines(e);
    let mut v = Verdict::new(
        Cause::OffsetOverPanic,
        format!(
            "{} gives time, but the clocks differ by {:.1} s, beyond the {PANIC_THRESHOLD:.0} s panic threshold: ntpd exits rather than correct it, unless started with -g.",
            e.who, s.offset
        ),
        Confidence::High,
    )
    .evidence(stats);
    if let Some(l) = server {
        v = v.evidence(l);
    }
    v.evidence(format!(
        "offset {:+.3} s means the server is {} this host",
        s.offset,
        if s.offset > 0.0 { "ahead of" } else { "behind" }
    ))
    .fix("if this host's clock is wrong: step it once (`ntpd -gq`, `chronyc makestep`, or `ntpdig -S <server>`), then start the daemon; ntpd's `-g` allows one big first step")
    .fix("if the server's clock is wrong: fix the server first; compare with a second, independent source")
    .alternative("this host's clock is wrong (dead RTC battery, VM restored from a snapshot)", "other servers show the same offset")
    .alternative("the server's clock is wrong", "other servers disagree with it")
}

fn root_distance(e: &Exchange) -> Verdict {
    let b = e.best.as_ref().expect("checked");
    let (stats, server) = sample_lines(e);
    let mut v = Verdict::new(
        Cause::UpstreamUnsynchronized,
        format!(
            "{} answers, but its root distance is {:.2} s: ntpd rejects sources above {MAXDIST_NTPD} s (tos maxdist), chrony above {MAXDIST_CHRONY} s (maxdistance).",
            e.who, b.value.sample.root_distance
        ),
        Confidence::High,
    )
    .evidence(stats);
    if let Some(l) = server {
        v = v.evidence(l);
    }
    if let Some(h) = b.value.header {
        v = v.evidence(format!(
            "root delay {:.3} s, root dispersion {:.3} s",
            h.root_delay.as_secs_f64(),
            h.root_dispersion.as_secs_f64()
        ));
    }
    v.fix("the server's own synchronization is poor (Windows w32time often reports seconds of dispersion): fix its upstream, or raise `tos maxdist` / chrony `maxdistance` knowingly")
}

fn ok(e: &Exchange) -> Verdict {
    let Some(b) = &e.best else {
        return Verdict::new(
            Cause::Ok,
            format!("{} answers with time.", e.who),
            Confidence::Medium,
        )
        .evidence(format!("{} answered", of_requests(e.valid, e)));
    };
    let s = b.value.sample;
    if e.detail == Detail::Headline {
        return Verdict::new(Cause::Ok, String::new(), Confidence::High).evidence(stats_line(e));
    }
    let (stats, server) = sample_lines(e);
    let mut v = Verdict::new(
        Cause::Ok,
        format!(
            "{} gives good time: offset {}, round trip {}.",
            e.who,
            fmt_secs(s.offset),
            fmt_ms(s.delay * 1000.0)
        ),
        Confidence::High,
    )
    .evidence(stats);
    if let Some(l) = server {
        v = v.evidence(l);
    }
    if let Some(h) = b.value.header {
        if h.root_dispersion.as_secs_f64() + h.root_delay.as_secs_f64() / 2.0 >= MAXDISP {
            v = v.note("root dispersion is very large");
        }
        if h.reference_ts.is_zero() {
            v = v.note(
                "the server's reference time is zero (never set): odd for a synchronized server",
            );
        }
    }
    let answered = e.answered();
    if e.vantage == Vantage::Probe && answered < e.requests {
        v = v.note(format!(
            "{} of {} requests got no usable answer",
            e.requests - answered,
            e.requests
        ));
    }
    if let Some(k) = &e.kiss {
        v = v.note(format!(
            "later requests drew a Kiss-o'-Death {}: the server rate-limits bursts like this probe's ({} ms apart); daemons polling every 64 s or more are not affected, `iburst`/`burst` may be",
            k.value.code.text(),
            e.probe.as_ref().map_or(0, |p| p.interval_ms)
        ));
    }
    if let Some(b) = &e.bogus {
        v = v.evidence(format!(
            "{} reply(ies) failed the origin test (RFC 5905 test 2: spoofed, stale or replayed), the first{}: {}; clients that check origins ignore them",
            e.bogus_count,
            at_suffix(&b.at),
            b.value.detail
        ));
    }
    v
}

/// The packet number of an origin in a capture.
fn packet_no(o: &Origin) -> Option<u64> {
    match o {
        Origin::Packet { no, .. } => Some(*no),
        _ => None,
    }
}

fn refid_meaning(h: &crate::wire::Repr) -> String {
    let refid = h.reference_id;
    match refid.meaning(h.stratum) {
        RefIdMeaning::Kiss(KissCode::Init) | RefIdMeaning::Source(_) if refid.0 == *b"INIT" => {
            "INIT: the server has not synchronized since it started — still starting (ntpd needs a few minutes), or it cannot reach its own servers"
                .to_string()
        }
        RefIdMeaning::Kiss(KissCode::Step) | RefIdMeaning::Source(_) if refid.0 == *b"STEP" => {
            "STEP: the server stepped its clock and has not resynchronized yet".to_string()
        }
        RefIdMeaning::Source(ref s) if s == "XFAC" => {
            "XFAC: the server reset its associations after a network interface change and has not resynchronized".to_string()
        }
        RefIdMeaning::Source(s) => format!("{s}: the server's own description of its state"),
        RefIdMeaning::NoCode(_) => "none (zero): the server has no reference".to_string(),
        RefIdMeaning::Kiss(c) => format!("{}: {}", c.text(), c.meaning()),
        RefIdMeaning::Upstream(a) => format!("{a}: the upstream it last used"),
    }
}

fn unsynchronized(e: &Exchange) -> Verdict {
    let u = e.unsync.as_ref().expect("checked");
    let said = match (u.value.reason, &u.value.header) {
        (Some(r), _) => r.describe().to_string(),
        (None, _) => match (u.value.stratum, &u.value.refid) {
            (Some(0), _) => {
                "stratum 0: a kiss code or, most often, a server not synchronized yet (refid INIT)"
                    .into()
            }
            (Some(s), Some(r)) => format!("stratum {s}, refid {r}"),
            (Some(s), None) => format!("stratum {s}"),
            (None, Some(r)) => format!("refid {r}"),
            (None, None) => "it says so".into(),
        },
    };
    let mut v = Verdict::new(
        Cause::UpstreamUnsynchronized,
        format!(
            "{} answers, but says it is not synchronized itself ({said}). The network and access are fine: the server's own time source is the problem.",
            e.who
        ),
        // Without the packet, "stratum 0" may also be a kiss.
        if u.value.reason.is_none() && u.value.stratum == Some(0) {
            Confidence::Medium
        } else {
            Confidence::High
        },
    );
    match &u.value.header {
        Some(h) => {
            v = v
                .evidence(format!(
                    "reply to {}: leap {}, stratum {}, refid {}",
                    u.at,
                    h.leap.bits(),
                    h.stratum,
                    h.reference_id.display(h.stratum)
                ))
                .evidence(format!("refid {}", refid_meaning(h)));
        }
        None => v = v.evidence(format!("{said}{}", at_suffix(&u.at))),
    }
    if e.requests > 0 {
        v = v.evidence(format!(
            "{} answered this way; origin timestamps match our requests",
            of_requests(e.unsync_count, e)
        ));
    }
    if u.value.reason == Some(UnsyncReason::RootDistance)
        && let Some(h) = &u.value.header
    {
        v = v.evidence(format!(
            "root delay {:.3} s, root dispersion {:.3} s",
            h.root_delay.as_secs_f64(),
            h.root_dispersion.as_secs_f64()
        ));
    }
    v.fix("on the server, see why it is not synchronized: `ntpq -p` / `chronyc sources` there (its own servers unreachable? just started?)")
        .fix("a server meant to serve from its own clock on an isolated network needs it configured: ntpd `tos orphan 10` (or a local refclock), chrony `local stratum 10`")
        .note("ntpd shows such a server as `.INIT.`/`.XFAC.` with stratum 16 and never selects it; `ntpdig` calls stratum 0 a \"probable KOD\"")
}

fn other_address(e: &Exchange) -> Verdict {
    let others: Vec<String> = e
        .other_address
        .iter()
        .map(|f| f.value.to_string())
        .collect();
    let first = &e.other_address[0];
    let server = e
        .server
        .map_or_else(|| "the server".to_string(), |s| s.to_string());
    Verdict::new(
        Cause::ReplyFromOtherAddress,
        format!(
            "Replies to requests sent to {} come back from {} instead: clients that match replies by address (ntpd) or use connected sockets (chrony) drop them.",
            e.who,
            others.join(", ")
        ),
        Confidence::High,
    )
    .evidence(format!(
        "{} were answered from {}; none from {server}",
        of_requests(e.other_address_count, e),
        others.join(", "),
    ))
    .evidence(format!(
        "reply to {}: its origin timestamp equals our nonce, so it does answer our request",
        first.at
    ))
    .fix("on the server, make the daemon answer from the address clients use (ntpd: `interface listen <addr>` / run on one address; chrony: `bindaddress <addr>`)")
    .fix(format!("or point clients at {} directly", others[0]))
    .fix("behind NAT/DNAT: make sure replies are translated back (conntrack for udp/123)")
    .alternative(
        "a multi-homed server answering from its primary address",
        "on the server: `ss -ulpn 'sport = :123'` shows a wildcard socket",
    )
    .alternative(
        "a NAT or load balancer that rewrote the request but not the reply",
        "capture on both sides: the reply's source differs from the request's destination",
    )
}

fn malformed(e: &Exchange) -> Verdict {
    let mut v = Verdict::new(
        Cause::MalformedReply,
        format!(
            "{} sends datagrams that are not valid NTP server replies.",
            e.who
        ),
        Confidence::High,
    );
    for m in &e.malformed {
        v = v.evidence(format!(
            "datagram from {} at {}{}: {}",
            m.value.from.map_or("?".into(), |f| f.to_string()),
            m.at,
            m.value
                .len
                .map_or(String::new(), |l| format!(" ({l} octets)")),
            m.value.detail
        ));
    }
    if e.malformed_count > e.malformed.len() as u64 {
        v = v.evidence(format!("{} such datagrams in all", e.malformed_count));
    }
    let server = e
        .server
        .map_or_else(|| "the server".to_string(), |s| s.to_string());
    v.fix(format!(
        "check that {server} runs an NTP server and not another UDP service"
    ))
    .fix("if it is an NTP server, its software is broken or misconfigured: upgrade or replace it")
}

fn bogus(e: &Exchange) -> Verdict {
    let b = e
        .bogus
        .as_ref()
        .expect("the answers step holds one of its facts");
    Verdict::new(
        Cause::BogusReply,
        format!("{} replies, but its replies do not answer our requests (origin timestamp ≠ our transmit): every NTP client discards them.", e.who),
        Confidence::Medium,
    )
    .evidence(format!(
        "{} datagrams from {} failed the origin test (RFC 5905 test 2)",
        e.bogus_count,
        b.value.from.map_or("?".into(), |f| f.to_string())
    ))
    .evidence(format!("first at {}: {}", b.at, b.value.detail))
    .fix("a server that does not copy the client's transmit timestamp into origin is broken: fix or replace it")
    .fix("behind NAT/load balancers: make sure each client's replies go back to it alone")
    .alternative("a broken server implementation that does not echo the transmit timestamp", "the origin is zero or the server's own time")
    .alternative("replies meant for another client (NAT port reuse, load balancer)", "the origin is a plausible time but not ours")
    .alternative("spoofed packets", "unsolicited replies also arrive when you are not probing (`tcpdump -ni any udp port 123`)")
}

// ------------------------------------------------------------ refused

fn by(i: &Icmp) -> String {
    match (i.offender, i.sender) {
        (Some(o), Sender::Server) => format!("the server itself ({o})"),
        (Some(o), Sender::ClientHost) => format!("this host ({o})"),
        (Some(o), _) => format!("router {o}"),
        (None, _) => "an unknown sender".to_string(),
    }
}

fn nts_ke_counts(k: &crate::diagnose::facts::NtsKe) -> String {
    format!(
        "{} NTS-KE connection(s): {} answered, {} refused by RST, {} by ICMP, {} unanswered ({} SYN(s) sent again)",
        k.connections, k.answered, k.reset, k.icmp_count, k.unanswered, k.syn_retries
    )
}

fn nts_ke_refused(e: &Exchange) -> Verdict {
    let f = e.nts_ke.as_ref().expect("checked");
    let k = &f.value;
    let w = &e.who;
    let (head, evidence) = match &k.icmp {
        Some(i) if k.reset == 0 => (
            format!(
                "{w}: connections to NTS-KE (TCP 4460) are refused with {} from {}.",
                i.error,
                by(i)
            ),
            format!(
                "{} ICMP error(s) quoting SYNs to port 4460, the first {} from {}",
                k.icmp_count,
                i.error,
                i.offender.map_or("?".to_string(), |o| o.to_string())
            ),
        ),
        _ => (
            format!(
                "{w}: connections to NTS-KE (TCP 4460) are refused with a TCP RST from the server's address — nothing listens on 4460 there, or a firewall rejects with tcp-reset."
            ),
            format!("{} SYN(s) to port 4460 answered by RST", k.reset),
        ),
    };
    Verdict::new(Cause::NtsKeRefused, head, Confidence::High)
        .evidence(evidence)
        .evidence(nts_ke_counts(k))
        .fix(Cause::NtsKeRefused.info().fix)
}

fn nts_ke_no_reply(e: &Exchange) -> Verdict {
    let f = e.nts_ke.as_ref().expect("checked");
    let k = &f.value;
    Verdict::new(
        Cause::NtsKeNoReply,
        format!(
            "{}: connections to NTS-KE (TCP 4460) get no answer at all — dropped on the way or at the server, or the host is down.",
            e.who
        ),
        Confidence::Medium,
    )
    .evidence(format!(
        "{} SYN(s) to port 4460 and {} sent again, no SYN-ACK, RST or ICMP error back",
        k.unanswered, k.syn_retries
    ))
    .evidence(nts_ke_counts(k))
    .fix(Cause::NtsKeNoReply.info().fix)
}

fn nts_ke_answered(e: &Exchange) -> Verdict {
    let f = e.nts_ke.as_ref().expect("checked");
    let k = &f.value;
    Verdict::new(
        Cause::Ok,
        format!("{}: NTS-KE (TCP 4460) answers.", e.who),
        Confidence::Medium,
    )
    .evidence(nts_ke_counts(k))
    .fix(Cause::Ok.info().fix)
    .note("a capture sees that the TLS connection was made, not what it carried (the certificate, the KE records)")
}

// ------------------------------------------------------------ NTS (probe --nts)

fn nts(e: &Exchange) -> &NtsClient {
    e.nts.as_ref().expect("checked")
}

fn time_problem(p: &CertProblem) -> bool {
    matches!(
        p,
        CertProblem::Expired { .. } | CertProblem::NotYetValid { .. }
    )
}

fn tls_failed(n: &NtsClient) -> bool {
    match &n.tls {
        Some(TlsOutcome::Failed { .. }) => true,
        Some(TlsOutcome::Done { alpn, .. }) => alpn.as_deref() != Some("ntske/1"),
        None => false,
    }
}

fn ke_error(n: &NtsClient) -> bool {
    n.ke.as_ref().is_some_and(|k| {
        k.problem.is_some()
            || !k.errors.is_empty()
            || !k.unknown_critical.is_empty()
            || !k.next_protocols.as_ref().is_some_and(|p| p.contains(&0))
            || k.aead.as_ref().is_none_or(|a| a.is_empty())
    })
}

/// The NTS client stopped somewhere, or its requests alone went unanswered.
fn nts_failed(e: &Exchange) -> bool {
    let Some(n) = &e.nts else {
        return false;
    };
    matches!(
        n.connect,
        KeConnect::Refused { .. } | KeConnect::NoReply { .. } | KeConnect::Failed { .. }
    ) || n.cert.is_some()
        || tls_failed(n)
        || ke_error(n)
        || n.ke.as_ref().is_some_and(|k| k.cookies == 0)
        || n.ntp.as_ref().is_some_and(|x| {
            x.ntsn > 0
                || (x.sent > 0 && x.authenticated == 0 && (x.unverified > 0 || e.answered() > 0))
        })
}

fn date(unix: i64) -> String {
    humantime::format_rfc3339_seconds(
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(unix.max(0) as u64),
    )
    .to_string()
}

fn cert_lines(n: &NtsClient) -> Vec<String> {
    n.chain
        .iter()
        .enumerate()
        .map(|(i, c)| {
            format!(
                "certificate {}: subject {}, issuer {}{}, valid {} to {}, names {}",
                i,
                c.subject,
                c.issuer,
                if c.self_signed { " (self-signed)" } else { "" },
                date(c.not_before),
                date(c.not_after),
                if c.sans.is_empty() {
                    "none".to_string()
                } else {
                    c.sans.join(" ")
                }
            )
        })
        .collect()
}

fn ke_lines(n: &NtsClient) -> Vec<String> {
    let mut v = Vec::new();
    if let Some(TlsOutcome::Done {
        version,
        suite,
        alpn,
    }) = &n.tls
    {
        v.push(format!(
            "TLS with {}: {version}, {suite}, ALPN {}",
            n.ke_server,
            alpn.as_deref().unwrap_or("none")
        ));
    }
    if let Some(k) = &n.ke {
        let list = |l: &Option<Vec<u16>>| {
            l.as_ref().map_or("absent".to_string(), |x| {
                if x.is_empty() {
                    "empty".to_string()
                } else {
                    x.iter()
                        .map(|i| i.to_string())
                        .collect::<Vec<_>>()
                        .join(",")
                }
            })
        };
        v.push(format!(
            "NTS-KE answer: {} record(s), next protocol {}, AEAD {}, {} cookie(s){}{}{}",
            k.received.len(),
            list(&k.next_protocols),
            list(&k.aead),
            k.cookies,
            k.cookie_len
                .map(|l| format!(" of {l} octets"))
                .unwrap_or_default(),
            k.server
                .as_ref()
                .map(|s| format!(", NTP server {s}"))
                .unwrap_or_default(),
            k.port
                .map(|p| format!(", NTP port {p}"))
                .unwrap_or_default()
        ));
        if k.cookie_lens_differ {
            v.push("the cookies are not all of one length: ntpsec refuses such a jar (\"NTSc: Cookie length mismatch\")".to_string());
        }
    }
    v
}

fn ntp_line(n: &NtsClient) -> Option<String> {
    let x = n.ntp.as_ref()?;
    Some(format!(
        "NTS requests ({} octets) to {}: {} sent, {} authenticated, {} NTSN, {} not authentic{}",
        x.request_len,
        x.address.map_or("?".to_string(), |a| a.to_string()),
        x.sent,
        x.authenticated,
        x.ntsn,
        x.unverified,
        x.first_unverified
            .as_ref()
            .map(|r| format!(" (first: {r})"))
            .unwrap_or_default()
    ))
}

/// The NTS lines added to a verdict another step made.
fn nts_summary(n: &NtsClient) -> Vec<String> {
    let mut v = ke_lines(n);
    v.extend(ntp_line(n));
    v
}

fn nts_refused(e: &Exchange) -> Verdict {
    let n = nts(e);
    let KeConnect::Refused {
        icmp,
        icmp_readable,
        error,
    } = &n.connect
    else {
        unreachable!("checked")
    };
    let (head, ev) = match icmp {
        Some(i) => (
            format!(
                "{}: NTS-KE (TCP {}) is refused with {} from {}.",
                e.who,
                n.ke_server.port(),
                i.error,
                by(i)
            ),
            format!(
                "the connection to {} failed ({error}); the ICMP error quoting our SYN came from {}",
                n.ke_server,
                i.offender.map_or("?".to_string(), |o| o.to_string())
            ),
        ),
        None => (
            format!(
                "{}: NTS-KE (TCP {}) is refused: nothing listens there, or a firewall rejects the connection.",
                e.who,
                n.ke_server.port()
            ),
            if *icmp_readable {
                format!(
                    "the connection to {} failed at once: {error}, and no ICMP error quoted our SYN: a TCP RST",
                    n.ke_server
                )
            } else {
                format!(
                    "the connection to {} failed at once: {error} (a TCP RST, or an ICMP error this host could not read without root)",
                    n.ke_server
                )
            },
        ),
    };
    let mut v = Verdict::new(Cause::NtsKeRefused, head, Confidence::High).evidence(ev);
    if e.answered() > 0 {
        v = v.evidence(format!(
            "plain NTP with the same host is answered ({} of {} requests): only NTS is refused",
            e.answered(),
            e.requests
        ));
    }
    v.fix(Cause::NtsKeRefused.info().fix)
}

fn nts_refused_here(e: &Exchange) -> Verdict {
    let n = nts(e);
    let KeConnect::Refused {
        icmp: Some(i),
        error,
        ..
    } = &n.connect
    else {
        unreachable!("checked")
    };
    Verdict::new(
        Cause::LocalFirewallBlocksNtp,
        format!(
            "{}: this host's firewall rejects the connection to NTS-KE (TCP {}).",
            e.who,
            n.ke_server.port()
        ),
        Confidence::High,
    )
    .evidence(format!(
        "the connection to {} failed ({error}); the {} quoting our SYN came from this host ({})",
        n.ke_server,
        i.error,
        i.offender.map_or("?".to_string(), |o| o.to_string())
    ))
    .fix("allow TCP 4460 out: `iptables -I OUTPUT -p tcp --dport 4460 -j ACCEPT` (and udp/123 for the NTP that follows)")
    .fix(Cause::LocalFirewallBlocksNtp.info().fix)
}

fn nts_local(e: &Exchange) -> Verdict {
    let n = nts(e);
    let KeConnect::Failed { error } = &n.connect else {
        unreachable!("checked")
    };
    let cause = local_cause(error.kind);
    let head = match cause {
        Cause::LocalFirewallBlocksNtp => format!(
            "{}: this host's firewall refuses the connection to NTS-KE (TCP {}).",
            e.who,
            n.ke_server.port()
        ),
        _ => format!(
            "{}: the connection to NTS-KE (TCP {}) failed on this host: {}.",
            e.who,
            n.ke_server.port(),
            error.message
        ),
    };
    let mut v = Verdict::new(cause, head, Confidence::High).evidence(format!(
        "{} {} failed: {}",
        error.op, error.target, error.message
    ));
    if cause == Cause::LocalFirewallBlocksNtp {
        v = v
            .evidence("EPERM: an OUTPUT rule (iptables/nftables) dropped or rejected the SYN")
            .fix("allow TCP 4460 out: `iptables -I OUTPUT -p tcp --dport 4460 -j ACCEPT` (and udp/123 for the NTP that follows)");
    }
    v.fix(cause.info().fix)
}

fn nts_no_reply(e: &Exchange) -> Verdict {
    let n = nts(e);
    let KeConnect::NoReply { waited_s } = &n.connect else {
        unreachable!("checked")
    };
    let mut v = Verdict::new(
        Cause::NtsKeNoReply,
        format!(
            "{}: NTS-KE (TCP {}) gets no answer at all: dropped on the way or at the server.",
            e.who,
            n.ke_server.port()
        ),
        Confidence::High,
    )
    .evidence(format!(
        "no SYN-ACK, RST or ICMP error from {} in {waited_s:.1} s",
        n.ke_server
    ));
    v = if e.answered() > 0 {
        v.evidence(format!(
            "plain NTP with the same host is answered ({} of {} requests): the host is up and only TCP {} is dropped",
            e.answered(),
            e.requests,
            n.ke_server.port()
        ))
    } else {
        v.evidence("plain NTP with the same host is not answered either: the host may be down or all of it filtered")
    };
    v.fix(Cause::NtsKeNoReply.info().fix)
        .note("a DROP rule in this host's own OUTPUT chain looks the same from here (TCP reports no error for it): `iptables -S OUTPUT`")
}

fn true_time_line(c: &crate::diagnose::facts::CertCheck) -> String {
    match &c.at_true_time {
        Some(t) => format!(
            "an unauthenticated NTP exchange with the same host puts its clock {:+.0} s from this host's; at that time the chain {}",
            t.offset_s,
            if t.valid {
                "verifies".to_string()
            } else {
                format!(
                    "is refused too ({})",
                    t.detail.as_deref().unwrap_or("?")
                )
            }
        ),
        None => "no unauthenticated NTP answer from the same host: the server's time is unknown, so whether this host's clock is right could not be checked".to_string(),
    }
}

fn local_clock_wrong(e: &Exchange) -> Verdict {
    let n = nts(e);
    let c = n.cert.as_ref().expect("checked");
    let t = c.at_true_time.as_ref().expect("checked");
    let what = match &c.problem {
        CertProblem::Expired { now, .. } => format!("expired at this host's time ({})", date(*now)),
        CertProblem::NotYetValid { now, .. } => {
            format!("not yet valid at this host's time ({})", date(*now))
        }
        _ => unreachable!("checked"),
    };
    let mut v = Verdict::new(
        Cause::LocalClockWrong,
        format!(
            "{}: this machine's clock is {} off: the NTS certificate is {what}, but valid at the time the server gives.",
            e.who,
            humantime::format_duration(std::time::Duration::from_secs(t.offset_s.abs().round() as u64))
        ),
        Confidence::High,
    )
    .evidence(true_time_line(c));
    for l in cert_lines(n) {
        v = v.evidence(l);
    }
    v.fix(Cause::LocalClockWrong.info().fix)
}

fn certificate(e: &Exchange) -> Verdict {
    let n = nts(e);
    let c = n.cert.as_ref().expect("checked");
    // Refused for its dates here, and for something else at the server's
    // time: that something else is what setting the clock would not fix.
    let problem = match &c.at_true_time {
        Some(t) if !t.valid => match &t.problem {
            Some(p) if !time_problem(p) => p,
            _ => &c.problem,
        },
        _ => &c.problem,
    };
    let (cause, head) = match problem {
        CertProblem::Expired { not_after, .. } => (
            Cause::NtsCertificateExpired,
            format!(
                "{}: the NTS-KE server's certificate expired{}.",
                e.who,
                not_after
                    .map(|t| format!(" on {}", date(t)))
                    .unwrap_or_default()
            ),
        ),
        CertProblem::NotYetValid { not_before, .. } => (
            Cause::NtsCertificateNotYetValid,
            format!(
                "{}: the NTS-KE server's certificate is not valid yet{}.",
                e.who,
                not_before
                    .map(|t| format!(" (from {})", date(t)))
                    .unwrap_or_default()
            ),
        ),
        CertProblem::Untrusted { detail } => (
            Cause::NtsCertificateUntrusted,
            format!(
                "{}: the NTS-KE server's certificate is not trusted here: {detail}.",
                e.who
            ),
        ),
        CertProblem::NameMismatch {
            expected,
            presented,
        } => (
            Cause::NtsCertificateNameMismatch,
            format!(
                "{}: the NTS-KE server's certificate is not for {}{}.",
                e.who,
                if expected.is_empty() {
                    &n.name
                } else {
                    expected
                },
                if presented.is_empty() {
                    String::new()
                } else {
                    format!(" (it names {})", presented.join(", "))
                }
            ),
        ),
    };
    let mut v = Verdict::new(cause, head, Confidence::High);
    if time_problem(&c.problem) {
        v = v.evidence(true_time_line(c));
    }
    for l in cert_lines(n) {
        v = v.evidence(l);
    }
    if matches!(problem, CertProblem::Untrusted { .. }) {
        v = v.evidence(format!("trusted here: {}", n.trust.join("; ")));
    }
    v.fix(cause.info().fix)
}

fn nts_tls_failed(e: &Exchange) -> Verdict {
    let n = nts(e);
    let (head, ev) = match &n.tls {
        Some(TlsOutcome::Failed {
            no_tls13: true,
            detail,
            ..
        }) => (
            "the NTS-KE server does not speak TLS 1.3, which NTS requires".to_string(),
            format!("TLS alert: {detail}"),
        ),
        Some(TlsOutcome::Failed {
            no_alpn: true,
            detail,
            ..
        }) => (
            "the NTS-KE server refuses ALPN ntske/1".to_string(),
            format!("TLS alert: {detail}"),
        ),
        Some(TlsOutcome::Failed {
            cut: true, detail, ..
        }) => (
            "the TLS handshake on the NTS-KE port does not finish".to_string(),
            detail.clone(),
        ),
        Some(TlsOutcome::Failed { detail, .. }) => (
            "the TLS handshake on the NTS-KE port fails".to_string(),
            detail.clone(),
        ),
        Some(TlsOutcome::Done { version, alpn, .. }) => (
            "the NTS-KE server completes TLS without selecting ALPN ntske/1 (RFC 8915 §4: the client must stop)".to_string(),
            format!(
                "{version}, ALPN selected: {}",
                alpn.as_deref().unwrap_or("none")
            ),
        ),
        None => unreachable!("checked"),
    };
    let v = Verdict::new(
        Cause::NtsTlsFailed,
        format!("{}: {head}.", e.who),
        Confidence::High,
    )
    .evidence(format!("{} (port {})", ev, n.ke_server.port()));
    v.fix(Cause::NtsTlsFailed.info().fix)
}

fn nts_ke_error(e: &Exchange) -> Verdict {
    let n = nts(e);
    let k = n.ke.as_ref().expect("checked");
    let head = if let Some(code) = k.errors.first() {
        format!(
            "the NTS-KE server answered with Error {code} ({})",
            crate::wire::nts_ke::error_name(*code)
        )
    } else if let Some(p) = &k.problem {
        format!("the NTS-KE answer cannot be used: {p}")
    } else if !k.unknown_critical.is_empty() {
        format!(
            "the NTS-KE answer has critical records this client does not know ({:?})",
            k.unknown_critical
        )
    } else if !k.next_protocols.as_ref().is_some_and(|p| p.contains(&0)) {
        "the NTS-KE server offers no NTPv4 (Next Protocol 0)".to_string()
    } else {
        "the NTS-KE server shares no AEAD algorithm with this client (it offered AEAD_AES_SIV_CMAC_256, 15)".to_string()
    };
    let mut v = Verdict::new(
        Cause::NtsKeError,
        format!("{}: {head}.", e.who),
        Confidence::High,
    );
    for l in ke_lines(n) {
        v = v.evidence(l);
    }
    v.fix(Cause::NtsKeError.info().fix)
}

fn nts_no_cookies(e: &Exchange) -> Verdict {
    let n = nts(e);
    let mut v = Verdict::new(
        Cause::NtsNoCookies,
        format!(
            "{}: the NTS-KE server completed the key exchange but gave no cookies.",
            e.who
        ),
        Confidence::High,
    );
    for l in ke_lines(n) {
        v = v.evidence(l);
    }
    v.fix(Cause::NtsNoCookies.info().fix)
}

fn nts_ntsn(e: &Exchange) -> Verdict {
    let n = nts(e);
    let x = n.ntp.as_ref().expect("checked");
    let code = crate::wire::KissCode::Ntsn;
    let mut v = Verdict::new(
        Cause::Kod(code),
        format!(
            "{}: the server answers NTS requests with the kiss NTSN: {}.",
            e.who,
            code.meaning()
        ),
        Confidence::High,
    )
    .evidence(format!(
        "{} of {} NTS request(s) drew NTSN, with cookies from the key exchange just made",
        x.ntsn, x.sent
    ));
    for l in ke_lines(n) {
        v = v.evidence(l);
    }
    v.fix(kiss_fix(code))
}

fn nts_not_authentic(e: &Exchange) -> Verdict {
    let n = nts(e);
    let x = n.ntp.as_ref().expect("checked");
    let mut v = Verdict::new(
        Cause::NtsReplyNotAuthentic,
        format!(
            "{}: NTS-protected requests are answered, but not with NTS: {}.",
            e.who,
            x.first_unverified
                .as_deref()
                .unwrap_or("the replies do not verify")
        ),
        Confidence::High,
    )
    .evidence(ntp_line(n).unwrap_or_default());
    for l in ke_lines(n) {
        v = v.evidence(l);
    }
    v.fix(Cause::NtsReplyNotAuthentic.info().fix)
}

fn nts_packets_dropped(e: &Exchange) -> Verdict {
    let n = nts(e);
    let x = n.ntp.as_ref().expect("checked");
    let mut v = Verdict::new(
        Cause::NtsPacketsDropped,
        format!(
            "{}: NTS-protected requests ({} octets) vanish while plain ones (48 octets) to the same address are answered.",
            e.who, x.request_len
        ),
        Confidence::High,
    )
    .evidence(format!(
        "plain NTP: {} of {} requests answered",
        e.answered(),
        e.requests
    ));
    v = v.evidence(ntp_line(n).unwrap_or_default());
    for l in ke_lines(n) {
        v = v.evidence(l);
    }
    v.fix(Cause::NtsPacketsDropped.info().fix)
}

fn refused(e: &Exchange) -> Verdict {
    let w = &e.who;
    let f = e.icmp.as_ref().expect("checked");
    let i = &f.value;
    let by = by(i);
    let from_server = i.sender == Sender::Server;
    let dest = e
        .server
        .map_or_else(|| "<server>".to_string(), |a| a.ip().to_string());
    let seen = match &f.at {
        Origin::Request { n, .. } => format!(
            "request {n} → {} from {}{}",
            i.error,
            i.offender.map_or("?".to_string(), |o| o.to_string()),
            i.rtt_ms
                .map_or(String::new(), |t| format!(" after {}", fmt_ms(t)))
        ),
        at => format!(
            "{} from {}, the first {at}",
            i.error,
            i.offender.map_or("?".to_string(), |o| o.to_string())
        ),
    };
    let stopped = e
        .probe
        .as_ref()
        .is_some_and(|p| e.requests < u64::from(p.samples));
    let count_line = format!(
        "{} drew ICMP errors; no NTP reply{}",
        if e.requests > 0 {
            format!("{} of {} requests", e.icmp_count, e.requests)
        } else {
            format!("{} requests", e.icmp_count)
        },
        if stopped {
            " (ntpdiag stopped sending after the first error)"
        } else {
            ""
        }
    );
    match i.error.kind() {
        IcmpKind::PortUnreachable => {
            let v = Verdict::new(
                Cause::PortUnreachable,
                if from_server {
                    format!("{w} is up but refuses udp/123: ICMP port unreachable came back from the server itself — nothing listens on port 123 there, or a REJECT rule answers for it.")
                } else {
                    format!("{w}: ICMP port unreachable came back from {by}, on the server's behalf — a REJECT rule there, or nothing listens on port 123.")
                },
                Confidence::High,
            )
            .evidence(seen)
            .evidence(count_line)
            .alternative(
                "no NTP daemon listens on udp/123 (ntpd/chronyd stopped or crashed, or bound to other addresses: ntpd `interface ignore`, chrony `bindaddress`/`port 0`)",
                "on the server: `ss -ulpn 'sport = :123'` lists no socket for this address",
            )
            .alternative(
                "a firewall REJECT rule (iptables' default reject is icmp-port-unreachable)",
                "on the server: `iptables -S INPUT | grep -i reject`, `nft list ruleset | grep reject`; the daemon is running",
            )
            .fix("start the NTP daemon on the server (`systemctl start ntpsec` / `chronyd`) and check it listens on this address")
            .fix("or remove the REJECT rule for udp/123 (`iptables -I INPUT -p udp --dport 123 -j ACCEPT`)");
            if from_server {
                v
            } else {
                v.note(format!("the error came from {by}, not from the server: a firewall on the path imitates port unreachable"))
            }
        }
        IcmpKind::AdminProhibited => Verdict::new(
            Cause::AdminProhibited,
            format!("A firewall on {by} rejects udp/123 to {w}: ICMP {}.", i.error.name()),
            Confidence::High,
        )
        .evidence(seen)
        .evidence(count_line)
        .evidence(
            "administratively prohibited is what `REJECT --reject-with icmp-admin-prohibited`/`icmp-host-prohibited`, nft `reject with icmp type admin-prohibited` and firewalld's default reject send",
        )
        .fix(format!(
            "on {}: allow udp/123 (firewalld: `firewall-cmd --add-service=ntp --permanent && firewall-cmd --reload`; iptables: `iptables -I INPUT -p udp --dport 123 -j ACCEPT`)",
            if from_server { "the server".to_string() } else { by.clone() }
        )),
        IcmpKind::HostUnreachable => {
            let v = Verdict::new(
                Cause::HostUnreachable,
                if i.sender == Sender::ClientHost {
                    format!("This host cannot deliver to {w}: no answer to ARP/neighbour discovery — the server is down, or not at that address on this link.")
                } else {
                    format!("{by} cannot deliver to {w}: the server is down or absent on that router's link, or the router has an `unreachable` route.")
                },
                Confidence::High,
            )
            .evidence(seen)
            .evidence(count_line);
            if i.sender == Sender::ClientHost {
                v.fix(format!("check the server is up and has address {dest}; `ip neigh show {dest}` here"))
            } else {
                v.fix("check that the server is up and that its address is right")
                    .fix(format!("on {by}: `ip route get {dest}` and `ip neigh show {dest}`"))
            }
        }
        IcmpKind::NetUnreachable => Verdict::new(
            Cause::NetUnreachable,
            format!("{by} has no route to {w}'s network."),
            Confidence::High,
        )
        .evidence(seen)
        .evidence(count_line)
        .fix(format!("fix routing on {by} (`ip route get {dest}` there), or use a server on a reachable network")),
        IcmpKind::TimeExceeded => Verdict::new(
            Cause::NetUnreachable,
            format!("Requests to {w} loop in the network: {by} reported {}.", i.error.name()),
            Confidence::Medium,
        )
        .evidence(seen)
        .fix("a routing loop between routers: check `traceroute -U -p 123` to the server"),
        _ => Verdict::new(
            Cause::NetUnreachable,
            format!("{by} could not deliver the request to {w}: {}.", i.error),
            Confidence::Medium,
        )
        .evidence(seen)
        .evidence(count_line)
        .fix("check the path to the server (`tracepath`, `traceroute -U -p 123`)"),
    }
}

// ------------------------------------------------------------ silence

fn not_synchronized_yet(e: &Exchange) -> Verdict {
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

fn no_majority(e: &Exchange) -> Verdict {
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

fn pending(e: &Exchange) -> Verdict {
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

fn replies_cut(e: &Exchange) -> Verdict {
    let w = e.wire.as_ref().expect("checked");
    Verdict::new(
        Cause::Ok,
        format!("{}: {} replies came back, but the capture's snap length cut them: they could not be checked.", e.who, w.replies_cut),
        Confidence::Low,
    )
    .note("capture again with a larger snap length (tcpdump -s 0) to have the replies judged")
}

fn only_server_side(e: &Exchange) -> Verdict {
    Verdict::new(
        Cause::Ok,
        format!("{}: only server-side traffic in the capture.", e.who),
        Confidence::Low,
    )
    .note("no requests seen: the capture holds only one direction, or it began mid-conversation")
}

fn no_reply(e: &Exchange) -> Verdict {
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
        v.confidence = Confidence::High;
        return v
            .alternative(FW_DROPS, FW_TELL)
            .alternative(RESTRICT, RESTRICT_TELL)
            .alternative(LOCAL_DROP, LOCAL_DROP_TELL)
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
            v.alternative(DOWN, DOWN_TELL)
                .alternative(FW_DROPS, "a host behind a firewall still answers ARP; only a host that is off or absent does not")
                .fix(format!("check that the server is up and has address {ip}"))
        }
        Some(n) if n.answered() => {
            v.summary = format!(
                "{w} never answered: the host is on the link (it answers ARP/ND) but silently drops everything sent to it."
            );
            v.confidence = Confidence::Medium;
            v.alternative(
                "a firewall on the server drops all inbound traffic by default (policy DROP), udp/123 included",
                FW_TELL,
            )
            .alternative(RESTRICT, RESTRICT_TELL)
            .alternative(LOCAL_DROP, LOCAL_DROP_TELL)
            .fix(ALLOW_NTP)
        }
        _ => {
            // A daemon's reach register covers 8 polls: silence over minutes.
            if e.silent_sources.iter().any(|s| s.value.over_polls) {
                v.confidence = Confidence::Medium;
            }
            let v = v
                .alternative(FW_DROPS, FW_TELL)
                .alternative(RESTRICT, RESTRICT_TELL)
                .alternative(DOWN, DOWN_TELL)
                .alternative(LOCAL_DROP, LOCAL_DROP_TELL);
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
        .alternative("an ISP or firewall rule against source port 123 (anti-amplification filters)", "probe other servers from port 123: all fail the same way")
        .alternative("a NAT that keeps source port 123 for one host only", "a second host behind the same NAT fails while the first works");
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::facts::{CertCheck, NtsClient, TrueTimeCheck};

    fn nts_cert(problem: CertProblem, at_true: Option<TrueTimeCheck>) -> Exchange {
        let mut x = Exchange::new(Vantage::Probe, "ntp.test (198.51.100.1:123)");
        x.nts = Some(NtsClient {
            ke_server: "198.51.100.1:4460".parse().unwrap(),
            name: "ntp.test".into(),
            trust: vec![],
            connect: KeConnect::Connected { ms: 1.0 },
            tls: None,
            chain: vec![],
            cert: Some(CertCheck {
                problem,
                at_true_time: at_true,
            }),
            ke: None,
            ntp: None,
        });
        x
    }

    fn check(valid: bool, problem: Option<CertProblem>) -> Option<TrueTimeCheck> {
        Some(TrueTimeCheck {
            offset_s: 172_800.0,
            valid,
            detail: None,
            problem,
        })
    }

    /// The certificate's dates against this host's clock and the server's:
    /// valid at the server's time is this host's clock; refused there for
    /// another reason is that reason; no server time leaves the dates.
    #[test]
    fn certificate_dates_against_the_servers_time() {
        let early = CertProblem::NotYetValid {
            now: 0,
            not_before: Some(100),
        };
        let d = |x: &Exchange| decide(x).cause;
        assert_eq!(
            d(&nts_cert(early.clone(), check(true, None))),
            Cause::LocalClockWrong
        );
        let untrusted = CertProblem::Untrusted {
            detail: "BadSignature".into(),
        };
        assert_eq!(
            d(&nts_cert(early.clone(), check(false, Some(untrusted)))),
            Cause::NtsCertificateUntrusted
        );
        let later = CertProblem::Expired {
            now: 0,
            not_after: Some(0),
        };
        assert_eq!(
            d(&nts_cert(early.clone(), check(false, Some(later)))),
            Cause::NtsCertificateNotYetValid
        );
        let v = decide(&nts_cert(early, None));
        assert_eq!(v.cause, Cause::NtsCertificateNotYetValid);
        assert!(
            v.evidence
                .iter()
                .any(|e| e.contains("server's time is unknown"))
        );
    }

    #[test]
    fn every_step_ends_in_a_rule_that_always_applies() {
        for s in STEPS {
            let last = s.rules.last().unwrap();
            assert!(std::ptr::fn_addr_eq(last.when, ALWAYS), "{}", s.name);
        }
        assert!(std::ptr::fn_addr_eq(STEPS.last().unwrap().applies, ALWAYS));
    }

    #[test]
    fn every_rule_names_causes_in_the_table() {
        for s in STEPS {
            for r in s.rules {
                for name in r.names.split(", ") {
                    if name.ends_with('*') {
                        let prefix = name.trim_end_matches('*');
                        assert!(
                            Cause::table().iter().any(|i| i.id.starts_with(prefix)),
                            "{name}"
                        );
                    } else {
                        assert!(Cause::from_id(name).is_some(), "{name}");
                    }
                }
            }
        }
    }
}

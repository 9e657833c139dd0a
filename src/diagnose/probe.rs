//! Probe evidence → verdict. A pure function: same evidence, same verdict.
//!
//! The rules go from what is certain to what is inferred, phase by phase
//! (local system → answers → ICMP errors → silence), and the first that
//! applies gives the cause. Each verdict says what was seen (packet numbers,
//! times, addresses), how sure it is, and what to do.

use super::evidence::{IcmpSeen, Reply, TargetEvidence};
use super::verdict::{Cause, Confidence, Verdict};
use crate::engine::exchange::{BogusReason, MAXDISP, PANIC_THRESHOLD, ReplyClass, UnsyncReason};
use crate::engine::local::{LocalError, LocalErrorKind};
use crate::engine::probe::{EventKind, Outcome, Purpose};
use crate::wire::KissCode;
use crate::wire::icmp::IcmpKind;
use crate::wire::refid::RefIdMeaning;

/// Root distance above which ntpsec (`tos maxdist`, default 1.5 s) rejects a
/// source; chrony's `maxdistance` default is 3 s.
pub const MAXDIST_NTPSEC: f64 = 1.5;

fn who(ev: &TargetEvidence) -> String {
    if ev.host == ev.address.ip().to_string() || ev.host == ev.address.to_string() {
        ev.address.to_string()
    } else {
        format!("{} ({})", ev.host, ev.address)
    }
}

fn fmt_ms(v: f64) -> String {
    if v < 1.0 {
        format!("{v:.3} ms")
    } else {
        format!("{v:.1} ms")
    }
}

fn fmt_secs(v: f64) -> String {
    let a = v.abs();
    if a >= 1.0 {
        format!("{v:+.3} s")
    } else {
        format!("{:+.3} ms", v * 1000.0)
    }
}

/// Diagnoses one probed address.
pub fn diagnose(ev: &TargetEvidence) -> Verdict {
    if let Some(e) = &ev.setup_error {
        return local_failure(ev, e, "setting up the probe socket");
    }
    let replies = ev.replies();
    let icmps = ev.icmps();
    let failures = ev.send_failures();
    let sent = ev.requests_sent();
    if !failures.is_empty() && replies.is_empty() && icmps.is_empty() {
        return local_failure(ev, failures[0], "sending the request");
    }
    if let Some(v) = from_replies(ev, &replies, sent) {
        return v;
    }
    let ntp_icmps: Vec<&IcmpSeen> = icmps
        .iter()
        .filter(|i| matches!(i.matched, Some(Purpose::Sample(_))))
        .collect();
    if let Some(first) = ntp_icmps.first() {
        return from_icmp(ev, first, ntp_icmps.len(), sent);
    }
    no_reply(ev, &replies, sent)
}

fn local_failure(ev: &TargetEvidence, e: &LocalError, doing: &str) -> Verdict {
    let w = who(ev);
    let seen = format!("{} failed while {doing}: {}", e.op, e);
    match e.kind {
        LocalErrorKind::AddressInUse => Verdict::new(
            Cause::LocalPortInUse,
            format!("Cannot send from {}: the port is already held by another socket on this host.", e.target),
            Confidence::High,
        )
        .evidence(seen)
        .evidence("EADDRINUSE: typically a local ntpd or chronyd owns udp/123")
        .fix("see who holds it: `ss -ulpn 'sport = :123'`")
        .fix("probe from a random port (drop --source-port), or query the local daemon (`ntpq -p`, `chronyc sources`)"),
        LocalErrorKind::PermissionDenied => Verdict::new(
            Cause::LocalPermissionDenied,
            format!("Not allowed to {} {}: ports below 1024 need root or CAP_NET_BIND_SERVICE.", e.op, e.target),
            Confidence::High,
        )
        .evidence(seen)
        .fix("run as root (sudo), or grant the binary CAP_NET_BIND_SERVICE, or probe from a random port"),
        LocalErrorKind::SendNotPermitted => Verdict::new(
            Cause::LocalFirewallBlocksNtp,
            format!("This host's firewall refused to send to {w}: sendto() returned EPERM."),
            Confidence::High,
        )
        .evidence(seen)
        .evidence("EPERM on a UDP send comes from a local netfilter rule (OUTPUT chain) that drops or rejects it")
        .fix("list the rules: `iptables -S OUTPUT`, `ip6tables -S OUTPUT`, `nft list ruleset`")
        .fix("allow NTP out: `iptables -I OUTPUT -p udp --dport 123 -j ACCEPT`"),
        LocalErrorKind::NetworkUnreachable => Verdict::new(
            Cause::NetUnreachable,
            format!("This host has no route to {w} (ENETUNREACH): the request never left."),
            Confidence::High,
        )
        .evidence(seen)
        .fix(format!("check the routing table: `ip route get {}`", ev.address.ip()))
        .fix("add a default route or a route to the server's network"),
        LocalErrorKind::HostUnreachable => Verdict::new(
            Cause::HostUnreachable,
            format!("This host cannot reach {w} (EHOSTUNREACH): no neighbour answer, or an `unreachable` route."),
            Confidence::High,
        )
        .evidence(seen)
        .fix(format!("check `ip route get {}` and `ip neigh show {}`", ev.address.ip(), ev.address.ip())),
        _ => Verdict::new(Cause::LocalError, format!("Could not probe {w}: {e}."), Confidence::High)
            .evidence(seen)
            .fix(match e.kind {
                LocalErrorKind::FamilyNotSupported => "this host has no support for the address family: probe with -4 or -6",
                LocalErrorKind::AddressNotAvailable => "the local address is not configured on this host",
                _ => "see the error above",
            }),
    }
}

fn from_replies(ev: &TargetEvidence, replies: &[Reply], sent: usize) -> Option<Verdict> {
    let w = who(ev);
    let genuine: Vec<&Reply> = replies
        .iter()
        .filter(|r| r.class().answers_request() && !r.other_address)
        .collect();
    let elsewhere: Vec<&Reply> = replies
        .iter()
        .filter(|r| r.class().answers_request() && r.other_address)
        .collect();
    let answered = genuine.len();

    // 1. A genuine reply with good time, and the first answer was good.
    let valid: Vec<&&Reply> = genuine
        .iter()
        .filter(|r| *r.class() == ReplyClass::Valid)
        .collect();
    if genuine
        .first()
        .is_some_and(|r| *r.class() == ReplyClass::Valid)
    {
        return Some(ok_or_offset(ev, &valid, answered, sent, replies));
    }
    // 2. A genuine Kiss-o'-Death.
    if let Some(k) = genuine
        .iter()
        .find(|r| matches!(r.class(), ReplyClass::Kiss(_)))
    {
        let ReplyClass::Kiss(code) = *k.class() else {
            unreachable!()
        };
        let n = genuine
            .iter()
            .filter(|r| *r.class() == ReplyClass::Kiss(code))
            .count();
        let h = k.judgement.header.expect("a kiss has a header");
        let v = Verdict::new(
            Cause::Kod(code),
            format!("{w} refuses service with a Kiss-o'-Death {}: {}.", code.text(), code.meaning()),
            Confidence::High,
        )
        .evidence(format!(
            "reply to request {} at {}: leap {}, stratum 0, refid {} — a kiss code",
            k.matched.unwrap_or(0),
            fmt_ms(k.at_ms),
            h.leap.bits(),
            code.text()
        ))
        .evidence("its origin timestamp equals our transmit nonce: a genuine KoD, not a spoofed one (RFC 8633 §5.4)")
        .evidence(format!("{n} of {sent} requests drew this code"))
        .fix(code.fix());
        let v = match code.action() {
            crate::wire::kiss::KissAction::StopSending => {
                v.note("RFC 5905 requires clients to stop sending to this server; ntpdiag sent nothing more")
            }
            crate::wire::kiss::KissAction::ReducePolling => {
                v.note("RFC 5905 requires clients to reduce their polling; ntpdiag sent nothing more")
            }
            crate::wire::kiss::KissAction::None => v,
        };
        return Some(v);
    }
    // 3. Genuine answers, but the server has no good time.
    if let Some(u) = genuine
        .iter()
        .find(|r| matches!(r.class(), ReplyClass::Unsynchronized(_)))
    {
        return Some(unsynchronized(ev, u, &genuine, sent));
    }
    // 4. A good reply that was not the first (e.g. first was a duplicate/odd).
    if !valid.is_empty() {
        return Some(ok_or_offset(ev, &valid, answered, sent, replies));
    }
    // 5. Answers to our requests, from a different address.
    if let Some(r) = elsewhere.first() {
        let others: Vec<String> = {
            let mut v: Vec<String> = elsewhere.iter().map(|r| r.from.to_string()).collect();
            v.dedup();
            v
        };
        return Some(
            Verdict::new(
                Cause::ReplyFromOtherAddress,
                format!(
                    "Replies to requests sent to {w} come back from {} instead: clients that match replies by address (ntpd) or use connected sockets (chrony) drop them.",
                    others.join(", ")
                ),
                Confidence::High,
            )
            .evidence(format!(
                "{} of {sent} requests were answered from {}; none from {}",
                elsewhere.len(),
                others.join(", "),
                ev.address
            ))
            .evidence(format!(
                "reply to request {} at {}: its origin timestamp equals our nonce, so it does answer our request",
                r.matched.unwrap_or(0),
                fmt_ms(r.at_ms)
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
            ),
        );
    }
    // 6. Only bogus or invalid datagrams.
    let bogus: Vec<&Reply> = replies
        .iter()
        .filter(|r| matches!(r.class(), ReplyClass::Bogus(_)))
        .collect();
    let invalid: Vec<&Reply> = replies
        .iter()
        .filter(|r| matches!(r.class(), ReplyClass::Invalid(_)))
        .collect();
    if !invalid.is_empty() && invalid.len() >= bogus.len() {
        let mut v = Verdict::new(
            Cause::MalformedReply,
            format!("{w} sends datagrams that are not valid NTP server replies."),
            Confidence::High,
        );
        for r in invalid.iter().take(4) {
            v = v.evidence(format!(
                "datagram from {} at {} ({} octets): {}",
                r.from,
                fmt_ms(r.at_ms),
                datagram_len(ev, r.event),
                r.class().label()
            ));
        }
        return Some(
            v.fix(format!("check that {} runs an NTP server and not another UDP service", ev.address))
                .fix("if it is an NTP server, its software is broken or misconfigured: upgrade or replace it"),
        );
    }
    if let Some(b) = bogus.first() {
        let detail = match b.class() {
            ReplyClass::Bogus(BogusReason::OriginMismatch { expected, got }) => {
                format!(
                    "origin {} where our transmit nonce was {}",
                    got.hex(),
                    expected.hex()
                )
            }
            _ => "origin timestamp zero".to_string(),
        };
        return Some(
            Verdict::new(
                Cause::BogusReply,
                format!("{w} replies, but its replies do not answer our requests (origin timestamp ≠ our transmit): every NTP client discards them."),
                Confidence::Medium,
            )
            .evidence(format!("{} datagrams from {} failed the origin test (RFC 5905 test 2)", bogus.len(), b.from))
            .evidence(format!("first at {}: {detail}", fmt_ms(b.at_ms)))
            .fix("a server that does not copy the client's transmit timestamp into origin is broken: fix or replace it")
            .fix("behind NAT/load balancers: make sure each client's replies go back to it alone")
            .alternative("a broken server implementation that does not echo the transmit timestamp", "the origin is zero or the server's own time")
            .alternative("replies meant for another client (NAT port reuse, load balancer)", "the origin is a plausible time but not ours")
            .alternative("spoofed packets", "unsolicited replies also arrive when you are not probing (`tcpdump -ni any udp port 123`)"),
        );
    }
    None
}

fn datagram_len(ev: &TargetEvidence, event: usize) -> usize {
    ev.record
        .as_ref()
        .and_then(|r| r.events.get(event))
        .map_or(0, |e| match &e.kind {
            EventKind::Received { bytes, .. } => bytes.len(),
            _ => 0,
        })
}

fn ok_or_offset(
    ev: &TargetEvidence,
    valid: &[&&Reply],
    answered: usize,
    sent: usize,
    all: &[Reply],
) -> Verdict {
    let w = who(ev);
    // The best sample is the one with the smallest delay (ntpd's clock filter).
    let best = valid
        .iter()
        .filter_map(|r| r.sample().map(|s| (r, s)))
        .min_by(|a, b| a.1.delay.total_cmp(&b.1.delay));
    let Some((br, s)) = best else {
        return Verdict::new(
            Cause::MalformedReply,
            format!("{w} replied without usable timestamps."),
            Confidence::Medium,
        );
    };
    let h = br.judgement.header.expect("valid replies have headers");
    let stats = format!(
        "{} of {sent} requests answered; best sample (request {}): offset {}, delay {}, root distance {}",
        valid.len(),
        br.matched.unwrap_or(0),
        fmt_secs(s.offset),
        fmt_ms(s.delay * 1000.0),
        fmt_ms(s.root_distance * 1000.0)
    );
    let server = format!(
        "server: stratum {}, leap {} ({}), refid {}, precision 2^{}",
        h.stratum,
        h.leap.bits(),
        h.leap.name(),
        h.reference_id.display(h.stratum),
        h.precision
    );
    if s.offset.abs() > PANIC_THRESHOLD {
        return Verdict::new(
            Cause::OffsetOverPanic,
            format!(
                "{w} gives time, but the clocks differ by {:.1} s, beyond the {PANIC_THRESHOLD:.0} s panic threshold: ntpd exits rather than correct it, unless started with -g.",
                s.offset
            ),
            Confidence::High,
        )
        .evidence(stats)
        .evidence(server)
        .evidence(format!(
            "offset {:+.3} s means the server is {} this host",
            s.offset,
            if s.offset > 0.0 { "ahead of" } else { "behind" }
        ))
        .fix("if this host's clock is wrong: step it once (`ntpd -gq`, `chronyc makestep`, or `ntpdig -S <server>`), then start the daemon; ntpd's `-g` allows one big first step")
        .fix("if the server's clock is wrong: fix the server first; compare with a second, independent source")
        .alternative("this host's clock is wrong (dead RTC battery, VM restored from a snapshot)", "other servers show the same offset")
        .alternative("the server's clock is wrong", "other servers disagree with it");
    }
    let mut v = Verdict::new(
        Cause::Ok,
        format!(
            "{w} gives good time: offset {}, round trip {}.",
            fmt_secs(s.offset),
            fmt_ms(s.delay * 1000.0)
        ),
        Confidence::High,
    )
    .evidence(stats)
    .evidence(server);
    if s.root_distance > MAXDIST_NTPSEC {
        v.cause = Cause::UpstreamUnsynchronized;
        v.summary = format!(
            "{w} answers, but its root distance is {:.2} s: ntpd rejects sources above {MAXDIST_NTPSEC} s (tos maxdist), chrony above 3 s (maxdistance).",
            s.root_distance
        );
        v.confidence = Confidence::High;
        v = v
            .evidence(format!(
                "root delay {:.3} s, root dispersion {:.3} s",
                h.root_delay.as_secs_f64(),
                h.root_dispersion.as_secs_f64()
            ))
            .fix("the server's own synchronization is poor (Windows w32time often reports seconds of dispersion): fix its upstream, or raise `tos maxdist` / chrony `maxdistance` knowingly");
        return v;
    }
    if h.root_dispersion.as_secs_f64() + h.root_delay.as_secs_f64() / 2.0 >= MAXDISP {
        v = v.note("root dispersion is very large");
    }
    if h.reference_ts.is_zero() {
        v = v
            .note("the server's reference time is zero (never set): odd for a synchronized server");
    }
    if answered < sent {
        v = v.note(format!(
            "{} of {sent} requests got no usable answer",
            sent - answered
        ));
    }
    let later_kiss: Vec<&Reply> = all
        .iter()
        .filter(|r| matches!(r.class(), ReplyClass::Kiss(_)))
        .collect();
    if let Some(k) = later_kiss.first() {
        v = v.note(format!(
            "later requests drew a Kiss-o'-Death {}: the server rate-limits bursts like this probe's ({} ms apart); daemons polling every 64 s or more are not affected, `iburst`/`burst` may be",
            match k.class() {
                ReplyClass::Kiss(c) => c.text(),
                _ => String::new(),
            },
            ev.record.as_ref().map_or(0, |r| r.config.interval.as_millis())
        ));
    }
    let bogus = all
        .iter()
        .filter(|r| matches!(r.class(), ReplyClass::Bogus(_)))
        .count();
    if bogus > 0 {
        v = v.note(format!(
            "{bogus} datagram(s) failed the origin test and were ignored"
        ));
    }
    v
}

fn unsynchronized(ev: &TargetEvidence, u: &Reply, genuine: &[&Reply], sent: usize) -> Verdict {
    let w = who(ev);
    let ReplyClass::Unsynchronized(reason) = u.class() else {
        unreachable!()
    };
    let h = u
        .judgement
        .header
        .expect("an unsynchronized reply has a header");
    let refid = h.reference_id;
    let what = match refid.meaning(h.stratum) {
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
    };
    let n = genuine
        .iter()
        .filter(|r| matches!(r.class(), ReplyClass::Unsynchronized(_)))
        .count();
    let mut v = Verdict::new(
        Cause::UpstreamUnsynchronized,
        format!(
            "{w} answers, but says it is not synchronized itself ({}). The network and access are fine: the server's own time source is the problem.",
            reason.describe()
        ),
        Confidence::High,
    )
    .evidence(format!(
        "reply to request {} at {}: leap {}, stratum {}, refid {}",
        u.matched.unwrap_or(0),
        fmt_ms(u.at_ms),
        h.leap.bits(),
        h.stratum,
        refid.display(h.stratum)
    ))
    .evidence(format!("refid {what}"))
    .evidence(format!("{n} of {sent} requests answered this way; origin timestamps match our requests"));
    if *reason == UnsyncReason::RootDistance {
        v = v.evidence(format!(
            "root delay {:.3} s, root dispersion {:.3} s",
            h.root_delay.as_secs_f64(),
            h.root_dispersion.as_secs_f64()
        ));
    }
    v = v
        .fix("on the server, see why it is not synchronized: `ntpq -p` / `chronyc sources` there (its own servers unreachable? just started?)")
        .fix("a server meant to serve from its own clock on an isolated network needs it configured: ntpd `tos orphan 10` (or a local refclock), chrony `local stratum 10`")
        .note("ntpd shows such a server as `.INIT.`/`.XFAC.` with stratum 16 and never selects it; `ntpdig` calls stratum 0 a \"probable KOD\"");
    v
}

fn from_icmp(ev: &TargetEvidence, first: &IcmpSeen, count: usize, sent: usize) -> Verdict {
    let w = who(ev);
    let r = first.report;
    let offender = r.offender;
    let from_server = offender == Some(ev.address.ip());
    let from_self =
        offender.is_some_and(|o| o.is_loopback() || ev.local_address.is_some_and(|l| l.ip() == o));
    let by = match offender {
        Some(o) if from_server => format!("the server itself ({o})"),
        Some(o) if from_self => format!("this host ({o})"),
        Some(o) => format!("router {o}"),
        None => "an unknown sender".to_string(),
    };
    let seen = format!(
        "request {} → {} from {}{}",
        match first.matched {
            Some(Purpose::Sample(n)) => n,
            _ => 0,
        },
        r.error,
        offender.map_or("?".to_string(), |o| o.to_string()),
        first
            .rtt_ms
            .map_or(String::new(), |t| format!(" after {}", fmt_ms(t)))
    );
    let count_line = format!(
        "{count} of {sent} requests drew ICMP errors; no NTP reply{}",
        if sent < ev.record.as_ref().map_or(0, |r| r.config.samples as usize) {
            " (ntpdiag stopped sending after the first error)"
        } else {
            ""
        }
    );
    match r.error.kind() {
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
            if from_server { v } else { v.note(format!("the error came from {by}, not from the server: a firewall on the path imitates port unreachable")) }
        }
        IcmpKind::AdminProhibited => Verdict::new(
            Cause::AdminProhibited,
            format!("A firewall on {by} rejects udp/123 to {w}: ICMP {}.", r.error.name()),
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
                if from_self {
                    format!("This host cannot deliver to {w}: no answer to ARP/neighbour discovery — the server is down, or not at that address on this link.")
                } else {
                    format!("{by} cannot deliver to {w}: the server is down or absent on that router's link, or the router has an `unreachable` route.")
                },
                Confidence::High,
            )
            .evidence(seen)
            .evidence(count_line);
            if from_self {
                v.fix(format!("check the server is up and has address {}; `ip neigh show {}` here", ev.address.ip(), ev.address.ip()))
            } else {
                v.fix("check that the server is up and that its address is right")
                    .fix(format!("on {by}: `ip route get {}` and `ip neigh show {}`", ev.address.ip(), ev.address.ip()))
            }
        }
        IcmpKind::NetUnreachable => Verdict::new(
            Cause::NetUnreachable,
            format!("{by} has no route to {w}'s network."),
            Confidence::High,
        )
        .evidence(seen)
        .evidence(count_line)
        .fix(format!("fix routing on {by} (`ip route get {}` there), or use a server on a reachable network", ev.address.ip())),
        IcmpKind::TimeExceeded => Verdict::new(
            Cause::NetUnreachable,
            format!("Requests to {w} loop in the network: {by} reported {}.", r.error.name()),
            Confidence::Medium,
        )
        .evidence(seen)
        .fix("a routing loop between routers: check `traceroute -U -p 123` to the server"),
        _ => Verdict::new(
            Cause::NetUnreachable,
            format!("{by} could not deliver the request to {w}: {}.", r.error),
            Confidence::Medium,
        )
        .evidence(seen)
        .evidence(count_line)
        .fix("check the path to the server (`tracepath`, `traceroute -U -p 123`)"),
    }
}

fn no_reply(ev: &TargetEvidence, replies: &[Reply], sent: usize) -> Verdict {
    let w = who(ev);
    let timeout = ev
        .record
        .as_ref()
        .map_or(0.0, |r| r.config.timeout.as_secs_f64());
    let from = ev
        .local_address
        .map_or("this host".to_string(), |a| a.to_string());
    let mut v = Verdict::new(
        Cause::NoReply,
        format!("{w} never answered: {sent} requests sent, no reply and no ICMP error came back."),
        Confidence::Low,
    )
    .evidence(format!(
        "sent {sent} NTP requests (mode 3, version {}) from {from} to {}; each waited {timeout:.1} s",
        ev.record.as_ref().map_or(4, |r| r.config.version),
        ev.address
    ))
    .evidence("no NTP reply and no ICMP error arrived for any of them");
    if !replies.is_empty() {
        v = v.evidence(format!(
            "{} unrelated datagram(s) arrived and were ignored",
            replies.len()
        ));
    }

    let liveness = ev.liveness();
    let port = ev
        .record
        .as_ref()
        .and_then(|r| r.config.liveness_port)
        .unwrap_or(0);
    let host_answers_other_ports = matches!(
        liveness,
        Some((Outcome::Icmp(_), Some(EventKind::Icmp { report, .. })))
            if report.error.kind() == IcmpKind::PortUnreachable && report.offender == Some(ev.address.ip())
    );
    match liveness {
        Some((Outcome::Icmp(_), Some(EventKind::Icmp { report, .. }))) => {
            v = v.evidence(format!(
                "liveness check: a datagram to closed port {port} on {} drew {} from {}",
                ev.address.ip(),
                report.error,
                report.offender.map_or("?".to_string(), |o| o.to_string())
            ));
        }
        Some((Outcome::Reply(_), _)) => {
            v = v.evidence(format!(
                "liveness check: port {port} on {} answered with a datagram: the host is up",
                ev.address.ip()
            ));
        }
        Some((Outcome::Timeout, _)) => {
            v = v.evidence(format!(
                "liveness check: a datagram to closed port {port} on {} drew no ICMP error either",
                ev.address.ip()
            ));
        }
        Some((Outcome::SendFailed(_), Some(EventKind::SendFailed { error, .. }))) => {
            v = v.evidence(format!("liveness check could not be sent: {error}"));
        }
        _ => {}
    }
    if let Some(n) = &ev.neighbour {
        v = v.evidence(format!(
            "neighbour table: {} is {}{}{}",
            ev.address.ip(),
            n.state,
            n.lladdr
                .as_ref()
                .map_or(String::new(), |l| format!(" at {l}")),
            n.dev.as_ref().map_or(String::new(), |d| format!(" on {d}"))
        ));
    }

    let fw = "a firewall on the server drops udp/123 (iptables/nft DROP, firewalld)";
    let fw_tell = "on the server: `iptables -S INPUT`, `nft list ruleset`, `firewall-cmd --list-all`; DROP counters (`iptables -L INPUT -v -n`) grow while you probe";
    let restrict = "ntpd on the server ignores this client (`restrict … ignore`)";
    let restrict_tell = "on the server: `grep ^restrict /etc/ntp.conf`; tcpdump there shows requests arriving and no reply leaving, with no firewall rule matching";
    let down = "the server is down or the address is wrong";
    let down_tell =
        "ping it; for a host on this link, `ip neigh show <addr>` says FAILED/INCOMPLETE";
    let local = "replies are dropped on this side (a local INPUT rule, or a NAT/stateful firewall on the path back)";
    let local_tell = "capture here (`ntpdiag capture any --duration 30s`, or `tcpdump -ni any udp port 123`): replies that arrive but never reach the client mean a local drop";

    if host_answers_other_ports {
        v.summary = format!(
            "{w} never answered NTP, but the host is up: a datagram to a closed port drew an ICMP error, so something drops udp/123 in particular."
        );
        v.confidence = Confidence::High;
        v = v
            .alternative(fw, fw_tell)
            .alternative(restrict, restrict_tell)
            .alternative(local, local_tell)
            .fix("on the server, allow NTP: `iptables -I INPUT -p udp --dport 123 -j ACCEPT` (firewalld: `firewall-cmd --add-service=ntp --permanent && firewall-cmd --reload`)")
            .fix("check ntp.conf `restrict` lines on the server for `ignore` matching this client");
        return v;
    }
    match &ev.neighbour {
        Some(n) if n.unanswered() => {
            v.summary = format!(
                "{w} never answered, and it does not answer ARP/neighbour discovery either: it is down or not at that address."
            );
            v.confidence = Confidence::Medium;
            v = v
                .alternative(down, down_tell)
                .alternative(fw, "a host behind a firewall still answers ARP; only a host that is off or absent does not")
                .fix(format!("check that the server is up and has address {}", ev.address.ip()));
        }
        Some(n) if n.answered() => {
            v.summary = format!(
                "{w} never answered: the host is on the link (it answers ARP/ND) but silently drops everything sent to it."
            );
            v.confidence = Confidence::Medium;
            v = v
                .alternative(
                    "a firewall on the server drops all inbound traffic by default (policy DROP), udp/123 included",
                    fw_tell,
                )
                .alternative(restrict, restrict_tell)
                .alternative(local, local_tell)
                .fix("on the server, allow NTP: `iptables -I INPUT -p udp --dport 123 -j ACCEPT` (firewalld: `firewall-cmd --add-service=ntp --permanent && firewall-cmd --reload`)");
        }
        _ => {
            v = v
                .alternative(fw, fw_tell)
                .alternative(restrict, restrict_tell)
                .alternative(down, down_tell)
                .alternative(local, local_tell)
                .fix("work through the causes above in order: the server's firewall is the most common (see `iptables -S INPUT` there)");
        }
    }
    v
}

/// The verdict for a host name that did not resolve.
pub fn name_unresolved(host: &str, error: &str) -> Verdict {
    Verdict::new(
        Cause::NameUnresolved,
        format!("{host} does not resolve to an address: nothing could be sent."),
        Confidence::High,
    )
    .evidence(format!("resolver: {error}"))
    .fix(format!(
        "check the name: `getent ahosts {host}`; add it to /etc/hosts or DNS"
    ))
    .fix("in an OpenStack-style setup every node needs the controller's name in /etc/hosts")
}

/// Combines the probe from a random port with the probe from a fixed port
/// (usually 123) of the same address.
pub fn compare_source_ports(
    ephemeral: &Verdict,
    fixed: &Verdict,
    port: u16,
    target: &str,
) -> Verdict {
    if fixed.cause.class() == super::verdict::Class::Local {
        return fixed.clone().note(format!(
            "from a random source port the verdict is: {} — {}",
            ephemeral.cause, ephemeral.summary
        ));
    }
    if ephemeral.cause.class() != super::verdict::Class::Silence && fixed.cause == Cause::NoReply {
        return Verdict::new(
            Cause::SourcePortFiltered,
            format!(
                "{target} answers requests from a random source port but not from source port {port}: something on the path filters (or NATs badly) source port {port}."
            ),
            Confidence::High,
        )
        .evidence(format!("from a random port: {} — {}", ephemeral.cause, ephemeral.summary))
        .evidence(format!("from port {port}: {} — {}", fixed.cause, fixed.summary))
        .fix("ntpd (classic and ntpsec) always sends from port 123 and is hit by this; chrony uses random ports (RFC 9109) and is not")
        .fix("ask the network's operator to allow udp source port 123, or switch the client to chrony; `ntpdate -u` works around it for one-shot queries")
        .alternative("an ISP or firewall rule against source port 123 (anti-amplification filters)", "probe other servers from port 123: all fail the same way")
        .alternative("a NAT that keeps source port 123 for one host only", "a second host behind the same NAT fails while the first works");
    }
    let mut v = ephemeral.clone();
    v.notes
        .push(format!("from source port {port} as well: {}", fixed.cause));
    v
}

#[cfg(test)]
mod tests;

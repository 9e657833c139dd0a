//! The answers step: NTP replies came back, genuine or not.

use super::*;

pub(super) fn applies(e: &Exchange) -> bool {
    e.answered() > 0 || e.other_address_count > 0 || e.bogus_count > 0 || e.malformed_count > 0
}

pub(super) static RULES: &[Rule<Exchange>] = &[
    Rule {
        names: &[Cause::Kod(KissCode::Rate)],
        when: When::If(kiss_counts),
        say: kiss,
    },
    Rule {
        names: &[Cause::AsymmetricPath],
        when: When::If(|e| good_time(e) && asymmetric(e)),
        say: asymmetric_path,
    },
    Rule {
        names: &[Cause::ReplyIgnored],
        when: When::If(|e| good_time(e) && bounced_by_client(e)),
        say: reply_bounced,
    },
    Rule {
        names: &[Cause::ReplyIgnored],
        when: When::If(|e| good_time(e) && echo_missing(e)),
        say: reply_not_echoed,
    },
    Rule {
        names: &[Cause::ClientPollsTooFast],
        when: When::If(|e| good_time(e) && too_fast(e)),
        say: polls_too_fast,
    },
    Rule {
        names: &[Cause::OffsetOverPanic],
        when: When::If(|e| good_time(e) && over_panic_sample(e)),
        say: offset_over_panic,
    },
    Rule {
        names: &[Cause::UpstreamUnsynchronized],
        when: When::If(|e| good_time(e) && too_far(e)),
        say: root_distance,
    },
    Rule {
        names: &[Cause::UpstreamUnsynchronized],
        when: When::If(|e| good_time(e) && header_unsynchronized(e)),
        say: best_unsynchronized,
    },
    Rule {
        names: &[Cause::Ok],
        when: When::If(good_time),
        say: ok,
    },
    Rule {
        names: &[Cause::UpstreamUnsynchronized],
        when: When::If(|e| e.unsync.is_some()),
        say: unsynchronized,
    },
    Rule {
        names: &[Cause::ReplyFromOtherAddress],
        when: When::If(|e| !e.other_address.is_empty()),
        say: other_address,
    },
    Rule {
        names: &[Cause::MalformedReply],
        when: When::If(|e| e.malformed_count > 0 && e.malformed_count >= e.bogus_count),
        say: malformed,
    },
    Rule {
        names: &[Cause::BogusReply],
        when: When::Always,
        say: bogus,
    },
];

pub(super) fn kiss_counts(e: &Exchange) -> bool {
    // ntpdiag's own burst drew the kiss after a good first answer: that is
    // the probe being rate-limited, not the client. Said as a note.
    e.kiss.is_some() && !(e.first_answer == Some(AnswerKind::Valid) && e.vantage == Vantage::Probe)
}

pub(super) fn good_time(e: &Exchange) -> bool {
    e.valid > 0
        && (e.first_answer == Some(AnswerKind::Valid) || e.unsync_count == 0)
        && !stated_failure(e)
}

/// A pasted tool's own word that an answer from this server failed its
/// tests (dropped as unsynchronized, malformed, of a wrong origin, a kiss).
/// It cannot be outvoted by a good answer in the same paste (two runs
/// pasted together): the failure is judged. A probe or a capture judged
/// each datagram itself, and a stray bad one beside good ones is noise.
pub(super) fn stated_failure(e: &Exchange) -> bool {
    matches!(e.vantage, Vantage::Paste(_))
        && (e.unsync_count > 0 || e.malformed_count > 0 || e.bogus_count > 0 || e.kiss_count > 0)
}

pub(super) fn asymmetric(e: &Exchange) -> bool {
    e.wire
        .as_ref()
        .is_some_and(|w| w.request_sightings_max >= 2 && w.reply_sightings_max == 1)
}

pub(super) fn bounced_by_client(e: &Exchange) -> bool {
    e.wire.as_ref().is_some_and(|w| {
        w.reply_bounced
            .as_ref()
            .is_some_and(|b| b.value.sender == Sender::ClientHost)
    })
}

pub(super) fn echo_missing(e: &Exchange) -> bool {
    e.wire
        .as_ref()
        .and_then(|w| w.echo_missing.as_ref())
        .is_some_and(|f| f.value >= 2)
}

/// ntpd's `limited` defaults: intervals under 2 s, or a mean under 8 s.
pub(super) fn too_fast(e: &Exchange) -> bool {
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

pub(super) fn polling_line(e: &Exchange) -> String {
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

pub(super) fn over_panic_sample(e: &Exchange) -> bool {
    e.best
        .as_ref()
        .is_some_and(|b| b.value.sample.offset.abs() > PANIC_THRESHOLD)
}

/// The best sample's header says its server is not synchronized (leap 3,
/// stratum 0 or 16 and up): an adapter that counted it valid was wrong,
/// and the table does not follow it.
pub(super) fn header_unsynchronized(e: &Exchange) -> bool {
    e.best
        .as_ref()
        .and_then(|b| b.value.header.as_ref())
        .is_some_and(|h| {
            h.leap == crate::wire::packet::Leap::Unsynchronized || h.stratum == 0 || h.stratum >= 16
        })
}

pub(super) fn best_unsynchronized(e: &Exchange) -> Verdict {
    let b = e.best.as_ref().expect("checked");
    let h = b.value.header.as_ref().expect("checked");
    Verdict::new(
        Cause::UpstreamUnsynchronized,
        format!(
            "{} answers, but its header says it is not synchronized itself (leap {}, stratum {}): its time cannot be used.",
            e.who,
            h.leap.bits(),
            h.stratum
        ),
        Confidence::High,
    )
    .evidence(format!(
        "best sample{}: leap {}, stratum {}, refid {}",
        at_suffix(&b.at),
        h.leap.bits(),
        h.stratum,
        h.reference_id.display(h.stratum)
    ))
    .fix("on the server, see why it is not synchronized: `ntpq -p` / `chronyc sources` there")
}

pub(super) fn too_far(e: &Exchange) -> bool {
    e.best
        .as_ref()
        .is_some_and(|b| b.value.sample.root_distance > MAXDIST_NTPD)
}

pub(super) fn kiss(e: &Exchange) -> Verdict {
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

pub(super) fn asymmetric_path(e: &Exchange) -> Verdict {
    let w = e.wire.as_ref().expect("checked");
    Verdict::new(
        Cause::AsymmetricPath,
        format!("{}: requests are seen twice (leaving the client, reaching the server) but replies only once: they leave the server and do not arrive.", e.who),
        Confidence::Medium,
    )
    .evidence(format!("each request seen up to {} times, each reply once", w.request_sightings_max))
    .fix("the path back drops the replies: a firewall or NAT between the two (stateful rules, asymmetric routing); capture on the client alone to confirm")
}

pub(super) fn reply_bounced(e: &Exchange) -> Verdict {
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

pub(super) fn reply_not_echoed(e: &Exchange) -> Verdict {
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

pub(super) fn polls_too_fast(e: &Exchange) -> Verdict {
    Verdict::new(
        Cause::ClientPollsTooFast,
        format!("{}: the client polls faster than servers allow; expect KoD RATE or dropped requests from rate-limiting servers.", e.who),
        Confidence::High,
    )
    .evidence(polling_line(e))
    .fix(Cause::ClientPollsTooFast.info().fix)
}

/// The best sample's line.
pub(super) fn stats_line(e: &Exchange) -> String {
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

pub(super) fn sample_lines(e: &Exchange) -> (String, Option<String>) {
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

pub(super) fn offset_over_panic(e: &Exchange) -> Verdict {
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
    // The offset is certain; which clock is wrong is not: the two sides of
    // this one cause, not competing causes.
    .alternative(Cause::OffsetOverPanic, "this host's clock is wrong (dead RTC battery, VM restored from a snapshot)", "other servers show the same offset")
    .alternative(Cause::OffsetOverPanic, "the server's clock is wrong", "other servers disagree with it")
}

pub(super) fn root_distance(e: &Exchange) -> Verdict {
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

pub(super) fn ok(e: &Exchange) -> Verdict {
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
pub(super) fn packet_no(o: &Origin) -> Option<u64> {
    match o {
        Origin::Packet { no, .. } => Some(*no),
        _ => None,
    }
}

pub(super) fn refid_meaning(h: &crate::wire::Repr) -> String {
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

pub(super) fn unsynchronized(e: &Exchange) -> Verdict {
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

pub(super) fn other_address(e: &Exchange) -> Verdict {
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
        Cause::ReplyFromOtherAddress,
        "a multi-homed server answering from its primary address",
        "on the server: `ss -ulpn 'sport = :123'` shows a wildcard socket",
    )
    .alternative(
        Cause::ReplyFromOtherAddress,
        "a NAT or load balancer that rewrote the request but not the reply",
        "capture on both sides: the reply's source differs from the request's destination",
    )
}

pub(super) fn malformed(e: &Exchange) -> Verdict {
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

pub(super) fn bogus(e: &Exchange) -> Verdict {
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
    .alternative(Cause::BogusReply, "a broken server implementation that does not echo the transmit timestamp", "the origin is zero or the server's own time")
    .alternative(Cause::BogusReply, "replies meant for another client (NAT port reuse, load balancer)", "the origin is a plausible time but not ours")
    .alternative(Cause::BogusReply, "spoofed packets", "unsolicited replies also arrive when you are not probing (`tcpdump -ni any udp port 123`)")
}

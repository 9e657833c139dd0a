//! A conversation → its verdict, with the probe's cause ids plus what only a
//! capture shows. Pure: the same conversation gives the same verdict, read
//! live or from a file.
//!
//! Times in a capture are the capturing host's: offsets are measured from
//! that vantage point (exact for a capture on the client).

use super::track::{At, Conv};
use crate::diagnose::probe::MAXDIST_NTPSEC;
use crate::diagnose::{Cause, Confidence, Verdict};
use crate::engine::exchange::PANIC_THRESHOLD;
use crate::wire::icmp::IcmpKind;

/// Shortest request interval ntpd accepts (`discard minimum 1`: 2 s).
pub const MIN_INTERVAL: f64 = 2.0;
/// Average interval ntpd's `limited` enforces by default (`discard average 3`: 8 s).
pub const AVG_INTERVAL: f64 = 8.0;

fn at(a: &At) -> String {
    let utc = crate::wire::NtpDate::from_unix(a.ts.secs, a.ts.nanos).utc_string();
    // "YYYY-MM-DD hh:mm:ss.ffffff UTC" → time of day to the millisecond.
    let tod = utc.get(11..23).unwrap_or(&utc);
    format!("packet #{} at {tod}", a.no)
}

fn who(c: &Conv) -> String {
    match (c.client, c.server) {
        (Some(cl), Some(s)) => format!("{cl} → {s}"),
        _ => "?".into(),
    }
}

fn too_fast(c: &Conv) -> bool {
    let mean = if c.intervals > 0 {
        c.interval_sum / c.intervals as f64
    } else {
        f64::MAX
    };
    (c.short_intervals >= 3 && c.requests > 8) || (c.requests >= 10 && mean < AVG_INTERVAL)
}

fn polling_line(c: &Conv) -> String {
    let mean = if c.intervals > 0 {
        c.interval_sum / c.intervals as f64
    } else {
        0.0
    };
    format!(
        "{} requests, mean interval {:.1} s, {} intervals under {MIN_INTERVAL:.0} s{}",
        c.requests,
        mean,
        c.short_intervals,
        c.first_short
            .map_or(String::new(), |a| format!(" (first: {})", at(&a)))
    )
}

pub fn judge(c: &Conv) -> Verdict {
    let w = who(c);
    let counts = format!(
        "{} requests, {} answered, {} replies, {} ICMP errors, {} unanswered",
        c.requests,
        c.answered,
        c.replies,
        c.icmp_n,
        c.unanswered()
    );

    // KoD first: it is the server's own word.
    if let Some((code, a)) = c.kiss {
        let mut v = Verdict::new(
            Cause::Kod(code),
            format!(
                "{w}: the server sent a Kiss-o'-Death {} ({}).",
                code.text(),
                code.meaning()
            ),
            Confidence::High,
        )
        .evidence(format!(
            "{} KoD replies, the first {}; their origin matched a request",
            c.kiss_n,
            at(&a)
        ))
        .evidence(counts.clone())
        .fix(code.fix());
        if too_fast(c) || c.short_intervals > 0 {
            v = v.evidence(format!("the client polls fast: {}", polling_line(c)));
        }
        return v;
    }
    if let Some((reason, a, h)) = &c.unsync
        && c.valid == 0
    {
        return Verdict::new(
                Cause::UpstreamUnsynchronized,
                format!("{w}: the server answers but is not synchronized itself ({}).", reason.describe()),
                Confidence::High,
            )
            .evidence(format!(
                "{} such replies, the first {}: leap {}, stratum {}, refid {}",
                c.unsync_n,
                at(a),
                h.leap.bits(),
                h.stratum,
                h.reference_id.display(h.stratum)
            ))
            .evidence(counts)
            .fix("fix the server's own time source (`ntpq -p` / `chronyc sources` on it), or wait if it has just started");
    }
    // ICMP errors answering requests, and no good reply.
    if let Some((a, err, off)) = c.icmp
        && c.valid == 0
    {
        let (cause, what) = match err.kind() {
            IcmpKind::PortUnreachable => (
                Cause::PortUnreachable,
                "nothing listens on udp/123 there, or a REJECT rule answers for it",
            ),
            IcmpKind::AdminProhibited => (Cause::AdminProhibited, "a firewall rejects udp/123"),
            IcmpKind::HostUnreachable => (
                Cause::HostUnreachable,
                "the server cannot be reached (no ARP/ND answer, or an unreachable route)",
            ),
            _ => (Cause::NetUnreachable, "no route to the server's network"),
        };
        let by = if c.server.is_some_and(|s| s.ip() == off) {
            format!("the server itself ({off})")
        } else {
            format!("{off}")
        };
        return Verdict::new(
            cause,
            format!("{w}: {} from {by}: {what}.", err.name()),
            Confidence::High,
        )
        .evidence(format!(
            "{} ICMP errors, the first {}: {err} from {off}",
            c.icmp_n,
            at(&a)
        ))
        .evidence(counts)
        .fix(match cause {
            Cause::PortUnreachable => {
                "start the NTP daemon on the server, or remove the REJECT rule for udp/123"
            }
            Cause::AdminProhibited => "open udp/123 on the firewall that sent the error",
            _ => "check routing and that the server is up at that address",
        });
    }
    if let Some((a, from)) = c.other_addr
        && c.valid == 0
    {
        return Verdict::new(
            Cause::ReplyFromOtherAddress,
            format!("{w}: replies to these requests come from {from} instead; clients matching by address drop them."),
            Confidence::High,
        )
        .evidence(format!("{} replies from {from}, the first {}; their origin matched this conversation's requests", c.other_n, at(&a)))
        .evidence(counts)
        .fix("make the server answer from the address clients use (ntpd `interface`, chrony `bindaddress`), or fix the NAT");
    }
    if c.valid > 0 {
        // Both sides in the capture: requests seen twice, replies once.
        if c.request_sightings_max >= 2 && c.reply_sightings_max == 1 {
            return Verdict::new(
                Cause::AsymmetricPath,
                format!("{w}: requests are seen twice (leaving the client, reaching the server) but replies only once: they leave the server and do not arrive."),
                Confidence::Medium,
            )
            .evidence(format!("each request seen up to {} times, each reply once", c.request_sightings_max))
            .evidence(counts)
            .fix("the path back drops the replies: a firewall or NAT between the two (stateful rules, asymmetric routing); capture on the client alone to confirm");
        }
        if let Some((a, err, off)) = c.reply_bounced
            && c.client.is_some_and(|cl| cl.ip() == off)
        {
            return Verdict::new(
                Cause::ReplyIgnored,
                format!("{w}: replies arrive, but the client's host answers them with {}: no socket takes them.", err.name()),
                Confidence::High,
            )
            .evidence(format!("{} replies bounced, the first {}: {err} from the client {off}", c.reply_bounced_n, at(&a)))
            .evidence(counts)
            .fix("the client closed its socket before the replies came (too short a timeout) or sends from a port it does not read: check the client program; `ss -ulpn` on the client");
        }
        if c.echo_no >= 2 {
            let first = c
                .first_echo_no
                .map_or(String::new(), |a| format!(", the first {}", at(&a)));
            return Verdict::new(
                Cause::ReplyIgnored,
                format!("{w}: replies reach this capture, but the client's next requests show it never received them."),
                Confidence::Medium,
            )
            .evidence(format!(
                "{} requests after a reply did not carry that reply's transmit timestamp as their origin{first}; a client that got the reply would (classic ntpd and ntpsec do)",
                c.echo_no
            ))
            .evidence(counts)
            .fix("something on the client drops them after the capture point: a local INPUT rule (`iptables -S INPUT`), or a socket/daemon problem")
            .note("judged only for clients that echoed earlier replies (classic ntpd); ntpsec and chrony send zero origins, so for them a local drop shows as no-reply at the client and as replies here");
        }
        if too_fast(c) {
            return Verdict::new(
                Cause::ClientPollsTooFast,
                format!("{w}: the client polls faster than servers allow; expect KoD RATE or dropped requests from rate-limiting servers."),
                Confidence::High,
            )
            .evidence(polling_line(c))
            .evidence(counts)
            .fix("poll less often: ntpd `minpoll` ≥ 6 without `burst`, chrony `minpoll`; stop scripts that query in a loop");
        }
        if let Some((s, a, h)) = &c.best {
            if s.offset.abs() > PANIC_THRESHOLD {
                return Verdict::new(
                    Cause::OffsetOverPanic,
                    format!("{w}: the clocks differ by {:.1} s, beyond the {PANIC_THRESHOLD:.0} s panic threshold.", s.offset),
                    Confidence::High,
                )
                .evidence(format!("best sample {}: offset {:+.3} s, delay {:.6} s (capture clock)", at(a), s.offset, s.delay))
                .evidence(counts)
                .fix("step the wrong clock once (`ntpd -gq`, `chronyc makestep`), then let the daemon keep it");
            }
            if s.root_distance > MAXDIST_NTPSEC {
                return Verdict::new(
                    Cause::UpstreamUnsynchronized,
                    format!("{w}: the server's root distance is {:.2} s, too large for ntpd to select it.", s.root_distance),
                    Confidence::High,
                )
                .evidence(format!("best sample {}", at(a)))
                .evidence(counts)
                .fix("fix the server's own synchronization");
            }
            let mut v = Verdict::new(
                Cause::Ok,
                format!(
                    "{w}: {} of {} requests answered with good time.",
                    c.answered, c.requests
                ),
                Confidence::High,
            )
            .evidence(format!(
                "best sample {}: offset {:+.6} s, delay {:.6} s; server stratum {}, refid {}",
                at(a),
                s.offset,
                s.delay,
                h.stratum,
                h.reference_id.display(h.stratum)
            ))
            .evidence(counts);
            if c.bogus_n > 0 {
                v = v.note(format!("{} replies failed the origin test", c.bogus_n));
            }
            return v;
        }
    }
    if c.malformed_n > 0 && c.bogus_n <= c.malformed_n {
        let (a, what) = c.malformed.clone().unwrap_or((
            At {
                no: 0,
                ts: Default::default(),
            },
            String::new(),
        ));
        return Verdict::new(
            Cause::MalformedReply,
            format!("{w}: the server side sends datagrams that are not valid NTP replies."),
            Confidence::High,
        )
        .evidence(format!(
            "{} such datagrams, the first {}: {what}",
            c.malformed_n,
            at(&a)
        ))
        .evidence(counts)
        .fix("check that the server runs an NTP server on port 123");
    }
    if let Some((a, what)) = &c.bogus {
        return Verdict::new(
            Cause::BogusReply,
            format!("{w}: replies do not answer this client's requests (origin mismatch)."),
            Confidence::Medium,
        )
        .evidence(format!(
            "{} bogus replies, the first {}: {what}",
            c.bogus_n,
            at(a)
        ))
        .evidence(counts)
        .fix("a broken server or a NAT mixing up clients: see `ntpdiag probe` against the server");
    }
    if c.replies_cut > 0 {
        return Verdict::new(
            Cause::Ok,
            format!("{w}: {} replies came back, but the capture's snap length cut them: they could not be checked.", c.replies_cut),
            Confidence::Low,
        )
        .evidence(counts)
        .note("capture again with a larger snap length (tcpdump -s 0) to have the replies judged");
    }
    if c.requests == 0 {
        return Verdict::new(
            Cause::Ok,
            format!("{w}: only server-side traffic in the capture."),
            Confidence::Low,
        )
        .evidence(counts)
        .note(
            "no requests seen: the capture holds only one direction, or it began mid-conversation",
        );
    }
    Verdict::new(
        Cause::NoReply,
        format!("{w}: {} requests left, nothing came back — no reply, no ICMP error.", c.requests),
        Confidence::Low,
    )
    .evidence(format!(
        "first request {}, last {}",
        c.first.map_or("?".into(), |a| at(&a)),
        c.last.map_or("?".into(), |a| at(&a))
    ))
    .evidence(counts)
    .evidence(polling_line(c))
    .alternative("a firewall on the server drops udp/123, or ntpd there has `restrict … ignore`", "run `ntpdiag probe <server>`: its liveness check tells whether the host answers other ports")
    .alternative("the server is down or the address is wrong", "ping it; `ip neigh` for a host on this link")
    .alternative("replies are dropped on the way back", "capture on the server too: replies leaving it that never arrive here")
    .fix("start with the server's firewall: `iptables -S INPUT` there")
}

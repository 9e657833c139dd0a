//! The capture's adapter: a conversation → the facts of one [`Exchange`],
//! then the rule table. Pure: the same conversation gives the same verdict,
//! read live or from a file. No verdict prose here.
//!
//! Times in a capture are the capturing host's: offsets are measured from
//! that vantage point (exact for a capture on the client).

use super::track::{At, Conv};
use crate::diagnose::facts::{
    Bogus, Exchange, Fact, Icmp, Kiss, Malformed, Origin, Polling, Sender, Unsync, Vantage, Wire,
};
use crate::diagnose::{Verdict, rules};
use crate::wire::icmp::IcmpError;

/// Where a packet is: its number and its time of day (UTC, to the millisecond).
pub fn origin(a: &At) -> Origin {
    Origin::Packet {
        no: a.no,
        time: crate::diagnose::facts::TimeOfDay::from_unix(a.ts.secs, a.ts.nanos),
    }
}

/// An ICMP error as evidence, its sender placed by address: the server,
/// the client's host, or a router between.
fn icmp_fact(
    server: Option<std::net::SocketAddr>,
    client: Option<std::net::SocketAddr>,
    error: IcmpError,
    offender: std::net::IpAddr,
) -> Icmp {
    let sender = if server.is_some_and(|s| s.ip() == offender) {
        Sender::Server
    } else if client.is_some_and(|s| s.ip() == offender) {
        Sender::ClientHost
    } else {
        Sender::Router
    };
    Icmp {
        error,
        offender: Some(offender),
        sender,
        rtt_ms: None,
    }
}

fn icmp(c: &Conv, error: IcmpError, offender: std::net::IpAddr) -> Icmp {
    icmp_fact(c.server, c.client, error, offender)
}

/// The facts of one conversation.
pub fn facts(c: &Conv) -> Exchange {
    let who = match (c.client, c.server) {
        (Some(cl), Some(s)) => format!("{s} (asked by {cl})"),
        _ => "?".into(),
    };
    facts_of(c, who)
}

/// The facts of a conversation or a group of them, named `who`.
fn facts_of(c: &Conv, who: String) -> Exchange {
    let mut x = Exchange::new(Vantage::Capture, who);
    x.server = c.server;
    x.client = c.client;
    x.requests = c.requests;
    x.first_answer = c.first_answer;
    x.valid = c.valid;
    x.best = c.best.as_ref().map(|(s, a, h)| {
        Fact::new(
            crate::diagnose::facts::Best {
                sample: *s,
                header: Some(*h),
            },
            origin(a),
        )
    });
    if let Some((code, a, h)) = &c.rare().kiss {
        x.kiss = Some(Fact::new(
            Kiss {
                code: *code,
                header: *h,
                origin_checked: true,
            },
            origin(a),
        ));
    }
    x.kiss_count = c.rare().kiss_n;
    if let Some((r, a, h)) = &c.rare().unsync {
        x.unsync = Some(Fact::new(
            Unsync {
                reason: Some(*r),
                header: Some(*h),
                stratum: None,
                refid: None,
            },
            origin(a),
        ));
    }
    x.unsync_count = c.rare().unsync_n;
    if let Some((a, from)) = c.rare().other_addr {
        x.other_address.push(Fact::new(from, origin(&a)));
    }
    x.other_address_count = c.rare().other_n;
    if let Some((a, what)) = &c.rare().bogus {
        x.bogus = Some(Fact::new(
            Bogus {
                from: c.server,
                detail: what.clone(),
            },
            origin(a),
        ));
    }
    x.bogus_count = c.rare().bogus_n;
    if let Some((a, what)) = &c.rare().malformed {
        x.malformed.push(Fact::new(
            Malformed {
                from: c.server,
                len: None,
                detail: what.clone(),
            },
            origin(a),
        ));
    }
    x.malformed_count = c.rare().malformed_n;
    if let Some((a, err, off)) = c.rare().icmp {
        x.icmp = Some(Fact::new(icmp(c, err, off), origin(&a)));
    }
    x.icmp_count = c.rare().icmp_n;
    x.wire = Some(Wire {
        replies: c.replies,
        unanswered: c.unanswered(),
        first_request: c.first.as_ref().map(origin),
        last_request: c.last.as_ref().map(origin),
        polling: Polling {
            intervals: c.intervals,
            mean_interval_s: if c.intervals > 0 {
                c.interval_sum / c.intervals as f64
            } else {
                0.0
            },
            short_intervals: c.short_intervals,
            first_short: c.rare().first_short.as_ref().map(origin),
        },
        request_sightings_max: c.request_sightings_max,
        reply_sightings_max: c.reply_sightings_max,
        reply_bounced: c
            .rare()
            .reply_bounced
            .map(|(a, err, off)| Fact::new(icmp(c, err, off), origin(&a))),
        reply_bounced_count: c.rare().reply_bounced_n,
        echo_missing: (c.rare().echo_no > 0).then(|| {
            Fact::new(
                c.rare().echo_no,
                c.rare()
                    .first_echo_no
                    .as_ref()
                    .map_or(Origin::Unknown, origin),
            )
        }),
        replies_cut: c.rare().replies_cut,
        unpaired: c.rare().unpaired,
        unpaired_told: c
            .rare()
            .unpaired_told
            .as_ref()
            .map(|(a, t)| Fact::new(t.clone(), origin(a))),
        unpaired_told_count: c.rare().unpaired_told_n,
        pending: (c.rare().pending_at_end > 0).then(|| {
            Fact::new(
                c.rare().pending_at_end,
                c.rare()
                    .first_pending
                    .as_ref()
                    .map_or(Origin::Unknown, origin),
            )
        }),
    });
    x
}

/// The verdict on a server's NTS-KE connections (TCP 4460) seen alone.
pub fn judge_ke(k: &super::track::KeSeen) -> Verdict {
    let who = k
        .server
        .map_or_else(|| "?".to_string(), |s| format!("{s} (NTS-KE)"));
    let mut x = Exchange::new(Vantage::Capture, who);
    x.server = k.server;
    x.nts_ke = Some(Fact::new(
        crate::diagnose::facts::NtsKe {
            connections: k.connections,
            answered: k.answered,
            reset: k.reset,
            icmp: k
                .icmp_first
                .map(|(error, offender)| icmp_fact(k.server, None, error, offender)),
            icmp_count: k.icmp,
            unanswered: k.unanswered(),
            syn_retries: k.syn_retries,
        },
        Origin::Unknown,
    ));
    rules::decide(&x)
}

pub fn judge(c: &Conv) -> Verdict {
    rules::decide(&facts(c))
}

/// The verdict of a group of conversations (the server view), named as
/// the group is.
pub fn judge_as(c: &Conv, who: String) -> Verdict {
    rules::decide(&facts_of(c, who))
}

/// [`judge_as`]'s cause and first line of evidence (a table row): the rest
/// of the verdict may be left out.
pub fn headline_as(c: &Conv, who: String) -> Verdict {
    let mut x = facts_of(c, who);
    x.detail = crate::diagnose::facts::Detail::Headline;
    rules::decide(&x)
}

#[cfg(test)]
mod tests;

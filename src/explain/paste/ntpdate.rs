//! Classic ntpdate (`ntpdate/ntpdate.c`): the `-d` trace (`transmit(…)`,
//! `receive(…)` and its reasons to drop a packet), each server's `Server
//! dropped:` reason from `clock_select()`, the per-server block of
//! `print_server()` (`-d`) or its one line (`-q`), and the syslog lines of
//! `clock_adjust()`, `init_io()` and `addserver()`. One block per server.
//!
//! ntpsec's `ntpdate` is a shell shim over ntpdig: its output is read by
//! [`super::ntpdig`].

use std::collections::BTreeMap;

use super::{Explained, Kind, Line, Note, Segment, silent};
use crate::diagnose::facts::{
    AnswerKind, Bogus, Exchange, Kiss, Local, Malformed, Unsync, Vantage,
};
use crate::engine::exchange::{Sample, UnsyncReason};
use crate::engine::local::{LocalError, LocalErrorKind};
use crate::net::errno::kind_of_message;
use crate::wire::KissCode;

/// Why `clock_select()` dropped a server, and what that means.
fn dropped(reason: &str) -> (&'static str, &'static str) {
    const REASONS: [(&str, &str, &str); 7] = [
        (
            "no data",
            "no-data",
            "no usable reply was kept: ntpdate says this for a firewall DROP, a REJECT, no daemon, a dead host and replies it threw away alike",
        ),
        (
            "strata too high",
            "stratum",
            "the server answered with stratum 0 or 16: it is not synchronized (or sent a Kiss-o'-Death)",
        ),
        ("server too far away", "far", "the round trip took over 8 s"),
        (
            "leap not in sync",
            "leap",
            "the server answered with leap 3: it is not synchronized",
        ),
        (
            "server is very broken",
            "broken",
            "the server's reference time is later than its transmit time: its clock or its state is broken",
        ),
        (
            "server has gone too long without sync",
            "stale",
            "the server last synchronized over a day ago (NTP_MAXAGE)",
        ),
        (
            "server is untrusted",
            "untrusted",
            "the reply failed authentication (-a key)",
        ),
    ];
    let r = reason.trim().to_ascii_lowercase();
    REASONS
        .iter()
        .find(|(p, _, _)| r.starts_with(p))
        .map_or(("other", "ntpdate dropped the server"), |(_, k, m)| (k, m))
}

#[derive(Default)]
struct Server<'a> {
    transmits: u64,
    receives: u64,
    dropped: Option<(&'static str, &'a Line)>,
    stratum: Option<u32>,
    leap: Option<String>,
    refid: Option<String>,
    offset: Option<(f64, &'a Line)>,
    delay: Option<f64>,
    kiss: Option<&'a Line>,
    org_differ: Vec<&'a Line>,
    bad_packets: Vec<&'a Line>,
    untrusted: Option<&'a Line>,
    first: usize,
}

fn first_word_addr(t: &str) -> Option<&str> {
    let (a, _) = t.split_once(':')?;
    let a = a.trim();
    (!a.is_empty() && !a.contains(' ')).then_some(a)
}

pub fn read(seg: &Segment) -> Vec<Explained> {
    let mut servers: BTreeMap<String, Server> = BTreeMap::new();
    let mut order: Vec<String> = vec![];
    let mut notes: BTreeMap<String, Vec<Note>> = BTreeMap::new();
    let mut run_notes: Vec<Note> = vec![];
    let mut local: Vec<(&Line, LocalErrorKind, String)> = vec![];
    let mut unresolved: Vec<(&Line, String)> = vec![];
    let mut none_suitable: Option<&Line> = None;
    let mut current: Option<String> = None;
    let mut last_receive: Option<String> = None;
    let mut ours = false;
    let srv =
        |name: &str, n: usize, servers: &mut BTreeMap<String, Server>, order: &mut Vec<String>| {
            if !servers.contains_key(name) {
                order.push(name.to_string());
            }
            let s = servers.entry(name.to_string()).or_default();
            if s.first == 0 {
                s.first = n;
            }
        };
    for l in seg.lines {
        let t = l.text.trim();
        // ntpdate's syslog/stderr prefix: "ntpdate[1234]: …" (after a date).
        let body = t
            .find("ntpdate[")
            .and_then(|i| t[i..].split_once("]: ").map(|(_, b)| b))
            .unwrap_or(t);
        let mut say = |who: Option<&str>, m: String| {
            let note = l.note(m);
            match who {
                Some(w) => notes.entry(w.to_string()).or_default().push(note),
                None => run_notes.push(note),
            }
        };
        if t.contains(" transmit(") || t.starts_with("transmit(") {
            ours = true;
            for part in t.split("transmit(").skip(1) {
                if let Some((a, _)) = part.split_once(')')
                    && !a.is_empty()
                    && !a.contains(' ')
                {
                    srv(a, l.n, &mut servers, &mut order);
                    servers.get_mut(a).expect("added").transmits += 1;
                }
            }
            let n = t.matches("transmit(").count();
            say(None, format!("{n} request(s) sent"));
        } else if let Some(a) = t.strip_prefix("receive(").and_then(|r| r.strip_suffix(')')) {
            ours = true;
            srv(a, l.n, &mut servers, &mut order);
            servers.get_mut(a).expect("added").receives += 1;
            last_receive = Some(a.to_string());
            say(Some(a), "a datagram arrived from the server".into());
        } else if let Some(why) = t.strip_prefix("receive: ") {
            ours = true;
            let who = last_receive.clone();
            let m = if why.starts_with("pkt.org and peer.xmt differ") {
                if let Some(w) = &who {
                    servers.get_mut(w).expect("seen").org_differ.push(l);
                }
                "its origin is not our last transmit: a stale, duplicated or spoofed reply, thrown away".to_string()
            } else if why.starts_with("mode ") {
                if let Some(w) = &who {
                    servers.get_mut(w).expect("seen").bad_packets.push(l);
                }
                format!(
                    "thrown away: not a server reply ({why}; ntpdate wants mode 4 or 2 and a stratum below 16 on the wire)"
                )
            } else if why.starts_with("packet length") {
                if let Some(w) = &who {
                    servers.get_mut(w).expect("seen").bad_packets.push(l);
                }
                format!("thrown away: {why} (under 48 octets)")
            } else if why.starts_with("server not found") {
                "thrown away: from an address (or port) ntpdate did not ask".into()
            } else if why.starts_with("authentication failed") {
                if let Some(w) = &who {
                    servers.get_mut(w).expect("seen").untrusted = Some(l);
                }
                "the reply failed authentication".into()
            } else {
                continue;
            };
            say(who.as_deref(), m);
        } else if let Some((addr, reason)) = t.split_once(": Server dropped: ") {
            ours = true;
            srv(addr, l.n, &mut servers, &mut order);
            let (kind, meaning) = dropped(reason);
            servers.get_mut(addr).expect("added").dropped = Some((kind, l));
            current = Some(addr.to_string());
            say(Some(addr), meaning.to_string());
        } else if let Some(rest) = t.strip_prefix("server ") {
            // "server ADDR, port 123" (-d) or "server ADDR, stratum N, offset O, delay D" (-q).
            let Some((addr, tail)) = rest.split_once(',') else {
                continue;
            };
            let addr = addr.trim();
            if addr.contains(' ') {
                continue;
            }
            ours = true;
            srv(addr, l.n, &mut servers, &mut order);
            current = Some(addr.to_string());
            let s = servers.get_mut(addr).expect("added");
            let mut m = vec![];
            for part in tail.split(',') {
                let w: Vec<&str> = part.split_whitespace().collect();
                match w.as_slice() {
                    ["stratum", v] => {
                        s.stratum = v.parse().ok();
                        m.push(format!("stratum {v}"));
                    }
                    ["offset", v] => {
                        if let Ok(o) = v.parse() {
                            s.offset = Some((o, l));
                            m.push(format!("offset {v} s"));
                        }
                    }
                    ["delay", v] => {
                        s.delay = v.parse().ok();
                        m.push(format!("delay {v} s"));
                    }
                    _ => {}
                }
            }
            let m = if m.is_empty() {
                "the server's details follow (what ntpdate kept of its replies)".into()
            } else {
                format!("the server's result: {}", m.join(", "))
            };
            say(Some(addr), m);
        } else if t.starts_with("stratum ") && t.contains("leap ") {
            let Some(c) = current.clone() else { continue };
            let s = servers.get_mut(&c).expect("current");
            for part in t.split(',') {
                let w: Vec<&str> = part.split_whitespace().collect();
                match w.as_slice() {
                    ["stratum", v] => s.stratum = v.parse().ok(),
                    ["leap", v] => s.leap = Some(v.to_string()),
                    _ => {}
                }
            }
            let m = format!(
                "stratum {}, leap {}{}",
                s.stratum.map_or("?".into(), |v| v.to_string()),
                s.leap.as_deref().unwrap_or("?"),
                if s.leap.as_deref() == Some("11") || s.stratum == Some(16) {
                    ": the server is not synchronized (stratum 16 is how ntpdate shows a wire stratum of 0)"
                } else {
                    ""
                }
            );
            say(Some(&c), m);
        } else if let Some(r) = t.strip_prefix("refid [") {
            let Some(c) = current.clone() else { continue };
            let refid = r.split(']').next().unwrap_or("").to_string();
            let m = format!("refid {refid}");
            servers.get_mut(&c).expect("current").refid = Some(refid);
            say(Some(&c), m);
        } else if t.starts_with("delay ") && t.contains("offset ") {
            let Some(c) = current.clone() else { continue };
            let s = servers.get_mut(&c).expect("current");
            for part in t.split(',') {
                let w: Vec<&str> = part.split_whitespace().collect();
                match w.as_slice() {
                    ["delay", v] => s.delay = v.parse().ok(),
                    ["offset", v] => s.offset = v.parse().ok().map(|o| (o, l)),
                    _ => {}
                }
            }
            say(
                Some(&c),
                "the best sample's delay, dispersion and offset".into(),
            );
        } else if let Some((sent, kept)) = t
            .strip_prefix("transmitted ")
            .and_then(|r| r.split_once(", in filter "))
        {
            // print_server(): "transmitted %d, in filter %d" (xmtcnt,
            // filter_nextpt). transmit() shifts zeros into the filter for a
            // request that timed out, so the filter holds an entry per
            // request whether it was answered or not.
            let Some(c) = current.clone() else { continue };
            say(
                Some(&c),
                if sent.trim() == kept.trim() {
                    "each request has its place in the clock filter: a reply's sample, or the zeros ntpdate shifts in for one that timed out (the filter lines say which)".into()
                } else {
                    "fewer filter entries than requests: the last request(s) got no reply before ntpdate stopped waiting".into()
                },
            );
        } else if let Some(rest) = body
            .strip_prefix("adjust time server ")
            .or_else(|| body.strip_prefix("step time server "))
        {
            ours = true;
            let w: Vec<&str> = rest.split_whitespace().collect();
            if let (Some(a), Some(o)) = (w.first(), w.get(2).and_then(|o| o.parse::<f64>().ok())) {
                srv(a, l.n, &mut servers, &mut order);
                servers.get_mut(*a).expect("added").offset = Some((o, l));
                say(
                    Some(a),
                    format!(
                        "ntpdate chose {a}: the clock is {o:+} s off from it ({})",
                        if body.starts_with("step") {
                            "stepped, or would be with -q"
                        } else {
                            "slewed, or would be with -q"
                        }
                    ),
                );
            }
        } else if body.contains("no server suitable for synchronization found") {
            ours = true;
            none_suitable = Some(l);
            say(
                None,
                "no server gave a usable reply: see each server's reason".into(),
            );
        } else if body.contains("the NTP socket is in use") {
            ours = true;
            local.push((
                l,
                LocalErrorKind::AddressInUse,
                "the NTP socket is in use (ntpdate)".into(),
            ));
            say(None, "a local daemon holds port 123: use -u, or ask the daemon (ntpq -p, chronyc sources)".into());
        } else if body.starts_with("bind() fails") {
            ours = true;
            let kind = kind_of_message(body);
            local.push((l, kind, body.to_string()));
            say(None, "ntpdate could not bind port 123".into());
        } else if let Some(rest) = body
            .strip_prefix("Error resolving ")
            .or_else(|| body.strip_prefix("Can't find host "))
        {
            ours = true;
            let name = rest.split(':').next().unwrap_or(rest).trim().to_string();
            say(None, format!("the name {name} does not resolve"));
            unresolved.push((l, name));
        } else if body.contains("name server cannot be used") {
            ours = true;
            unresolved.push((l, "the servers' names".into()));
            say(
                None,
                "the resolver itself failed (no DNS server answers): ntpdate gave up".into(),
            );
        } else if body.contains("no servers can be used, exiting") {
            // main(): sys_numservers is 0 after addserver() for each name,
            // and addserver() drops a server only when its name does not
            // resolve (getaddrinfo failed).
            ours = true;
            if unresolved.is_empty() {
                unresolved.push((l, "the servers' names".into()));
            }
            say(
                None,
                "no server was left to ask: ntpdate drops a server only when its name does not resolve, and none did"
                    .into(),
            );
        } else if let Some(name) = t
            .strip_prefix("Looking for host ")
            .and_then(|r| r.split(" and service").next())
        {
            say(None, format!("looking up {name}"));
        } else if let Some(rest) = t.strip_prefix("host found : ") {
            say(None, format!("{rest} resolved"));
        } else if body.contains("rate limit response from server") {
            ours = true;
            if let Some(a) = first_word_addr(body).or_else(|| body.split_whitespace().next()) {
                srv(a, l.n, &mut servers, &mut order);
                servers.get_mut(a).expect("added").kiss = Some(l);
                say(
                    Some(a),
                    "KoD RATE: the server rate-limits this client".into(),
                );
            }
        } else if let Some(rest) = body.strip_prefix("sendto(") {
            ours = true;
            let (a, err) = rest.split_once("):").unwrap_or((rest, ""));
            let kind = kind_of_message(err.trim());
            local.push((l, kind, format!("sendto({a}): {}", err.trim())));
            say(Some(a), format!("sending failed: {}", err.trim()));
        }
    }
    if !ours {
        return vec![];
    }
    let mut out = vec![];
    let debug = seg
        .lines
        .iter()
        .any(|l| l.text.contains("transmit(") || l.text.contains("Server dropped"));
    let kind = if debug {
        Kind::NtpdateDebug
    } else {
        Kind::NtpdateResult
    };
    // In a whole -d run every server asked gets a `Server dropped:` line or
    // a result; one seen only in `transmit(…)` is a cut or mistyped paste
    // when others have more.
    let settled = |s: &Server| {
        s.dropped.is_some() || s.offset.is_some() || s.receives > 0 || s.kiss.is_some()
    };
    if order.iter().any(|n| settled(&servers[n])) {
        order.retain(|n| settled(&servers[n]));
    }
    for name in &order {
        let s = &servers[name];
        let mut x = Exchange::new(Vantage::Paste("ntpdate"), name.clone());
        x.requests = s.transmits;
        judge(&mut x, s, name);
        for (l, kind, msg) in &local {
            x.local.push(l.fact(local_error(*kind, msg)));
        }
        let n = super::server_notes(&mut notes, &run_notes, name, out.is_empty());
        out.push(Explained::at(kind, n, x, s.first));
    }
    if out.is_empty() {
        // Nothing per server: a run that could not start.
        let mut x = Exchange::new(Vantage::Paste("ntpdate"), "ntpdate");
        if let Some((l, name)) = unresolved.first() {
            x.unresolved = Some(name.clone());
            let _ = l;
        }
        for (l, kind, msg) in &local {
            x.local.push(l.fact(local_error(*kind, msg)));
        }
        if x.unresolved.is_none() && x.local.is_empty() {
            let Some(l) = none_suitable else {
                return vec![];
            };
            x.add_silent(l.fact(silent(
                "the servers",
                "no server suitable for synchronization found",
                false,
            )));
        }
        out.push(Explained::at(
            kind,
            run_notes,
            x,
            seg.lines.first().map_or(0, |l| l.n),
        ));
    } else {
        for (_, name) in &unresolved {
            if let Some(e) = out.first_mut() {
                e.verdict
                    .notes
                    .push(format!("ntpdate could not resolve {name}"));
            }
        }
    }
    out
}

fn local_error(kind: LocalErrorKind, msg: &str) -> Local {
    Local {
        error: LocalError {
            kind,
            op: "bind".into(),
            target: "udp/123".into(),
            errno: None,
            message: msg.to_string(),
        },
        doing: "running ntpdate",
    }
}

/// The facts one server's lines give.
fn judge(x: &mut Exchange, s: &Server, name: &str) {
    let kiss_refid = s.refid.as_deref().and_then(|r| match r {
        "RATE" | "DENY" | "RSTR" => KissCode::parse(r),
        _ => None,
    });
    if let Some(l) = s.kiss {
        x.add_kiss(
            Kiss {
                code: KissCode::Rate,
                header: None,
                origin_checked: true,
            },
            l.origin(),
        );
        return;
    }
    match s.dropped {
        Some(("stratum", l)) if kiss_refid.is_some() => x.add_kiss(
            Kiss {
                code: kiss_refid.expect("checked"),
                header: None,
                origin_checked: true,
            },
            l.origin(),
        ),
        Some(("stratum", l)) | Some(("leap", l)) | Some(("broken", l)) | Some(("stale", l))
        | Some(("far", l)) => {
            let reason = match s.dropped.map(|d| d.0) {
                Some("leap") => Some(UnsyncReason::LeapAlarm),
                Some("stratum") => Some(UnsyncReason::Stratum16),
                _ => None,
            };
            x.add_unsync(
                Unsync {
                    reason,
                    header: None,
                    stratum: s.stratum,
                    refid: s.refid.clone(),
                },
                l.origin(),
            );
        }
        Some(("untrusted", l)) => x.add_bogus(
            Bogus {
                from: None,
                detail: "the reply failed authentication (ntpdate -a)".into(),
            },
            l.origin(),
        ),
        Some(("no-data", l)) => {
            if !s.org_differ.is_empty() {
                for d in &s.org_differ {
                    x.add_bogus(
                        Bogus {
                            from: None,
                            detail: "its origin is not our transmit (pkt.org and peer.xmt differ)"
                                .into(),
                        },
                        d.origin(),
                    );
                }
            } else if !s.bad_packets.is_empty() {
                for d in &s.bad_packets {
                    x.add_malformed(
                        Malformed {
                            from: None,
                            len: None,
                            detail: d.text.trim().to_string(),
                        },
                        d.origin(),
                    );
                }
            } else if let Some(u) = s.untrusted {
                x.add_bogus(
                    Bogus {
                        from: None,
                        detail: "the reply failed authentication".into(),
                    },
                    u.origin(),
                );
            } else {
                x.add_silent(l.fact(silent(
                    name,
                    if s.receives > 0 {
                        "no data: every datagram was thrown away"
                    } else {
                        "no data: no reply kept"
                    },
                    false,
                )));
            }
        }
        // A `-q` result line of a server ntpdate kept no reply from, or one
        // that answered unsynchronized: classic ntpdate.c's receive() sets
        // the server's stratum with PKT_TO_STRATUM (wire 0 → 16) only for a
        // reply it accepts, so 16 is a server without time, and 0 (the
        // zeroed struct, with offset and delay 0) one whose every reply was
        // thrown away. Neither is a sample: ntpdate says "no server
        // suitable" after them, and so does the verdict.
        _ if s.stratum.is_some_and(|st| st >= 16) => x.add_unsync(
            Unsync {
                reason: Some(UnsyncReason::Stratum16),
                header: None,
                stratum: s.stratum,
                refid: s.refid.clone(),
            },
            s.offset
                .map_or(crate::diagnose::facts::Origin::Unknown, |(_, l)| l.origin()),
        ),
        _ if s.stratum == Some(0) => x.add_silent(s.offset.map_or_else(
            || {
                crate::diagnose::facts::Fact::new(
                    silent(name, "stratum 0 in ntpdate's result: no reply kept", false),
                    crate::diagnose::facts::Origin::Unknown,
                )
            },
            |(_, l)| {
                l.fact(silent(
                    name,
                    "stratum 0 in ntpdate's result: no reply kept",
                    false,
                ))
            },
        )),
        _ => {
            if let Some((o, l)) = s.offset {
                let delay = s.delay.unwrap_or(0.0).max(0.0);
                x.add_valid(
                    Sample {
                        offset: o,
                        delay,
                        dispersion: 0.0,
                        root_distance: delay / 2.0,
                    },
                    None,
                    l.origin(),
                );
            } else if s.receives > 0 {
                x.valid += 1;
                x.first_answer.get_or_insert(AnswerKind::Valid);
            } else if s.transmits > 0 {
                x.add_silent(crate::diagnose::facts::Fact::new(
                    silent(name, "requests sent, no reply seen", false),
                    crate::diagnose::facts::Origin::Unknown,
                ));
            }
        }
    }
}

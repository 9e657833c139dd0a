//! ntpdig (ntpsec's `ntpclients/ntpdig.py`), also what ntpsec's `ntpdate`
//! shim prints: its `log()` lines (`ntpdig: …`) — lookups, queries, socket
//! errors, MAC checks, every `Response dropped:` reason of `clock_select()`,
//! `no eligible servers` — the result line of `report()` and its `-j` JSON
//! object. One block per server.

use std::collections::BTreeMap;

use super::{Explained, Kind, Line, Note, Segment, silent};
use crate::diagnose::facts::{Bogus, Exchange, Local, Malformed, Origin, Unsync, Vantage};
use crate::engine::exchange::{Sample, UnsyncReason};
use crate::engine::local::LocalError;
use crate::net::errno::kind_of_message;

/// The result: host, offset (s), error (s), stratum, leap.
type Result = (String, f64, f64, Option<u32>, Option<String>);

#[derive(Default)]
struct Server<'a> {
    queried: u64,
    dropped: Vec<(&'a Line, String)>,
    result: Option<(&'a Line, Result)>,
    unresolved: Option<&'a Line>,
    send_error: Option<(&'a Line, String)>,
    untrusted: Option<&'a Line>,
    malformed: Vec<&'a Line>,
    first: usize,
}

/// What each `Response dropped:` reason means (`clock_select()`).
fn dropped_meaning(reason: &str) -> String {
    if reason.starts_with("stratum too high") {
        "stratum 16 (above 15): the server is not synchronized".into()
    } else if reason.starts_with("stratum 0, probable KOD") {
        "stratum 0: a Kiss-o'-Death, or (as from a fresh ntpd, leap 3 + INIT) an unsynchronized server; ntpdig does not print the refid that tells them apart (ntpdig -dd shows the packet)".into()
    } else if reason.starts_with("leap not in sync") {
        "leap 3: the server says it is not synchronized".into()
    } else if reason.starts_with("unexpected response mode") {
        format!("{reason}: not a server reply (mode 4)")
    } else if reason.contains("is too old") || reason.contains("is too new") {
        format!("{reason}: not an NTP version ntpdig takes")
    } else if reason.starts_with("request was authenticated but server is untrusted") {
        "the reply's MAC did not verify with the key given".into()
    } else if reason.starts_with("unexpected response timestamp") {
        "the reply's origin timestamp is zero: it does not answer our request".into()
    } else {
        format!("dropped: {reason}")
    }
}

/// The result line: `DATE TIME (TZ) +OFFSET +/- ERR HOST [IP] sN LEAP`.
fn result_line(t: &str) -> Option<Result> {
    let w: Vec<&str> = t.split_whitespace().collect();
    let pm = w.iter().position(|x| *x == "+/-")?;
    if pm < 1 || w.len() < pm + 3 {
        return None;
    }
    let offset: f64 = w[pm - 1].parse().ok()?;
    let err: f64 = w[pm + 1].parse().ok()?;
    let host = w[pm + 2].to_string();
    let stratum = w
        .iter()
        .skip(pm + 3)
        .find_map(|x| x.strip_prefix('s').and_then(|s| s.parse::<u32>().ok()));
    let leap = w.last().map(|s| s.to_string());
    Some((host, offset, err, stratum, leap))
}

/// ntpdig's `-j` object.
#[derive(serde::Deserialize)]
struct JsonResult {
    offset: f64,
    precision: Option<f64>,
    host: String,
    ip: Option<String>,
    stratum: Option<u32>,
    leap: Option<String>,
}

fn entry<'a, 'b>(
    servers: &'b mut BTreeMap<String, Server<'a>>,
    order: &mut Vec<String>,
    name: &str,
    n: usize,
) -> &'b mut Server<'a> {
    if !servers.contains_key(name) {
        order.push(name.to_string());
    }
    let s = servers.entry(name.to_string()).or_default();
    if s.first == 0 {
        s.first = n;
    }
    s
}

pub fn read(seg: &Segment) -> Vec<Explained> {
    let mut servers: BTreeMap<String, Server> = BTreeMap::new();
    let mut order: Vec<String> = vec![];
    let mut notes: BTreeMap<String, Vec<Note>> = BTreeMap::new();
    let mut run_notes: Vec<Note> = vec![];
    let mut none_eligible: Option<&Line> = None;
    let mut json = false;
    let mut last_host: Option<String> = None;
    let mut ours = false;
    for l in seg.lines {
        let t = l.text.trim();
        if t.starts_with('{') && t.contains("\"offset\"") {
            if let Ok(j) = serde_json::from_str::<JsonResult>(t) {
                ours = true;
                json = true;
                let name = j.host.clone();
                let s = entry(&mut servers, &mut order, &name, l.n);
                s.result = Some((
                    l,
                    (
                        name.clone(),
                        j.offset,
                        j.precision.unwrap_or(0.0),
                        j.stratum,
                        j.leap.clone(),
                    ),
                ));
                notes.entry(name).or_default().push(l.note(format!(
                    "ntpdig -j: {} ({}) offset {:+} s, stratum {}, {}",
                    j.host,
                    j.ip.as_deref().unwrap_or("?"),
                    j.offset,
                    j.stratum.map_or("?".into(), |s| s.to_string()),
                    j.leap.as_deref().unwrap_or("?")
                )));
            }
            continue;
        }
        let Some(msg) = t
            .strip_prefix("ntpdig: ")
            .or_else(|| t.strip_prefix("sntp: "))
        else {
            if let Some((host, o, e, st, leap)) = result_line(t)
                && (t.ends_with("no-leap")
                    || t.ends_with("add-leap")
                    || t.ends_with("del-leap")
                    || t.ends_with("unsync"))
            {
                ours = true;
                let s = entry(&mut servers, &mut order, &host, l.n);
                s.result = Some((
                    l,
                    (
                        host.clone(),
                        o,
                        e,
                        st,
                        Some(leap.clone().unwrap_or_default()),
                    ),
                ));
                notes.entry(host.clone()).or_default().push(l.note(format!(
                    "the result: {host} is {o:+} s from this clock (± {e} s), stratum {}, {}",
                    st.map_or("?".into(), |s| s.to_string()),
                    leap.unwrap_or_default()
                )));
            }
            continue;
        };
        ours = true;
        if let Some(rest) = msg.strip_prefix("lookup of ") {
            let name = rest.split(" failed").next().unwrap_or(rest).to_string();
            entry(&mut servers, &mut order, &name, l.n).unresolved = Some(l);
            notes
                .entry(name.clone())
                .or_default()
                .push(l.note(format!("the name {name} does not resolve")));
        } else if let Some(rest) = msg.strip_prefix("querying ") {
            // "querying ADDR (NAME)"
            let name = rest
                .split_once(" (")
                .map_or(rest, |(_, n)| n.trim_end_matches(')'))
                .to_string();
            let addr = rest.split_whitespace().next().unwrap_or("").to_string();
            entry(&mut servers, &mut order, &name, l.n).queried += 1;
            last_host = Some(name.clone());
            notes
                .entry(name)
                .or_default()
                .push(l.note(format!("a request to {addr} went out")));
        } else if let Some(err) = msg.strip_prefix("socket error on transmission: ") {
            let who = last_host.clone().unwrap_or_else(|| "the server".into());
            entry(&mut servers, &mut order, &who, l.n).send_error = Some((l, err.to_string()));
            notes
                .entry(who)
                .or_default()
                .push(l.note(format!("sending failed on this host: {err}")));
        } else if let Some((host, reason)) = msg.split_once(": Response dropped: ") {
            entry(&mut servers, &mut order, host, l.n)
                .dropped
                .push((l, reason.to_string()));
            notes
                .entry(host.to_string())
                .or_default()
                .push(l.note(dropped_meaning(reason)));
        } else if msg.starts_with("no eligible servers") {
            none_eligible = Some(l);
            run_notes.push(l.note("nothing usable: ntpdig's same words for silence, refusal, an unsynchronized server and a failed lookup"));
        } else if let Some(rest) = msg.strip_prefix("MAC verification on reply from ") {
            if rest.ends_with("failed") {
                let a = rest.split_whitespace().next().unwrap_or("").to_string();
                let who = last_host.clone().unwrap_or(a);
                entry(&mut servers, &mut order, &who, l.n).untrusted = Some(l);
                notes
                    .entry(who)
                    .or_default()
                    .push(l.note("the reply's MAC did not verify"));
            }
        } else if msg.starts_with("impossible packet length")
            || msg.starts_with("Packet is a runt")
            || msg.starts_with("Unsupported DES authentication")
        {
            let who = last_host.clone().unwrap_or_else(|| "the server".into());
            entry(&mut servers, &mut order, &who, l.n).malformed.push(l);
            notes
                .entry(who)
                .or_default()
                .push(l.note("a reply that is not a valid NTP packet"));
        } else if msg.starts_with("no MAC on reply") {
            run_notes.push(l.note("the reply carries no MAC although a key was given"));
        } else if msg.starts_with("authenticating with") {
            run_notes.push(l.note("requests carry a MAC (symmetric key)"));
        }
    }
    if !ours {
        return vec![];
    }
    let kind = if json {
        Kind::NtpdigJson
    } else {
        Kind::NtpdigDebug
    };
    let mut out = vec![];
    for name in &order {
        let s = &servers[name];
        let mut x = Exchange::new(Vantage::Paste("ntpdig"), name.clone());
        x.requests = s.queried;
        if let Some(l) = s.unresolved {
            x.unresolved = Some(name.clone());
            let _ = l;
        } else if let Some((l, err)) = &s.send_error {
            x.local.push(l.fact(Local {
                error: LocalError {
                    kind: kind_of_message(err),
                    op: "sendto".into(),
                    target: format!("{name}:123"),
                    errno: None,
                    message: err.clone(),
                },
                doing: "sending the request",
            }));
        }
        for (l, reason) in &s.dropped {
            if reason.starts_with("stratum too high")
                || reason.starts_with("leap not in sync")
                || reason.starts_with("stratum 0")
            {
                x.add_unsync(
                    Unsync {
                        reason: if reason.starts_with("leap") {
                            Some(UnsyncReason::LeapAlarm)
                        } else if reason.starts_with("stratum too high") {
                            Some(UnsyncReason::Stratum16)
                        } else {
                            None
                        },
                        header: None,
                        stratum: Some(if reason.starts_with("stratum 0") {
                            0
                        } else {
                            16
                        }),
                        refid: None,
                    },
                    l.origin(),
                );
            } else if reason.starts_with("unexpected response timestamp")
                || reason.starts_with("request was authenticated")
            {
                x.add_bogus(
                    Bogus {
                        from: None,
                        detail: dropped_meaning(reason),
                    },
                    l.origin(),
                );
            } else {
                x.add_malformed(
                    Malformed {
                        from: None,
                        len: None,
                        detail: dropped_meaning(reason),
                    },
                    l.origin(),
                );
            }
        }
        if let Some(l) = s.untrusted {
            x.add_bogus(
                Bogus {
                    from: None,
                    detail: "the reply's MAC did not verify".into(),
                },
                l.origin(),
            );
        }
        for l in &s.malformed {
            x.add_malformed(
                Malformed {
                    from: None,
                    len: None,
                    detail: l.text.trim().to_string(),
                },
                l.origin(),
            );
        }
        if let Some((l, (_, o, e, _, leap))) = &s.result {
            if leap.as_deref() == Some("unsync") {
                x.add_unsync(
                    Unsync {
                        reason: Some(UnsyncReason::LeapAlarm),
                        header: None,
                        stratum: None,
                        refid: None,
                    },
                    l.origin(),
                );
            } else {
                x.add_valid(
                    Sample {
                        offset: *o,
                        delay: 0.0,
                        dispersion: 0.0,
                        root_distance: e.abs(),
                    },
                    None,
                    l.origin(),
                );
            }
        }
        if !x.heard() && x.unresolved.is_none() && x.local.is_empty() {
            let at = none_eligible.map_or(Origin::Unknown, |l| l.origin());
            x.add_silent(crate::diagnose::facts::Fact::new(
                silent(
                    name,
                    "no reply came back (ntpdig: no eligible servers)",
                    false,
                ),
                at,
            ));
        }
        let n = super::server_notes(&mut notes, &run_notes, name, out.is_empty());
        out.push(Explained::at(kind, n, x, s.first));
    }
    // ntpdig ends a run either with a result or with "no eligible
    // servers" (main(): report() or log()), never both: beside a result,
    // the words come from another run pasted with it, and stand.
    let any_result = order.iter().any(|n| servers[n].result.is_some());
    if (out.is_empty() || any_result)
        && let Some(l) = none_eligible
    {
        let mut x = Exchange::new(Vantage::Paste("ntpdig"), "the server");
        x.add_silent(l.fact(silent("the server", "no eligible servers", false)));
        out.push(Explained::at(kind, run_notes, x, l.n));
    }
    out
}

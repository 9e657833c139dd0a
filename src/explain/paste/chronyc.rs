//! chronyc, from the formats in chrony's `client.c`: `sources` (text, `-v`,
//! `-c`), `sourcestats`, `selectdata`, `tracking` (text and `-c`),
//! `ntpdata`, `activity`, `authdata`, and its numbered error replies.
//!
//! One concept at about 1,000 lines: every report of one tool, read from
//! one source file (`client.c`) whose column widths, CSV fields and error
//! numbers they share; split by report they would each repeat them.

use super::{Explained, Kind, Line, Note, Segment, silent, view};
use crate::diagnose::facts::{Bogus, Exchange, Unsync, Vantage};
use crate::engine::exchange::UnsyncReason;

pub fn read(seg: &Segment) -> Vec<Explained> {
    let mut out = vec![];
    out.extend(sources(seg.lines));
    out.extend(sourcestats(seg.lines));
    out.extend(sourcestats_csv(seg.lines, seg.command.as_deref()));
    out.extend(selectdata_csv(seg.lines));
    out.extend(ntpdata_csv(seg.lines));
    out.extend(selectdata(seg.lines));
    out.extend(tracking(seg.lines));
    out.extend(tracking_csv(seg.lines));
    out.extend(ntpdata(seg.lines));
    out.extend(activity(seg.lines, seg.command.as_deref()));
    out.extend(authdata(seg.lines, seg.command.as_deref()));
    out.extend(errors(seg.lines));
    out
}

fn chrony_state(c: char) -> &'static str {
    match c {
        '*' => "selected: the clock is synchronized to it",
        '+' => "combined with the selected source",
        '-' => "selectable, not combined",
        'x' => "falseticker: may be in error",
        '~' => "too variable",
        _ => "not selectable (unreachable, unsynchronised, or not enough measurements yet)",
    }
}

/// A chronyc source row: mode, state, name, stratum, reach, the line.
#[derive(Clone, Debug)]
struct SourceRow<'a> {
    mode: char,
    state: char,
    name: String,
    reach: u32,
    line: &'a Line,
}

fn csv_source_row(l: &Line) -> Option<SourceRow<'_>> {
    let f: Vec<&str> = l.text.trim().split(',').collect();
    (f.len() >= 10 && matches!(f[0], "^" | "=" | "#") && f[1].chars().count() == 1).then(|| {
        SourceRow {
            mode: f[0].chars().next().unwrap_or('^'),
            state: f[1].chars().next().unwrap_or('?'),
            name: f[2].to_string(),
            reach: u32::from_str_radix(f[5], 8).unwrap_or(0),
            line: l,
        }
    })
}

/// Every `sources` table (text or `-c`) in the lines.
fn source_tables(lines: &[Line]) -> Vec<(Kind, usize, Vec<SourceRow<'_>>)> {
    let mut out = vec![];
    let mut i = 0;
    while i < lines.len() {
        if let Some(r) = csv_source_row(&lines[i]) {
            let first = lines[i].n;
            let mut rows = vec![r];
            i += 1;
            while let Some(r) = lines.get(i).and_then(csv_source_row) {
                rows.push(r);
                i += 1;
            }
            out.push((Kind::ChronycSourcesCsv, first, rows));
            continue;
        }
        if !lines[i].text.trim_start().starts_with("MS Name/IP address") {
            i += 1;
            continue;
        }
        let first = lines[i].n;
        let mut rows = vec![];
        i += 1;
        while i < lines.len() {
            let l = &lines[i];
            if l.text.starts_with("==") {
                i += 1;
                continue;
            }
            let mut ch = l.text.chars();
            let (Some(m), Some(s)) = (ch.next(), ch.next()) else {
                break;
            };
            if !"^=#".contains(m) {
                break;
            }
            // After the two state characters, whatever their width.
            let w: Vec<&str> = ch.as_str().split_whitespace().collect();
            if w.len() < 5 {
                break;
            }
            rows.push(SourceRow {
                mode: m,
                state: s,
                name: w[0].to_string(),
                reach: u32::from_str_radix(w[3], 8).unwrap_or(0),
                line: l,
            });
            i += 1;
        }
        out.push((Kind::ChronycSources, first, rows));
    }
    out
}

/// `chronyc sources` rows of the first table in `text`: state character,
/// name or address, reach.
pub fn chrony_rows(text: &str) -> Vec<(char, String, u32)> {
    let lines = super::clean(text);
    source_tables(&lines)
        .into_iter()
        .next()
        .map(|(_, _, rows)| {
            rows.into_iter()
                .map(|r| (r.state, r.name, r.reach))
                .collect()
        })
        .unwrap_or_default()
}

fn sources(lines: &[Line]) -> Vec<Explained> {
    source_tables(lines)
        .into_iter()
        .map(|(kind, first, rows)| {
            let notes = rows
                .iter()
                .map(|r| {
                    r.line.note(format!(
                        "{}: {}{}; reach {:o}{}",
                        r.name,
                        chrony_state(r.state),
                        match r.mode {
                            '#' => " (a reference clock)",
                            '=' => " (a peer)",
                            _ => "",
                        },
                        r.reach,
                        if r.reach == 0 {
                            " (no reply in the last 8 polls)"
                        } else {
                            ""
                        }
                    ))
                })
                .collect();
            let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
            let mut x = Exchange::new(Vantage::Paste("chronyc sources"), names.join(", "));
            let mut d = view("chronyd");
            let net: Vec<&SourceRow> = rows.iter().filter(|r| r.mode != '#').collect();
            d.sources = net.len();
            d.answering = net.iter().filter(|r| r.reach > 0).count();
            d.falsetickers = net.iter().filter(|r| r.reach > 0 && r.state == 'x').count();
            if rows.is_empty() {
                d.no_sources = Some(
                    lines
                        .iter()
                        .find(|l| l.n == first)
                        .map_or(crate::diagnose::facts::Origin::Unknown, Line::origin),
                );
            }
            for r in &rows {
                if r.state == '*' {
                    d.synchronized.get_or_insert(r.line.fact(true));
                    d.sys_peer.get_or_insert(r.name.clone());
                }
                if r.reach == 0 && r.mode != '#' {
                    x.add_silent(r.line.fact(silent(
                        &r.name,
                        "reach 0: no reply in the last 8 polls",
                        true,
                    )));
                }
            }
            x.daemon = Some(d);
            Explained::at(kind, notes, x, first)
        })
        .collect()
}

/// `sourcestats`: NP samples, NR runs, span, frequency, skew, offset, std dev.
fn sourcestats(lines: &[Line]) -> Vec<Explained> {
    let Some(h) = lines.iter().position(|l| {
        l.text.trim_start().starts_with("Name/IP Address") && l.text.contains(" NP ")
    }) else {
        return vec![];
    };
    let mut notes = vec![];
    let mut x = Exchange::new(Vantage::Paste("chronyc sourcestats"), "chronyd's sources");
    let mut d = crate::diagnose::facts::DaemonView::default();
    for l in lines.iter().skip(h + 1) {
        if l.text.starts_with("==") {
            continue;
        }
        let w: Vec<&str> = l.text.split_whitespace().collect();
        if w.len() < 8 {
            break;
        }
        let Ok(np) = w[1].parse::<u32>() else { break };
        sourcestats_row(&mut x, &mut d, &mut notes, l, &w, np);
    }
    finish_sourcestats(x, d, notes, lines[h].n)
}

/// `chronyc -c sourcestats`: name,NP,NR,span,frequency,skew,offset,std dev.
fn sourcestats_csv(lines: &[Line], command: Option<&str>) -> Vec<Explained> {
    if !command.is_some_and(|c| c.contains("sourcestats")) {
        return vec![];
    }
    let mut notes = vec![];
    let mut x = Exchange::new(
        Vantage::Paste("chronyc -c sourcestats"),
        "chronyd's sources",
    );
    let mut d = crate::diagnose::facts::DaemonView::default();
    let mut first = None;
    for l in lines {
        let w: Vec<&str> = l.text.trim().split(',').collect();
        if w.len() != 8 {
            continue;
        }
        let Ok(np) = w[1].parse::<u32>() else {
            continue;
        };
        first.get_or_insert(l.n);
        sourcestats_row(&mut x, &mut d, &mut notes, l, &w, np);
    }
    match first {
        Some(n) => finish_sourcestats(x, d, notes, n),
        None => vec![],
    }
}

fn sourcestats_row(
    x: &mut Exchange,
    d: &mut crate::diagnose::facts::DaemonView,
    notes: &mut Vec<Note>,
    l: &Line,
    w: &[&str],
    np: u32,
) {
    {
        d.sources += 1;
        if np == 0 {
            x.add_silent(l.fact(silent(w[0], "no sample kept (NP 0)", true)));
            notes.push(l.note(format!(
                "{}: no measurement yet: it never answered, or its replies were unusable",
                w[0]
            )));
        } else {
            d.answering += 1;
            notes.push(l.note(format!(
                "{}: {np} sample(s) over {}, offset {} (std dev {}), frequency {} ppm ± {} ppm{}",
                w[0],
                w[3],
                w[6],
                w[7],
                w[4],
                w[5],
                if np < 4 {
                    "; too few samples to be selected yet (chrony wants several)"
                } else {
                    ""
                }
            )));
        }
    }
}

fn finish_sourcestats(
    mut x: Exchange,
    d: crate::diagnose::facts::DaemonView,
    notes: Vec<Note>,
    first: usize,
) -> Vec<Explained> {
    if notes.is_empty() {
        return vec![];
    }
    // Samples kept are replies that passed chronyd's tests; the table does
    // not say which source is selected, so no daemon view. A source without
    // samples is the finding, before the others' good time.
    if x.silent_sources.is_empty() {
        x.valid = d.answering as u64;
        x.first_answer = Some(crate::diagnose::facts::AnswerKind::Valid);
    }
    vec![Explained::at(Kind::ChronycSourcestats, notes, x, first)]
}

/// `selectdata`'s state letters (chronyc.adoc; client.c legend).
fn select_letter(c: char) -> &'static str {
    match c {
        'N' => "noselect: configured never to be selected",
        'M' => "not enough measurements yet",
        's' => "not synchronised: it says it has no good time, or has not answered yet",
        'r' => "stratum outside minstratum/maxstratum",
        'd' => "root distance over maxdistance (3 s)",
        'D' => "distance too large to be combined (combinelimit)",
        '~' => "jitter over maxjitter",
        'w' | 'W' => "waits for other sources (minsources, require, or stale ones to go)",
        'S' => "stale: unreachable for too long (maxunreach)",
        'O' => "orphan stratum",
        'T' => "does not agree with the trusted sources",
        'P' => "another source is preferred",
        'U' => "waits for a new measurement",
        'x' => "falseticker: its interval does not meet the majority's",
        '+' => "combined with the best",
        '*' => "selected: the best source",
        _ => "unknown state",
    }
}

fn selectdata(lines: &[Line]) -> Vec<Explained> {
    let Some(h) = lines.iter().position(|l| {
        l.text.trim_start().starts_with("S Name/IP Address") && l.text.contains("COpts")
    }) else {
        return vec![];
    };
    let mut rows = vec![];
    for l in lines.iter().skip(h + 1) {
        if l.text.starts_with("==") {
            continue;
        }
        let w: Vec<&str> = l.text.split_whitespace().collect();
        if w.len() < 5 || w[0].chars().count() != 1 {
            break;
        }
        rows.push((l, w[0].chars().next().unwrap_or('?'), w[1].to_string()));
    }
    judge_selectdata(&rows, lines[h].n)
}

/// `chronyc -c selectdata`: state,name,auth,5 configured and 5 effective
/// option letters,last,score,low,high,leap.
fn selectdata_csv(lines: &[Line]) -> Vec<Explained> {
    let rows: Vec<(&Line, char, String)> = lines
        .iter()
        .filter_map(|l| {
            let w: Vec<&str> = l.text.trim().split(',').collect();
            (w.len() == 18
                && w[0].chars().count() == 1
                && matches!(
                    w[17],
                    "Normal" | "Insert second" | "Delete second" | "Not synchronised"
                ))
            .then(|| (l, w[0].chars().next().unwrap_or('?'), w[1].to_string()))
        })
        .collect();
    match rows.first() {
        Some((l, _, _)) => judge_selectdata(&rows, l.n),
        None => vec![],
    }
}

fn judge_selectdata(rows: &[(&Line, char, String)], first: usize) -> Vec<Explained> {
    if rows.is_empty() {
        return vec![];
    }
    let mut notes = vec![];
    let mut x = Exchange::new(Vantage::Paste("chronyc selectdata"), "chronyd's sources");
    let mut d = view("chronyd");
    for (l, c, name) in rows {
        let (l, c, name) = (*l, *c, name.as_str());
        d.sources += 1;
        notes.push(l.note(format!("{name}: {}", select_letter(c))));
        match c {
            '*' => {
                d.synchronized.get_or_insert(l.fact(true));
                d.sys_peer.get_or_insert(name.to_string());
                d.answering += 1;
            }
            // chronyd marks `s` a source whose leap is unsynchronised,
            // which is also what it holds for one that never answered:
            // selectdata cannot tell them apart (`sources` reach can).
            's' => x.add_silent(l.fact(silent(
                name,
                "state s: no synchronised reply (it has not answered, or it says it is unsynchronised)",
                true,
            ))),
            'd' => {
                d.answering += 1;
                x.add_unsync(
                    Unsync {
                        reason: None,
                        header: None,
                        stratum: None,
                        refid: None,
                    },
                    l.origin(),
                );
            }
            'S' => x.add_silent(l.fact(silent(name, "stale: no reply for too long (S)", true))),
            'x' => {
                d.answering += 1;
                d.falsetickers += 1;
            }
            'M' | 'U' | 'w' | 'W' | '+' | 'P' | 'D' | '~' | 'T' | 'O' | 'r' => d.answering += 1,
            _ => {}
        }
    }
    x.daemon = Some(d);
    vec![Explained::at(Kind::ChronycSelectdata, notes, x, first)]
}

/// chrony's leap status words (`client.c` %L).
fn leap_unsync(v: &str) -> bool {
    v.contains("Not synchronised")
}

/// The local reference (`local` directive): refid 127.127.1.1.
const LOCAL_REFID: &str = "7F7F0101";

/// Every tracking report in the lines, one block each: two reports pasted
/// together are two moments, and neither outvotes the other.
/// A tracking report opens with `Reference ID` then `Stratum` (client.c's
/// process_cmd_tracking format); ntpdata's `Reference ID` line is followed
/// by `Reference time` and belongs to that report.
fn tracking(lines: &[Line]) -> Vec<Explained> {
    let key = |l: &Line| l.text.split_once(':').map(|(k, _)| k.trim().to_string());
    lines
        .iter()
        .enumerate()
        .filter(|(h, l)| {
            key(l).as_deref() == Some("Reference ID")
                && lines.get(h + 1).and_then(key).as_deref() == Some("Stratum")
        })
        .map(|(h, _)| tracking_at(lines, h))
        .collect()
}

/// The tracking report whose `Reference ID` line is `lines[h]`.
fn tracking_at(lines: &[Line], h: usize) -> Explained {
    let mut notes = vec![];
    let mut d = view("chronyd");
    let mut never = false;
    let mut seen_leap = false;
    for (i, l) in lines.iter().enumerate().skip(h) {
        let Some((k, v)) = l.text.split_once(':') else {
            break;
        };
        let (k, v) = (k.trim(), v.trim());
        if i > h && k == "Reference ID" {
            break;
        }
        let m = match k {
            "Reference ID" if v.starts_with("00000000") => {
                never = true;
                "no reference: chronyd has not selected any source".to_string()
            }
            "Reference ID" if v.starts_with(LOCAL_REFID) => {
                d.local_clock =
                    Some(l.fact("its own clock (`local` directive, refid 7F7F0101)".into()));
                "the local reference: chronyd serves its own clock (`local stratum`), no source is selected".to_string()
            }
            "Reference ID" => {
                d.sys_peer = Some(v.to_string());
                format!("synchronized to {v}")
            }
            "Stratum" if v == "0" => "stratum 0: not synchronized".to_string(),
            "Stratum" => format!("stratum {v}"),
            "Ref time (UTC)" if v.contains("1970") => {
                never = true;
                "reference time 1970: never synchronized since chronyd started".to_string()
            }
            "Ref time (UTC)" => format!("last update of the reference: {v}"),
            "System time" => {
                if let Some(s) = v
                    .split_whitespace()
                    .next()
                    .and_then(|s| s.parse::<f64>().ok())
                {
                    let sign = if v.contains("slow") { -1.0 } else { 1.0 };
                    d.clock_offset_s = Some(l.fact(sign * s));
                }
                format!("the system clock is {v}: chronyd is slewing that away")
            }
            "Last offset" => format!("the last update's offset: {v}"),
            "RMS offset" => format!("long-term average offset: {v}"),
            "Frequency" => format!("the clock's frequency error: {v}"),
            "Residual freq" => format!("residual frequency of the reference: {v}"),
            "Skew" => format!("estimated error bound of the frequency: {v}"),
            "Root delay" => format!("total round trip to the stratum-1 source: {v}"),
            "Root dispersion" => {
                let big = v
                    .split_whitespace()
                    .next()
                    .and_then(|s| s.parse::<f64>().ok())
                    .is_some_and(|s| s > 1.0);
                format!(
                    "accumulated dispersion: {v}{}",
                    if big {
                        " — large: the reference is old or poor"
                    } else {
                        ""
                    }
                )
            }
            "Update interval" => format!("time between the last two updates: {v}"),
            "Leap status" if leap_unsync(v) => {
                seen_leap = true;
                d.synchronized = Some(l.fact(false));
                "not synchronised".to_string()
            }
            "Leap status" => {
                seen_leap = true;
                d.synchronized = Some(l.fact(true));
                format!("leap status {v}: synchronized")
            }
            _ => break,
        };
        notes.push(l.note(m));
        if seen_leap {
            break;
        }
    }
    if never || d.synchronized.as_ref().is_some_and(|s| !s.value) {
        d.sys_peer = None;
    }
    let mut x = Exchange::new(Vantage::Paste("chronyc tracking"), "chronyd");
    x.daemon = Some(d);
    Explained::at(Kind::ChronycTracking, notes, x, lines[h].n)
}

/// `chronyc -c tracking`: refid, name, stratum, ref time, system time,
/// last offset, RMS offset, frequency, residual, skew, root delay, root
/// dispersion, update interval, leap status.
fn tracking_csv(lines: &[Line]) -> Vec<Explained> {
    let mut out = vec![];
    for l in lines {
        let f: Vec<&str> = l.text.trim().split(',').collect();
        if f.len() != 14
            || f[0].len() != 8
            || !f[0].chars().all(|c| c.is_ascii_hexdigit())
            || !matches!(
                f[13],
                "Normal" | "Insert second" | "Delete second" | "Not synchronised"
            )
        {
            continue;
        }
        let mut d = view("chronyd");
        let unsync = leap_unsync(f[13]) || f[0] == "00000000";
        d.synchronized = Some(l.fact(!unsync));
        if f[0] == LOCAL_REFID {
            d.local_clock =
                Some(l.fact("its own clock (`local` directive, refid 7F7F0101)".into()));
        } else if !unsync {
            d.sys_peer = Some(format!("{} ({})", f[0], f[1]));
        }
        if let Ok(s) = f[4].parse::<f64>() {
            d.clock_offset_s = Some(l.fact(s));
        }
        let m = format!(
            "reference {} ({}), stratum {}, system clock {} s, leap status {}{}",
            f[0],
            f[1],
            f[2],
            f[4],
            f[13],
            if unsync { ": not synchronised" } else { "" }
        );
        out.push(super::one_line(
            Kind::ChronycTracking,
            "chronyc -c tracking",
            d,
            l,
            m,
        ));
    }
    out
}

/// `ntpdata`: one block per `Remote address` line.
fn ntpdata(lines: &[Line]) -> Vec<Explained> {
    let mut out = vec![];
    let mut i = 0;
    while i < lines.len() {
        let Some(addr) = lines[i]
            .text
            .trim()
            .strip_prefix("Remote address")
            .and_then(|r| r.split_once(':'))
            .map(|(_, v)| v.split_whitespace().next().unwrap_or("").to_string())
        else {
            i += 1;
            continue;
        };
        let first = lines[i].n;
        let mut notes: Vec<Note> = vec![];
        let x = Exchange::new(Vantage::Paste("chronyc ntpdata"), addr.clone());
        let mut leap_bad: Option<&Line> = None;
        let mut stratum: Option<u32> = None;
        let mut tests: Option<(&Line, String)> = None;
        let mut tx = 0u64;
        let mut rx: Option<(&Line, u64)> = None;
        let mut valid = 0u64;
        let mut good = 0u64;
        let mut j = i;
        while j < lines.len() {
            let l = &lines[j];
            let Some((k, v)) = l.text.split_once(':') else {
                break;
            };
            let (k, v) = (k.trim(), v.trim());
            if j > i && k == "Remote address" {
                break;
            }
            let m = match k {
                "Leap status" if leap_unsync(v) => {
                    leap_bad = Some(l);
                    "leap 3: the source says it is not synchronised".to_string()
                }
                "Stratum" => {
                    stratum = v.parse().ok();
                    format!(
                        "stratum {v}{}",
                        if v == "0" || v == "16" {
                            ": unsynchronized"
                        } else {
                            ""
                        }
                    )
                }
                "NTP tests" => {
                    tests = Some((l, v.to_string()));
                    test_meaning(v)
                }
                "Total TX" => {
                    tx = v.parse().unwrap_or(0);
                    format!("{v} request(s) sent")
                }
                "Total RX" => {
                    rx = v.parse().ok().map(|n| (l, n));
                    format!("{v} datagram(s) received")
                }
                "Total valid RX" => {
                    valid = v.parse().unwrap_or(0);
                    format!("{v} passed tests 1-3 and 5 (the reply answers a request)")
                }
                "Total good RX" => {
                    good = v.parse().unwrap_or(0);
                    format!("{v} passed every test")
                }
                _ => {
                    j += 1;
                    continue;
                }
            };
            notes.push(l.note(m));
            j += 1;
        }
        i = j.max(i + 1);
        out.push(judge_ntpdata(
            x,
            notes,
            first,
            Counters {
                tx,
                rx,
                valid,
                good,
            },
            tests,
            leap_bad,
            stratum,
        ));
    }
    out
}

/// ntpdata's Total TX/RX/valid RX/good RX.
struct Counters<'a> {
    tx: u64,
    rx: Option<(&'a Line, u64)>,
    valid: u64,
    good: u64,
}

fn judge_ntpdata(
    mut x: Exchange,
    notes: Vec<Note>,
    first: usize,
    c: Counters,
    tests: Option<(&Line, String)>,
    leap_bad: Option<&Line>,
    stratum: Option<u32>,
) -> Explained {
    let addr = x.who.clone();
    x.requests = c.tx;
    if let Some((l, 0)) = c.rx {
        // Nothing received: the other fields are chronyd's zeroes.
        let why = if c.tx > 0 {
            "Total RX 0: no reply at all"
        } else {
            "Total TX 0, Total RX 0: no request has gone out yet (no route or address, the source is offline, or it was just added)"
        };
        x.add_silent(l.fact(silent(&addr, why, false)));
    } else {
        if let Some((l, t)) = &tests {
            let bits: Vec<char> = t.chars().filter(|c| *c == '0' || *c == '1').collect();
            if bits.get(1) == Some(&'0') {
                x.add_bogus(
                    Bogus {
                        from: None,
                        detail: "NTP test 2 failed: the origin is not our transmit".into(),
                    },
                    l.origin(),
                );
            }
        }
        if leap_bad.is_some() || stratum.is_some_and(|s| s == 0 || s >= 16) {
            let at = leap_bad.map_or(crate::diagnose::facts::Origin::Unknown, Line::origin);
            x.add_unsync(
                Unsync {
                    reason: Some(UnsyncReason::LeapAlarm),
                    header: None,
                    stratum,
                    refid: None,
                },
                at,
            );
        } else if c.good > 0 || c.valid > 0 {
            x.valid = c.good.max(c.valid);
            x.first_answer
                .get_or_insert(crate::diagnose::facts::AnswerKind::Valid);
        }
    }
    Explained::at(Kind::ChronycNtpdata, notes, x, first)
}

/// `chronyc -c ntpdata`: one line per source, 34 fields (client.c's
/// ntpdata report in order: remote address and refid, port, local address
/// and refid, leap, version, mode, stratum, … NTP tests in three fields,
/// …, total TX, RX, valid RX, good RX).
fn ntpdata_csv(lines: &[Line]) -> Vec<Explained> {
    let mut out = vec![];
    for l in lines {
        let f: Vec<&str> = l.text.trim().split(',').collect();
        if f.len() != 34
            || !matches!(
                f[5],
                "Normal" | "Insert second" | "Delete second" | "Not synchronised"
            )
        {
            continue;
        }
        let n = |i: usize| f[i].parse::<u64>().unwrap_or(0);
        let stratum = f[8].parse::<u32>().ok();
        let tests = format!("{} {} {}", f[23], f[24], f[25]);
        let x = Exchange::new(Vantage::Paste("chronyc -c ntpdata"), f[0].to_string());
        let notes = vec![l.note(format!(
            "{}: leap {}, stratum {}, {}; {} sent, {} received, {} valid, {} good",
            f[0],
            f[5],
            f[8],
            test_meaning(&tests),
            f[30],
            f[31],
            f[32],
            f[33]
        ))];
        let rx = n(31);
        out.push(judge_ntpdata(
            x,
            notes,
            l.n,
            Counters {
                tx: n(30),
                rx: Some((l, rx)),
                valid: n(32),
                good: n(33),
            },
            (rx > 0).then(|| (l, tests.clone())),
            (rx > 0 && leap_unsync(f[5])).then_some(l),
            if rx > 0 { stratum } else { None },
        ));
    }
    out
}

/// `NTP tests : abc def ABCD` (1 = passed): tests 1-3, 5-7 of RFC 5905 and
/// chrony's A maxdelay, B delay ratio, C delay deviation, D sync loop.
fn test_meaning(v: &str) -> String {
    const NAMES: [&str; 10] = [
        "1 duplicate",
        "2 origin (bogus)",
        "3 interleaved/zero timestamps",
        "5 authentication",
        "6 leap/stratum (unsynchronized)",
        "7 root delay/dispersion over limits",
        "A delay over maxdelay",
        "B delay ratio",
        "C delay deviation",
        "D synchronization loop",
    ];
    let bits: Vec<char> = v.chars().filter(|c| *c == '0' || *c == '1').collect();
    let failed: Vec<&str> = bits
        .iter()
        .zip(NAMES)
        .filter(|(b, _)| **b == '0')
        .map(|(_, n)| n)
        .collect();
    if failed.is_empty() {
        "every packet test passed".into()
    } else {
        format!("failed tests: {}", failed.join(", "))
    }
}

/// chronyc's replies from the daemon that say nothing of time (client.c's
/// reply status codes, `print_reply_status`), with what each means; 506 and
/// 508 are chronyc not reaching chronyd, judged elsewhere.
const REPLY_CODES: &[(&str, &str)] = &[
    (
        "500 Failure",
        "chronyc's reply \"500 Failure\": chronyd refused the command",
    ),
    (
        "501 Not authorised",
        "chronyc's reply \"501 Not authorised\": the command needs chronyd's own authorisation (chronyc as root, on the Unix command socket)",
    ),
    (
        "502 Invalid command",
        "chronyc's reply \"502 Invalid command\": chronyd does not know the command (an older chronyd)",
    ),
    (
        "503 No such source",
        "chronyc's reply \"503 No such source\": the source named is not one of chronyd's",
    ),
    (
        "504 Duplicate or stale logon detected",
        "chronyc's reply \"504 Duplicate or stale logon detected\"",
    ),
    (
        "505 Facility not enabled in daemon",
        "chronyc's reply \"505 Facility not enabled in daemon\": the feature is off in chronyd's configuration",
    ),
    (
        "507 Bad subnet",
        "chronyc's reply \"507 Bad subnet\": the subnet given to allow/deny does not parse",
    ),
    (
        "510 No command access from this host",
        "chronyc's reply \"510 No command access from this host\": chronyd's cmdallow does not cover this host",
    ),
    (
        "511 Source already present",
        "chronyc's reply \"511 Source already present\"",
    ),
    (
        "512 Too many sources present",
        "chronyc's reply \"512 Too many sources present\"",
    ),
    (
        "513 RTC driver not running",
        "chronyc's reply \"513 RTC driver not running\"",
    ),
    (
        "514 Can't write RTC parameters",
        "chronyc's reply \"514 Can't write RTC parameters\"",
    ),
    (
        "515 Invalid address family",
        "chronyc's reply \"515 Invalid address family\"",
    ),
    (
        "516 Sample index out of range",
        "chronyc's reply \"516 Sample index out of range\"",
    ),
    (
        "517 Protocol version mismatch",
        "chronyc's reply \"517 Protocol version mismatch\": chronyc and chronyd are of different releases",
    ),
    (
        "518 Packet length mismatch",
        "chronyc's reply \"518 Packet length mismatch\": chronyc and chronyd are of different releases",
    ),
    (
        "519 Client logging is not active in the daemon",
        "chronyc's reply \"519 Client logging is not active in the daemon\": `clients` needs client logging (no `noclientlog`)",
    ),
    (
        "520 Got unexpected error from daemon",
        "chronyc's reply \"520 Got unexpected error from daemon\"",
    ),
    ("521 Invalid name", "chronyc's reply \"521 Invalid name\""),
];

/// Reports read that hold nothing to judge: `activity` with every source
/// polled and resolved, `authdata` with no key problem, chronyc's replies
/// that refuse a command ([`REPLY_CODES`]).
pub fn read_but_not_judged(lines: &[Line]) -> Option<&'static str> {
    if let Some((_, m)) = lines.iter().find_map(|l| {
        let t = l.text.trim();
        REPLY_CODES.iter().find(|(code, _)| t.starts_with(code))
    }) {
        return Some(m);
    }
    let commands: Vec<String> = lines
        .iter()
        .filter_map(|l| super::command_of(&l.text))
        .filter(|c| c.starts_with("chronyc"))
        .collect();
    if commands.iter().any(|c| c.contains("authdata")) {
        return Some("chronyc authdata (every source's authentication, no problem in it)");
    }
    if commands.iter().any(|c| c.contains("activity")) {
        return Some("chronyc activity (which sources are polled, all of them resolved)");
    }
    if lines
        .iter()
        .any(|l| l.text.trim_start().starts_with("Name/IP address") && l.text.contains("KeyID"))
    {
        return Some("chronyc authdata (every source's authentication, no problem in it)");
    }
    let activity = lines
        .iter()
        .filter(|l| {
            l.text
                .split_once(' ')
                .is_some_and(|(n, r)| n.parse::<u64>().is_ok() && r.starts_with("sources "))
        })
        .count();
    (activity >= 2).then_some("chronyc activity (which sources are polled, all of them resolved)")
}

fn activity(lines: &[Line], command: Option<&str>) -> Vec<Explained> {
    let mut found: Vec<(&Line, u64, &str)> = vec![];
    // `-c`: online,offline,burst online,burst offline,unknown address.
    if command.is_some_and(|c| c.contains("activity")) {
        const WHAT: [&str; 5] = [
            "sources online",
            "sources offline",
            "sources doing burst (return to online)",
            "sources doing burst (return to offline)",
            "sources with unknown address",
        ];
        for l in lines {
            let f: Vec<&str> = l.text.trim().split(',').collect();
            if f.len() == 5 && f.iter().all(|x| x.parse::<u64>().is_ok()) {
                for (v, w) in f.iter().zip(WHAT) {
                    found.push((l, v.parse().unwrap_or(0), w));
                }
            }
        }
    }
    for l in lines {
        let t = l.text.trim();
        let Some((n, rest)) = t.split_once(' ') else {
            continue;
        };
        let Ok(n) = n.parse::<u64>() else { continue };
        if rest.starts_with("sources online")
            || rest.starts_with("sources offline")
            || rest.starts_with("sources doing burst")
            || rest.starts_with("sources with unknown address")
        {
            found.push((l, n, rest));
        }
    }
    if found.len() < 2 {
        return vec![];
    }
    let mut notes = vec![];
    let mut x = Exchange::new(Vantage::Paste("chronyc activity"), "chronyd's sources");
    let mut d = view("chronyd");
    let mut total = 0;
    for (l, n, what) in &found {
        total += n;
        let m = match *what {
            w if w.starts_with("sources online") => format!("{n} source(s) polled"),
            w if w.starts_with("sources offline") => {
                format!(
                    "{n} source(s) offline: not polled until `chronyc online` (or NetworkManager's dispatcher) says the network is up"
                )
            }
            w if w.starts_with("sources with unknown address") => {
                if *n > 0 && x.unresolved.is_none() {
                    x.unresolved = Some(format!("{n} source name(s)"));
                }
                format!("{n} source name(s) not resolved yet: chronyd keeps retrying")
            }
            _ => format!("{n} source(s) in a burst"),
        };
        notes.push(l.note(m));
    }
    d.sources = total as usize;
    if total == 0 {
        d.no_sources = Some(found[0].0.origin());
    }
    x.daemon = Some(d);
    if x.unresolved.is_none() && total > 0 {
        // Only which sources are polled: nothing about their replies.
        return vec![];
    }
    vec![Explained::at(Kind::ChronycActivity, notes, x, found[0].0.n)]
}

fn authdata(lines: &[Line], command: Option<&str>) -> Vec<Explained> {
    // Text: under its header; `-c`: ten comma-separated fields, when the
    // prompt says authdata.
    let rows: Vec<(&Line, Vec<String>)> = match lines.iter().position(|l| {
        l.text.trim_start().starts_with("Name/IP address") && l.text.contains("KeyID")
    }) {
        Some(h) => lines
            .iter()
            .skip(h + 1)
            .filter(|l| !l.text.starts_with("=="))
            .map(|l| {
                (
                    l,
                    l.text
                        .split_whitespace()
                        .map(String::from)
                        .collect::<Vec<_>>(),
                )
            })
            .take_while(|(_, w)| w.len() >= 10)
            .collect(),
        None if command.is_some_and(|c| c.contains("authdata")) => lines
            .iter()
            .map(|l| {
                (
                    l,
                    l.text
                        .trim()
                        .split(',')
                        .map(String::from)
                        .collect::<Vec<_>>(),
                )
            })
            .filter(|(_, w)| w.len() == 10)
            .collect(),
        None => vec![],
    };
    let mut notes = vec![];
    let mut x = Exchange::new(Vantage::Paste("chronyc authdata"), "chronyd's sources");
    let mut problem = false;
    for (l, w) in &rows {
        // Name Mode KeyID Type KLen Last Atmp NAK Cook CLen
        let (name, mode, atmp, nak, cook) = (&w[0], w[1].as_str(), &w[6], &w[7], w[8].as_str());
        let m = match mode {
            "NTS" if cook == "0" => {
                problem = true;
                x.add_silent(l.fact(silent(
                    name,
                    &format!("NTS: no cookie after {atmp} key-exchange attempt(s): NTS-KE (TCP 4460) fails"),
                    false,
                )));
                format!(
                    "{name}: NTS without cookies: the key exchange has not succeeded ({atmp} attempt(s)); no NTP request is sent without one"
                )
            }
            "NTS" if nak != "0" => {
                problem = true;
                x.add_bogus(
                    Bogus {
                        from: None,
                        detail: format!("{nak} NTS NAK(s): the server rejected our cookies"),
                    },
                    l.origin(),
                );
                format!(
                    "{name}: {nak} NAK(s): the server could not use our cookies (its keys rotated or it restarted)"
                )
            }
            "NTS" => format!("{name}: NTS established, {cook} cookie(s)"),
            "SK" => format!("{name}: symmetric key {}", w[2]),
            _ => format!("{name}: no authentication"),
        };
        notes.push(l.note(m));
    }
    if !problem {
        return vec![];
    }
    vec![Explained::at(Kind::ChronycAuthdata, notes, x, rows[0].0.n)]
}

fn errors(lines: &[Line]) -> Vec<Explained> {
    let mut out = vec![];
    for l in lines {
        let t = l.text.trim();
        if t.starts_with("506 Cannot talk to daemon")
            || t.starts_with("Could not open connection to daemon")
        {
            out.push(super::daemon_unreachable(
                l,
                "chronyd",
                "chronyc",
                Kind::ChronycError,
                "chronyc cannot reach chronyd's command socket: chronyd is not running (or listens elsewhere: `cmdport`, `bindcmdaddress`)",
            ));
        }
    }
    out
}

//! Windows Time (`w32tm`), as Microsoft documents its output ("Windows
//! Time service tools and settings", learn.microsoft.com; the status
//! fields are W32TIME_STATUS_INFO of [MS-W32T] §2.2.17):
//!
//! - `/query /status [/verbose]`: `Leap Indicator: 0(no warning)` …
//!   `3(not synchronized)`, `Stratum: N (…)`, `ReferenceId: 0x… (…)`,
//!   `Last Successful Sync Time: DATE|unspecified`, `Source: NAME`, with
//!   /verbose `Phase Offset: Ns`, `State Machine: N (Unset|Hold|Sync|…)`,
//!   `Last Sync Error: N (MESSAGE)`;
//! - `/query /source`: one line, the source's name or one of `Local CMOS
//!   Clock`, `Free-running System Clock`, `VM IC Time Synchronization
//!   Provider`;
//! - `/query /peers [/verbose]`: `#Peers: N`, then per peer `Peer: NAME`,
//!   `State: Active|Pending`, `Reachability: N`, `LastSyncError: 0x… (…)`;
//! - `/query /configuration`: `Type: NT5DS|NTP|NoSync|AllSync (Local)`,
//!   `NtpServer: LIST (Local)`, the `NtpClient` and `VMICTimeProvider`
//!   sections with `Enabled: 0|1`;
//! - `/stripchart`: `Tracking NAME [ADDR:123].`, then `HH:MM:SS, d:±Ns
//!   o:±Ns …` or `HH:MM:SS, error: 0x800705B4` (ERROR_TIMEOUT);
//! - `/resync`: `The computer did not resync because no time data was
//!   available.`, `The following error occurred: The service has not been
//!   started. (0x80070426)`;
//! - `/monitor`: per computer, `NTP: ±Ns offset from REF` or `NTP: error
//!   ERROR_TIMEOUT …`, `Stratum: N`.
//!
//! Running on `Local CMOS Clock` or `Free-running System Clock` is
//! local-clock-only; a VM whose clock the Hyper-V time provider (VM IC)
//! sets beside W32Time's NTP client is other-discipline; peers that never
//! answer are no-reply.

use super::{Explained, Kind, Line, Note, Segment, silent, view};
use crate::diagnose::facts::{Exchange, Vantage};
use crate::engine::exchange::Sample;

const CMOS: &str = "Local CMOS Clock";
const FREE: &str = "Free-running System Clock";
const VMIC: &str = "VM IC Time Synchronization Provider";

/// `Key: value`, the value without a trailing `(Local)`/`(Policy)` scope.
fn field(l: &Line) -> Option<(&str, &str)> {
    let (k, v) = l.text.split_once(':')?;
    let k = k.trim();
    if k.is_empty() || k.len() > 40 || k.contains("  ") {
        return None;
    }
    let v = v.trim();
    let v = v
        .strip_suffix(" (Local)")
        .or_else(|| v.strip_suffix(" (Policy)"))
        .unwrap_or(v);
    Some((k, v))
}

/// The number before the parenthesis: `3(not synchronized)` → 3.
fn lead_num(v: &str) -> Option<i64> {
    v.split(|c: char| c == '(' || c.is_whitespace())
        .next()?
        .parse()
        .ok()
}

pub fn read(seg: &Segment) -> Vec<Explained> {
    let mut out = vec![];
    out.extend(status(seg));
    out.extend(source(seg));
    out.extend(peers(seg));
    out.extend(configuration(seg));
    out.extend(stripchart(seg));
    out.extend(resync(seg));
    out.extend(monitor(seg));
    out
}

/// `/monitor`: per computer `NAME[ *** PDC ***][ADDR:123]:`, then `ICMP:
/// Nms delay` or `ICMP: error …`, `NTP: ±Ns offset from REFERENCE` (from the
/// domain's reference, not from this clock) or `NTP: error ERROR_TIMEOUT -
/// no response from server in Nms`, `RefID: …`, `Stratum: N`. One block per
/// computer.
fn monitor(seg: &Segment) -> Vec<Explained> {
    let lines = seg.lines;
    let mut out = vec![];
    let mut i = 0;
    while i < lines.len() {
        let l = &lines[i];
        i += 1;
        let t = l.text.trim_end();
        if t.starts_with(' ') || !t.ends_with("]:") {
            continue;
        }
        let Some((name, addr)) = t.trim_end_matches("]:").rsplit_once('[') else {
            continue;
        };
        let name = name.trim_end_matches(" *** PDC ***").trim().to_string();
        if name.is_empty() || name.contains(' ') || !addr.contains(':') {
            continue;
        }
        let mut x = Exchange::new(Vantage::Paste("w32tm /monitor"), &name);
        let mut notes = vec![l.note(format!("w32tm asks {name} ({addr})"))];
        let mut ntp_seen = false;
        while i < lines.len() && lines[i].text.starts_with(' ') {
            let f = &lines[i];
            i += 1;
            let ft = f.text.trim();
            if let Some(e) = ft.strip_prefix("NTP: error ") {
                ntp_seen = true;
                x.requests += 1;
                x.add_silent(f.fact(silent(&name, &format!("w32tm /monitor: {e}"), false)));
                notes.push(f.note("no NTP answer within w32tm's timeout"));
            } else if let Some(r) = ft.strip_prefix("NTP: ") {
                let Some(o) = r
                    .split_whitespace()
                    .next()
                    .and_then(|v| v.trim_end_matches('s').parse::<f64>().ok())
                else {
                    continue;
                };
                ntp_seen = true;
                x.requests += 1;
                x.add_valid(
                    Sample {
                        offset: o,
                        delay: 0.0,
                        dispersion: 0.0,
                        root_distance: 0.0,
                    },
                    None,
                    f.origin(),
                );
                notes.push(f.note(format!(
                    "answers: {o:+} s from the reference w32tm compares with (not from this clock)"
                )));
            } else if let Some(e) = ft.strip_prefix("ICMP: error ") {
                notes.push(f.note(format!("no ICMP echo answer ({e})")));
            } else if let Some(st) = ft.strip_prefix("Stratum: ")
                && let Ok(n) = st.trim().parse::<u32>()
                && (n == 0 || n >= 16)
            {
                x.valid = 0;
                x.best = None;
                x.add_unsync(
                    crate::diagnose::facts::Unsync {
                        reason: None,
                        header: None,
                        stratum: Some(n),
                        refid: None,
                    },
                    f.origin(),
                );
                notes.push(f.note(format!("stratum {n}: not synchronized itself")));
            }
        }
        if ntp_seen {
            out.push(Explained::at(Kind::W32tm, notes, x, l.n));
        }
    }
    out
}

fn block(vantage: &'static str, who: &str) -> (Exchange, crate::diagnose::facts::DaemonView) {
    (Exchange::new(Vantage::Paste(vantage), who), view("W32Time"))
}

/// The VM IC provider named as W32Time's source: the Hyper-V host sets
/// this clock (named, not seen acting).
fn vmic_source() -> crate::diagnose::facts::OtherAgent {
    crate::diagnose::facts::OtherAgent {
        what: format!("W32Time's source is the {VMIC} (the Hyper-V host sets this clock, not NTP)"),
        seen_acting: false,
    }
}

/// A local clock W32Time may name as its source.
fn local_source(s: &str) -> bool {
    s == CMOS || s == FREE
}

fn status(seg: &Segment) -> Vec<Explained> {
    let lines = seg.lines;
    let Some(h) = lines
        .iter()
        .position(|l| field(l).is_some_and(|(k, _)| k == "Leap Indicator"))
    else {
        return vec![];
    };
    let mut notes: Vec<Note> = vec![];
    let (mut x, mut d) = block("w32tm /query /status", "W32Time");
    let mut leap = None;
    let mut stratum = None;
    let mut src: Option<(&str, &Line)> = None;
    let mut never = None;
    for l in &lines[h..] {
        let Some((k, v)) = field(l) else {
            if l.text.trim().is_empty() {
                continue;
            }
            break;
        };
        let m = match k {
            "Leap Indicator" => {
                leap = lead_num(v);
                match leap {
                    Some(3) => "leap 3: W32Time says its clock is not synchronized".to_string(),
                    Some(n) => format!("leap {n}"),
                    None => continue,
                }
            }
            "Stratum" => {
                stratum = lead_num(v);
                match stratum {
                    Some(0) => "stratum 0: unspecified, no source".to_string(),
                    Some(n) => format!("stratum {n}"),
                    None => continue,
                }
            }
            "Source" => {
                src = Some((v, l));
                match v {
                    CMOS => {
                        "its source is this machine's own CMOS (RTC) clock: no time source answers"
                            .into()
                    }
                    FREE => "its source is the free-running system clock: no time source".into(),
                    VMIC => "its source is the Hyper-V host (the VM IC time provider)".into(),
                    _ => format!("its source is {v}"),
                }
            }
            "Last Successful Sync Time" => {
                if v == "unspecified" {
                    never = Some(l);
                    "it has never synchronized".into()
                } else {
                    format!("last synchronized {v}")
                }
            }
            "Phase Offset" => {
                if let Some(o) = v.strip_suffix('s').and_then(|n| n.parse::<f64>().ok()) {
                    d.clock_offset_s = Some(l.fact(o));
                }
                format!("phase offset {v}")
            }
            "Last Sync Error" => format!("last sync error: {v}"),
            "State Machine" => format!("state machine: {v}"),
            _ => continue,
        };
        notes.push(l.note(m));
    }
    if leap.is_none() || (stratum.is_none() && src.is_none()) {
        return vec![];
    }
    let synced = leap.is_some_and(|n| n != 3)
        && stratum.is_some_and(|s| (1..16).contains(&s))
        && src.is_some_and(|(s, _)| !local_source(s))
        && never.is_none();
    d.synchronized = Some(lines[h].fact(synced));
    if let Some((s, l)) = src {
        if local_source(s) {
            d.local_clock = Some(l.fact(s.to_string()));
            d.synchronized = Some(l.fact(false));
        } else if s == VMIC {
            d.other_discipline = Some(l.fact(vmic_source()));
        } else {
            d.sys_peer = Some(s.split(',').next().unwrap_or(s).to_string());
            x.who = d.sys_peer.clone().unwrap_or_default();
        }
    }
    if let Some(st) = stratum {
        d.status = Some(format!("leap {}, stratum {st}", leap.unwrap_or_default()));
    }
    x.daemon = Some(d);
    vec![Explained::at(Kind::W32tm, notes, x, lines[h].n)]
}

/// `/query /source`: one line naming the source (only the three special
/// names are read without the command line: a bare host name is anything).
fn source(seg: &Segment) -> Vec<Explained> {
    let by_command = seg
        .command
        .as_deref()
        .is_some_and(|c| c.to_lowercase().contains("/source"));
    let mut out = vec![];
    for l in seg.lines {
        let t = l.text.trim();
        let special = matches!(t, CMOS | FREE | VMIC);
        let named = by_command && !t.is_empty() && !t.contains(' ');
        if !(special || named) {
            continue;
        }
        let (mut x, mut d) = block("w32tm /query /source", "W32Time");
        let meaning = match t {
            CMOS | FREE => {
                d.local_clock = Some(l.fact(t.to_string()));
                d.synchronized = Some(l.fact(false));
                format!("W32Time keeps time from {t}: no time source answers")
            }
            VMIC => {
                d.other_discipline = Some(l.fact(vmic_source()));
                "the Hyper-V host sets this clock (VM IC time provider)".to_string()
            }
            _ => {
                // A name alone says nothing of whether it answers.
                x.who = t.split(',').next().unwrap_or(t).to_string();
                d.unexplained = Some(l.fact(format!(
                    "w32tm /query /source names {t}; whether W32Time synchronizes to it, `w32tm /query /status` says"
                )));
                format!("W32Time's source is {t} (whether it synchronizes: /query /status)")
            }
        };
        x.daemon = Some(d);
        out.push(Explained::at(Kind::W32tm, vec![l.note(meaning)], x, l.n));
        break;
    }
    out
}

fn peers(seg: &Segment) -> Vec<Explained> {
    let lines = seg.lines;
    let Some(h) = lines
        .iter()
        .position(|l| field(l).is_some_and(|(k, v)| k == "#Peers" && v.parse::<u32>().is_ok()))
    else {
        return vec![];
    };
    let mut notes = vec![];
    let (mut x, mut d) = block("w32tm /query /peers", "W32Time's peers");
    // Per peer: name, line, state, reachability, error.
    struct P<'a> {
        name: String,
        line: &'a Line,
        active: Option<bool>,
        reach: Option<u32>,
        error: Option<String>,
    }
    let mut ps: Vec<P> = vec![];
    for l in &lines[h..] {
        let Some((k, v)) = field(l) else { continue };
        match k {
            "Peer" => ps.push(P {
                name: v.split(',').next().unwrap_or(v).to_string(),
                line: l,
                active: None,
                reach: None,
                error: None,
            }),
            "State" => {
                if let Some(p) = ps.last_mut() {
                    p.active = Some(v == "Active");
                }
            }
            "Reachability" => {
                if let Some(p) = ps.last_mut() {
                    p.reach = v.parse().ok();
                }
            }
            "LastSyncError" => {
                if let Some(p) = ps.last_mut()
                    && !v.starts_with("0x00000000")
                {
                    p.error = Some(v.to_string());
                }
            }
            _ => {}
        }
    }
    d.sources = ps.len();
    for p in &ps {
        let silent_peer = p.reach == Some(0) || (p.active == Some(false) && p.reach.is_none());
        let meaning = if silent_peer {
            x.add_silent(p.line.fact(silent(
                &p.name,
                &match &p.error {
                    Some(e) => format!("w32tm: {e}"),
                    None => "w32tm: State Pending / Reachability 0".into(),
                },
                p.reach == Some(0),
            )));
            format!("{}: no answer yet (pending, reachability 0)", p.name)
        } else if p.active == Some(true) {
            d.answering += 1;
            format!("{}: active", p.name)
        } else {
            format!("{}: state unknown", p.name)
        };
        notes.push(p.line.note(meaning));
    }
    if let [p] = ps.as_slice() {
        x.who = p.name.clone();
    }
    notes.insert(0, lines[h].note(format!("{} peer(s)", ps.len())));
    if ps.is_empty() {
        d.no_sources = Some(lines[h].origin());
    }
    x.daemon = Some(d);
    vec![Explained::at(Kind::W32tm, notes, x, lines[h].n)]
}

fn configuration(seg: &Segment) -> Vec<Explained> {
    let lines = seg.lines;
    let mut section = "";
    let mut ty: Option<(&str, &Line)> = None;
    let mut servers: Option<(&str, &Line)> = None;
    let mut ntp_client: Option<bool> = None;
    let mut vmic: Option<(bool, &Line)> = None;
    let mut first = None;
    for l in lines {
        let t = l.text.trim();
        let bare = t
            .strip_suffix(" (Local)")
            .or_else(|| t.strip_suffix(" (Policy)"));
        if let Some(s) = bare
            && !s.contains(':')
        {
            section = s;
            continue;
        }
        if t == "[TimeProviders]" || t == "[Configuration]" {
            first.get_or_insert(l.n);
            section = "";
            continue;
        }
        let Some((k, v)) = field(l) else { continue };
        match (section, k) {
            ("NtpClient", "Type") | ("", "Type") => ty = Some((v, l)),
            ("NtpClient", "NtpServer") | ("", "NtpServer") => servers = Some((v, l)),
            ("NtpClient", "Enabled") => ntp_client = Some(v == "1"),
            ("VMICTimeProvider", "Enabled") => vmic = Some((v == "1", l)),
            _ => continue,
        }
        first.get_or_insert(l.n);
    }
    let Some((ty, tl)) = ty else { return vec![] };
    let Some(first) = first else { return vec![] };
    let mut notes = vec![tl.note(match ty {
        "NT5DS" => "W32Time follows the domain hierarchy (its domain controller)".to_string(),
        "NTP" => "W32Time's NTP client asks the NtpServer list".to_string(),
        "NoSync" => "W32Time synchronizes with nothing (Type NoSync)".to_string(),
        "AllSync" => {
            "W32Time uses every source it has, the domain's and the NtpServer list".to_string()
        }
        _ => format!("Type {ty}"),
    })];
    let (mut x, mut d) = block("w32tm /query /configuration", "W32Time");
    if let Some((s, l)) = servers {
        let names: Vec<&str> = s.split_whitespace().collect();
        d.sources = names.len();
        notes.push(l.note(format!(
            "NtpServer: {} (the 0x… flags: 0x1 SpecialInterval, 0x2 UseAsFallbackOnly, 0x4 SymmetricActive, 0x8 Client)",
            names.join(" ")
        )));
        // Without 0x8 W32Time asks in symmetric active mode (mode 1), which
        // servers that refuse peers do not answer (Microsoft KB 875424).
        let symmetric: Vec<&str> = names
            .iter()
            .filter(|n| {
                let flags = n
                    .split_once(',')
                    .and_then(|(_, f)| u32::from_str_radix(f.trim_start_matches("0x"), 16).ok())
                    .unwrap_or(0);
                flags & 0x8 == 0
            })
            .copied()
            .collect();
        if !symmetric.is_empty() {
            notes.push(l.note(format!(
                "{} without the 0x8 (Client) flag: W32Time asks in symmetric active mode, which servers that refuse peers (ntpd's `restrict … nopeer`, as in Debian's ntpsec default) do not answer; `w32tm /config /manualpeerlist:\"SERVER,0x8\" /update` asks as a client (Microsoft KB 875424)",
                symmetric.join(" ")
            )));
        }
    }
    if ty == "NoSync" {
        d.no_sources = Some(tl.origin());
    }
    let client = ntp_client.unwrap_or(true) && ty != "NoSync";
    // Enabled is not acting: the provider is also enabled on hosts that are
    // no Hyper-V guest, where it has nothing to follow. `/query /source`
    // (or /status) names the provider W32Time uses.
    if let Some((true, l)) = vmic {
        notes.push(l.note(if client {
            format!(
                "the Hyper-V time provider (VMICTimeProvider) is enabled beside the NTP client (Type {ty}): in a Hyper-V guest both may set the clock; `w32tm /query /source` names the one in use"
            )
        } else {
            "the Hyper-V time provider (VMICTimeProvider) is enabled".to_string()
        }));
    }
    if d.no_sources.is_none() {
        d.unexplained = Some(tl.fact(
            "w32tm /query /configuration says what W32Time may use, not whether it synchronizes; `w32tm /query /status` says".to_string(),
        ));
    }
    x.daemon = Some(d);
    vec![Explained::at(Kind::W32tm, notes, x, first)]
}

fn stripchart(seg: &Segment) -> Vec<Explained> {
    let lines = seg.lines;
    let Some(h) = lines
        .iter()
        .position(|l| l.text.trim_start().starts_with("Tracking ") && l.text.contains(':'))
    else {
        return vec![];
    };
    let who = lines[h]
        .text
        .trim()
        .trim_start_matches("Tracking ")
        .trim_end_matches('.')
        .to_string();
    let mut x = Exchange::new(Vantage::Paste("w32tm /stripchart"), &who);
    let mut notes = vec![lines[h].note(format!("w32tm asks {who}"))];
    let mut errors = 0;
    for l in &lines[h + 1..] {
        let t = l.text.trim();
        let Some((clock, rest)) = t.split_once(", ") else {
            continue;
        };
        if clock.matches(':').count() != 2 {
            continue;
        }
        if let Some(e) = rest.strip_prefix("error: ") {
            errors += 1;
            x.requests += 1;
            notes.push(l.note(if e.starts_with("0x800705B4") {
                "no answer within the timeout (0x800705B4, ERROR_TIMEOUT)".to_string()
            } else {
                format!("error {e}")
            }));
            continue;
        }
        let num = |p: &str| -> Option<f64> {
            rest.split_whitespace()
                .find_map(|w| w.strip_prefix(p))
                .and_then(|v| v.trim_end_matches('s').parse().ok())
        };
        if let (Some(delay), Some(offset)) = (num("d:"), num("o:")) {
            x.requests += 1;
            x.add_valid(
                Sample {
                    offset,
                    delay,
                    dispersion: 0.0,
                    root_distance: delay / 2.0,
                },
                None,
                l.origin(),
            );
            notes.push(l.note(format!("answered: offset {offset:+} s, delay {delay} s")));
        }
    }
    if x.requests == 0 {
        return vec![];
    }
    if x.valid == 0 {
        x.add_silent(lines[h].fact(silent(
            &who,
            &format!("{errors} requests, every one timed out (0x800705B4)"),
            errors >= 3,
        )));
    }
    vec![Explained::at(Kind::W32tm, notes, x, lines[h].n)]
}

fn resync(seg: &Segment) -> Vec<Explained> {
    let mut out = vec![];
    for l in seg.lines {
        let t = l.text.trim();
        let (mut x, mut d) = block("w32tm /resync", "W32Time");
        let meaning =
            if t.starts_with("The computer did not resync because no time data was available") {
                x.add_silent(l.fact(silent(
                    "W32Time's sources",
                    "w32tm /resync: no time data was available",
                    false,
                )));
                "no source gave W32Time time (none answered, or none is configured)"
            } else if t.contains("(0x80070426)") {
                d.unreachable = Some(l.fact(format!("w32tm: {t}")));
                "the Windows Time service is not running"
            } else {
                continue;
            };
        x.daemon = Some(d);
        out.push(Explained::at(Kind::W32tm, vec![l.note(meaning)], x, l.n));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::overall_cause as cause;
    use crate::diagnose::Cause;

    /// The status of a synchronized domain member (Microsoft's "Windows
    /// Time service tools and settings" shows these fields).
    #[test]
    fn status_synchronized_and_on_its_own_clock() {
        let ok = "Leap Indicator: 0(no warning)\nStratum: 4 (secondary reference - syncd by (S)NTP)\nPrecision: -23 (119.209ns per tick)\nRoot Delay: 0.0312500s\nRoot Dispersion: 7.7902343s\nReferenceId: 0xC0A80001 (source IP:  192.168.0.1)\nLast Successful Sync Time: 6/19/2026 9:14:02 AM\nSource: dc01.corp.example.com\nPoll Interval: 10 (1024s)\n";
        assert_eq!(cause(ok), Cause::Ok);
        let cmos = "Leap Indicator: 3(not synchronized)\nStratum: 0 (unspecified)\nPrecision: -23 (119.209ns per tick)\nRoot Delay: 0.0000000s\nRoot Dispersion: 0.0000000s\nReferenceId: 0x00000000 (unspecified)\nLast Successful Sync Time: unspecified\nSource: Local CMOS Clock\nPoll Interval: 10 (1024s)\n";
        assert_eq!(cause(cmos), Cause::LocalClockOnly);
        assert_eq!(
            cause(&cmos.replace(super::CMOS, super::FREE)),
            Cause::LocalClockOnly
        );
        assert_eq!(
            cause("C:\\> w32tm /query /source\nLocal CMOS Clock\n"),
            Cause::LocalClockOnly
        );
        assert_eq!(
            cause("VM IC Time Synchronization Provider\n"),
            Cause::OtherDiscipline
        );
        // Named as the source, not seen acting: medium, with the note why.
        let b = super::super::explain("VM IC Time Synchronization Provider\n");
        let v = crate::explain::paste::overall(&b).unwrap();
        assert_eq!(v.confidence, crate::diagnose::Confidence::Medium, "{v:#?}");
        // A name alone proves nothing.
        assert_eq!(
            cause("C:\\> w32tm /query /source\ntime.windows.com,0x9\n"),
            Cause::NotJudged
        );
    }

    #[test]
    fn peers_configuration_stripchart_resync() {
        let pending = "#Peers: 1\n\nPeer: dc01.corp.example.com\nState: Pending\nTime Remaining: 898.3855574s\nMode: 0 (reserved)\nStratum: 0 (unspecified)\nPeerPoll Interval: 0 (unspecified)\nHostPoll Interval: 0 (unspecified)\nLastSyncError: 0x800705B4 (The operation returned because the timeout period expired.)\nReachability: 0\n";
        assert_eq!(cause(pending), Cause::NoReply);
        let conf = "[TimeProviders]\n\nNtpClient (Local)\nDllName: C:\\Windows\\system32\\w32time.dll (Local)\nEnabled: 1 (Local)\nInputProvider: 1 (Local)\nType: NT5DS (Local)\n\nVMICTimeProvider (Local)\nDllName: C:\\Windows\\System32\\vmictimeprovider.dll (Local)\nEnabled: 1 (Local)\nInputProvider: 1 (Local)\n";
        // Enabled is not acting (the provider is enabled on hosts that are
        // no Hyper-V guest too): a note, and the configuration alone says
        // nothing of synchronization.
        assert_eq!(cause(conf), Cause::NotJudged);
        let b = super::super::explain(conf);
        assert!(
            b[0].notes
                .iter()
                .any(|n| n.meaning.contains("VMICTimeProvider")
                    && n.meaning.contains("/query /source")),
            "{b:#?}"
        );
        let sym = "[TimeProviders]\n\nNtpClient (Local)\nEnabled: 1 (Local)\nNtpServer: ntp.example.org,0x1 time.example.org,0x9 (Local)\nType: NTP (Local)\n";
        let b = super::super::explain(sym);
        assert!(
            b[0].notes
                .iter()
                .any(|n| n.meaning.starts_with("ntp.example.org,0x1 without the 0x8")),
            "{b:#?}"
        );
        assert!(
            !b[0]
                .notes
                .iter()
                .any(|n| n.meaning.starts_with("time.example.org"))
        );
        let strip = "Tracking dc01 [192.168.0.1:123].\nThe current time is 12/7/2026 10:00:00 AM.\n10:00:00, error: 0x800705B4\n10:00:03, error: 0x800705B4\n10:00:06, error: 0x800705B4\n";
        assert_eq!(cause(strip), Cause::NoReply);
        let good = "Tracking dc01 [192.168.0.1:123].\nThe current time is 12/7/2026 10:00:00 AM.\n10:00:00, d:+00.0004883s o:-00.0012207s  [                           *                           ]\n";
        assert_eq!(cause(good), Cause::Ok);
        assert_eq!(
            cause(
                "Sending resync command to local computer\nThe computer did not resync because no time data was available.\n"
            ),
            Cause::NoReply
        );
        let mon = "DC1.contoso.com *** PDC ***[192.168.1.10:123]:\n    ICMP: 0ms delay\n    NTP: +0.0000000s offset from DC1.contoso.com\n        RefID: time.windows.com [52.148.114.188]\n        Stratum: 2\nDC2.contoso.com[192.168.1.11:123]:\n    ICMP: 0ms delay\n    NTP: error ERROR_TIMEOUT - no response from server in 1000ms\n";
        let b = super::super::explain(mon);
        assert_eq!(b.len(), 2, "{b:#?}");
        assert_eq!(b[0].verdict.cause, Cause::Ok);
        assert_eq!(b[1].verdict.cause, Cause::NoReply);
        assert_eq!(cause(mon), Cause::NoReply);
        assert_eq!(
            cause("The following error occurred: The service has not been started. (0x80070426)\n"),
            Cause::DaemonNotRunning
        );
    }
}

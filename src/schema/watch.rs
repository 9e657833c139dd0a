//! `watch --json`: JSON lines of snapshots and events, and the watch table
//! (as `ntpq -p`, with the strip and WHY) that watch prints and lab nodes
//! show. Every cause and WHY is [`crate::diagnose::watch`]'s.

use colored::Colorize;
use serde::{Deserialize, Serialize};

use crate::diagnose::Class;
use crate::diagnose::watch as judge;
use crate::engine::client::{Event, Mark, Rules, Snapshot, SourceView};

/// One source in a snapshot line.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct WatchSourceJson {
    pub address: String,
    pub name: String,
    pub tally: String,
    /// Octal, as ntpq prints it: usable replies.
    pub reach: String,
    /// Octal: every reply.
    pub heard: String,
    pub cause: String,
    pub why: String,
    /// The verdict's confidence: low, medium or high.
    #[serde(default)]
    pub confidence: String,
    /// What to do, most likely first (the cause table's fix).
    #[serde(default)]
    pub fix: Vec<String>,
    pub offset_s: f64,
    pub delay_s: f64,
    pub jitter_s: f64,
    pub root_distance_s: f64,
    pub stratum: Option<u8>,
    pub refid: Option<String>,
    pub poll: i8,
    pub when_s: Option<f64>,
    pub polls: u64,
    pub received: u64,
    pub usable: u64,
    /// ntpsec's flash bits, and their names.
    pub flash: u16,
    pub flash_names: Vec<String>,
    /// The last polls, oldest first, one character each (see --help).
    pub strip: String,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct SystemJson {
    pub peer: Option<String>,
    pub offset_s: f64,
    pub jitter_s: f64,
    pub cause: String,
    pub why: String,
    #[serde(default)]
    pub confidence: String,
    #[serde(default)]
    pub fix: Vec<String>,
    /// What a daemon would do now: none | slew | step | panic.
    pub action: String,
    pub candidates: usize,
    pub truechimers: usize,
    /// The selection's intersection (s): [low, high], null when none was
    /// found (`ntpdiag report` draws it).
    #[serde(default)]
    pub interval: Option<[f64; 2]>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct SnapshotJson {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub schema_version: u32,
    /// The machine that printed it (for `ntpdiag fleet`).
    #[serde(default)]
    pub node: Option<super::probe::NodeJson>,
    pub t_s: f64,
    pub rules: String,
    pub sources: Vec<WatchSourceJson>,
    pub system: SystemJson,
}

fn octal(r: u8) -> String {
    format!("{r:o}")
}

fn strip(s: &SourceView) -> String {
    s.strip.iter().map(Mark::symbol).collect()
}

pub fn source_json(s: &SourceView, rules: &Rules, snap: &Snapshot) -> WatchSourceJson {
    let v = judge::source(s, rules, snap);
    let (cause, why) = (v.cause, v.summary.clone());
    WatchSourceJson {
        address: s.addr.to_string(),
        name: s.name.clone(),
        tally: s.tally.to_string(),
        reach: octal(s.reach),
        heard: octal(s.heard),
        cause: cause.id(),
        why,
        confidence: v.confidence.id().into(),
        fix: v.fix.clone(),
        offset_s: s.offset,
        delay_s: s.delay,
        jitter_s: s.jitter,
        root_distance_s: s.root_distance,
        stratum: s.stratum,
        refid: s.refid.clone(),
        poll: s.hpoll,
        when_s: s.when,
        polls: s.polls,
        received: s.received,
        usable: s.usable,
        flash: s.flash,
        flash_names: crate::engine::client::assoc::flash::names(s.flash)
            .into_iter()
            .map(String::from)
            .collect(),
        strip: strip(s),
    }
}

pub fn snapshot_json(snap: &Snapshot, rules: &Rules) -> SnapshotJson {
    let v = judge::system(snap, rules);
    let (cause, why) = (v.cause, v.summary.clone());
    SnapshotJson {
        kind: "snapshot".into(),
        schema_version: super::SCHEMA_VERSION,
        node: Some(super::probe::NodeJson::here()),
        t_s: snap.t,
        rules: rules.profile.id().into(),
        sources: snap
            .sources
            .iter()
            .map(|s| source_json(s, rules, snap))
            .collect(),
        system: SystemJson {
            peer: snap
                .system
                .peer
                .and_then(|i| snap.sources.get(i))
                .map(|s| s.name.clone()),
            offset_s: snap.system.offset,
            jitter_s: snap.system.jitter,
            cause: cause.id(),
            why,
            confidence: v.confidence.id().into(),
            fix: v.fix.clone(),
            action: match snap.system.action {
                crate::engine::client::ClockAction::None => "none",
                crate::engine::client::ClockAction::Slew(_) => "slew",
                crate::engine::client::ClockAction::Step(_) => "step",
                crate::engine::client::ClockAction::Panic(_) => "panic",
            }
            .into(),
            candidates: snap.system.candidates,
            truechimers: snap.system.truechimers,
            interval: snap.system.interval.map(|(lo, hi)| [lo, hi]),
        },
    }
}

fn fmt_ms(v: f64) -> String {
    format!("{:.3}", v * 1000.0)
}

/// A filter value in ms, or "-" before the first usable sample.
fn num(s: &SourceView, v: f64) -> String {
    if s.usable == 0 { "-".into() } else { fmt_ms(v) }
}

/// The table, as ntpq -p with the strip and WHY.
pub fn table(snap: &Snapshot, rules: &Rules) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "{:<17}{:<16}{:>3} {:>5} {:>4} {:>4} {:>4} {:>9} {:>9} {:>8}  {:<16} WHY\n",
        "     remote",
        "refid",
        "st",
        "when",
        "poll",
        "rch",
        "hrd",
        "delay",
        "offset",
        "jitter",
        "strip"
    ));
    for s in &snap.sources {
        let v = judge::source(s, rules, snap);
        let (cause, why) = (v.cause, v.summary.clone());
        let name: String = s.name.chars().take(15).collect();
        let line = format!(
            "{}{:<16}{:<16}{:>3} {:>5} {:>4} {:>4} {:>4} {:>9} {:>9} {:>8}  {:<16} {}: {}",
            s.tally,
            name,
            s.refid.clone().unwrap_or_else(|| ".INIT.".into()),
            s.stratum.unwrap_or(16),
            s.when.map_or("-".into(), |w| format!("{w:.0}")),
            1u64 << s.hpoll.clamp(0, 17),
            octal(s.reach),
            octal(s.heard),
            num(s, s.delay),
            num(s, s.offset),
            num(s, s.jitter),
            strip(s),
            cause.id(),
            why
        );
        let line = match cause.class() {
            Class::Ok => line.normal(),
            Class::Silence | Class::Refused => line.red(),
            _ => line.yellow(),
        };
        out.push_str(&format!("{line}\n"));
    }
    let v = judge::system(snap, rules);
    let (cause, why) = (v.cause, v.summary.clone());
    out.push_str(&format!(
        "system ({} rules): offset {} ms, jitter {} ms — {} [{}]\n",
        rules.profile.id(),
        fmt_ms(snap.system.offset),
        fmt_ms(snap.system.jitter),
        why,
        cause.id()
    ));
    out
}

pub fn event_json(ev: &Event, snap: &Snapshot, rules: &Rules) -> serde_json::Value {
    match ev {
        Event::Source { t, index, from, to } => {
            let s = &snap.sources[*index];
            let v = judge::source(s, rules, snap);
            let (cause, why) = (v.cause, v.summary.clone());
            super::line(serde_json::json!({
                "type": "event", "t_s": t, "source": s.name, "address": s.addr.to_string(),
                "from": {"tally": from.tally().to_string(), "state": from.word()},
                "to": {"tally": to.tally().to_string(), "state": to.word()},
                "cause": cause.id(), "why": why,
            }))
        }
        Event::SystemPeer { t, from, to } => {
            let name =
                |i: &Option<usize>| i.and_then(|i| snap.sources.get(i)).map(|s| s.name.clone());
            let v = judge::system(snap, rules);
            let (cause, why) = (v.cause, v.summary.clone());
            super::line(serde_json::json!({
                "type": "event", "t_s": t, "system": true,
                "peer_from": name(from), "peer_to": name(to), "cause": cause.id(), "why": why,
            }))
        }
        Event::Clock { t, jump, daemons } => {
            let v = judge::jump(*jump, daemons);
            let (by, seen, suspended, sources) = jump_parts(jump);
            super::line(serde_json::json!({
                "type": "clock-jump", "t_s": t, "by_s": by, "seen_locally": seen,
                "suspended_s": suspended, "sources": sources, "daemons": daemons,
                "cause": v.cause.id(), "why": v.summary, "confidence": v.confidence.id(),
                "evidence": v.evidence, "fix": v.fix,
            }))
        }
    }
}

/// A jump's parts: (this clock's move, seen in its own clocks, time
/// suspended, sources that moved together).
fn jump_parts(j: &crate::engine::jump::Jump) -> (f64, bool, Option<f64>, Option<usize>) {
    match *j {
        crate::engine::jump::Jump::Local {
            by_s, suspended_s, ..
        } => (by_s, true, Some(suspended_s), None),
        crate::engine::jump::Jump::Unseen { by_s, sources, .. } => {
            (by_s, false, None, Some(sources))
        }
    }
}

pub fn event_text(ev: &Event, snap: &Snapshot, rules: &Rules) -> String {
    match ev {
        Event::Source { t, index, from, to } => {
            let s = &snap.sources[*index];
            let v = judge::source(s, rules, snap);
            let (cause, why) = (v.cause, v.summary.clone());
            format!(
                "+{t:.1}s {}: {} → {} [{}] {why}",
                s.name,
                from.word(),
                to.word(),
                cause.id()
            )
        }
        Event::SystemPeer { t, from, to } => {
            let name = |i: &Option<usize>| {
                i.and_then(|i| snap.sources.get(i))
                    .map_or("none".to_string(), |s| s.name.clone())
            };
            format!("+{t:.1}s system peer: {} → {}", name(from), name(to))
        }
        Event::Clock { t, jump, daemons } => {
            let v = judge::jump(*jump, daemons);
            format!("+{t:.1}s clock: [{}] {}", v.cause.id(), v.summary)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::client::{Engine, Profile};
    use crate::engine::jump::Reading;

    /// A step seen in the clocks, as watch prints it: the engine's event,
    /// judged by the jump table, with its cause, confidence, evidence, fix.
    #[test]
    fn a_clock_jump_line() {
        let rules = Rules::of(Profile::Ntpd);
        let start = std::time::Instant::now();
        let mut e = Engine::new(rules.clone(), start, -20);
        let r = |real: f64| Reading {
            monotonic: 10.0,
            realtime: real,
            boottime: 10.0,
        };
        e.clocks(start, r(1e9));
        e.clocks(start, r(1e9 + 63.0));
        let ev = std::iter::from_fn(|| e.poll_event())
            .find(|ev| matches!(ev, Event::Clock { .. }))
            .expect("a clock event");
        let snap = e.snapshot(start);
        let v = event_json(&ev, &snap, &rules);
        assert_eq!(v["type"], "clock-jump");
        assert_eq!(v["cause"], "other-discipline");
        assert_eq!(v["seen_locally"], true);
        assert_eq!(v["by_s"], 63.0);
        assert_eq!(v["confidence"], "medium");
        assert!(!v["evidence"].as_array().unwrap().is_empty());
        assert!(!v["fix"].as_array().unwrap().is_empty());
    }
}

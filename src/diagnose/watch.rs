//! The client engine's adapter: a source's or the system's state (facts
//! with their numbers) → a cause from the cause table and a WHY that puts
//! the value that failed next to the threshold it failed, naming whose
//! rules. The engine says what; this says why, in words.

use super::cause::Cause;
use super::rules::{icmp_cause, local_cause};
use crate::engine::client::assoc::flash;
use crate::engine::client::{
    ClockAction, Mark, Profile, Rules, Snapshot, SourceView, Status, SysStatus,
};

fn ms(v: f64) -> String {
    if v.abs() >= 1.0 {
        format!("{v:.3} s")
    } else {
        format!("{:.3} ms", v * 1000.0)
    }
}

/// The most telling mark of the last eight polls (with the one running).
fn telling(s: &SourceView) -> Option<&Mark> {
    s.last_mark
        .iter()
        .chain(s.strip.iter().rev().take(8))
        .find(|m| !matches!(m, Mark::Silent))
}

/// What a mark says, as a cause and words.
pub fn mark_cause(m: &Mark) -> (Cause, String) {
    match m {
        Mark::Answered => (Cause::Ok, "answered".into()),
        Mark::Rejected { flash: f, why } => {
            let c = match *f {
                flash::PKT_STRATUM | flash::PKT_HEADER => Cause::UpstreamUnsynchronized,
                flash::PKT_UNSYNC => Cause::MalformedReply,
                _ => Cause::BogusReply,
            };
            let what = if c == Cause::UpstreamUnsynchronized {
                "answers, but unsynchronized"
            } else {
                "answers, but the reply fails the packet tests"
            };
            (c, format!("{what}: {why} ({})", flash::names(*f).join(" ")))
        }
        Mark::Malformed(why) => (Cause::MalformedReply, format!("not an NTP reply: {why}")),
        Mark::Kod(k) => (
            Cause::Kod(*k),
            format!("Kiss-o'-Death {}: {}", k.text(), k.meaning()),
        ),
        Mark::OtherAddress(a) => (
            Cause::ReplyFromOtherAddress,
            format!("replies come from {a} instead"),
        ),
        Mark::Icmp { error, from } => (
            icmp_cause(error.kind()),
            format!(
                "{error} from {}",
                from.map_or("?".to_string(), |f| f.to_string())
            ),
        ),
        Mark::NotSent(e) => (local_cause(e.kind), format!("not sent: {e}")),
        Mark::Silent => (Cause::NoReply, "no reply".into()),
    }
}

/// Whose other rules would accept a root distance `d`.
fn other_profiles(d: f64, rules: &Rules) -> String {
    let others: Vec<String> = crate::engine::client::Engine::thresholds()
        .iter()
        .filter(|(p, _)| *p != rules.profile)
        .map(|(p, t)| {
            format!(
                "{} would {} it ({} s)",
                p.id(),
                if d <= *t { "accept" } else { "reject" },
                t
            )
        })
        .collect();
    others.join("; ")
}

/// A source's cause and WHY; for a source still in use, what its latest
/// polls missed (the reach register keeps it usable for 8 polls).
pub fn source(s: &SourceView, rules: &Rules, snap: &Snapshot) -> (Cause, String) {
    let (c, why) = state(s, rules, snap);
    if s.reach == 0 {
        return (c, why);
    }
    let missed: Vec<&Mark> = s
        .strip
        .iter()
        .rev()
        .take_while(|m| !matches!(m, Mark::Answered))
        .collect();
    match missed.first() {
        // Refused with a kiss since its last answer, and not in use: the
        // kiss is why (a RATE keeps the filter from filling).
        Some(m @ Mark::Kod(_)) if c.class() != crate::diagnose::Class::Ok => {
            let (kc, what) = mark_cause(m);
            (
                kc,
                format!(
                    "{what} ({} of the last polls); {why}",
                    missed.iter().filter(|x| matches!(x, Mark::Kod(_))).count()
                ),
            )
        }
        Some(m) => {
            let (_, what) = mark_cause(m);
            (
                c,
                format!(
                    "{why}; the last {} poll(s) got no usable reply: {what}",
                    missed.len()
                ),
            )
        }
        None => (c, why),
    }
}

fn state(s: &SourceView, rules: &Rules, snap: &Snapshot) -> (Cause, String) {
    let rid = rules.profile.id();
    // Stratum 0 with a kiss code for a reference: the last reply was a
    // Kiss-o'-Death that does not stop the association (RATE).
    if let Status::Unsynchronized { stratum: 0, .. } = s.status
        && let Some(k) = s
            .refid
            .as_deref()
            .and_then(|r| crate::wire::KissCode::parse(r.trim_matches('.')))
    {
        return (
            Cause::Kod(k),
            format!(
                "its last reply was a Kiss-o'-Death {}: {}",
                k.text(),
                k.meaning()
            ),
        );
    }
    match &s.status {
        Status::Unreachable => {
            if s.polls == 0 {
                return (Cause::NoReply, "not polled yet".into());
            }
            match telling(s) {
                Some(m) => {
                    let (c, why) = mark_cause(m);
                    (c, format!("reach 0: {why}"))
                }
                None => (
                    Cause::NoReply,
                    format!(
                        "reach 0: no reply in {} poll(s), no ICMP error",
                        s.polls.min(8)
                    ),
                ),
            }
        }
        Status::Stopped(k) => (
            Cause::Kod(*k),
            format!(
                "Kiss-o'-Death {}: {}; the association stopped (RFC 5905 §7.4)",
                k.text(),
                k.meaning()
            ),
        ),
        Status::Unsynchronized { leap, stratum } => (
            Cause::UpstreamUnsynchronized,
            format!("answers, but unsynchronized: leap {leap}, stratum {stratum}"),
        ),
        Status::TooFar {
            distance,
            threshold,
        } => (
            Cause::UpstreamUnsynchronized,
            format!(
                "root distance {:.2} s > {threshold} s ({rid} rules); {}{}",
                distance,
                other_profiles(*distance, rules),
                if s.samples < 4 {
                    format!(
                        "; expected while the clock filter fills ({} of 8 samples)",
                        s.samples
                    )
                } else {
                    String::new()
                }
            ),
        ),
        Status::Loop => (
            Cause::SyncLoop,
            "its reference is this host (stratum > 1)".into(),
        ),
        Status::Noselect => (Cause::Noselect, "configured noselect".into()),
        Status::Falseticker => (
            Cause::Falseticker,
            match snap.system.interval {
                Some((l, u)) => format!(
                    "offset {} ± {} does not meet the intersection [{}, {}] ({rid} rules)",
                    ms(s.offset),
                    ms(s.root_distance),
                    ms(l),
                    ms(u)
                ),
                None => format!(
                    "offset {} ± {}: no majority of the {} candidates agrees ({rid} rules)",
                    ms(s.offset),
                    ms(s.root_distance),
                    snap.system.candidates
                ),
            },
        ),
        Status::Outlier => (
            Cause::Outlier,
            match rules.combine_limit {
                Some(l) => {
                    let best = snap
                        .system
                        .peer
                        .and_then(|i| snap.sources.get(i))
                        .map_or(0.0, |p| p.root_distance);
                    format!(
                        "selectable, not combined: root distance {} ≥ {l} × the selected source's {} ({rid} combinelimit)",
                        ms(s.root_distance),
                        ms(best)
                    )
                }
                None => format!(
                    "a truechimer left out by the cluster algorithm ({rid} rules, minclock {})",
                    rules.minclock
                ),
            },
        ),
        Status::Backup => (
            Cause::Ok,
            format!(
                "backup: a survivor beyond maxclock {} ({rid} rules)",
                rules.maxclock
            ),
        ),
        Status::Candidate => (Cause::Ok, "combined with the system peer".into()),
        Status::SystemPeer => (Cause::Ok, "system peer".into()),
    }
}

/// What a daemon would do to the clock, in words.
pub fn action(a: ClockAction, profile: Profile) -> String {
    match a {
        ClockAction::None => "nothing: no system peer".into(),
        ClockAction::Slew(o) => format!("slew {}", ms(o)),
        ClockAction::Step(o) => format!(
            "step {} (beyond the step threshold{})",
            ms(o),
            if profile == Profile::Rfc {
                " 0.125 s"
            } else {
                " 0.128 s"
            }
        ),
        ClockAction::Panic(o) => format!(
            "give up: {} is beyond the 1000 s panic threshold (ntpd exits unless started with -g)",
            ms(o)
        ),
    }
}

/// The system's cause and WHY: ok with a system peer; otherwise no-majority,
/// or the most telling source's cause (the one ranking).
pub fn system(snap: &Snapshot, rules: &Rules) -> (Cause, String) {
    let rid = rules.profile.id();
    match snap.system.status {
        SysStatus::Synchronized => {
            let p = snap.system.peer.and_then(|i| snap.sources.get(i));
            (
                Cause::Ok,
                format!(
                    "system peer {}; a daemon would {}",
                    p.map_or("?".to_string(), |p| p.name.clone()),
                    action(snap.system.action, rules.profile)
                ),
            )
        }
        SysStatus::NoMajority => (
            Cause::NoMajority,
            format!(
                "{} candidates, no majority agrees ({rid} rules)",
                snap.system.candidates
            ),
        ),
        SysStatus::NoCandidates => {
            let best = snap
                .sources
                .iter()
                .map(|s| source(s, rules, snap))
                .min_by_key(|(c, _)| c.info().rank);
            match best {
                Some((c, why)) => (c, format!("no source is usable; the most telling: {why}")),
                None => (Cause::NoReply, "no sources".into()),
            }
        }
    }
}

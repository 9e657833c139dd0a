//! watch's judgement: a source's and the system's state in the client
//! engine → a [`Verdict`] from two step tables ([`SOURCE_STEPS`],
//! [`SYSTEM_STEPS`]) of the one shape ([`super::table`]).
//!
//! The engine says what (a [`Status`], the marks of its last polls); the
//! adapters [`SourceFacts::of`] and [`SystemFacts::of`] copy what the rules
//! read into evidence types of their own, and the rules say why, in words:
//! the value that failed next to the threshold it failed, naming whose
//! rules. The summary is watch's WHY column.

use super::cause::{Cause, Class};
use super::rules::{icmp_cause, local_cause};
use super::table::{Rule, Step, When, judge};
use super::verdict::{Confidence, Verdict, rank};
use crate::engine::client::assoc::flash;
use crate::engine::client::{
    ClockAction, Mark, Profile, Rules, Snapshot, SourceView, Status, SysStatus,
};
use crate::engine::limits::MAXDISP;
use crate::wire::KissCode;

// ------------------------------------------------------------ evidence

/// What the source rules read of one source, copied from the engine.
#[derive(Clone, Debug, PartialEq)]
pub struct SourceFacts {
    pub status: Status,
    pub polls: u64,
    pub reach: u8,
    /// Stratum 0 with a kiss code for a reference: the last reply was a
    /// Kiss-o'-Death that does not stop the association (RATE).
    pub kiss_refid: Option<KissCode>,
    pub offset: f64,
    pub root_distance: f64,
    /// Valid samples in the clock filter (of 8).
    pub samples: usize,
    /// The most telling mark of the last eight polls (with the one running).
    pub telling: Option<Mark>,
    /// The marks since the last answered poll, newest first (empty when the
    /// newest was answered).
    pub missed: Vec<Mark>,
    pub rules: Rules,
    /// The selection's intersection, its candidates, and the root distance
    /// of the system peer (for the outlier's combine limit).
    pub interval: Option<(f64, f64)>,
    pub candidates: usize,
    pub peer_root_distance: f64,
}

impl SourceFacts {
    /// The adapter: one source of a snapshot, under `rules`.
    pub fn of(s: &SourceView, rules: &Rules, snap: &Snapshot) -> SourceFacts {
        let kiss_refid = match s.status {
            Status::Unsynchronized { stratum: 0, .. } => s
                .refid
                .as_deref()
                .and_then(|r| KissCode::parse(r.trim_matches('.'))),
            _ => None,
        };
        SourceFacts {
            status: s.status.clone(),
            polls: s.polls,
            reach: s.reach,
            kiss_refid,
            offset: s.offset,
            root_distance: s.root_distance,
            samples: s.samples,
            telling: s
                .last_mark
                .iter()
                .chain(s.strip.iter().rev().take(8))
                .find(|m| !matches!(m, Mark::Silent))
                .cloned(),
            missed: s
                .strip
                .iter()
                .rev()
                .take_while(|m| !matches!(m, Mark::Answered))
                .cloned()
                .collect(),
            rules: rules.clone(),
            interval: snap.system.interval,
            candidates: snap.system.candidates,
            peer_root_distance: snap
                .system
                .peer
                .and_then(|i| snap.sources.get(i))
                .map_or(0.0, |p| p.root_distance),
        }
    }
}

/// What the system rules read: the selection's outcome and every source's
/// verdict.
#[derive(Clone, Debug, PartialEq)]
pub struct SystemFacts {
    pub status: SysStatus,
    pub peer: Option<String>,
    /// Sources still warming up whose samples disagree with the system
    /// peer (their offsets, with their own distances without the filter's
    /// empty stages, leave the peer's interval), and how many sources have
    /// samples at all (the peer included).
    pub disputed: (usize, usize),
    pub action: ClockAction,
    pub profile: Profile,
    pub candidates: usize,
    pub sources: Vec<Verdict>,
}

impl SystemFacts {
    /// The adapter: a snapshot's system, with each source judged.
    pub fn of(snap: &Snapshot, rules: &Rules) -> SystemFacts {
        SystemFacts {
            disputed: disputed(snap),
            status: snap.system.status.clone(),
            peer: snap
                .system
                .peer
                .and_then(|i| snap.sources.get(i))
                .map(|p| p.name.clone()),
            action: snap.system.action,
            profile: rules.profile,
            candidates: snap.system.candidates,
            sources: snap
                .sources
                .iter()
                .map(|s| source(s, rules, snap))
                .collect(),
        }
    }
}

/// A source's verdict: its WHY is the summary.
pub fn source(s: &SourceView, rules: &Rules, snap: &Snapshot) -> Verdict {
    judge(SOURCE_STEPS, &SourceFacts::of(s, rules, snap)).1
}

/// The system's verdict: ok with a system peer; otherwise no-majority, or
/// the most telling source's (the one ranking).
pub fn system(snap: &Snapshot, rules: &Rules) -> Verdict {
    judge(SYSTEM_STEPS, &SystemFacts::of(snap, rules)).1
}

// ------------------------------------------------------------ the tables

/// Every cause a mark can stand for.
const MARK_CAUSES: &[Cause] = &[
    Cause::Ok,
    Cause::UpstreamUnsynchronized,
    Cause::MalformedReply,
    Cause::BogusReply,
    Cause::Kod(KissCode::Rate),
    Cause::ReplyFromOtherAddress,
    Cause::PortUnreachable,
    Cause::AdminProhibited,
    Cause::HostUnreachable,
    Cause::NetUnreachable,
    Cause::LocalPortInUse,
    Cause::LocalPermissionDenied,
    Cause::LocalFirewallBlocksNtp,
    Cause::LocalError,
    Cause::NoReply,
];

/// A source: a kiss since its last answer first (when it is not in use),
/// then a kiss code for a reference, then reach 0, then its state.
pub static SOURCE_STEPS: &[Step<SourceFacts>] = &[
    Step {
        name: "kissed-since-answer",
        applies: When::If(kissed_since_answer),
        rules: &[Rule {
            names: &[Cause::Kod(KissCode::Rate)],
            when: When::Always,
            say: kissed,
        }],
    },
    Step {
        name: "kiss-refid",
        applies: When::If(|f| f.kiss_refid.is_some()),
        rules: &[Rule {
            names: &[Cause::Kod(KissCode::Rate)],
            when: When::Always,
            say: kiss_refid,
        }],
    },
    Step {
        name: "unreachable",
        applies: When::If(|f| f.status == Status::Unreachable),
        rules: &[
            Rule {
                names: &[Cause::NoReply],
                when: When::If(|f| f.polls == 0),
                say: not_polled,
            },
            Rule {
                names: MARK_CAUSES,
                when: When::If(|f| f.telling.is_some()),
                say: telling,
            },
            Rule {
                names: &[Cause::NoReply],
                when: When::Always,
                say: silent,
            },
        ],
    },
    Step {
        name: "state",
        applies: When::Always,
        rules: &[
            Rule {
                names: &[Cause::Kod(KissCode::Rate)],
                when: When::If(|f| matches!(f.status, Status::Stopped(_))),
                say: stopped,
            },
            Rule {
                names: &[Cause::UpstreamUnsynchronized],
                when: When::If(|f| matches!(f.status, Status::Unsynchronized { .. })),
                say: unsynchronized,
            },
            Rule {
                names: &[Cause::WarmingUp],
                when: When::If(|f| samples_needed(f).is_some()),
                say: warming_up,
            },
            Rule {
                names: &[Cause::UpstreamUnsynchronized],
                when: When::If(|f| matches!(f.status, Status::TooFar { .. })),
                say: too_far,
            },
            Rule {
                names: &[Cause::SyncLoop],
                when: When::If(|f| f.status == Status::Loop),
                say: sync_loop,
            },
            Rule {
                names: &[Cause::Noselect],
                when: When::If(|f| f.status == Status::Noselect),
                say: noselect,
            },
            Rule {
                names: &[Cause::Falseticker],
                when: When::If(|f| f.status == Status::Falseticker),
                say: falseticker,
            },
            Rule {
                names: &[Cause::Outlier],
                when: When::If(|f| f.status == Status::Outlier),
                say: outlier,
            },
            Rule {
                names: &[Cause::Ok],
                when: When::If(|f| f.status == Status::Backup),
                say: backup,
            },
            Rule {
                names: &[Cause::Ok],
                when: When::Always,
                say: in_use,
            },
        ],
    },
];

/// The system: synchronized, no majority, or the most telling source.
pub static SYSTEM_STEPS: &[Step<SystemFacts>] = &[Step {
    name: "system",
    applies: When::Always,
    rules: &[
        Rule {
            names: &[Cause::WarmingUp],
            when: When::If(|f| {
                f.status == SysStatus::Synchronized && 2 * f.disputed.0 > f.disputed.1
            }),
            say: disputed_peer,
        },
        Rule {
            names: &[Cause::Ok],
            when: When::If(|f| f.status == SysStatus::Synchronized),
            say: synchronized,
        },
        Rule {
            names: &[Cause::NoMajority],
            when: When::If(|f| f.status == SysStatus::NoMajority),
            say: no_majority,
        },
        Rule {
            names: &[Cause::TooFewSources],
            when: When::If(|f| matches!(f.status, SysStatus::TooFewSources { .. })),
            say: too_few_sources,
        },
        Rule {
            // Passes on a source's verdict, which the source table checked.
            names: Cause::ANY,
            when: When::If(|f| !f.sources.is_empty()),
            say: most_telling,
        },
        Rule {
            names: &[Cause::NoReply],
            when: When::Always,
            say: no_sources,
        },
    ],
}];

// ------------------------------------------------------------ words

/// The system peer against the sources still warming up: each one's
/// interval, its distance without the empty stages of its filter
/// ([`samples_needed`]'s arithmetic), disjoint from the peer's is a
/// dissent. (dissenting, sources with samples).
fn disputed(snap: &Snapshot) -> (usize, usize) {
    let Some(p) = snap.system.peer.and_then(|i| snap.sources.get(i)) else {
        return (0, 0);
    };
    let own = |s: &SourceView| s.root_distance - empty_stages(s.samples);
    let with_samples: Vec<&SourceView> = snap.sources.iter().filter(|s| s.samples > 0).collect();
    let dissent = with_samples
        .iter()
        .filter(|s| !std::ptr::eq(**s, p))
        .filter(|s| {
            needed(&s.status, s.samples).is_some()
                && (s.offset - p.offset).abs() > own(s).max(0.0) + p.root_distance
        })
        .count();
    (dissent, with_samples.len())
}

fn disputed_peer(f: &SystemFacts) -> Verdict {
    said(
        Cause::WarmingUp,
        format!(
            "system peer {}, but {} of the {} sources with samples, still warming up, disagree with it: not judged until they can vote",
            f.peer.as_deref().unwrap_or("?"),
            f.disputed.0,
            f.disputed.1
        ),
        Confidence::Medium,
    )
}

fn too_few_sources(f: &SystemFacts) -> Verdict {
    let SysStatus::TooFewSources {
        truechimers,
        minsane,
    } = f.status
    else {
        unreachable!("checked by the rule")
    };
    said(
        Cause::TooFewSources,
        format!(
            "{truechimers} source(s) agree, but the rules in force want {minsane} (ntpd `tos minsane`, chrony `minsources`): no system peer, the clock is left alone"
        ),
        Confidence::High,
    )
}

fn ms(v: f64) -> String {
    if v.abs() >= 1.0 {
        format!("{v:.3} s")
    } else {
        format!("{:.3} ms", v * 1000.0)
    }
}

/// A verdict from the engine's own state: the WHY is its summary and its
/// evidence, the fix the cause table's.
fn said(cause: Cause, why: String, confidence: Confidence) -> Verdict {
    Verdict::new(cause, why.clone(), confidence)
        .evidence(why)
        .fix(cause.info().fix)
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

/// A source in use or not, with what its latest polls missed (the reach
/// register keeps it usable for 8 polls).
fn state(f: &SourceFacts, cause: Cause, why: String) -> Verdict {
    let why = match f.missed.first() {
        Some(m) if f.reach != 0 => {
            let (_, what) = mark_cause(m);
            format!(
                "{why}; the last {} poll(s) got no usable reply: {what}",
                f.missed.len()
            )
        }
        _ => why,
    };
    said(cause, why, Confidence::High)
}

/// Refused with a kiss since its last answer, and not in use: the kiss is
/// why (a RATE keeps the filter from filling).
fn kissed_since_answer(f: &SourceFacts) -> bool {
    f.reach != 0
        && matches!(f.missed.first(), Some(Mark::Kod(_)))
        && judge(&SOURCE_STEPS[1..], f).1.cause.class() != Class::Ok
}

fn kissed(f: &SourceFacts) -> Verdict {
    // The state's WHY, without what the latest polls missed: the kiss says that.
    let calm = SourceFacts {
        missed: vec![],
        ..f.clone()
    };
    let why = judge(&SOURCE_STEPS[1..], &calm).1.summary;
    let (kc, what) = mark_cause(f.missed.first().expect("checked by the step"));
    said(
        kc,
        format!(
            "{what} ({} of the last polls); {why}",
            f.missed
                .iter()
                .filter(|x| matches!(x, Mark::Kod(_)))
                .count()
        ),
        Confidence::High,
    )
}

fn kiss_refid(f: &SourceFacts) -> Verdict {
    let k = f.kiss_refid.expect("checked by the step");
    state(
        f,
        Cause::Kod(k),
        format!(
            "its last reply was a Kiss-o'-Death {}: {}",
            k.text(),
            k.meaning()
        ),
    )
}

fn not_polled(_: &SourceFacts) -> Verdict {
    said(Cause::NoReply, "not polled yet".into(), Confidence::Low)
}

fn telling(f: &SourceFacts) -> Verdict {
    let (c, why) = mark_cause(f.telling.as_ref().expect("checked by the rule"));
    said(c, format!("reach 0: {why}"), Confidence::High)
}

fn silent(f: &SourceFacts) -> Verdict {
    said(
        Cause::NoReply,
        format!(
            "reach 0: no reply in {} poll(s), no ICMP error",
            f.polls.min(8)
        ),
        Confidence::Medium,
    )
}

fn stopped(f: &SourceFacts) -> Verdict {
    let Status::Stopped(k) = f.status else {
        unreachable!("checked by the rule")
    };
    state(
        f,
        Cause::Kod(k),
        format!(
            "Kiss-o'-Death {}: {}; the association stopped (RFC 5905 §7.4)",
            k.text(),
            k.meaning()
        ),
    )
}

fn unsynchronized(f: &SourceFacts) -> Verdict {
    let Status::Unsynchronized { leap, stratum } = f.status else {
        unreachable!("checked by the rule")
    };
    state(
        f,
        Cause::UpstreamUnsynchronized,
        format!("answers, but unsynchronized: leap {leap}, stratum {stratum}"),
    )
}

/// While the clock filter fills: the samples still needed before the
/// root distance falls under the threshold, when it will. The empty stages
/// of the filter count MAXDISP each, weighted 2^-(i+1) (RFC 5905 A.5.2
/// clock_filter; ntpsec's likewise), so with k samples they add
/// MAXDISP·(2^-k − 2^-8) to the distance; what remains is the source's own.
pub fn samples_needed(f: &SourceFacts) -> Option<usize> {
    needed(&f.status, f.samples)
}

/// What the empty stages of a clock filter holding `k` samples add to the
/// root distance: MAXDISP·(2^-k − 2^-8).
fn empty_stages(k: usize) -> f64 {
    MAXDISP * (0.5f64.powi(k.min(8) as i32) - 0.5f64.powi(8))
}

/// [`samples_needed`] of a source in `status` with `samples` in its filter.
fn needed(status: &Status, samples: usize) -> Option<usize> {
    let Status::TooFar {
        distance,
        threshold,
    } = *status
    else {
        return None;
    };
    let k = samples.min(8);
    if k == 0 || k >= 8 {
        return None;
    }
    let own = distance - empty_stages(k);
    (k + 1..=8)
        .find(|n| own + empty_stages(*n) <= threshold)
        .map(|n| n - k)
}

/// A too-far source's root distance and the threshold it is over.
fn too_far_by(f: &SourceFacts) -> Option<(f64, f64)> {
    match f.status {
        Status::TooFar {
            distance,
            threshold,
        } => Some((distance, threshold)),
        _ => None,
    }
}

fn warming_up(f: &SourceFacts) -> Verdict {
    let (distance, threshold) = too_far_by(f).expect("checked by the rule");
    let n = samples_needed(f).expect("checked");
    said(
        Cause::WarmingUp,
        format!(
            "warming up: {} of 8 samples in the clock filter, root distance {distance:.2} s > {threshold} s for now; about {n} more sample(s) bring it under",
            f.samples
        ),
        Confidence::Medium,
    )
}

fn too_far(f: &SourceFacts) -> Verdict {
    let (distance, threshold) = too_far_by(f).expect("checked by the rule");
    let rid = f.rules.profile.id();
    state(
        f,
        Cause::UpstreamUnsynchronized,
        format!(
            "root distance {:.2} s > {threshold} s ({rid} rules); {}{}",
            distance,
            other_profiles(distance, &f.rules),
            if f.samples < 4 {
                format!(
                    "; expected while the clock filter fills ({} of 8 samples)",
                    f.samples
                )
            } else {
                String::new()
            }
        ),
    )
}

fn sync_loop(f: &SourceFacts) -> Verdict {
    state(
        f,
        Cause::SyncLoop,
        "its reference is this host (stratum > 1)".into(),
    )
}

fn noselect(f: &SourceFacts) -> Verdict {
    state(f, Cause::Noselect, "configured noselect".into())
}

fn falseticker(f: &SourceFacts) -> Verdict {
    let rid = f.rules.profile.id();
    let why = match f.interval {
        Some((l, u)) => format!(
            "offset {} ± {} does not meet the intersection [{}, {}] ({rid} rules)",
            ms(f.offset),
            ms(f.root_distance),
            ms(l),
            ms(u)
        ),
        None => format!(
            "offset {} ± {}: no majority of the {} candidates agrees ({rid} rules)",
            ms(f.offset),
            ms(f.root_distance),
            f.candidates
        ),
    };
    state(f, Cause::Falseticker, why)
}

fn outlier(f: &SourceFacts) -> Verdict {
    let rid = f.rules.profile.id();
    let why = match f.rules.combine_limit {
        Some(l) => format!(
            "selectable, not combined: root distance {} ≥ {l} × the selected source's {} ({rid} combinelimit)",
            ms(f.root_distance),
            ms(f.peer_root_distance)
        ),
        None => format!(
            "a truechimer left out by the cluster algorithm ({rid} rules, minclock {})",
            f.rules.minclock
        ),
    };
    state(f, Cause::Outlier, why)
}

fn backup(f: &SourceFacts) -> Verdict {
    state(
        f,
        Cause::Ok,
        format!(
            "backup: a survivor beyond maxclock {} ({} rules)",
            f.rules.maxclock,
            f.rules.profile.id()
        ),
    )
}

fn in_use(f: &SourceFacts) -> Verdict {
    let why = if f.status == Status::Candidate {
        "combined with the system peer"
    } else {
        "system peer"
    };
    state(f, Cause::Ok, why.into())
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

/// What a daemon would do to the clock, as a verdict: past the panic
/// threshold the clock needs a step no daemon makes by itself.
pub static CLOCK_STEPS: &[Step<ClockAction>] = &[Step {
    name: "clock",
    applies: When::Always,
    rules: &[
        Rule {
            names: &[Cause::ClockStepNeeded],
            when: When::If(|a| matches!(a, ClockAction::Panic(_))),
            say: |a| {
                let ClockAction::Panic(by) = a else {
                    unreachable!("checked by the rule")
                };
                said(
                    Cause::ClockStepNeeded,
                    format!(
                        "offset {by:+.3} s is past the 1000 s panic threshold: the clock is left alone (ntpd would exit)"
                    ),
                    Confidence::High,
                )
            },
        },
        Rule {
            names: &[Cause::Ok],
            when: When::Always,
            say: |a| {
                said(
                    Cause::Ok,
                    format!("a daemon would {}", action(*a, Profile::Ntpd)),
                    Confidence::High,
                )
            },
        },
    ],
}];

/// The clock's verdict on what a daemon would do.
pub fn clock(a: ClockAction) -> Verdict {
    judge(CLOCK_STEPS, &a).1
}

fn synchronized(f: &SystemFacts) -> Verdict {
    said(
        Cause::Ok,
        format!(
            "system peer {}; a daemon would {}",
            f.peer.as_deref().unwrap_or("?"),
            action(f.action, f.profile)
        ),
        Confidence::High,
    )
}

fn no_majority(f: &SystemFacts) -> Verdict {
    said(
        Cause::NoMajority,
        format!(
            "{} candidates, no majority agrees ({} rules)",
            f.candidates,
            f.profile.id()
        ),
        Confidence::High,
    )
}

fn most_telling(f: &SystemFacts) -> Verdict {
    let best = f
        .sources
        .iter()
        .min_by_key(|v| rank(v))
        .expect("checked by the rule");
    let mut v = best.clone();
    v.summary = format!("no source is usable; the most telling: {}", best.summary);
    v
}

fn no_sources(_: &SystemFacts) -> Verdict {
    said(Cause::NoReply, "no sources".into(), Confidence::High)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tables_have_the_one_shape() {
        super::super::table::check_shape(SOURCE_STEPS).unwrap();
        super::super::table::check_shape(SYSTEM_STEPS).unwrap();
        super::super::table::check_shape(CLOCK_STEPS).unwrap();
    }

    fn too_far(distance: f64, samples: usize) -> SourceFacts {
        SourceFacts {
            status: Status::TooFar {
                distance,
                threshold: 1.5,
            },
            polls: samples as u64,
            reach: 1,
            kiss_refid: None,
            offset: 0.0,
            root_distance: distance,
            samples,
            telling: None,
            missed: vec![],
            rules: Rules::of(Profile::Ntpd),
            interval: None,
            candidates: 0,
            peer_root_distance: 0.0,
        }
    }

    /// The healthy stratum-1 server after its first sample: root
    /// distance 7.94 s, of which MAXDISP·(1/2 − 1/256) = 7.9375 s is the
    /// seven empty stages (RFC 5905 A.5.2). It is warming up, with 3 more
    /// samples needed (at 4 the empty stages add 0.9375 s). A server whose
    /// own distance is over the threshold is not.
    #[test]
    fn a_filling_filter_is_warming_up_not_unsynchronized() {
        let f = too_far(7.94, 1);
        assert_eq!(samples_needed(&f), Some(3));
        let v = judge(SOURCE_STEPS, &f).1;
        assert_eq!(v.cause, Cause::WarmingUp, "{v:?}");
        assert!(v.summary.contains("about 3 more"), "{}", v.summary);
        // Own distance 2 s: full filter or not, over 1.5 s.
        let bad = too_far(2.0 + 7.9375, 1);
        assert_eq!(samples_needed(&bad), None);
        assert_eq!(
            judge(SOURCE_STEPS, &bad).1.cause,
            Cause::UpstreamUnsynchronized
        );
        // A full filter over the threshold is the server's own distance.
        assert_eq!(
            judge(SOURCE_STEPS, &too_far(1.6, 8)).1.cause,
            Cause::UpstreamUnsynchronized
        );
    }

    fn view(name: &str, status: Status, offset: f64, distance: f64, samples: usize) -> SourceView {
        SourceView {
            name: name.into(),
            addr: "198.51.100.1:123".parse().unwrap(),
            status,
            tally: ' ',
            reach: 1,
            heard: 1,
            polls: samples as u64,
            received: samples as u64,
            usable: samples as u64,
            hpoll: 6,
            when: Some(1.0),
            stratum: Some(1),
            leap: Some(0),
            refid: Some("GPS".into()),
            offset,
            delay: 0.001,
            jitter: 0.0,
            root_distance: distance,
            flash: 0,
            samples,
            strip: vec![],
            last_mark: None,
        }
    }

    /// The case: a server 0.5 s off answered first and is the
    /// system peer, while two good servers, one sample each, are still
    /// warming up (7.94 s root distance, 0.0025 s of it their own). Their
    /// samples disagree with it: the system line is not ok, and it says
    /// they cannot vote yet. With the two agreeing, it is ok.
    #[test]
    fn a_system_peer_the_warming_majority_disputes_is_not_ok() {
        let far = |o: f64| {
            view(
                "good",
                Status::TooFar {
                    distance: 7.94,
                    threshold: 1.5,
                },
                o,
                7.94,
                1,
            )
        };
        let rules = Rules::of(Profile::Ntpd);
        let snap = |others: f64| Snapshot {
            rules: Profile::Ntpd,
            t: 10.0,
            sources: vec![
                view("off", Status::SystemPeer, 0.5, 0.01, 8),
                far(others),
                far(others),
            ],
            system: crate::engine::client::SystemView {
                status: SysStatus::Synchronized,
                peer: Some(0),
                offset: 0.5,
                jitter: 0.0,
                candidates: 1,
                truechimers: 1,
                interval: Some((0.49, 0.51)),
                action: ClockAction::Step(0.5),
            },
        };
        let v = system(&snap(0.0), &rules);
        assert_eq!(v.cause, Cause::WarmingUp, "{v:?}");
        assert!(v.summary.contains("2 of the 3"), "{}", v.summary);
        assert_eq!(system(&snap(0.5), &rules).cause, Cause::Ok);
    }

    use proptest::prelude::*;

    fn mark() -> impl Strategy<Value = Mark> {
        use crate::engine::local::{LocalError, LocalErrorKind};
        use crate::wire::icmp::IcmpError;
        prop_oneof![
            Just(Mark::Answered),
            Just(Mark::Silent),
            (0u16..0x4000).prop_map(|f| Mark::Rejected {
                flash: f,
                why: "test".into()
            }),
            Just(Mark::Malformed("short".into())),
            (0usize..KissCode::ALL.len()).prop_map(|i| Mark::Kod(KissCode::ALL[i])),
            Just(Mark::OtherAddress("198.51.100.9:123".parse().unwrap())),
            (0u8..6, 0u8..16).prop_map(|(t, c)| Mark::Icmp {
                error: IcmpError::v4(t, c),
                from: Some("203.0.113.1".parse().unwrap())
            }),
            prop_oneof![
                Just(LocalErrorKind::AddressInUse),
                Just(LocalErrorKind::PermissionDenied),
                Just(LocalErrorKind::SendNotPermitted),
                Just(LocalErrorKind::NetworkUnreachable),
                Just(LocalErrorKind::HostUnreachable),
                Just(LocalErrorKind::Other),
            ]
            .prop_map(|kind| Mark::NotSent(LocalError {
                kind,
                op: "sendto".into(),
                target: "198.51.100.1:123".into(),
                errno: None,
                message: "test".into(),
            })),
        ]
    }

    fn status() -> impl Strategy<Value = Status> {
        prop_oneof![
            Just(Status::Unreachable),
            (0usize..KissCode::ALL.len()).prop_map(|i| Status::Stopped(KissCode::ALL[i])),
            (0u8..4, 0u8..17).prop_map(|(leap, stratum)| Status::Unsynchronized { leap, stratum }),
            (0.0f64..20.0).prop_map(|d| Status::TooFar {
                distance: d,
                threshold: 1.5
            }),
            Just(Status::Loop),
            Just(Status::Noselect),
            Just(Status::Falseticker),
            Just(Status::Outlier),
            Just(Status::Backup),
            Just(Status::Candidate),
            Just(Status::SystemPeer),
        ]
    }

    proptest! {
        /// Every rule of the source table gives only causes it names, for
        /// any state, reach and marks the engine can report.
        #[test]
        fn source_rules_name_their_causes(
            st in status(),
            polls in 0u64..20,
            reach in any::<u8>(),
            kiss_refid in proptest::option::of(0usize..KissCode::ALL.len()),
            telling in proptest::option::of(mark()),
            missed in proptest::collection::vec(mark(), 0..9),
            profile in 0usize..3,
            interval in proptest::option::of((-1.0f64..0.0, 0.0f64..1.0)),
        ) {
            let rules = Rules::of([Profile::Ntpd, Profile::Chrony, Profile::Rfc][profile]);
            let f = SourceFacts {
                status: st,
                polls,
                reach,
                kiss_refid: kiss_refid.map(|i| KissCode::ALL[i]),
                offset: 0.01,
                root_distance: 0.02,
                samples: 3,
                telling,
                missed,
                rules,
                interval,
                candidates: 3,
                peer_root_distance: 0.01,
            };
            let r = crate::diagnose::table::check_names(SOURCE_STEPS, &f);
            prop_assert!(r.is_ok(), "{:?}", r);
        }
    }
}

// ------------------------------------------------------------ clock jumps

/// What the jump rules read: the jump the engine saw, and the time
/// daemons running on this host.
#[derive(Clone, Debug, PartialEq)]
pub struct JumpFacts {
    pub jump: crate::engine::jump::Jump,
    pub daemons: Vec<String>,
}

fn local_jump(f: &JumpFacts) -> Option<(f64, f64, f64)> {
    match f.jump {
        crate::engine::jump::Jump::Local {
            by_s,
            suspended_s,
            between_s,
            ..
        } => Some((by_s, suspended_s, between_s)),
        _ => None,
    }
}

/// The jump table: a suspend the kernel accounted for, a step with a daemon
/// here that may have made it, a step no daemon here made, a move of every
/// source with no step here (a clock that stood still).
pub static JUMP_STEPS: &[Step<JumpFacts>] = &[Step {
    name: "clock-jump",
    applies: When::Always,
    rules: &[
        Rule {
            names: &[Cause::VmClockJump],
            when: When::If(|f| local_jump(f).is_some_and(|(_, s, _)| s >= 1.0)),
            say: |f| {
                let (by, susp, _) = local_jump(f).expect("checked");
                Verdict::new(
                    Cause::VmClockJump,
                    format!(
                        "the clock moved {by:+.3} s across a suspend of {susp:.0} s: the kernel set it from its persistent clock on resume; the sources' next offsets tell whether that was right"
                    ),
                    Confidence::Medium,
                )
                .evidence(format!(
                    "CLOCK_REALTIME − CLOCK_MONOTONIC moved {by:+.3} s; CLOCK_BOOTTIME − CLOCK_MONOTONIC grew {susp:.3} s (time suspended)"
                ))
                .fix(Cause::VmClockJump.info().fix)
            },
        },
        Rule {
            names: &[Cause::NotJudged],
            when: When::If(|f| local_jump(f).is_some() && !f.daemons.is_empty()),
            say: |f| {
                let (by, _, between) = local_jump(f).expect("checked");
                Verdict::new(
                    Cause::NotJudged,
                    format!(
                        "the clock was stepped {by:+.3} s between two readings {between:.1} s apart; {} runs here and may have made the step",
                        f.daemons.join(", ")
                    ),
                    Confidence::Low,
                )
                .evidence(format!("CLOCK_REALTIME − CLOCK_MONOTONIC moved {by:+.3} s"))
                .fix("read the daemon's log at that time (chronyd: `System clock was stepped`, ntpd: `CLOCK: time stepped by`): a step it did not log is another agent's")
            },
        },
        Rule {
            names: &[Cause::OtherDiscipline],
            when: When::If(|f| local_jump(f).is_some()),
            say: |f| {
                let (by, _, between) = local_jump(f).expect("checked");
                Verdict::new(
                    Cause::OtherDiscipline,
                    format!(
                        "the clock moved {by:+.3} s between two readings {between:.1} s apart, and no time daemon here stepped it: another agent set it"
                    ),
                    Confidence::Medium,
                )
                .evidence(format!(
                    "CLOCK_REALTIME − CLOCK_MONOTONIC moved {by:+.3} s (a slew moves both alike); no suspend; no time daemon runs here"
                ))
                .alternative(
                    Cause::VmClockJump,
                    "a hypervisor's agent setting the clock after a pause or migration",
                    "steps right after the VM was paused, saved or migrated point at the pause; steps at regular intervals at a periodic sync (VMware Tools, VirtualBox)",
                )
                .fix(Cause::OtherDiscipline.info().fix)
            },
        },
        Rule {
            names: &[Cause::VmClockJump],
            when: When::Always,
            say: |f| {
                let (by, n) = match f.jump {
                    crate::engine::jump::Jump::Unseen { by_s, sources, .. } => (by_s, sources),
                    crate::engine::jump::Jump::Local { by_s, .. } => (by_s, 0),
                };
                Verdict::new(
                    Cause::VmClockJump,
                    format!(
                        "{n} sources' offsets moved together by {:+.3} s with no step of this clock: this clock stood still and lost {:.3} s (a VM paused, frozen or migrated)",
                        -by,
                        -by
                    ),
                    Confidence::Medium,
                )
                .evidence(format!(
                    "{n} sources' offsets moved by {:+.3} s between their last two samples; CLOCK_REALTIME − CLOCK_MONOTONIC did not move",
                    -by
                ))
                .note("servers that share one upstream may step together: then the move is theirs")
                .fix(Cause::VmClockJump.info().fix)
            },
        },
    ],
}];

/// A clock jump's verdict.
pub fn jump(jump: crate::engine::jump::Jump, daemons: &[String]) -> Verdict {
    judge(
        JUMP_STEPS,
        &JumpFacts {
            jump,
            daemons: daemons.to_vec(),
        },
    )
    .1
}

#[cfg(test)]
mod jump_tests {
    use super::*;
    use crate::engine::jump::Jump;

    #[test]
    fn jumps_by_what_saw_them() {
        crate::diagnose::table::check_shape(JUMP_STEPS).unwrap();
        let local = |by, susp| Jump::Local {
            at: 10.0,
            by_s: by,
            suspended_s: susp,
            between_s: 0.2,
        };
        let c = |j, d: &[&str]| {
            let d: Vec<String> = d.iter().map(|s| s.to_string()).collect();
            let v = jump(j, &d);
            (v.cause, v.confidence)
        };
        assert_eq!(
            c(local(3600.0, 3600.0), &[]),
            (Cause::VmClockJump, Confidence::Medium)
        );
        assert_eq!(
            c(local(63.0, 0.0), &["chronyd (pid 7)"]),
            (Cause::NotJudged, Confidence::Low)
        );
        assert_eq!(
            c(local(63.0, 0.0), &[]),
            (Cause::OtherDiscipline, Confidence::Medium)
        );
        let v = jump(
            Jump::Unseen {
                at: 80.0,
                by_s: -63.0,
                sources: 3,
            },
            &[],
        );
        assert_eq!(v.cause, Cause::VmClockJump);
        assert!(v.summary.contains("+63.000 s"), "{}", v.summary);
    }
}

//! The daemon's own word: what a local daemon says about itself (its
//! synchronization, its offset, that it cannot be reached or has no sources).

use super::*;

pub(super) fn applies(e: &Exchange) -> bool {
    e.daemon.as_ref().is_some_and(|d| {
        d.synchronized.as_ref().is_some_and(|s| s.value)
            || over_panic(d.clock_offset_s.as_ref())
            || d.unreachable.is_some()
            || d.no_sources.is_some()
            || d.local_clock.is_some()
            || d.too_few.is_some()
            || d.constraint_failed.is_some()
            || d.other_discipline.is_some()
            || !d.host_signs.is_empty()
    })
}

pub(super) static RULES: &[Rule<Exchange>] = &[
    // The host beneath the daemon explains what the daemon shows: first.
    Rule {
        names: &[
            Cause::ClockNotSettable,
            Cause::FrequencyOutOfRange,
            Cause::VmClockJump,
            Cause::RtcWrong,
        ],
        when: When::If(|e| e.daemon.as_ref().is_some_and(|d| !d.host_signs.is_empty())),
        say: host_sign,
    },
    Rule {
        names: &[Cause::DaemonNotRunning],
        when: When::If(|e| e.daemon.as_ref().is_some_and(|d| d.unreachable.is_some())),
        say: daemon_unreachable,
    },
    Rule {
        names: &[Cause::NoServersConfigured],
        when: When::If(|e| e.daemon.as_ref().is_some_and(|d| d.no_sources.is_some())),
        say: daemon_without_sources,
    },
    Rule {
        names: &[Cause::LocalClockOnly],
        when: When::If(|e| e.daemon.as_ref().is_some_and(|d| d.local_clock.is_some())),
        say: local_clock_only,
    },
    Rule {
        names: &[Cause::TooFewSources],
        when: When::If(|e| e.daemon.as_ref().is_some_and(|d| d.too_few.is_some())),
        say: too_few_sources,
    },
    Rule {
        names: &[Cause::ConstraintFailed],
        when: When::If(|e| {
            e.daemon
                .as_ref()
                .is_some_and(|d| d.constraint_failed.is_some())
        }),
        say: constraint_failed,
    },
    Rule {
        names: &[Cause::OtherDiscipline],
        when: When::If(|e| {
            e.daemon
                .as_ref()
                .is_some_and(|d| d.other_discipline.is_some())
        }),
        say: other_discipline,
    },
    Rule {
        names: &[Cause::ClockStepNeeded],
        when: When::If(|e| {
            e.daemon
                .as_ref()
                .is_some_and(|d| over_panic(d.clock_offset_s.as_ref()))
        }),
        say: clock_step_needed,
    },
    Rule {
        names: &[Cause::Ok],
        when: When::Always,
        say: daemon_synchronized,
    },
];

/// The weightiest of what the daemon says of the host: a clock it may not
/// set, then a frequency past its limit, a jump, quarter-hour offsets.
pub(super) fn host_sign(e: &Exchange) -> Verdict {
    use crate::diagnose::facts::HostSign;
    let d = e.daemon.as_ref().expect("checked");
    let weight = |s: &HostSign| match s {
        HostSign::NotSettable(_) => 0,
        HostSign::Frequency(_) => 1,
        HostSign::Jump(_) => 2,
        HostSign::QuarterHours(_) => 3,
    };
    let f = d
        .host_signs
        .iter()
        .min_by_key(|f| weight(&f.value))
        .expect("checked");
    let at = at_suffix(&f.at);
    let v = match &f.value {
        HostSign::NotSettable(w) => Verdict::new(
            Cause::ClockNotSettable,
            format!(
                "{} may not adjust this clock: it belongs to the host or the container runtime.",
                d.daemon
            ),
            Confidence::High,
        )
        .evidence(format!("{w}{at}"))
        .fix(Cause::ClockNotSettable.info().fix),
        HostSign::Frequency(w) => Verdict::new(
            Cause::FrequencyOutOfRange,
            format!(
                "The clock drifts more than {} may correct: {w}.",
                d.daemon
            ),
            Confidence::High,
        )
        .evidence(format!("{w}{at}"))
        .fix(Cause::FrequencyOutOfRange.info().fix),
        HostSign::Jump(w) => Verdict::new(
            Cause::VmClockJump,
            format!(
                "The clock jumped under {}: a VM paused or resumed, a suspend, or another agent set it.",
                d.daemon
            ),
            Confidence::Medium,
        )
        .evidence(format!("{w}{at}"))
        .alternative(
            Cause::OtherDiscipline,
            "another agent that sets the clock",
            "jumps that follow a resume or a migration point at the pause; jumps at regular intervals at another agent (VMware Tools, a second daemon)",
        )
        .fix(Cause::VmClockJump.info().fix),
        HostSign::QuarterHours(o) => Verdict::new(
            Cause::RtcWrong,
            format!(
                "The clock is {o:+.0} s off, a whole number of quarter hours: the look of an RTC kept in local time that set the clock at boot."
            ),
            Confidence::Medium,
        )
        .evidence(format!("offset {o:+.3} s{at}"))
        .alternative(
            Cause::ClockStepNeeded,
            "a clock set wrong once by hand or by another agent",
            "`hwclock --show` against `date -u`, and /etc/adjtime's third line (LOCAL)",
        )
        .fix(Cause::RtcWrong.info().fix),
    };
    d.host_signs
        .iter()
        .filter(|g| !std::ptr::eq(*g, f))
        .fold(v, |v, g| {
            v.evidence(format!("also: {}{}", g.value.words(), at_suffix(&g.at)))
        })
}

pub(super) fn clock_step_needed(e: &Exchange) -> Verdict {
    let d = e.daemon.as_ref().expect("checked");
    let o = d.clock_offset_s.as_ref().expect("checked");
    Verdict::new(
        Cause::ClockStepNeeded,
        format!(
            "The clock is {:.0} s off: beyond the {PANIC_THRESHOLD:.0} s panic threshold, {} will not correct it.",
            o.value, d.daemon
        ),
        Confidence::High,
    )
    .evidence(format!("offset {:+.3} s{}", o.value, at_suffix(&o.at)))
    .fix(prose::STEP_ONCE)
}

pub(super) fn daemon_unreachable(e: &Exchange) -> Verdict {
    let d = e.daemon.as_ref().expect("checked");
    let u = d.unreachable.as_ref().expect("checked");
    Verdict::new(
        Cause::DaemonNotRunning,
        format!(
            "{} does not run on this host: its own tool cannot reach it.",
            d.daemon
        ),
        Confidence::High,
    )
    .evidence(format!("{}{}", u.value, at_suffix(&u.at)))
    .fix(Cause::DaemonNotRunning.info().fix)
}

pub(super) fn daemon_without_sources(e: &Exchange) -> Verdict {
    let d = e.daemon.as_ref().expect("checked");
    let at = d.no_sources.as_ref().expect("checked");
    Verdict::new(
        Cause::NoServersConfigured,
        format!(
            "{} runs but has no time source at all: nothing to synchronize to.",
            d.daemon
        ),
        Confidence::High,
    )
    .evidence(format!("the daemon lists no source{}", at_suffix(at)))
    .fix(Cause::NoServersConfigured.info().fix)
}

/// One evidence line per silent source, the first [`SILENT_SHOWN`]; the
/// rest counted (a pasted table of a million rows gives a verdict, not a
/// million lines).
pub(super) fn silent_evidence(mut v: Verdict, e: &Exchange) -> Verdict {
    for s in e.silent_sources.iter().take(SILENT_SHOWN) {
        v = v.evidence(format!(
            "{}: {}{}",
            s.value.name,
            s.value.why,
            at_suffix(&s.at)
        ));
    }
    let more = (e.silent_sources.len().saturating_sub(SILENT_SHOWN)) as u64 + e.silent_more;
    if more > 0 {
        v = v.evidence(format!("… and {more} more silent sources"));
    }
    v
}

pub const SILENT_SHOWN: usize = 32;

pub(super) fn local_clock_only(e: &Exchange) -> Verdict {
    let d = e.daemon.as_ref().expect("checked");
    let l = d.local_clock.as_ref().expect("checked");
    let real = d.sources;
    let summary = if real == 0 {
        format!(
            "{} keeps time from its own local clock ({}), which follows no real time: no real time source answers it.",
            d.daemon, l.value
        )
    } else if d.answering == 0 {
        format!(
            "{} is synchronized to its own local clock ({}), which follows no real time: none of its {real} real server(s) answers.",
            d.daemon, l.value
        )
    } else {
        format!(
            "{} is synchronized to its own local clock ({}), which follows no real time, although {} real server(s) answer.",
            d.daemon, l.value, d.answering
        )
    };
    if d.daemon == "W32Time" {
        // Windows names its own clock as the source when no peer answers.
        let v = Verdict::new(Cause::LocalClockOnly, summary, Confidence::High).evidence(format!(
            "source: {}{}",
            l.value,
            at_suffix(&l.at)
        ));
        return silent_evidence(v, e)
            .fix("see why no peer answers: `w32tm /query /peers` (a domain member needs its domain controller on udp/123; `w32tm /stripchart /computer:DC /samples:3` tests it)")
            .fix("outside a domain, name a server: `w32tm /config /manualpeerlist:\"SERVER,0x8\" /syncfromflags:manual /update`, then `w32tm /resync`");
    }
    let mut v = Verdict::new(Cause::LocalClockOnly, summary, Confidence::High).evidence(format!(
        "system peer: the local clock driver{}",
        at_suffix(&l.at)
    ));
    v = silent_evidence(v, e);
    v.fix(Cause::LocalClockOnly.info().fix)
        .note("its clients see a synchronized server at the local clock's fudged stratum and follow a free-running clock")
}

pub(super) fn daemon_synchronized(e: &Exchange) -> Verdict {
    let d = e.daemon.as_ref().expect("checked");
    let s = d.synchronized.as_ref().expect("checked");
    let mut v = Verdict::new(
        Cause::Ok,
        match &d.sys_peer {
            Some(p) => format!("{} is synchronized to {p}.", d.daemon),
            None => format!("{} is synchronized.", d.daemon),
        },
        Confidence::High,
    )
    .evidence(format!("the daemon says so{}", at_suffix(&s.at)));
    if let Some(st) = &d.status {
        v = v.evidence(st.clone());
    }
    v
}

pub(super) fn too_few_sources(e: &Exchange) -> Verdict {
    let d = e.daemon.as_ref().expect("checked");
    let t = d.too_few.as_ref().expect("checked");
    Verdict::new(
        Cause::TooFewSources,
        format!(
            "{} has fewer sources than it requires to agree (chrony `minsources` or a missing `require` source, ntpd-rs `minimum-agreeing-sources`): it sets the clock from none.",
            d.daemon
        ),
        Confidence::High,
    )
    .evidence(format!("{}{}", t.value, at_suffix(&t.at)))
    .fix(Cause::TooFewSources.info().fix)
}

pub(super) fn constraint_failed(e: &Exchange) -> Verdict {
    let d = e.daemon.as_ref().expect("checked");
    let c = d.constraint_failed.as_ref().expect("checked");
    let v = Verdict::new(
        Cause::ConstraintFailed,
        format!(
            "{} has no working HTTPS constraint, and without one it takes no time from its servers.",
            d.daemon
        ),
        Confidence::High,
    )
    .evidence(format!("{}{}", c.value, at_suffix(&c.at)));
    silent_evidence(v, e).fix(Cause::ConstraintFailed.info().fix)
}

pub(super) fn other_discipline(e: &Exchange) -> Verdict {
    let d = e.daemon.as_ref().expect("checked");
    let o = d.other_discipline.as_ref().expect("checked");
    let v = Verdict::new(
        Cause::OtherDiscipline,
        format!(
            "Another agent sets this clock besides {}: {}.",
            d.daemon, o.value.what
        ),
        if o.value.seen_acting {
            Confidence::High
        } else {
            Confidence::Medium
        },
    )
    .evidence(format!("{}{}", o.value.what, at_suffix(&o.at)))
    .fix(Cause::OtherDiscipline.info().fix);
    if o.value.seen_acting {
        v
    } else {
        v.note("named, not seen acting: on a standalone VM whose host keeps good time this is by design; in a domain, or beside an NTP client, the two disagree")
    }
}

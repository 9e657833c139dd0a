//! The node table's host step: the host beneath the daemon
//! ([`crate::diagnose::host::HostFacts`]) → one case per question, judged
//! by [`RULES`]. A host cause that explains a network symptom ranks before
//! it (a clock no one may set before the daemon that died of it).

use super::{Case, Daemon, NodeFacts, RunningDaemon};
use crate::diagnose::cause::Cause;
use crate::diagnose::facts::HostSign;
use crate::diagnose::host::{
    Agent, Caps, Clocksource, Cloud, KernelLine, KernelTimex, Rtc, RtcScale, Sourced, StepPolicy,
    Virt,
};
use crate::diagnose::table::{Rule, When};
use crate::diagnose::verdict::{Confidence, Verdict};

/// The clock's offset from real time (s, + = this clock is behind) and
/// what says so.
#[derive(Clone, Debug, PartialEq)]
pub struct Offset {
    pub value: f64,
    pub from: String,
}

/// One question about the host.
#[derive(Clone, Debug)]
pub enum HostCase {
    /// May the time daemon adjust this clock?
    Settable {
        daemon: Option<RunningDaemon>,
        daemon_caps: Option<Sourced<Caps>>,
        own_caps: Option<Sourced<Caps>>,
        virt: Option<Sourced<Virt>>,
        /// The daemon a configuration is for (none running).
        configured: Option<Daemon>,
        /// It runs by choice without touching the clock (chronyd -x).
        measure_only: bool,
    },
    Clocksource {
        clocksource: Option<Sourced<Clocksource>>,
        lines: Vec<Sourced<KernelLine>>,
    },
    Rtc {
        rtc: Sourced<Rtc>,
        scale: Option<Sourced<RtcScale>>,
        offset: Option<Offset>,
    },
    Frequency {
        timex: Sourced<KernelTimex>,
        daemon: Option<Daemon>,
    },
    Agents {
        agents: Vec<Sourced<Agent>>,
        daemon: Option<Daemon>,
    },
    Slew {
        policy: Sourced<StepPolicy>,
        offset: Offset,
        daemon_age_s: Option<f64>,
    },
    Jump {
        suspended_s: Sourced<f64>,
        virt: Option<Sourced<Virt>>,
        offset: Offset,
    },
    /// Every answering server says this clock is off by the same amount.
    Off {
        offset: Offset,
        /// How far the servers' offsets spread (s).
        spread: f64,
        virt: Option<Sourced<Virt>>,
    },
    Boot {
        daemon: RunningDaemon,
        /// Names the daemon still waits to resolve that resolve now.
        resolve_now: Vec<String>,
        daemon_age_s: Option<f64>,
    },
    Cloud {
        cloud: Sourced<Cloud>,
        configured: Vec<String>,
        /// What a probe of the cloud's source said, if it was probed.
        probed: Option<Verdict>,
    },
    Smear {
        smearing: Vec<String>,
        not_smearing: Vec<String>,
    },
}

impl HostCase {
    pub fn subject(&self) -> String {
        match self {
            HostCase::Settable { .. } => "host: clock control",
            HostCase::Clocksource { .. } => "host: clocksource",
            HostCase::Rtc { .. } => "host: RTC",
            HostCase::Frequency { .. } => "host: kernel frequency",
            HostCase::Agents { .. } => "host: other agents",
            HostCase::Slew { .. } => "host: step policy",
            HostCase::Jump { .. } => "host: suspend",
            HostCase::Boot { .. } => "host: boot order",
            HostCase::Off { .. } => "system clock",
            HostCase::Cloud { .. } => "host: cloud",
            HostCase::Smear { .. } => "host: leap smear",
        }
        .into()
    }
}

/// The best sample's offset of every probed server address that gave one.
fn probe_offsets(ev: &NodeFacts) -> Vec<f64> {
    ev.servers
        .iter()
        .flat_map(|s| &s.probes)
        .filter_map(|p| Some(crate::diagnose::probe::facts(p).best?.value.sample.offset))
        .collect()
}

/// The clock's offset: the median of what the configured servers gave
/// (`probed`: their best samples, panic-sized ones included), else the
/// daemon's own.
fn offset(ev: &NodeFacts, mut v: Vec<f64>) -> Option<Offset> {
    if !v.is_empty() {
        v.sort_by(f64::total_cmp);
        let n = v.len();
        return Some(Offset {
            value: v[n / 2],
            from: format!("the median offset of {n} probed server address(es)"),
        });
    }
    ev.view.iter().find_map(|b| {
        b.offset_s.map(|o| Offset {
            value: o,
            from: format!("the daemon's own offset ({})", b.title),
        })
    })
}

/// The host's cases, in the order they are listed.
pub fn cases(ev: &NodeFacts) -> Vec<HostCase> {
    let h = &ev.host;
    let daemon = ev.daemons.first().cloned();
    let mut out = vec![];
    let daemon_caps = daemon
        .as_ref()
        .and_then(|d| h.caps.iter().find(|c| c.value.pid == Some(d.pid)).cloned());
    // chronyd -x: it never touches the clock, by choice.
    let measure_only = daemon.as_ref().is_some_and(|d| d.daemon == Daemon::Chrony)
        && h.daemon_cmdline
            .as_ref()
            .is_some_and(|c| c.value.split_whitespace().any(|w| w == "-x"));
    let age = h.daemon_age_s.as_ref().map(|a| a.value);
    out.push(HostCase::Settable {
        measure_only,
        daemon: daemon.clone(),
        daemon_caps,
        own_caps: h.caps.iter().find(|c| c.value.pid.is_none()).cloned(),
        virt: h.virt.clone(),
        configured: ev.configs.first().map(|c| c.daemon),
    });
    out.push(HostCase::Clocksource {
        clocksource: h.clocksource.clone(),
        lines: h.kernel_log.clone(),
    });
    let probed = probe_offsets(ev);
    let off = offset(ev, probed.clone());
    if let Some(r) = &h.rtc {
        out.push(HostCase::Rtc {
            rtc: r.clone(),
            scale: h.rtc_scale.clone(),
            offset: off.clone(),
        });
    }
    if let Some(t) = &h.timex {
        out.push(HostCase::Frequency {
            timex: t.clone(),
            daemon: ev.configured_daemon(),
        });
    }
    out.push(HostCase::Agents {
        agents: h.agents.clone(),
        daemon: ev.daemons.first().map(|d| d.daemon),
    });
    if let Some(o) = &off {
        // The policy of the daemon that runs (else the first configured);
        // chronyd -x never touches the clock: no policy to judge.
        let want = ev.configured_daemon().map(|d| d.name());
        if let Some(p) = h
            .step_policy
            .iter()
            .find(|p| Some(p.value.daemon.as_str()) == want)
            && !measure_only
        {
            out.push(HostCase::Slew {
                policy: p.clone(),
                offset: o.clone(),
                daemon_age_s: age,
            });
        }
        if !probed.is_empty() {
            let lo = probed.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = probed.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            out.push(HostCase::Off {
                offset: o.clone(),
                spread: hi - lo,
                virt: h.virt.clone(),
            });
        }
        if let Some(s) = &h.suspended_s {
            out.push(HostCase::Jump {
                suspended_s: s.clone(),
                virt: h.virt.clone(),
                offset: o.clone(),
            });
        }
    }
    // ntpd shows a name still waiting for its resolver (`.DNS.`) that
    // resolves now: its lookup failed before, and it waits for its next try.
    if let Some(d) = ev
        .daemons
        .iter()
        .find(|d| d.daemon == Daemon::Ntpd && d.comm == "ntpd")
    {
        let waiting: Vec<&String> = ev
            .view
            .iter()
            .filter_map(|b| b.unresolved.as_ref())
            .collect();
        let resolve_now: Vec<String> = ev
            .servers
            .iter()
            .filter(|s| waiting.contains(&&s.host))
            .filter(|s| matches!(&s.resolved, Some(Ok(a)) if !a.is_empty()))
            .map(|s| s.host.clone())
            .collect();
        // A first lookup takes a moment after start (ntpsec's first DNS
        // probe comes with the first poll, a temporary failure is retried
        // after 8 s): a name still pending is no finding before BOOT_WAIT.
        if !resolve_now.is_empty() && age.is_some_and(|a| a >= BOOT_WAIT) {
            out.push(HostCase::Boot {
                daemon: d.clone(),
                resolve_now,
                daemon_age_s: age,
            });
        }
    }
    if let Some(c) = &h.cloud {
        out.push(HostCase::Cloud {
            cloud: c.clone(),
            configured: ev
                .servers
                .iter()
                .map(|s| s.host.clone())
                .chain(ev.configs.iter().flat_map(|c| c.refclocks.clone()))
                .collect(),
            probed: ev
                .cloud_probe
                .as_ref()
                .map(crate::diagnose::probe::diagnose),
        });
    }
    out.push(HostCase::Smear {
        smearing: h.smearing.clone(),
        not_smearing: h.not_smearing.clone(),
    });
    out
}

fn host(c: &Case) -> &HostCase {
    match c {
        Case::Host(h) => h,
        _ => unreachable!("checked by the step"),
    }
}

fn nothing(_: &Case) -> Verdict {
    Verdict::new(Cause::Ok, "nothing to report", Confidence::High)
}

/// The host step's rules, in order.
pub const RULES: &[Rule<Case>] = &[
    Rule {
        names: &[Cause::ClockNotSettable],
        when: When::If(|c| not_settable(host(c)).is_some()),
        say: clock_not_settable,
    },
    Rule {
        names: &[Cause::ClocksourceUnstable],
        when: When::If(|c| !unstable_lines(host(c)).is_empty()),
        say: clocksource_unstable,
    },
    Rule {
        names: &[Cause::RtcWrong],
        when: When::If(|c| rtc_wrong(host(c)).is_some()),
        say: rtc_verdict,
    },
    Rule {
        names: &[Cause::FrequencyOutOfRange],
        when: When::If(
            |c| matches!(host(c), HostCase::Frequency { timex, .. } if timex.value.saturated()),
        ),
        say: frequency,
    },
    Rule {
        names: &[Cause::OtherDiscipline],
        when: When::If(|c| fighting(host(c)).is_some()),
        say: other_discipline,
    },
    Rule {
        names: &[Cause::SlewTooSlow],
        when: When::If(|c| slow_slew(host(c)).is_some()),
        say: slew_too_slow,
    },
    Rule {
        names: &[Cause::VmClockJump],
        when: When::If(|c| {
            matches!(host(c), HostCase::Jump { suspended_s, offset, .. }
                if suspended_s.value >= 60.0 && offset.value.abs() >= 1.0)
        }),
        say: vm_clock_jump,
    },
    Rule {
        names: &[Cause::VmClockJump, Cause::DaemonNotSynchronizedYet],
        when: When::If(|c| {
            matches!(host(c), HostCase::Off { offset, spread, .. }
                if offset.value.abs() > OFF_BY && offset.value.abs() <= crate::engine::limits::PANIC_THRESHOLD && *spread <= AGREE)
        }),
        say: clock_off,
    },
    Rule {
        names: &[Cause::BootDnsOrder],
        when: When::If(|c| matches!(host(c), HostCase::Boot { .. })),
        say: boot_dns_order,
    },
    Rule {
        names: &[Cause::CloudSourceUnused],
        when: When::If(|c| {
            matches!(host(c), HostCase::Cloud { cloud, configured, .. }
                if !configured.iter().any(|h| cloud.value.matches.iter().any(|m| h.contains(m.as_str()))))
        }),
        say: cloud_unused,
    },
    Rule {
        names: &[Cause::LeapSmearMixed],
        when: When::If(|c| {
            matches!(host(c), HostCase::Smear { smearing, not_smearing }
                if !smearing.is_empty() && !not_smearing.is_empty())
        }),
        say: smear_mixed,
    },
    Rule {
        names: &[Cause::Ok],
        when: When::Always,
        say: nothing,
    },
];

/// How long ntpd must have run before a name it still waits for is judged
/// (s); from 300 s on (many of ntpsec's 8 s retries of a temporary
/// failure), the lookup failed hard.
const BOOT_WAIT: f64 = 20.0;
const BOOT_SURE: f64 = 300.0;

/// A clock this far off (s) by every server's word is wrong, whatever the
/// daemon says: more than any daemon leaves to a slew (ntpd steps over
/// 0.128 s, timesyncd over 0.4 s, chrony's usual `makestep 1 3` over 1 s).
const OFF_BY: f64 = 1.0;
/// The servers agree within this (s).
const AGREE: f64 = 0.5;

fn clock_off(c: &Case) -> Verdict {
    let HostCase::Off { offset, virt, .. } = host(c) else {
        unreachable!("checked")
    };
    let vm = virt.as_ref().filter(|v| !v.value.container);
    let by = -offset.value;
    let v = match vm {
        Some(x) => Verdict::new(
            Cause::VmClockJump,
            format!(
                "Every server says this {} VM's clock is {by:+.3} s off, and nothing has corrected it: the clock of a VM that was paused, saved or migrated resumes behind.",
                x.value.id
            ),
            Confidence::Medium,
        )
        .evidence(format!("{}: a {} VM", x.from, x.value.id))
        .alternative(
            Cause::OtherDiscipline,
            "another agent that set the clock wrong",
            "a hypervisor agent's steps come right after a resume or a migration; a second daemon's at its own polls",
        )
        .fix(Cause::VmClockJump.info().fix),
        None => Verdict::new(
            Cause::DaemonNotSynchronizedYet,
            format!(
                "Every server says this clock is {by:+.3} s off, and nothing has corrected it yet: the servers are fine, this clock is not."
            ),
            Confidence::Medium,
        )
        .alternative(
            Cause::VmClockJump,
            "a clock that stood still (a paused VM or container host) and resumed behind",
            "whether the host was paused or suspended; watch marks it when it happens (`clock-jump`)",
        )
        .alternative(
            Cause::OtherDiscipline,
            "another agent that set the clock wrong",
            "its steps appear in no log of the daemon",
        )
        .fix("wait for the daemon's step (ntpd steps after its stepout, 300 s in ntpsec); if it never comes, step once (`chronyc makestep`, `ntpdig -S`) and see what moved it"),
    };
    v.evidence(format!(
        "{by:+.3} s ({}), the servers within {AGREE} s of each other",
        offset.from
    ))
}

/// Who may not set the clock, and the capabilities that say so.
enum Unsettable<'a> {
    /// The running daemon lacks CAP_SYS_TIME.
    Daemon(&'a RunningDaemon, &'a Sourced<Caps>),
    /// No daemon runs, and no process here can ever gain it (bounding set).
    Everyone(&'a Sourced<Caps>),
}

/// Why the clock cannot be set, if it cannot.
fn not_settable(h: &HostCase) -> Option<Unsettable<'_>> {
    let HostCase::Settable {
        daemon,
        daemon_caps,
        own_caps,
        configured,
        measure_only,
        ..
    } = h
    else {
        return None;
    };
    match (daemon, daemon_caps) {
        (Some(d), Some(c)) if !c.value.sys_time() && !measure_only => {
            Some(Unsettable::Daemon(d, c))
        }
        (None, _) if configured.is_some() => own_caps
            .as_ref()
            .filter(|c| c.value.never_sys_time())
            .map(Unsettable::Everyone),
        _ => None,
    }
}

fn caps_line(c: &Sourced<Caps>) -> String {
    format!(
        "{}: CapEff {:016x}, CapBnd {:016x}: CAP_SYS_TIME (bit 25) {} in the effective set, {} in the bounding set{}",
        c.from,
        c.value.effective,
        c.value.bounding,
        if c.value.sys_time() {
            "present"
        } else {
            "absent"
        },
        if c.value.never_sys_time() {
            "absent"
        } else {
            "present"
        },
        match c.value.seccomp {
            Some(2) => "; a seccomp filter is in force (Seccomp: 2)",
            _ => "",
        }
    )
}

fn clock_not_settable(c: &Case) -> Verdict {
    let h = host(c);
    let who = not_settable(h).expect("checked");
    let HostCase::Settable {
        virt, configured, ..
    } = h
    else {
        unreachable!("checked")
    };
    let container = virt.as_ref().filter(|v| v.value.container);
    let (summary, caps) = match who {
        Unsettable::Everyone(caps) => (
            format!(
                "No process here may ever set the clock (CAP_SYS_TIME is outside the bounding set{}): the {} configured here cannot adjust it. chronyd exits with `adjtimex(0x8001) failed : Operation not permitted`; timesyncd skips itself. The clock belongs to the host.",
                container.map_or(String::new(), |v| format!(
                    ", in a {} container",
                    v.value.id
                )),
                configured.map_or("daemon", |d| d.name())
            ),
            caps,
        ),
        Unsettable::Daemon(d, caps) => (
            format!(
                "{} (pid {}) runs without CAP_SYS_TIME: it may not adjust this clock, so whatever it measures, the clock stays where the host{} keeps it.",
                d.comm,
                d.pid,
                container.map_or(String::new(), |v| format!(
                    " of this {} container",
                    v.value.id
                ))
            ),
            caps,
        ),
    };
    let mut v =
        Verdict::new(Cause::ClockNotSettable, summary, Confidence::High).evidence(caps_line(caps));
    if let Some(x) = container {
        v = v.evidence(format!("{}: a {} container", x.from, x.value.id));
    }
    v.fix(Cause::ClockNotSettable.info().fix)
}

fn unstable_lines(h: &HostCase) -> Vec<&Sourced<KernelLine>> {
    let HostCase::Clocksource { lines, .. } = h else {
        return vec![];
    };
    lines
        .iter()
        .filter(|l| {
            let t = &l.value.text;
            (t.contains("Marking clocksource") && t.contains("as unstable"))
                || t.contains("Marking TSC unstable")
        })
        .collect()
}

fn clocksource_unstable(c: &Case) -> Verdict {
    let h = host(c);
    let lines = unstable_lines(h);
    let HostCase::Clocksource { clocksource, .. } = h else {
        unreachable!("checked")
    };
    let mut v = Verdict::new(
        Cause::ClocksourceUnstable,
        format!(
            "The kernel marked a clocksource unstable{}: the clock's rate wandered, and the daemon's frequency estimate with it.",
            clocksource.as_ref().map_or(String::new(), |c| format!(
                " and now runs on {}",
                c.value.current
            ))
        ),
        Confidence::High,
    );
    for l in lines.iter().take(4) {
        v = v.evidence(format!("{}:{}: {}", l.from, l.value.line, l.value.text));
    }
    if let Some(c) = clocksource {
        v = v.evidence(format!(
            "{}: current {}{}",
            c.from,
            c.value.current,
            if c.value.available.is_empty() {
                String::new()
            } else {
                format!(", available {}", c.value.available.join(" "))
            }
        ));
    }
    v.fix(Cause::ClocksourceUnstable.info().fix)
}

/// Dates before 2001 are an RTC that lost its battery (it restarts at 1970
/// or 2000, as the chip's epoch is).
const DEAD_RTC_BEFORE: i64 = 978_307_200;

/// What is wrong with the RTC: (summary, confidence, evidence).
fn rtc_wrong(h: &HostCase) -> Option<(String, Confidence, Vec<String>)> {
    let HostCase::Rtc { rtc, scale, offset } = h else {
        return None;
    };
    let r = &rtc.value;
    let at = |t: i64| match u64::try_from(t) {
        Ok(s) => humantime::format_rfc3339_seconds(
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(s),
        )
        .to_string(),
        Err(_) => format!("{t} s before 1970"),
    };
    let mut ev = vec![format!(
        "{}: the RTC ({}) reads {}, the system clock {} ({:+} s)",
        rtc.from,
        r.device,
        at(r.rtc_epoch),
        at(r.system_epoch),
        r.ahead_s()
    )];
    if r.rtc_epoch < DEAD_RTC_BEFORE {
        return Some((
            format!(
                "The RTC reads {}: its battery is dead (or it was never set), so every boot starts decades off, and a daemon that will not step that far never fixes it.",
                at(r.rtc_epoch)
            ),
            Confidence::High,
            ev,
        ));
    }
    // Its error against real time: the system clock's own offset counted.
    let real = offset.as_ref().map_or(0.0, |o| o.value);
    let err = r.ahead_s() as f64 - real;
    if let Some(o) = offset {
        ev.push(format!(
            "the system clock is {:+.3} s off real time ({})",
            -o.value, o.from
        ));
    }
    if let Some(s) = scale {
        ev.push(format!(
            "{}: the RTC keeps {}",
            s.from,
            match s.value {
                RtcScale::Local => "local time",
                RtcScale::Utc => "UTC",
            }
        ));
    }
    let local = scale.as_ref().is_some_and(|s| s.value == RtcScale::Local);
    if HostSign::quarter_hours(err) {
        let mins = ((err / 900.0).round() * 15.0) as i64;
        return Some((
            format!(
                "The RTC is {}h{:02} {} {}, a whole number of quarter hours: it keeps local time (a dual boot with Windows, or `timedatectl set-local-rtc 1`), so each boot sets the clock off by the time zone.",
                mins.abs() / 60,
                mins.abs() % 60,
                if mins > 0 { "ahead of" } else { "behind" },
                if offset.is_some() {
                    "real time"
                } else {
                    "the system clock"
                }
            ),
            if local || offset.is_some() {
                Confidence::High
            } else {
                Confidence::Medium
            },
            ev,
        ));
    }
    // The system clock itself off by quarter hours, with a local-time RTC.
    offset
        .as_ref()
        .filter(|o| local && HostSign::quarter_hours(o.value))
        .map(|o| {
            (
                format!(
                    "This clock is {:+.0} s off real time, a whole number of quarter hours, and the RTC keeps local time: the clock was set from the RTC as if it were UTC.",
                    -o.value
                ),
                Confidence::Medium,
                ev,
            )
        })
}

fn rtc_verdict(c: &Case) -> Verdict {
    let (summary, conf, ev) = rtc_wrong(host(c)).expect("checked");
    let mut v = Verdict::new(Cause::RtcWrong, summary, conf);
    for e in ev {
        v = v.evidence(e);
    }
    if conf == Confidence::Medium {
        v = v.alternative(
            Cause::ClockStepNeeded,
            "a clock set wrong once by hand or by another agent",
            "`hwclock --show` against `date -u` right after a good sync: a local-time RTC differs by the time zone",
        );
    }
    v.fix(Cause::RtcWrong.info().fix)
}

fn frequency(c: &Case) -> Verdict {
    let HostCase::Frequency { timex, daemon } = host(c) else {
        unreachable!("checked")
    };
    Verdict::new(
        Cause::FrequencyOutOfRange,
        format!(
            "The kernel's frequency correction sits at its limit ({:+.1} ppm of ±{:.0}): {} asked for more than the kernel may set, so the clock drifts faster than it can be corrected.",
            timex.value.freq_ppm,
            timex.value.tolerance_ppm,
            daemon.map_or("the daemon", |d| d.name())
        ),
        Confidence::Medium,
    )
    .evidence(format!(
        "{}: freq {:+.3} ppm, tolerance {:.0} ppm",
        timex.from, timex.value.freq_ppm, timex.value.tolerance_ppm
    ))
    .alternative(
        Cause::OtherDiscipline,
        "another agent steering the clock, which the daemon tries to follow",
        "stop the other agent and reset the drift file: a faulty oscillator or VM clock still pegs the limit",
    )
    .fix(Cause::FrequencyOutOfRange.info().fix)
}

fn fighting(h: &HostCase) -> Option<Vec<&Sourced<Agent>>> {
    let HostCase::Agents { agents, daemon } = h else {
        return None;
    };
    daemon.as_ref()?;
    let v: Vec<_> = agents
        .iter()
        .filter(|a| a.value.sets_clock == Some(true))
        .collect();
    (!v.is_empty()).then_some(v)
}

fn other_discipline(c: &Case) -> Verdict {
    let h = host(c);
    let agents = fighting(h).expect("checked");
    let HostCase::Agents { daemon, .. } = h else {
        unreachable!("checked")
    };
    let names: Vec<&str> = agents.iter().map(|a| a.value.what.as_str()).collect();
    let mut v = Verdict::new(
        Cause::OtherDiscipline,
        format!(
            "{} also sets this clock, beside {}: two disciplines fight, the offset saw-tooths and steps appear that the daemon never made.",
            names.join(" and "),
            daemon.map_or("the time daemon", |d| d.name())
        ),
        Confidence::High,
    );
    for a in agents {
        v = v.evidence(format!(
            "{}: {}{}",
            a.from,
            a.value.detail,
            a.value.pid.map_or(String::new(), |p| format!(" (pid {p})"))
        ));
    }
    v.fix(
        "let one agent set the clock: `vmware-toolbox-cmd timesync disable` (VMware Tools), `VBoxService --disable-timesync` (VirtualBox), phc2sys without `-c CLOCK_REALTIME` or the NTP daemon stopped (PTP); chrony can use the PTP clock itself: `refclock PHC /dev/ptp0`",
    )
}

/// A large offset the daemon only slews: (seconds to slew).
fn slow_slew(h: &HostCase) -> Option<f64> {
    let HostCase::Slew { policy, offset, .. } = h else {
        return None;
    };
    let p = &policy.value;
    let o = offset.value.abs();
    if p.panic_s.is_some_and(|x| o > x) {
        return None; // it exits instead: clock-step-needed
    }
    // It steps offsets over step_over (in its first updates only, when
    // step_updates says so).
    let steps = p.step_over_s.is_some_and(|t| o > t) && p.step_updates.is_none_or(|n| n < 0);
    let t = p.slew_time_s(o);
    (!steps && t > 900.0).then_some(t)
}

fn slew_too_slow(c: &Case) -> Verdict {
    let h = host(c);
    let t = slow_slew(h).expect("checked");
    let HostCase::Slew {
        policy,
        offset,
        daemon_age_s,
    } = h
    else {
        unreachable!("checked")
    };
    let p = &policy.value;
    let spent = p.step_updates.filter(|n| *n > 0);
    let mut v = Verdict::new(
        Cause::SlewTooSlow,
        format!(
            "This clock is {:.1} s off and {}'s policy only slews it, at most {:.0} ppm: about {} to correct{}.",
            offset.value.abs(),
            p.daemon,
            p.slew_ppm,
            humantime::format_duration(std::time::Duration::from_secs(t as u64)),
            if spent.is_some() {
                ", once its first updates (when it may step) are spent"
            } else {
                ""
            }
        ),
        if spent.is_some() {
            Confidence::Medium
        } else {
            Confidence::High
        },
    )
    .evidence(format!("{:+.3} s ({})", -offset.value, offset.from))
    .evidence(format!("{}: {}", policy.from, p.written.join("; ")));
    if let Some(a) = daemon_age_s {
        v = v.evidence(format!("the daemon has run for {a:.0} s"));
    }
    if let Some(n) = spent {
        v = v.alternative(
            Cause::DaemonNotSynchronizedYet,
            format!("a daemon still within its first {n} updates, which will step"),
            "`chronyc tracking` a few polls later: a step shows as `System clock was stepped` in its log",
        );
    }
    v.fix(Cause::SlewTooSlow.info().fix)
}

fn vm_clock_jump(c: &Case) -> Verdict {
    let HostCase::Jump {
        suspended_s,
        virt,
        offset,
    } = host(c)
    else {
        unreachable!("checked")
    };
    Verdict::new(
        Cause::VmClockJump,
        format!(
            "This {} was suspended for {:.0} s since boot and its clock is {:.1} s off: the clock jumped across the pause and has not been corrected.",
            virt.as_ref()
                .filter(|v| !v.value.container)
                .map_or("host".to_string(), |v| format!("{} VM", v.value.id)),
            suspended_s.value,
            offset.value.abs()
        ),
        Confidence::Medium,
    )
    .evidence(format!(
        "{}: {:.0} s suspended",
        suspended_s.from, suspended_s.value
    ))
    .evidence(format!("{:+.3} s ({})", -offset.value, offset.from))
    .alternative(
        Cause::OtherDiscipline,
        "another agent that set the clock wrong",
        "the daemon's log: `Forward/Backward time jump detected` right after a resume points at the pause",
    )
    .fix(Cause::VmClockJump.info().fix)
}

fn boot_dns_order(c: &Case) -> Verdict {
    let HostCase::Boot {
        daemon,
        resolve_now,
        daemon_age_s,
    } = host(c)
    else {
        unreachable!("checked")
    };
    let mut v = Verdict::new(
        Cause::BootDnsOrder,
        format!(
            "ntpd (pid {}) still waits to resolve {}, which resolve{} now: its lookup failed (at start, before the resolver worked), and ntpsec tries again only at its next DNS poll (up to 4096 s after a hard failure), when a new interface appears, or on SIGHUP.",
            daemon.pid,
            resolve_now.join(", "),
            if resolve_now.len() == 1 { "s" } else { "" }
        ),
        if daemon_age_s.is_some_and(|a| a >= BOOT_SURE) {
            Confidence::High
        } else {
            Confidence::Medium
        },
    )
    .evidence(format!(
        "the daemon's own view: {} with ntpd's placeholder refid .DNS. (waiting for its name)",
        resolve_now.join(", ")
    ))
    .evidence(format!("resolved here now: {}", resolve_now.join(", ")));
    if let Some(a) = daemon_age_s {
        v = v.evidence(format!("ntpd has run for {a:.0} s"));
    }
    if daemon_age_s.is_none_or(|a| a < BOOT_SURE) {
        v = v.alternative(
            Cause::DaemonNotSynchronizedYet,
            "a temporary resolver failure that ntpd retries within seconds",
            "ntpd's log: `dns_take_status: NAME=>error` (a hard failure, retried in up to 4096 s) or `=>temp` (retried in 8 s)",
        );
    }
    v.fix(Cause::BootDnsOrder.info().fix)
}

fn cloud_unused(c: &Case) -> Verdict {
    let HostCase::Cloud {
        cloud,
        configured,
        probed,
    } = host(c)
    else {
        unreachable!("checked")
    };
    let v = Verdict::new(
        Cause::CloudSourceUnused,
        format!(
            "This VM runs in {} (from its DMI), whose own time source is next to it, but the configuration uses {}.",
            cloud.value.vendor,
            if configured.is_empty() {
                "no source".to_string()
            } else {
                configured.join(", ")
            }
        ),
        Confidence::High,
    )
    .evidence(format!("{}: {}", cloud.from, cloud.value.vendor))
    .fix(format!(
        "add `{}` to the daemon's configuration",
        cloud.value.source
    ));
    match probed {
        Some(p) => v.evidence(format!(
            "probed from here: [{}] {}",
            p.cause.id(),
            p.summary
        )),
        None => {
            v.note("the cloud's source was not probed (--no-probe, a copied tree, or a PTP device)")
        }
    }
}

fn smear_mixed(c: &Case) -> Verdict {
    let HostCase::Smear {
        smearing,
        not_smearing,
    } = host(c)
    else {
        unreachable!("checked")
    };
    Verdict::new(
        Cause::LeapSmearMixed,
        format!(
            "{} smear{} leap seconds and {} {} not known to: harmless until a leap second, then they disagree by up to 0.5 s for hours.",
            smearing.join(", "),
            if smearing.len() == 1 { "s" } else { "" },
            not_smearing.join(", "),
            if not_smearing.len() == 1 { "is" } else { "are" }
        ),
        Confidence::Medium,
    )
    .evidence(format!("smearing: {}", smearing.join(", ")))
    .evidence(format!("not known to smear: {}", not_smearing.join(", ")))
    .fix(Cause::LeapSmearMixed.info().fix)
}

/// What the host step read and found fine, for the verdict's notes.
pub fn notes(ev: &NodeFacts) -> Vec<String> {
    let h = &ev.host;
    let mut v = vec![];
    if let Some(x) = &h.virt {
        v.push(format!(
            "host: {} {} ({})",
            x.value.id,
            if x.value.container { "container" } else { "VM" },
            x.from
        ));
    }
    if let Some(c) = &h.clocksource {
        v.push(format!(
            "host: clocksource {} ({})",
            c.value.current, c.from
        ));
    }
    for (what, why) in &h.unread {
        v.push(format!("host: could not read {what}: {why}"));
    }
    for a in h.agents.iter().filter(|a| a.value.sets_clock != Some(true)) {
        v.push(format!("host: {} runs: {}", a.value.what, a.value.detail));
    }
    if let Some(b) = &h.boot {
        let b = &b.value;
        let daemons: Vec<&String> = b
            .enabled_units
            .iter()
            .filter(|u| !matches!(u.as_str(), "phc2sys.service" | "vmtoolsd.service"))
            .collect();
        if daemons.len() > 1 {
            v.push(format!(
                "host: {} are all enabled at boot: the first to start holds udp/123 or the clock (units that conflict, such as chrony's with timesyncd's, keep only one)",
                daemons.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
            ));
        }
        if b.time_wait_sync {
            v.push(format!(
                "host: systemd-time-wait-sync is enabled: units after time-sync.target wait until the kernel marks the clock synchronized{}",
                match b.synchronized_flag {
                    Some(true) => " (/run/systemd/timesync/synchronized: it was)",
                    Some(false) => " (/run/systemd/timesync/synchronized is absent: not yet this boot)",
                    None => "",
                }
            ));
        }
        if b.fake_hwclock {
            v.push("host: fake-hwclock: no RTC, each boot starts from the last saved time until a source answers".into());
        }
    }
    // A PTP clock of the hypervisor's that no configuration uses.
    let refclocks: Vec<&String> = ev.configs.iter().flat_map(|c| &c.refclocks).collect();
    for p in &h.ptp {
        let (dev, name) = &p.value;
        let hyp = name.contains("hyperv") || name.contains("KVM") || name.contains("kvm");
        if hyp && !refclocks.iter().any(|r| r.contains("PHC")) {
            v.push(format!(
                "host: /dev/{dev} is the hypervisor's PTP clock ({name}), unused: chrony can follow it with `refclock PHC /dev/{dev} poll 3 dpoll -2 offset 0`"
            ));
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::host::HostFacts;
    use crate::diagnose::node::{ConfigFacts, Policy, ViewBlock, findings};

    fn running(daemon: Daemon, comm: &str) -> RunningDaemon {
        RunningDaemon {
            daemon,
            pid: 812,
            comm: comm.into(),
        }
    }

    fn config(daemon: Daemon) -> ConfigFacts {
        ConfigFacts {
            daemon,
            files: vec!["/etc/chrony/chrony.conf".into()],
            issues: vec![],
            network_sources: 1,
            local_clock: false,
            makestep: None,
            default_access: vec![],
            other_access: vec![],
            unicast_hosts: 1,
            pools: 0,
            policy: Policy::default(),
            refclocks: vec![],
        }
    }

    /// A daemon view that states the clock's offset (s, + = behind).
    fn view(offset: f64, no_sources: bool) -> ViewBlock {
        ViewBlock {
            title: "chronyc tracking",
            verdict: Verdict::new(Cause::Ok, "synchronized", Confidence::High),
            sys_peer: !no_sources,
            offset_s: Some(offset),
            no_sources,
            unresolved: None,
        }
    }

    fn caps(pid: Option<u32>, eff: u64, bnd: u64) -> Sourced<Caps> {
        Sourced::file(
            Caps {
                pid,
                comm: "chronyd".into(),
                effective: eff,
                bounding: bnd,
                seccomp: Some(2),
            },
            format!(
                "/proc/{}/status",
                pid.map_or("self".into(), |p| p.to_string())
            ),
        )
    }

    /// A healthy node: chronyd configured, running with CAP_SYS_TIME, and
    /// synchronized.
    fn base() -> NodeFacts {
        let mut f = NodeFacts {
            configs: vec![config(Daemon::Chrony)],
            daemons: vec![running(Daemon::Chrony, "chronyd")],
            view: vec![view(0.0001, false)],
            ..NodeFacts::default()
        };
        f.host.caps = vec![caps(Some(812), FULL, FULL)];
        f
    }

    fn causes(f: &NodeFacts) -> Vec<Cause> {
        findings(f).iter().map(|x| x.verdict.cause).collect()
    }

    /// Docker's default capability set (no CAP_SYS_TIME) and a full one.
    const DOCKER: u64 = 0xa80425fb;
    const FULL: u64 = 0x1ffffffffff;

    #[test]
    fn a_daemon_without_cap_sys_time_cannot_set_the_clock() {
        let mut f = NodeFacts {
            configs: vec![config(Daemon::Chrony)],
            daemons: vec![running(Daemon::Chrony, "chronyd")],
            ..NodeFacts::default()
        };
        f.host.caps = vec![caps(Some(812), DOCKER, DOCKER)];
        let all = findings(&f);
        assert_eq!(all[0].verdict.cause, Cause::ClockNotSettable, "{all:#?}");
        assert!(all[0].verdict.evidence[0].contains("absent"));
        // chronyd -x measures only, by choice: no finding.
        f.host.daemon_cmdline = Some(Sourced::file("chronyd -x -d".into(), "/proc/812/cmdline"));
        assert!(!causes(&f).contains(&Cause::ClockNotSettable));
        // With CAP_SYS_TIME: none.
        f.host.daemon_cmdline = None;
        f.host.caps = vec![caps(Some(812), FULL, FULL)];
        assert!(!causes(&f).contains(&Cause::ClockNotSettable));
    }

    #[test]
    fn no_daemon_and_no_cap_in_the_bounding_set_leads_before_not_running() {
        let mut f = NodeFacts {
            configs: vec![config(Daemon::Chrony)],
            ..NodeFacts::default()
        };
        f.host.caps = vec![caps(None, DOCKER, DOCKER)];
        f.host.virt = Some(Sourced::file(
            crate::diagnose::host::Virt {
                id: "docker".into(),
                container: true,
            },
            "/.dockerenv",
        ));
        let c = causes(&f);
        assert_eq!(c[0], Cause::ClockNotSettable, "{c:?}");
        assert!(c.contains(&Cause::DaemonNotRunning), "{c:?}");
        // In the effective set only missing (bounding has it): it could be
        // granted, so nothing is concluded.
        f.host.caps = vec![caps(None, DOCKER, FULL)];
        assert!(!causes(&f).contains(&Cause::ClockNotSettable));
    }

    #[test]
    fn clocksource_marked_unstable() {
        let mut f = base();
        assert_eq!(causes(&f), vec![Cause::Ok]);
        f.host.clocksource = Some(Sourced::file(
            Clocksource {
                current: "hpet".into(),
                available: vec!["hpet".into(), "acpi_pm".into()],
            },
            "/sys/devices/system/clocksource/clocksource0/current_clocksource",
        ));
        assert!(!causes(&f).contains(&Cause::ClocksourceUnstable));
        // kernel/time/clocksource.c's __clocksource_unstable() and
        // clocksource_watchdog()'s words.
        f.host.kernel_log = vec![Sourced::file(
            KernelLine {
                line: 812,
                text: "[ 4.5] clocksource: timekeeping watchdog on CPU1: Marking clocksource 'tsc' as unstable because the skew is too large:".into(),
            },
            "/var/log/dmesg",
        )];
        let all = findings(&f);
        assert_eq!(all[0].verdict.cause, Cause::ClocksourceUnstable);
        assert!(all[0].verdict.summary.contains("hpet"));
    }

    fn rtc(ahead: i64) -> Sourced<Rtc> {
        Sourced::file(
            Rtc {
                device: "rtc0".into(),
                rtc_epoch: 1_796_000_000 + ahead,
                system_epoch: 1_796_000_000,
            },
            "/sys/class/rtc/rtc0/since_epoch",
        )
    }

    #[test]
    fn rtc_in_local_time_or_dead() {
        let mut f = base();
        // A good RTC.
        f.host.rtc = Some(rtc(1));
        assert!(!causes(&f).contains(&Cause::RtcWrong));
        // Five and a half hours ahead (IST): local time. Without the
        // clock's own offset or /etc/adjtime: medium.
        f.host.rtc = Some(rtc(19_800));
        f.view[0].offset_s = None;
        let v = findings(&f).remove(0).verdict;
        assert_eq!(
            (v.cause, v.confidence),
            (Cause::RtcWrong, Confidence::Medium)
        );
        assert!(v.summary.contains("5h30 ahead"), "{}", v.summary);
        f.host.rtc_scale = Some(Sourced::file(RtcScale::Local, "/etc/adjtime"));
        assert_eq!(findings(&f)[0].verdict.confidence, Confidence::High);
        // With the system clock checked against its servers: high too.
        f.host.rtc_scale = None;
        f.view = vec![view(0.0001, false)];
        assert_eq!(findings(&f)[0].verdict.confidence, Confidence::High);
        // 1000 s off: not a time zone.
        f.host.rtc = Some(rtc(1000));
        assert!(!causes(&f).contains(&Cause::RtcWrong));
        // The system clock is the one an hour off (its servers say so):
        // the RTC, an hour from it, is right.
        f.host.rtc = Some(rtc(3600));
        f.view = vec![view(3600.0, false)];
        f.host.rtc_scale = None;
        assert!(!causes(&f).contains(&Cause::RtcWrong), "{:?}", causes(&f));
        // ... and with a local-time RTC, the clock was set from it.
        f.host.rtc = Some(rtc(0));
        f.host.rtc_scale = Some(Sourced::file(RtcScale::Local, "/etc/adjtime"));
        assert!(causes(&f).contains(&Cause::RtcWrong));
        // A dead battery: 1970.
        f.view = vec![view(0.0001, false)];
        f.host.rtc = Some(Sourced::file(
            Rtc {
                device: "rtc0".into(),
                rtc_epoch: 86_400,
                system_epoch: 1_796_000_000,
            },
            "/sys/class/rtc/rtc0/since_epoch",
        ));
        let v = findings(&f).remove(0).verdict;
        assert_eq!((v.cause, v.confidence), (Cause::RtcWrong, Confidence::High));
        assert!(v.summary.contains("1970-01-02"), "{}", v.summary);
    }

    #[test]
    fn kernel_frequency_at_its_limit() {
        let mut f = base();
        let t = |freq: f64| {
            Some(Sourced::live(
                KernelTimex {
                    unsynchronized: false,
                    maxerror_us: 1000,
                    freq_ppm: freq,
                    tolerance_ppm: 500.0,
                    state: 0,
                },
                "adjtimex(2), read only",
            ))
        };
        f.host.timex = t(-37.2);
        assert!(!causes(&f).contains(&Cause::FrequencyOutOfRange));
        f.host.timex = t(-500.0);
        assert_eq!(causes(&f)[0], Cause::FrequencyOutOfRange);
    }

    fn agent(what: &str, sets: Option<bool>) -> Sourced<Agent> {
        Sourced::file(
            Agent {
                what: what.into(),
                pid: Some(900),
                sets_clock: sets,
                detail: format!("{what} runs"),
            },
            "/proc/900/cmdline",
        )
    }

    #[test]
    fn another_agent_only_when_it_is_set_to_keep_the_clock() {
        let mut f = base();
        f.host.agents = vec![agent("phc2sys", Some(false)), agent("vmtoolsd", None)];
        assert!(!causes(&f).contains(&Cause::OtherDiscipline));
        // The unknown one is a note.
        assert!(
            findings(&f)[0]
                .verdict
                .notes
                .iter()
                .any(|n| n.contains("vmtoolsd runs"))
        );
        f.host.agents.push(agent("phc2sys", Some(true)));
        let v = findings(&f).remove(0).verdict;
        assert_eq!(
            (v.cause, v.confidence),
            (Cause::OtherDiscipline, Confidence::High)
        );
        // No daemon: the agent alone keeps the clock, by design.
        f.daemons.clear();
        assert!(!causes(&f).contains(&Cause::OtherDiscipline));
    }

    fn policy(
        daemon: &str,
        step: Option<f64>,
        updates: Option<i64>,
        slew: f64,
    ) -> Sourced<StepPolicy> {
        Sourced::file(
            StepPolicy {
                daemon: daemon.into(),
                step_over_s: step,
                step_updates: updates,
                panic_s: None,
                slew_ppm: slew,
                written: vec!["makestep 1 3".into()],
            },
            "/etc/chrony/chrony.conf",
        )
    }

    #[test]
    fn a_large_offset_the_policy_only_slews() {
        let mut f = base();
        f.view = vec![view(300.0, false)];
        // No makestep: 300 s at 83 ms/s is an hour.
        f.host.step_policy = vec![policy("chronyd", None, None, 83_333.333)];
        let v = findings(&f).remove(0).verdict;
        assert_eq!(
            (v.cause, v.confidence),
            (Cause::SlewTooSlow, Confidence::High)
        );
        assert!(v.summary.contains("1h"), "{}", v.summary);
        // makestep 1 3: it steps in its first three updates: medium.
        f.host.step_policy = vec![policy("chronyd", Some(1.0), Some(3), 83_333.333)];
        assert_eq!(findings(&f)[0].verdict.confidence, Confidence::Medium);
        // makestep 1 -1: it steps whenever: nothing.
        f.host.step_policy = vec![policy("chronyd", Some(1.0), Some(-1), 83_333.333)];
        assert!(!causes(&f).contains(&Cause::SlewTooSlow));
        // 30 s slews in 6 min: not too slow.
        f.view = vec![view(30.0, false)];
        f.host.step_policy = vec![policy("chronyd", None, None, 83_333.333)];
        assert!(!causes(&f).contains(&Cause::SlewTooSlow));
        // ntpd -x: 500 ppm, so 30 s takes 17 hours.
        f.configs = vec![config(Daemon::Ntpd)];
        f.daemons = vec![running(Daemon::Ntpd, "ntpd")];
        f.host.caps = vec![caps(Some(812), FULL, FULL)];
        f.host.step_policy = vec![policy("ntpd", Some(600.0), None, 500.0)];
        assert_eq!(causes(&f)[0], Cause::SlewTooSlow);
    }

    #[test]
    fn suspended_and_off_is_a_jump() {
        let mut f = base();
        f.view = vec![view(63.0, false)];
        f.host.suspended_s = Some(Sourced::live(7200.0, "clock_gettime"));
        assert_eq!(causes(&f)[0], Cause::VmClockJump);
        f.view = vec![view(0.002, false)];
        assert!(!causes(&f).contains(&Cause::VmClockJump));
    }

    #[test]
    fn cloud_source_and_smear_are_remarks() {
        let mut f = base();
        f.host.cloud = Some(Sourced::file(
            crate::diagnose::host::cloud_of("Amazon EC2", "", "", "").unwrap(),
            "/sys/class/dmi/id",
        ));
        f.host.smearing = vec!["time.google.com".into()];
        f.host.not_smearing = vec!["0.debian.pool.ntp.org".into()];
        let all = findings(&f);
        assert_eq!(all[0].verdict.cause, Cause::Ok, "remarks only: {all:#?}");
        let c: Vec<Cause> = all.iter().map(|x| x.verdict.cause).collect();
        assert!(c.contains(&Cause::CloudSourceUnused) && c.contains(&Cause::LeapSmearMixed));
        assert!(
            all.iter()
                .all(|x| !crate::diagnose::verdict::blocks(&x.verdict))
        );
    }

    #[test]
    fn boot_dns_order_is_a_name_ntpd_waits_for_that_resolves_now() {
        use crate::diagnose::node::ServerFacts;
        let mut f = NodeFacts {
            configs: vec![config(Daemon::Ntpd)],
            daemons: vec![running(Daemon::Ntpd, "ntpd")],
            view: vec![view(0.0, false)],
            servers: vec![ServerFacts {
                host: "controller".into(),
                file: "/etc/ntpsec/ntp.conf".into(),
                line: 3,
                kind: "server",
                options: vec![],
                resolved: Some(Ok(vec!["198.51.100.1:123".parse().unwrap()])),
                probes: vec![],
            }],
            ..NodeFacts::default()
        };
        f.view[0].offset_s = None;
        // ntpd resolved it: nothing.
        assert!(!causes(&f).contains(&Cause::BootDnsOrder));
        f.view[0].unresolved = Some("controller".into());
        // Just started: its first lookup may still be under way.
        f.host.daemon_age_s = Some(Sourced::file(5.0, "/proc/812/stat"));
        assert!(!causes(&f).contains(&Cause::BootDnsOrder));
        f.host.daemon_age_s = Some(Sourced::file(3600.0, "/proc/812/stat"));
        assert!(
            causes(&f).contains(&Cause::BootDnsOrder),
            "{:?}",
            causes(&f)
        );
        // The name does not resolve now either: server-name-unresolved's.
        f.servers[0].resolved = Some(Err("Name or service not known".into()));
        assert!(!causes(&f).contains(&Cause::BootDnsOrder));
        let _ = HostFacts::default();
    }
}

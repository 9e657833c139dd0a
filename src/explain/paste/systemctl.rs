//! `systemctl status UNIT` for a time daemon's unit (systemd's
//! systemctl-show.c print_status_info(): the `● UNIT - DESCRIPTION` head,
//! `Loaded:`, `Active: STATE (SUBSTATE) …`, `Condition: start condition
//! failed at …` with `└─ ConditionX=… was not met`), `Unit UNIT could not
//! be found.`, and systemd's own journal line for a unit skipped on a
//! condition (unit.c: `UNIT - DESCRIPTION was skipped because of an unmet
//! condition check (CONDITION).`, systemd 249 and later; before it,
//! `DESCRIPTION was skipped …`). The journal lines under a status are the
//! daemons' log lines, read by their own readers.

use super::log::entry;
use super::{Explained, Kind, Line, Note, Segment, view};
use crate::diagnose::facts::{Exchange, Vantage};

/// The daemon a unit (or its description) belongs to.
fn daemon_of(unit: &str) -> Option<&'static str> {
    let u = unit.trim().trim_end_matches(".service");
    Some(match u {
        "ntpsec" | "ntp" | "ntpd" => "ntpd",
        "chrony" | "chronyd" => "chronyd",
        "systemd-timesyncd" | "Network Time Synchronization" => "systemd-timesyncd",
        "openntpd" | "OpenNTPd Network Time Protocol" => "OpenNTPD",
        "ntpd-rs" => "ntpd-rs",
        _ => return None,
    })
}

/// `● chrony.service - chrony, an NTP client/server` → the unit.
fn head(t: &str) -> Option<&str> {
    let t = t.trim_start();
    let rest = ["●", "○", "×", "*", "↻"]
        .iter()
        .find_map(|m| t.strip_prefix(m))?
        .trim_start();
    let unit = rest.split_whitespace().next()?;
    unit.ends_with(".service").then_some(unit)
}

pub fn read(seg: &Segment) -> Vec<Explained> {
    let mut out = vec![];
    let lines = seg.lines;
    let mut i = 0;
    while i < lines.len() {
        let l = &lines[i];
        i += 1;
        let t = l.text.trim();
        // "Unit ntp.service could not be found."
        if let Some(u) = t
            .strip_prefix("Unit ")
            .and_then(|r| r.strip_suffix(" could not be found."))
            && let Some(d) = daemon_of(u)
        {
            out.push(down(
                l,
                d,
                format!("systemctl: {u} could not be found (not installed)"),
                format!("{u} is not installed here"),
            ));
            continue;
        }
        if let Some(e) = entry(&l.text)
            && e.program == Some("systemd")
            && let Some((what, cond)) = e
                .message
                .split_once(" was skipped because of an unmet condition check (")
        {
            let unit = what.split(" - ").next().unwrap_or(what);
            if let Some(d) = daemon_of(unit) {
                let cond = cond.trim_end_matches('.').trim_end_matches(')');
                out.push(down(
                    l,
                    d,
                    format!("systemd skipped {unit}: {cond} is not met"),
                    skipped_meaning(unit, cond),
                ));
            }
            continue;
        }
        let Some(unit) = head(&l.text) else { continue };
        let Some(d) = daemon_of(unit) else { continue };
        let mut notes: Vec<Note> = vec![l.note(format!("the unit of {d}"))];
        let mut state: Option<(&Line, String)> = None;
        let mut condition: Option<(&Line, String)> = None;
        while i < lines.len() {
            let f = &lines[i];
            let ft = f.text.trim();
            if ft.is_empty() || head(&f.text).is_some() || entry(&f.text).is_some() {
                break;
            }
            i += 1;
            if let Some(a) = ft.strip_prefix("Active: ") {
                let s = a.split(" since ").next().unwrap_or(a).trim().to_string();
                notes.push(f.note(format!("{unit} is {s}")));
                state = Some((f, s));
            } else if ft.starts_with("Condition: start condition failed") {
                condition = Some((f, String::new()));
            } else if let Some(c) = ft
                .trim_start_matches(['└', '─', ' '])
                .strip_suffix(" was not met")
                && let Some((_, s)) = condition.as_mut()
            {
                *s = c.to_string();
                notes.push(f.note(skipped_meaning(unit, c)));
            }
        }
        let running = state.as_ref().is_some_and(|(_, s)| s.starts_with("active"));
        let (mut x, mut dv) = (
            Exchange::new(Vantage::Paste("systemctl status"), d),
            view(d),
        );
        if !running {
            if let Some((f, c)) = condition.filter(|(_, c)| !c.is_empty()) {
                dv.unreachable = Some(f.fact(format!("systemd skipped {unit}: {c} is not met")));
                if let Some(sign) = not_settable(unit, &c) {
                    dv.host_signs.push(f.fact(sign));
                }
            } else if let Some((f, s)) = &state {
                dv.unreachable = Some(f.fact(format!("systemctl: {unit} is {s}")));
            }
        }
        super::log::no_word(&x, &mut dv, seg, l.n, unit.trim_end_matches(".service"));
        x.daemon = Some(dv);
        out.push(Explained::at(Kind::SystemctlStatus, notes, x, l.n));
    }
    out
}

/// A condition that says the clock may not be set here (timesyncd's unit:
/// `ConditionCapability=CAP_SYS_TIME`, `ConditionVirtualization=!container`).
fn not_settable(unit: &str, cond: &str) -> Option<crate::diagnose::facts::HostSign> {
    (cond.starts_with("ConditionVirtualization=!container")
        || cond.starts_with("ConditionCapability=CAP_SYS_TIME"))
    .then(|| {
        crate::diagnose::facts::HostSign::NotSettable(format!(
            "systemd skipped {unit}: {cond} is not met"
        ))
    })
}

fn skipped_meaning(unit: &str, cond: &str) -> String {
    if cond.starts_with("ConditionVirtualization=!container") {
        format!(
            "{unit} does not run in a container: the container's host keeps its clock (set time on the host)"
        )
    } else if cond.starts_with("ConditionCapability=CAP_SYS_TIME") {
        format!("{unit} does not run without CAP_SYS_TIME: this system may not set its clock")
    } else if cond.contains("ConditionFileIsExecutable") || cond.contains("ConditionPathExists") {
        format!("{unit} did not start: {cond} (its program or file is missing)")
    } else {
        format!("{unit} did not start: {cond} is not met")
    }
}

/// A block for a daemon that does not run, with what says so.
fn down(l: &Line, daemon: &str, fact: String, meaning: String) -> Explained {
    let mut d = view(daemon);
    if let Some((unit, cond)) = fact
        .strip_prefix("systemd skipped ")
        .and_then(|r| r.split_once(": "))
        && let Some(sign) = not_settable(unit, cond.trim_end_matches(" is not met"))
    {
        d.host_signs.push(l.fact(sign));
    }
    d.unreachable = Some(l.fact(fact));
    super::one_line(Kind::SystemctlStatus, "systemctl status", d, l, meaning)
}

#[cfg(test)]
mod tests {
    use super::super::explain;
    use super::super::overall_cause as cause;
    use crate::diagnose::Cause;

    #[test]
    fn status_blocks_and_condition_skips() {
        let failed = "× chrony.service - chrony, an NTP client/server\n     Loaded: loaded (/lib/systemd/system/chrony.service; enabled; preset: enabled)\n     Active: failed (Result: exit-code) since Mon 2026-12-07 10:00:00 UTC; 5s ago\n       Docs: man:chronyd(8)\n    Process: 123 ExecStart=/usr/sbin/chronyd $DAEMON_OPTS (code=exited, status=1/FAILURE)\n\nDec 07 10:00:00 node1 chronyd[123]: Fatal error : adjtimex(0x8001) failed : Operation not permitted\n";
        // chronyd died because it may not set the clock: that leads.
        assert_eq!(cause(failed), Cause::ClockNotSettable);
        let skipped = "○ systemd-timesyncd.service - Network Time Synchronization\n     Loaded: loaded (/lib/systemd/system/systemd-timesyncd.service; enabled; preset: enabled)\n     Active: inactive (dead)\n  Condition: start condition failed at Mon 2026-12-07 10:00:00 UTC; 1min ago\n             └─ ConditionVirtualization=!container was not met\n       Docs: man:systemd-timesyncd.service(8)\n";
        let b = explain(skipped);
        let v = crate::explain::paste::overall(&b).unwrap();
        assert_eq!(v.cause, Cause::ClockNotSettable, "{v:#?}");
        assert!(
            v.evidence
                .iter()
                .any(|e| e.contains("ConditionVirtualization")),
            "{v:#?}"
        );
        let journal = "Dec 07 10:00:00 node1 systemd[1]: systemd-timesyncd.service - Network Time Synchronization was skipped because of an unmet condition check (ConditionVirtualization=!container).\n";
        assert_eq!(cause(journal), Cause::ClockNotSettable);
        // Running says nothing of synchronization.
        let running = "● ntpsec.service - Network Time Service\n     Loaded: loaded (/lib/systemd/system/ntpsec.service; enabled; preset: enabled)\n     Active: active (running) since Mon 2026-12-07 10:00:00 UTC; 1h ago\n";
        assert_eq!(cause(running), Cause::NotJudged);
        assert_eq!(
            cause("Unit ntp.service could not be found.\n"),
            Cause::DaemonNotRunning
        );
        // Another unit: nothing.
        assert!(
            explain("● ssh.service - OpenBSD Secure Shell server\n     Active: failed\n")
                .is_empty()
        );
    }
}

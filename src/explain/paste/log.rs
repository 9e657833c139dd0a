//! Daemon log lines, as chronyd writes them: its own log file or `-d`
//! output (`LOG_Message()` in logging.c: `%Y-%m-%dT%H:%M:%SZ MESSAGE`),
//! syslog and the journal (`Dec  7 10:00:00 HOST chronyd[PID]: MESSAGE`,
//! `journalctl -o short-iso`'s `2026-12-07T10:00:00+0000 HOST
//! chronyd[PID]: …`, RFC 5424's `<PRI>1 TIME HOST chronyd PID - - …`).
//!
//! The messages that say whether chronyd synchronizes, from chrony's
//! sources.c (`Selected source ##`, every `Can't synchronise:` of
//! SRC_SelectSource()), reference.c (`System clock wrong by %.6f
//! seconds`) and logging.c (`Fatal error : %s`). A log is a timeline: the
//! newest of them stands, and the verdict cites it with its time.

use super::{Explained, Kind, Note, Segment, silent, view};
use crate::diagnose::facts::{Exchange, HostSign, Vantage};

/// One log line: when (as written), which program, and its message.
#[derive(Debug, PartialEq)]
pub struct Entry<'a> {
    pub time: Option<&'a str>,
    pub program: Option<&'a str>,
    pub message: &'a str,
}

/// `2026-12-07T10:00:00` followed by `Z`, `+0000`, `+00:00`, a fraction or
/// nothing (ntpsec's own log). Read as bytes: any text may come here.
fn iso_time(w: &str) -> bool {
    let b = w.as_bytes();
    b.len() >= 19
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[10] == b'T'
        && b[11..19].iter().filter(|c| **c == b':').count() == 2
}

/// `PROG[PID]:` or `PROG:` → PROG.
fn program(w: &str) -> Option<&str> {
    let w = w.strip_suffix(':')?;
    let p = w.split('[').next().unwrap_or(w);
    (!p.is_empty()).then_some(p)
}

/// A log line's prefix, read off; `None` when the line has none of the
/// forms above.
pub fn entry(line: &str) -> Option<Entry<'_>> {
    let t = line.trim_start();
    // RFC 5424: <PRI>1 TIME HOST APP PROCID MSGID SD MSG
    if let Some(rest) = t.strip_prefix('<')
        && let Some((pri, rest)) = rest.split_once(">1 ")
        && pri.bytes().all(|b| b.is_ascii_digit())
    {
        let w: Vec<&str> = rest.splitn(6, ' ').collect();
        if w.len() == 6 {
            let msg = w[5];
            // Structured data: "-" or [..] blocks, then the message.
            let msg = if let Some(m) = msg.strip_prefix("- ") {
                m
            } else {
                msg.rsplit_once("] ").map_or(msg, |(_, m)| m)
            };
            return Some(Entry {
                time: Some(w[0]),
                program: Some(w[2]),
                message: msg.trim_start_matches('\u{feff}'),
            });
        }
    }
    let (first, rest) = t.split_once(' ')?;
    if iso_time(first) {
        // chronyd's own file log / -d: TIME MESSAGE, in UTC ("…Z");
        // journalctl -o short-iso: TIME±HHMM HOST PROG[PID]: MSG.
        // ntpsec's own log (msyslog.c): TIME PROG[PID]: MSG, no host.
        if let Some((p, msg)) = rest.split_once(' ')
            && p.ends_with("]:")
            && let Some(prog) = program(p)
        {
            return Some(Entry {
                time: Some(first),
                program: Some(prog),
                message: msg,
            });
        }
        if !first.ends_with('Z')
            && let Some((host, r)) = rest.split_once(' ')
            && let Some((p, msg)) = r.split_once(' ')
            && !host.is_empty()
            && let Some(prog) = program(p)
        {
            return Some(Entry {
                time: Some(first),
                program: Some(prog),
                message: msg,
            });
        }
        return Some(Entry {
            time: Some(first),
            program: None,
            message: rest,
        });
    }
    // RFC 3164 / journalctl short: Mon DD HH:MM:SS HOST PROG[PID]: MSG
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    if MONTHS.contains(&first) {
        let r = rest.trim_start();
        let (day, r) = r.split_once(' ')?;
        let (clock, r) = r.split_once(' ')?;
        let (_host, r) = r.split_once(' ')?;
        let (p, msg) = r.split_once(' ')?;
        if day.parse::<u8>().is_ok() && clock.matches(':').count() == 2 {
            let time_end = t.find(clock)? + clock.len();
            return Some(Entry {
                time: Some(&t[..time_end]),
                program: program(p),
                message: msg,
            });
        }
    }
    None
}

/// Each source's newest word in a log: whether it answered, and the line.
#[derive(Default)]
pub(super) struct Heard<'a>(Vec<(String, &'a super::Line, bool)>);

impl<'a> Heard<'a> {
    pub(super) fn set(&mut self, name: &str, l: &'a super::Line, answered: bool) {
        self.0.retain(|(s, _, _)| s != name);
        self.0.push((name.to_string(), l, answered));
    }

    /// Into the facts: the silent sources (`why` they are), how many
    /// sources and how many answer; a synchronized daemon has none silent.
    pub(super) fn close(
        self,
        x: &mut Exchange,
        d: &mut crate::diagnose::facts::DaemonView,
        why: &str,
    ) {
        for (n, l, up) in &self.0 {
            if !up {
                x.add_silent(l.fact(silent(n, why, true)));
            }
        }
        d.sources = self.0.len();
        d.answering = self.0.iter().filter(|(_, _, up)| *up).count();
        if d.synchronized.as_ref().is_some_and(|s| s.value) {
            x.silent_sources.clear();
        }
    }
}

/// A log block whose lines say nothing of synchronization (start-up lines,
/// notes): not judged, with where the rest is.
pub(super) fn no_word(
    x: &Exchange,
    d: &mut crate::diagnose::facts::DaemonView,
    seg: &Segment,
    first: usize,
    unit: &str,
) {
    let Some(first) = seg.lines.iter().find(|l| l.n == first) else {
        return;
    };
    let said = d.synchronized.is_some()
        || d.clock_offset_s.is_some()
        || d.unreachable.is_some()
        || d.no_sources.is_some()
        || d.too_few.is_some()
        || d.constraint_failed.is_some()
        || d.other_discipline.is_some()
        || d.unexplained.is_some()
        || !x.silent_sources.is_empty()
        || x.unresolved.is_some()
        || x.unsync.is_some();
    if !said {
        d.unexplained = Some(first.fact(format!(
            "these log lines say nothing of whether it synchronizes; the lines after them do (`journalctl -u {unit}`)"
        )));
    }
}

/// What a chronyd message says of its synchronization.
enum Said {
    Selected(String),
    NoMajority {
        agree: usize,
        of: usize,
    },
    NotEnough,
    NoSelectable(Option<usize>),
    NoSources,
    WrongBy(f64),
    Fatal(String),
    /// "System clock interference detected (another NTP client?)"
    /// (sys_timex.c): something else also sets the clock.
    Interference,
    /// "No suitable source for synchronisation" (reference.c, -q/-Q).
    NoSuitable,
    /// "Could not resolve NTP server %s from %s" (nts_ke_client.c).
    Unresolved(String),
    /// "System clock was stepped by %.6f seconds" (reference.c).
    Stepped(String),
    /// What it says of the host beneath it, and what that means.
    Host(HostSign, String),
    /// A line worth showing that changes no state: what it means.
    Note(String),
}

fn said(m: &str) -> Option<Said> {
    if let Some(s) = m.strip_prefix("Selected source ") {
        return Some(Said::Selected(s.trim().to_string()));
    }
    if let Some(r) = m.strip_prefix("Can't synchronise: ") {
        let num = |s: &str| s.trim().parse::<usize>().ok();
        return Some(if let Some(x) = r.strip_prefix("no majority") {
            // "(only %d of %d %ssources agree)" / "(no agreement among %d %ssources)"
            let x = x.trim().trim_start_matches('(').trim_end_matches(')');
            if let Some(o) = x.strip_prefix("only ") {
                let w: Vec<&str> = o.split_whitespace().collect();
                Said::NoMajority {
                    agree: w.first().and_then(|v| num(v)).unwrap_or(0),
                    of: w.get(2).and_then(|v| num(v)).unwrap_or(0),
                }
            } else {
                let n = x
                    .strip_prefix("no agreement among ")
                    .and_then(|o| o.split_whitespace().next())
                    .and_then(num)
                    .unwrap_or(0);
                Said::NoMajority { agree: 1, of: n }
            }
        } else if r.starts_with("not enough selectable sources") {
            Said::NotEnough
        } else if let Some(x) = r.strip_prefix("no selectable sources") {
            // " (%d unreachable sources)"
            Said::NoSelectable(
                x.trim()
                    .trim_start_matches('(')
                    .split_whitespace()
                    .next()
                    .and_then(num),
            )
        } else if r.starts_with("no sources") {
            Said::NoSources
        } else if r.starts_with("no required source") {
            Said::NotEnough
        } else {
            return None;
        });
    }
    if let Some(r) = m.strip_prefix("System clock wrong by ") {
        // reference.c: "… seconds" (a warning), "… seconds (step|ignored)"
        // (-q/-Q, initstepslew): ignored means the step is not allowed.
        if r.ends_with("(ignored)") {
            return Some(Said::Note(format!(
                "the system clock is {} s off and chronyd may not step it (makestep's limit is spent, or none is set): it slews, slowly",
                r.split_whitespace().next().unwrap_or("?")
            )));
        }
        return r
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<f64>().ok())
            .map(Said::WrongBy);
    }
    if m.starts_with("CAP_SYS_TIME not present") {
        return Some(Said::Note(
            "chronyd runs without CAP_SYS_TIME: it may not set this clock (a container, or a unit that drops it); with -x it only measures".into(),
        ));
    }
    if m.starts_with("System clock interference detected") {
        return Some(Said::Interference);
    }
    if m.starts_with("No suitable source for synchronisation") {
        return Some(Said::NoSuitable);
    }
    if let Some(r) = m.strip_prefix("Could not resolve NTP server ") {
        return Some(Said::Unresolved(
            r.split(" from ").next().unwrap_or(r).to_string(),
        ));
    }
    if let Some(r) = m.strip_prefix("Source ")
        && let Some((old, new)) = r.split_once(" replaced with ")
    {
        return Some(Said::Note(format!(
            "chronyd replaced source {old} with {new} (it was unreachable or a falseticker)"
        )));
    }
    if m.starts_with("Forward time jump detected") || m.starts_with("Backward time jump detected") {
        return Some(Said::Host(
            HostSign::Jump(format!("chronyd: \"{m}\"")),
            "the system clock jumped under chronyd (sched.c): a VM paused or resumed, a suspend, or another agent set it".into(),
        ));
    }
    if let Some(r) = m.strip_prefix("System clock was stepped by ") {
        return Some(Said::Stepped(r.to_string()));
    }
    if let Some(r) = m.strip_prefix("Frequency ")
        && r.ends_with("exceeds allowed maximum")
    {
        let f = r.trim_end_matches(" exceeds allowed maximum");
        return Some(Said::Host(
            HostSign::Frequency(format!(
                "chronyd: \"Frequency {f} exceeds allowed maximum\""
            )),
            format!(
                "the clock's frequency error ({f}) is past what chronyd may set (maxdrift): the clock or its VM is faulty"
            ),
        ));
    }
    if let Some(r) = m.strip_prefix("TLS handshake with ") {
        return Some(Said::Note(format!(
            "NTS-KE's TLS handshake with {r}: no NTS cookies from it (`ntpdiag probe --nts` names why)"
        )));
    }
    if let Some(r) = m.strip_prefix("Received invalid NTS-KE response from ") {
        return Some(Said::Note(format!(
            "{r} sent an NTS-KE answer chronyd cannot use"
        )));
    }
    if let Some(r) = m.strip_prefix("Could not connect to ") {
        return Some(Said::Note(format!(
            "the NTS-KE connection to {r} failed (TCP 4460)"
        )));
    }
    if let Some(r) = m.strip_prefix("Received KoD RATE from ") {
        return Some(Said::Note(format!(
            "{r} answered with a Kiss-o'-Death RATE: chronyd polls it too often"
        )));
    }
    if let Some(r) = m.strip_prefix("Could not open NTP socket on ") {
        return Some(Said::Note(format!(
            "chronyd could not open its NTP socket on {r} (port 123 held by another process?)"
        )));
    }
    if m.starts_with("Adjustment of ") && m.contains("exceeds the allowed maximum") {
        return Some(Said::Note(format!(
            "{m}: chronyd's `maxchange` refuses the correction (and exits after the set count)"
        )));
    }
    let fatal = m.strip_prefix("Fatal error : ")?;
    // sys_timex.c / sys_generic.c: the clock may not be adjusted here.
    if fatal.contains("Operation not permitted")
        && ["adjtimex", "settimeofday", "clock_settime", "adjtime"]
            .iter()
            .any(|c| fatal.contains(c))
    {
        return Some(Said::Host(
            HostSign::NotSettable(format!("chronyd: \"Fatal error : {fatal}\"")),
            "chronyd may not adjust the clock (no CAP_SYS_TIME, or a seccomp filter): it exits"
                .into(),
        ));
    }
    Some(Said::Fatal(fatal.to_string()))
}

/// chronyd's log lines in a segment: one block, the newest state standing.
pub fn read(seg: &Segment) -> Vec<Explained> {
    let mut notes: Vec<Note> = vec![];
    let mut x = Exchange::new(Vantage::Paste("chronyd log"), "chronyd");
    let mut d = view("chronyd");
    let mut first = None;
    let mut offset = None;
    let mut fatal = None;
    let mut other = None;
    let mut signs = vec![];
    // The line of the newest selection state.
    let mut state_line = 0;
    for l in seg.lines {
        let Some(e) = entry(&l.text) else { continue };
        if e.program.is_some_and(|p| p != "chronyd") {
            continue;
        }
        let Some(s) = said(e.message) else { continue };
        first.get_or_insert(l.n);
        let when = e.time.map_or(String::new(), |t| format!(" ({t})"));
        let meaning = match &s {
            Said::Selected(src) => format!("chronyd selected {src} and synchronizes to it{when}"),
            Said::NoMajority { agree, of } => format!(
                "no majority: only {agree} of {of} sources agree, chronyd selects none{when}"
            ),
            Said::NotEnough => format!(
                "fewer selectable sources than `minsources` asks (or no `require` source among them): chronyd selects none{when}"
            ),
            Said::NoSelectable(n) => format!(
                "no selectable source{}: chronyd selects none{when}",
                n.map_or(String::new(), |n| format!(", {n} unreachable"))
            ),
            Said::NoSources => format!("chronyd has no source at all{when}"),
            Said::WrongBy(o) => format!("the system clock is {o:+} s off{when}"),
            Said::Fatal(why) => format!("chronyd stopped: {why}{when}"),
            Said::Interference => format!(
                "chronyd found the clock changed by someone else (another NTP client, a hypervisor's agent){when}"
            ),
            Said::NoSuitable => format!("no source gave chronyd usable time{when}"),
            Said::Unresolved(n) => {
                format!("{n} (an NTS-KE server's NTP server) does not resolve{when}")
            }
            Said::Stepped(r) => format!("chronyd stepped the clock by {r}{when}"),
            Said::Host(_, m) | Said::Note(m) => format!("{m}{when}"),
        };
        notes.push(l.note(meaning));
        // The newest state stands: each selection message replaces the last.
        if matches!(
            s,
            Said::Selected(_)
                | Said::NoMajority { .. }
                | Said::NotEnough
                | Said::NoSelectable(_)
                | Said::NoSources
                | Said::NoSuitable
        ) {
            state_line = l.n;
        }
        match s {
            Said::Selected(src) => {
                d = view("chronyd");
                d.synchronized = Some(l.fact(true));
                d.sys_peer = Some(src);
            }
            Said::NoMajority { agree, of } => {
                d = view("chronyd");
                d.synchronized = Some(l.fact(false));
                d.sources = of;
                d.answering = of;
                d.falsetickers = of.saturating_sub(agree);
            }
            Said::NotEnough => {
                d = view("chronyd");
                d.synchronized = Some(l.fact(false));
                d.too_few = Some(l.fact(
                    "chronyd: \"Can't synchronise: not enough selectable sources\"".to_string(),
                ));
            }
            Said::NoSelectable(n) => {
                d = view("chronyd");
                d.synchronized = Some(l.fact(false));
                x.silent_sources.clear();
                x.add_silent(l.fact(silent(
                    "chronyd's sources",
                    &format!(
                        "no selectable source{}",
                        n.map_or(String::new(), |n| format!(" ({n} unreachable)"))
                    ),
                    true,
                )));
            }
            Said::NoSources => {
                d = view("chronyd");
                d.no_sources = Some(l.origin());
            }
            Said::WrongBy(o) => {
                offset = Some(l.fact(o));
                if HostSign::quarter_hours(o) {
                    signs.push(l.fact(HostSign::QuarterHours(o)));
                }
            }
            // A step corrects the offset it was about.
            Said::Stepped(_) => {
                offset = None;
                signs.retain(|s| !matches!(s.value, HostSign::QuarterHours(_)));
            }
            Said::Host(sign, _) => {
                if matches!(sign, HostSign::NotSettable(_)) {
                    fatal = Some((l.n, l.fact(format!("chronyd stopped: {}", sign.words()))));
                }
                signs.push(l.fact(sign));
            }
            Said::Fatal(why) => {
                fatal = Some((l.n, l.fact(format!("chronyd: Fatal error : {why}"))));
            }
            Said::Interference => {
                other = Some(
                    l.fact(crate::diagnose::facts::OtherAgent {
                        what:
                            "chronyd: \"System clock interference detected (another NTP client?)\""
                                .to_string(),
                        seen_acting: true,
                    }),
                );
            }
            Said::NoSuitable => {
                d = view("chronyd");
                d.synchronized = Some(l.fact(false));
                x.silent_sources.clear();
                x.add_silent(l.fact(silent(
                    "chronyd's sources",
                    "no suitable source for synchronisation",
                    false,
                )));
            }
            Said::Unresolved(n) => {
                x.unresolved.get_or_insert(n);
            }
            Said::Note(_) => {}
        }
    }
    let Some(first) = first else { return vec![] };
    if d.synchronized.as_ref().is_some_and(|s| s.value) {
        x.silent_sources.clear();
    }
    d.clock_offset_s = offset;
    d.other_discipline = other;
    d.host_signs = signs;
    no_word(&x, &mut d, seg, first, "chrony");
    // A fatal error after the rest: chronyd is gone.
    if let Some((n, f)) = fatal
        && n > state_line
    {
        d.unreachable = Some(f);
    }
    x.daemon = Some(d);
    vec![Explained::at(Kind::DaemonLog, notes, x, first)]
}

/// ntpd's event reports (ntp_control.c report_event(): `PROTO: SRC
/// STATUS EVENT NAME [TEXT]` in ntpsec, without `PROTO: ` in classic
/// ntpd; the names of libntp/statestr.c), the ones that say whether it
/// synchronizes: a peer's `sys_peer`, `reachable`, `unreachable`; the
/// system's `no_sys_peer`, `clock_sync`, `panic_stop` (with loopfilter's
/// "+N s; set clock manually within 1000 s.").
pub fn read_ntpd(seg: &Segment) -> Vec<Explained> {
    let mut notes: Vec<Note> = vec![];
    let mut x = Exchange::new(Vantage::Paste("ntpd log"), "ntpd");
    let mut d = view("ntpd");
    let mut first = None;
    // Per source, its newest reachability.
    let mut reach = Heard::default();
    for l in seg.lines {
        let Some(e) = entry(&l.text) else { continue };
        if e.program != Some("ntpd") {
            continue;
        }
        let when = e.time.map_or(String::new(), |t| format!(" ({t})"));
        // ntpsec's subsystem prefix (msyslog: "CLOCK: ", "IO: ", …).
        let m = match e.message.split_once(": ") {
            Some(("PROTO" | "CLOCK" | "IO" | "DNS" | "INIT" | "CONFIG" | "SYNC", rest)) => rest,
            _ => e.message,
        };
        if let Some(said) = ntpd_said(m) {
            let meaning = match said {
                NtpdSaid::OverSanity(o) => {
                    d.clock_offset_s = Some(l.fact(o));
                    if HostSign::quarter_hours(o) {
                        d.host_signs.push(l.fact(HostSign::QuarterHours(o)));
                    }
                    format!(
                        "ntpd exits: the offset ({o:+} s) is past its 1000 s panic threshold{when}"
                    )
                }
                NtpdSaid::Unresolved(n) => {
                    x.unresolved.get_or_insert(n.clone());
                    format!("{n} does not resolve{when}")
                }
                NtpdSaid::Host(sign, n) => {
                    d.host_signs.push(l.fact(sign));
                    format!("{n}{when}")
                }
                NtpdSaid::Note(n) => format!("{n}{when}"),
            };
            first.get_or_insert(l.n);
            notes.push(l.note(meaning));
            continue;
        }
        let w: Vec<&str> = m.splitn(5, ' ').collect();
        let [src, status, code, name, ..] = w[..] else {
            continue;
        };
        if status.len() != 4
            || !status.bytes().all(|b| b.is_ascii_hexdigit())
            || code.len() != 2
            || !code.bytes().all(|b| b.is_ascii_hexdigit())
        {
            continue;
        }
        let text = w.get(4).copied().unwrap_or("");
        let meaning = match name {
            "sys_peer" => {
                d.synchronized = Some(l.fact(true));
                d.sys_peer = Some(src.to_string());
                format!("ntpd chose {src} as its system peer{when}")
            }
            "clock_sync" => {
                d.synchronized = Some(l.fact(true));
                format!("ntpd's clock is synchronized{when}")
            }
            "no_sys_peer" => {
                d.synchronized = Some(l.fact(false));
                d.sys_peer = None;
                format!("ntpd lost its system peer: no source is selectable{when}")
            }
            "reachable" | "unreachable" => {
                let up = name == "reachable";
                reach.set(src, l, up);
                if up {
                    format!("{src} answers again{when}")
                } else {
                    format!("{src} stopped answering (reach 0){when}")
                }
            }
            "panic_stop" => {
                if let Some(v) = text
                    .split_whitespace()
                    .next()
                    .and_then(|v| v.parse::<f64>().ok())
                {
                    d.clock_offset_s = Some(l.fact(v));
                }
                format!("ntpd stopped: the offset is past the panic threshold ({text}){when}")
            }
            _ => continue,
        };
        first.get_or_insert(l.n);
        notes.push(l.note(meaning));
    }
    let Some(first) = first else { return vec![] };
    reach.close(&mut x, &mut d, "unreachable (ntpd event)");
    no_word(&x, &mut d, seg, first, "ntpsec");
    x.daemon = Some(d);
    vec![Explained::at(Kind::DaemonLog, notes, x, first)]
}

/// What one of ntpd's other messages says.
enum NtpdSaid {
    /// The offset past the panic threshold: ntpd exits.
    OverSanity(f64),
    Unresolved(String),
    Host(HostSign, String),
    Note(String),
}

/// ntpd's messages beside its event reports, from their format strings:
/// ntpsec (ntp_loopfilter.c: `kernel reports TIME_ERROR: %#x: %s`,
/// `frequency error %.0f PPM exceeds tolerance %.0f PPM`; ntp_io.c: `%s on
/// %u %s %s` with `Listen normally`/`Listen and drop`, `bind(%d)
/// AF_INET%s %s#%d flags 0x%x failed: %s`, `unable to create socket on %s
/// (%u) for %s#%d`; ntp_util.c: `leapsecond file ('%s'): …`; systime.c:
/// `time stepped by %Lf`; ntp_proto.c: `dns_take_status: %s=>%s, %d`) and
/// classic ntpd 4.2.8 (ntp_loopfilter.c local_clock(): `time correction of
/// %.0f seconds exceeds sanity limit (%.0f); set clock manually to the
/// correct UTC time.`; ntp_proto.c pool_name_resolved(): `error resolving
/// pool %s: %s (%d)`).
fn ntpd_said(m: &str) -> Option<NtpdSaid> {
    if let Some(r) = m.strip_prefix("time correction of ")
        && r.contains("exceeds sanity limit")
    {
        return r
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<f64>().ok())
            .map(NtpdSaid::OverSanity);
    }
    if let Some(r) = m.strip_prefix("error resolving pool ") {
        return Some(NtpdSaid::Unresolved(
            r.split(':').next().unwrap_or(r).to_string(),
        ));
    }
    if let Some(r) = m.strip_prefix("dns_take_status: ")
        && let Some((name, rest)) = r.split_once("=>")
        && (rest.starts_with("error") || rest.starts_with("temp"))
    {
        return Some(NtpdSaid::Unresolved(name.to_string()));
    }
    let note = |s: String| Some(NtpdSaid::Note(s));
    if let Some(r) = m.strip_prefix("kernel reports TIME_ERROR: ") {
        return note(format!(
            "the kernel's clock status says unsynchronized ({r}): usual until ntpd first disciplines the clock; it stays so if ntpd never does"
        ));
    }
    if let Some(r) = m.strip_prefix("frequency error ")
        && r.contains("exceeds tolerance")
    {
        return Some(NtpdSaid::Host(
            HostSign::Frequency(format!("ntpd: \"{m}\"")),
            format!(
                "the clock's frequency error ({}) is past ntpd's 500 PPM: ntpd cannot discipline this clock (faulty oscillator, a VM's clock, another agent steering it)",
                r.split(" exceeds").next().unwrap_or(r)
            ),
        ));
    }
    if let Some(r) = m.strip_prefix("Listen normally on ") {
        return note(format!("ntpd listens on {r}"));
    }
    if let Some(r) = m.strip_prefix("Listen and drop on ") {
        return note(format!(
            "ntpd holds {r} and drops what comes to it (a wildcard)"
        ));
    }
    if m.starts_with("bind(") && m.contains(" failed: ") {
        let why = m.rsplit(" failed: ").next().unwrap_or("");
        return note(if why.contains("Address already in use") {
            "ntpd could not bind an address: another process holds udp/123 there (`ss -ulpn 'sport = :123'`)".to_string()
        } else {
            format!("ntpd could not bind an address: {why}")
        });
    }
    if let Some(r) = m.strip_prefix("unable to create socket on ") {
        return note(format!("ntpd has no socket on {r}"));
    }
    if let Some(r) = m.strip_prefix("leapsecond file ") {
        return note(format!(
            "the leap second file {r}: a remark (update the tzdata package); time service is not affected until a leap second"
        ));
    }
    if let Some(r) = m.strip_prefix("time stepped by ") {
        return note(format!("ntpd stepped the clock by {r} s"));
    }
    None
}

/// systemd-timesyncd's journal lines (timesyncd-manager.c, info and above,
/// what the journal shows by default): `Contacted time server A (NAME).`,
/// `Initial clock synchronization to TIME.` (older releases: `Initial
/// synchronization to time server A (NAME).`, `Synchronized to time
/// server …`), `Timed out waiting for reply from A (NAME).`, `Server has too
/// large root distance. Disconnecting.`, `Failed to find suitable address
/// for host NAME.`
pub fn read_timesyncd(seg: &Segment) -> Vec<Explained> {
    let mut notes: Vec<Note> = vec![];
    let mut x = Exchange::new(Vantage::Paste("timesyncd log"), "systemd-timesyncd");
    let mut d = view("systemd-timesyncd");
    let mut first = None;
    // Per server, its newest word.
    let mut heard = Heard::default();
    let mut far = None;
    let name_of = |r: &str| -> String {
        let r = r.trim_end_matches('.');
        match r.split_once(" (") {
            Some((_, n)) => n.trim_end_matches(')').to_string(),
            None => r.to_string(),
        }
    };
    for l in seg.lines {
        let Some(e) = entry(&l.text) else { continue };
        if e.program != Some("systemd-timesyncd") {
            continue;
        }
        let m = e.message;
        let when = e.time.map_or(String::new(), |t| format!(" ({t})"));
        let meaning = if let Some(r) = m.strip_prefix("Contacted time server ") {
            let n = name_of(r);
            heard.set(&n, l, true);
            format!("{n} answered{when}")
        } else if m.starts_with("Initial clock synchronization to ")
            || m.starts_with("Initial synchronization to time server ")
            || m.starts_with("Synchronized to time server ")
        {
            d.synchronized = Some(l.fact(true));
            far = None;
            format!("timesyncd set the clock from its server{when}")
        } else if let Some(r) = m.strip_prefix("Timed out waiting for reply from ") {
            let n = name_of(r);
            heard.set(&n, l, false);
            format!("{n} did not answer{when}")
        } else if m.starts_with("Server has too large root distance") {
            far = Some(l);
            format!(
                "the server's root distance is over RootDistanceMaxSec (5 s): timesyncd drops it{when}"
            )
        } else if m.starts_with("Failed to set RTC") {
            format!(
                "timesyncd could not write the hardware clock (RTC): the next boot starts from a wrong time{when}"
            )
        } else if m.starts_with("Network configuration changed, trying to establish connection") {
            format!("the network changed: timesyncd starts over with its servers{when}")
        } else if let Some(r) = m.strip_prefix("Failed to find suitable address for host ") {
            let n = r.trim_end_matches('.').to_string();
            x.unresolved.get_or_insert(n.clone());
            format!("{n} does not resolve{when}")
        } else {
            continue;
        };
        first.get_or_insert(l.n);
        notes.push(l.note(meaning));
    }
    let Some(first) = first else { return vec![] };
    if let Some(l) = far {
        x.add_unsync(
            crate::diagnose::facts::Unsync {
                reason: Some(crate::engine::exchange::UnsyncReason::RootDistance),
                header: None,
                stratum: None,
                refid: None,
            },
            l.origin(),
        );
    }
    heard.close(
        &mut x,
        &mut d,
        "timed out waiting for its reply (timesyncd)",
    );
    if d.synchronized.as_ref().is_some_and(|s| s.value) {
        x.unresolved = None;
    }
    no_word(&x, &mut d, seg, first, "systemd-timesyncd");
    x.daemon = Some(d);
    vec![Explained::at(Kind::DaemonLog, notes, x, first)]
}

/// The verdict `read` gives on `text`, which must make one block.
#[cfg(test)]
pub(super) fn cause_of(read: fn(&Segment) -> Vec<Explained>, text: &str) -> crate::diagnose::Cause {
    let lines = super::clean(text);
    let segs = super::segments(&lines);
    let b = read(&segs[0]);
    assert_eq!(b.len(), 1, "{text}");
    b[0].verdict.cause
}

#[cfg(test)]
mod timesyncd {
    use super::*;
    use crate::diagnose::Cause;

    fn cause(text: &str) -> Cause {
        super::cause_of(read_timesyncd, text)
    }

    /// timesyncd-manager.c's info/warning/error lines, as the journal
    /// prints them (short format). systemd-timesyncd is not run here: it
    /// would set this host's clock.
    #[test]
    fn timesyncd_lines_from_their_format_strings() {
        let t = |m: &str| format!("Dec 07 10:00:00 node1 systemd-timesyncd[612]: {m}\n");
        assert_eq!(
            cause(&format!(
                "{}{}",
                t("Contacted time server 198.51.100.1:123 (0.debian.pool.ntp.org)."),
                t("Initial clock synchronization to Mon 2026-12-07 10:00:00.123456 UTC.")
            )),
            Cause::Ok
        );
        assert_eq!(
            cause(&t(
                "Timed out waiting for reply from 198.51.100.1:123 (0.debian.pool.ntp.org)."
            )),
            Cause::NoReply
        );
        assert_eq!(
            cause(&t("Server has too large root distance. Disconnecting.")),
            Cause::UpstreamUnsynchronized
        );
        assert_eq!(
            cause(&t("Failed to find suitable address for host ntp.invalid.")),
            Cause::NameUnresolved
        );
        // Another daemon's line is not timesyncd's.
        let lines = super::super::clean(&t("x").replace("systemd-timesyncd", "chronyd"));
        assert!(read_timesyncd(&super::super::segments(&lines)[0]).is_empty());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Prefixes as logging.c, syslog(3)/journald and RFC 5424 write them.
    #[test]
    fn prefixes() {
        let e = entry("2026-12-07T19:00:01Z Selected source 198.51.100.1").unwrap();
        assert_eq!(
            (e.time, e.program, e.message),
            (
                Some("2026-12-07T19:00:01Z"),
                None,
                "Selected source 198.51.100.1"
            )
        );
        let e = entry("Dec  7 19:00:01 node1 chronyd[812]: Selected source 198.51.100.1").unwrap();
        assert_eq!(
            (e.time, e.program, e.message),
            (
                Some("Dec  7 19:00:01"),
                Some("chronyd"),
                "Selected source 198.51.100.1"
            )
        );
        let e =
            entry("2026-12-07T19:00:01+0000 node1 chronyd[812]: Can't synchronise: no majority")
                .unwrap();
        assert_eq!(
            (e.program, e.message),
            (Some("chronyd"), "Can't synchronise: no majority")
        );
        let e = entry(
            "<30>1 2026-12-07T19:00:01.5Z node1 chronyd 812 - - System clock wrong by 2.5 seconds",
        )
        .unwrap();
        assert_eq!(
            (e.program, e.message),
            (Some("chronyd"), "System clock wrong by 2.5 seconds")
        );
        assert!(entry("remote refid st").is_none());
        // Any text: multi-byte characters where a time would be.
        for t in [
            "ééééééééééééééééééé x",
            "2026-12-07Té0:00:00 x",
            "Dec ééé 10:00:00 h p: m",
        ] {
            let _ = entry(t);
        }
    }
}

#[cfg(test)]
mod messages {
    use super::*;
    use crate::diagnose::Cause;

    fn cause(text: &str) -> Cause {
        super::cause_of(read, text)
    }

    /// Each message as sources.c, reference.c and logging.c format it; the
    /// newest state stands.
    #[test]
    fn chronyd_messages_from_their_format_strings() {
        let t = |m: &str| format!("2026-12-07T10:00:00Z {m}\n");
        assert_eq!(
            cause(&t("Selected source 198.51.100.1 (ntp.example)")),
            Cause::Ok
        );
        assert_eq!(
            cause(&t(
                "Can't synchronise: no majority (only 2 of 5 sources agree)"
            )),
            Cause::NoMajority
        );
        assert_eq!(
            cause(&t(
                "Can't synchronise: no majority (no agreement among 2 sources)"
            )),
            Cause::NoMajority
        );
        assert_eq!(
            cause(&t("Can't synchronise: not enough selectable sources")),
            Cause::TooFewSources
        );
        assert_eq!(
            cause(&t(
                "Can't synchronise: no selectable sources (3 unreachable sources)"
            )),
            Cause::NoReply
        );
        assert_eq!(
            cause(&t("Can't synchronise: no sources")),
            Cause::NoServersConfigured
        );
        assert_eq!(
            cause(&t("System clock wrong by 63297.000000 seconds")),
            Cause::ClockStepNeeded
        );
        // sys_timex.c's LOG_FATAL: the clock is not this daemon's to set.
        assert_eq!(
            cause(&t(
                "Fatal error : adjtimex(0x8001) failed : Operation not permitted"
            )),
            Cause::ClockNotSettable
        );
        // Another fatal error is a daemon that stopped.
        assert_eq!(
            cause(&t(
                "Fatal error : Could not open configuration file /x : No such file or directory"
            )),
            Cause::DaemonNotRunning
        );
        // sched.c's jump warnings; local.c's frequency limit.
        assert_eq!(cause(&t("Forward time jump detected!")), Cause::VmClockJump);
        assert_eq!(
            cause(&t("Backward time jump detected!")),
            Cause::VmClockJump
        );
        assert_eq!(
            cause(&t("Frequency 612.3 ppm exceeds allowed maximum")),
            Cause::FrequencyOutOfRange
        );
        // reference.c: wrong by whole quarter hours (a local-time RTC),
        // unless chronyd stepped it since.
        assert_eq!(
            cause(&t("System clock wrong by 3600.012345 seconds")),
            Cause::RtcWrong
        );
        assert_eq!(
            cause(&t("System clock wrong by -19799.5 seconds")),
            Cause::RtcWrong
        );
        let stepped = format!(
            "{}{}{}",
            t("System clock wrong by 3600.012345 seconds"),
            t("System clock was stepped by 3600.012345 seconds"),
            t("Selected source 198.51.100.1")
        );
        assert_eq!(cause(&stepped), Cause::Ok);
        // Not quarter hours: a wrong clock, not an RTC's time zone.
        assert_eq!(
            cause(&t("System clock wrong by 1234.5 seconds")),
            Cause::ClockStepNeeded
        );
        // A timeline: selected, then lost.
        let both = format!(
            "{}{}",
            t("Selected source 198.51.100.1"),
            t("Can't synchronise: no selectable sources (1 unreachable sources)")
        );
        assert_eq!(cause(&both), Cause::NoReply);
        let back = format!(
            "{}{}",
            t("Can't synchronise: no selectable sources (1 unreachable sources)"),
            t("Selected source 198.51.100.1")
        );
        assert_eq!(cause(&back), Cause::Ok);
        // Another program's line is not chronyd's.
        let lines = super::super::clean("Dec  7 10:00:00 node1 ntpd[9]: Selected source x\n");
        assert!(read(&super::super::segments(&lines)[0]).is_empty());
    }
}

#[cfg(test)]
mod ntpd_events {
    use super::*;
    use crate::diagnose::Cause;

    fn cause(text: &str) -> Cause {
        super::cause_of(read_ntpd, text)
    }

    /// report_event()'s lines with statestr.c's names, as ntpsec's msyslog
    /// (`TIME ntpd[PID]: PROTO: …`) and classic ntpd's syslog write them.
    #[test]
    fn ntpd_events_from_their_format_strings() {
        let t = |m: &str| format!("2026-12-07T10:00:00 ntpd[812]: PROTO: {m}\n");
        assert_eq!(cause(&t("198.51.100.1 961a 8a sys_peer")), Cause::Ok);
        assert_eq!(cause(&t("0.0.0.0 0615 05 clock_sync")), Cause::Ok);
        assert_eq!(
            cause(&t(
                "0.0.0.0 c01d 0d panic_stop +63297 s; set clock manually within 1000 s."
            )),
            Cause::ClockStepNeeded
        );
        let lost = format!(
            "{}{}{}",
            t("198.51.100.1 961a 8a sys_peer"),
            t("198.51.100.1 8014 84 unreachable"),
            t("0.0.0.0 c028 08 no_sys_peer")
        );
        assert_eq!(cause(&lost), Cause::NoReply);
        // Classic ntpd over syslog: no PROTO: prefix.
        assert_eq!(
            cause("Dec  7 10:00:00 node1 ntpd[812]: 198.51.100.1 961a 8a sys_peer\n"),
            Cause::Ok
        );
        // A PROTO line that is not an event report is not read.
        let lines = super::super::clean("2026-12-07T10:00:00 ntpd[812]: PROTO: something else\n");
        assert!(read_ntpd(&super::super::segments(&lines)[0]).is_empty());
    }
}

#[cfg(test)]
mod any_text {
    use proptest::prelude::*;

    proptest! {
        /// Any text, and any text after a log prefix or the start of a
        /// report (OpenNTPD, ntpd-rs, w32tm), reads without a panic.
        #[test]
        fn log_and_daemon_readers_take_any_text(
            body in "\\PC{0,80}",
            prefix in prop_oneof![
                Just(""),
                Just("2026-12-07T10:00:00Z "),
                Just("2026-12-07T10:00:00 ntpd[1]: PROTO: "),
                Just("Dec  7 10:00:00 h chronyd[1]: Can't synchronise: "),
                Just("Dec 07 10:00:00 h systemd-timesyncd[1]: Contacted time server "),
                Just("<30>1 2026-12-07T10:00:00Z h chronyd 1 - - "),
                Just("Dec  7 10:00:00 h ntpd[1]: reply from "),
                Just("peer "),
                Just("2026-12-07T10:00:00.1Z  INFO ntp_proto::algorithm::kalman: "),
                Just("Leap Indicator: "),
                Just("#Peers: 1\nPeer: "),
                Just("Tracking x [192.0.2.1:123].\n10:00:00, "),
                Just("1/2 peers valid, "),
                Just("peer\n   wt tl st  next  poll          offset       delay      jitter\n"),
                Just("Synchronization status:\n\tStratum:\t"),
                Just("Sources:\n\n"),
            ],
        ) {
            let text = format!("{prefix}{body}\n");
            let _ = super::entry(&text);
            let lines = super::super::clean(&text);
            for seg in super::super::segments(&lines) {
                let _ = super::read(&seg);
                let _ = super::read_ntpd(&seg);
                let _ = super::read_timesyncd(&seg);
                let _ = super::super::openntpd::read(&seg);
                let _ = super::super::openntpd::read_log(&seg);
                let _ = super::super::w32tm::read(&seg);
                let _ = super::super::ntpdrs::read(&seg);
                let _ = super::super::ntpdrs::read_log(&seg);
            }
        }
    }
}

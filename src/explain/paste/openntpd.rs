//! OpenNTPD, as its sources print it.
//!
//! `ntpctl -s status|peers|Sensors|all` (ntpctl.c's show_status_msg(),
//! show_peer_msg(), show_sensor_msg() in OpenBSD's usr.sbin/ntpd/ntpd.c):
//!
//! ```text
//! 2/3 peers valid, constraint offset -1s, clock synced, stratum 3
//!
//! peer
//!    wt tl st  next  poll          offset       delay      jitter
//! 198.51.100.1 ntp.example.org
//!  *  1 10  2   27s   31s         0.233ms     0.540ms     0.061ms
//! 198.51.100.2 from pool pool.example.org
//!     1  2  -    1s   15s             ---- peer not valid ----
//! ```
//!
//! The status line: `%d/%d peers valid, `, `%d/%d sensors valid, `,
//! `constraint offset %llds[ (%d errors)], `, then `clock synced, stratum
//! %u` or `clock unsynced[, clock offset is %.3fms]`. A peer is two
//! lines: its description (`ADDRESS [from pool ]NAME`, `not resolved NAME`)
//! and its figures: `*` when the clock is synced to it, weight, trust
//! level, stratum (`-` before a reply), next and poll, then offset, delay
//! and jitter in ms, or `---- peer not valid ----` while its trust level is
//! under TRUSTLEVEL_BADPEER (6): too few good replies lately, whether it is
//! silent or answers unsynchronized (only its log lines tell which).
//!
//! Its log lines (`ntpd[PID]: MESSAGE` in syslog and the journal, bare with
//! `-d`), from the format strings of client.c, ntp.c, ntpd.c and
//! constraint.c (OpenBSD; Debian's 6.2p3 build prints the same):
//! `peer %s now valid`, `peer %s now invalid`, `no reply from %s received
//! in time, next query %ds`, `reply from %s: not synced (%s), next query
//! %llds` (`alarm`, `KoD`, `stratum %d`), `reply from %s: constraint check
//! failed`, `malformed packet received from %s`, `clock is now synced`,
//! `clock is now unsynced`, `constraints configured but none available`,
//! `constraint reply from %s: offset %f`, `tls certificate expired: …`,
//! `tls certificate not yet valid: …`, `constraint configured without
//! libtls support` (the portable build without libtls ignores
//! constraints), `could not resolve "%s"`, `set local clock to %s (offset
//! %fs)`, `adjusting local clock by %fs`, and `adjtime`/`adjtimex`/`reset
//! adjtime` failures.

use super::log::entry;
use super::{Explained, Kind, Line, Note, Segment, view};
use crate::diagnose::facts::{Exchange, Unsync, Vantage};

/// The status line's figures.
#[derive(Debug, Default, PartialEq)]
pub struct Status {
    pub peers: Option<(u32, u32)>,
    pub sensors: Option<(u32, u32)>,
    pub constraint_offset_s: Option<i64>,
    pub constraint_errors: u32,
    pub synced: bool,
    pub stratum: Option<u32>,
    pub clock_offset_ms: Option<f64>,
}

/// `A/B` → (A, B).
fn ratio(w: &str) -> Option<(u32, u32)> {
    let (a, b) = w.split_once('/')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// Reads show_status_msg()'s line, `None` when it is not one.
pub fn status_line(t: &str) -> Option<Status> {
    let t = t.trim();
    let mut s = Status::default();
    let mut rest = t;
    loop {
        if let Some(r) = rest.strip_prefix("clock synced, stratum ") {
            s.synced = true;
            s.stratum = Some(r.trim().parse().ok()?);
            return Some(s);
        }
        if let Some(r) = rest.strip_prefix("clock unsynced") {
            let r = r.trim();
            if !r.is_empty() {
                let ms = r.strip_prefix(", clock offset is ")?.strip_suffix("ms")?;
                s.clock_offset_ms = Some(ms.parse().ok()?);
            }
            return Some(s);
        }
        let (part, r) = rest.split_once(", ")?;
        rest = r;
        if let Some(p) = part.strip_suffix(" peers valid") {
            s.peers = Some(ratio(p)?);
        } else if let Some(p) = part.strip_suffix(" sensors valid") {
            s.sensors = Some(ratio(p)?);
        } else if let Some(c) = part.strip_prefix("constraint offset ") {
            let (v, errs) = match c.split_once(" (") {
                Some((v, e)) => (v, e.strip_suffix(" errors)")?.parse().ok()?),
                None => (c, 0),
            };
            s.constraint_offset_s = Some(v.strip_suffix('s')?.parse().ok()?);
            s.constraint_errors = errs;
        } else {
            return None;
        }
    }
}

/// One peer (or sensor) of ntpctl's table.
#[derive(Debug, PartialEq)]
pub struct Row {
    pub desc: String,
    pub synced_to: bool,
    pub weight: u32,
    /// The trust level (peers) or the "good" flag (sensors).
    pub trust: u32,
    pub stratum: Option<u32>,
    /// offset, delay (peers) or correction (sensors), jitter: ms; `None`
    /// when not valid.
    pub figures: Option<Vec<f64>>,
}

impl Row {
    /// The name the peer was configured by (the description's last word
    /// that is not "(non-dnssec lookup)"), else its address.
    pub fn name(&self) -> &str {
        let d = self.desc.trim_end_matches(" (non-dnssec lookup)");
        d.rsplit(' ').find(|w| !w.is_empty()).unwrap_or(d)
    }
}

/// The figures line under a description: ` * wt tl st next poll …`.
fn row_figures(desc: &str, t: &str, sensor: bool) -> Option<Row> {
    let synced_to = t.get(1..2) == Some("*");
    let body = t.get(2..)?;
    let w: Vec<&str> = body.split_whitespace().collect();
    if w.len() < 5 {
        return None;
    }
    let weight = w[0].parse().ok()?;
    let trust = w[1].parse().ok()?;
    let stratum = if w[2] == "-" {
        None
    } else {
        Some(w[2].parse().ok()?)
    };
    if !w[3].ends_with('s') || !w[4].ends_with('s') {
        return None;
    }
    let tail = &w[5..];
    let figures = if tail.join(" ") == "---- peer not valid ----"
        || tail.join(" ") == "- sensor not valid -"
    {
        None
    } else {
        let v: Option<Vec<f64>> = tail
            .iter()
            .map(|x| x.strip_suffix("ms").and_then(|n| n.parse().ok()))
            .collect();
        let v = v?;
        if v.len() != if sensor { 2 } else { 3 } {
            return None;
        }
        Some(v)
    };
    Some(Row {
        desc: desc.trim().to_string(),
        synced_to,
        weight,
        trust,
        stratum,
        figures,
    })
}

/// Trust level from which OpenNTPD uses a peer (ntpd.h TRUSTLEVEL_BADPEER).
pub const TRUSTLEVEL_BADPEER: u32 = 6;

/// ntpctl's output in a segment: one block.
pub fn read(seg: &Segment) -> Vec<Explained> {
    let lines = seg.lines;
    let mut notes: Vec<Note> = vec![];
    let mut status: Option<(Status, &Line)> = None;
    let mut rows: Vec<(Row, &Line, bool)> = vec![];
    let mut first = None;
    let mut table: Option<bool> = None; // Some(sensor?) inside a table
    let mut nothing: Option<&Line> = None;
    let mut i = 0;
    while i < lines.len() {
        let l = &lines[i];
        let t = l.text.trim_end();
        i += 1;
        if let Some(s) = status_line(t) {
            first.get_or_insert(l.n);
            notes.push(l.note(status_meaning(&s)));
            status = Some((s, l));
            continue;
        }
        match t.trim() {
            "peer" | "sensor" => {
                let sensor = t.trim() == "sensor";
                let head = lines
                    .get(i)
                    .map(|h| h.text.split_whitespace().collect::<Vec<_>>());
                let want: &[&str] = if sensor {
                    &["wt", "gd", "st", "next", "poll", "offset", "correction"]
                } else {
                    &[
                        "wt", "tl", "st", "next", "poll", "offset", "delay", "jitter",
                    ]
                };
                if head.as_deref() == Some(want) {
                    first.get_or_insert(l.n);
                    table = Some(sensor);
                    i += 1;
                }
                continue;
            }
            // show_status_msg() ends this line with a newline; the clock's
            // state follows on the next.
            "no peers and no sensors configured" => {
                first.get_or_insert(l.n);
                notes.push(l.note("OpenNTPD has no peer and no sensor: nothing to synchronize to"));
                nothing = Some(l);
                continue;
            }
            "no peers configured" | "no sensors configured" => {
                first.get_or_insert(l.n);
                notes.push(l.note("ntpctl: none configured"));
                continue;
            }
            _ => {}
        }
        let Some(sensor) = table else { continue };
        let Some(f) = lines.get(i) else { break };
        match row_figures(t, &f.text, sensor) {
            Some(r) => {
                i += 1;
                let meaning = match &r.figures {
                    Some(v) => format!(
                        "{}{}: valid (trust {}), offset {} ms{}",
                        r.name(),
                        if r.synced_to { " (synced to)" } else { "" },
                        r.trust,
                        v[0],
                        if sensor {
                            String::new()
                        } else {
                            format!(", delay {} ms", v[1])
                        }
                    ),
                    None => format!(
                        "{}: not valid (trust {} < {TRUSTLEVEL_BADPEER}): no usable reply lately, silent or unsynchronized; its log lines say which",
                        r.name(),
                        r.trust
                    ),
                };
                notes.push(f.note(meaning));
                rows.push((r, f, sensor));
            }
            None => table = None,
        }
    }
    let Some(first) = first else { return vec![] };
    let who = match rows.as_slice() {
        [(r, ..)] => r.name().to_string(),
        _ => "OpenNTPD's peers".to_string(),
    };
    let mut x = Exchange::new(Vantage::Paste("ntpctl"), &who);
    let mut d = view("OpenNTPD");
    d.sources = rows.len();
    d.answering = rows.iter().filter(|(r, ..)| r.figures.is_some()).count();
    if let Some((s, l)) = &status {
        d.synchronized = Some(l.fact(s.synced));
        if let Some(ms) = s.clock_offset_ms {
            d.clock_offset_s = Some(l.fact(ms / 1000.0));
        }
        if s.synced {
            d.status = s.stratum.map(|st| format!("stratum {st}"));
        }
        if let Some((v, n)) = s.peers {
            d.sources = d.sources.max(n as usize);
            d.answering = d.answering.max(v as usize);
        }
    }
    if let Some(l) = nothing {
        d.no_sources = Some(l.origin());
    }
    if let Some((r, l, _)) = rows.iter().find(|(r, ..)| r.figures.is_none())
        && d.answering == 0
    {
        d.unexplained = Some(l.fact(format!(
            "ntpctl: {} and every other source \"not valid\" (trust level under {TRUSTLEVEL_BADPEER}); OpenNTPD's log lines (`journalctl -u openntpd`) say whether each is silent or unsynchronized",
            r.name()
        )));
    }
    if let Some((r, ..)) = rows.iter().find(|(r, ..)| r.synced_to) {
        d.sys_peer = Some(r.name().to_string());
    }
    x.daemon = Some(d);
    vec![Explained::at(Kind::Ntpctl, notes, x, first)]
}

fn status_meaning(s: &Status) -> String {
    let mut m = vec![];
    if let Some((v, n)) = s.peers {
        m.push(format!("{v} of {n} peers valid"));
    }
    if let Some((v, n)) = s.sensors {
        m.push(format!("{v} of {n} sensors valid"));
    }
    match s.constraint_offset_s {
        Some(o) => m.push(format!(
            "HTTPS constraints answer (the clock is {o} s from them{})",
            if s.constraint_errors > 0 {
                format!(", {} replies outside them", s.constraint_errors)
            } else {
                String::new()
            }
        )),
        None => m.push("no constraint result (none configured, or none answered yet)".into()),
    }
    m.push(if s.synced {
        format!(
            "the clock is synced (stratum {})",
            s.stratum.unwrap_or_default()
        )
    } else {
        match s.clock_offset_ms {
            Some(o) => format!("the clock is not synced ({o} ms still to slew)"),
            None => "the clock is not synced".into(),
        }
    });
    m.join("; ")
}

/// What an OpenNTPD log message says.
enum Said<'a> {
    Valid(&'a str),
    Invalid(&'a str),
    NoReply(&'a str),
    NotSynced(&'a str, &'a str),
    ConstraintCheck(&'a str),
    Malformed(&'a str),
    Synced(bool),
    NoConstraint,
    CertTime(&'a str),
    ConstraintReply(&'a str),
    NoTls,
    Unresolved(&'a str),
    SetClock(&'a str),
    Adjusting(&'a str),
    CannotAdjust(&'a str),
}

fn said(m: &str) -> Option<Said<'_>> {
    fn upto<'a>(s: &'a str, end: &str) -> Option<&'a str> {
        s.split_once(end).map(|(a, _)| a)
    }
    if let Some(r) = m.strip_prefix("peer ") {
        if let Some(a) = r.strip_suffix(" now valid") {
            return Some(Said::Valid(a));
        }
        if let Some(a) = r.strip_suffix(" now invalid") {
            return Some(Said::Invalid(a));
        }
    }
    if let Some(r) = m.strip_prefix("no reply from ") {
        return upto(r, " received in time").map(Said::NoReply);
    }
    if let Some(r) = m.strip_prefix("reply from ") {
        let (a, rest) = r.split_once(": ")?;
        if let Some(why) = rest.strip_prefix("not synced (") {
            return upto(why, ")").map(|w| Said::NotSynced(a, w));
        }
        if rest.starts_with("constraint check failed") {
            return Some(Said::ConstraintCheck(a));
        }
        return None;
    }
    if let Some(r) = m.strip_prefix("malformed packet received from ") {
        return Some(Said::Malformed(r.trim()));
    }
    match m.trim() {
        "clock is now synced" => return Some(Said::Synced(true)),
        "clock is now unsynced" => return Some(Said::Synced(false)),
        "constraints configured but none available" => return Some(Said::NoConstraint),
        "constraint configured without libtls support" => return Some(Said::NoTls),
        _ => {}
    }
    if m.starts_with("tls certificate expired: ")
        || m.starts_with("tls certificate not yet valid: ")
    {
        return Some(Said::CertTime(m));
    }
    if let Some(r) = m.strip_prefix("constraint reply from ") {
        return upto(r, ": offset").map(Said::ConstraintReply);
    }
    if let Some(r) = m.strip_prefix("could not resolve \"") {
        return upto(r, "\"").map(Said::Unresolved);
    }
    if let Some(r) = m.strip_prefix("set local clock to ") {
        return Some(Said::SetClock(r));
    }
    if let Some(r) = m.strip_prefix("adjusting local clock by ") {
        return Some(Said::Adjusting(r));
    }
    if m.starts_with("adjtime failed")
        || m.starts_with("reset adjtime failed")
        || m.starts_with("adjtimex failed")
        || m.starts_with("adjfreq failed")
        || m.starts_with("settimeofday")
    {
        return Some(Said::CannotAdjust(m));
    }
    None
}

/// OpenNTPD's log lines in a segment: one block; each peer's newest word
/// stands, and the newest synced/unsynced line.
pub fn read_log(seg: &Segment) -> Vec<Explained> {
    let mut notes: Vec<Note> = vec![];
    let mut x = Exchange::new(Vantage::Paste("OpenNTPD log"), "OpenNTPD");
    let mut d = view("OpenNTPD");
    let mut first = None;
    let mut heard = super::log::Heard::default();
    let mut constraint_ok = false;
    let mut no_tls = false;
    for l in seg.lines {
        // Its -d output is bare; syslog and the journal name it ntpd.
        let (time, m) = match entry(&l.text) {
            Some(e) if matches!(e.program, Some("ntpd") | Some("openntpd") | None) => {
                (e.time, e.message)
            }
            Some(_) => continue,
            None => (None, l.text.trim()),
        };
        let Some(s) = said(m) else { continue };
        let when = time.map_or(String::new(), |t| format!(" ({t})"));
        let meaning = match s {
            Said::Valid(a) => {
                heard.set(a, l, true);
                format!("{a} gives usable time again{when}")
            }
            Said::Invalid(a) => {
                heard.set(a, l, false);
                format!("{a} is no longer used: too few good replies{when}")
            }
            Said::NoReply(a) => {
                heard.set(a, l, false);
                format!("{a} did not answer{when}")
            }
            Said::NotSynced(a, why) => {
                heard.set(a, l, true);
                if x.unsync.is_none() {
                    x.who = a.to_string();
                }
                let stratum = why
                    .strip_prefix("stratum ")
                    .and_then(|n| n.trim().parse().ok());
                x.add_unsync(
                    Unsync {
                        reason: None,
                        header: None,
                        stratum,
                        refid: None,
                    },
                    l.origin(),
                );
                format!("{a} answers but is not synchronized itself ({why}){when}")
            }
            Said::ConstraintCheck(a) => {
                heard.set(a, l, true);
                d.constraint_failed.get_or_insert(l.fact(format!(
                    "OpenNTPD: \"reply from {a}: constraint check failed\": its time is outside the HTTPS constraints' range"
                )));
                format!("{a}'s time is outside the range the HTTPS constraints give: dropped{when}")
            }
            Said::Malformed(a) => {
                heard.set(a, l, true);
                format!("{a} sent a malformed packet{when}")
            }
            Said::Synced(s) => {
                d.synchronized = Some(l.fact(s));
                if s {
                    format!("OpenNTPD's clock is synced{when}")
                } else {
                    format!("OpenNTPD's clock is no longer synced{when}")
                }
            }
            Said::NoConstraint => {
                d.constraint_failed = Some(
                    l.fact("OpenNTPD: \"constraints configured but none available\"".to_string()),
                );
                constraint_ok = false;
                format!(
                    "no HTTPS constraint answered: OpenNTPD takes no time from its servers{when}"
                )
            }
            Said::CertTime(m) => {
                d.constraint_failed = Some(l.fact(format!("OpenNTPD: \"{m}\"")));
                constraint_ok = false;
                format!(
                    "a constraint's TLS certificate is out of its validity at the time its server gives{when}"
                )
            }
            Said::ConstraintReply(a) => {
                constraint_ok = true;
                format!("the HTTPS constraint {a} answered{when}")
            }
            Said::NoTls => {
                no_tls = true;
                format!(
                    "this OpenNTPD was built without libtls: its constraint lines are ignored (not a fault){when}"
                )
            }
            Said::Unresolved(n) => {
                x.unresolved.get_or_insert(n.to_string());
                format!("{n} does not resolve{when}")
            }
            Said::SetClock(r) => format!("OpenNTPD stepped the clock to {r}{when}"),
            Said::Adjusting(r) => format!("OpenNTPD slews the clock by {r}{when}"),
            Said::CannotAdjust(m) => {
                format!("OpenNTPD may not adjust this clock ({m}): it cannot set the time{when}")
            }
        };
        first.get_or_insert(l.n);
        notes.push(l.note(meaning));
    }
    let Some(first) = first else { return vec![] };
    if constraint_ok || no_tls {
        d.constraint_failed = None;
    }
    heard.close(&mut x, &mut d, "no reply received in time (OpenNTPD)");
    super::log::no_word(&x, &mut d, seg, first, "openntpd");
    if d.synchronized.as_ref().is_some_and(|s| s.value) {
        x.unresolved = None;
        d.constraint_failed = None;
    }
    x.daemon = Some(d);
    vec![Explained::at(Kind::DaemonLog, notes, x, first)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_from_show_status_msg() {
        let s = status_line(
            "2/3 peers valid, constraint offset -1s (2 errors), clock synced, stratum 3",
        )
        .unwrap();
        assert_eq!(s.peers, Some((2, 3)));
        assert_eq!(s.constraint_offset_s, Some(-1));
        assert_eq!(s.constraint_errors, 2);
        assert!(s.synced);
        assert_eq!(s.stratum, Some(3));
        let s = status_line("0/2 peers valid, clock unsynced, clock offset is 12.500ms").unwrap();
        assert!(!s.synced);
        assert_eq!(s.clock_offset_ms, Some(12.5));
        let s = status_line("1/1 sensors valid, clock unsynced").unwrap();
        assert_eq!(s.sensors, Some((1, 1)));
        assert!(status_line("no peers and no sensors configured").is_none());
        assert!(status_line("clock synced").is_none());
        assert!(status_line("3 peers valid, clock unsynced").is_none());
    }

    fn cause(text: &str) -> crate::diagnose::Cause {
        super::super::log::cause_of(read_log, text)
    }

    #[test]
    fn log_messages_from_their_format_strings() {
        use crate::diagnose::Cause;
        let syn = "Dec  7 10:00:00 h ntpd[9]: peer 198.51.100.1 now valid\nDec  7 10:00:40 h ntpd[9]: clock is now synced\n";
        assert_eq!(cause(syn), Cause::Ok);
        let lost = format!(
            "{syn}Dec  7 11:00:00 h ntpd[9]: no reply from 198.51.100.1 received in time, next query 3000s\nDec  7 11:00:01 h ntpd[9]: clock is now unsynced\n"
        );
        assert_eq!(cause(&lost), Cause::NoReply);
        assert_eq!(
            cause("constraints configured but none available\n"),
            Cause::ConstraintFailed
        );
        assert_eq!(
            cause(
                "tls certificate not yet valid: 203.0.113.5 (www.example.org): not before 2026-01-01 00:00:00 UTC, now 2000-01-01 00:00:12 UTC\n"
            ),
            Cause::ConstraintFailed
        );
        // A build without libtls ignores constraints: not the cause.
        assert_ne!(
            cause(
                "constraint configured without libtls support\nconstraints configured but none available\nno reply from 198.51.100.1 received in time, next query 15s\n"
            ),
            Cause::ConstraintFailed
        );
        assert_eq!(
            cause("reply from 198.51.100.1: not synced (alarm), next query 3076s\n"),
            Cause::UpstreamUnsynchronized
        );
        // Not OpenNTPD's words: nothing.
        let lines =
            super::super::clean("Dec  7 10:00:00 h chronyd[9]: peer 198.51.100.1 now valid\n");
        assert!(read_log(&super::super::segments(&lines)[0]).is_empty());
    }
}

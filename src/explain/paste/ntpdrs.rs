//! ntpd-rs, as its 1.x sources print it.
//!
//! `ntp-ctl status` (ctl.rs print_state_plain()):
//!
//! ```text
//! Synchronization status:
//!         Dispersion:     0.000000s
//!         Delay:          0.000000s
//!         Stratum:        16
//!
//!
//! Sources:
//!
//! 198.51.100.1:123 198.51.100.1:123 (1)
//!         Offset:                 -0.000003
//!         Uncertainty:            ±0.003764
//!         Delay:                  ±0.000014
//!         Poll interval:          16s
//!         Missing polls:          0
//!         Root dispersion:        0.000000s
//!         Root delay:             0.000000s
//! ```
//!
//! (a source line is `NAME ADDRESS[ [NTS]] (ID)`; an NTS source adds `NTS
//! cookies: N/M available`). The system stratum stays 16 until the
//! algorithm combines sources into a time; `Missing polls` counts a
//! source's unanswered polls since its last answer.
//!
//! Its log (tracing's `TIME LEVEL TARGET: MESSAGE`, bare or behind a
//! journal prefix), from ntp-proto's algorithm/kalman/mod.rs: `No consensus
//! on current time`, `Offset: X+-Yms, frequency: …` (a combined time),
//! `Jumped offset by Nms`, and `Unusually large clock step suggested, …`
//! after which it exits; ntpd's daemon/system.rs: `new source … addr=…`,
//! `Could not control clock: …`; daemon/config: `Fewer sources configured
//! than are required to agree …` (too-few-sources), `No sources configured`;
//! daemon/spawn: `Unknown domain name: …`, resolver and key-exchange errors.

use super::log::entry;
use super::{Explained, Kind, Line, Note, Segment, silent, view};
use crate::diagnose::facts::{Exchange, Vantage};

/// `\tKey:\t…value` → (key, value).
fn field(l: &Line) -> Option<(&str, &str)> {
    if !l.text.starts_with('\t') && !l.text.starts_with("    ") {
        return None;
    }
    let (k, v) = l.text.trim().split_once(':')?;
    Some((k.trim(), v.trim().trim_start_matches('±')))
}

struct Source<'a> {
    name: String,
    line: &'a Line,
    offset: Option<f64>,
    missing: Option<u64>,
    delay: Option<f64>,
}

/// The source header: `NAME ADDRESS[ [NTS]] (ID)`.
fn source_head(t: &str) -> Option<String> {
    let (head, id) = t.trim_end().rsplit_once(" (")?;
    id.strip_suffix(')')?.parse::<u64>().ok()?;
    let head = head.trim_end_matches(" [NTS]");
    let (name, addr) = head.split_once(' ')?;
    if addr.contains(' ') || !addr.contains(':') {
        return None;
    }
    Some(name.to_string())
}

/// `ntp-ctl status` in a segment: one block.
pub fn read(seg: &Segment) -> Vec<Explained> {
    let lines = seg.lines;
    let Some(h) = lines
        .iter()
        .position(|l| l.text.trim() == "Synchronization status:")
    else {
        return vec![];
    };
    let mut notes: Vec<Note> = vec![];
    let mut stratum: Option<(u8, &Line)> = None;
    let mut sources: Vec<Source> = vec![];
    let mut in_sources = false;
    for l in &lines[h + 1..] {
        let t = l.text.trim();
        if t == "Sources:" {
            in_sources = true;
            continue;
        }
        if t == "Servers:" {
            break;
        }
        if let Some((k, v)) = field(l) {
            let num = || v.trim_end_matches('s').parse::<f64>().ok();
            match (in_sources, k) {
                (false, "Stratum") => {
                    if let Ok(s) = v.parse::<u8>() {
                        stratum = Some((s, l));
                        notes.push(l.note(if s >= 16 {
                            "stratum 16: ntpd-rs has combined no time from its sources (not synchronized)".to_string()
                        } else {
                            format!("stratum {s}: ntpd-rs keeps time from its sources")
                        }));
                    }
                }
                (true, "Offset") => {
                    if let Some(s) = sources.last_mut() {
                        s.offset = num();
                    }
                }
                (true, "Delay") => {
                    if let Some(s) = sources.last_mut() {
                        s.delay = num();
                    }
                }
                (true, "Missing polls") => {
                    if let Some(s) = sources.last_mut() {
                        s.missing = v.parse().ok();
                    }
                }
                _ => {}
            }
            continue;
        }
        if in_sources && let Some(name) = source_head(t) {
            sources.push(Source {
                name,
                line: l,
                offset: None,
                missing: None,
                delay: None,
            });
        }
    }
    let Some((st, sl)) = stratum else {
        return vec![];
    };
    let mut x = Exchange::new(Vantage::Paste("ntp-ctl status"), "ntpd-rs");
    let mut d = view("ntpd-rs");
    d.synchronized = Some(sl.fact(st < 16));
    d.status = Some(format!("stratum {st}"));
    d.sources = sources.len();
    for s in &sources {
        // A source that never answered has the unbounded uncertainty
        // (2^31 s) and its missed polls; one that answers lately has none.
        let never = s.delay.is_some_and(|d| d >= 1e6);
        // `Missing polls` is the trailing zeros of its 8-bit reach
        // register (ntp-proto source.rs Reach::unanswered_polls()): 8 is
        // reach 0, no answer in the last 8 polls, which a source just
        // added also shows; 1–7, it answered within the last 8.
        let meaning = match s.missing {
            Some(n) if n < 8 && !never => {
                d.answering += 1;
                if n == 0 {
                    format!(
                        "{}: answers (offset {:+} s)",
                        s.name,
                        s.offset.unwrap_or_default()
                    )
                } else {
                    format!(
                        "{}: answered within its last 8 polls, not the last {n}",
                        s.name
                    )
                }
            }
            Some(n) => {
                x.add_silent(s.line.fact(silent(
                    &s.name,
                    &format!(
                        "ntp-ctl: {n} missing polls (reach 0: no answer in its last 8 polls, or just added){}",
                        if never { ", no sample at all" } else { "" }
                    ),
                    false,
                )));
                format!(
                    "{}: reach 0, no answer in its last 8 polls (or just added: ntp-ctl shows the same)",
                    s.name
                )
            }
            None => continue,
        };
        notes.push(s.line.note(meaning));
    }
    if sources.is_empty() {
        d.no_sources = Some(sl.origin());
    }
    if let [s] = sources.as_slice() {
        x.who = s.name.clone();
    }
    x.daemon = Some(d);
    vec![Explained::at(Kind::NtpdRsCtl, notes, x, lines[h].n)]
}

/// `ntp-ctl validate` (ctl.rs): `Config looks good`, or `Error: Could not
/// load configuration: …`, after which ntp-daemon does not start.
pub fn read_validate(seg: &Segment) -> Vec<Explained> {
    // Its own first line, `INFO ntpd::daemon::config: using config file
    // path=…`, or the prompt, says the words are ntp-ctl's.
    let by_command = seg
        .command
        .as_deref()
        .is_some_and(|c| c.contains("ntp-ctl") && c.contains("validate"))
        || seg
            .lines
            .iter()
            .any(|l| l.text.contains("ntpd::daemon::config: using config file"));
    let mut out = vec![];
    for l in seg.lines {
        let t = l.text.trim();
        let mut d = view("ntpd-rs");
        let meaning = if let Some(e) = t.strip_prefix("Error: Could not load configuration: ") {
            d.unreachable = Some(l.fact(format!(
                "ntp-ctl validate: ntp-daemon refuses its configuration ({e})"
            )));
            format!("ntp-daemon will not start with this configuration: {e}")
        } else if t == "Config looks good" && by_command {
            d.unexplained = Some(l.fact(
                "ntp-ctl validate: the configuration is valid; whether ntpd-rs synchronizes, `ntp-ctl status` says".to_string(),
            ));
            "ntpd-rs accepts its configuration".to_string()
        } else {
            continue;
        };
        out.push(super::one_line(
            Kind::NtpdRsCtl,
            "ntp-ctl validate",
            d,
            l,
            meaning,
        ));
    }
    out
}

/// The message of one ntpd-rs log line: tracing's `TIME LEVEL TARGET:
/// MESSAGE`, bare or after a syslog/journal prefix.
fn message(text: &str) -> Option<Msg<'_>> {
    let m = match entry(text) {
        Some(e) if matches!(e.program, Some("ntp-daemon") | None) => e.message,
        Some(_) => return None,
        None => text,
    };
    let mut w = m.trim_start();
    // A journal line keeps tracing's own time after the prefix.
    if let Some((first, rest)) = w.split_once(' ')
        && first.len() >= 19
        && first.as_bytes()[4] == b'-'
        && first.contains('T')
    {
        w = rest.trim_start();
    }
    let (level, rest) = w.split_once(' ')?;
    if !matches!(level, "TRACE" | "DEBUG" | "INFO" | "WARN" | "ERROR") {
        return None;
    }
    // Spans come first: `Ntp Source{index=… name="A:123" …}: target: msg`.
    let mut rest = rest.trim_start();
    let mut span = None;
    while !(rest.starts_with("ntpd") || rest.starts_with("ntp_proto")) {
        let (s, r) = rest.split_once("}: ")?;
        span = Some(s);
        rest = r;
    }
    let (_, msg) = rest.split_once(": ")?;
    Some(Msg {
        text: msg,
        source: span.and_then(|s| {
            let n = s.split("name=\"").nth(1)?;
            n.split('"').next()
        }),
    })
}

/// One ntpd-rs message, and the source its span names.
struct Msg<'a> {
    text: &'a str,
    source: Option<&'a str>,
}

/// ntpd-rs's log lines in a segment: one block, the newest state standing.
pub fn read_log(seg: &Segment) -> Vec<Explained> {
    let mut notes: Vec<Note> = vec![];
    let mut x = Exchange::new(Vantage::Paste("ntpd-rs log"), "ntpd-rs");
    let mut d = view("ntpd-rs");
    let mut first = None;
    for l in seg.lines {
        let Some(msg) = message(&l.text) else {
            continue;
        };
        let m = msg.text;
        let src = msg.source.unwrap_or("a source");
        let meaning = if m.starts_with("Unrecognized KISS Message from source")
            || m.starts_with("Received message from server with excessive stratum")
        {
            // source.rs: a kiss other than RATE/DENY/RSTR/NTSN is, in
            // practice, INIT or STEP: the server is not synchronized.
            if x.unsync.is_none() {
                x.who = src.to_string();
            }
            x.add_unsync(
                crate::diagnose::facts::Unsync {
                    reason: None,
                    header: None,
                    stratum: m
                        .rsplit(' ')
                        .next()
                        .and_then(|n| n.parse().ok())
                        .or(Some(0)),
                    refid: None,
                },
                l.origin(),
            );
            format!(
                "{src} answers stratum 0 or 16: not synchronized itself (ntpd-rs ignores its replies)"
            )
        } else if m.starts_with("Source requested rate limit") {
            format!("{src} sent a Kiss-o'-Death RATE: ntpd-rs polls it less often")
        } else if m.starts_with("Source denied service") {
            format!("{src} sent a Kiss-o'-Death DENY or RSTR: it refuses this client")
        } else if m.starts_with("Received nts not-acknowledge") {
            format!(
                "{src} sent an NTS NAK (kiss NTSN): its cookies are not accepted; ntpd-rs keys again"
            )
        } else if m.starts_with("No consensus on current time") {
            d.synchronized = Some(l.fact(false));
            "no time from its sources: too few agree (or none answers)".to_string()
        } else if m.starts_with("Offset: ") && m.contains("frequency: ") {
            d.synchronized = Some(l.fact(true));
            d.unreachable = None;
            "ntpd-rs combined a time from its sources and steers the clock".to_string()
        } else if let Some(r) = m.strip_prefix("Jumped offset by ") {
            format!(
                "ntpd-rs stepped the clock by {}",
                r.split('.').next().unwrap_or(r)
            )
        } else if m.starts_with("Unusually large clock step suggested") {
            d.unreachable = Some(l.fact(
                "ntpd-rs exited: a clock step past its panic threshold was suggested (`ntp-ctl force-sync` sets the clock once)".to_string(),
            ));
            "a step past its panic threshold: ntpd-rs exits".to_string()
        } else if m.starts_with("Fewer sources configured than are required to agree") {
            // daemon/config check(): fewer [[source]]s than
            // minimum-agreeing-sources (default 3).
            d.too_few = Some(l.fact(
                "ntpd-rs: \"Fewer sources configured than are required to agree on the current time. Daemon will not change system time.\"".to_string(),
            ));
            "fewer sources than minimum-agreeing-sources (default 3): ntpd-rs will never set the clock".to_string()
        } else if m.starts_with("No sources configured. Daemon will not change system time") {
            d.no_sources = Some(l.origin());
            "ntpd-rs has no source: it will never set the clock".to_string()
        } else if let Some(n) = m.strip_prefix("Unknown domain name: ") {
            x.unresolved.get_or_insert(n.trim().to_string());
            format!("{} does not resolve", n.trim())
        } else if let Some(r) = m.strip_prefix("error while resolving ") {
            format!(
                "resolving {} failed; ntpd-rs retries",
                r.split(", retrying").next().unwrap_or(r)
            )
        } else if let Some(r) = m.strip_prefix("No connection possible to ") {
            format!("no connection possible to {r}")
        } else if m.contains("while attempting key exchange") {
            "an NTS key exchange failed: no cookies, no NTS time from that source (`ntpdiag probe --nts` names why)".to_string()
        } else if let Some(r) = m.strip_prefix("Could not control clock: ") {
            d.unreachable = Some(l.fact(format!(
                "ntpd-rs stopped: it could not control the clock ({r})"
            )));
            format!("ntpd-rs may not control this clock ({r}): it stops")
        } else if m.starts_with("Could not open socket") {
            "ntpd-rs could not open a source's socket".to_string()
        } else if m.starts_with("new source") {
            let addr = m
                .split_whitespace()
                .find_map(|w| w.strip_prefix("addr="))
                .unwrap_or("")
                .trim_matches('"');
            format!("new source {addr}")
        } else {
            continue;
        };
        first.get_or_insert(l.n);
        notes.push(l.note(meaning));
    }
    let Some(first) = first else { return vec![] };
    if d.synchronized.as_ref().is_some_and(|s| !s.value) && d.unreachable.is_none() {
        d.unexplained = d.synchronized.as_ref().map(|s| {
            crate::diagnose::facts::Fact::new(
                "ntpd-rs: \"No consensus on current time\": too few sources agree or answer; `ntp-ctl status` shows which".to_string(),
                s.at.clone(),
            )
        });
    }
    super::log::no_word(&x, &mut d, seg, first, "ntpd-rs");
    x.daemon = Some(d);
    vec![Explained::at(Kind::DaemonLog, notes, x, first)]
}

#[cfg(test)]
mod tests {
    use super::super::overall_cause as cause;
    use crate::diagnose::Cause;

    #[test]
    fn log_lines_from_kalman() {
        let t = "2026-12-07T22:09:44.789293Z  INFO ntp_proto::algorithm::kalman: No consensus on current time\n";
        assert_eq!(cause(t), Cause::NotJudged);
        let ok = format!(
            "{t}2026-12-07T22:11:44.789293Z  INFO ntp_proto::algorithm::kalman: Offset: 0.01+-0.2ms, frequency: 1.2+-0.1ppm\n"
        );
        assert_eq!(cause(&ok), Cause::Ok);
        assert_eq!(
            cause(
                "$ ntp-ctl validate\nError: Could not load configuration: unknown field `sources`\n"
            ),
            Cause::DaemonNotRunning
        );
        assert_eq!(
            cause("$ ntp-ctl validate\nConfig looks good\n"),
            Cause::NotJudged
        );
        assert_eq!(
            cause(
                "2026-12-07T22:48:03.390621Z  WARN ntpd::daemon::config: Fewer sources configured than are required to agree on the current time. Daemon will not change system time.\n"
            ),
            Cause::TooFewSources
        );
        let j = "Dec 07 10:00:00 h ntp-daemon[5]: 2026-12-07T10:00:00.1Z ERROR ntp_proto::algorithm::kalman: Unusually large clock step suggested, please manually verify system clock and reference clock state and restart if appropriate. If the clock is significantly wrong, you can use `ntp-ctl force-sync` to correct it.\n";
        assert_eq!(cause(j), Cause::DaemonNotRunning);
    }
}

//! What users paste, read as the tools' own sources print it:
//!
//! - ntpq (ntpsec's `ntpq.py`/`pylib`, classic `ntpq`): `-p`/`peers`,
//!   `opeers`, `apeers`, `lpeers`, wrapped rows, `-c assoc`/`as`, `-c rv`
//!   (system and peer variables, `readlist`), interactive `ntpq>` sessions,
//!   and every error it prints ([`ntpq`]);
//! - ntpdate, classic (`ntpdate.c`: `-d` per-server blocks, every `Server
//!   dropped:` reason, `-q` result lines, `adjust/step time server`, `no
//!   server suitable…`, socket in use, name lookups) ([`ntpdate`]);
//! - ntpdig and ntpsec's ntpdate shim (`ntpdig.py`: every `Response
//!   dropped:` reason, socket errors, lookup failures, the result line and
//!   `-j` JSON) ([`ntpdig`]);
//! - chronyc (`client.c` formats): `sources` (text, `-v`, `-c`),
//!   `sourcestats`, `selectdata`, `tracking` (text and `-c`), `ntpdata`,
//!   `activity`, `authdata`, and its error replies ([`chronyc`]);
//! - `timedatectl timesync-status` (systemd's `print_ntp_status_info`)
//!   ([`timedatectl`]);
//! - OpenNTPD's `ntpctl -s all|status|peers|Sensors` and its log lines
//!   ([`openntpd`]);
//! - the daemons' log lines: journal, syslog, their own files ([`log`]).
//!
//! A paste is first cleaned (terminal colour codes, carriage returns) and
//! cut into blocks at each command prompt (`$ ntpq -p`, `ntpq> peers`,
//! `[root@h ~]# chronyc tracking`); each block is read by every reader, and
//! every table in it counts (two `ntpq -p` tables are two blocks). Each
//! recognised block becomes facts with their line numbers, and the one rule
//! table gives its verdict.
//!
//! Pure and total: any text gives a (possibly empty) list of explained
//! blocks; nothing panics (fuzz target `explain_paste_any_text`).

use serde::Serialize;

use crate::diagnose::facts::{DaemonView, Exchange, Fact, Origin, SilentSource};
use crate::diagnose::{Verdict, rules};

pub mod chronyc;
pub mod log;
pub mod ntpdate;
pub mod ntpdig;
pub mod ntpdrs;
pub mod ntpq;
pub mod openntpd;
pub mod systemctl;
pub mod timedatectl;
pub mod w32tm;

pub use chronyc::chrony_rows;
pub use ntpq::{PeerRow, parse_peers};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    NtpqPeers,
    NtpqAssoc,
    NtpqRv,
    NtpqError,
    NtpdateDebug,
    NtpdateResult,
    NtpdigDebug,
    NtpdigJson,
    ChronycSources,
    ChronycSourcesCsv,
    ChronycSourcestats,
    ChronycSelectdata,
    ChronycTracking,
    ChronycNtpdata,
    ChronycActivity,
    ChronycAuthdata,
    ChronycError,
    TimedatectlTimesync,
    Ntpctl,
    W32tm,
    NtpdRsCtl,
    SystemctlStatus,
    DaemonLog,
}

impl Kind {
    pub fn title(self) -> &'static str {
        match self {
            Kind::NtpqPeers => "ntpq -p / -c peers",
            Kind::NtpqAssoc => "ntpq -c assoc",
            Kind::NtpqRv => "ntpq -c rv",
            Kind::NtpqError => "ntpq (error)",
            Kind::NtpdateDebug => "ntpdate -d",
            Kind::NtpdateResult => "ntpdate",
            Kind::NtpdigDebug => "ntpdig",
            Kind::NtpdigJson => "ntpdig -j",
            Kind::ChronycSources => "chronyc sources",
            Kind::ChronycSourcesCsv => "chronyc -c sources",
            Kind::ChronycSourcestats => "chronyc sourcestats",
            Kind::ChronycSelectdata => "chronyc selectdata",
            Kind::ChronycTracking => "chronyc tracking",
            Kind::ChronycNtpdata => "chronyc ntpdata",
            Kind::ChronycActivity => "chronyc activity",
            Kind::ChronycAuthdata => "chronyc authdata",
            Kind::ChronycError => "chronyc (error)",
            Kind::TimedatectlTimesync => "timedatectl timesync-status",
            Kind::Ntpctl => "ntpctl (OpenNTPD)",
            Kind::W32tm => "w32tm (Windows Time)",
            Kind::NtpdRsCtl => "ntp-ctl status (ntpd-rs)",
            Kind::SystemctlStatus => "systemctl status",
            Kind::DaemonLog => "daemon log",
        }
    }
}

/// One line and what it says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Note {
    pub line: String,
    pub meaning: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Explained {
    pub kind: Kind,
    /// The command that printed it, when the paste shows it.
    pub command: Option<String>,
    /// Where the block starts in the paste (1-based).
    pub first_line: usize,
    pub notes: Vec<Note>,
    /// What the output says, as facts (each with its line).
    pub facts: Exchange,
    /// The rule table's verdict on those facts.
    pub verdict: Verdict,
}

impl Explained {
    /// A block that starts at line `first_line` of the paste.
    fn at(kind: Kind, notes: Vec<Note>, facts: Exchange, first_line: usize) -> Explained {
        Explained {
            first_line,
            ..Explained::new(kind, notes, facts)
        }
    }

    fn new(kind: Kind, notes: Vec<Note>, facts: Exchange) -> Explained {
        let verdict = rules::decide(&facts);
        Explained {
            kind,
            command: None,
            first_line: 0,
            notes,
            facts,
            verdict,
        }
    }
}

// ---------------------------------------------------------------- lines

/// One cleaned line of the paste, with its number (1-based).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    pub n: usize,
    pub text: String,
}

impl Line {
    pub fn origin(&self) -> Origin {
        Origin::Line {
            n: self.n,
            text: self.text.clone(),
            // A log line's own time: the verdict cites it (a log is a timeline).
            time: log::entry(&self.text).and_then(|e| e.time.map(|t| t.trim().to_string())),
        }
    }

    fn note(&self, meaning: impl Into<String>) -> Note {
        Note {
            line: self.text.clone(),
            meaning: meaning.into(),
        }
    }

    fn fact<T>(&self, value: T) -> Fact<T> {
        Fact::new(value, self.origin())
    }
}

/// The text as lines, without terminal escape sequences (CSI such as colour
/// codes, OSC titles), carriage returns (CRLF pastes) or other control
/// characters but tabs.
pub fn clean(text: &str) -> Vec<Line> {
    text.split('\n')
        .enumerate()
        .map(|(i, l)| Line {
            n: i + 1,
            text: strip_controls(l),
        })
        .collect()
}

fn strip_controls(l: &str) -> String {
    let mut out = String::with_capacity(l.len());
    let mut it = l.chars().peekable();
    while let Some(c) = it.next() {
        match c {
            '\u{1b}' => match it.peek() {
                // CSI: ESC [ parameters… final byte in @..~
                Some('[') => {
                    it.next();
                    for d in it.by_ref() {
                        if ('@'..='~').contains(&d) {
                            break;
                        }
                    }
                }
                // OSC: ESC ] … BEL or ESC \
                Some(']') => {
                    it.next();
                    while let Some(d) = it.next() {
                        if d == '\u{7}' {
                            break;
                        }
                        if d == '\u{1b}' {
                            it.next();
                            break;
                        }
                    }
                }
                Some(_) => {
                    it.next();
                }
                None => {}
            },
            '\t' => out.push(c),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// A block of the paste: the lines after one command prompt (or before the
/// first).
#[derive(Clone, Debug)]
pub struct Segment<'a> {
    pub command: Option<String>,
    pub lines: &'a [Line],
}

/// The tools whose commands start a block.
const TOOLS: &[&str] = &[
    "ntpq",
    "ntpdate",
    "ntpdig",
    "sntp",
    "chronyc",
    "timedatectl",
    "ntpdc",
    "ntpstat",
    "ntpctl",
    "journalctl",
    "systemctl",
    "w32tm",
    "ntp-ctl",
];

/// The command on a prompt line: `$ ntpq -p`, `[root@h ~]# chronyc
/// tracking`, `host:~ # ntpdate -d x`, a bare `ntpq -c as`, or an
/// interactive `ntpq> peers` / `chronyc> sources`.
pub fn command_of(line: &str) -> Option<String> {
    let t = line.trim();
    for tool in ["ntpq", "chronyc", "ntpdc"] {
        if let Some(rest) = t.strip_prefix(tool).and_then(|r| r.strip_prefix('>')) {
            let cmd = rest.trim();
            return (!cmd.is_empty()).then(|| format!("{tool} {cmd}"));
        }
    }
    for tool in TOOLS {
        let mut from = 0;
        while let Some(i) = t[from..].find(tool) {
            let at = from + i;
            from = at + tool.len();
            let before = &t[..at];
            let after = &t[at + tool.len()..];
            // The tool's name is a whole word, followed by arguments or nothing.
            if !(after.is_empty() || after.starts_with(' ')) {
                continue;
            }
            let prefix = before.trim_end();
            // Only the start of the line, or a prompt, or a path to the tool.
            let path = before.ends_with('/') && !before.contains(' ')
                || before
                    .rsplit(' ')
                    .next()
                    .is_some_and(|w| w.ends_with('/') && w.starts_with('/'));
            let prompt = prefix.is_empty()
                || prefix.ends_with('$')
                || prefix.ends_with('#')
                || prefix.ends_with('%')
                || prefix.ends_with('>')
                || prefix.ends_with("sudo")
                || path;
            if prompt && before.len() <= 120 {
                let words = after.split_whitespace().count();
                if words <= 12 {
                    let start = if path {
                        before.rfind(' ').map_or(0, |p| p + 1)
                    } else {
                        at
                    };
                    return Some(t[start..].trim().to_string());
                }
            }
        }
    }
    None
}

/// The paste cut at each command prompt. At most [`MAX_SEGMENTS`]
/// segments; the rest stays in the last one.
pub fn segments(lines: &[Line]) -> Vec<Segment<'_>> {
    let mut out = vec![];
    let mut start = 0;
    let mut command = None;
    for (i, l) in lines.iter().enumerate() {
        if out.len() + 1 >= MAX_SEGMENTS {
            break;
        }
        if let Some(c) = command_of(&l.text) {
            if i > start || command.is_some() {
                out.push(Segment {
                    command: command.take(),
                    lines: &lines[start..i],
                });
            }
            command = Some(c);
            start = i + 1;
        }
    }
    out.push(Segment {
        command,
        lines: &lines[start..],
    });
    out
}

pub const MAX_SEGMENTS: usize = 1000;

/// The host a command addressed: its last argument that is not an option
/// (ntpq's, ntpdate's, ntpdig's positional host).
pub fn command_host(command: &str) -> Option<String> {
    let mut words = command.split_whitespace();
    let tool = words.next()?.rsplit('/').next()?;
    // The options that take an argument, per tool's getopt string.
    let with_arg: &[&str] = match tool {
        "ntpq" => &["-c", "-D", "-l", "-a", "-k"],
        "ntpdate" => &["-a", "-e", "-k", "-o", "-p", "-t"],
        "ntpdig" | "sntp" => &["-a", "-c", "-D", "-g", "-l", "-p", "-t", "-k", "-M"],
        _ => &[],
    };
    let mut words = words.peekable();
    let mut host = None;
    while let Some(w) = words.next() {
        if with_arg.contains(&w) {
            words.next();
            continue;
        }
        if w.starts_with('-') || w.contains('=') {
            continue;
        }
        host = Some(w.trim_matches(['"', '\'']).to_string());
    }
    host
}

/// Whether a host a tool queried is this machine.
pub fn is_local_host(h: &str) -> bool {
    matches!(
        h,
        "localhost" | "127.0.0.1" | "::1" | "ip6-localhost" | "localhost.localdomain"
    ) || h.starts_with("127.")
}

fn view(daemon: &str) -> DaemonView {
    DaemonView {
        daemon: daemon.to_string(),
        ..DaemonView::default()
    }
}

fn silent(name: &str, why: &str, over_polls: bool) -> SilentSource {
    SilentSource {
        name: name.to_string(),
        why: why.to_string(),
        over_polls,
    }
}

/// A daemon's own tool could not reach it on this host (chronyc's "506
/// Cannot talk to daemon", timedatectl's "requires systemd-timesyncd"):
/// the block for that line.
fn daemon_unreachable(
    l: &Line,
    daemon: &str,
    tool: &'static str,
    kind: Kind,
    meaning: &str,
) -> Explained {
    let mut d = view(daemon);
    d.unreachable = Some(l.fact(format!("{tool} on this host: {}", l.text.trim())));
    one_line(kind, tool, d, l, meaning)
}

/// A block of one line: what `tool` printed of a daemon, as its view.
fn one_line(
    kind: Kind,
    tool: &'static str,
    d: DaemonView,
    l: &Line,
    meaning: impl Into<String>,
) -> Explained {
    let mut x = Exchange::new(crate::diagnose::facts::Vantage::Paste(tool), &d.daemon);
    x.daemon = Some(d);
    Explained::at(kind, vec![l.note(meaning)], x, l.n)
}

/// A server's notes in a run of ntpdate or ntpdig; the first server's
/// block also carries the lines about the run as a whole.
fn server_notes(
    notes: &mut std::collections::BTreeMap<String, Vec<Note>>,
    run_notes: &[Note],
    name: &str,
    first_block: bool,
) -> Vec<Note> {
    let mine = notes.remove(name).unwrap_or_default();
    if first_block {
        run_notes.iter().cloned().chain(mine).collect()
    } else {
        mine
    }
}

/// Splits a `key=value, key="v, w", …` list (ntpq's variable lists) at
/// commas outside quotes.
fn kv_pairs(s: &str) -> Vec<(String, String)> {
    let mut out = vec![];
    let mut cur = String::new();
    let mut quoted = false;
    let mut push = |cur: &mut String| {
        if let Some((k, v)) = cur.split_once('=') {
            let k = k.trim();
            if !k.is_empty() && !k.contains(char::is_whitespace) {
                out.push((k.to_string(), v.trim().trim_matches('"').to_string()));
            }
        }
        cur.clear();
    };
    for c in s.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                cur.push(c);
            }
            ',' if !quoted => push(&mut cur),
            _ => cur.push(c),
        }
    }
    push(&mut cur);
    out
}

/// Every recognised block in `text`, explained, in the order of the paste.
pub fn explain(text: &str) -> Vec<Explained> {
    let lines = clean(text);
    let mut out = vec![];
    for seg in segments(&lines) {
        let mut found = vec![];
        found.extend(ntpq::read(&seg));
        found.extend(ntpdate::read(&seg));
        found.extend(ntpdig::read(&seg));
        found.extend(chronyc::read(&seg));
        found.extend(timedatectl::read(&seg));
        found.extend(log::read(&seg));
        found.extend(log::read_ntpd(&seg));
        found.extend(log::read_timesyncd(&seg));
        found.extend(openntpd::read(&seg));
        found.extend(openntpd::read_log(&seg));
        found.extend(w32tm::read(&seg));
        found.extend(ntpdrs::read(&seg));
        found.extend(ntpdrs::read_log(&seg));
        found.extend(ntpdrs::read_validate(&seg));
        found.extend(systemctl::read(&seg));
        for e in &mut found {
            e.command = seg.command.clone();
        }
        found.sort_by_key(|e| e.first_line);
        out.extend(found);
    }
    out
}

/// What explain reads when it is given pasted output.
pub const RECOGNISED: &str = "explain reads ntpq (peers, opeers, apeers, assoc, rv/readlist, its errors, interactive sessions), ntpdate (-d, -q, its syslog lines), ntpdig (-d, -j, its errors), chronyc (sources, sourcestats, selectdata, tracking, ntpdata, activity, authdata; text and -c; its errors), timedatectl timesync-status, Windows w32tm (/query /status, /source, /peers, /configuration; /stripchart, /resync, /monitor), OpenNTPD's ntpctl (status, peers, sensors, all), ntpd-rs's ntp-ctl status and validate, systemctl status of a time daemon's unit (and systemd's condition skips), chronyd's, ntpd's, systemd-timesyncd's, OpenNTPD's and ntpd-rs's log lines (their own log files, syslog, the journal); several in one paste.";

/// The verdict on a text that holds none of them: what it was.
pub fn unrecognized(text: &str) -> Verdict {
    crate::diagnose::paste::unrecognized_input(&crate::diagnose::paste::InputFacts::of(
        text,
        chronyc::read_but_not_judged(&clean(text))
            .map(String::from)
            .or_else(|| ntpq::read_but_not_judged(&clean(text))),
        RECOGNISED,
    ))
}

pub use crate::diagnose::paste::with_probes;

/// One verdict over several blocks: the first by the one ranking
/// ([`crate::diagnose::verdict::rank`]: a KoD or an unsynchronized server
/// over plain silence, silence over "not yet", any failure over ok), with
/// the others' summaries as evidence.
pub fn overall(blocks: &[Explained]) -> Option<Verdict> {
    crate::diagnose::verdict::overall(blocks.iter().map(|b| (b.kind.title(), &b.verdict)))
}

/// The overall verdict's cause on `text`, which must hold a block.
#[cfg(test)]
fn overall_cause(text: &str) -> crate::diagnose::Cause {
    let b = explain(text);
    assert!(!b.is_empty(), "{text}");
    overall(&b).unwrap().cause
}

#[cfg(test)]
mod tests;

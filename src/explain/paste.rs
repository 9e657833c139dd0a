//! What users paste: `ntpq -p`/`-c peers`, `ntpq -c assoc`, `ntpq -c rv`,
//! `ntpdate -d`, `ntpdig -d`, `chronyc sources` (text, `-v`, `-c`),
//! `chronyc tracking`, `timedatectl timesync-status`. Each recognised block
//! is explained line by line and then as a whole, with the usual verdicts.
//!
//! Pure and total: any text gives a (possibly empty) list of explained
//! blocks; nothing panics (fuzz target `explain_paste_any_text`).

use serde::Serialize;

use crate::diagnose::facts::{
    DaemonView, Exchange, Fact, Kiss, Local, Origin, SilentSource, Unsync, Vantage,
};
use crate::diagnose::{Verdict, rules};
use crate::engine::exchange::UnsyncReason;
use crate::engine::limits::PANIC_THRESHOLD;
use crate::engine::local::{LocalError, LocalErrorKind};
use crate::wire::KissCode;
use crate::wire::control::PeerStatus;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    NtpqPeers,
    NtpqAssoc,
    NtpqRv,
    NtpdateDebug,
    NtpdigDebug,
    ChronycSources,
    ChronycSourcesCsv,
    ChronycTracking,
    TimedatectlTimesync,
}

impl Kind {
    pub fn title(self) -> &'static str {
        match self {
            Kind::NtpqPeers => "ntpq -p / -c peers",
            Kind::NtpqAssoc => "ntpq -c assoc",
            Kind::NtpqRv => "ntpq -c rv",
            Kind::NtpdateDebug => "ntpdate -d",
            Kind::NtpdigDebug => "ntpdig -d",
            Kind::ChronycSources => "chronyc sources",
            Kind::ChronycSourcesCsv => "chronyc -c sources",
            Kind::ChronycTracking => "chronyc tracking",
            Kind::TimedatectlTimesync => "timedatectl timesync-status",
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
    pub notes: Vec<Note>,
    /// What the output says, as facts (each with its line).
    pub facts: Exchange,
    /// The rule table's verdict on those facts.
    pub verdict: Verdict,
}

impl Explained {
    fn new(kind: Kind, notes: Vec<Note>, facts: Exchange) -> Explained {
        let verdict = rules::decide(&facts);
        Explained {
            kind,
            notes,
            facts,
            verdict,
        }
    }
}

/// Where `line` is in `text`: its number (1-based) and text.
fn at_line(text: &str, line: &str) -> Origin {
    let n = text.lines().position(|l| l == line).map_or(0, |i| i + 1);
    Origin::Line {
        n,
        text: line.to_string(),
    }
}

fn fact<T>(value: T, text: &str, line: &str) -> Fact<T> {
    Fact::new(value, at_line(text, line))
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

// ---------------------------------------------------------------- ntpq -p

/// A row of `ntpq -p`.
#[derive(Clone, Debug, PartialEq)]
pub struct PeerRow {
    pub tally: char,
    pub remote: String,
    pub refid: String,
    pub stratum: u32,
    pub t: String,
    pub when: String,
    pub poll: String,
    /// The reach register (shown in octal).
    pub reach: u32,
    pub offset: Option<f64>,
}

fn tally_meaning(c: char) -> &'static str {
    match c {
        '*' => "system peer: the clock is synchronized to it",
        '+' => "candidate: combined with the system peer",
        '#' => "backup: a survivor beyond `tos maxclock`",
        '-' => "outlier: discarded by the cluster algorithm",
        'x' => "falseticker: disagrees with the majority",
        '.' => "excess: discarded (too many sources)",
        'o' => "PPS peer: system peer, PPS discipline",
        _ => "rejected: not usable (unreachable, unsynchronized, too far, or a loop)",
    }
}

pub fn parse_peers(text: &str) -> Option<(Vec<PeerRow>, Vec<String>)> {
    let lines: Vec<&str> = text.lines().collect();
    let h = lines.iter().position(|l| {
        let w: Vec<&str> = l.split_whitespace().collect();
        w.len() >= 8 && w[0] == "remote" && w[1] == "refid" && w[2] == "st" && w[3] == "t"
    })?;
    let mut rows = vec![];
    let mut raw = vec![];
    let mut pending_name: Option<String> = None;
    for l in lines.iter().skip(h + 1) {
        if l.trim().is_empty() || l.trim_start().starts_with("ind ") || l.contains("associd=") {
            if !rows.is_empty() {
                break;
            }
            continue;
        }
        if l.trim_start().starts_with("==") {
            continue;
        }
        let (tally, body) = match l.chars().next() {
            Some(c) if " x.-+#*o".contains(c) => (c, &l[c.len_utf8()..]),
            _ => (' ', *l),
        };
        let w: Vec<&str> = body.split_whitespace().collect();
        // A long hostname wraps onto its own line; the rest follows.
        if w.len() == 1 {
            pending_name = Some(w[0].to_string());
            continue;
        }
        let (remote, rest) = match &pending_name {
            Some(n) if w.len() >= 9 && w[0].parse::<f64>().is_err() && w.len() == 9 => {
                (n.clone(), &w[..])
            }
            _ if w.len() >= 10 => (w[0].to_string(), &w[1..]),
            _ => break,
        };
        pending_name = None;
        let Ok(stratum) = rest[1].parse::<u32>() else {
            break;
        };
        rows.push(PeerRow {
            tally,
            remote,
            refid: rest[0].to_string(),
            stratum,
            t: rest[2].to_string(),
            when: rest[3].to_string(),
            poll: rest[4].to_string(),
            reach: u32::from_str_radix(rest[5], 8).unwrap_or(0),
            offset: rest.get(7).and_then(|x| x.parse().ok()),
        });
        raw.push(l.to_string());
    }
    (!rows.is_empty()).then_some((rows, raw))
}

fn explain_peers(text: &str, rows: &[PeerRow], raw: &[String]) -> Explained {
    let mut notes = vec![];
    for (r, l) in rows.iter().zip(raw) {
        let mut m = format!("{}: {}", r.remote, tally_meaning(r.tally));
        if r.reach == 0 {
            let placeholder =
                matches!(r.refid.as_str(), ".INIT." | ".XFAC." | ".STEP.") || r.stratum == 16;
            m.push_str("; reach 0: not one reply received since the association started");
            if placeholder {
                m.push_str(&format!(
                    "; refid {} and stratum {} are ntpd's own placeholders for a server it has not heard from ({}), not what the server sent",
                    r.refid,
                    r.stratum,
                    match r.refid.as_str() {
                        ".XFAC." => "XFAC: associations reset after an interface change",
                        ".INIT." => "INIT: never synchronized",
                        _ => "no data",
                    }
                ));
            }
        } else {
            m.push_str(&format!(
                "; reach {:o} (octal): {} of the last 8 polls answered",
                r.reach,
                r.reach.count_ones()
            ));
            match r.refid.as_str() {
                ".INIT." | ".STEP." if r.stratum >= 16 || r.stratum == 0 => m.push_str(&format!(
                    "; the server answers but is not synchronized itself (refid {})",
                    r.refid
                )),
                ".RATE." | ".DENY." | ".RSTR." => {
                    m.push_str(&format!("; the server sent a Kiss-o'-Death {}", r.refid))
                }
                _ if r.stratum >= 16 => m.push_str("; stratum 16: the server is unsynchronized"),
                _ => {}
            }
        }
        if let Some(o) = r.offset
            && o.abs() / 1000.0 > PANIC_THRESHOLD
        {
            m.push_str(&format!(
                "; offset {o} ms is beyond ntpd's {PANIC_THRESHOLD:.0} s panic threshold"
            ));
        }
        notes.push(Note {
            line: l.clone(),
            meaning: m,
        });
    }
    let names: Vec<&str> = rows.iter().map(|r| r.remote.as_str()).collect();
    let mut x = Exchange::new(Vantage::Paste("ntpq -p"), names.join(", "));
    let mut d = view("ntpd");
    d.sources = rows.len();
    d.answering = rows.iter().filter(|r| r.reach > 0).count();
    d.falsetickers = rows
        .iter()
        .filter(|r| r.reach > 0 && r.tally == 'x')
        .count();
    for (r, l) in rows.iter().zip(raw) {
        if r.tally == '*' || r.tally == 'o' {
            d.synchronized.get_or_insert(fact(true, text, l));
            d.sys_peer.get_or_insert(r.remote.clone());
        }
        match r.refid.as_str() {
            ".RATE." | ".DENY." | ".RSTR." => {
                let code = KissCode::parse(r.refid.trim_matches('.')).unwrap_or(KissCode::Rate);
                // ntpd only takes a kiss whose origin matches its request.
                x.add_kiss(Kiss { code, header: None, origin_checked: false }, at_line(text, l));
            }
            _ if r.reach > 0 && (r.stratum >= 16 || matches!(r.refid.as_str(), ".INIT." | ".STEP.")) => x
                .add_unsync(
                    Unsync { reason: None, header: None, stratum: Some(r.stratum), refid: Some(r.refid.clone()) },
                    at_line(text, l),
                ),
            _ if r.reach == 0 => x.silent_sources.push(fact(
                silent(&r.remote, "reach 0: no reply in the last 8 polls (its refid and stratum are ntpd's placeholders)", true),
                text,
                l,
            )),
            _ => {}
        }
    }
    x.daemon = Some(d);
    Explained::new(Kind::NtpqPeers, notes, x)
}

// ---------------------------------------------------------------- ntpq -c assoc

fn explain_assoc(text: &str) -> Option<Explained> {
    let lines: Vec<&str> = text.lines().collect();
    let h = lines.iter().position(|l| {
        let w: Vec<&str> = l.split_whitespace().collect();
        w.len() >= 3 && w[0] == "ind" && w[1] == "assid" && w[2] == "status"
    })?;
    let mut notes = vec![];
    let mut statuses = vec![];
    for l in lines.iter().skip(h + 1) {
        let w: Vec<&str> = l.split_whitespace().collect();
        if l.trim_start().starts_with("==") {
            continue;
        }
        if w.len() < 3 {
            if !statuses.is_empty() {
                break;
            }
            continue;
        }
        let Ok(word) = u16::from_str_radix(w[2], 16) else {
            break;
        };
        let s = PeerStatus::from_word(word);
        let mut m = format!(
            "status {:04x}: {}, {}, {}, condition {}, last event {} ({} since)",
            word,
            if s.configured {
                "configured"
            } else {
                "ephemeral"
            },
            if s.reachable {
                "reachable"
            } else {
                "NOT reachable"
            },
            if s.auth_enabled {
                if s.auth_ok { "auth ok" } else { "auth BAD" }
            } else {
                "no auth"
            },
            s.select_name(),
            s.event_name(),
            s.count
        );
        match (s.reachable, s.event) {
            (false, 1) => m.push_str(": configured, never answered"),
            (false, 3) => m.push_str(": was reachable, now lost"),
            (_, 7) => m.push_str(": the server sent KoD RATE"),
            (_, 8) => m.push_str(": the server sent KoD DENY"),
            (true, _) if s.select == 0 => {
                m.push_str(": answers but is not usable (see `ntpq -c \"rv <assid>\"` flash)")
            }
            _ => {}
        }
        notes.push(Note {
            line: l.to_string(),
            meaning: m,
        });
        statuses.push(s);
    }
    if statuses.is_empty() {
        return None;
    }
    let mut x = Exchange::new(Vantage::Paste("ntpq -c assoc"), "the associations");
    let mut d = view("ntpd");
    d.sources = statuses.len();
    d.answering = statuses.iter().filter(|s| s.reachable).count();
    for (s, n) in statuses.iter().zip(&notes) {
        let at = at_line(text, &n.line);
        if s.select >= 6 {
            d.synchronized.get_or_insert(Fact::new(true, at.clone()));
        }
        match s.event {
            7 => x.add_kiss(
                Kiss {
                    code: KissCode::Rate,
                    header: None,
                    origin_checked: false,
                },
                at,
            ),
            8 => x.add_kiss(
                Kiss {
                    code: KissCode::Deny,
                    header: None,
                    origin_checked: false,
                },
                at,
            ),
            _ if !s.reachable => x.silent_sources.push(Fact::new(
                silent(
                    n.line.split_whitespace().nth(1).unwrap_or("?"),
                    "reach no: no reply in the last 8 polls",
                    true,
                ),
                at,
            )),
            _ => {}
        }
    }
    x.who = x
        .silent_sources
        .iter()
        .map(|s| format!("association {}", s.value.name))
        .collect::<Vec<_>>()
        .join(", ");
    if x.who.is_empty() {
        x.who = "the associations".into();
    }
    x.daemon = Some(d);
    Some(Explained::new(Kind::NtpqAssoc, notes, x))
}

// ---------------------------------------------------------------- ntpq -c rv

fn kv_pairs(s: &str) -> Vec<(String, String)> {
    s.split(',')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().trim_matches('"').to_string()))
        .filter(|(k, _)| !k.is_empty() && !k.contains(char::is_whitespace))
        .collect()
}

fn explain_rv(text: &str) -> Option<Explained> {
    let start = text
        .lines()
        .position(|l| l.contains("associd=") || (l.contains("stratum=") && l.contains('=')))?;
    let mut kv = vec![];
    let mut notes = vec![];
    for l in text.lines().skip(start) {
        if l.trim().is_empty() {
            break;
        }
        let pairs = kv_pairs(l);
        if pairs.is_empty() {
            break;
        }
        kv.extend(pairs);
        notes.push(Note {
            line: l.to_string(),
            meaning: String::new(),
        });
    }
    let get = |k: &str| kv.iter().find(|(x, _)| x == k).map(|(_, v)| v.as_str());
    let leap = get("leap").unwrap_or("");
    let stratum: u32 = get("stratum").and_then(|s| s.parse().ok()).unwrap_or(0);
    let refid = get("refid").unwrap_or("?");
    let offset: f64 = get("offset").and_then(|s| s.parse().ok()).unwrap_or(0.0);
    if let Some(n) = notes.first_mut() {
        n.meaning = format!(
            "leap {leap} ({}), stratum {stratum}, refid {refid}, offset {offset} ms",
            if leap == "11" || leap == "3" {
                "alarm: not synchronized"
            } else {
                "synchronized"
            }
        );
        if let Some(st) =
            get("status").and_then(|s| u16::from_str_radix(s.trim_start_matches("0x"), 16).ok())
        {
            let src = [
                "unspecified",
                "pps",
                "lf radio",
                "hf radio",
                "uhf radio",
                "local",
                "ntp",
                "other",
                "wristwatch",
                "telephone",
            ]
            .get(((st >> 8) & 0x3f) as usize)
            .copied()
            .unwrap_or("?");
            n.meaning
                .push_str(&format!("; system status {st:04x}: source {src}"));
        }
    }
    let unsync = leap == "11" || leap == "3" || stratum >= 16;
    let line_of = |key: &str| {
        notes
            .iter()
            .find(|n| kv_pairs(&n.line).iter().any(|(k, _)| k == key))
            .map_or(Origin::Unknown, |n| at_line(text, &n.line))
    };
    let mut d = view("ntpd");
    d.status = Some(format!(
        "leap={leap}, stratum={stratum}, refid={refid}, offset={offset} ms"
    ));
    d.synchronized = Some(Fact::new(!unsync, line_of("leap")));
    if !unsync {
        d.sys_peer = Some(format!("{refid} at stratum {stratum}"));
    }
    // ntpq prints offsets in milliseconds.
    d.clock_offset_s = Some(Fact::new(offset / 1000.0, line_of("offset")));
    let mut x = Exchange::new(Vantage::Paste("ntpq -c rv"), "ntpd");
    x.daemon = Some(d);
    Some(Explained::new(Kind::NtpqRv, notes, x))
}

// ---------------------------------------------------------------- ntpdate -d, ntpdig -d

fn explain_ntpdate(text: &str) -> Option<Explained> {
    let has_transmit = text.contains("transmit(");
    let no_data = text.contains("Server dropped: no data");
    if !has_transmit && !no_data && !text.contains("no server suitable") {
        return None;
    }
    let mut notes = vec![];
    for l in text.lines() {
        let t = l.trim();
        let m = if t.starts_with("transmit(") || t.contains(" transmit(") {
            format!("{} request(s) sent", t.matches("transmit(").count())
        } else if t.starts_with("receive(") {
            "a reply arrived".into()
        } else if t.contains("Server dropped: no data") {
            "no usable reply: ntpdate says this for a firewall DROP, a REJECT, no daemon and a dead host alike".into()
        } else if t.contains("pkt.org and peer.xmt differ") {
            "a reply whose origin is not our transmit: stale, duplicated or spoofed".into()
        } else if t.contains("rate limit response") {
            "KoD RATE: the server rate-limits this client".into()
        } else if t.contains("the NTP socket is in use") {
            "a local daemon holds port 123; use -u or ask the daemon".into()
        } else if t.contains("no server suitable") {
            "no server gave a usable reply".into()
        } else {
            continue;
        };
        notes.push(Note {
            line: l.to_string(),
            meaning: m,
        });
    }
    let mut x = Exchange::new(Vantage::Paste("ntpdate -d"), "the server");
    x.requests = text.matches("transmit(").count() as u64;
    if let Some(name) = ntpdate_server(text) {
        x.who = name;
    }
    for l in text.lines() {
        let t = l.trim();
        if t.contains("the NTP socket is in use") {
            x.local.push(fact(
                Local {
                    error: LocalError {
                        kind: LocalErrorKind::AddressInUse,
                        op: "bind".into(),
                        target: "udp/123".into(),
                        errno: None,
                        message: "the NTP socket is in use (ntpdate)".into(),
                    },
                    doing: "binding port 123",
                },
                text,
                l,
            ));
        } else if t.contains("rate limit response") {
            x.add_kiss(
                Kiss {
                    code: KissCode::Rate,
                    header: None,
                    origin_checked: false,
                },
                at_line(text, l),
            );
        } else if t.contains("Server dropped: no data") {
            x.silent_sources.push(fact(
                silent(&x.who.clone(), "no data: no usable reply", false),
                text,
                l,
            ));
        } else if t.starts_with("receive(") && !no_data {
            x.valid += 1;
            x.first_answer
                .get_or_insert(crate::diagnose::facts::AnswerKind::Valid);
        }
    }
    Some(Explained::new(Kind::NtpdateDebug, notes, x))
}

/// The server an ntpdate -d paste is about: its `server NAME, port 123`
/// line, else the first whole `transmit(NAME)`.
fn ntpdate_server(text: &str) -> Option<String> {
    let from_server = text.split("server ").skip(1).find_map(|rest| {
        let (name, after) = rest.split_once(',')?;
        (after.trim_start().starts_with("port") && !name.contains(char::is_whitespace))
            .then(|| name.to_string())
    });
    from_server.or_else(|| {
        text.split("transmit(").skip(1).find_map(|rest| {
            let (name, _) = rest.split_once(')')?;
            (!name.is_empty() && !name.contains(['(', ' '])).then(|| name.to_string())
        })
    })
}

fn explain_ntpdig(text: &str) -> Option<Explained> {
    if !text.contains("ntpdig:") && !text.contains(" no-leap") {
        return None;
    }
    let mut notes = vec![];
    let mut x = Exchange::new(Vantage::Paste("ntpdig"), "the server");
    let mut said = false;
    for l in text.lines() {
        let t = l.trim();
        let m: String = if t.contains("probable KOD") {
            said = true;
            x.add_unsync(
                Unsync {
                    reason: None,
                    header: None,
                    stratum: Some(0),
                    refid: None,
                },
                at_line(text, l),
            );
            "stratum 0 reply: ntpdig calls every stratum-0 reply a KoD, but a fresh ntpd sends stratum 0 + INIT (unsynchronized), not a refusal".into()
        } else if t.contains("stratum too high") {
            said = true;
            x.add_unsync(
                Unsync {
                    reason: Some(UnsyncReason::Stratum16),
                    header: None,
                    stratum: Some(16),
                    refid: None,
                },
                at_line(text, l),
            );
            "stratum 16: the server is unsynchronized".into()
        } else if t.contains("no eligible servers") {
            said = true;
            let who = x.who.clone();
            x.silent_sources.push(fact(
                silent(&who, "no eligible servers: nothing usable", false),
                text,
                l,
            ));
            "nothing usable: the same words for silence, refusal and unsynchronized servers".into()
        } else if t.contains(" s")
            && (t.contains(" no-leap") || t.contains(" add-leap") || t.contains(" del-leap"))
        {
            said = true;
            x.valid += 1;
            x.first_answer
                .get_or_insert(crate::diagnose::facts::AnswerKind::Valid);
            "an offset measurement: the server answered".into()
        } else if let Some(q) = t.strip_prefix("ntpdig: querying ") {
            x.requests += 1;
            x.who = q
                .split_whitespace()
                .next()
                .unwrap_or("the server")
                .to_string();
            "the request went out".into()
        } else {
            continue;
        };
        notes.push(Note {
            line: l.to_string(),
            meaning: m,
        });
    }
    said.then(|| Explained::new(Kind::NtpdigDebug, notes, x))
}

// ---------------------------------------------------------------- chronyc

fn chrony_state(c: char) -> &'static str {
    match c {
        '*' => "selected: the clock is synchronized to it",
        '+' => "combined with the selected source",
        '-' => "selectable, not combined",
        'x' => "falseticker",
        '~' => "too variable",
        _ => "not selectable (unreachable, unsynchronised, or not enough measurements yet)",
    }
}

/// A chronyc source row: state, name, stratum, reach, the line.
type SourceRow = (char, String, u32, u32, String);

/// The rows of `chronyc sources` (text or `-c`), and which form it was.
fn chrony_source_rows(text: &str) -> Option<(Kind, Vec<SourceRow>)> {
    let csv: Vec<&str> = text
        .lines()
        .filter(|l| {
            let f: Vec<&str> = l.split(',').collect();
            f.len() >= 10 && matches!(f[0], "^" | "=" | "#") && f[1].len() == 1
        })
        .collect();
    Some(if !csv.is_empty() {
        (
            Kind::ChronycSourcesCsv,
            csv.iter()
                .map(|l| {
                    let f: Vec<&str> = l.split(',').collect();
                    (
                        f[1].chars().next().unwrap_or('?'),
                        f[2].to_string(),
                        f[3].parse().unwrap_or(0),
                        u32::from_str_radix(f[5], 8).unwrap_or(0),
                        l.to_string(),
                    )
                })
                .collect(),
        )
    } else {
        let h = text
            .lines()
            .position(|l| l.trim_start().starts_with("MS Name/IP address"))?;
        let rows = text
            .lines()
            .skip(h + 1)
            .filter(|l| !l.starts_with("==") && l.len() > 3)
            .filter_map(|l| {
                let mut ch = l.chars();
                let m = ch.next()?;
                let s = ch.next()?;
                if !"^=#".contains(m) {
                    return None;
                }
                // After the two state characters, whatever their width.
                let w: Vec<&str> = ch.as_str().split_whitespace().collect();
                if w.len() < 5 {
                    return None;
                }
                Some((
                    s,
                    w[0].to_string(),
                    w[1].parse().unwrap_or(0),
                    u32::from_str_radix(w[3], 8).unwrap_or(0),
                    l.to_string(),
                ))
            })
            .collect::<Vec<_>>();
        if rows.is_empty() {
            return None;
        }
        (Kind::ChronycSources, rows)
    })
}

/// `chronyc sources` rows: state character, name or address, reach.
pub fn chrony_rows(text: &str) -> Vec<(char, String, u32)> {
    chrony_source_rows(text)
        .map(|(_, rows)| rows.into_iter().map(|(s, n, _, r, _)| (s, n, r)).collect())
        .unwrap_or_default()
}

fn explain_chrony_sources(text: &str) -> Option<Explained> {
    let (kind, rows) = chrony_source_rows(text)?;
    let notes = rows
        .iter()
        .map(|(s, name, _st, reach, l)| Note {
            line: l.clone(),
            meaning: format!(
                "{name}: {}; reach {:o}{}",
                chrony_state(*s),
                reach,
                if *reach == 0 {
                    " (no reply in the last 8 polls)"
                } else {
                    ""
                }
            ),
        })
        .collect();
    let names: Vec<&str> = rows.iter().map(|r| r.1.as_str()).collect();
    let mut x = Exchange::new(Vantage::Paste("chronyc sources"), names.join(", "));
    let mut d = view("chronyd");
    d.sources = rows.len();
    d.answering = rows.iter().filter(|r| r.3 > 0).count();
    d.falsetickers = rows.iter().filter(|r| r.3 > 0 && r.0 == 'x').count();
    for (state, name, _, reach, l) in &rows {
        if *state == '*' {
            d.synchronized.get_or_insert(fact(true, text, l));
            d.sys_peer.get_or_insert(name.clone());
        }
        if *reach == 0 {
            x.silent_sources.push(fact(
                silent(name, "reach 0: no reply in the last 8 polls", true),
                text,
                l,
            ));
        }
    }
    x.daemon = Some(d);
    Some(Explained::new(kind, notes, x))
}

fn explain_tracking(text: &str) -> Option<Explained> {
    if !text.contains("Reference ID") || !text.contains("Leap status") {
        return None;
    }
    let mut notes = vec![];
    let mut d = view("chronyd");
    for l in text.lines() {
        let Some((k, v)) = l.split_once(':') else {
            continue;
        };
        let (k, v) = (k.trim(), v.trim());
        let m = match k {
            "Reference ID" if v.starts_with("00000000") => {
                "no reference: chronyd has not selected any source".to_string()
            }
            "Reference ID" => {
                d.sys_peer = Some(v.to_string());
                format!("synchronized to {v}")
            }
            "Stratum" if v == "0" => "stratum 0: not synchronized".to_string(),
            "Leap status" if v.contains("Not synchronised") => {
                d.synchronized = Some(fact(false, text, l));
                "not synchronised".to_string()
            }
            "Leap status" => {
                d.synchronized = Some(fact(true, text, l));
                format!("leap status {v}")
            }
            "System time" => format!("the system clock is {v} of NTP time"),
            _ => continue,
        };
        notes.push(Note {
            line: l.to_string(),
            meaning: m,
        });
    }
    if d.synchronized.as_ref().is_some_and(|s| !s.value) {
        d.sys_peer = None;
    }
    let mut x = Exchange::new(Vantage::Paste("chronyc tracking"), "chronyd");
    x.daemon = Some(d);
    Some(Explained::new(Kind::ChronycTracking, notes, x))
}

fn explain_timesync(text: &str) -> Option<Explained> {
    if !(text.contains("Server:")
        && (text.contains("Poll interval:") || text.contains("Packet count:")))
    {
        return None;
    }
    let mut notes = vec![];
    let mut x = Exchange::new(Vantage::Paste("timedatectl timesync-status"), "the server");
    for l in text.lines() {
        let Some((k, v)) = l.split_once(':') else {
            continue;
        };
        let (k, v) = (k.trim(), v.trim());
        let m = match k {
            "Server" => {
                x.who = v.to_string();
                format!("polling {v}")
            }
            "Packet count" => {
                match v.parse::<u64>() {
                    Ok(0) => {
                        let who = x.who.clone();
                        x.silent_sources
                            .push(fact(silent(&who, "Packet count: 0", true), text, l));
                    }
                    Ok(n) => {
                        x.valid = n;
                        x.first_answer
                            .get_or_insert(crate::diagnose::facts::AnswerKind::Valid);
                    }
                    Err(_) => {}
                }
                format!("{v} replies received")
            }
            "Leap" => {
                if v.contains("not synchronized") {
                    x.add_unsync(
                        Unsync {
                            reason: Some(UnsyncReason::LeapAlarm),
                            header: None,
                            stratum: None,
                            refid: None,
                        },
                        at_line(text, l),
                    );
                }
                format!("leap: {v}")
            }
            _ => continue,
        };
        notes.push(Note {
            line: l.to_string(),
            meaning: m,
        });
    }
    // "Packet count: 0" with a leap line: the leap is timesyncd's default.
    if !x.silent_sources.is_empty() {
        x.unsync = None;
        x.unsync_count = 0;
    }
    Some(Explained::new(Kind::TimedatectlTimesync, notes, x))
}

/// Every recognised block in `text`, explained.
pub fn explain(text: &str) -> Vec<Explained> {
    let mut out = vec![];
    if let Some((rows, raw)) = parse_peers(text) {
        out.push(explain_peers(text, &rows, &raw));
    }
    out.extend(explain_assoc(text));
    out.extend(explain_rv(text));
    out.extend(explain_ntpdate(text));
    out.extend(explain_ntpdig(text));
    out.extend(explain_chrony_sources(text));
    out.extend(explain_tracking(text));
    out.extend(explain_timesync(text));
    out
}

/// What explain reads when it is given pasted output.
pub const RECOGNISED: &str = "explain reads ntpq -p / -c peers, ntpq -c assoc, ntpq -c rv, ntpdate -d, ntpdig -d, chronyc sources (text, -v, -c), chronyc tracking, timedatectl timesync-status.";

/// The verdict on a text that holds none of them: what it was.
pub fn unrecognized(text: &str) -> Verdict {
    let binary = text.contains('\0')
        || text
            .chars()
            .filter(|c| c.is_control() && !c.is_whitespace())
            .count()
            * 10
            > text.chars().count().max(1);
    let lines = text.lines().filter(|l| !l.trim().is_empty()).count();
    let first: String = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_control())
        .take(80)
        .collect();
    let what = if text.trim().is_empty() {
        "The input is empty.".to_string()
    } else if binary {
        format!(
            "The input is binary data ({} characters as read), not a tool's output.",
            text.chars().count()
        )
    } else {
        format!("None of the {lines} line(s) given is output of a tool explain reads.")
    };
    let mut v = Verdict::new(
        crate::diagnose::Cause::UnrecognizedInput,
        what,
        crate::diagnose::Confidence::High,
    )
    .evidence(format!(
        "{} characters, {lines} non-empty line(s)",
        text.chars().count()
    ))
    .fix(crate::diagnose::Cause::UnrecognizedInput.info().fix)
    .note(RECOGNISED);
    if !first.is_empty() && !binary {
        v = v.evidence(format!("first line: {first}"));
    }
    v
}

/// One verdict over several blocks: the first by the one ranking
/// ([`crate::diagnose::verdict::rank`]: a KoD or an unsynchronized server
/// over plain silence, silence over "not yet", any failure over ok), with
/// the others' summaries as evidence.
pub fn overall(blocks: &[Explained]) -> Option<Verdict> {
    let b = blocks
        .iter()
        .min_by_key(|b| crate::diagnose::verdict::rank(&b.verdict))?;
    let mut v = b.verdict.clone();
    for other in blocks.iter().filter(|o| !std::ptr::eq(*o, b)) {
        v.evidence
            .push(format!("{}: {}", other.kind.title(), other.verdict.summary));
    }
    Some(v)
}

#[cfg(test)]
mod tests;

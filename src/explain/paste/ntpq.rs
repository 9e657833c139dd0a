//! ntpq, as ntpsec's `ntpq.py` and `pylib/util.py` (and classic `ntpq`)
//! print it: the peers tables (`peers`, `lpeers`, `opeers`, `apeers`, wide
//! rows that wrap), `associations`, `rv`/`readlist` (system and peer
//! variables, with the flash bits decoded), and every error message.

use super::{
    Explained, Kind, Line, Note, Segment, command_host, is_local_host, kv_pairs, silent, view,
};
use crate::diagnose::facts::{Exchange, Fact, Icmp, Kiss, Origin, Sender, Unsync, Vantage};
use crate::engine::exchange::UnsyncReason;
use crate::engine::limits::PANIC_THRESHOLD;
use crate::wire::KissCode;
use crate::wire::control::PeerStatus;
use crate::wire::icmp::IcmpError;

pub fn read(seg: &Segment) -> Vec<Explained> {
    let mut out = peers_tables(seg);
    out.extend(assoc_tables(seg));
    out.extend(variable_lists(seg));
    out.extend(errors(seg));
    out
}

// ---------------------------------------------------------------- peers

/// A row of a peers table.
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

impl PeerRow {
    /// ntpsec's pool prototype (`t` p, refid POOL): it finds servers, it is
    /// not one; its reach stays 0.
    pub fn is_pool_prototype(&self) -> bool {
        self.refid == ".POOL."
    }

    /// A reference clock (`t` l, 127.127.t.u, `NAME(u)`).
    pub fn is_refclock(&self) -> bool {
        self.t == "l" || self.remote.starts_with("127.127.") || is_clock_name(&self.remote)
    }

    /// The undisciplined local clock driver (type 1, refid LOCL).
    pub fn is_local_clock(&self) -> bool {
        self.is_refclock()
            && (self.refid == ".LOCL."
                || self.remote.starts_with("127.127.1.")
                || self.remote.starts_with("LOCAL("))
    }
}

fn is_clock_name(s: &str) -> bool {
    s.ends_with(')')
        && s.split_once('(').is_some_and(|(n, u)| {
            !n.is_empty()
                && n.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
                && u.trim_end_matches(')').chars().all(|c| c.is_ascii_digit())
        })
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

/// What the `t` column says (ntpsec `util.py` PeerSummary, classic
/// `ntpq-subs.c`).
fn type_meaning(t: &str) -> Option<String> {
    Some(match t {
        "u" => return None,
        "l" => "a reference clock on this host".into(),
        "p" => "a pool association".into(),
        "a" => "a manycast client association".into(),
        "b" => "a broadcast/multicast client association".into(),
        "B" => "a broadcast server association".into(),
        "M" => "a multicast server association".into(),
        "s" => "a symmetric active peer".into(),
        "S" => "a symmetric passive peer".into(),
        "0" => "an NTS server with no cookie left: its NTS-KE has not succeeded".into(),
        d if d.len() == 1 && d.chars().all(|c| c.is_ascii_digit()) => {
            format!("an NTS server, {d} cookie(s) held")
        }
        _ => return None,
    })
}

/// The placeholder refids ntpd shows for an association it has not heard
/// from (ntpsec `docs/decode.adoc` §Refid codes; classic `decode.html`).
fn placeholder(refid: &str) -> Option<&'static str> {
    Some(match refid {
        ".INIT." => "INIT: the association has not synchronized for the first time",
        ".STEP." => "STEP: the clock was stepped; the association restarts",
        ".XFAC." => "XFAC: the association was reset after an interface change",
        ".TIME." => "TIME: the association timed out",
        ".DNS." => "DNS: the association waits for its name to resolve",
        ".DNS4." | ".DNS6." => {
            "DNS4/DNS6: an association made from a name lookup (IPv4/IPv6) that has not heard from its server yet"
        }
        ".POOL." => "POOL: a pool prototype, which finds servers but is none",
        ".ACST." | ".MCST." => "a manycast association waiting for servers",
        ".BCST." => "a broadcast association waiting for servers",
        ".NTS." | ".NTS4." | ".NTS6." => "NTS: the NTS key exchange has not completed",
        _ => return None,
    })
}

fn kiss_refid(refid: &str) -> Option<KissCode> {
    let code = refid.strip_prefix('.')?.strip_suffix('.')?;
    match code {
        "RATE" | "DENY" | "RSTR" | "NKEY" | "AUTH" | "CRYP" | "AUTO" => KissCode::parse(code),
        _ => None,
    }
}

/// A column value with ntpq's optional units (`-u`: `1.234ms`, `15us`) in
/// milliseconds.
fn ms(v: &str) -> Option<f64> {
    let (num, scale) = if let Some(n) = v.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = v.strip_suffix("us").or_else(|| v.strip_suffix("µs")) {
        (n, 1e-3)
    } else if let Some(n) = v.strip_suffix("ns") {
        (n, 1e-6)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1e3)
    } else {
        (v, 1.0)
    };
    num.parse::<f64>()
        .ok()
        .map(|x| x * scale)
        .filter(|x| x.is_finite())
}

fn is_peers_header(l: &str) -> Option<bool> {
    let w: Vec<&str> = l.split_whitespace().collect();
    (w.len() >= 8
        && w[0] == "remote"
        && (w[1] == "refid" || w[1] == "local")
        && w.contains(&"st")
        && w.contains(&"reach"))
    .then(|| w[1] == "refid" && w.get(2) == Some(&"assid"))
}

/// The rows of every peers table in the lines: the rows and their lines.
fn tables(lines: &[Line]) -> Vec<(usize, Vec<PeerRow>, Vec<&Line>)> {
    let mut out = vec![];
    let mut i = 0;
    while i < lines.len() {
        let Some(apeers) = is_peers_header(&lines[i].text) else {
            i += 1;
            continue;
        };
        let head = lines[i].n;
        let mut rows = vec![];
        let mut raw = vec![];
        let mut pending: Option<(char, String)> = None;
        i += 1;
        while i < lines.len() {
            let l = &lines[i];
            let t = l.text.trim_end();
            if t.trim_start().starts_with("==") {
                i += 1;
                continue;
            }
            if t.trim().is_empty() || is_peers_header(t).is_some() {
                break;
            }
            let (tally, body) = match t.chars().next() {
                Some(c) if " x.-+#*o".contains(c) => (c, &t[c.len_utf8()..]),
                _ => (' ', t),
            };
            let w: Vec<&str> = body.split_whitespace().collect();
            // A long name wraps onto its own line (`ntpq -w`); the rest follows.
            if w.len() == 1 && pending.is_none() {
                pending = Some((tally, w[0].to_string()));
                i += 1;
                continue;
            }
            let cols = if apeers { 10 } else { 9 };
            let (tally, remote, rest) = match pending.take() {
                Some((tally, name)) if w.len() == cols => (tally, name, &w[..]),
                _ if w.len() == cols + 1 => (tally, w[0].to_string(), &w[1..]),
                _ => break,
            };
            let rest: Vec<&str> = if apeers {
                // refid assid st …: drop the association id.
                let mut r = rest.to_vec();
                r.remove(1);
                r
            } else {
                rest.to_vec()
            };
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
                offset: rest.get(7).and_then(|x| ms(x)),
            });
            raw.push(l);
            i += 1;
        }
        if !rows.is_empty() {
            out.push((head, rows, raw));
        }
    }
    out
}

/// The rows of the first peers table in `text` (for the lab's status).
pub fn parse_peers(text: &str) -> Option<(Vec<PeerRow>, Vec<String>)> {
    let lines = super::clean(text);
    tables(&lines)
        .into_iter()
        .next()
        .map(|(_, rows, raw)| (rows, raw.into_iter().map(|l| l.text.clone()).collect()))
}

fn peers_tables(seg: &Segment) -> Vec<Explained> {
    tables(seg.lines)
        .into_iter()
        .map(|(head, rows, raw)| {
            let mut e = explain_peers(&rows, &raw);
            e.first_line = head;
            e
        })
        .collect()
}

fn row_meaning(r: &PeerRow) -> String {
    let mut m = format!("{}: {}", r.remote, tally_meaning(r.tally));
    if let Some(t) = type_meaning(&r.t) {
        m.push_str(&format!(" ({t})"));
    }
    if r.is_pool_prototype() {
        m.push_str("; the pool prototype: it only spawns server associations, its reach stays 0");
        return m;
    }
    if r.is_local_clock() {
        m.push_str(
            "; the local clock driver: this host's own undisciplined clock, not a time source",
        );
    }
    if r.reach == 0 {
        m.push_str("; reach 0: not one reply received since the association started");
        if let Some(p) = placeholder(&r.refid) {
            m.push_str(&format!(
                "; refid {} and stratum {} are ntpd's own placeholders ({p}), not what the server sent",
                r.refid, r.stratum
            ));
        } else if r.stratum == 16 {
            m.push_str("; stratum 16 is ntpd's placeholder for a server it has not heard from");
        }
    } else {
        m.push_str(&format!(
            "; reach {:o} (octal): {} of the last 8 polls answered",
            r.reach,
            r.reach.count_ones()
        ));
        if let Some(k) = kiss_refid(&r.refid) {
            m.push_str(&format!("; the server sent a Kiss-o'-Death {}", k.text()));
        } else if matches!(r.refid.as_str(), ".INIT." | ".STEP.") || r.stratum >= 16 {
            m.push_str(&format!(
                "; the server answers but is not synchronized itself (refid {}, stratum {})",
                r.refid, r.stratum
            ));
        }
    }
    if let Some(o) = r.offset
        && o.abs() / 1000.0 > PANIC_THRESHOLD
    {
        m.push_str(&format!(
            "; offset {o} ms is beyond ntpd's {PANIC_THRESHOLD:.0} s panic threshold"
        ));
    }
    m
}

fn explain_peers(rows: &[PeerRow], raw: &[&Line]) -> Explained {
    let notes = rows
        .iter()
        .zip(raw)
        .map(|(r, l)| l.note(row_meaning(r)))
        .collect();
    let network: Vec<(&PeerRow, &&Line)> = rows
        .iter()
        .zip(raw)
        .filter(|(r, _)| !r.is_pool_prototype() && !r.is_refclock())
        .collect();
    let names: Vec<&str> = network.iter().map(|(r, _)| r.remote.as_str()).collect();
    let who = if names.is_empty() {
        rows.iter()
            .map(|r| r.remote.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    } else {
        names.join(", ")
    };
    let mut x = Exchange::new(Vantage::Paste("ntpq -p"), who);
    let mut d = view("ntpd");
    d.sources = network.len();
    d.answering = network.iter().filter(|(r, _)| r.reach > 0).count();
    d.falsetickers = network
        .iter()
        .filter(|(r, _)| r.reach > 0 && r.tally == 'x')
        .count();
    for (r, l) in rows.iter().zip(raw) {
        if r.tally == '*' || r.tally == 'o' {
            d.synchronized.get_or_insert(l.fact(true));
            d.sys_peer.get_or_insert(r.remote.clone());
            if r.is_local_clock() {
                d.local_clock.get_or_insert(l.fact(r.remote.clone()));
            }
        }
    }
    let synchronized = d.synchronized.is_some();
    for (r, l) in &network {
        if let Some(code) = kiss_refid(&r.refid) {
            // ntpd only takes a kiss whose origin matches its request.
            x.add_kiss(
                Kiss {
                    code,
                    header: None,
                    origin_checked: false,
                },
                l.origin(),
            );
        } else if r.reach > 0
            && (r.stratum >= 16 || matches!(r.refid.as_str(), ".INIT." | ".STEP."))
        {
            x.add_unsync(
                Unsync {
                    reason: (r.stratum >= 16).then_some(UnsyncReason::Stratum16),
                    header: None,
                    stratum: Some(r.stratum),
                    refid: Some(r.refid.clone()),
                },
                l.origin(),
            );
        } else if r.reach == 0
            && r.refid == ".DNS."
            && r.remote.parse::<std::net::IpAddr>().is_err()
        {
            if !synchronized {
                x.unresolved.get_or_insert(r.remote.clone());
            }
        } else if r.reach == 0 {
            x.add_silent(l.fact(silent(
                &r.remote,
                "reach 0: no reply in the last 8 polls (its refid and stratum are ntpd's placeholders)",
                true,
            )));
        }
    }
    if rows.iter().all(|r| r.is_pool_prototype()) && !synchronized {
        // Only pool prototypes: the pool's names gave no server yet.
        if let Some((r, _)) = rows.iter().zip(raw).next() {
            x.unresolved.get_or_insert(r.remote.clone());
        }
    }
    x.daemon = Some(d);
    Explained::new(Kind::NtpqPeers, notes, x)
}

// ---------------------------------------------------------------- associations

fn assoc_tables(seg: &Segment) -> Vec<Explained> {
    let lines = seg.lines;
    let mut out = vec![];
    let mut i = 0;
    while i < lines.len() {
        let w: Vec<&str> = lines[i].text.split_whitespace().collect();
        if !(w.len() >= 3 && w[0] == "ind" && w[1] == "assid" && w[2] == "status") {
            i += 1;
            continue;
        }
        let head = lines[i].n;
        let mut notes = vec![];
        let mut rows: Vec<(PeerStatus, u16, &Line)> = vec![];
        i += 1;
        while i < lines.len() {
            let l = &lines[i];
            let w: Vec<&str> = l.text.split_whitespace().collect();
            if l.text.trim_start().starts_with("==") {
                i += 1;
                continue;
            }
            if w.len() < 3 {
                if !rows.is_empty() {
                    break;
                }
                i += 1;
                continue;
            }
            let Ok(word) = u16::from_str_radix(w[2], 16) else {
                break;
            };
            let s = PeerStatus::from_word(word);
            notes.push(l.note(status_meaning(word, &s)));
            rows.push((s, word, l));
            i += 1;
        }
        if rows.is_empty() {
            continue;
        }
        let mut e = explain_assoc(notes, &rows);
        e.first_line = head;
        out.push(e);
    }
    out
}

fn status_meaning(word: u16, s: &PeerStatus) -> String {
    let bcst = word & 0x0800 != 0;
    let mut m = format!(
        "status {:04x}: {}, {}, {}, condition {}, last event {} ({} since)",
        word,
        if s.configured {
            "configured"
        } else {
            "ephemeral"
        },
        if bcst {
            "broadcast/pool (reach not tracked)"
        } else if s.reachable {
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
    match (s.reachable || bcst, s.event) {
        (false, 1) => m.push_str(": configured, never answered"),
        (false, 3) => m.push_str(": was reachable, now lost"),
        (_, 7) => m.push_str(": the server sent KoD RATE"),
        (_, 8) => m.push_str(": the server sent KoD DENY"),
        (_, 0xc) => m.push_str(": authentication failed"),
        (true, _) if s.select == 0 && !bcst => {
            m.push_str(": answers but is not usable (see `ntpq -c \"rv <assid>\"` flash)")
        }
        _ => {}
    }
    m
}

fn explain_assoc(notes: Vec<Note>, rows: &[(PeerStatus, u16, &Line)]) -> Explained {
    let mut x = Exchange::new(Vantage::Paste("ntpq -c assoc"), "the associations");
    let mut d = view("ntpd");
    let counted: Vec<_> = rows.iter().filter(|(_, w, _)| w & 0x0800 == 0).collect();
    d.sources = counted.len();
    d.answering = counted.iter().filter(|(s, _, _)| s.reachable).count();
    d.falsetickers = counted
        .iter()
        .filter(|(s, _, _)| s.reachable && s.select == 1)
        .count();
    for (s, word, l) in rows {
        if s.select >= 6 {
            d.synchronized.get_or_insert(l.fact(true));
        }
        let kiss = |code| Kiss {
            code,
            header: None,
            origin_checked: false,
        };
        match s.event {
            7 => x.add_kiss(kiss(KissCode::Rate), l.origin()),
            8 => x.add_kiss(kiss(KissCode::Deny), l.origin()),
            _ if !s.reachable && word & 0x0800 == 0 => x.add_silent(l.fact(silent(
                &format!(
                    "association {}",
                    l.text.split_whitespace().nth(1).unwrap_or("?")
                ),
                "reach no: no reply in the last 8 polls",
                true,
            ))),
            _ => {}
        }
    }
    x.who = x
        .silent_sources
        .iter()
        .map(|s| s.value.name.clone())
        .collect::<Vec<_>>()
        .join(", ");
    if x.who.is_empty() {
        x.who = "the associations".into();
    }
    x.daemon = Some(d);
    Explained::new(Kind::NtpqAssoc, notes, x)
}

// ---------------------------------------------------------------- rv / readlist

const SOURCES: [&str; 10] = [
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
];

/// The flash bits of a peer (`pylib/util.py` tstflagnames; RFC 5905 tests).
const FLASH: [(&str, &str); 13] = [
    ("pkt_dup", "a duplicate packet"),
    (
        "pkt_bogus",
        "a bogus packet: its origin is not our transmit",
    ),
    (
        "pkt_unsync",
        "the server is unsynchronized (leap 3 or a bad header)",
    ),
    ("pkt_denied", "access denied by a restrict line"),
    ("pkt_auth", "authentication failed"),
    ("pkt_stratum", "the server's stratum is out of range"),
    ("pkt_header", "bad header values (root delay/dispersion)"),
    ("pkt_autokey", "autokey failed"),
    ("pkt_crypto", "crypto failed"),
    (
        "peer_stratum",
        "the peer's stratum is above `tos maxstrat` or unsynchronized",
    ),
    ("peer_dist", "root distance over `tos maxdist` (1.5 s)"),
    (
        "peer_loop",
        "a synchronization loop: the peer is synchronized to this host",
    ),
    ("peer_unreach", "unreachable: no reply in the last 8 polls"),
];

/// Each `associd=…` list (or a list without one, from `rv`), with its lines.
fn variable_lists(seg: &Segment) -> Vec<Explained> {
    let lines = seg.lines;
    let mut out = vec![];
    let mut i = 0;
    while i < lines.len() {
        let t = &lines[i].text;
        let starts = t.contains("associd=")
            || (t.contains("stratum=") && (t.contains("leap=") || t.contains("refid=")));
        if !starts {
            i += 1;
            continue;
        }
        let mut kv = vec![];
        let mut used: Vec<&Line> = vec![];
        while i < lines.len() {
            let l = &lines[i];
            if l.text.trim().is_empty() || (!used.is_empty() && l.text.contains("associd=")) {
                break;
            }
            let pairs = kv_pairs(&l.text);
            if pairs.is_empty() {
                break;
            }
            kv.extend(pairs.into_iter().map(|p| (p, l)));
            used.push(l);
            i += 1;
        }
        if used.is_empty() {
            i += 1;
            continue;
        }
        let associd: u32 = kv
            .iter()
            .find(|((k, _), _)| k == "associd")
            .and_then(|((_, v), _)| v.parse().ok())
            .unwrap_or(0);
        let peer = associd != 0 || kv.iter().any(|((k, _), _)| k == "srcadr");
        let e = if peer {
            explain_peer_vars(&kv, &used)
        } else {
            explain_system_vars(&kv, &used)
        };
        out.push(Explained {
            first_line: used[0].n,
            ..e
        });
    }
    out
}

type Kv<'a> = [((String, String), &'a Line)];

fn get<'a>(kv: &'a Kv, k: &str) -> Option<(&'a str, &'a Line)> {
    kv.iter()
        .find(|((x, _), _)| x == k)
        .map(|((_, v), l)| (v.as_str(), *l))
}

fn leap_alarm(v: &str) -> bool {
    v == "11" || v == "3"
}

fn explain_system_vars(kv: &Kv, used: &[&Line]) -> Explained {
    let leap = get(kv, "leap").map_or("", |(v, _)| v);
    let stratum: u32 = get(kv, "stratum")
        .and_then(|(s, _)| s.parse().ok())
        .unwrap_or(0);
    let refid = get(kv, "refid").map_or("?", |(v, _)| v);
    let offset: f64 = get(kv, "offset").and_then(|(s, _)| ms(s)).unwrap_or(0.0);
    let mut notes: Vec<Note> = used.iter().map(|l| l.note("")).collect();
    let mut m = format!(
        "leap {leap} ({}), stratum {stratum}, refid {refid}, offset {offset} ms",
        if leap_alarm(leap) {
            "alarm: not synchronized"
        } else {
            "synchronized"
        }
    );
    if let Some(st) = get(kv, "status")
        .and_then(|(s, _)| u16::from_str_radix(s.trim_start_matches("0x"), 16).ok())
    {
        let src = SOURCES
            .get(((st >> 8) & 0x3f) as usize)
            .copied()
            .unwrap_or("?");
        m.push_str(&format!("; system status {st:04x}: source {src}"));
        if st & 0xf == 7 {
            m.push_str("; last event panic_stop: the offset was beyond the panic threshold");
        }
    }
    if let Some(n) = notes.first_mut() {
        n.meaning = m;
    }
    let unsync = leap_alarm(leap) || stratum >= 16;
    let mut d = view("ntpd");
    d.status = Some(format!(
        "leap={leap}, stratum={stratum}, refid={refid}, offset={offset} ms"
    ));
    let at = |k| get(kv, k).map_or(Origin::Unknown, |(_, l)| l.origin());
    d.synchronized = Some(Fact::new(!unsync, at("leap")));
    if !unsync {
        d.sys_peer = Some(format!("{refid} at stratum {stratum}"));
        if refid == "LOCL" || refid == ".LOCL." {
            d.local_clock = Some(Fact::new(
                "the local clock driver (refid LOCL)".into(),
                at("refid"),
            ));
        }
    }
    // ntpq prints offsets in milliseconds.
    d.clock_offset_s = Some(Fact::new(offset / 1000.0, at("offset")));
    let mut x = Exchange::new(Vantage::Paste("ntpq -c rv"), "ntpd");
    x.daemon = Some(d);
    Explained::new(Kind::NtpqRv, notes, x)
}

fn explain_peer_vars(kv: &Kv, used: &[&Line]) -> Explained {
    let src = get(kv, "srcadr").map_or("the peer", |(v, _)| v).to_string();
    let mut x = Exchange::new(Vantage::Paste("ntpq -c rv ASSID"), src.clone());
    let mut notes: Vec<Note> = vec![];
    let reach = get(kv, "reach").and_then(|(v, _)| u32::from_str_radix(v, 8).ok());
    let leap = get(kv, "leap").map(|(v, _)| v);
    let stratum: Option<u32> = get(kv, "stratum").and_then(|(v, _)| v.parse().ok());
    let refid = get(kv, "refid").map(|(v, _)| v.to_string());
    for l in used {
        let mut m = vec![];
        for (k, v) in kv_pairs(&l.text) {
            match k.as_str() {
                "srcadr" => m.push(format!("the peer {v}")),
                "reach" => m.push(match reach {
                    Some(0) => "reach 0: no reply in the last 8 polls".to_string(),
                    Some(r) => format!(
                        "reach {r:o}: {} of the last 8 polls answered",
                        r.count_ones()
                    ),
                    None => format!("reach {v}"),
                }),
                "flash" => {
                    let bits = u32::from_str_radix(v.split_whitespace().next().unwrap_or(""), 16)
                        .unwrap_or(0);
                    if bits == 0 {
                        m.push("flash 0: every packet test passes".into());
                    } else {
                        let why: Vec<&str> = FLASH
                            .iter()
                            .enumerate()
                            .filter(|(i, _)| bits & (1 << i) != 0)
                            .map(|(_, (_, w))| *w)
                            .collect();
                        m.push(format!("flash {bits:x}: {}", why.join("; ")));
                    }
                }
                "leap" if leap_alarm(&v) => m.push("leap 11: the peer is unsynchronized".into()),
                _ => {}
            }
        }
        notes.push(l.note(m.join("; ")));
    }
    let at = |k| get(kv, k).map_or(Origin::Unknown, |(_, l)| l.origin());
    if let Some(code) = refid
        .as_deref()
        .and_then(|r| kiss_refid(&format!(".{}.", r.trim_matches('.'))))
        && stratum.is_none_or(|s| s == 0 || s >= 16)
    {
        x.add_kiss(
            Kiss {
                code,
                header: None,
                origin_checked: false,
            },
            at("refid"),
        );
    } else if reach == Some(0) {
        x.add_silent(Fact::new(
            silent(&src, "reach 0: no reply in the last 8 polls", true),
            at("reach"),
        ));
    } else if leap.is_some_and(leap_alarm) || stratum.is_some_and(|s| s >= 16 || s == 0) {
        x.add_unsync(
            Unsync {
                reason: Some(if leap.is_some_and(leap_alarm) {
                    UnsyncReason::LeapAlarm
                } else {
                    UnsyncReason::Stratum16
                }),
                header: None,
                stratum,
                refid,
            },
            at("leap"),
        );
    } else if reach.is_some() {
        x.valid = 1;
        x.first_answer
            .get_or_insert(crate::diagnose::facts::AnswerKind::Valid);
    }
    Explained::new(Kind::NtpqRv, notes, x)
}

// ---------------------------------------------------------------- errors

/// ntpq's messages (`pylib/packet.py` SERR_*, `ntpq.py`; classic
/// `ntpq.c`), what each means, and how it is judged.
enum Said {
    /// Nothing listens for mode 6 on that host: no ntpd there.
    Refused,
    /// No answer to the query.
    TimedOut,
    /// ntpd answered, with no association at all.
    NoAssociations,
    /// The server refused the query (restrict noquery / authentication).
    Denied,
    /// Name of the host to query did not resolve.
    NoHost,
    /// Understood, but judged elsewhere.
    Other,
}

fn error_meaning(t: &str) -> Option<(Said, &'static str)> {
    let t = t.trim();
    Some(
        if t.contains("Connection refused")
            || t.contains("Socket error; probably ntpd is not running")
        {
            (
                Said::Refused,
                "nothing answers ntpq's queries on udp/123 of that host: ntpd is not running there (ICMP port unreachable came back)",
            )
        } else if t.contains("Request timed out") || t.contains("timed out, nothing received") {
            (
                Said::TimedOut,
                "no answer to the query: ntpd ignores mode 6 from this address (`restrict … noquery` or `ignore`), a firewall drops udp/123, or no host answers",
            )
        } else if t.contains("No association IDs returned")
            || t.contains("No association ID's returned")
        {
            (
                Said::NoAssociations,
                "ntpd answers but has no association: no server, pool or peer line is in use",
            )
        } else if t.contains("Server disallowed request")
            || t.contains("Server reports a bad opcode")
        {
            (
                Said::Denied,
                "ntpd refused the query (a restrict line without query rights, or a command that needs a key)",
            )
        } else if t.contains("Can't find host")
            || t.contains("Name or service not known")
            || t.contains("No host open")
            || t.contains("Temporary failure in name resolution")
        {
            (
                Said::NoHost,
                "the host to query was not found: its name does not resolve",
            )
        } else if t.contains("Response from server was incomplete") {
            (
                Said::Other,
                "the answer came in fragments and some were lost (a busy server, or a firewall dropping fragments)",
            )
        } else if t.contains("***Association ID") && t.contains("unknown to server") {
            (
                Said::Other,
                "that association no longer exists (ntpd replaced it)",
            )
        } else if t.contains("No response, probably high-traffic server") {
            (
                Said::Other,
                "the MRU list did not come back: a busy server with a low MRU limit",
            )
        } else if t.starts_with("No system variables returned")
            || t.starts_with("No system clock variables returned")
        {
            (
                Said::Other,
                "ntpd answered the variable query with no variables (an empty read, nothing about its time)",
            )
        } else if t.contains("No information returned for") {
            (
                Said::Other,
                "ntpd gave nothing for that association (it was removed while ntpq read it)",
            )
        } else if t.starts_with("***Server returned an unspecified error")
            || t.starts_with("***Server reports a bad format")
            || t.starts_with("***A request variable unknown")
            || t.starts_with("***Server indicates a request variable was bad")
            || t.starts_with("***Server error code")
        {
            (
                Said::Other,
                "ntpd did not accept the query as sent (an old ntpq or a misspelt variable)",
            )
        } else if t.starts_with("***Invalid key identifier")
            || t.starts_with("***Key not found")
            || t.starts_with("***Invalid password")
            || t.starts_with("***No credentials")
            || t.starts_with("***No trusted keys")
            || t.contains("Can't read control key")
        {
            (
                Said::Other,
                "the query needed a control key that ntpq does not have (only for changing commands or mrulist)",
            )
        } else {
            return None;
        },
    )
}

/// An ntpq message that says nothing about time (a refused or malformed
/// query, a vanished association), when nothing else was read: what it is.
pub fn read_but_not_judged(lines: &[Line]) -> Option<String> {
    lines.iter().find_map(|l| {
        let (_, t) = server_prefix(l.text.trim());
        let (said, meaning) = error_meaning(t)?;
        matches!(said, Said::Denied | Said::Other)
            .then(|| format!("ntpq's message \"{t}\" ({meaning})"))
    })
}

/// `server=HOST rest` → (HOST, rest); any other line as it is.
fn server_prefix(t: &str) -> (Option<String>, &str) {
    match t.strip_prefix("server=") {
        Some(r) => {
            let (h, rest) = r.split_once(' ').unwrap_or((r, ""));
            if h.is_empty() {
                (None, t)
            } else {
                (Some(h.to_string()), rest.trim())
            }
        }
        None => (None, t),
    }
}

fn errors(seg: &Segment) -> Vec<Explained> {
    let host = seg.command.as_deref().and_then(command_host);
    let local = host.as_deref().is_none_or(is_local_host);
    let hosts_to_ntpq = seg.command.as_deref().is_none_or(|c| {
        c.starts_with("ntpq") || c.starts_with("ntpdc") || c.starts_with("ntpstat")
    });
    if !hosts_to_ntpq {
        return vec![];
    }
    let mut out = vec![];
    // ntpsec's ntpq names the host it asked before some messages when it
    // was given hosts (`server=HOST ` on the same line from `say`, on a
    // line of its own from `warn`: ntpq.py's __dogetassoc, __dolist and
    // the peers loop).
    let mut named: Option<String> = None;
    for l in seg.lines {
        let (server, t) = server_prefix(l.text.trim());
        if server.is_some() && t.is_empty() {
            named = server;
            continue;
        }
        let server = server.or(named.take());
        let ntpq_line = t.starts_with("***")
            || t.starts_with("ntpq:")
            || t.starts_with("ntpdc:")
            || t.contains("timed out, nothing received")
            || t.starts_with("No association ID")
            || (server.is_some() && t.starts_with("No "));
        if !ntpq_line {
            continue;
        }
        let Some((said, meaning)) = error_meaning(t) else {
            continue;
        };
        let local = server.as_deref().map_or(local, is_local_host);
        let who = server
            .or_else(|| host.clone())
            // ntpq without a host asks localhost; a paste without its
            // command line does not say which host was asked.
            .unwrap_or_else(|| {
                if seg.command.is_some() {
                    "localhost".into()
                } else {
                    "the host ntpq asked".into()
                }
            });
        let mut x = Exchange::new(Vantage::Paste("ntpq"), who.clone());
        match said {
            Said::Refused if local => {
                let mut d = view("ntpd");
                d.unreachable = Some(l.fact(format!("ntpq on this host: {t}")));
                x.daemon = Some(d);
            }
            Said::Refused => {
                x.requests = 1;
                x.add_icmp(
                    Icmp {
                        error: IcmpError::v4(3, 3),
                        offender: None,
                        sender: Sender::Server,
                        rtt_ms: None,
                    },
                    l.origin(),
                );
            }
            Said::TimedOut => {
                x.requests = 1;
                x.add_silent(l.fact(silent(
                    &who,
                    "ntpq's mode 6 query got no answer (ntpd ignores queries under `restrict … noquery`, while it may still serve time)",
                    false,
                )));
            }
            Said::NoAssociations => {
                let mut d = view("ntpd");
                d.no_sources = Some(l.origin());
                x.daemon = Some(d);
            }
            Said::NoHost => {
                x.unresolved = Some(who.clone());
            }
            // The daemon answered: nothing about its time (the line's
            // meaning is given where its block is read).
            Said::Denied | Said::Other => continue,
        }
        out.push(Explained::at(
            Kind::NtpqError,
            vec![l.note(meaning)],
            x,
            l.n,
        ));
    }
    out
}

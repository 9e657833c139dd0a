//! What users paste: `ntpq -p`/`-c peers`, `ntpq -c assoc`, `ntpq -c rv`,
//! `ntpdate -d`, `ntpdig -d`, `chronyc sources` (text, `-v`, `-c`),
//! `chronyc tracking`, `timedatectl timesync-status`. Each recognised block
//! is explained line by line and then as a whole, with the usual verdicts.
//!
//! Pure and total: any text gives a (possibly empty) list of explained
//! blocks; nothing panics (fuzz target `explain_paste_any_text`).

use serde::Serialize;

use crate::diagnose::{Cause, Confidence, Verdict};

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

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Explained {
    pub kind: Kind,
    pub notes: Vec<Note>,
    pub verdict: Verdict,
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

fn explain_peers(rows: &[PeerRow], raw: &[String]) -> Explained {
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
            && o.abs() > 1_000_000.0
        {
            m.push_str(&format!(
                "; offset {o} ms is beyond ntpd's 1000 s panic threshold"
            ));
        }
        notes.push(Note {
            line: l.clone(),
            meaning: m,
        });
    }
    let all_silent = rows.iter().all(|r| r.reach == 0);
    let synced = rows.iter().any(|r| r.tally == '*' || r.tally == 'o');
    let kod = rows
        .iter()
        .find(|r| matches!(r.refid.as_str(), ".RATE." | ".DENY." | ".RSTR."));
    let unsync = rows.iter().find(|r| {
        r.reach > 0 && (r.stratum >= 16 || matches!(r.refid.as_str(), ".INIT." | ".STEP."))
    });
    let names: Vec<&str> = rows.iter().map(|r| r.remote.as_str()).collect();
    let verdict = if synced {
        let p = rows
            .iter()
            .find(|r| r.tally == '*' || r.tally == 'o')
            .expect("checked");
        Verdict::new(
            Cause::Ok,
            format!("ntpd is synchronized to {}.", p.remote),
            Confidence::High,
        )
        .evidence(format!("{} is marked *", p.remote))
    } else if let Some(k) = kod {
        let code = crate::wire::KissCode::parse(k.refid.trim_matches('.'))
            .unwrap_or(crate::wire::KissCode::Rate);
        Verdict::new(
            Cause::Kod(code),
            format!("{} answers with a Kiss-o'-Death {}.", k.remote, k.refid),
            Confidence::High,
        )
        .evidence(format!("refid {} for {}", k.refid, k.remote))
        .fix(code.fix())
    } else if all_silent {
        Verdict::new(
            Cause::NoReply,
            format!("No server ever answered ({}): reach 0 everywhere. The .INIT./.XFAC. refids and stratum 16 are placeholders, not answers.", names.join(", ")),
            Confidence::Medium,
        )
        .evidence(format!("{} associations, all with reach 0", rows.len()))
        .alternative("a firewall drops udp/123 on the server, or on the way", "`ntpdiag probe <server>` from this node: its liveness check tells whether the host is up")
        .alternative("the server is down, or its name resolves to the wrong address", "`getent ahosts <server>`, ping it")
        .alternative("a local firewall drops the replies", "`ntpdiag capture any --duration 70s`: replies seen arriving mean a local drop")
        .fix("run `ntpdiag probe <server>` (or `ntpdiag explain` on this node) to name which")
    } else if let Some(u) = unsync {
        Verdict::new(
            Cause::UpstreamUnsynchronized,
            format!(
                "{} answers but is not synchronized itself (refid {}, stratum {}).",
                u.remote, u.refid, u.stratum
            ),
            Confidence::High,
        )
        .evidence(format!(
            "reach {:o}, refid {}, stratum {}",
            u.reach, u.refid, u.stratum
        ))
        .fix("fix the server's own upstream (`ntpq -p` on it)")
    } else {
        Verdict::new(
            Cause::DaemonNotSynchronizedYet,
            "Servers answer but none has been selected yet: normal in the first minutes after ntpd starts.".to_string(),
            Confidence::Medium,
        )
        .evidence(format!("{} associations, some reachable, none marked *", rows.len()))
        .fix("wait a few polls; if it stays so, look at the tally codes (x falseticker, - outlier) and `ntpq -c rv <assoc>` flash bits")
    };
    Explained {
        kind: Kind::NtpqPeers,
        notes,
        verdict,
    }
}

// ---------------------------------------------------------------- ntpq -c assoc

/// The peer status word decoded (RFC 5905 / ntpsec decode.adoc).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerStatus {
    pub configured: bool,
    pub auth_enabled: bool,
    pub auth_ok: bool,
    pub reachable: bool,
    pub broadcast: bool,
    pub select: u8,
    pub count: u8,
    pub event: u8,
}

pub fn decode_peer_status(w: u16) -> PeerStatus {
    let hi = (w >> 8) as u8;
    PeerStatus {
        configured: hi & 0x80 != 0,
        auth_enabled: hi & 0x40 != 0,
        auth_ok: hi & 0x20 != 0,
        reachable: hi & 0x10 != 0,
        broadcast: hi & 0x08 != 0,
        select: hi & 7,
        count: ((w >> 4) & 0xf) as u8,
        event: (w & 0xf) as u8,
    }
}

pub fn select_name(s: u8) -> &'static str {
    [
        "reject",
        "falsetick",
        "excess",
        "outlier",
        "candidate",
        "backup",
        "sys.peer",
        "pps.peer",
    ][s as usize & 7]
}

pub fn event_name(e: u8) -> &'static str {
    [
        "unspecified",
        "mobilize",
        "demobilize",
        "unreachable",
        "reachable",
        "restart",
        "no_reply",
        "rate_exceeded",
        "access_denied",
        "leap_armed",
        "sys_peer",
        "clock_event",
        "bad_auth",
        "popcorn",
        "interleave_mode",
        "interleave_error",
    ][e as usize & 15]
}

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
        let s = decode_peer_status(word);
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
            select_name(s.select),
            event_name(s.event),
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
    let verdict = if statuses.iter().any(|s| s.select >= 6) {
        Verdict::new(
            Cause::Ok,
            "An association is the system peer.",
            Confidence::High,
        )
        .evidence("condition sys.peer")
    } else if statuses.iter().any(|s| s.event == 7) {
        Verdict::new(
            Cause::Kod(crate::wire::KissCode::Rate),
            "A server answered with KoD RATE (event rate_exceeded).",
            Confidence::High,
        )
        .evidence("last event rate_exceeded")
        .fix(crate::wire::KissCode::Rate.fix())
    } else if statuses.iter().any(|s| s.event == 8) {
        Verdict::new(
            Cause::Kod(crate::wire::KissCode::Deny),
            "A server denied access (event access_denied).",
            Confidence::High,
        )
        .evidence("last event access_denied")
        .fix(crate::wire::KissCode::Deny.fix())
    } else if statuses.iter().all(|s| !s.reachable) {
        Verdict::new(
            Cause::NoReply,
            "No association is reachable: the configured servers never answered.",
            Confidence::Medium,
        )
        .evidence(format!(
            "{} associations, reach \"no\" in all",
            statuses.len()
        ))
        .fix("run `ntpdiag probe <server>` to find out why (firewall, daemon, host)")
    } else {
        Verdict::new(
            Cause::DaemonNotSynchronizedYet,
            "Reachable associations, none selected yet.",
            Confidence::Medium,
        )
        .evidence("no sys.peer")
        .fix("wait a few polls; if it stays so, read the flash bits with `ntpq -c \"rv <assid>\"`")
    };
    Some(Explained {
        kind: Kind::NtpqAssoc,
        notes,
        verdict,
    })
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
    let verdict = if offset.abs() > 1_000_000.0 {
        Verdict::new(
            Cause::ClockStepNeeded,
            format!(
                "The clock is {:.0} s off: beyond ntpd's panic threshold.",
                offset / 1000.0
            ),
            Confidence::High,
        )
        .evidence(format!("offset={offset} ms"))
        .fix("step it once (`ntpd -gq`, `chronyc makestep`) then start the daemon")
    } else if unsync {
        Verdict::new(
            Cause::DaemonNotSynchronizedYet,
            format!(
                "This daemon is not synchronized (leap {leap}, stratum {stratum}, refid {refid})."
            ),
            Confidence::Medium,
        )
        .evidence(format!("leap={leap}, stratum={stratum}, refid={refid}"))
        .fix("if it just started, wait; otherwise see `ntpq -p` for why no server is selected")
    } else {
        Verdict::new(
            Cause::Ok,
            format!("Synchronized at stratum {stratum} to {refid}."),
            Confidence::High,
        )
        .evidence(format!("leap={leap}, offset={offset} ms"))
    };
    Some(Explained {
        kind: Kind::NtpqRv,
        notes,
        verdict,
    })
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
    let verdict = if text.contains("the NTP socket is in use") {
        Verdict::new(
            Cause::LocalPortInUse,
            "ntpdate could not bind port 123: a local NTP daemon holds it.",
            Confidence::High,
        )
        .evidence("\"the NTP socket is in use\"")
        .fix("query the running daemon (`ntpq -p`, `chronyc sources`) or use `ntpdate -u`")
    } else if text.contains("rate limit response") {
        Verdict::new(
            Cause::Kod(crate::wire::KissCode::Rate),
            "The server rate-limits this client (KoD RATE).",
            Confidence::High,
        )
        .evidence("\"rate limit response from server\"")
        .fix(crate::wire::KissCode::Rate.fix())
    } else if no_data || !text.contains("receive(") {
        Verdict::new(
            Cause::NoReply,
            format!("Requests were sent ({}), nothing usable came back. ntpdate cannot tell why.", text.matches("transmit(").count()),
            Confidence::Low,
        )
        .evidence("\"Server dropped: no data\"")
        .alternative("the server's firewall drops udp/123 (the seed case)", "`ntpdiag probe <server>`: the liveness check shows whether the host answers other ports")
        .alternative("no daemon on the server, or a REJECT rule", "`ntpdiag probe <server>` names ICMP port unreachable / admin prohibited")
        .alternative("the host is down", "`ntpdiag probe` looks at the neighbour table")
        .fix("run `ntpdiag probe <server>` from this node")
    } else {
        Verdict::new(Cause::Ok, "Replies arrived.", Confidence::Low).evidence("receive(...) lines")
    };
    Some(Explained {
        kind: Kind::NtpdateDebug,
        notes,
        verdict,
    })
}

fn explain_ntpdig(text: &str) -> Option<Explained> {
    if !text.contains("ntpdig:") && !text.contains(" no-leap") {
        return None;
    }
    let mut notes = vec![];
    let mut verdict = None;
    for l in text.lines() {
        let t = l.trim();
        let (m, v): (String, Option<Verdict>) = if t.contains("probable KOD") {
            (
                "stratum 0 reply: ntpdig calls every stratum-0 reply a KoD, but a fresh ntpd sends stratum 0 + INIT (unsynchronized), not a refusal".into(),
                Some(
                    Verdict::new(Cause::UpstreamUnsynchronized, "The server answered with stratum 0: a Kiss-o'-Death or, most often, a server that is not synchronized yet (refid INIT).", Confidence::Medium)
                        .evidence(t.to_string())
                        .fix("`ntpdiag probe <server>` shows the refid: INIT/STEP = unsynchronized server, RATE/DENY/RSTR = refusal"),
                ),
            )
        } else if t.contains("stratum too high") {
            (
                "stratum 16: the server is unsynchronized".into(),
                Some(
                    Verdict::new(
                        Cause::UpstreamUnsynchronized,
                        "The server answers but is unsynchronized (stratum 16).",
                        Confidence::High,
                    )
                    .evidence(t.to_string())
                    .fix("fix the server's own upstream"),
                ),
            )
        } else if t.contains("no eligible servers") {
            (
                "nothing usable: the same words for silence, refusal and unsynchronized servers".into(),
                Some(
                    Verdict::new(Cause::NoReply, "ntpdig got nothing usable from any server.", Confidence::Low)
                        .evidence(t.to_string())
                        .fix("run `ntpdiag probe <server>` to tell silence, refusal and bad replies apart"),
                ),
            )
        } else if t.contains(" s")
            && (t.contains(" no-leap") || t.contains(" add-leap") || t.contains(" del-leap"))
        {
            (
                "an offset measurement: the server answered".into(),
                Some(
                    Verdict::new(Cause::Ok, "ntpdig measured an offset.", Confidence::Medium)
                        .evidence(t.to_string()),
                ),
            )
        } else if t.contains("querying") {
            ("the request went out".into(), None)
        } else {
            continue;
        };
        notes.push(Note {
            line: l.to_string(),
            meaning: m,
        });
        if let Some(v) = v
            && (verdict.is_none() || v.cause != Cause::NoReply)
        {
            verdict = Some(v);
        }
    }
    let verdict = verdict?;
    Some(Explained {
        kind: Kind::NtpdigDebug,
        notes,
        verdict,
    })
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

fn explain_chrony_sources(text: &str) -> Option<Explained> {
    let csv: Vec<&str> = text
        .lines()
        .filter(|l| {
            let f: Vec<&str> = l.split(',').collect();
            f.len() >= 10 && matches!(f[0], "^" | "=" | "#") && f[1].len() == 1
        })
        .collect();
    let (kind, rows): (Kind, Vec<SourceRow>) = if !csv.is_empty() {
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
    };
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
    let verdict = if rows.iter().any(|r| r.0 == '*') {
        Verdict::new(Cause::Ok, "chronyd is synchronized.", Confidence::High)
            .evidence("a source is marked *")
    } else if rows.iter().all(|r| r.3 == 0) {
        Verdict::new(
            Cause::NoReply,
            "No source ever answered chronyd (reach 0 everywhere).",
            Confidence::Medium,
        )
        .evidence(format!("{} sources, all reach 0", rows.len()))
        .fix("run `ntpdiag probe <server>` for each to find out why")
    } else {
        Verdict::new(
            Cause::DaemonNotSynchronizedYet,
            "Sources answer but none is selected yet.",
            Confidence::Medium,
        )
        .evidence("no source marked *")
        .fix("wait a few polls; `chronyc selectdata` gives the reason letters")
    };
    Some(Explained {
        kind,
        notes,
        verdict,
    })
}

fn explain_tracking(text: &str) -> Option<Explained> {
    if !text.contains("Reference ID") || !text.contains("Leap status") {
        return None;
    }
    let mut notes = vec![];
    let mut unsync = false;
    for l in text.lines() {
        let Some((k, v)) = l.split_once(':') else {
            continue;
        };
        let (k, v) = (k.trim(), v.trim());
        let m = match k {
            "Reference ID" if v.starts_with("00000000") => {
                "no reference: chronyd has not selected any source".to_string()
            }
            "Reference ID" => format!("synchronized to {v}"),
            "Stratum" if v == "0" => "stratum 0: not synchronized".to_string(),
            "Leap status" if v.contains("Not synchronised") => {
                unsync = true;
                "not synchronised".to_string()
            }
            "Leap status" => format!("leap status {v}"),
            "System time" => format!("the system clock is {v} of NTP time"),
            _ => continue,
        };
        notes.push(Note {
            line: l.to_string(),
            meaning: m,
        });
    }
    let verdict = if unsync {
        Verdict::new(Cause::DaemonNotSynchronizedYet, "chronyd is not synchronised.", Confidence::Medium)
            .evidence("Leap status: Not synchronised")
            .fix("see `chronyc sources`: reach 0 means no reply (run `ntpdiag probe`), `?` means not selectable yet")
    } else {
        Verdict::new(Cause::Ok, "chronyd is synchronised.", Confidence::High)
            .evidence("Leap status: Normal")
    };
    Some(Explained {
        kind: Kind::ChronycTracking,
        notes,
        verdict,
    })
}

fn explain_timesync(text: &str) -> Option<Explained> {
    if !(text.contains("Server:")
        && (text.contains("Poll interval:") || text.contains("Packet count:")))
    {
        return None;
    }
    let mut notes = vec![];
    let mut packets = None;
    let mut leap_unsync = false;
    for l in text.lines() {
        let Some((k, v)) = l.split_once(':') else {
            continue;
        };
        let (k, v) = (k.trim(), v.trim());
        let m = match k {
            "Server" => format!("polling {v}"),
            "Packet count" => {
                packets = v.parse::<u64>().ok();
                format!("{v} replies received")
            }
            "Leap" => {
                leap_unsync = v.contains("not synchronized");
                format!("leap: {v}")
            }
            _ => continue,
        };
        notes.push(Note {
            line: l.to_string(),
            meaning: m,
        });
    }
    let verdict = if packets == Some(0) {
        Verdict::new(
            Cause::NoReply,
            "systemd-timesyncd has received no reply from its server.",
            Confidence::Medium,
        )
        .evidence("Packet count: 0")
        .fix("run `ntpdiag probe <server>`")
    } else if leap_unsync {
        Verdict::new(
            Cause::UpstreamUnsynchronized,
            "The server answers but is not synchronized.",
            Confidence::Medium,
        )
        .evidence("Leap: not synchronized")
        .fix("fix the server's upstream")
    } else {
        Verdict::new(
            Cause::Ok,
            "systemd-timesyncd receives replies.",
            Confidence::Medium,
        )
        .evidence("Packet count > 0")
    };
    Some(Explained {
        kind: Kind::TimedatectlTimesync,
        notes,
        verdict,
    })
}

/// Every recognised block in `text`, explained.
pub fn explain(text: &str) -> Vec<Explained> {
    let mut out = vec![];
    if let Some((rows, raw)) = parse_peers(text) {
        out.push(explain_peers(&rows, &raw));
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

/// One verdict over several blocks: the most specific one wins (a KoD or an
/// unsynchronized server over plain silence, silence over "not yet", any
/// failure over ok).
pub fn overall(blocks: &[Explained]) -> Option<Verdict> {
    let rank = |c: Cause| match c {
        Cause::Kod(_) | Cause::LocalPortInUse | Cause::ClockStepNeeded => 0,
        Cause::UpstreamUnsynchronized => 1,
        Cause::NoReply => 2,
        Cause::DaemonNotSynchronizedYet => 3,
        Cause::Ok => 5,
        _ => 4,
    };
    let mut best: Option<&Explained> = None;
    for b in blocks {
        // Evidence that a server answered outranks a "nothing came" elsewhere only when it is about the same thing; keep it simple and ordered.
        if best.is_none_or(|x| rank(b.verdict.cause) < rank(x.verdict.cause)) {
            best = Some(b);
        }
    }
    let b = best?;
    let mut v = b.verdict.clone();
    for other in blocks.iter().filter(|o| !std::ptr::eq(*o, b)) {
        v.evidence
            .push(format!("{}: {}", other.kind.title(), other.verdict.summary));
    }
    Some(v)
}

#[cfg(test)]
mod tests;

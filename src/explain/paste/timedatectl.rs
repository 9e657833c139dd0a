//! `timedatectl timesync-status` (systemd's `print_ntp_status_info()`):
//! `Server: ADDRESS (NAME)` with `n/a` (or, from older systemd, `(null)`)
//! for what timesyncd does not have, the poll interval, and — only once a
//! packet was received — leap, version, stratum, reference, precision, root
//! distance (with its maximum), offset, delay, jitter, packet count and
//! frequency. Also `timedatectl status`'s `System clock synchronized` and
//! `NTP service` lines, and its errors.

use super::{Explained, Kind, Line, Segment, silent, view};
use crate::diagnose::facts::{Exchange, Unsync, Vantage};
use crate::engine::exchange::{Sample, UnsyncReason};

fn missing(v: &str) -> bool {
    v == "n/a" || v == "(null)" || v.is_empty()
}

/// A systemd timespan (`FORMAT_TIMESPAN`: `1min 4s`, `32.123ms`, `5us`)
/// in seconds.
pub fn timespan(v: &str) -> Option<f64> {
    let mut total = 0.0;
    let mut any = false;
    for part in v.split_whitespace() {
        let split = part
            .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+'))
            .unwrap_or(part.len());
        let (num, unit) = part.split_at(split);
        let n: f64 = num.parse().ok()?;
        let scale = match unit {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" | "" => 1.0,
            "min" => 60.0,
            "h" => 3600.0,
            "d" => 86400.0,
            "w" => 604800.0,
            "M" => 2_629_800.0,
            "y" => 31_557_600.0,
            _ => return None,
        };
        total += n.abs() * scale;
        any = true;
    }
    let neg = v.trim_start().starts_with('-');
    any.then_some(if neg { -total } else { total })
}

pub fn read(seg: &Segment) -> Vec<Explained> {
    let lines = seg.lines;
    let field = |l: &Line| -> Option<(String, String)> {
        let (k, v) = l.text.split_once(':')?;
        Some((k.trim().to_string(), v.trim().to_string()))
    };
    let Some(h) = lines.iter().position(|l| {
        field(l).is_some_and(|(k, _)| k == "Server")
            && lines
                .iter()
                .any(|x| field(x).is_some_and(|(k, _)| k == "Poll interval" || k == "Packet count"))
    }) else {
        return status(lines);
    };
    let mut notes = vec![];
    let mut x = Exchange::new(Vantage::Paste("timedatectl timesync-status"), "the server");
    let mut offset: Option<(f64, &Line)> = None;
    let mut delay = 0.0;
    let mut distance: Option<(f64, Option<f64>)> = None;
    let mut packets: Option<(u64, &Line)> = None;
    let mut leap_bad: Option<&Line> = None;
    let mut stratum: Option<u32> = None;
    let mut no_address: Option<&Line> = None;
    for l in &lines[h..] {
        let Some((k, v)) = field(l) else {
            break;
        };
        let m = match k.as_str() {
            "Server" => {
                // "ADDRESS (NAME)"
                let (addr, name) = match v.rsplit_once(" (") {
                    Some((a, n)) => (a.trim().to_string(), n.trim_end_matches(')').to_string()),
                    None => (v.clone(), String::new()),
                };
                let who = match (missing(&addr), missing(&name)) {
                    (false, false) => format!("{name} ({addr})"),
                    (false, true) => addr.clone(),
                    (true, false) => name.clone(),
                    (true, true) => "no server".into(),
                };
                x.who = who;
                if missing(&addr) {
                    no_address = Some(l);
                    if missing(&name) {
                        "no server at all: timesyncd has none configured or found (NTP=, FallbackNTP=, or DHCP)".to_string()
                    } else {
                        format!(
                            "{name}: no address in use — (null)/n/a is how timedatectl prints a missing address: the name has not resolved, or timesyncd has not contacted it yet"
                        )
                    }
                } else {
                    format!("polling {}", x.who)
                }
            }
            "Poll interval" => format!("poll interval {v}"),
            "Leap" => {
                if v.contains("not synchronized") {
                    leap_bad = Some(l);
                }
                format!("leap: {v}")
            }
            "Version" => format!("NTP version {v} in the reply"),
            "Stratum" => {
                stratum = v.parse().ok();
                format!(
                    "stratum {v}{}",
                    if v == "0" || v == "16" {
                        ": unsynchronized"
                    } else {
                        ""
                    }
                )
            }
            "Reference" => format!("the server's reference: {v}"),
            "Precision" => format!("the server's clock precision: {v}"),
            "Root distance" => {
                // "D (max: M)"
                let (d, max) = match v.split_once(" (max: ") {
                    Some((d, m)) => (timespan(d), timespan(m.trim_end_matches(')'))),
                    None => (timespan(&v), None),
                };
                if let Some(d) = d {
                    distance = Some((d, max));
                }
                match (d, max) {
                    (Some(d), Some(m)) if d > m => format!(
                        "root distance {v}: over timesyncd's maximum (RootDistanceMaxSec): it will not use this server"
                    ),
                    _ => format!("root distance {v}"),
                }
            }
            "Offset" => {
                if let Some(o) = timespan(&v) {
                    offset = Some((o, l));
                }
                format!("this clock is {v} from the server")
            }
            "Delay" => {
                delay = timespan(&v).unwrap_or(0.0);
                format!("round trip {v}")
            }
            "Jitter" => format!("jitter {v}"),
            "Packet count" => {
                if let Ok(n) = v.parse::<u64>() {
                    packets = Some((n, l));
                }
                if v == "0" {
                    "0 replies received: timedatectl prints nothing more until one arrives".into()
                } else {
                    format!("{v} replies received")
                }
            }
            "Frequency" => format!("frequency correction {v}"),
            _ => break,
        };
        notes.push(l.note(m));
    }
    if let Some(l) = no_address {
        if x.who == "no server" {
            let mut d = view("systemd-timesyncd");
            d.no_sources = Some(l.origin());
            x.daemon = Some(d);
        } else {
            x.unresolved = Some(x.who.clone());
        }
    } else if packets.is_none_or(|(n, _)| n == 0) {
        let at = packets.map_or(lines[h].origin(), |(_, l)| l.origin());
        let who = x.who.clone();
        x.add_silent(crate::diagnose::facts::Fact::new(
            silent(&who, "Packet count: 0", true),
            at,
        ));
    } else if let Some(l) = leap_bad {
        x.add_unsync(
            Unsync {
                reason: Some(UnsyncReason::LeapAlarm),
                header: None,
                stratum,
                refid: None,
            },
            l.origin(),
        );
    } else if stratum.is_some_and(|s| s == 0 || s >= 16) {
        x.add_unsync(
            Unsync {
                reason: Some(UnsyncReason::Stratum16),
                header: None,
                stratum,
                refid: None,
            },
            lines[h].origin(),
        );
    } else if let Some((o, l)) = offset {
        let rd = distance.map_or(delay / 2.0, |d| d.0);
        x.add_valid(
            Sample {
                offset: o,
                delay,
                dispersion: 0.0,
                root_distance: rd,
            },
            None,
            l.origin(),
        );
    }
    vec![Explained::at(
        Kind::TimedatectlTimesync,
        notes,
        x,
        lines[h].n,
    )]
}

/// `timedatectl` / `timedatectl status`, and timedatectl's errors.
fn status(lines: &[Line]) -> Vec<Explained> {
    let mut out = vec![];
    for l in lines {
        let t = l.text.trim();
        if t.contains("Command requires systemd-timesyncd.service, but it is not available") {
            out.push(super::daemon_unreachable(
                l,
                "systemd-timesyncd",
                "timedatectl",
                Kind::TimedatectlTimesync,
                "systemd-timesyncd is not running (another daemon may own time here: ask ntpq or chronyc)",
            ));
        }
    }
    out
}

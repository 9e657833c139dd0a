//! Text rendering: every packet as `ntpdate -d` would show it (and more),
//! then the verdict block. Colors come from `colored`, switched off when
//! stdout is not a terminal.

use std::fmt::Write as _;

use colored::Colorize;

use crate::diagnose::{Class, Confidence, SourcePort, TargetEvidence, Verdict};
use crate::engine::exchange::{Judgement, ReplyClass};
use crate::engine::probe::{EventKind, Purpose};
use crate::wire::timestamp::log2_secs;
use crate::wire::{NtpDate, NtpTimestamp, Repr};

fn t(ms: f64) -> String {
    format!("{:>9}", format!("+{ms:.1}ms"))
}

fn secs_human(s: f64) -> String {
    let a = s.abs();
    if a == 0.0 {
        "0 s".to_string()
    } else if a >= 1.0 && s.fract() == 0.0 {
        format!("{s:.0} s")
    } else if a >= 1.0 {
        format!("{s:.3} s")
    } else if a >= 1e-3 {
        format!("{:.3} ms", s * 1e3)
    } else if a >= 1e-6 {
        format!("{:.3} µs", s * 1e6)
    } else {
        format!("{:.1} ns", s * 1e9)
    }
}

fn ts_line(label: &str, ts: NtpTimestamp, pivot: NtpDate, extra: &str) -> String {
    let when = if ts.is_zero() {
        "(zero)".to_string()
    } else {
        ts.to_date_near(pivot).utc_string()
    };
    format!("{:>12} {label:<10} {}  {when}{extra}\n", "", ts.hex())
}

/// The decoded header, one field group per line.
pub fn header(h: &Repr, pivot: NtpDate, nonce: Option<NtpTimestamp>) -> String {
    let pad = " ".repeat(12);
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{pad} leap {} ({}), version {}, mode {}, stratum {}",
        h.leap.bits(),
        h.leap.name(),
        h.version,
        h.mode,
        h.stratum
    );
    let _ = writeln!(
        s,
        "{pad} poll {} ({}), precision {} ({}), root delay {}, root dispersion {}",
        h.poll,
        secs_human(log2_secs(h.poll)),
        h.precision,
        secs_human(log2_secs(h.precision)),
        secs_human(h.root_delay.as_secs_f64()),
        secs_human(h.root_dispersion.as_secs_f64())
    );
    let _ = writeln!(s, "{pad} refid {}", h.reference_id.describe(h.stratum));
    s.push_str(&ts_line("reference", h.reference_ts, pivot, ""));
    let origin_note = match nonce {
        Some(n) if n == h.origin_ts => "  = our transmit nonce",
        Some(_) => "  ≠ our transmit nonce",
        None => "",
    };
    let _ = writeln!(
        s,
        "{pad} {:<10} {}{origin_note}",
        "origin",
        h.origin_ts.hex()
    );
    s.push_str(&ts_line("receive", h.receive_ts, pivot, ""));
    s.push_str(&ts_line("transmit", h.transmit_ts, pivot, ""));
    s
}

fn class_word(c: &ReplyClass) -> colored::ColoredString {
    match c {
        ReplyClass::Valid => "valid".green(),
        ReplyClass::Unsynchronized(_) => "unsynchronized".yellow(),
        ReplyClass::Kiss(k) => format!("Kiss-o'-Death {}", k.text()).red(),
        ReplyClass::Bogus(_) => "bogus".red(),
        ReplyClass::Duplicate => "duplicate".yellow(),
        ReplyClass::Invalid(_) => "invalid".red(),
    }
}

fn judgement(j: &Judgement, pivot: NtpDate, nonce: Option<NtpTimestamp>) -> String {
    let mut s = String::new();
    if let Some(h) = &j.header {
        s.push_str(&header(h, pivot, nonce));
    }
    if let Some(Ok(tr)) = &j.trailer {
        let _ = writeln!(
            s,
            "{:>12} after the header: {} extension field(s){}",
            "",
            tr.extensions.len(),
            tr.mac.map_or(String::new(), |m| format!(
                ", MAC key {} ({} octet digest)",
                m.key_id, m.digest_len
            ))
        );
    }
    if let Some(Err(e)) = &j.trailer {
        let _ = writeln!(s, "{:>12} after the header: {e}", "");
    }
    if j.class != ReplyClass::Valid {
        let _ = writeln!(s, "{:>12} {}", "", j.class.label());
    }
    if let Some(smp) = j.sample {
        let _ = writeln!(
            s,
            "{:>12} offset {:+.6} s, delay {:.6} s, dispersion {:.6} s, root distance {:.6} s",
            "", smp.offset, smp.delay, smp.dispersion, smp.root_distance
        );
    }
    s
}

/// The packet-by-packet account of one probe.
/// The NTS client's steps (probe --nts), after the plain packets.
fn nts_log(s: &mut String, ev: &TargetEvidence, pivot: NtpDate) {
    let Some(n) = &ev.nts else {
        return;
    };
    let _ = writeln!(
        s,
        "{} {} (NTS-KE, then NTS-protected NTP)",
        "nts".bold(),
        n.facts.ke_server
    );
    for l in &n.log {
        let _ = writeln!(s, "{}  {}", t(l.at.as_secs_f64() * 1000.0), l.text);
        if let Some((h, nonce)) = &l.packet {
            s.push_str(&header(h, pivot, Some(*nonce)));
        }
    }
}

pub fn events(ev: &TargetEvidence, pivot: NtpDate) -> String {
    let mut s = String::new();
    let from = ev.local_address.map_or("?".into(), |a| a.to_string());
    let src = match ev.source_port {
        SourcePort::Ephemeral => "random source port".to_string(),
        SourcePort::Fixed(p) => format!("source port {p}"),
    };
    let _ = writeln!(s, "{} {} from {from} ({src})", "probe".bold(), ev.address);
    let Some(rec) = &ev.record else {
        if let Some(e) = &ev.setup_error {
            let _ = writeln!(s, "{:>9}  {} {e}", "", "✗".red());
        }
        nts_log(&mut s, ev, pivot);
        return s;
    };
    let nonce_of = |n: u32| rec.samples.get(n as usize - 1).map(|x| x.request.nonce);
    for e in &rec.events {
        let at = t(e.at.as_secs_f64() * 1000.0);
        match &e.kind {
            EventKind::Sent {
                purpose: Purpose::Sample(n),
                dest,
                nonce,
                len,
                ..
            } => {
                let _ = writeln!(
                    s,
                    "{at}  → request {n} to {dest} ({len} octets, mode 3, version {}, transmit nonce {})",
                    rec.config.version,
                    nonce.map_or("-".into(), |x| x.hex())
                );
            }
            EventKind::Sent {
                purpose: Purpose::Liveness,
                dest,
                ..
            } => {
                let _ = writeln!(
                    s,
                    "{at}  → liveness check to {dest} (a closed port: expect ICMP port unreachable)"
                );
            }
            EventKind::SocketError { error } => {
                let _ = writeln!(s, "{at}  {} socket: {error}", "!".yellow());
            }
            EventKind::SendFailed { purpose, error } => {
                let what = match purpose {
                    Purpose::Sample(n) => format!("request {n}"),
                    Purpose::Liveness => "liveness check".into(),
                };
                let _ = writeln!(s, "{at}  {} {what} not sent: {error}", "✗".red());
            }
            EventKind::Received {
                from,
                bytes,
                matched,
                other_address,
                judgement: j,
                ..
            } => {
                let what = match matched {
                    Some(Purpose::Sample(n)) => format!("reply to request {n}"),
                    Some(Purpose::Liveness) => "datagram from the liveness port".into(),
                    None => "datagram".into(),
                };
                let other = if *other_address {
                    " (not the probed address!)".red().to_string()
                } else {
                    String::new()
                };
                match j {
                    Some(j) => {
                        let _ = writeln!(
                            s,
                            "{at}  ← {what} from {from}{other} ({} octets): {}",
                            bytes.len(),
                            class_word(&j.class)
                        );
                        let nonce = match matched {
                            Some(Purpose::Sample(n)) => nonce_of(*n),
                            _ => rec
                                .samples
                                .iter()
                                .rev()
                                .find(|x| !x.request.nonce.is_zero())
                                .map(|x| x.request.nonce),
                        };
                        s.push_str(&judgement(j, pivot, nonce));
                    }
                    None => {
                        let _ = writeln!(
                            s,
                            "{at}  ← {what} from {from}{other} ({} octets)",
                            bytes.len()
                        );
                    }
                }
            }
            EventKind::Icmp { report, matched } => {
                let what = match matched {
                    Some(Purpose::Sample(n)) => format!("request {n}"),
                    Some(Purpose::Liveness) => "the liveness check".into(),
                    None => "an unknown datagram".into(),
                };
                let _ = writeln!(
                    s,
                    "{at}  ← {} from {} for {what}",
                    report.error.to_string().red(),
                    report.offender.map_or("?".into(), |o| o.to_string())
                );
            }
            EventKind::Timeout { purpose } => {
                let what = match purpose {
                    Purpose::Sample(n) => format!("request {n}"),
                    Purpose::Liveness => "liveness check".into(),
                };
                let _ = writeln!(
                    s,
                    "{at}  {} {what}: nothing came back within {}",
                    "✗".yellow(),
                    humantime::format_duration(rec.config.timeout)
                );
            }
        }
    }
    nts_log(&mut s, ev, pivot);
    s
}

/// The verdict block.
pub fn verdict(target: &str, v: &Verdict) -> String {
    let mut s = String::new();
    let title = format!("{} [{}]", v.cause.title(), v.cause.id());
    let title = match v.cause.class() {
        Class::Ok => title.green().bold(),
        Class::Kiss | Class::Unusable => title.yellow().bold(),
        _ => title.red().bold(),
    };
    let _ = writeln!(s, "{} {target}: {title}", "VERDICT".bold());
    let _ = writeln!(s, "  {}", v.summary);
    if !v.evidence.is_empty() {
        let _ = writeln!(s, "  {}", "evidence:".bold());
        for e in &v.evidence {
            let _ = writeln!(s, "    • {e}");
        }
    }
    if !v.alternatives.is_empty() {
        let _ = writeln!(s, "  {}", "likely causes, most likely first:".bold());
        for (i, a) in v.alternatives.iter().enumerate() {
            let _ = writeln!(s, "    {}. {}", i + 1, a.what);
            let _ = writeln!(s, "       to tell: {}", a.tell_apart);
        }
    }
    let conf = match v.confidence {
        Confidence::High => v.confidence.id().green(),
        Confidence::Medium => v.confidence.id().yellow(),
        Confidence::Low => v.confidence.id().red(),
    };
    let _ = writeln!(s, "  {} {conf}", "confidence:".bold());
    if !v.fix.is_empty() {
        let _ = writeln!(s, "  {}", "fix:".bold());
        for f in &v.fix {
            let _ = writeln!(s, "    → {f}");
        }
    }
    for n in &v.notes {
        let _ = writeln!(s, "  note: {n}");
    }
    s
}

/// Writes one pretty JSON document and a newline to stdout, streamed (a
/// report of a huge paste is never built as one string first).
pub fn print_pretty<T: serde::Serialize>(v: &T) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    serde_json::to_writer_pretty(&mut out, v)?;
    writeln!(out)?;
    out.flush()?;
    Ok(())
}

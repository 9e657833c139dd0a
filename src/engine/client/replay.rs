//! Trace replay: ntpsec's `rawstats` (one line per reply: T1-T4 and the
//! header) fed through the engine, to compare with its `peerstats` (one
//! line per clock-filter update: status word, offset, delay, dispersion,
//! jitter). Formats from ntpsec's `docs/includes/mon-commands.adoc`.
//! Parsing is total: a line that does not parse is skipped and counted.

use std::net::{IpAddr, SocketAddr};

use crate::wire::packet::{Leap, Mode};
use crate::wire::{NtpDuration, NtpShort, NtpTimestamp, ReferenceId, Repr};

/// One `rawstats` line.
#[derive(Clone, Debug, PartialEq)]
pub struct Raw {
    /// Seconds since MJD 0 (day · 86400 + seconds past midnight).
    pub t: f64,
    pub src: IpAddr,
    pub t1: NtpTimestamp,
    pub t2: NtpTimestamp,
    pub t3: NtpTimestamp,
    pub t4: NtpTimestamp,
    pub header: Repr,
}

/// One `peerstats` line.
#[derive(Clone, Debug, PartialEq)]
pub struct Peer {
    pub t: f64,
    pub src: IpAddr,
    pub status: u16,
    pub offset: f64,
    pub delay: f64,
    pub dispersion: f64,
    pub jitter: f64,
}

fn when(mjd: &str, secs: &str) -> Option<f64> {
    Some(mjd.parse::<f64>().ok()? * 86400.0 + secs.parse::<f64>().ok()?)
}

/// "4005171618.383062851": NTP seconds (era 0) and a decimal fraction.
fn ntp_ts(s: &str) -> Option<NtpTimestamp> {
    let (sec, frac) = s.split_once('.').unwrap_or((s, "0"));
    let sec: u64 = sec.parse().ok()?;
    if sec > u64::from(u32::MAX) || frac.is_empty() || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits = &frac[..frac.len().min(18)];
    let f: u128 = digits.parse().ok()?;
    let scaled = (f << 32) / 10u128.pow(digits.len() as u32);
    Some(NtpTimestamp((sec << 32) | (scaled as u64 & 0xffff_ffff)))
}

fn refid(s: &str) -> ReferenceId {
    if let Ok(IpAddr::V4(a)) = s.parse::<IpAddr>() {
        return ReferenceId(a.octets());
    }
    let mut b = [0u8; 4];
    for (i, c) in s.bytes().take(4).enumerate() {
        b[i] = c;
    }
    ReferenceId(b)
}

/// Parses `rawstats`; returns the lines and how many were skipped.
pub fn rawstats(text: &str) -> (Vec<Raw>, usize) {
    let mut out = vec![];
    let mut skipped = 0;
    for l in text.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = l.split_whitespace().collect();
        let parsed = (|| {
            if f.len() < 17 {
                return None;
            }
            let (t1, t2, t3, t4) = (ntp_ts(f[4])?, ntp_ts(f[5])?, ntp_ts(f[6])?, ntp_ts(f[7])?);
            let header = Repr {
                leap: Leap::from_bits(f[8].parse().ok()?),
                version: f[9].parse().ok()?,
                mode: Mode::from_bits(f[10].parse().ok()?),
                stratum: f[11].parse().ok()?,
                poll: f[12].parse().ok()?,
                precision: f[13].parse().ok()?,
                root_delay: NtpShort::from_secs_f64(f[14].parse().ok()?),
                root_dispersion: NtpShort::from_secs_f64(f[15].parse().ok()?),
                reference_id: refid(f[16]),
                // Not logged: a reference time before the transmit time.
                reference_ts: t3 + NtpDuration::from_secs_f64(-16.0),
                origin_ts: t1,
                receive_ts: t2,
                transmit_ts: t3,
            };
            Some(Raw {
                t: when(f[0], f[1])?,
                src: f[2].parse().ok()?,
                t1,
                t2,
                t3,
                t4,
                header,
            })
        })();
        match parsed {
            Some(r) => out.push(r),
            None => skipped += 1,
        }
    }
    (out, skipped)
}

/// Parses `peerstats`; returns the lines and how many were skipped.
pub fn peerstats(text: &str) -> (Vec<Peer>, usize) {
    let mut out = vec![];
    let mut skipped = 0;
    for l in text.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = l.split_whitespace().collect();
        let parsed = (|| {
            if f.len() < 8 {
                return None;
            }
            Some(Peer {
                t: when(f[0], f[1])?,
                src: f[2].parse().ok()?,
                status: u16::from_str_radix(f[3], 16).ok()?,
                offset: f[4].parse().ok()?,
                delay: f[5].parse().ok()?,
                dispersion: f[6].parse().ok()?,
                jitter: f[7].parse().ok()?,
            })
        })();
        match parsed {
            Some(p) => out.push(p),
            None => skipped += 1,
        }
    }
    (out, skipped)
}

/// The address a `rawstats` source was polled at (port 123).
pub fn addr(ip: IpAddr) -> SocketAddr {
    SocketAddr::new(ip, 123)
}

/// An engine with one association per source of the trace, in address
/// order, ready for [`crate::engine::client::Engine::replay`] (local
/// precision 2^-24, as the recording ntpd's), started at `start` (any
/// instant: the replay's times are the trace's, offset from it).
pub fn engine_for(
    raw: &[Raw],
    rules: crate::engine::client::Rules,
    start: std::time::Instant,
) -> crate::engine::client::Engine {
    use crate::engine::client::{Engine, ServerSpec};
    let mut e = Engine::new(rules, start, -24);
    let mut srcs: Vec<IpAddr> = raw.iter().map(|r| r.src).collect();
    srcs.sort();
    srcs.dedup();
    for s in srcs {
        e.add(
            ServerSpec::new(s.to_string(), addr(s)),
            start,
            std::time::Duration::ZERO,
        );
    }
    e
}

#[cfg(test)]
mod tests;

//! The system clock, read at the edge and handed to the core as NTP time.
//!
//! A process may run on a *virtual clock* instead: the host clock plus an
//! offset that changes at a constant rate ([`Skew`]). The lab's nodes do
//! (`ntpdiag lab`): each keeps its own clock without touching the host's,
//! which every namespace shares. The skew is set in-process
//! ([`set_skew`]), or read from the file named by `NTPDIAG_CLOCK`, which a
//! lab node keeps current for the commands run beside it (`lab exec`).
//! Every timestamp this module hands out, kernel timestamps included, is on
//! that clock.

use std::sync::RwLock;
use std::time::{Duration, Instant, SystemTime};

use nix::time::{ClockId, clock_getres, clock_gettime};

use crate::wire::{NtpDate, NtpTimestamp};

/// A virtual clock: `host + offset + rate × (monotonic now − at)`.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct Skew {
    /// Seconds ahead of the host clock at `at_ns`.
    pub offset: f64,
    /// Seconds gained per second (1e-6 = 1 ppm fast).
    pub rate: f64,
    /// CLOCK_MONOTONIC nanoseconds (shared by every namespace).
    pub at_ns: i64,
}

impl Skew {
    /// Seconds ahead of the host clock at monotonic `now_ns`.
    pub fn offset_at(&self, now_ns: i64) -> f64 {
        self.offset + self.rate * (now_ns - self.at_ns) as f64 * 1e-9
    }

    /// The file form: `offset rate at_ns`.
    pub fn to_line(&self) -> String {
        format!("{:.12} {:.12e} {}\n", self.offset, self.rate, self.at_ns)
    }

    pub fn parse(line: &str) -> Option<Skew> {
        let mut w = line.split_whitespace();
        let s = Skew {
            offset: w.next()?.parse().ok()?,
            rate: w.next()?.parse().ok()?,
            at_ns: w.next()?.parse().ok()?,
        };
        (s.offset.is_finite() && s.rate.is_finite()).then_some(s)
    }
}

/// CLOCK_MONOTONIC in nanoseconds.
pub fn monotonic_ns() -> i64 {
    clock_gettime(ClockId::CLOCK_MONOTONIC).map_or(0, |t| t.tv_sec() * 1_000_000_000 + t.tv_nsec())
}

/// The host's monotonic, real and boot clocks read one after another (the
/// host's own, never a virtual clock): what [`crate::engine::jump`] compares.
pub fn readings() -> crate::engine::jump::Reading {
    let s = |id: ClockId| {
        clock_gettime(id).map_or(0.0, |t| t.tv_sec() as f64 + t.tv_nsec() as f64 * 1e-9)
    };
    crate::engine::jump::Reading {
        monotonic: s(ClockId::CLOCK_MONOTONIC),
        realtime: s(ClockId::CLOCK_REALTIME),
        boottime: s(ClockId::CLOCK_BOOTTIME),
    }
}

static SKEW: RwLock<Option<Skew>> = RwLock::new(None);

/// From the file `NTPDIAG_CLOCK` names, re-read at most every 50 ms.
static FOLLOWED: RwLock<Option<(Instant, Option<Skew>)>> = RwLock::new(None);

/// Runs this process on a virtual clock (`None`: the host clock).
pub fn set_skew(s: Option<Skew>) {
    *SKEW.write().unwrap_or_else(|e| e.into_inner()) = s;
}

fn followed() -> Option<Skew> {
    static PATH: std::sync::OnceLock<Option<std::ffi::OsString>> = std::sync::OnceLock::new();
    let path = PATH
        .get_or_init(|| std::env::var_os("NTPDIAG_CLOCK"))
        .as_ref()?;
    if let Some((at, s)) = *FOLLOWED.read().unwrap_or_else(|e| e.into_inner())
        && at.elapsed() < Duration::from_millis(50)
    {
        return s;
    }
    let s = std::fs::read_to_string(path)
        .ok()
        .and_then(|t| Skew::parse(&t));
    *FOLLOWED.write().unwrap_or_else(|e| e.into_inner()) = Some((Instant::now(), s));
    s
}

/// Seconds this process's clock is ahead of the host clock now.
pub fn skew_now() -> f64 {
    let s = (*SKEW.read().unwrap_or_else(|e| e.into_inner())).or_else(followed);
    s.map_or(0.0, |s| s.offset_at(monotonic_ns()))
}

fn shifted(secs: i64, nanos: u32, by: f64) -> (i64, u32) {
    if by == 0.0 {
        return (secs, nanos);
    }
    let total = secs as i128 * 1_000_000_000 + nanos as i128 + (by * 1e9).round() as i128;
    (
        total.div_euclid(1_000_000_000) as i64,
        total.rem_euclid(1_000_000_000) as u32,
    )
}

/// The current UTC time as an NTP date (with era).
pub fn now_date() -> NtpDate {
    let by = skew_now();
    let d = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let (s, n) = shifted(d.as_secs() as i64, d.subsec_nanos(), by);
    NtpDate::from_unix(s, n)
}

/// The current UTC time as a wire timestamp.
pub fn now() -> NtpTimestamp {
    now_date().timestamp()
}

/// A kernel timestamp (Unix seconds, nanoseconds) as a wire timestamp.
pub fn from_unix(t: (i64, u32)) -> NtpTimestamp {
    let (s, n) = shifted(t.0, t.1, skew_now());
    NtpDate::from_unix(s, n).timestamp()
}

/// The clock's precision as NTP's precision field wants it (RFC 5905 §7.3):
/// log2 seconds of the larger of the clock's resolution and the smallest
/// step seen between successive reads (ntpd measures it the same way).
/// Bounded: at most 1000 reads. Falls back to -20 (about 1 µs).
pub fn precision() -> i8 {
    let res = match clock_getres(ClockId::CLOCK_REALTIME) {
        Ok(ts) => ts.tv_sec() as f64 + ts.tv_nsec() as f64 * 1e-9,
        Err(_) => return -20,
    };
    let mut step = f64::MAX;
    let mut last = std::time::SystemTime::now();
    for _ in 0..1000 {
        let t = std::time::SystemTime::now();
        if let Ok(d) = t.duration_since(last)
            && d.as_nanos() > 0
        {
            step = step.min(d.as_secs_f64());
        }
        last = t;
    }
    let p = res.max(if step == f64::MAX { res } else { step });
    if p > 0.0 {
        p.log2().floor().clamp(-32.0, 0.0) as i8
    } else {
        -20
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skew_shifts_timestamps_and_reads_back() {
        let s = Skew {
            offset: 0.25,
            rate: 1e-4,
            at_ns: 1_000_000_000,
        };
        assert!((s.offset_at(11_000_000_000) - 0.251).abs() < 1e-12);
        assert_eq!(Skew::parse(&s.to_line()), Some(s));
        assert_eq!(Skew::parse("nan 0 0"), None);
        assert_eq!(Skew::parse("1 2"), None);
        assert_eq!(shifted(10, 900_000_000, 0.2), (11, 100_000_000));
        assert_eq!(shifted(10, 100_000_000, -0.2), (9, 900_000_000));
    }

    #[test]
    fn precision_is_plausible() {
        let p = super::precision();
        assert!((-32..=-6).contains(&p), "{p}");
    }
}

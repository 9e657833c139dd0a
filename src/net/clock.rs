//! The system clock, read at the edge and handed to the core as NTP time.

use nix::time::{ClockId, clock_getres};

use crate::wire::{NtpDate, NtpTimestamp};

/// The current UTC time as an NTP date (with era).
pub fn now_date() -> NtpDate {
    NtpDate::from_system(std::time::SystemTime::now())
}

/// The current UTC time as a wire timestamp.
pub fn now() -> NtpTimestamp {
    now_date().timestamp()
}

/// A kernel timestamp (Unix seconds, nanoseconds) as a wire timestamp.
pub fn from_unix(t: (i64, u32)) -> NtpTimestamp {
    NtpDate::from_unix(t.0, t.1).timestamp()
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
    #[test]
    fn precision_is_plausible() {
        let p = super::precision();
        assert!((-32..=-6).contains(&p), "{p}");
    }
}

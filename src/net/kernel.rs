//! The kernel clock's NTP state, read with adjtimex(2) in read-only mode
//! (`modes = 0`: nothing is changed). The second module with `unsafe`: one
//! call, with a zeroed `struct timex` it owns.
#![expect(unsafe_code, reason = "one read-only adjtimex call")]

use std::io;

/// What the kernel says about its clock discipline.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct KernelClock {
    /// STA_UNSYNC set: no daemon has told the kernel the clock is synchronized.
    pub unsynchronized: bool,
    /// Maximum error estimate (µs); 16 s means "unknown".
    pub maxerror_us: i64,
    pub esterror_us: i64,
    /// The clock state returned by adjtimex (TIME_OK 0 … TIME_ERROR 5).
    pub state: i32,
    /// The frequency correction in use (ppm; the kernel's scaled ppm ÷ 2^16).
    pub freq_ppm: f64,
    /// The most it takes (ppm).
    pub tolerance_ppm: f64,
}

pub fn read() -> io::Result<KernelClock> {
    // SAFETY: an all-zero timex is valid.
    let mut tx: libc::timex = unsafe { std::mem::zeroed() };
    // SAFETY: modes 0 asks for a read only; the struct outlives the call.
    let state = unsafe { libc::adjtimex(&mut tx) };
    if state < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(KernelClock {
        unsynchronized: tx.status & libc::STA_UNSYNC != 0,
        maxerror_us: tx.maxerror as i64,
        esterror_us: tx.esterror as i64,
        state,
        freq_ppm: tx.freq as f64 / 65536.0,
        tolerance_ppm: tx.tolerance as f64 / 65536.0,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_without_changing() {
        let k = super::read().unwrap();
        assert!((0..=5).contains(&k.state));
        assert!(k.maxerror_us >= 0);
        // Linux's MAXFREQ: 500 ppm (include/uapi/linux/timex.h).
        assert_eq!(k.tolerance_ppm, 500.0);
        assert!(k.freq_ppm.abs() <= k.tolerance_ppm);
    }
}

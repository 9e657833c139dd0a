//! A node's own clock and its discipline (sans-IO): the host clock plus an
//! offset that drifts by the node's frequency error, corrected from the
//! engine's system offset as RFC 5905 §11.3 says: past the panic threshold
//! (1000 s) nothing is done (ntpd would exit); past the step threshold
//! (0.128 s) the clock is stepped; otherwise it is slewed, at most
//! `slew_max` (500 ppm: the kernel's and RFC 5905's limit), the phase taken
//! out with a time constant of 16 s. A frequency-locked loop estimates the
//! frequency error from what each new offset adds to the phase left over,
//! over intervals of 16 s or more. After a step the driver restarts the
//! engine's associations, as ntpd does.
//!
//! Time is CLOCK_MONOTONIC nanoseconds, handed in. Every correction is
//! returned, so that the driver can restate the engine's samples
//! ([`crate::engine::client::Engine::clock_adjusted`]).

use crate::engine::limits::{PANIC_THRESHOLD as PANIC, STEP_THRESHOLD as STEP};
use crate::net::clock::Skew;

/// Time constant of the phase slew, seconds.
const TAU: f64 = 16.0;
/// Shortest interval between updates the frequency loop uses, seconds.
const FLL_MIN: f64 = 16.0;
/// Largest frequency correction (RFC 5905 MAXFREQ, 500 ppm).
const MAXFREQ: f64 = 500e-6;

/// What an update did to the clock.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Correction {
    /// Stepped by this many seconds.
    Step(f64),
    /// A slew toward this phase started (it is taken out over time).
    Slew(f64),
    /// Past the panic threshold: left alone, as ntpd exits rather than correct.
    Panic(f64),
}

#[derive(Clone, Debug)]
pub struct VClock {
    /// Seconds ahead of the host clock at `at_ns`.
    offset: f64,
    at_ns: i64,
    /// The node's true frequency error (s/s), fixed.
    freq_error: f64,
    /// The discipline's frequency correction (s/s).
    pub freq_corr: f64,
    /// Phase still to slew out (s; positive: the clock must go forward).
    pub phase_left: f64,
    pub slew_max: f64,
    /// Monotonic time of the last update.
    last_update: Option<i64>,
    pub steps: u32,
    pub panics: u32,
    /// Set once an update was applied.
    pub synchronized: bool,
}

impl VClock {
    pub fn new(offset: f64, freq_ppm: f64, slew_ppm: Option<f64>, now_ns: i64) -> VClock {
        VClock {
            offset,
            at_ns: now_ns,
            freq_error: freq_ppm * 1e-6,
            freq_corr: 0.0,
            phase_left: 0.0,
            slew_max: slew_ppm.unwrap_or(500.0) * 1e-6,
            last_update: None,
            steps: 0,
            panics: 0,
            synchronized: false,
        }
    }

    /// The slew rate now (s/s).
    fn slew_rate(&self) -> f64 {
        (self.phase_left / TAU).clamp(-self.slew_max, self.slew_max)
    }

    /// The clock as a [`Skew`] valid until the next call (the slew rate is
    /// constant in between).
    pub fn skew(&self) -> Skew {
        Skew {
            offset: self.offset,
            rate: self.freq_error - self.freq_corr + self.slew_rate(),
            at_ns: self.at_ns,
        }
    }

    /// Seconds ahead of true (host) time at `now_ns`.
    pub fn offset_at(&self, now_ns: i64) -> f64 {
        self.skew().offset_at(now_ns)
    }

    /// Advances to `now_ns`; returns the seconds slewed since the last call
    /// (the correction the engine's samples must be restated by).
    pub fn advance(&mut self, now_ns: i64) -> f64 {
        let dt = ((now_ns - self.at_ns) as f64 * 1e-9).max(0.0);
        let rate = self.slew_rate();
        let mut slewed = rate * dt;
        // Never past the target.
        if slewed.abs() > self.phase_left.abs() {
            slewed = self.phase_left;
        }
        self.offset += (self.freq_error - self.freq_corr) * dt + slewed;
        self.phase_left -= slewed;
        self.at_ns = now_ns;
        slewed
    }

    /// Another agent set the clock to `offset` seconds ahead of true time
    /// (no correction of this discipline's). Call [`VClock::advance`]
    /// first. Returns how far it moved the clock.
    pub fn set_by_another(&mut self, offset: f64) -> f64 {
        let by = offset - self.offset;
        self.offset = offset;
        self.phase_left = 0.0;
        by
    }

    /// The clock stood still for `s` seconds (a paused VM's): it resumes
    /// that far behind. No correction: nothing here made it. Call
    /// [`VClock::advance`] first.
    pub fn stand_still(&mut self, s: f64) {
        self.offset -= s;
    }

    /// A new system offset (server − this clock, seconds) from a new sample.
    /// Call [`VClock::advance`] first.
    pub fn update(&mut self, now_ns: i64, theta: f64) -> Correction {
        if theta.abs() > PANIC {
            self.panics += 1;
            return Correction::Panic(theta);
        }
        self.synchronized = true;
        if theta.abs() > STEP {
            self.offset += theta;
            self.phase_left = 0.0;
            self.steps += 1;
            self.last_update = Some(now_ns);
            return Correction::Step(theta);
        }
        // The engine's samples are restated by every slice slewed, so a new
        // offset is the phase still to slew plus the drift since the last
        // update: what it differs from the phase left is the frequency
        // error left (θ = left − drift·dt).
        if let Some(t0) = self.last_update {
            let dt = (now_ns - t0) as f64 * 1e-9;
            // Over short intervals (a burst) measurement noise would pass
            // for frequency: the loop listens from 16 s on.
            if dt >= FLL_MIN {
                let drift = (self.phase_left - theta) / dt;
                let gain = dt / (dt + 16.0);
                self.freq_corr = (self.freq_corr + gain * drift).clamp(-MAXFREQ, MAXFREQ);
            }
        }
        self.phase_left = theta;
        self.last_update = Some(now_ns);
        Correction::Slew(theta)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    /// A server on true time, measured exactly every `poll` s: the clock
    /// converges, whatever its offset and frequency error.
    fn converge(offset: f64, ppm: f64, poll: i64, secs: i64) -> (VClock, f64) {
        let mut c = VClock::new(offset, ppm, None, 0);
        let mut t = 0;
        while t < secs * S {
            t += S / 4;
            c.advance(t);
            if t % (poll * S) == 0 {
                let theta = -c.offset_at(t);
                c.update(t, theta);
            }
        }
        let off = c.offset_at(t);
        (c, off)
    }

    #[test]
    fn slews_small_offsets_steps_large_ones_panics_past_1000s() {
        let (c, off) = converge(0.1, 0.0, 2, 400);
        assert_eq!(c.steps, 0, "100 ms is slewed");
        assert!(off.abs() < 1e-4, "{off}");
        let (c, off) = converge(0.5, 0.0, 2, 60);
        assert_eq!(c.steps, 1);
        assert!(off.abs() < 1e-6, "{off}");
        let mut c = VClock::new(2000.0, 0.0, None, 0);
        assert_eq!(c.update(S, -2000.0), Correction::Panic(-2000.0));
        assert!((c.offset_at(S) - 2000.0).abs() < 1e-9, "left alone");
        assert!(!c.synchronized);
    }

    #[test]
    fn the_frequency_loop_takes_out_a_frequency_error() {
        let (c, off) = converge(0.01, 50.0, 16, 2000);
        assert!((c.freq_corr - 50e-6).abs() < 1e-6, "{}", c.freq_corr);
        assert!(off.abs() < 1e-4, "{off}");
    }

    #[test]
    fn a_slew_in_progress_is_not_taken_for_a_frequency_error() {
        // 100 ms to slew at 500 ppm takes 200 s; measured every 16 s, the
        // frequency correction must stay near the true error (0), not chase
        // the slew.
        let mut c = VClock::new(0.1, 0.0, None, 0);
        let mut t = 0;
        while t < 100 * S {
            t += S / 4;
            c.advance(t);
            if t % (16 * S) == 0 {
                let theta = -c.offset_at(t);
                c.update(t, theta);
            }
        }
        assert!(c.freq_corr.abs() < 1e-7, "{}", c.freq_corr);
    }

    #[test]
    fn a_slew_never_goes_faster_than_the_limit() {
        let mut c = VClock::new(0.1, 0.0, None, 0);
        c.update(0, -0.1);
        let slewed = c.advance(10 * S);
        assert!((slewed + 0.005).abs() < 1e-9, "500 ppm × 10 s: {slewed}");
    }
}

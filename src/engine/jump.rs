//! Clock jumps no daemon here made, from two kinds of evidence (sans-IO:
//! the clock readings and the samples are handed in):
//!
//! - **seen locally**: CLOCK_REALTIME − CLOCK_MONOTONIC changes only when
//!   the clock is stepped (a slew moves both alike: adjtimex(2)); and
//!   CLOCK_BOOTTIME − CLOCK_MONOTONIC grows by the time spent suspended.
//!   A change of the first between two readings is a step someone made;
//!   with the second grown as much, a suspend the kernel accounted for.
//! - **unseen**: a paused VM's clock stands still and resumes where it
//!   stopped, with no step in its own clocks. Then every source's offset
//!   (server − local) moves by the same amount between two samples: two or
//!   more sources agreeing on a move of half a second or more, while no
//!   local step explains it, are the local clock, not the servers.

/// The three clocks read at (nearly) one moment, in seconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Reading {
    pub monotonic: f64,
    pub realtime: f64,
    pub boottime: f64,
}

/// A jump of this clock.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Jump {
    /// CLOCK_REALTIME stepped by `by_s` between two readings `between_s`
    /// apart (monotonic), with `suspended_s` of suspend between them.
    Local {
        at: f64,
        by_s: f64,
        suspended_s: f64,
        between_s: f64,
    },
    /// `sources` sources' offsets moved together: this clock moved by
    /// `by_s` (the negative of their move) with no step seen here.
    Unseen { at: f64, by_s: f64, sources: usize },
}

/// A step smaller than this is not reported (two clock reads are not
/// atomic; microseconds apart).
pub const LOCAL_MIN: f64 = 0.01;
/// Sources must move at least this much together.
pub const UNSEEN_MIN: f64 = 0.5;
/// How close their moves must be: this, or 5 % of the move.
pub const AGREE: f64 = 0.05;
/// Moves this far apart in time (s) are not one jump.
pub const WINDOW: f64 = 1100.0;

#[derive(Clone, Debug, Default)]
pub struct Detector {
    last: Option<Reading>,
    /// Steps the driver made since the last reading: not jumps.
    own: f64,
    /// Per source: its newest sample (time, offset).
    newest: Vec<Option<(f64, f64)>>,
    /// Moves seen and not yet explained: (source, time, move).
    moves: Vec<(usize, f64, f64)>,
}

impl Detector {
    pub fn new() -> Detector {
        Detector::default()
    }

    /// A new reading of the clocks; a step since the last one, if any.
    pub fn clocks(&mut self, r: Reading) -> Option<Jump> {
        let own = std::mem::take(&mut self.own);
        let last = self.last.replace(r)?;
        let by = (r.realtime - r.monotonic) - (last.realtime - last.monotonic) - own;
        let suspended = ((r.boottime - r.monotonic) - (last.boottime - last.monotonic)).max(0.0);
        if by.abs() < LOCAL_MIN {
            return None;
        }
        // The sources' offsets will move by −by: that is this step.
        self.stepped(by);
        Some(Jump::Local {
            at: r.monotonic,
            by_s: by,
            suspended_s: suspended,
            between_s: r.monotonic - last.monotonic,
        })
    }

    /// The local clock was moved on purpose by `by` (a slice of a slew):
    /// samples taken before it are restated against the moved clock.
    pub fn expect(&mut self, by: f64) {
        for (_, o) in self.newest.iter_mut().flatten() {
            *o -= by;
        }
    }

    /// The local clock was stepped by `by` (a step already reported):
    /// restated, and moves seen before it are dropped.
    pub fn stepped(&mut self, by: f64) {
        self.expect(by);
        self.moves.clear();
    }

    /// The driver stepped the clock by `by` itself: restated, and not a
    /// jump when the clocks are next read (moves seen before it still count:
    /// a driver steps after a jump it did not make).
    pub fn driver_stepped(&mut self, by: f64) {
        self.expect(by);
        self.own += by;
    }

    /// Source `i`'s newest sample (time, offset); a jump when it and
    /// another source have moved together.
    pub fn sample(&mut self, i: usize, t: f64, offset: f64) -> Option<Jump> {
        if self.newest.len() <= i {
            self.newest.resize(i + 1, None);
        }
        let prev = self.newest[i].replace((t, offset));
        let (pt, po) = prev?;
        if pt >= t {
            self.newest[i] = Some((pt, po));
            return None;
        }
        let mv = offset - po;
        self.moves.retain(|(_, at, _)| t - at <= WINDOW);
        if mv.abs() < UNSEEN_MIN {
            return None;
        }
        self.moves.retain(|(s, ..)| *s != i);
        let agree: Vec<usize> = self
            .moves
            .iter()
            .filter(|(_, _, m)| (m - mv).abs() <= AGREE.max(0.05 * mv.abs()))
            .map(|(s, ..)| *s)
            .collect();
        if agree.is_empty() {
            self.moves.push((i, t, mv));
            return None;
        }
        self.moves.clear();
        Some(Jump::Unseen {
            at: t,
            by_s: -mv,
            sources: agree.len() + 1,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(mono: f64, real: f64, boot: f64) -> Reading {
        Reading {
            monotonic: mono,
            realtime: real,
            boottime: boot,
        }
    }

    #[test]
    fn steps_and_suspends_in_the_clocks() {
        let mut d = Detector::new();
        assert_eq!(d.clocks(r(100.0, 1e9, 100.0)), None);
        // A slew moves both clocks: nothing.
        assert_eq!(d.clocks(r(101.0, 1e9 + 1.0, 101.0)), None);
        // Stepped 63 s forward.
        assert!(matches!(
            d.clocks(r(102.0, 1e9 + 65.0, 102.0)),
            Some(Jump::Local { by_s, suspended_s, .. }) if (by_s - 63.0).abs() < 1e-6 && suspended_s == 0.0
        ));
        // A suspend of an hour: both grew by it.
        assert!(matches!(
            d.clocks(r(103.0, 1e9 + 3666.0, 3703.0)),
            Some(Jump::Local { by_s, suspended_s, .. }) if (by_s - 3600.0).abs() < 1e-6 && (suspended_s - 3600.0).abs() < 1e-6
        ));
    }

    #[test]
    fn every_source_moving_together_is_this_clock() {
        let mut d = Detector::new();
        for i in 0..3 {
            assert_eq!(d.sample(i, 10.0, 0.001 * i as f64), None);
        }
        // One source moving alone: the server's own step, not ours.
        assert_eq!(d.sample(0, 74.0, 5.0), None);
        // Paused 63 s: every offset grows by 63.
        assert_eq!(d.sample(1, 80.0, 63.0), None);
        assert!(matches!(
            d.sample(2, 81.0, 63.002),
            Some(Jump::Unseen { by_s, sources: 2, .. }) if (by_s + 63.0).abs() < 0.01
        ));
        // A step this driver made restates the samples: no jump after it,
        // neither in the samples nor in the clocks.
        let mut d = Detector::new();
        d.clocks(r(5.0, 1e9, 5.0));
        d.sample(0, 10.0, 2.0);
        d.sample(1, 10.0, 2.0);
        d.driver_stepped(2.0);
        assert_eq!(d.clocks(r(11.0, 1e9 + 8.0, 11.0)), None);
        assert_eq!(d.sample(0, 20.0, 0.0), None);
        assert_eq!(d.sample(1, 20.0, 0.0), None);
    }
}

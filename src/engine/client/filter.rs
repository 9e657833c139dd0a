//! The clock filter (RFC 5905 §10): eight (offset, delay, dispersion,
//! time) tuples; the lowest-delay one gives the peer's offset and delay,
//! the weighted sum of dispersions its dispersion, the RMS of offset
//! differences its jitter. A sample is used once, never one older than the
//! last used.

use crate::engine::limits::{MAXDISP, PHI};

pub const NSTAGE: usize = 8;

#[derive(Clone, Copy, Debug, PartialEq)]
struct Stage {
    offset: f64,
    delay: f64,
    disp: f64,
    /// Local time of the sample (s since the engine started).
    t: f64,
}

const EMPTY: Stage = Stage {
    offset: 0.0,
    delay: MAXDISP,
    disp: MAXDISP,
    t: 0.0,
};

/// The filter and the peer variables it produces.
#[derive(Clone, Debug, PartialEq)]
pub struct ClockFilter {
    /// Newest first.
    stages: [Stage; NSTAGE],
    pub offset: f64,
    pub delay: f64,
    pub disp: f64,
    pub jitter: f64,
    /// Time of the sample the peer variables come from; `None` before one.
    pub t: Option<f64>,
}

impl Default for ClockFilter {
    fn default() -> Self {
        ClockFilter {
            stages: [EMPTY; NSTAGE],
            offset: 0.0,
            delay: MAXDISP,
            disp: MAXDISP,
            jitter: 0.0,
            t: None,
        }
    }
}

impl ClockFilter {
    /// Adds a sample taken at `t` and recomputes the peer variables;
    /// `precision` (s) floors the jitter. Returns whether offset and delay
    /// were updated (a new, not older, lowest-delay sample).
    pub fn add(&mut self, offset: f64, delay: f64, disp: f64, t: f64, precision: f64) -> bool {
        self.add_sorted(offset, delay, disp, t, precision, true)
    }

    /// [`ClockFilter::add`]; with `sort` false the stages keep their
    /// arrival order (newest first), as ntpsec's clock_filter does until its
    /// loop has a frequency (`freq_cnt == 0`): the newest sample then gives
    /// the peer offset and delay.
    pub fn add_sorted(
        &mut self,
        offset: f64,
        delay: f64,
        disp: f64,
        t: f64,
        precision: f64,
        sort: bool,
    ) -> bool {
        self.stages.rotate_right(1);
        self.stages[0] = Stage {
            offset,
            delay,
            disp,
            t,
        };
        // Age each dispersion to now, then order by delay; stages at
        // MAXDISP (empty or dummy) go last whatever their delay.
        let mut s: Vec<Stage> = self
            .stages
            .iter()
            .map(|x| Stage {
                disp: (x.disp + PHI * (t - x.t).max(0.0)).min(MAXDISP),
                ..*x
            })
            .collect();
        if sort {
            s.sort_by(|a, b| {
                let ka = if a.disp >= MAXDISP { f64::MAX } else { a.delay };
                let kb = if b.disp >= MAXDISP { f64::MAX } else { b.delay };
                ka.total_cmp(&kb)
            });
        }
        self.disp = s
            .iter()
            .enumerate()
            .map(|(i, x)| x.disp / f64::powi(2.0, i as i32 + 1))
            .sum();
        let valid: Vec<&Stage> = s.iter().filter(|x| x.disp < MAXDISP).collect();
        let best = s[0];
        // Erratum 5600: the 1/(n-1) goes inside the square root.
        self.jitter = if valid.len() > 1 {
            (valid
                .iter()
                .map(|x| (best.offset - x.offset).powi(2))
                .sum::<f64>()
                / (valid.len() - 1) as f64)
                .sqrt()
        } else {
            0.0
        }
        .max(precision);
        if best.disp >= MAXDISP {
            return false;
        }
        if self.t.is_some_and(|last| best.t <= last) {
            return false;
        }
        self.offset = best.offset;
        self.delay = best.delay;
        self.t = Some(best.t);
        true
    }

    /// A dummy sample (0, 0, MAXDISP): what a poll without a reply adds.
    pub fn dummy(&mut self, t: f64, precision: f64) {
        self.add(0.0, 0.0, MAXDISP, t, precision);
    }

    /// The local clock moved by `by` seconds (stepped or slewed forward
    /// when positive): every sample's offset is restated against the moved
    /// clock, as if it had been taken with it (offset = server − local).
    pub fn shift(&mut self, by: f64) {
        for x in self.stages.iter_mut().filter(|x| x.disp < MAXDISP) {
            x.offset -= by;
        }
        if self.t.is_some() {
            self.offset -= by;
        }
    }

    /// The newest real sample: (its time, its offset).
    pub fn newest(&self) -> Option<(f64, f64)> {
        let s = self.stages[0];
        (s.disp < MAXDISP).then_some((s.t, s.offset))
    }

    /// Valid (not dummy, not empty) stages.
    pub fn samples(&self) -> usize {
        self.stages.iter().filter(|x| x.disp < MAXDISP).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 5905 §10 (l.822): with every stage empty the dispersion is just
    /// under 16 s; each valid sample roughly halves it; after 4 it is < 1 s.
    #[test]
    fn dispersion_identities() {
        let f = ClockFilter::default();
        let all: f64 = (0..8).map(|i| MAXDISP / f64::powi(2.0, i + 1)).sum();
        assert!(all < 16.0 && all > 15.9, "{all}");
        let mut f = f;
        let mut last = f.disp;
        for i in 0..4 {
            f.add(0.001, 0.010, 0.0001, i as f64, 1e-6);
            assert!(f.disp < last * 0.6, "{i}: {} vs {last}", f.disp);
            last = f.disp;
        }
        assert!(f.disp < 1.0, "{}", f.disp);
    }

    #[test]
    fn lowest_delay_wins_and_is_used_once() {
        let mut f = ClockFilter::default();
        assert!(f.add(0.5, 0.020, 0.0, 1.0, 1e-6));
        // A worse-delay sample later does not change the peer offset.
        assert!(!f.add(0.9, 0.080, 0.0, 2.0, 1e-6));
        assert_eq!((f.offset, f.delay), (0.5, 0.020));
        // A better one does.
        assert!(f.add(0.4, 0.010, 0.0, 3.0, 1e-6));
        assert_eq!(f.offset, 0.4);
        // Jitter: RMS of differences to the best, over n-1.
        let want = (((0.4f64 - 0.5).powi(2) + (0.4f64 - 0.9).powi(2)) / 2.0).sqrt();
        assert!((f.jitter - want).abs() < 1e-12, "{} {want}", f.jitter);
    }

    #[test]
    fn dummies_do_not_become_the_peer_offset() {
        let mut f = ClockFilter::default();
        f.add(0.25, 0.010, 0.0, 1.0, 1e-6);
        for t in 2..10 {
            f.dummy(t as f64, 1e-6);
        }
        // Eight dummies pushed the sample out: nothing valid left.
        assert_eq!(f.samples(), 0);
        assert!(f.disp > 15.0);
        assert_eq!(f.offset, 0.25, "the last used offset is kept");
    }
}

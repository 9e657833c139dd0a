//! The discriminating inputs of ENGINE.md §5, a brute-force oracle for up
//! to 8 sources (every subset enumerated: no sweep, no sort), and the
//! invariants: permuting sources or shifting every offset by a constant
//! changes no tally; survivors are empty or more than half (RFC, ntpd).

use proptest::prelude::*;

use super::*;

fn c(offset: f64, distance: f64) -> Candidate {
    Candidate {
        offset,
        distance,
        stratum: 2,
        jitter: 0.0,
        prefer: false,
    }
}

#[test]
fn the_three_rules_disagree_on_the_discriminating_input() {
    // A = 0 ± 2 ms, B = +1 ± 2 ms, C = +9 ± 6.5 ms.
    let v = [c(0.0, 2.0), c(1.0, 2.0), c(9.0, 6.5)];
    assert_eq!(
        intersect(Selection::RfcMidpoint, &v).truechimer,
        [true, true, false]
    );
    assert_eq!(
        intersect(Selection::NtpdOverlap, &v).truechimer,
        [true, true, true]
    );
    // chrony: best interval [-1, 3] (lo of the first depth-2 region, hi of
    // the last); only B contains it or lies inside it.
    let x = intersect(Selection::ChronyContain, &v);
    assert_eq!(x.interval, Some((-1.0, 3.0)));
    assert_eq!(x.truechimer, [false, true, false]);
}

#[test]
fn erratum_6207_n_minus_allow() {
    // A = 3 ± 1, B = 5 ± 3, C = 8 ± 5: all three truechimers with `n - allow`.
    let v = [c(3.0, 1.0), c(5.0, 3.0), c(8.0, 5.0)];
    let x = intersect(Selection::RfcMidpoint, &v);
    assert_eq!(x.truechimer, [true, true, true]);
    assert_eq!(x.interval, Some((2.0, 8.0)));
}

#[test]
fn no_majority_leaves_every_source_a_falseticker() {
    // Three sources that pairwise disagree.
    let v = [c(0.0, 1.0), c(10.0, 1.0), c(20.0, 1.0)];
    for rule in [
        Selection::RfcMidpoint,
        Selection::NtpdOverlap,
        Selection::ChronyContain,
    ] {
        let x = intersect(rule, &v);
        assert_eq!(x.truechimer, [false, false, false], "{rule:?}");
        assert_eq!(x.interval, None);
    }
}

#[test]
fn cluster_drops_the_outlier_and_keeps_minclock() {
    let mut v = vec![
        c(0.000, 0.01),
        c(0.001, 0.01),
        c(0.002, 0.01),
        c(0.050, 0.01),
    ];
    for x in &mut v {
        x.jitter = 0.0005;
    }
    let k = cluster(&v, &[0, 1, 2, 3], 1.5, 3, 10, true);
    assert_eq!(k.outliers, [3]);
    assert_eq!(k.kept.len(), 3);
    // Eleven survivors spread in offset, maxclock 10: the first one dropped
    // (the worst selection jitter, at an end) is a backup, the next ones
    // outliers, down to minclock.
    let mut w: Vec<Candidate> = (0..11).map(|i| c(i as f64 * 1e-3, 0.01)).collect();
    for x in &mut w {
        x.jitter = 1e-5;
    }
    let idx: Vec<usize> = (0..11).collect();
    let k = cluster(&w, &idx, 1.5, 3, 10, true);
    assert_eq!(k.backups.len(), 1, "{k:?}");
    assert!(k.backups[0] == 0 || k.backups[0] == 10, "{k:?}");
    assert_eq!(k.kept.len(), 3, "{k:?}");
    assert_eq!(k.outliers.len(), 7);
    // The same survivors 1000 s off: the same decisions (no cancellation).
    let far: Vec<Candidate> = v
        .iter()
        .map(|x| Candidate {
            offset: x.offset + 1000.0,
            ..*x
        })
        .collect();
    assert_eq!(cluster(&far, &[0, 1, 2, 3], 1.5, 3, 10, true).outliers, [3]);
    // Combine: equal distances give the mean.
    let (o, _) = combine(&v, &[0, 1, 2]);
    assert!((o - 0.001).abs() < 1e-12, "{o}");
}

/// Every subset of the candidates: the common interval of each, by size.
fn oracle(rule: Selection, c: &[Candidate]) -> Vec<bool> {
    let n = c.len();
    let common = |k: usize| -> Option<(f64, f64)> {
        // The lowest and highest points covered by k intervals at once.
        let (mut l, mut u) = (f64::INFINITY, f64::NEG_INFINITY);
        for mask in 0u32..(1 << n) {
            if mask.count_ones() as usize != k {
                continue;
            }
            let set: Vec<&Candidate> = (0..n)
                .filter(|i| mask & (1 << i) != 0)
                .map(|i| &c[i])
                .collect();
            let a = set
                .iter()
                .map(|x| x.offset - x.distance)
                .fold(f64::NEG_INFINITY, f64::max);
            let b = set
                .iter()
                .map(|x| x.offset + x.distance)
                .fold(f64::INFINITY, f64::min);
            if a <= b {
                l = l.min(a);
                u = u.max(b);
            }
        }
        (l <= u).then_some((l, u))
    };
    match rule {
        Selection::RfcMidpoint | Selection::NtpdOverlap => {
            let mut allow = 0;
            while 2 * allow < n {
                if let Some((l, u)) = common(n - allow) {
                    let outside = c.iter().filter(|x| x.offset < l || x.offset > u).count();
                    let ok = l < u && (rule == Selection::NtpdOverlap || outside <= allow);
                    if ok {
                        return c
                            .iter()
                            .map(|x| {
                                if rule == Selection::RfcMidpoint {
                                    x.offset >= l && x.offset <= u
                                } else {
                                    x.offset - x.distance <= u && x.offset + x.distance >= l
                                }
                            })
                            .collect();
                    }
                }
                allow += 1;
            }
            vec![false; n]
        }
        Selection::ChronyContain => {
            let best = (1..=n).rev().find(|k| common(*k).is_some()).unwrap_or(0);
            if best <= n / 2 {
                return vec![false; n];
            }
            let (lo, hi) = common(best).unwrap();
            c.iter()
                .map(|x| {
                    let (a, b) = (x.offset - x.distance, x.offset + x.distance);
                    (a <= lo && b >= hi) || (a >= lo && b <= hi)
                })
                .collect()
        }
    }
}

fn candidates() -> impl Strategy<Value = Vec<Candidate>> {
    // Whole numbers: shifting them is exact.
    prop::collection::vec((-20i32..=20, 1i32..=10), 1..=8)
        .prop_map(|v| v.into_iter().map(|(o, d)| c(o as f64, d as f64)).collect())
}

const RULES: [Selection; 3] = [
    Selection::RfcMidpoint,
    Selection::NtpdOverlap,
    Selection::ChronyContain,
];

proptest! {
    #[test]
    fn sweep_agrees_with_brute_force(v in candidates()) {
        for rule in RULES {
            prop_assert_eq!(intersect(rule, &v).truechimer, oracle(rule, &v), "{:?}", rule);
        }
    }

    #[test]
    fn permuting_or_shifting_changes_no_tally(v in candidates(), shift in -50i32..50, rot in 0usize..8) {
        for rule in RULES {
            let base = intersect(rule, &v).truechimer;
            let mut p = v.clone();
            let r = rot % p.len();
            p.rotate_left(r);
            p.reverse();
            let mut want = base.clone();
            want.rotate_left(r);
            want.reverse();
            prop_assert_eq!(intersect(rule, &p).truechimer, want, "{:?} permuted", rule);
            let s: Vec<Candidate> = v.iter().map(|x| c(x.offset + shift as f64, x.distance)).collect();
            prop_assert_eq!(intersect(rule, &s).truechimer, base, "{:?} shifted", rule);
        }
    }

    #[test]
    fn survivors_are_none_or_a_majority(v in candidates()) {
        for rule in [Selection::RfcMidpoint, Selection::NtpdOverlap] {
            let t = intersect(rule, &v).truechimer.iter().filter(|x| **x).count();
            prop_assert!(t == 0 || 2 * t > v.len(), "{:?}: {} of {}", rule, t, v.len());
        }
    }
}

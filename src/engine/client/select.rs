//! Selection, cluster and combine (RFC 5905 §11.2; ENGINE.md §5-6): which
//! candidates are truechimers under each rule, which survivors the cluster
//! algorithm keeps, the system peer, and the combined offset and jitter.
//! Pure functions over [`Candidate`]s.

use super::rules::Selection;

/// A source that passed the fit tests: its correctness interval is
/// `offset ± distance`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Candidate {
    pub offset: f64,
    /// Root distance λ (s).
    pub distance: f64,
    pub stratum: u8,
    /// Peer jitter ψ (s).
    pub jitter: f64,
    pub prefer: bool,
}

impl Candidate {
    fn lo(&self) -> f64 {
        self.offset - self.distance
    }
    fn hi(&self) -> f64 {
        self.offset + self.distance
    }
}

/// The outcome of the intersection: the interval found (if any) and, per
/// candidate, whether it is a truechimer.
#[derive(Clone, Debug, PartialEq)]
pub struct Intersection {
    pub interval: Option<(f64, f64)>,
    pub truechimer: Vec<bool>,
    /// Falsetickers the rule allowed for (RFC, ntpd), or the best depth (chrony).
    pub allow: usize,
}

/// Endpoint types, sorted lows first at equal values (touching intervals
/// overlap).
const LOW: i8 = -1;
const MID: i8 = 0;
const HIGH: i8 = 1;

fn endpoints(c: &[Candidate], midpoints: bool) -> Vec<(f64, i8)> {
    let mut e = Vec::with_capacity(c.len() * 3);
    for x in c {
        e.push((x.lo(), LOW));
        if midpoints {
            e.push((x.offset, MID));
        }
        e.push((x.hi(), HIGH));
    }
    e.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    e
}

/// The intersection by `rule`.
pub fn intersect(rule: Selection, c: &[Candidate]) -> Intersection {
    let n = c.len();
    let none = Intersection {
        interval: None,
        truechimer: vec![false; n],
        allow: 0,
    };
    if n == 0 {
        return none;
    }
    match rule {
        Selection::RfcMidpoint | Selection::NtpdOverlap => {
            let mids = rule == Selection::RfcMidpoint;
            let e = endpoints(c, mids);
            let mut allow = 0;
            while 2 * allow < n {
                let need = (n - allow) as i64;
                let mut found = 0;
                let mut chime = 0i64;
                let mut l = f64::INFINITY;
                for &(v, t) in &e {
                    chime -= t as i64;
                    if chime >= need {
                        l = v;
                        break;
                    }
                    if t == MID {
                        found += 1;
                    }
                }
                chime = 0;
                let mut u = f64::NEG_INFINITY;
                for &(v, t) in e.iter().rev() {
                    chime += t as i64;
                    if chime >= need {
                        u = v;
                        break;
                    }
                    if t == MID {
                        found += 1;
                    }
                }
                // Erratum 6207: compare against `allow`, not `found`.
                if (!mids || found <= allow) && l < u {
                    let truechimer = c
                        .iter()
                        .map(|x| {
                            if mids {
                                x.offset >= l && x.offset <= u
                            } else {
                                x.lo() <= u && x.hi() >= l
                            }
                        })
                        .collect();
                    return Intersection {
                        interval: Some((l, u)),
                        truechimer,
                        allow,
                    };
                }
                allow += 1;
            }
            none
        }
        Selection::ChronyContain => {
            let e = endpoints(c, false);
            let (mut depth, mut best) = (0usize, 0usize);
            let (mut lo, mut hi) = (0.0, 0.0);
            for &(v, t) in &e {
                if t == LOW {
                    depth += 1;
                    if depth > best {
                        best = depth;
                        lo = v;
                    }
                } else {
                    if depth == best {
                        hi = v;
                    }
                    depth -= 1;
                }
            }
            if best <= n / 2 {
                return Intersection {
                    allow: best,
                    ..none
                };
            }
            let truechimer = c
                .iter()
                .map(|x| (x.lo() <= lo && x.hi() >= hi) || (x.lo() >= lo && x.hi() <= hi))
                .collect();
            Intersection {
                interval: Some((lo, hi)),
                truechimer,
                allow: best,
            }
        }
    }
}

/// RFC 5905 §11.2.2 sort key: stratum · MAXDIST + λ.
fn metric(c: &Candidate, maxdist: f64) -> f64 {
    c.stratum as f64 * maxdist + c.distance
}

/// What the cluster algorithm made of the survivors.
#[derive(Clone, Debug, PartialEq)]
pub struct Clustered {
    /// Kept, best first: the first is the system peer.
    pub kept: Vec<usize>,
    /// Dropped as outliers (`-`).
    pub outliers: Vec<usize>,
    /// Beyond maxclock (`#`).
    pub backups: Vec<usize>,
}

/// The cluster algorithm over the truechimers `idx`, as ntpsec runs it
/// (`ntp_proto.c` clock_select): while more than max(1, `minclock`)
/// survive, find the survivor whose selection jitter — weighted by its
/// root distance when `weighted` (ntpsec), plain in the RFC — is worst; stop
/// when its selection jitter is not above the smallest peer jitter, or it
/// is a `prefer` peer; otherwise drop it: as a backup (`#`) while more than
/// `maxclock` survive, else as an outlier (`-`). The survivors are ordered
/// by stratum · MAXDIST + λ (RFC 5905 §11.2.2); the first is the system peer
/// (a `prefer` survivor first).
pub fn cluster(
    c: &[Candidate],
    idx: &[usize],
    maxdist: f64,
    minclock: usize,
    maxclock: usize,
    weighted: bool,
) -> Clustered {
    let mut s: Vec<usize> = idx.to_vec();
    let mut outliers = vec![];
    let mut backups = vec![];
    // Σθ and Σθ² over the survivors: each selection jitter is then O(1),
    // Σj (θi − θj)² = n·θi² − 2·θi·Σθ + Σθ², and a round O(n). Offsets are
    // taken from a reference among them, so that large offsets (1000 s)
    // do not cancel away microsecond differences.
    let base = s.first().map_or(0.0, |i| c[*i].offset);
    let th = |i: usize| c[i].offset - base;
    let mut sum: f64 = s.iter().map(|i| th(*i)).sum();
    let mut sum2: f64 = s.iter().map(|i| th(*i).powi(2)).sum();
    while s.len() > minclock.max(1) {
        let n = s.len() as f64;
        let min_psi = s.iter().map(|i| c[*i].jitter).fold(f64::INFINITY, f64::min);
        let (mut worst, mut worst_metric, mut worst_phi) = (s[0], f64::NEG_INFINITY, 0.0);
        for &i in &s {
            let o = th(i);
            let phi = ((n * o * o - 2.0 * o * sum + sum2).max(0.0) / (n - 1.0)).sqrt();
            let m = if weighted { phi * c[i].distance } else { phi };
            if m > worst_metric {
                (worst, worst_metric, worst_phi) = (i, m, phi);
            }
        }
        if worst_phi <= min_psi || c[worst].prefer {
            break;
        }
        if s.len() > maxclock {
            backups.push(worst);
        } else {
            outliers.push(worst);
        }
        s.retain(|i| *i != worst);
        sum -= th(worst);
        sum2 -= th(worst).powi(2);
    }
    s.sort_by(|a, b| metric(&c[*a], maxdist).total_cmp(&metric(&c[*b], maxdist)));
    if let Some(p) = s.iter().position(|i| c[*i].prefer) {
        let p = s.remove(p);
        s.insert(0, p);
    }
    Clustered {
        kept: s,
        outliers,
        backups,
    }
}

/// Combined offset Σ(θ/λ)/Σ(1/λ) over `kept`, and system jitter
/// √(ψs² + ψp²) where ψs is the weighted RMS of the survivors' offsets
/// from the system peer's (RFC 5905 §11.2.3).
pub fn combine(c: &[Candidate], kept: &[usize]) -> (f64, f64) {
    let Some(&peer) = kept.first() else {
        return (0.0, 0.0);
    };
    let w: f64 = kept.iter().map(|i| 1.0 / c[*i].distance.max(1e-9)).sum();
    let offset = kept
        .iter()
        .map(|i| c[*i].offset / c[*i].distance.max(1e-9))
        .sum::<f64>()
        / w;
    let psi_s = (kept
        .iter()
        .map(|i| (c[*i].offset - c[peer].offset).powi(2) / c[*i].distance.max(1e-9))
        .sum::<f64>()
        / w)
        .sqrt();
    (offset, (psi_s.powi(2) + c[peer].jitter.powi(2)).sqrt())
}

#[cfg(test)]
mod tests;

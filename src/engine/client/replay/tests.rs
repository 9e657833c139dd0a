//! ntpsec's own trace replayed through the engine: the rawstats and
//! peerstats ntpd wrote in `watch_netns` (3 good servers, one at +1 s; kept
//! in fixtures/replay/ with NTPDIAG_UPDATE_FIXTURES=1).

use super::*;
use crate::engine::client::{Profile, Rules};

fn fixture(name: &str) -> String {
    std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/replay")
            .join(name),
    )
    .unwrap()
}

/// The select code of a peer status word (bits 8-10) as a tally.
fn tally(status: u16) -> char {
    " x.-+#*o"
        .chars()
        .nth(((status >> 8) & 7) as usize)
        .unwrap()
}

#[test]
fn ntpd_trace_replays_line_by_line() {
    replay_trace("ntpd-3good-1off");
}

/// Eleven good servers: the same line-by-line checks, and every source
/// used (or not) as ntpq showed it at the end. Which survivors ntpd made
/// backups (#) or outliers (-) is not yet reproduced exactly: printed.
#[test]
fn ntpd_eleven_server_trace_replays_line_by_line() {
    let ours = replay_trace("ntpd-11good");
    let ntpq = fixture("ntpd-11good.ntpq");
    for (name, tally) in ours {
        let line = ntpq.lines().find(|l| l.contains(&name)).unwrap();
        eprintln!(
            "{name}: ours '{tally}' ntpq '{}'",
            line.chars().next().unwrap()
        );
    }
}

/// Replays `name`.rawstats against `name`.peerstats and `name`.ntpq;
/// returns the end tallies by source name.
fn replay_trace(name: &str) -> Vec<(String, char)> {
    let (raw, bad_raw) = rawstats(&fixture(&format!("{name}.rawstats")));
    let (peer, bad_peer) = peerstats(&fixture(&format!("{name}.peerstats")));
    assert_eq!((bad_raw, bad_peer), (0, 0));
    assert!(raw.len() >= 40, "{}", raw.len());
    // This ntpd ran with `disable ntp` and no drift file: its clock loop
    // never gets a frequency, so its clock_filter never sorts by delay
    // (ntp_proto.c: `if (freq_cnt == 0)` guards the sort).
    let rules = Rules {
        filter_sorts: false,
        ..Rules::of(Profile::Ntpd)
    };
    let mut e = engine_for(&raw, rules, std::time::Instant::now());
    let t0 = raw[0].t;
    let mut seen: std::collections::HashMap<IpAddr, usize> = Default::default();
    let (mut lines, mut tally_same) = (0, 0);
    for r in &raw {
        // ntpd logs the status word before this sample's clock_select runs
        // (record_peer_stats precedes clock_select in clock_filter): the
        // tally to compare is the one before the replay.
        let snap = e.snapshot_at(r.t - t0);
        let before: Vec<char> = snap.sources.iter().map(|s| s.tally).collect();
        let i = e
            .replay(r.t - t0, addr(r.src), &r.header, r.t1, r.t4)
            .unwrap();
        let k = seen.entry(r.src).or_default();
        let p = peer
            .iter()
            .filter(|p| p.src == r.src)
            .nth(*k)
            .expect("a peerstats line per rawstats line");
        *k += 1;
        let s = &e.snapshot_at(r.t - t0).sources[i];
        // The clock filter's offset and delay, to the nanosecond (ntpd logs
        // 9 decimals).
        assert!(
            (s.offset - p.offset).abs() < 2e-9,
            "{r:?}\n{} vs {}",
            s.offset,
            p.offset
        );
        assert!(
            (s.delay - p.delay).abs() < 2e-9,
            "{} vs {}",
            s.delay,
            p.delay
        );
        // Dispersion: the same weights of the same stages, aged alike.
        assert!(
            (s.root_distance >= p.dispersion),
            "root distance {} below the filter dispersion {}",
            s.root_distance,
            p.dispersion
        );
        let fd = e.associations()[i].filter.disp;
        assert!(
            (fd - p.dispersion).abs() < 1e-6 + p.dispersion * 1e-3,
            "disp {fd} vs {}",
            p.dispersion
        );
        lines += 1;
        // Used or not, and falseticker, as ntpd's select code says.
        let (ours, theirs) = (before[i], tally(p.status));
        let class = |c: char| match c {
            '*' | '+' | '#' | '-' => 'u',
            c => c,
        };
        if class(ours) == class(theirs) {
            tally_same += 1;
        } else {
            eprintln!(
                "line {lines}: {} ours '{ours}' ntpd '{theirs}' (status {:04x})",
                r.src, p.status
            );
            // Reported, not asserted: ntpd logs the status it committed at
            // its last clock_select, whose timing the trace does not show
            // (one line of 50 in the committed trace, while the filters
            // were still filling). The end state is asserted below.
        }
    }
    // The end state, as ntpq showed it when the trace ended.
    let ntpq = fixture(&format!("{name}.ntpq"));
    let snap = e.snapshot_at(raw.last().unwrap().t - t0);
    for s in &snap.sources {
        let line = ntpq.lines().find(|l| l.contains(&s.name)).unwrap();
        let want = line.chars().next().unwrap();
        let used = |c: char| matches!(c, '*' | '+' | '#' | '-');
        assert_eq!(
            (used(s.tally), s.tally == 'x'),
            (used(want), want == 'x'),
            "{}: {line}",
            s.name
        );
    }
    eprintln!("{name}: replayed {lines} lines; tally class agrees on {tally_same}");
    snap.sources
        .iter()
        .map(|s| (s.name.clone(), s.tally))
        .collect()
}

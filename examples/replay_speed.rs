//! Replay speed of the client engine: the committed ntpsec trace
//! (fixtures/replay/*.rawstats, 4 sources) fed through the engine N times,
//! in samples per second (each sample: the packet tests, the clock filter
//! and a full selection), beside the rate of parsing the rawstats text.
//! Usage: cargo run --release --example replay_speed [REPEATS]

use std::time::Instant;

use ntpdiag::engine::client::replay::{addr, engine_for, rawstats};
use ntpdiag::engine::client::{Profile, Rules};

fn main() {
    let repeats: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000);
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/replay/ntpd-3good-1off.rawstats"
    ))
    .expect("the fixture");
    let (raw, _) = rawstats(&text);
    let span = raw.last().unwrap().t - raw[0].t + 1.0;

    // Parsing alone.
    let t = Instant::now();
    let mut parsed = 0usize;
    for _ in 0..repeats / 10 {
        parsed += rawstats(&text).0.len();
    }
    let parse_rate = parsed as f64 / t.elapsed().as_secs_f64();

    // The engine: one association per source; the trace repeated, shifted
    // in time so that every sample is new.
    let mut e = engine_for(&raw, Rules::of(Profile::Ntpd), std::time::Instant::now());
    let t0 = raw[0].t;
    let t = Instant::now();
    let mut n = 0usize;
    for k in 0..repeats {
        let shift = k as f64 * span;
        for r in &raw {
            e.replay(r.t - t0 + shift, addr(r.src), &r.header, r.t1, r.t4);
            n += 1;
        }
    }
    let el = t.elapsed().as_secs_f64();
    let snap = e.snapshot_at(repeats as f64 * span);
    let tallies: String = snap.sources.iter().map(|s| s.tally).collect();
    println!(
        "engine replay: {n} samples in {el:.3} s = {:.2} M samples/s (4 sources, tallies now \"{tallies}\")",
        n as f64 / el / 1e6
    );
    println!(
        "parsing the same rawstats lines only: {:.2} M lines/s",
        parse_rate / 1e6
    );
}

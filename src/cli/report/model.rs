//! What a report shows, read from the documents ntpdiag printed: per
//! source its offset, delay, jitter, poll and reach over time; the system's
//! offset; every event and verdict with its time; the selection at chosen
//! moments. Pure: text in, model out.

use std::collections::BTreeMap;

use crate::engine::limits::MAXDISP;
use crate::schema::watch::SnapshotJson;

/// One source's values at one snapshot.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    pub t: f64,
    pub offset: f64,
    pub delay: f64,
    pub jitter: f64,
    pub poll: f64,
    pub root_distance: f64,
    /// The newest poll gave a usable reply (reach's low bit).
    pub usable: bool,
    pub cause: String,
}

/// An event or a verdict placed on the timeline.
#[derive(Clone, Debug, PartialEq)]
pub struct Note {
    pub t: f64,
    pub cause: String,
    pub text: String,
    /// Its fix, when the document gave one.
    pub fix: Option<String>,
}

/// One source's interval at a moment of the selection picture.
#[derive(Clone, Debug, PartialEq)]
pub struct Bar {
    pub source: String,
    pub lo: f64,
    pub hi: f64,
    pub cause: String,
    pub tally: String,
}

/// The selection at one moment: each source's correctness interval
/// (offset ± root distance) and the intersection the selection found.
#[derive(Clone, Debug, PartialEq)]
pub struct Selection {
    pub t: f64,
    pub bars: Vec<Bar>,
    pub interval: Option<(f64, f64)>,
    pub why: String,
    /// The system peer and cause: a new picture when they change.
    pub key: String,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Model {
    pub sources: BTreeMap<String, Vec<Point>>,
    /// (t, offset, synchronized)
    pub system: Vec<(f64, f64, bool)>,
    pub notes: Vec<Note>,
    pub selections: Vec<Selection>,
    /// Verdicts of explain documents that have no time on the watch's
    /// timeline (no watch input, or no common clock).
    pub verdicts: Vec<Note>,
    /// (document, how many lines or documents it gave).
    pub inputs: Vec<(String, usize)>,
    /// The wall time (Unix s) of the report's t = 0: the first timed
    /// input's.
    pub epoch: Option<f64>,
    /// The wall time of watch's t = 0, when a snapshot said it.
    pub watch_base: Option<f64>,
    /// The newest selection when it differs from the last change only in
    /// time.
    pub latest: Option<Selection>,
    /// The clock's frequency correction (t, ppm): ntpd's loopstats,
    /// chrony's tracking.log.
    pub freq: Vec<(f64, f64)>,
}

/// Why an input could not be read.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ReadError {
    #[error("{name}: holds no document ntpdiag report reads (watch --json lines, explain --json)")]
    Nothing { name: String },
    #[error("{name}:{line}: {why}")]
    Bad {
        name: String,
        line: usize,
        why: String,
    },
}

/// RFC 3339 (to the second, UTC) → Unix seconds.
fn unix(t: &str) -> Option<f64> {
    humantime::parse_rfc3339_weak(t.trim_end_matches('Z'))
        .ok()
        .and_then(|s| s.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs_f64())
}

impl Model {
    /// Reads one input: watch's JSON lines, explain documents, ntpd's
    /// peerstats/loopstats, chrony's measurements/tracking logs.
    pub fn read(&mut self, name: &str, text: &str) -> Result<(), ReadError> {
        if let Some(n) = self.stats(text) {
            if n == 0 {
                return Err(ReadError::Nothing {
                    name: name.to_string(),
                });
            }
            self.inputs.push((name.to_string(), n));
            return Ok(());
        }
        let trimmed = text.trim_start();
        // A whole document (explain --json is pretty-printed).
        if trimmed.starts_with('{')
            && let Ok(v) = serde_json::from_str::<serde_json::Value>(trimmed)
            && v.get("command").and_then(|c| c.as_str()) == Some("explain")
        {
            self.explain(&v);
            self.inputs.push((name.to_string(), 1));
            return Ok(());
        }
        let mut n = 0;
        for (i, line) in text.lines().enumerate() {
            let l = line.trim();
            if l.is_empty() {
                continue;
            }
            let v: serde_json::Value = serde_json::from_str(l).map_err(|e| ReadError::Bad {
                name: name.to_string(),
                line: i + 1,
                why: format!("not JSON: {e}"),
            })?;
            match v.get("type").and_then(|t| t.as_str()) {
                Some("snapshot") => {
                    let s: SnapshotJson =
                        serde_json::from_value(v).map_err(|e| ReadError::Bad {
                            name: name.to_string(),
                            line: i + 1,
                            why: format!("a snapshot line that does not follow the schema: {e}"),
                        })?;
                    self.snapshot(&s);
                }
                Some("event") | Some("clock-jump") => self.event(&v),
                Some(_) => {}
                None if v.get("command").and_then(|c| c.as_str()) == Some("explain") => {
                    self.explain(&v)
                }
                None => {
                    return Err(ReadError::Bad {
                        name: name.to_string(),
                        line: i + 1,
                        why: "a JSON line without a type".into(),
                    });
                }
            }
            n += 1;
        }
        if n == 0 {
            return Err(ReadError::Nothing {
                name: name.to_string(),
            });
        }
        self.inputs.push((name.to_string(), n));
        Ok(())
    }

    /// Report time of watch's `t_s`: on the report's clock when the watch
    /// said its wall time, else as it is.
    fn watch_t(&mut self, t_s: f64) -> f64 {
        match self.watch_base {
            Some(b) => self.at(b + t_s),
            None => t_s,
        }
    }

    fn snapshot(&mut self, s: &SnapshotJson) {
        if self.watch_base.is_none()
            && let Some(w) = s
                .node
                .as_ref()
                .and_then(|n| n.time.as_deref())
                .and_then(unix)
        {
            // The watch's t = 0 on the wall clock; the report's t = 0 too
            // unless another input set it first.
            self.watch_base = Some(w - s.t_s);
            self.epoch.get_or_insert(w - s.t_s);
        }
        let t = self.watch_t(s.t_s);
        for src in &s.sources {
            let reach = u8::from_str_radix(&src.reach, 8).unwrap_or(0);
            // No usable sample yet: the engine's placeholders (delay and
            // root distance at MAXDISP, offset 0) are not drawn.
            let none = src.usable == 0 || src.delay_s >= MAXDISP;
            let v = |x: f64| if none { f64::NAN } else { x };
            self.sources
                .entry(src.name.clone())
                .or_default()
                .push(Point {
                    t,
                    offset: v(src.offset_s),
                    delay: v(src.delay_s),
                    jitter: v(src.jitter_s),
                    poll: 2f64.powi(i32::from(src.poll)),
                    root_distance: src.root_distance_s,
                    usable: reach & 1 == 1,
                    cause: src.cause.clone(),
                });
        }
        self.system
            .push((t, s.system.offset_s, s.system.peer.is_some()));
        // The selection picture: at the first snapshot, whenever the peer
        // or the system's cause changed, and at the newest.
        let sel = Selection {
            t,
            bars: s
                .sources
                .iter()
                .filter(|x| x.root_distance_s.is_finite() && x.polls > 0 && x.usable > 0)
                .map(|x| Bar {
                    source: x.name.clone(),
                    lo: x.offset_s - x.root_distance_s,
                    hi: x.offset_s + x.root_distance_s,
                    cause: x.cause.clone(),
                    tally: x.tally.clone(),
                })
                .collect(),
            interval: s.system.interval.map(|[a, b]| (a, b)),
            why: format!(
                "{} [{}] {}",
                s.system.peer.as_deref().unwrap_or("no system peer"),
                s.system.cause,
                s.system.why
            ),
            key: format!(
                "{} {}",
                s.system.peer.as_deref().unwrap_or("-"),
                s.system.cause
            ),
        };
        let changed = self.selections.last().is_none_or(|p| p.key != sel.key);
        if changed {
            self.selections.push(sel);
            self.latest = None;
        } else {
            // The newest stands for "now", drawn at the end.
            self.latest = Some(sel);
        }
    }

    /// The selections to draw: each change, and the newest.
    pub fn pictures(&self) -> Vec<&Selection> {
        self.selections.iter().chain(self.latest.as_ref()).collect()
    }

    fn event(&mut self, v: &serde_json::Value) {
        let t = self.watch_t(v["t_s"].as_f64().unwrap_or(0.0));
        let cause = v["cause"].as_str().unwrap_or("").to_string();
        let why = v["why"].as_str().unwrap_or("").to_string();
        let text = if v["type"] == "clock-jump" {
            format!("clock jump: {why}")
        } else if v["system"].as_bool() == Some(true) {
            format!(
                "system peer {} → {}: {why}",
                v["peer_from"].as_str().unwrap_or("none"),
                v["peer_to"].as_str().unwrap_or("none")
            )
        } else {
            format!(
                "{}: {} → {}: {why}",
                v["source"].as_str().unwrap_or("?"),
                v["from"]["state"].as_str().unwrap_or("?"),
                v["to"]["state"].as_str().unwrap_or("?")
            )
        };
        let fix = crate::diagnose::Cause::from_id(&cause).map(|c| c.info().fix.to_string());
        self.notes.push(Note {
            t,
            cause,
            text,
            fix,
        });
    }

    /// An explain document's verdict, at its time on the watch's clock
    /// when both have wall times.
    fn explain(&mut self, v: &serde_json::Value) {
        let verdict = &v["verdict"];
        let cause = verdict["cause"].as_str().unwrap_or("").to_string();
        let note = Note {
            t: 0.0,
            cause,
            text: format!(
                "explain ({}): {}",
                v["node"]["hostname"].as_str().unwrap_or("?"),
                verdict["summary"].as_str().unwrap_or("")
            ),
            fix: verdict["fix"][0].as_str().map(String::from),
        };
        let wall = v["node"]["time"].as_str().and_then(unix);
        self.verdicts.push(Note {
            t: wall.unwrap_or(f64::NAN),
            ..note
        });
    }

    /// Report time of a wall time (Unix s): the first timed input sets t = 0.
    fn at(&mut self, unix: f64) -> f64 {
        unix - *self.epoch.get_or_insert(unix)
    }

    /// Daemon statistics files, recognized by their lines: ntpsec/ntpd's
    /// filegen lines (ntp_util.c: peerstats `MJD SEC LABEL STATUS OFFSET
    /// DELAY DISP JITTER`, loopstats `MJD SEC OFFSET FREQ JITTER WANDER
    /// SPOLL`) and chrony's logs (their `====` header and column line;
    /// measurements.log as ntp_core.c writes it, tracking.log as
    /// reference.c does). None: not such a file; Some(lines read).
    fn stats(&mut self, text: &str) -> Option<usize> {
        let first = text.lines().find(|l| !l.trim().is_empty())?;
        let chrony = first.starts_with("=====");
        let ntpd = {
            let w: Vec<&str> = first.split_whitespace().collect();
            (w.len() == 7 || w.len() == 8)
                && w[0]
                    .parse::<u32>()
                    .is_ok_and(|d| (40_000..100_000).contains(&d))
                && w[1]
                    .parse::<f64>()
                    .is_ok_and(|s| (0.0..86_401.0).contains(&s))
        };
        if !chrony && !ntpd {
            return None;
        }
        let mut n = 0;
        let mut kind = "";
        for l in text.lines() {
            let w: Vec<&str> = l.split_whitespace().collect();
            if chrony {
                if l.contains("Peer del.") {
                    kind = "measurements";
                } else if l.contains("Freq ppm") {
                    kind = "tracking";
                } else if l.contains("Std dev'n") {
                    kind = "statistics";
                }
                let Some(unix) = w
                    .first()
                    .zip(w.get(1))
                    .and_then(|(d, t)| unix(&format!("{d}T{t}Z")))
                else {
                    continue;
                };
                let f = |i: usize| w.get(i).and_then(|v| v.parse::<f64>().ok());
                match kind {
                    "measurements" if w.len() >= 16 => {
                        let t = self.at(unix);
                        // Tests 1-3, 5-7, A-D: all passed.
                        let usable = w[5..8].iter().all(|c| c.chars().all(|x| x == '1'));
                        self.sources
                            .entry(w[2].to_string())
                            .or_default()
                            .push(Point {
                                t,
                                // θ: positive, the local clock is slow of the source.
                                offset: f(11).unwrap_or(f64::NAN),
                                delay: f(12).unwrap_or(f64::NAN),
                                jitter: f(13).unwrap_or(f64::NAN),
                                poll: f(8).map_or(f64::NAN, |p| 2f64.powf(p)),
                                root_distance: f(14)
                                    .zip(f(15))
                                    .map_or(f64::NAN, |(d, e)| d / 2.0 + e),
                                usable,
                                cause: String::new(),
                            });
                        n += 1;
                    }
                    "tracking" if w.len() >= 7 => {
                        let t = self.at(unix);
                        // Positive: the clock is fast of UTC; as an NTP
                        // offset (server − local), the other sign.
                        if let Some(o) = f(6) {
                            self.system.push((t, -o, w[2] != "0.0.0.0"));
                        }
                        if let Some(fr) = f(4) {
                            self.freq.push((t, fr));
                        }
                        n += 1;
                    }
                    "statistics" => n += 1,
                    _ => {}
                }
            } else {
                let f = |i: usize| w.get(i).and_then(|v| v.parse::<f64>().ok());
                let (Some(day), Some(sec)) = (f(0), f(1)) else {
                    continue;
                };
                let unix = (day - 40_587.0) * 86_400.0 + sec;
                match w.len() {
                    8 => {
                        let t = self.at(unix);
                        let status = u32::from_str_radix(w[3], 16).unwrap_or(0);
                        self.sources
                            .entry(w[2].to_string())
                            .or_default()
                            .push(Point {
                                t,
                                offset: f(4).unwrap_or(f64::NAN),
                                delay: f(5).unwrap_or(f64::NAN),
                                jitter: f(7).unwrap_or(f64::NAN),
                                poll: f64::NAN,
                                root_distance: f64::NAN,
                                // The peer status word's select field: candidate
                                // (4) and up are used.
                                usable: (status >> 8) & 7 >= 4,
                                cause: String::new(),
                            });
                        n += 1;
                    }
                    7 => {
                        let t = self.at(unix);
                        if let Some(o) = f(2) {
                            self.system.push((t, o, true));
                        }
                        if let Some(fr) = f(3) {
                            self.freq.push((t, fr));
                        }
                        n += 1;
                    }
                    _ => {}
                }
            }
        }
        Some(n)
    }

    /// Once every input is read: series in time order, explain's verdicts
    /// placed on the timeline (those within the watched time become notes).
    pub fn place_verdicts(&mut self) {
        for v in self.sources.values_mut() {
            v.sort_by(|a, b| a.t.total_cmp(&b.t));
        }
        self.system.sort_by(|a, b| a.0.total_cmp(&b.0));
        self.freq.sort_by(|a, b| a.0.total_cmp(&b.0));
        let Some(epoch) = self.epoch else { return };
        let end = self.system.last().map_or(0.0, |s| s.0);
        let (on, off): (Vec<Note>, Vec<Note>) = self
            .verdicts
            .drain(..)
            .map(|n| Note {
                t: n.t - epoch,
                ..n
            })
            .partition(|n| n.t.is_finite() && n.t >= 0.0 && n.t <= end + 60.0);
        self.notes.extend(on);
        self.notes.sort_by(|a, b| a.t.total_cmp(&b.t));
        self.verdicts = off;
    }

    /// The time the report spans.
    pub fn span(&self) -> (f64, f64) {
        let ts = self
            .system
            .iter()
            .map(|s| s.0)
            .chain(self.sources.values().flatten().map(|p| p.t));
        let (lo, hi) = ts.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), t| {
            (a.min(t), b.max(t))
        });
        if !lo.is_finite() {
            return (0.0, 1.0);
        }
        (lo, if hi > lo { hi } else { lo + 1.0 })
    }
}

/// At most `max` points (`max` even): in each of `max / 2` buckets of
/// time, its lowest and highest value, in time order, so that a spike
/// survives the thinning.
pub fn downsample(pts: &[(f64, f64)], max: usize) -> Vec<(f64, f64)> {
    if pts.len() <= max || max < 2 {
        return pts.to_vec();
    }
    let buckets = max / 2;
    let per = pts.len().div_ceil(buckets);
    let mut out = Vec::with_capacity(max);
    for chunk in pts.chunks(per) {
        let lo = chunk
            .iter()
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .copied()
            .unwrap_or_default();
        let hi = chunk
            .iter()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .copied()
            .unwrap_or_default();
        if lo.0 <= hi.0 {
            out.push(lo);
            out.push(hi);
        } else {
            out.push(hi);
            out.push(lo);
        }
    }
    out
}

/// The value at percentile `p` (0–100) of sorted values, nearest rank (as
/// ntpviz takes them).
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downsampling_keeps_the_extremes() {
        let pts: Vec<(f64, f64)> = (0..10_000)
            .map(|i| (i as f64, if i == 4321 { 50.0 } else { (i % 7) as f64 }))
            .collect();
        let d = downsample(&pts, 200);
        assert!(d.len() <= 200);
        assert!(d.iter().any(|p| p.1 == 50.0), "the spike stays");
        assert!(d.windows(2).all(|w| w[0].0 <= w[1].0), "in time order");
        assert_eq!(downsample(&pts[..10], 200).len(), 10);
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let v: Vec<f64> = (0..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 50.0);
        assert_eq!(percentile(&v, 95.0), 95.0);
        assert!(percentile(&[], 50.0).is_nan());
    }

    #[test]
    fn bad_input_is_an_error_with_its_line() {
        let mut m = Model::default();
        assert!(matches!(
            m.read("x", "hello\n"),
            Err(ReadError::Bad { line: 1, .. })
        ));
        assert!(matches!(
            m.read("x", "\n\n"),
            Err(ReadError::Nothing { .. })
        ));
        assert!(matches!(
            m.read("x", "{\"type\":\"snapshot\",\"t_s\":1}\n"),
            Err(ReadError::Bad { line: 1, .. })
        ));
        assert!(m.read("x", "{\"type\":\"end\",\"exit_code\":0}\n").is_ok());
    }

    /// Inputs on one clock: a watch that began 10 s before the first
    /// peerstats line is drawn 10 s before it.
    #[test]
    fn inputs_share_one_timeline() {
        let mut m = Model::default();
        m.read(
            "peerstats",
            "61017 7200.000 198.51.100.1 963a 0.0001 0.0004 0.00001 0.000001\n",
        )
        .unwrap();
        let epoch = m.epoch.unwrap();
        assert_eq!(m.sources["198.51.100.1"][0].t, 0.0);
        m.watch_base = Some(epoch - 10.0);
        assert!((m.watch_t(15.0) - 5.0).abs() < 1e-9);
        // A watch alone keeps its own seconds.
        let mut w = Model::default();
        assert_eq!(w.watch_t(15.0), 15.0);
    }

    /// The daemons' statistics lines as their format strings write them.
    #[test]
    fn daemon_statistics_files() {
        let mut m = Model::default();
        // ntpsec ntp_util.c record_peer_stats / record_loop_stats.
        m.read(
            "peerstats",
            "61017 7200.123 198.51.100.1 963a 0.000123456 0.000456789 0.000012345 0.000001234\n\
             61017 7264.123 198.51.100.1 9014 0.000223456 0.000456789 0.000012345 0.000001234\n",
        )
        .unwrap();
        let p = &m.sources["198.51.100.1"];
        assert_eq!(p.len(), 2);
        assert!(
            p[0].usable && !p[1].usable,
            "select 6 (sys.peer), 0 (reject)"
        );
        assert!((p[1].t - 64.0).abs() < 1e-6 && (p[0].offset - 0.000123456).abs() < 1e-12);
        m.read(
            "loopstats",
            "61017 7300.5 -0.000001234 12.345678 0.000002 0.001 6\n",
        )
        .unwrap();
        assert_eq!(m.freq.len(), 1);
        assert!((m.freq[0].0 - 100.377).abs() < 1e-6 && m.freq[0].1 == 12.345678);
        // chrony ntp_core.c / reference.c, with their headers.
        let mut c = Model::default();
        c.read(
            "measurements.log",
            "========\n   Date (UTC) Time     IP Address   L St 123 567 ABCD  LP RP Score    Offset  Peer del. Peer disp.  Root del. Root disp. Refid     MTxRx\n========\n\
             2026-12-08 02:15:42 127.0.0.1       N  2 111 111 1111   0  0 0.00 -1.918e-05  4.153e-05  7.594e-07  0.000e+00  1.007e-03 4C4F434C 4B K K\n",
        )
        .unwrap();
        assert!((c.sources["127.0.0.1"][0].offset + 1.918e-05).abs() < 1e-12);
        c.read(
            "tracking.log",
            "=====\n   Date (UTC) Time     IP Address   St   Freq ppm   Skew ppm     Offset L Co  Offset sd Rem. corr. Root delay Root disp. Max. error\n=====\n\
             2026-12-08 02:15:43 127.0.0.1        3      1.500 1000000.000  1.348e-05 N  1  4.013e-07 -0.000e+00  3.032e-05  4.349e-01  1.500e+00\n",
        )
        .unwrap();
        // chrony's +: clock fast; the report's offset is server − local.
        assert_eq!(c.system, vec![(1.0, -1.348e-05, true)]);
        assert_eq!(c.freq, vec![(1.0, 1.5)]);
    }
}

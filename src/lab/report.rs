//! What a lab shows: every node's billboard (`lab status`), the timeline of
//! state changes and each client node's verdict (`lab run`). Verdicts are
//! `ntpdiag explain` run inside the node, as a user would run it: the lab
//! adds no judgement of its own.

use std::collections::BTreeMap;
use std::time::Duration;

use super::Paths;
use super::node::{Billboard, NodeEvent};
use super::setup::{State, chronyd_path};
use super::topology::{NodeSpec, Role, Topology};
use crate::explain::paste;
use crate::schema::{LabNodeJson, LabSourceJson, LeadJson, TimelineJson, VerdictJson};

/// Runs `args` inside the node (bounded), with the node's clock and root;
/// its standard output.
pub fn in_node(paths: &Paths, node: &str, args: &[&str], limit: Duration) -> Option<String> {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let mut c = super::setup::node_command(paths, node, &args);
    crate::explain::collect::run_bounded(&mut c, limit)
        .ok()
        .map(|r| r.stdout)
}

fn chronyc() -> String {
    chronyd_path()
        .and_then(|p| {
            let c = p.parent()?.parent()?.join("bin/chronyc");
            c.exists().then(|| c.display().to_string())
        })
        .unwrap_or_else(|| "chronyc".into())
}

/// A real daemon's own view: `ntpq -pn` or `chronyc -n sources`, and its
/// sources, each judged by [`crate::diagnose::paste::daemon_row`].
pub fn daemon_view(paths: &Paths, n: &NodeSpec) -> (String, Vec<LabSourceJson>) {
    let text = match n.role() {
        Role::Ntpd => in_node(
            paths,
            &n.name,
            &["ntpq", "-pn", "127.0.0.1"],
            Duration::from_secs(8),
        ),
        Role::Chronyd => {
            let sock = paths
                .node(&n.name)
                .join("chronyd.sock")
                .display()
                .to_string();
            in_node(
                paths,
                &n.name,
                &[&chronyc(), "-h", &sock, "-n", "sources"],
                Duration::from_secs(8),
            )
        }
        _ => None,
    }
    .unwrap_or_default();
    let output = paste::overall(&paste::explain(&text));
    let cause = |usable: bool| {
        crate::diagnose::paste::daemon_row(&crate::diagnose::paste::DaemonRow {
            usable,
            output: output.clone(),
        })
        .cause
        .id()
    };
    let mut sources = vec![];
    if let Some((rows, _)) = paste::parse_peers(&text) {
        for r in rows {
            sources.push(LabSourceJson {
                address: r.remote,
                tally: r.tally.to_string(),
                reach: format!("{:o}", r.reach),
                cause: cause(matches!(r.tally, '*' | '+' | '#' | 'o')),
            });
        }
    } else {
        for (state, name, reach) in paste::chrony_rows(&text) {
            sources.push(LabSourceJson {
                address: name,
                tally: state.to_string(),
                reach: format!("{reach:o}"),
                cause: cause(matches!(state, '*' | '+')),
            });
        }
    }
    (text, sources)
}

fn billboard(paths: &Paths, node: &str) -> Option<Billboard> {
    serde_json::from_slice(&std::fs::read(paths.node(node).join("billboard.json")).ok()?).ok()
}

/// `explain --json` inside the node.
pub fn verdict(paths: &Paths, node: &str) -> Option<VerdictJson> {
    let exe = std::env::current_exe().ok()?;
    let out = in_node(
        paths,
        node,
        &[&exe.display().to_string(), "explain", "--json"],
        Duration::from_secs(40),
    )?;
    let v: crate::schema::ExplainReport = serde_json::from_str(&out).ok()?;
    Some(v.verdict)
}

/// Every node's state now; verdicts for client nodes if `verdicts`.
pub fn status(paths: &Paths, topo: &Topology, verdicts: bool) -> Vec<LabNodeJson> {
    std::thread::scope(|s| {
        let hs: Vec<_> = topo
            .node
            .iter()
            .map(|n| {
                s.spawn(move || {
                    let role = n.role();
                    let verdict = (verdicts && role.is_client())
                        .then(|| verdict(paths, &n.name))
                        .flatten();
                    let addresses = n.ips().iter().map(|a| a.to_string()).collect();
                    let mut j = LabNodeJson {
                        name: n.name.clone(),
                        role,
                        clock_offset_s: 0.0,
                        synchronized: None,
                        addresses,
                        sources: vec![],
                        verdict,
                        serving: None,
                        view: String::new(),
                    };
                    if role.is_builtin() {
                        if let Some(b) = billboard(paths, &n.name) {
                            j.clock_offset_s = b.clock_offset_s;
                            j.synchronized = role.is_client().then_some(b.synchronized);
                            j.serving = b.serving.clone();
                            j.view = b.table.clone().unwrap_or_default();
                            for (name, cause, why) in &b.unresolved {
                                j.view.push_str(&format!("{name}: [{cause}] {why}\n"));
                                j.sources.push(LabSourceJson {
                                    address: name.clone(),
                                    tally: " ".into(),
                                    reach: "0".into(),
                                    cause: cause.clone(),
                                });
                            }
                            if let Some(snap) = b.snapshot {
                                j.sources
                                    .extend(snap.sources.into_iter().map(|s| LabSourceJson {
                                        address: s.address,
                                        tally: s.tally,
                                        reach: s.reach,
                                        cause: s.cause,
                                    }));
                            }
                        }
                    } else if matches!(role, Role::Ntpd | Role::Chronyd) {
                        let (view, sources) = daemon_view(paths, n);
                        j.view = view;
                        j.sources = sources;
                    }
                    j
                })
            })
            .collect();
        hs.into_iter().filter_map(|h| h.join().ok()).collect()
    })
}

/// The nodes' events since the lab came up, in time order.
pub fn timeline(paths: &Paths, topo: &Topology, state: &State) -> Vec<TimelineJson> {
    let mut v: Vec<TimelineJson> = topo
        .node
        .iter()
        .flat_map(|n| {
            std::fs::read_to_string(paths.node(&n.name).join("events.jsonl"))
                .unwrap_or_default()
                .lines()
                .filter_map(|l| serde_json::from_str::<NodeEvent>(l).ok())
                .map(|e| TimelineJson {
                    t_s: e.t - state.created,
                    node: e.node,
                    text: e.text,
                    cause: e.cause,
                })
                .collect::<Vec<_>>()
        })
        .collect();
    v.sort_by(|a, b| a.t_s.total_cmp(&b.t_s));
    v
}

/// Follows the real daemons of a running lab: an event each time a source
/// changes tally or becomes (un)reachable, as the built-in nodes write them.
#[derive(Default)]
pub struct DaemonWatch {
    last: BTreeMap<(String, String), (String, bool)>,
}

impl DaemonWatch {
    pub fn poll(&mut self, paths: &Paths, topo: &Topology) {
        for n in topo
            .node
            .iter()
            .filter(|n| matches!(n.role(), Role::Ntpd | Role::Chronyd))
        {
            let (_, sources) = daemon_view(paths, n);
            for s in sources {
                let reach = s.reach != "0";
                let key = (n.name.clone(), s.address.clone());
                let now = (s.tally.clone(), reach);
                if self.last.get(&key) != Some(&now) {
                    let text = format!(
                        "{}: tally '{}', {} (reach {})",
                        s.address,
                        s.tally,
                        if reach { "reachable" } else { "unreachable" },
                        s.reach
                    );
                    let e = NodeEvent {
                        t: std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .map_or(0.0, |d| d.as_secs_f64()),
                        node: n.name.clone(),
                        text,
                        cause: Some(s.cause.clone()),
                    };
                    if let Ok(line) = serde_json::to_string(&e) {
                        use std::io::Write as _;
                        let _ = std::fs::create_dir_all(paths.node(&n.name));
                        if let Ok(mut f) = std::fs::OpenOptions::new()
                            .create(true)
                            .append(true)
                            .open(paths.node(&n.name).join("events.jsonl"))
                        {
                            let _ = writeln!(f, "{line}");
                        }
                    }
                    self.last.insert(key, now);
                }
            }
        }
    }
}

/// The client node whose verdict leads (the one rule,
/// [`crate::diagnose::verdict::Lead`]: the first by the causes' ranking
/// among those not ok, the first node on a tie), with the exit status it
/// sets; `None` and 0 when every one is ok.
pub fn lead(nodes: &[LabNodeJson]) -> (Option<LeadJson>, u8) {
    let with_verdicts = nodes
        .iter()
        .filter_map(|n| n.verdict.as_ref().map(|v| (n, v)));
    let best = crate::diagnose::verdict::lead_by(with_verdicts, |(_, v)| {
        match crate::diagnose::Cause::from_id(&v.cause) {
            Some(c) if c.class() == crate::diagnose::Class::Ok => None,
            Some(c) => Some(crate::diagnose::verdict::rank_of(
                c,
                crate::diagnose::Confidence::from_id(&v.confidence)
                    .unwrap_or(crate::diagnose::Confidence::High),
            )),
            // A verdict this build does not know (another version's): ranked
            // first, by its own status.
            None => (v.exit_code != 0).then_some(0),
        }
    });
    match best {
        Some((n, v)) => (
            Some(LeadJson {
                node: n.name.clone(),
                cause: v.cause.clone(),
                summary: v.summary.clone(),
            }),
            v.exit_code,
        ),
        None => (None, 0),
    }
}

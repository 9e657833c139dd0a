//! `fleet --json`, and the fleet's reader of documents: the JSON that
//! `explain --json`, `probe --json` and `watch --json` printed on many nodes
//! → observations for the fleet table ([`crate::diagnose::fleet`]) → the
//! report. Pure and total: any bytes give a report (fuzz target
//! `fleet_any_input`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{ExplainReport, NodeJson, ProbeReport, SnapshotJson, VerdictJson};
use crate::diagnose::Cause;
use crate::diagnose::fleet::{self, NodeFinding, Observation};

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct FleetServerJson {
    pub server: String,
    pub verdict: VerdictJson,
    pub nodes_asking: usize,
    pub failing: Vec<String>,
    pub ok: Vec<String>,
    pub unsynchronized: Vec<String>,
    pub other: Vec<String>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct FleetNodeJson {
    /// The name fleet gives it: the host name, with its first address when
    /// two nodes share a host name.
    pub name: String,
    pub node: Option<NodeJson>,
    /// explain, probe, watch: the documents read from it.
    pub documents: Vec<String>,
    /// What it said about each server: server → cause id.
    pub servers: BTreeMap<String, String>,
    /// Its findings about itself: cause ids.
    pub findings: Vec<String>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct FleetInputJson {
    pub file: String,
    pub documents: usize,
    /// JSON objects that are not ntpdiag documents.
    pub ignored: usize,
    /// What could not be read: "FILE: line N: …".
    pub errors: Vec<String>,
}

/// A host the gatherer could not reach (Ansible's `UNREACHABLE!`, ssh's
/// "connect to host … port 22:"), as its output says.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct FleetUnreachableJson {
    pub host: String,
    pub file: String,
    /// The gatherer's line.
    pub said: String,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct FleetReport {
    pub schema_version: u32,
    pub tool: String,
    pub version: String,
    pub command: String,
    pub verdict: VerdictJson,
    pub servers: Vec<FleetServerJson>,
    pub nodes: Vec<FleetNodeJson>,
    pub inputs: Vec<FleetInputJson>,
    /// Hosts the gatherer could not reach: nothing of them is judged.
    #[serde(default)]
    pub unreachable: Vec<FleetUnreachableJson>,
    pub exit_code: u8,
}

/// Hosts a gatherer says it could not reach: Ansible's ad-hoc (minimal
/// callback) `HOST | UNREACHABLE! => {…}` and playbook (default callback)
/// `fatal: [HOST]: UNREACHABLE! => {…}` (`[HOST -> DELEGATE]` when
/// delegated), and ssh's `ssh: connect to host HOST port 22: …` (pdsh and
/// clush prefix it with `HOST: `).
pub fn unreachable_hosts(text: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = vec![];
    for l in text.lines() {
        let t = l.trim();
        let host = if let Some(rest) = t.strip_prefix("fatal: [") {
            rest.split_once("]: UNREACHABLE!")
                .map(|(h, _)| h.split(" -> ").next().unwrap_or(h).trim().to_string())
        } else if let Some((h, rest)) = t.split_once(" | ") {
            rest.starts_with("UNREACHABLE!")
                .then(|| h.trim().to_string())
        } else if let Some(i) = t.find("ssh: connect to host ") {
            t[i + "ssh: connect to host ".len()..]
                .split_whitespace()
                .next()
                .map(String::from)
        } else {
            None
        };
        if let Some(h) = host.filter(|h| !h.is_empty())
            && !out.iter().any(|(x, _)| *x == h)
        {
            out.push((h, t.chars().take(200).collect()));
        }
    }
    out
}

/// When a document was made (Unix seconds): its node's time, plus a watch
/// snapshot's seconds since the run began.
fn doc_time(d: &Doc) -> Option<i64> {
    let n = node_of(d)?;
    let t = humantime::parse_rfc3339(n.time.as_deref()?).ok()?;
    let base = t.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs() as i64;
    Some(match d {
        Doc::Watch(s) => base + s.t_s.max(0.0) as i64,
        _ => base,
    })
}

/// Every JSON object in `text`: whole documents, JSON lines, and documents
/// among other lines (a gatherer's `host | CHANGED | rc=3 >>`). Returns the
/// objects and the lines where something that began like one did not parse.
pub fn objects(text: &str) -> (Vec<serde_json::Value>, Vec<String>) {
    let mut out = vec![];
    let mut errors = vec![];
    let mut i = 0;
    while let Some(off) = text[i..].find('{') {
        let at = i + off;
        let mut it =
            serde_json::Deserializer::from_str(&text[at..]).into_iter::<serde_json::Value>();
        match it.next() {
            Some(Ok(v)) => {
                out.push(v);
                i = at + it.byte_offset();
            }
            Some(Err(e)) => {
                let line = text[..at].matches('\n').count() + 1;
                errors.push(format!("line {line}: {e}"));
                // Go on after this line.
                i = text[at..].find('\n').map_or(text.len(), |n| at + n + 1);
            }
            None => break,
        }
        if errors.len() > 100 {
            errors.push("more than 100 errors: stopped reading".into());
            break;
        }
    }
    (out, errors)
}

/// One ntpdiag document, as fleet reads it.
enum Doc {
    Explain(Box<ExplainReport>),
    Probe(ProbeReport),
    Watch(Box<SnapshotJson>),
}

fn doc(v: serde_json::Value) -> Option<Doc> {
    if v.get("tool").and_then(|t| t.as_str()) == Some("ntpdiag") {
        match v.get("command").and_then(|c| c.as_str()) {
            Some("explain") => {
                return serde_json::from_value(v)
                    .ok()
                    .map(|d| Doc::Explain(Box::new(d)));
            }
            Some("probe") => return serde_json::from_value(v).ok().map(Doc::Probe),
            _ => return None,
        }
    }
    if v.get("type").and_then(|t| t.as_str()) == Some("snapshot") {
        return serde_json::from_value(v)
            .ok()
            .map(|d| Doc::Watch(Box::new(d)));
    }
    None
}

fn node_of(d: &Doc) -> Option<&NodeJson> {
    match d {
        Doc::Explain(r) => r.node.as_ref(),
        Doc::Probe(r) => r.node.as_ref(),
        Doc::Watch(s) => s.node.as_ref(),
    }
}

fn cause(id: &str) -> Cause {
    Cause::from_id(id).unwrap_or(Cause::UnrecognizedInput)
}

/// One input: its name and its bytes, or why it could not be read.
pub struct Input {
    pub name: String,
    pub bytes: Result<Vec<u8>, String>,
}

/// The fleet's report from its inputs: pure, total (any bytes give a
/// report; fuzz target `fleet_any_input`).
pub fn report(given: Vec<Input>) -> (FleetReport, fleet::FleetJudgement) {
    let mut inputs = vec![];
    let mut unreachable = vec![];
    let mut docs: Vec<(Doc, String)> = vec![];
    for input in given {
        let shown = input.name;
        let bytes = match input.bytes {
            Ok(b) => b,
            Err(e) => {
                inputs.push(FleetInputJson {
                    file: shown,
                    documents: 0,
                    ignored: 0,
                    errors: vec![e],
                });
                continue;
            }
        };
        let text = String::from_utf8_lossy(&bytes);
        for (host, said) in unreachable_hosts(&text) {
            unreachable.push(FleetUnreachableJson {
                host,
                file: shown.clone(),
                said,
            });
        }
        let (objs, errors) = objects(&text);
        let mut n = 0;
        let mut ignored = 0;
        for v in objs {
            match doc(v) {
                Some(d) => {
                    n += 1;
                    docs.push((d, shown.clone()));
                }
                None => ignored += 1,
            }
        }
        inputs.push(FleetInputJson {
            file: shown,
            documents: n,
            ignored,
            errors,
        });
    }
    // Watch prints a snapshot per interval: keep each node's last.
    let mut last_watch: BTreeMap<String, usize> = BTreeMap::new();
    let machine = |n: &Option<NodeJson>| {
        n.as_ref()
            .map(|n| format!("{}:{:?}", n.hostname, n.addresses))
    };
    for (i, (d, file)) in docs.iter().enumerate() {
        if let Doc::Watch(s) = d {
            let key = format!("{file}:{:?}", machine(&s.node));
            last_watch.insert(key, i);
        }
    }
    // Node names: the host name, with an address when two nodes share it.
    let mut by_host: BTreeMap<String, Vec<Vec<String>>> = BTreeMap::new();
    for (d, _) in &docs {
        if let Some(n) = node_of(d) {
            let e = by_host.entry(n.hostname.clone()).or_default();
            if !e.contains(&n.addresses) {
                e.push(n.addresses.clone());
            }
        }
    }
    let name_of = |d: &Doc, file: &str, i: usize| -> String {
        match node_of(d) {
            Some(n) if by_host.get(&n.hostname).is_some_and(|v| v.len() > 1) => format!(
                "{} ({})",
                n.hostname,
                n.addresses.first().map_or("no address", String::as_str)
            ),
            Some(n) => n.hostname.clone(),
            None => format!("{file}#{}", i + 1),
        }
    };
    // Each node's newest explain (by time): an older one's findings about
    // the node itself are superseded.
    let mut newest_explain: BTreeMap<String, i64> = BTreeMap::new();
    for (i, (d, file)) in docs.iter().enumerate() {
        if let (Doc::Explain(_), Some(t)) = (d, doc_time(d)) {
            let e = newest_explain.entry(name_of(d, file, i)).or_insert(t);
            *e = (*e).max(t);
        }
    }
    let mut obs = vec![];
    let mut node_findings = vec![];
    // Per node: the documents read (kind, time as written).
    let mut used: BTreeMap<String, Vec<fleet::DocumentRead>> = BTreeMap::new();
    let mut nodes: BTreeMap<String, FleetNodeJson> = BTreeMap::new();
    for (i, (d, file)) in docs.iter().enumerate() {
        if let Doc::Watch(s) = d
            && last_watch.get(&format!("{file}:{:?}", machine(&s.node))) != Some(&i)
        {
            continue;
        }
        let time = doc_time(d);
        let name = name_of(d, file, i);
        used.entry(name.clone()).or_default().push((
            match d {
                Doc::Explain(_) => "explain",
                Doc::Probe(_) => "probe",
                Doc::Watch(_) => "watch",
            }
            .to_string(),
            node_of(d).and_then(|n| n.time.clone()),
        ));
        let entry = nodes.entry(name.clone()).or_insert_with(|| FleetNodeJson {
            name: name.clone(),
            node: node_of(d).cloned(),
            documents: vec![],
            servers: BTreeMap::new(),
            findings: vec![],
        });
        let mut see =
            |server: &str, c: &str, summary: &str, from: &str, entry: &mut FleetNodeJson| {
                entry.servers.insert(server.to_string(), c.to_string());
                obs.push(Observation {
                    node: name.clone(),
                    server: server.to_string(),
                    cause: cause(c),
                    summary: summary.to_string(),
                    from: from.to_string(),
                    time,
                });
            };
        match d {
            Doc::Probe(r) => {
                entry.documents.push("probe".into());
                for t in &r.targets {
                    see(
                        &t.host,
                        &t.verdict.cause,
                        &t.verdict.summary,
                        "probe",
                        entry,
                    );
                }
            }
            Doc::Explain(r) => {
                entry.documents.push("explain".into());
                let superseded =
                    time.is_some_and(|t| newest_explain.get(&name).is_some_and(|n| t < *n));
                for f in &r.findings {
                    match &f.server {
                        Some(s) => see(s, &f.verdict.cause, &f.verdict.summary, "explain", entry),
                        None if f.blocks && !superseded => {
                            entry.findings.push(f.verdict.cause.clone());
                            node_findings.push(NodeFinding {
                                node: name.clone(),
                                cause: cause(&f.verdict.cause),
                                summary: format!("{}: {}", f.subject, f.verdict.summary),
                            });
                        }
                        None => {}
                    }
                }
            }
            Doc::Watch(s) => {
                entry.documents.push("watch".into());
                for src in &s.sources {
                    let server = if src.name.is_empty() {
                        &src.address
                    } else {
                        &src.name
                    };
                    see(server, &src.cause, &src.why, "watch", entry);
                }
            }
        }
    }
    let given = fleet::Given {
        documents: used.into_iter().collect(),
        unreachable: unreachable
            .iter()
            .map(|u| (u.host.clone(), u.said.clone()))
            .collect(),
    };
    let j = fleet::judge_fleet(&obs, &node_findings, &given);
    let code = if docs.is_empty() {
        Cause::UnrecognizedInput.class().exit_code()
    } else {
        crate::diagnose::verdict::exit_status([&j.verdict])
    };
    let servers: Vec<FleetServerJson> = j
        .servers
        .iter()
        .map(|s| FleetServerJson {
            server: s.server.clone(),
            verdict: (&s.verdict).into(),
            nodes_asking: s.failing.len() + s.ok.len() + s.unsynchronized.len() + s.other.len(),
            failing: s.failing.clone(),
            ok: s.ok.clone(),
            unsynchronized: s.unsynchronized.clone(),
            other: s.other.clone(),
        })
        .collect();
    let r = FleetReport {
        schema_version: super::SCHEMA_VERSION,
        tool: "ntpdiag".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        command: "fleet".into(),
        verdict: (&j.verdict).into(),
        servers,
        nodes: nodes.into_values().collect(),
        inputs,
        unreachable,
        exit_code: code,
    };
    (r, j)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The gatherers' own words (Ansible's minimal and default callbacks,
    /// ssh's connect error as pdsh prints it).
    #[test]
    fn hosts_the_gatherer_could_not_reach() {
        let text = "compute1 | SUCCESS | rc=0 >>\n{}\ncompute2 | UNREACHABLE! => {\n    \"changed\": false,\n    \"unreachable\": true\n}\nfatal: [compute3]: UNREACHABLE! => {\"changed\": false, \"unreachable\": true}\nfatal: [compute4 -> bastion]: UNREACHABLE! => {}\ncompute5: ssh: connect to host compute5 port 22: No route to host\ncompute2 | UNREACHABLE! => {}\n";
        let hosts: Vec<String> = unreachable_hosts(text)
            .into_iter()
            .map(|(h, _)| h)
            .collect();
        assert_eq!(hosts, ["compute2", "compute3", "compute4", "compute5"]);
        let (r, _) = report(vec![Input {
            name: "run.log".into(),
            bytes: Ok(text.as_bytes().to_vec()),
        }]);
        assert_eq!(r.unreachable.len(), 4);
        assert!(
            r.verdict.notes.iter().any(|n| n.contains("compute5")),
            "{:?}",
            r.verdict
        );
    }
}

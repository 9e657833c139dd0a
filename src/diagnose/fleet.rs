//! Judgement over many nodes: what each node concluded about each server
//! (from its `probe`, `explain` or `watch`), put side by side. Pure: the
//! observations in, one verdict per server and one for the fleet out.
//!
//! The rules, in order, for a server U:
//! 1. every node that asks U hears that U is unsynchronized → U has no
//!    upstream;
//! 2. U answers none of the nodes that ask it while each of them reaches
//!    another server → U, or the path next to U;
//! 3. only some nodes fail with U while others get an answer → those nodes'
//!    side: their network path or host firewall (or a rule on U that
//!    singles them out);
//! 4. U answers none of its nodes, and they reach nothing else either → the
//!    fault may be on their side as well as U's;
//! 5. any other finding (a kiss code, an unusable answer) → that finding,
//!    with its nodes;
//! 6. every node gets good time from U → ok.

use std::collections::BTreeMap;

use super::cause::{Cause, Class};
use super::verdict::{Confidence, Verdict, rank};

/// What one node concluded about one server.
#[derive(Clone, Debug, PartialEq)]
pub struct Observation {
    pub node: String,
    /// The server as the node names it (configured host or probe target).
    pub server: String,
    pub cause: Cause,
    pub summary: String,
    /// probe, explain or watch.
    pub from: String,
}

/// A finding about a node itself (no daemon, a local firewall, …).
#[derive(Clone, Debug, PartialEq)]
pub struct NodeFinding {
    pub node: String,
    pub cause: Cause,
    pub summary: String,
}

/// The verdict on one server, and which nodes stand where.
#[derive(Clone, Debug, PartialEq)]
pub struct ServerVerdict {
    pub server: String,
    pub verdict: Verdict,
    /// Nodes that got no answer (silence or an ICMP refusal).
    pub failing: Vec<String>,
    /// Nodes that got good time.
    pub ok: Vec<String>,
    /// Nodes told the server is unsynchronized.
    pub unsynchronized: Vec<String>,
    /// Nodes with another finding (kiss, unusable answers, a local error).
    pub other: Vec<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Judgement {
    pub servers: Vec<ServerVerdict>,
    /// Per node: its own blocking findings.
    pub nodes: Vec<NodeFinding>,
    /// The fleet's verdict: the first by the one ranking, with the others'
    /// summaries as evidence.
    pub verdict: Verdict,
}

fn failing_class(c: Cause) -> bool {
    matches!(c.class(), Class::Silence | Class::Refused)
}

/// The most severe observation each node has of each server.
fn by_server(obs: &[Observation]) -> BTreeMap<&str, BTreeMap<&str, &Observation>> {
    let mut m: BTreeMap<&str, BTreeMap<&str, &Observation>> = BTreeMap::new();
    for o in obs {
        let e = m.entry(&o.server).or_default();
        let severe = |x: &Observation| {
            let v = Verdict::new(x.cause, "", Confidence::Low);
            rank(&v)
        };
        match e.get(o.node.as_str()) {
            Some(prev) if severe(prev) <= severe(o) => {}
            _ => {
                e.insert(&o.node, o);
            }
        }
    }
    m
}

fn names(v: &[String]) -> String {
    v.join(", ")
}

pub fn judge(obs: &[Observation], node_findings: &[NodeFinding]) -> Judgement {
    let servers = by_server(obs);
    // Nodes that get good time from some server.
    let reaches = |node: &str, not: &str| {
        obs.iter()
            .any(|o| o.node == node && o.server != not && o.cause.class() == Class::Ok)
    };
    let mut out = vec![];
    for (server, per_node) in &servers {
        let mut failing = vec![];
        let mut ok = vec![];
        let mut unsync = vec![];
        let mut other = vec![];
        for (node, o) in per_node {
            let n = node.to_string();
            if o.cause == Cause::UpstreamUnsynchronized {
                unsync.push(n);
            } else if failing_class(o.cause) {
                failing.push(n);
            } else if o.cause.class() == Class::Ok {
                ok.push(n);
            } else {
                other.push(n);
            }
        }
        let asked = per_node.len();
        let evidence: Vec<String> = per_node
            .values()
            .map(|o| format!("{}: [{}] {} ({})", o.node, o.cause.id(), o.summary, o.from))
            .collect();
        let first_failing = failing
            .first()
            .and_then(|n| per_node.get(n.as_str()))
            .map(|o| o.cause)
            .unwrap_or(Cause::NoReply);
        let mut v = if !unsync.is_empty() && unsync.len() == asked {
            Verdict::new(
                Cause::UpstreamUnsynchronized,
                format!(
                    "{server} answers every node that asks it ({asked}), but says it has no good time itself: {server} has no working upstream."
                ),
                if asked >= 2 { Confidence::High } else { Confidence::Medium },
            )
            .fix(Cause::UpstreamUnsynchronized.info().fix)
        } else if failing.len() == asked && asked >= 2 && failing.iter().all(|n| reaches(n, server))
        {
            Verdict::new(
                first_failing,
                format!(
                    "{server} answers none of the {asked} nodes that ask it, while each of them gets time from another server: the fault is {server} itself or the path next to it."
                ),
                Confidence::High,
            )
            .fix(format!(
                "look at {server}: its firewall (`iptables -S INPUT`, `nft list ruleset`), its daemon (`ntpq -p` / `chronyc sources` there), its link and the router in front of it"
            ))
        } else if !failing.is_empty() && failing.len() < asked {
            Verdict::new(
                first_failing,
                format!(
                    "Only {} of the {asked} nodes that ask {server} get no answer ({}), while {} do: the fault is on their side — their network path or their host firewall — or a rule on {server} that singles them out.",
                    failing.len(),
                    names(&failing),
                    names(&[ok.clone(), unsync.clone(), other.clone()].concat())
                ),
                if ok.is_empty() { Confidence::Medium } else { Confidence::High },
            )
            .fix(format!(
                "on {}: the local firewall (`iptables -S OUTPUT`, `iptables -S INPUT`), the route to {server} (`ip route get`); on {server}: rules or restrict lines naming their addresses",
                names(&failing)
            ))
        } else if !failing.is_empty() {
            Verdict::new(
                first_failing,
                if asked == 1 {
                    format!(
                        "Only {} asks {server}, and gets no answer: one node cannot tell {server} from its own path.",
                        names(&failing)
                    )
                } else {
                    format!(
                        "{server} answers none of the {asked} nodes that ask it, and they get time from no other server either: the fault may be on their side (their network, a shared firewall) as much as {server}'s."
                    )
                },
                Confidence::Medium,
            )
            .fix(crate::diagnose::rules::prose::PROBE_TO_NAME)
        } else if !other.is_empty() {
            let o = per_node[other[0].as_str()];
            Verdict::new(
                o.cause,
                format!("{server}: {} (on {})", o.summary, names(&other)),
                Confidence::Medium,
            )
            .fix(o.cause.info().fix)
        } else {
            Verdict::new(
                Cause::Ok,
                format!("{server} gives usable time to every node that asks it ({asked})."),
                Confidence::High,
            )
        };
        for e in evidence {
            v = v.evidence(e);
        }
        out.push(ServerVerdict {
            server: server.to_string(),
            verdict: v,
            failing,
            ok,
            unsynchronized: unsync,
            other,
        });
    }
    let nodes: Vec<NodeFinding> = node_findings
        .iter()
        .filter(|f| f.cause.class() != Class::Ok)
        .cloned()
        .collect();
    // The fleet's verdict: server verdicts and node findings, one ranking.
    let mut all: Vec<Verdict> = out.iter().map(|s| s.verdict.clone()).collect();
    for f in &nodes {
        all.push(
            Verdict::new(
                f.cause,
                format!("{}: {}", f.node, f.summary),
                Confidence::High,
            )
            .fix(f.cause.info().fix),
        );
    }
    let verdict = match all.iter().min_by_key(|v| rank(v)) {
        Some(top) => {
            let mut v = top.clone();
            for other in all.iter().filter(|o| !std::ptr::eq(*o, top)) {
                if other.cause != Cause::Ok {
                    v.notes.push(format!("also: [{}] {}", other.cause.id(), other.summary));
                }
            }
            v
        }
        None => Verdict::new(
            Cause::UnrecognizedInput,
            "No node's document names a server or a finding.",
            Confidence::High,
        )
        .fix("give fleet the JSON that `ntpdiag explain --json`, `probe --json` or `watch --json` printed on each node"),
    };
    Judgement {
        servers: out,
        nodes,
        verdict,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(node: &str, server: &str, cause: Cause) -> Observation {
        Observation {
            node: node.into(),
            server: server.into(),
            cause,
            summary: cause.id(),
            from: "probe".into(),
        }
    }

    #[test]
    fn the_server_or_its_path_when_every_node_fails_with_it_alone() {
        let obs = [
            o("c1", "controller", Cause::NoReply),
            o("c2", "controller", Cause::NoReply),
            o("c1", "backup", Cause::Ok),
            o("c2", "backup", Cause::Ok),
        ];
        let j = judge(&obs, &[]);
        assert_eq!(j.verdict.cause, Cause::NoReply);
        assert!(
            j.verdict
                .summary
                .contains("controller itself or the path next to it"),
            "{}",
            j.verdict.summary
        );
        assert_eq!(j.servers[1].failing, vec!["c1", "c2"]);
        assert_eq!(j.verdict.confidence, Confidence::High);
    }

    #[test]
    fn only_some_nodes_fail_then_their_side() {
        let obs = [
            o("c1", "controller", Cause::Ok),
            o("c2", "controller", Cause::Ok),
            o("c3", "controller", Cause::NoReply),
        ];
        let j = judge(&obs, &[]);
        assert_eq!(j.verdict.cause, Cause::NoReply);
        assert!(
            j.verdict.summary.starts_with("Only 1 of the 3 nodes"),
            "{}",
            j.verdict.summary
        );
        assert!(j.verdict.summary.contains("(c3)"));
    }

    #[test]
    fn every_node_sees_it_unsynchronized_then_no_upstream() {
        let obs = [
            o("c1", "controller", Cause::UpstreamUnsynchronized),
            o("c2", "controller", Cause::UpstreamUnsynchronized),
        ];
        let j = judge(&obs, &[]);
        assert_eq!(j.verdict.cause, Cause::UpstreamUnsynchronized);
        assert!(j.verdict.summary.contains("has no working upstream"));
    }

    #[test]
    fn nothing_else_reachable_is_not_blamed_on_the_server_alone() {
        let obs = [
            o("c1", "controller", Cause::NoReply),
            o("c2", "controller", Cause::NoReply),
        ];
        let j = judge(&obs, &[]);
        assert_eq!(j.verdict.confidence, Confidence::Medium);
        assert!(j.verdict.summary.contains("on their side"));
    }

    #[test]
    fn node_findings_rank_with_the_servers() {
        let obs = [o("c1", "controller", Cause::Ok)];
        let nf = [NodeFinding {
            node: "c2".into(),
            cause: Cause::DaemonNotRunning,
            summary: "ntpd is configured but not running.".into(),
        }];
        let j = judge(&obs, &nf);
        assert_eq!(j.verdict.cause, Cause::DaemonNotRunning);
        assert!(j.verdict.summary.starts_with("c2: "));
        assert!(judge(&[], &[]).verdict.cause == Cause::UnrecognizedInput);
    }
}

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
//!
//! These are [`SERVER_STEPS`], a table of the one shape
//! ([`super::table`]) over [`ServerCase`], the evidence the adapter
//! `ServerCase::of` builds from the observations; a node's own finding
//! goes through [`FINDING_STEPS`], and the fleet's verdict through
//! [`FLEET_STEPS`]: the first of all by the one ranking.

use std::collections::BTreeMap;

use super::cause::{Cause, Class};
use super::table::{Rule, Step, When, judge};
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
    /// When the document was made (Unix seconds), if it says.
    pub time: Option<i64>,
}

impl Observation {
    /// From a document that lists all the node's servers (explain, watch),
    /// not only the targets it was asked about (probe).
    pub fn complete(&self) -> bool {
        self.from != "probe"
    }
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
pub struct FleetJudgement {
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

/// Each node's word on each server: its newest observation when the
/// documents carry their time, else the most severe (and the disagreement
/// is noted: two documents without time cannot be ordered).
fn by_server<'a>(
    obs: &'a [Observation],
    notes: &mut Vec<String>,
) -> BTreeMap<&'a str, BTreeMap<&'a str, &'a Observation>> {
    let mut m: BTreeMap<&str, BTreeMap<&str, &Observation>> = BTreeMap::new();
    for o in obs {
        let e = m.entry(&o.server).or_default();
        let keep_new = match e.get(o.node.as_str()) {
            None => true,
            Some(prev) => match (prev.time, o.time) {
                (Some(a), Some(b)) if a != b => b > a,
                _ => {
                    if prev.cause != o.cause {
                        notes.push(format!(
                            "{}: two documents disagree on {} ([{}] from {}, [{}] from {}) and carry no time to order them: the more severe is kept",
                            o.node,
                            o.server,
                            prev.cause.id(),
                            prev.from,
                            o.cause.id(),
                            o.from
                        ));
                    }
                    o.cause.info().rank < prev.cause.info().rank
                }
            },
        };
        if keep_new {
            e.insert(&o.node, o);
        }
    }
    m
}

/// What the server rules read of one server: each node's most severe
/// observation of it, the nodes sorted by what they got.
#[derive(Clone, Debug, PartialEq)]
pub struct ServerCase {
    pub server: String,
    /// Per node (in node order), its most severe observation.
    pub per_node: Vec<Observation>,
    pub failing: Vec<String>,
    pub ok: Vec<String>,
    pub unsynchronized: Vec<String>,
    pub other: Vec<String>,
    /// Every failing node gets good time from another server.
    pub failing_reach_others: bool,
    /// Failing nodes whose documents are probes only: whether they reach
    /// another server is not in them.
    pub failing_unknown: Vec<String>,
}

impl ServerCase {
    /// The adapter: one server's observations, and every node's (to tell
    /// whether a node reaches other servers).
    fn of(server: &str, per_node: &BTreeMap<&str, &Observation>, all: &[Observation]) -> Self {
        let reaches = |node: &str| {
            all.iter()
                .any(|o| o.node == node && o.server != server && o.cause.class() == Class::Ok)
        };
        let complete = |node: &str| all.iter().any(|o| o.node == node && o.complete());
        let mut c = ServerCase {
            server: server.to_string(),
            per_node: per_node.values().map(|o| (*o).clone()).collect(),
            failing: vec![],
            ok: vec![],
            unsynchronized: vec![],
            other: vec![],
            failing_reach_others: false,
            failing_unknown: vec![],
        };
        for (node, o) in per_node {
            let n = node.to_string();
            if o.cause == Cause::UpstreamUnsynchronized {
                c.unsynchronized.push(n);
            } else if failing_class(o.cause) {
                c.failing.push(n);
            } else if o.cause.class() == Class::Ok {
                c.ok.push(n);
            } else {
                c.other.push(n);
            }
        }
        c.failing_reach_others = c.failing.iter().all(|n| reaches(n));
        c.failing_unknown = c
            .failing
            .iter()
            .filter(|n| !reaches(n) && !complete(n))
            .cloned()
            .collect();
        c
    }

    fn asked(&self) -> usize {
        self.per_node.len()
    }

    fn node(&self, name: &str) -> Option<&Observation> {
        self.per_node.iter().find(|o| o.node == name)
    }

    /// The first failing node's cause (no-reply when none fails).
    fn failing_cause(&self) -> Cause {
        self.failing
            .first()
            .and_then(|n| self.node(n))
            .map_or(Cause::NoReply, |o| o.cause)
    }
}

/// Every cause of the silence and refused classes: what a failing node got.
const FAILING: &[Cause] = &[
    Cause::NoReply,
    Cause::SourcePortFiltered,
    Cause::AsymmetricPath,
    Cause::NtsKeNoReply,
    Cause::NtsKeRefused,
    Cause::NtsPacketsDropped,
    Cause::PortUnreachable,
    Cause::AdminProhibited,
    Cause::HostUnreachable,
    Cause::NetUnreachable,
];

/// The server rules, in order (see the module doc).
pub static SERVER_STEPS: &[Step<ServerCase>] = &[Step {
    name: "server",
    applies: When::Always,
    rules: &[
        Rule {
            names: &[Cause::UpstreamUnsynchronized],
            when: When::If(|c| !c.unsynchronized.is_empty() && c.unsynchronized.len() == c.asked()),
            say: no_upstream,
        },
        Rule {
            names: FAILING,
            when: When::If(|c| {
                c.failing.len() == c.asked() && c.asked() >= 2 && c.failing_reach_others
            }),
            say: server_or_its_path,
        },
        Rule {
            names: FAILING,
            when: When::If(|c| !c.failing.is_empty() && c.failing.len() < c.asked()),
            say: their_side,
        },
        Rule {
            names: FAILING,
            when: When::If(|c| !c.failing.is_empty()),
            say: cannot_tell,
        },
        Rule {
            names: Cause::ANY,
            when: When::If(|c| !c.other.is_empty()),
            say: other_finding,
        },
        Rule {
            names: &[Cause::Ok],
            when: When::Always,
            say: good_time,
        },
    ],
}];

/// A node's own finding, as a verdict that ranks with the servers'.
pub static FINDING_STEPS: &[Step<NodeFinding>] = &[Step {
    name: "node",
    applies: When::Always,
    rules: &[Rule {
        names: Cause::ANY,
        when: When::Always,
        say: node_finding,
    }],
}];

/// Every server's and node's verdict: the fleet step's evidence.
pub struct AllVerdicts(pub Vec<Verdict>);

/// The fleet: every server's and node's verdict, the first by the one
/// ranking leading.
pub static FLEET_STEPS: &[Step<AllVerdicts>] = &[Step {
    name: "fleet",
    applies: When::Always,
    rules: &[
        Rule {
            names: Cause::ANY,
            when: When::If(|all| !all.0.is_empty()),
            say: lead,
        },
        Rule {
            names: &[Cause::UnrecognizedInput],
            when: When::Always,
            say: nothing_given,
        },
    ],
}];

fn names(v: &[String]) -> String {
    v.join(", ")
}

/// Each node's word on the server, as evidence.
fn with_nodes(mut v: Verdict, c: &ServerCase) -> Verdict {
    for o in &c.per_node {
        v = v.evidence(format!(
            "{}: [{}] {} ({})",
            o.node,
            o.cause.id(),
            o.summary,
            o.from
        ));
    }
    v
}

fn no_upstream(c: &ServerCase) -> Verdict {
    let (server, asked) = (&c.server, c.asked());
    let v = Verdict::new(
        Cause::UpstreamUnsynchronized,
        format!(
            "{server} answers every node that asks it ({asked}), but says it has no good time itself: {server} has no working upstream."
        ),
        if asked >= 2 {
            Confidence::High
        } else {
            Confidence::Medium
        },
    )
    .fix(Cause::UpstreamUnsynchronized.info().fix);
    with_nodes(v, c)
}

fn server_or_its_path(c: &ServerCase) -> Verdict {
    let (server, asked) = (&c.server, c.asked());
    let v = Verdict::new(
        c.failing_cause(),
        format!(
            "{server} answers none of the {asked} nodes that ask it, while each of them gets time from another server: the fault is {server} itself or the path next to it."
        ),
        Confidence::High,
    )
    .fix(format!(
        "look at {server}: its firewall (`iptables -S INPUT`, `nft list ruleset`), its daemon (`ntpq -p` / `chronyc sources` there), its link and the router in front of it"
    ));
    with_nodes(v, c)
}

fn their_side(c: &ServerCase) -> Verdict {
    let (server, asked) = (&c.server, c.asked());
    let v = Verdict::new(
        c.failing_cause(),
        format!(
            "Only {} of the {asked} nodes that ask {server} get no answer ({}), while {} do: the fault is on their side — their network path or their host firewall — or a rule on {server} that singles them out.",
            c.failing.len(),
            names(&c.failing),
            names(&[c.ok.clone(), c.unsynchronized.clone(), c.other.clone()].concat())
        ),
        if c.ok.is_empty() {
            Confidence::Medium
        } else {
            Confidence::High
        },
    )
    .fix(format!(
        "on {}: the local firewall (`iptables -S OUTPUT`, `iptables -S INPUT`), the route to {server} (`ip route get`); on {server}: rules or restrict lines naming their addresses",
        names(&c.failing)
    ));
    with_nodes(v, c)
}

fn cannot_tell(c: &ServerCase) -> Verdict {
    let (server, asked) = (&c.server, c.asked());
    let v = Verdict::new(
        c.failing_cause(),
        if !c.failing_unknown.is_empty() {
            format!(
                "{server} answers none of the {asked} node(s) that ask it; whether {} reach another server is not in their documents (a probe names only its targets): {server} cannot be told from their path.",
                names(&c.failing_unknown)
            )
        } else if asked == 1 {
            format!(
                "Only {} asks {server}, and gets no answer: one node cannot tell {server} from its own path.",
                names(&c.failing)
            )
        } else {
            format!(
                "{server} answers none of the {asked} nodes that ask it, and they get time from no other server either: the fault may be on their side (their network, a shared firewall) as much as {server}'s."
            )
        },
        Confidence::Medium,
    )
    .fix(crate::diagnose::rules::prose::PROBE_TO_NAME);
    with_nodes(v, c)
}

fn other_finding(c: &ServerCase) -> Verdict {
    let o = c.node(&c.other[0]).expect("a node of this server");
    let v = Verdict::new(
        o.cause,
        format!("{}: {} (on {})", c.server, o.summary, names(&c.other)),
        Confidence::Medium,
    )
    .fix(o.cause.info().fix);
    with_nodes(v, c)
}

fn good_time(c: &ServerCase) -> Verdict {
    let v = Verdict::new(
        Cause::Ok,
        format!(
            "{} gives usable time to every node that asks it ({}).",
            c.server,
            c.asked()
        ),
        Confidence::High,
    );
    with_nodes(v, c)
}

fn node_finding(f: &NodeFinding) -> Verdict {
    Verdict::new(
        f.cause,
        format!("{}: {}", f.node, f.summary),
        Confidence::High,
    )
    .fix(f.cause.info().fix)
}

fn lead(AllVerdicts(all): &AllVerdicts) -> Verdict {
    let top = all
        .iter()
        .min_by_key(|v| rank(v))
        .expect("checked by the rule");
    let mut v = top.clone();
    for other in all.iter().filter(|o| !std::ptr::eq(*o, top)) {
        if other.cause != Cause::Ok {
            v.notes
                .push(format!("also: [{}] {}", other.cause.id(), other.summary));
        }
    }
    v
}

fn nothing_given(_: &AllVerdicts) -> Verdict {
    Verdict::new(
        Cause::UnrecognizedInput,
        "No node's document names a server or a finding.",
        Confidence::High,
    )
    .fix("give fleet the JSON that `ntpdiag explain --json`, `probe --json` or `watch --json` printed on each node")
}

/// A document fleet read: its kind (explain, probe, watch) and its time as
/// written.
pub type DocumentRead = (String, Option<String>);

/// What fleet was given besides observations: each node's documents, and
/// the hosts the gatherer could not reach (host, the gatherer's line).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Given {
    pub documents: Vec<(String, Vec<DocumentRead>)>,
    pub unreachable: Vec<(String, String)>,
}

pub fn judge_fleet(
    obs: &[Observation],
    node_findings: &[NodeFinding],
    given: &Given,
) -> FleetJudgement {
    let mut unordered = vec![];
    let servers: Vec<ServerVerdict> = by_server(obs, &mut unordered)
        .iter()
        .map(|(server, per_node)| {
            let c = ServerCase::of(server, per_node, obs);
            let verdict = judge(SERVER_STEPS, &c).1;
            ServerVerdict {
                server: c.server,
                verdict,
                failing: c.failing,
                ok: c.ok,
                unsynchronized: c.unsynchronized,
                other: c.other,
            }
        })
        .collect();
    let nodes: Vec<NodeFinding> = node_findings
        .iter()
        .filter(|f| f.cause.class() != Class::Ok)
        .cloned()
        .collect();
    // The fleet's verdict: server verdicts and node findings, one ranking.
    let mut all: Vec<Verdict> = servers.iter().map(|s| s.verdict.clone()).collect();
    all.extend(nodes.iter().map(|f| judge(FINDING_STEPS, f).1));
    let mut verdict = judge(FLEET_STEPS, &AllVerdicts(all)).1;
    // Which documents the verdict stands on, and what it could not see.
    for (node, docs) in &given.documents {
        verdict.evidence.push(format!(
            "documents used from {node}: {}",
            docs.iter()
                .map(|(kind, time)| match time {
                    Some(t) => format!("{kind} of {t}"),
                    None => format!("{kind} (no time)"),
                })
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    for (host, line) in &given.unreachable {
        verdict.notes.push(format!(
            "{host}: the gatherer could not reach it, so nothing of it is judged ({line})"
        ));
    }
    verdict.notes.extend(unordered);
    FleetJudgement {
        servers,
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
            time: None,
        }
    }

    #[test]
    fn the_tables_have_the_one_shape() {
        use crate::diagnose::table::check_shape;
        check_shape(SERVER_STEPS).unwrap();
        check_shape(FINDING_STEPS).unwrap();
        check_shape(FLEET_STEPS).unwrap();
    }

    #[test]
    fn failing_is_every_silence_and_refused_cause() {
        let want: Vec<Cause> = Cause::FIXED
            .iter()
            .copied()
            .filter(|c| failing_class(*c))
            .collect();
        let mut got = FAILING.to_vec();
        got.sort_by_key(|c| c.id());
        let mut want = want;
        want.sort_by_key(|c| c.id());
        assert_eq!(got, want);
    }

    #[test]
    fn the_server_or_its_path_when_every_node_fails_with_it_alone() {
        let obs = [
            o("c1", "controller", Cause::NoReply),
            o("c2", "controller", Cause::NoReply),
            o("c1", "backup", Cause::Ok),
            o("c2", "backup", Cause::Ok),
        ];
        let j = judge_fleet(&obs, &[], &Given::default());
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
        let j = judge_fleet(&obs, &[], &Given::default());
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
        let j = judge_fleet(&obs, &[], &Given::default());
        assert_eq!(j.verdict.cause, Cause::UpstreamUnsynchronized);
        assert!(j.verdict.summary.contains("has no working upstream"));
    }

    #[test]
    fn nothing_else_reachable_is_not_blamed_on_the_server_alone() {
        let obs = [
            from(o("c1", "controller", Cause::NoReply), "explain", None),
            from(o("c2", "controller", Cause::NoReply), "explain", None),
        ];
        let j = judge_fleet(&obs, &[], &Given::default());
        assert_eq!(j.verdict.confidence, Confidence::Medium);
        assert!(j.verdict.summary.contains("on their side"));
    }

    fn from(mut x: Observation, kind: &str, time: Option<i64>) -> Observation {
        x.from = kind.into();
        x.time = time;
        x
    }

    /// The case: one node's explain (its backup works), another's
    /// probe of the controller alone. The probe says nothing of the second
    /// node's other servers: no "they get time from no other server".
    #[test]
    fn a_probe_says_nothing_of_the_nodes_other_servers() {
        let obs = [
            from(o("c1", "controller", Cause::NoReply), "explain", None),
            from(o("c1", "backup", Cause::Ok), "explain", None),
            o("c2", "controller", Cause::NoReply),
        ];
        let j = judge_fleet(&obs, &[], &Given::default());
        let v = &j.servers[1].verdict;
        assert_eq!(j.servers[1].server, "controller");
        assert!(!v.summary.contains("no other server"), "{v:?}");
        assert!(v.summary.contains("c2"), "{v:?}");
        assert_ne!(v.confidence, Confidence::High);
    }

    /// Two documents of one node: the newer one's word stands when both
    /// carry their time; without time the disagreement is said.
    #[test]
    fn the_newest_document_of_a_node_wins() {
        let obs = [
            from(o("c1", "controller", Cause::NoReply), "explain", Some(100)),
            from(o("c1", "controller", Cause::Ok), "explain", Some(200)),
        ];
        let j = judge_fleet(&obs, &[], &Given::default());
        assert_eq!(j.servers[0].verdict.cause, Cause::Ok, "{j:?}");
        let obs = [
            from(o("c1", "controller", Cause::Ok), "explain", Some(300)),
            from(o("c1", "controller", Cause::NoReply), "explain", Some(200)),
        ];
        assert_eq!(
            judge_fleet(&obs, &[], &Given::default()).servers[0]
                .verdict
                .cause,
            Cause::Ok
        );
        let obs = [
            from(o("c1", "controller", Cause::Ok), "explain", None),
            from(o("c1", "controller", Cause::NoReply), "explain", None),
        ];
        let j = judge_fleet(&obs, &[], &Given::default());
        assert_eq!(j.servers[0].verdict.cause, Cause::NoReply);
        assert!(
            j.verdict
                .notes
                .iter()
                .any(|n| n.contains("no time to order them")),
            "{j:?}"
        );
    }

    /// An excluded falseticker (its node synchronizes to the others) ranks
    /// below a controller silent to every node; hosts the gatherer did not
    /// reach are said, and the documents used are listed.
    #[test]
    fn a_falseticker_ranks_below_a_silent_server_and_unreached_hosts_are_said() {
        let obs = [
            from(o("c1", "controller", Cause::NoReply), "explain", None),
            from(o("c2", "controller", Cause::NoReply), "explain", None),
            from(o("c1", "bad", Cause::Falseticker), "explain", None),
            from(o("c1", "good1", Cause::Ok), "explain", None),
            from(o("c2", "good1", Cause::Ok), "explain", None),
        ];
        let given = Given {
            documents: vec![(
                "c1".into(),
                vec![("explain".into(), Some("2026-12-07T10:00:00Z".into()))],
            )],
            unreachable: vec![("c3".into(), "c3 | UNREACHABLE! => {".into())],
        };
        let j = judge_fleet(&obs, &[], &given);
        assert_eq!(j.verdict.cause, Cause::NoReply, "{:?}", j.verdict);
        assert!(
            j.verdict
                .notes
                .iter()
                .any(|n| n.contains("c3") && n.contains("could not reach"))
        );
        assert!(
            j.verdict
                .evidence
                .iter()
                .any(|e| e.contains("explain of 2026-12-07T10:00:00Z"))
        );
    }

    #[test]
    fn node_findings_rank_with_the_servers() {
        let obs = [o("c1", "controller", Cause::Ok)];
        let nf = [NodeFinding {
            node: "c2".into(),
            cause: Cause::DaemonNotRunning,
            summary: "ntpd is configured but not running.".into(),
        }];
        let j = judge_fleet(&obs, &nf, &Given::default());
        assert_eq!(j.verdict.cause, Cause::DaemonNotRunning);
        assert!(j.verdict.summary.starts_with("c2: "));
        assert!(judge_fleet(&[], &[], &Given::default()).verdict.cause == Cause::UnrecognizedInput);
    }
}

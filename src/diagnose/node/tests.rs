use super::*;

#[test]
fn the_node_table_has_the_one_shape() {
    crate::diagnose::table::check_shape(NODE_STEPS).unwrap();
}

/// Every kind of case has a step of its own: none falls through to the
/// last step's rules by accident.
#[test]
fn every_case_kind_reaches_its_own_step() {
    let server = ServerFacts {
        host: "ntp.test".into(),
        file: "/etc/ntp.conf".into(),
        line: 3,
        kind: "server",
        options: vec![],
        resolved: None,
        probes: vec![],
    };
    let line = DefaultAccess {
        file: "/etc/ntp.conf".into(),
        line: 5,
        target: "default".into(),
        flags: vec!["noquery".into()],
        allow: false,
    };
    let ok = Verdict::new(Cause::Ok, "fine", Confidence::High);
    let cases = [
        (Case::Daemons(vec![]), "daemons"),
        (
            Case::Issue(ConfigIssue {
                file: "f".into(),
                line: 1,
                message: "m".into(),
                fatal: true,
            }),
            "config-issue",
        ),
        (
            Case::Sources {
                configs: 0,
                network_sources: 0,
                local_clock: false,
                files: vec![],
                unicast_hosts: 0,
                pools: 0,
                policy: Policy::default(),
            },
            "sources",
        ),
        (
            Case::Process {
                daemon: Daemon::Ntpd,
                running: true,
                holders: vec![],
            },
            "process",
        ),
        (
            Case::Port {
                daemon: Daemon::Ntpd,
                holders: vec![],
            },
            "port-123",
        ),
        (
            Case::Firewall(FirewallRule {
                tool: "nft".into(),
                text: "t".into(),
                blocks_out: false,
                blocks_in: false,
            }),
            "local-firewall",
        ),
        (
            Case::Unresolved {
                server: server.clone(),
                error: "e".into(),
            },
            "server-name",
        ),
        (
            Case::Probe {
                server: server.clone(),
                verdict: ok.clone(),
            },
            "server-probe",
        ),
        (
            Case::Clock {
                causes: vec![],
                makestep: None,
            },
            "clock",
        ),
        (Case::Asymmetry { good: vec![] }, "asymmetry"),
        (
            Case::View {
                blocks: vec![],
                overall: None,
                real_ntpd: false,
                servers_fine: false,
                probe_summaries: vec![],
                no_probe: false,
            },
            "daemon-view",
        ),
        (
            Case::Serve {
                daemon: Daemon::Ntpd,
                line: line.clone(),
            },
            "serve",
        ),
        (
            Case::Query {
                daemon: Daemon::Ntpd,
                line,
            },
            "query",
        ),
    ];
    for (c, step) in cases {
        assert_eq!(crate::diagnose::table::pick(NODE_STEPS, &c).0.name, step);
    }
}

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
        mask: None,
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
            Case::OwnAddress {
                server: server.clone(),
                address: "127.0.0.1".parse().unwrap(),
            },
            "server-is-this-host",
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
                serves_nobody: true,
            },
            "serve",
        ),
        (
            Case::OwnServers {
                line: line.clone(),
                servers: vec!["controller".into()],
            },
            "own-servers",
        ),
        (
            Case::Query {
                daemon: Daemon::Ntpd,
                line,
            },
            "query",
        ),
        (
            Case::Host(HostCase::Smear {
                smearing: vec![],
                not_smearing: vec![],
            }),
            "host",
        ),
    ];
    for (c, step) in cases {
        assert_eq!(crate::diagnose::table::pick(NODE_STEPS, &c).0.name, step);
    }
}

/// A daemon that hears nothing while ntpdiag's probes are answered: never a
/// confident finding. ntpd (sends from 123, untested): source-port-filtered
/// at low confidence, said as a hypothesis; chronyd (random ports): not a
/// contradiction ("its servers answer" beside "never answered").
#[test]
fn unheard_by_the_daemon_but_answered_here_is_a_hypothesis() {
    let silent = Verdict::new(Cause::NoReply, "controller never answered", Confidence::Low);
    for (real_ntpd, want) in [
        (true, Cause::SourcePortFiltered),
        (false, Cause::DaemonNotSynchronizedYet),
    ] {
        let c = Case::View {
            blocks: vec![],
            overall: Some(silent.clone()),
            real_ntpd,
            servers_fine: true,
            probe_summaries: vec!["controller: ok".into()],
            no_probe: false,
        };
        let v = crate::diagnose::table::judge(NODE_STEPS, &c).1;
        assert_eq!(v.cause, want);
        assert_eq!(v.confidence, Confidence::Low, "{v:?}");
        assert!(!v.summary.contains("not selected one yet"), "{v:?}");
        assert!(v.fix[0].starts_with("to confirm"), "{v:?}");
    }
}

/// Which restrict lines let a server's replies in (ntp_config.c
/// config_access(): address and mask, or a CIDR prefix; `restrict source`).
#[test]
fn restrict_lines_that_cover_a_server() {
    let server = ServerFacts {
        host: "controller".into(),
        file: "f".into(),
        line: 1,
        kind: "server",
        options: vec![],
        resolved: Some(Ok(vec!["198.51.100.1:123".parse().unwrap()])),
        probes: vec![],
    };
    let l = |target: &str, mask: Option<&str>, flags: &[&str]| DefaultAccess {
        file: "f".into(),
        line: 2,
        target: target.into(),
        mask: mask.map(String::from),
        flags: flags.iter().map(|f| f.to_string()).collect(),
        allow: false,
    };
    for (line, want) in [
        (l("source", None, &["nomodify"]), true),
        (l("controller", None, &[]), true),
        (l("198.51.100.1", None, &["noquery"]), true),
        (l("198.51.100.0", Some("255.255.255.0"), &[]), true),
        (l("198.51.100.0/24", None, &[]), true),
        (l("198.51.100.0/25", None, &[]), true),
        (l("198.51.100.128/25", None, &[]), false),
        (l("203.0.113.0", Some("255.255.255.0"), &[]), false),
        (l("198.51.100.1", None, &["ignore"]), false),
        (l("2001:db8::/32", None, &[]), false),
    ] {
        assert_eq!(
            covered(&server, std::slice::from_ref(&line)),
            want,
            "{line:?}"
        );
    }
}

/// A server that resolves only to this host, on port 123, is a loop; on
/// another port it may be another daemon here, and is probed as usual.
#[test]
fn a_server_that_is_this_host() {
    let server = |addrs: &[&str]| ServerFacts {
        host: "ntp.test".into(),
        file: "/etc/ntpd-rs/ntp.toml".into(),
        line: 3,
        kind: "server",
        options: vec![],
        resolved: Some(Ok(addrs.iter().map(|a| a.parse().unwrap()).collect())),
        probes: vec![],
    };
    let facts = |s: ServerFacts| NodeFacts {
        servers: vec![s],
        local_addrs: vec!["198.51.100.2".parse().unwrap()],
        ..NodeFacts::default()
    };
    let own = |f: &NodeFacts| {
        cases(f)
            .iter()
            .any(|c| matches!(c, Case::OwnAddress { .. }))
    };
    assert!(own(&facts(server(&["127.0.0.1:123"]))));
    assert!(own(&facts(server(&["198.51.100.2:123", "[::1]:123"]))));
    assert!(!own(&facts(server(&["127.0.0.1:1123"]))));
    assert!(!own(&facts(server(&[
        "198.51.100.2:123",
        "198.51.100.1:123"
    ]))));
    let f = findings(&facts(server(&["198.51.100.2:123"])));
    assert!(
        f.iter().any(|x| x.verdict.cause == Cause::SyncLoop),
        "{f:#?}"
    );
}

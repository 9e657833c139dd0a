//! One evidence set per explain cause id, and the seed case.

use super::*;
use crate::diagnose::{Cause, SourcePort};
use crate::explain::conf::Daemon;
use crate::explain::conf::{parse_chrony, parse_ntp};
use crate::wire::KissCode;
use crate::wire::icmp::IcmpError;

fn ntp(text: &str) -> Config {
    let mut c = Config::new(Daemon::Ntpd);
    parse_ntp("/etc/ntpsec/ntp.conf", text, &mut c);
    c
}

fn running(d: Daemon, pid: u32) -> RunningDaemon {
    RunningDaemon {
        daemon: d,
        pid,
        comm: d.name().get(..15).unwrap_or(d.name()).into(),
    }
}

/// What the network and the server do with the probe's datagrams.
#[derive(Clone, Copy)]
enum Peer {
    Healthy,
    /// Nothing comes back, not even for the liveness check.
    Silent,
    /// Every datagram draws this ICMP (type, code) from the server.
    Icmp(u8, u8),
    /// Leap 3, stratum 16, refid INIT.
    Unsync,
    Kod(KissCode),
    /// A healthy server whose clock is this many seconds off.
    ClockOff(f64),
}

/// Raw probe evidence: the real probe session run against a simulated peer.
fn probe_of(host: &str, peer: Peer) -> TargetEvidence {
    use crate::engine::probe::sim::{icmp, run, server};
    use crate::engine::probe::{ProbeConfig, ProbeSession};
    use crate::engine::server::ServerConfig;
    use crate::wire::NtpDate;
    let addr: SocketAddr = "198.51.100.1:123".parse().unwrap();
    let start = std::time::Instant::now();
    let wall0 = NtpDate::from_unix(1_764_000_000, 0).timestamp();
    let session = ProbeSession::new(ProbeConfig::default(), addr, start);
    let record = match peer {
        Peer::Healthy => run(
            session,
            start,
            wall0,
            server(ServerConfig::default(), addr, 0.0),
        ),
        Peer::Silent => run(session, start, wall0, |_, _| vec![]),
        Peer::Icmp(t, c) => run(
            session,
            start,
            wall0,
            icmp(IcmpError::v4(t, c), "198.51.100.1"),
        ),
        Peer::Unsync => run(
            session,
            start,
            wall0,
            server(ServerConfig::unsynchronized(), addr, 0.0),
        ),
        Peer::Kod(k) => run(
            session,
            start,
            wall0,
            server(
                ServerConfig {
                    kiss: Some(k),
                    ..ServerConfig::default()
                },
                addr,
                0.0,
            ),
        ),
        Peer::ClockOff(s) => run(
            session,
            start,
            wall0,
            server(ServerConfig::default(), addr, s),
        ),
    };
    TargetEvidence {
        host: host.to_string(),
        address: addr,
        source_port: SourcePort::Ephemeral,
        local_address: Some("198.51.100.2:40000".parse().unwrap()),
        setup_error: None,
        record: Some(record),
        neighbour: None,
        nts: None,
    }
}

fn probed(cfg: &Config, peer: Peer) -> Vec<ServerEvidence> {
    cfg.network_sources()
        .map(|s| ServerEvidence {
            source: s.clone(),
            resolved: Some(Ok(vec!["198.51.100.1:123".parse().unwrap()])),
            probes: vec![probe_of(&s.host, peer)],
        })
        .collect()
}

fn base(peer: Peer) -> NodeEvidence {
    let c = ntp("server controller iburst\ndriftfile /var/lib/ntpsec/ntp.drift\n");
    NodeEvidence {
        servers: probed(&c, peer),
        configs: vec![c],
        daemons: vec![running(Daemon::Ntpd, 100)],
        firewall_read: Some(vec![]),
        port123: Some(vec![PortHolder {
            addr: "0.0.0.0:123".into(),
            pid: Some(100),
            comm: Some("ntpd".into()),
        }]),
        ..NodeEvidence::default()
    }
}

fn first(ev: &NodeEvidence) -> Finding {
    let f = findings(ev);
    assert!(!f.is_empty());
    for x in &f {
        assert!(
            !x.verdict.summary.is_empty() && !x.verdict.evidence.is_empty()
                || x.verdict.cause == Cause::Ok,
            "{x:?}"
        );
        if x.verdict.cause != Cause::Ok {
            assert!(!x.verdict.fix.is_empty(), "{x:?}");
        }
    }
    f[0].clone()
}

/// The seed: the compute node is fine, the controller never answers.
#[test]
fn seed_case_blames_the_controller_and_clears_the_node() {
    let f = first(&base(Peer::Silent));
    assert_eq!(f.verdict.cause, Cause::NoReply);
    assert!(f.subject.starts_with("server controller"));
    let notes = f.verdict.notes.join("\n");
    assert!(
        notes.contains("config fine")
            && notes.contains("daemon fine")
            && notes.contains("local firewall fine"),
        "{notes}"
    );
}

#[test]
fn healthy_node_is_ok() {
    let f = first(&base(Peer::Healthy));
    assert_eq!(f.verdict.cause, Cause::Ok);
}

/// Each server's raw probe is judged by the rule table; the expected causes
/// come from the RFCs' meaning of what the peer sent: ICMP type 3 code 3 is
/// port unreachable (RFC 792), code 13 communication administratively
/// prohibited (RFC 1812 §5.2.7.1), leap 3 is "clock unsynchronized" (RFC 5905
/// §7.3), and a stratum-0 reply with refid RATE a rate kiss (RFC 5905 §7.4).
#[test]
fn per_server_raw_probes_are_judged() {
    for (peer, want) in [
        (Peer::Icmp(3, 3), Cause::PortUnreachable),
        (Peer::Icmp(3, 13), Cause::AdminProhibited),
        (Peer::Icmp(3, 1), Cause::HostUnreachable),
        (Peer::Unsync, Cause::UpstreamUnsynchronized),
        (Peer::Kod(KissCode::Rate), Cause::Kod(KissCode::Rate)),
        (Peer::Kod(KissCode::Deny), Cause::Kod(KissCode::Deny)),
        (Peer::Healthy, Cause::Ok),
    ] {
        let f = first(&base(peer));
        assert_eq!(f.verdict.cause, want);
        if want != Cause::Ok {
            assert!(f.subject.starts_with("server controller"), "{}", f.subject);
            assert!(
                f.verdict.evidence.iter().any(|e| e.contains("ntp.conf:1")),
                "{:?}",
                f.verdict.evidence
            );
        }
    }
}

#[test]
fn no_servers_configured() {
    let mut ev = base(Peer::Healthy);
    ev.configs = vec![ntp("driftfile /x\n")];
    ev.servers.clear();
    assert_eq!(first(&ev).verdict.cause, Cause::NoServersConfigured);
    ev.configs.clear();
    assert_eq!(first(&ev).verdict.cause, Cause::NoServersConfigured);
}

#[test]
fn daemon_not_running() {
    let mut ev = base(Peer::Healthy);
    ev.daemons.clear();
    ev.port123 = Some(vec![]);
    let f = first(&ev);
    assert_eq!(f.verdict.cause, Cause::DaemonNotRunning);
    assert!(f.verdict.fix[0].contains("ntpsec"));
}

#[test]
fn daemon_not_synchronized_yet() {
    let mut ev = base(Peer::Healthy);
    ev.daemon_output = vec![
        "associd=0 status=c016 leap_alarm, sync_unspec, 1 event, restart,\nleap=11, stratum=16, precision=-24, refid=INIT, offset=0.0\n".into(),
    ];
    assert_eq!(first(&ev).verdict.cause, Cause::DaemonNotSynchronizedYet);
}

#[test]
fn local_firewall() {
    let mut ev = base(Peer::Silent);
    ev.firewall = vec![FirewallRule {
        tool: "iptables".into(),
        text: "-A OUTPUT -p udp --dport 123 -j DROP".into(),
        blocks_out: true,
        blocks_in: false,
    }];
    let f = first(&ev);
    assert_eq!(f.verdict.cause, Cause::LocalFirewallBlocksNtp);
    assert!(
        !f.verdict
            .notes
            .iter()
            .any(|n| n.contains("local firewall fine"))
    );
}

#[test]
fn restrict_blocks_clients() {
    // A client: `restrict default ignore` drops its own server's replies
    // (the real ntpd's behaviour, tests/explain_netns.rs); refusing clients
    // is no blocker on a node that serves no one.
    let mut ev = base(Peer::Healthy);
    ev.configs = vec![ntp("server controller iburst\nrestrict default ignore\n")];
    let all = findings(&ev);
    assert_eq!(
        all[0].verdict.cause,
        Cause::RestrictBlocksServers,
        "{all:#?}"
    );
    assert!(
        !all.iter()
            .any(|f| f.verdict.cause == Cause::RestrictBlocksClients)
    );
    // A server (a local clock) serving no one: a blocker, ranked below a
    // real client problem.
    let mut ev2 = base(Peer::Healthy);
    ev2.configs = vec![ntp(
        "server controller iburst\nserver 127.127.1.0\nrestrict default ignore\nrestrict source\n",
    )];
    let all = findings(&ev2);
    assert!(
        all.iter()
            .any(|f| f.verdict.cause == Cause::RestrictBlocksClients),
        "{all:#?}"
    );
    ev2.servers = probed(&ev2.configs[0], Peer::Silent);
    assert_eq!(first(&ev2).verdict.cause, Cause::NoReply);
}

#[test]
fn port_123_in_use() {
    let mut ev = base(Peer::Healthy);
    ev.daemons.clear();
    ev.port123 = Some(vec![PortHolder {
        addr: "0.0.0.0:123".into(),
        pid: Some(7),
        comm: Some("python3".into()),
    }]);
    let all = findings(&ev);
    assert_eq!(all[0].verdict.cause, Cause::DaemonNotRunning);
    assert!(all.iter().any(|f| f.verdict.cause == Cause::Port123InUse));
}

#[test]
fn two_daemons() {
    let mut ev = base(Peer::Healthy);
    ev.daemons.push(running(Daemon::Chrony, 200));
    assert_eq!(first(&ev).verdict.cause, Cause::TwoDaemons);
}

#[test]
fn config_error_with_file_and_line() {
    let mut ev = base(Peer::Healthy);
    let mut c = Config::new(Daemon::Chrony);
    parse_chrony(
        "/etc/chrony/chrony.conf",
        "server controller iburst\nsevrer other\n",
        &mut c,
    );
    ev.configs = vec![c];
    let f = first(&ev);
    assert_eq!(f.verdict.cause, Cause::ConfigError);
    assert!(
        f.verdict.summary.starts_with("/etc/chrony/chrony.conf:2:"),
        "{}",
        f.verdict.summary
    );
}

#[test]
fn server_name_unresolved() {
    let mut ev = base(Peer::Healthy);
    ev.servers[0].resolved = Some(Err("Name or service not known".into()));
    ev.servers[0].probes.clear();
    assert_eq!(first(&ev).verdict.cause, Cause::ServerNameUnresolved);
}

#[test]
fn clock_step_needed() {
    let mut ev = base(Peer::ClockOff(5000.0));
    let c = ntp("server a iburst\nserver b iburst\n");
    ev.servers = probed(&c, Peer::ClockOff(5000.0));
    ev.configs = vec![c];
    let all = findings(&ev);
    // The node-level conclusion first, each server's offset-over-panic after.
    assert_eq!(all[0].verdict.cause, Cause::ClockStepNeeded);
    assert_eq!(
        all.iter()
            .filter(|f| f.verdict.cause == Cause::OffsetOverPanic)
            .count(),
        2
    );
}

/// Every server says this clock is a minute off: never ok, whatever the
/// daemon says; on a VM, the pause is named; under a second, nothing.
#[test]
fn a_clock_every_server_calls_wrong_is_not_ok() {
    let c = ntp("server a iburst\nserver b iburst\n");
    let mut ev = base(Peer::ClockOff(63.0));
    ev.servers = probed(&c, Peer::ClockOff(63.0));
    ev.configs = vec![c.clone()];
    let all = findings(&ev);
    assert_eq!(
        all[0].verdict.cause,
        Cause::DaemonNotSynchronizedYet,
        "{all:#?}"
    );
    assert!(all[0].verdict.summary.contains("-63.0"), "{all:#?}");
    ev.host.virt = Some(crate::diagnose::host::Sourced::file(
        crate::diagnose::host::Virt {
            id: "kvm".into(),
            container: false,
        },
        "/sys/class/dmi/id/sys_vendor",
    ));
    assert_eq!(findings(&ev)[0].verdict.cause, Cause::VmClockJump);
    ev.servers = probed(&c, Peer::ClockOff(0.4));
    assert_eq!(findings(&ev)[0].verdict.cause, Cause::Ok);
}

/// A cloud VM whose configuration ignores the cloud's source: a remark,
/// with what a probe of that source said.
#[test]
fn the_cloud_source_unused_with_its_probe() {
    let c = ntp("server a iburst\n");
    let mut ev = base(Peer::Healthy);
    ev.servers = probed(&c, Peer::Healthy);
    ev.configs = vec![c];
    ev.host.cloud = Some(crate::diagnose::host::Sourced::file(
        crate::diagnose::host::cloud_of("Amazon EC2", "", "", "").unwrap(),
        "/sys/class/dmi/id",
    ));
    let all = findings(&ev);
    assert_eq!(all[0].verdict.cause, Cause::Ok, "a remark only: {all:#?}");
    let f = all
        .iter()
        .find(|f| f.verdict.cause == Cause::CloudSourceUnused)
        .unwrap();
    assert!(f.verdict.fix[0].contains("169.254.169.123"), "{f:#?}");
    assert!(f.verdict.notes.iter().any(|n| n.contains("not probed")));
    ev.cloud_probe = Some(probe_of("169.254.169.123", Peer::Healthy));
    let all = findings(&ev);
    let f = all
        .iter()
        .find(|f| f.verdict.cause == Cause::CloudSourceUnused)
        .unwrap();
    assert!(
        f.verdict
            .evidence
            .iter()
            .any(|e| e.starts_with("probed from here: [ok]")),
        "{f:#?}"
    );
}

#[test]
fn collector_failures_are_reported_not_fatal() {
    let mut ev = base(Peer::Silent);
    ev.collector_errors
        .push(("firewall".into(), "iptables-save: not found".into()));
    ev.firewall_read = None;
    let f = first(&ev);
    assert!(
        f.verdict
            .notes
            .iter()
            .any(|n| n.contains("could not check firewall"))
    );
}

/// Debian 12's own ntp.conf, as the ntpsec package ships it
/// (fixtures/configs/, copied from the package's unmodified conffile), on a
/// node whose servers answer well: its `restrict default … noquery …` is a
/// remark, never the verdict, and the node is ok (exit 0).
#[test]
fn debian_stock_ntpsec_config_is_healthy() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/configs/debian12-ntpsec-1.2.2-ntp.conf"
    ))
    .unwrap();
    let c = ntp(&text);
    let mut ev = base(Peer::Healthy);
    ev.servers = probed(&c, Peer::Healthy);
    ev.configs = vec![c];
    let all = findings(&ev);
    assert_eq!(all[0].verdict.cause, Cause::Ok, "{:?}", all[0].verdict);
    assert_eq!(crate::diagnose::verdict::exit_status([&all[0].verdict]), 0);
    assert!(
        all.iter()
            .all(|f| !crate::diagnose::verdict::blocks(&f.verdict))
    );
    let remark = all
        .iter()
        .find(|f| f.verdict.cause == Cause::RestrictNoquery)
        .expect("noquery is said, as a remark");
    assert!(remark.verdict.summary.contains("served time as before"));
    assert!(
        !all.iter()
            .any(|f| f.verdict.cause == Cause::RestrictBlocksClients)
    );
    // `ignore` on the default rule drops the pool servers' replies too
    // (ntpsec check_early_restrictions()): this node cannot synchronize.
    // Refusing clients is no blocker on a node that serves no one.
    let mut ev2 = ev.clone();
    ev2.configs = vec![ntp(
        &text.replace("noquery limited", "noquery limited ignore")
    )];
    let f2 = findings(&ev2);
    assert_eq!(f2[0].verdict.cause, Cause::RestrictBlocksServers, "{f2:#?}");
    assert!(
        !f2.iter()
            .any(|f| f.verdict.cause == Cause::RestrictBlocksClients)
    );
    // With `restrict source`, its servers are heard again.
    let mut ev3 = ev.clone();
    ev3.configs = vec![ntp(&text.replace(
        "noquery limited",
        "noquery limited ignore\nrestrict source nomodify noquery",
    ))];
    assert!(
        !findings(&ev3)
            .iter()
            .any(|f| f.verdict.cause == Cause::RestrictBlocksServers)
    );
    // A node that serves (orphan mode) and whose default refuses everyone,
    // with no line opening service: restrict-blocks-clients, a blocker.
    let mut ev4 = ev.clone();
    ev4.configs = vec![ntp(
        "tos orphan 5\nrestrict default ignore\nrestrict source nomodify\npool 0.debian.pool.ntp.org iburst\n",
    )];
    let f4 = findings(&ev4);
    let b = f4
        .iter()
        .find(|f| f.verdict.cause == Cause::RestrictBlocksClients)
        .expect("a finding");
    assert!(crate::diagnose::verdict::blocks(&b.verdict));
    // The same node opening service to its clients' network: none.
    let mut ev5 = ev.clone();
    ev5.configs = vec![ntp(
        "tos orphan 5\nrestrict default ignore\nrestrict source nomodify\nrestrict 198.51.100.0 mask 255.255.255.0 nomodify\npool 0.debian.pool.ntp.org iburst\n",
    )];
    assert!(
        !findings(&ev5)
            .iter()
            .any(|f| f.verdict.cause == Cause::RestrictBlocksClients)
    );
}

fn fixture_config(name: &str, daemon: Daemon) -> Config {
    let text = std::fs::read_to_string(format!(
        "{}/fixtures/configs/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let mut c = Config::new(daemon);
    match daemon {
        Daemon::Ntpd => parse_ntp(&format!("/etc/{name}"), &text, &mut c),
        Daemon::Chrony => parse_chrony(&format!("/etc/{name}"), &text, &mut c),
        Daemon::Timesyncd => {
            crate::explain::conf::parse_timesyncd(&format!("/etc/{name}"), &text, &mut c)
        }
        Daemon::Openntpd => {
            crate::explain::conf::parse_openntpd(&format!("/etc/{name}"), &text, &mut c)
        }
        Daemon::NtpdRs => {
            crate::explain::conf::parse_ntpd_rs(&format!("/etc/{name}"), &text, &mut c)
        }
    }
    c
}

/// The configuration files the packages ship (fixtures/configs/README.md
/// says where each comes from), on a node whose daemon runs and whose
/// servers all answer with good time: no blocker, and the verdict is ok.
/// chrony's example 3 has every source commented out, so it cannot
/// synchronize by design, and the verdict says why.
#[test]
fn stock_configs_are_healthy() {
    for (name, daemon) in [
        ("debian12-ntpsec-1.2.2-ntp.conf", Daemon::Ntpd),
        ("debian12-chrony-4.3-chrony.conf", Daemon::Chrony),
        (
            "debian12-systemd-timesyncd-252-timesyncd.conf",
            Daemon::Timesyncd,
        ),
        ("alpine-chrony-chrony.conf", Daemon::Chrony),
        ("chrony-4.3-chrony.conf.example1", Daemon::Chrony),
        ("chrony-4.3-chrony.conf.example2", Daemon::Chrony),
        ("debian12-openntpd-6.2p3-ntpd.conf", Daemon::Openntpd),
        ("ntpd-rs-1.9.0-ntp.toml.default", Daemon::NtpdRs),
    ] {
        let c = fixture_config(name, daemon);
        assert!(c.issues.is_empty(), "{name}: {:?}", c.issues);
        assert!(c.network_sources().count() > 0, "{name}: no source read");
        let mut ev = base(Peer::Healthy);
        ev.servers = probed(&c, Peer::Healthy);
        ev.daemons = vec![running(daemon, 100)];
        ev.port123 = Some(match daemon {
            Daemon::Ntpd => ev.port123.clone().unwrap_or_default(),
            // chronyd and timesyncd do not bind 123 without `allow`.
            _ => vec![],
        });
        ev.configs = vec![c];
        let all = findings(&ev);
        assert_eq!(
            all[0].verdict.cause,
            Cause::Ok,
            "{name}: {:#?}",
            all[0].verdict
        );
        assert!(
            all.iter()
                .all(|f| !crate::diagnose::verdict::blocks(&f.verdict)),
            "{name}: {all:#?}"
        );
    }
    let c = fixture_config("chrony-4.3-chrony.conf.example3", Daemon::Chrony);
    let mut ev = base(Peer::Healthy);
    ev.servers = vec![];
    ev.daemons = vec![running(Daemon::Chrony, 100)];
    ev.port123 = Some(vec![]);
    ev.configs = vec![c];
    assert_eq!(first(&ev).verdict.cause, Cause::NoServersConfigured);
}

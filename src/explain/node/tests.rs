//! One evidence set per explain cause id, and the seed case.

use super::*;
use crate::diagnose::SourcePort;
use crate::explain::conf::{parse_chrony, parse_ntp};

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

fn probed(cfg: &Config, cause: Cause) -> Vec<ServerEvidence> {
    cfg.network_sources()
        .map(|s| {
            let addr: SocketAddr = "198.51.100.1:123".parse().unwrap();
            let te = TargetEvidence {
                host: s.host.clone(),
                address: addr,
                source_port: SourcePort::Ephemeral,
                local_address: None,
                setup_error: None,
                record: None,
                neighbour: None,
            };
            let v = Verdict::new(cause, format!("{} verdict", cause.id()), Confidence::High)
                .evidence("seen")
                .fix("the probe's fix");
            ServerEvidence {
                source: s.clone(),
                resolved: Some(Ok(vec![addr])),
                probes: vec![(te, v)],
            }
        })
        .collect()
}

fn base(cause: Cause) -> NodeEvidence {
    let c = ntp("server controller iburst\ndriftfile /var/lib/ntpsec/ntp.drift\n");
    NodeEvidence {
        servers: probed(&c, cause),
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
    let f = first(&base(Cause::NoReply));
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
    let f = first(&base(Cause::Ok));
    assert_eq!(f.verdict.cause, Cause::Ok);
}

#[test]
fn per_server_probe_causes_pass_through() {
    for c in [
        Cause::PortUnreachable,
        Cause::AdminProhibited,
        Cause::UpstreamUnsynchronized,
        Cause::Kod(crate::wire::KissCode::Rate),
    ] {
        assert_eq!(first(&base(c)).verdict.cause, c);
    }
}

#[test]
fn no_servers_configured() {
    let mut ev = base(Cause::Ok);
    ev.configs = vec![ntp("driftfile /x\n")];
    ev.servers.clear();
    assert_eq!(first(&ev).verdict.cause, Cause::NoServersConfigured);
    ev.configs.clear();
    assert_eq!(first(&ev).verdict.cause, Cause::NoServersConfigured);
}

#[test]
fn daemon_not_running() {
    let mut ev = base(Cause::Ok);
    ev.daemons.clear();
    ev.port123 = Some(vec![]);
    let f = first(&ev);
    assert_eq!(f.verdict.cause, Cause::DaemonNotRunning);
    assert!(f.verdict.fix[0].contains("ntpsec"));
}

#[test]
fn daemon_not_synchronized_yet() {
    let mut ev = base(Cause::Ok);
    ev.daemon_view = crate::explain::paste::explain(
        "associd=0 status=c016 leap_alarm, sync_unspec, 1 event, restart,\nleap=11, stratum=16, precision=-24, refid=INIT, offset=0.0\n",
    );
    assert_eq!(first(&ev).verdict.cause, Cause::DaemonNotSynchronizedYet);
}

#[test]
fn local_firewall() {
    let mut ev = base(Cause::NoReply);
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
    let mut ev = base(Cause::Ok);
    ev.configs = vec![ntp("server controller iburst\nrestrict default ignore\n")];
    let all = findings(&ev);
    assert!(
        all.iter()
            .any(|f| f.verdict.cause == Cause::RestrictBlocksClients)
    );
    // Only a server-side finding: it does not outrank a real client problem.
    let mut ev2 = ev.clone();
    ev2.servers = probed(&ev.configs[0], Cause::NoReply);
    assert_eq!(first(&ev2).verdict.cause, Cause::NoReply);
}

#[test]
fn port_123_in_use() {
    let mut ev = base(Cause::Ok);
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
    let mut ev = base(Cause::Ok);
    ev.daemons.push(running(Daemon::Chrony, 200));
    assert_eq!(first(&ev).verdict.cause, Cause::TwoDaemons);
}

#[test]
fn config_error_with_file_and_line() {
    let mut ev = base(Cause::Ok);
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
    let mut ev = base(Cause::Ok);
    ev.servers[0].resolved = Some(Err("Name or service not known".into()));
    ev.servers[0].probes.clear();
    assert_eq!(first(&ev).verdict.cause, Cause::ServerNameUnresolved);
}

#[test]
fn clock_step_needed() {
    let mut ev = base(Cause::OffsetOverPanic);
    let c = ntp("server a iburst\nserver b iburst\n");
    ev.servers = probed(&c, Cause::OffsetOverPanic);
    ev.configs = vec![c];
    let all = findings(&ev);
    assert!(
        all.iter()
            .any(|f| f.verdict.cause == Cause::ClockStepNeeded)
    );
}

#[test]
fn collector_failures_are_reported_not_fatal() {
    let mut ev = base(Cause::NoReply);
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

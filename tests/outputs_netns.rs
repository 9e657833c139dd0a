//! Real output of ntpq, ntpdig, ntpdate -d and chronyc in the scenarios of the
//! other tests, explained by `ntpdiag explain` as they are produced (and kept
//! in fixtures/outputs/real-*.txt with NTPDIAG_UPDATE_FIXTURES=1, for the
//! offline parser tests).

mod common;

use std::time::{Duration, Instant};

use common::*;
use ntpdiag::diagnose::Cause;
use ntpdiag::explain::paste::{Kind, explain, overall};

fn check(name: &str, text: &str, kind: Kind, cause: Cause) {
    keep_output(name, text);
    let blocks = explain(text);
    let b = blocks
        .iter()
        .find(|b| b.kind == kind)
        .unwrap_or_else(|| panic!("{name}: no {kind:?} in {text:?}"));
    assert_eq!(b.verdict.cause, cause, "{name}: {text}\n{:?}", b.verdict);
    assert!(overall(&blocks).is_some());
}

fn wait_for(ns: &Netns, args: &[&str], want: impl Fn(&str) -> bool, limit: Duration) -> String {
    let deadline = Instant::now() + limit;
    loop {
        let out = peer_output(ns, args);
        if want(&out) || Instant::now() > deadline {
            return out;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn ntpq_of_a_client_whose_server_is_silent_then_healthy() {
    if !require("ntpq outputs", &["ip", "ss", "ntpd", "ntpq", "iptables"]) {
        return;
    }
    let p = Pair::new();
    let _srv = ntpd(&p.server, &p.dir, "tos orphan 5 orphanwait 1");
    p.server.exec_ok(&[
        "iptables", "-A", "INPUT", "-p", "udp", "--dport", "123", "-j", "DROP",
    ]);
    let d = TempDir::new();
    let _cli = ntpd(
        &p.client,
        &d,
        &format!("server {SERVER} iburst minpoll 3 maxpoll 4"),
    );
    std::thread::sleep(Duration::from_secs(4));
    let peers = peer_output(&p.client, &["ntpq", "-pn", "127.0.0.1"]);
    check(
        "real-ntpq-peers-silent",
        &peers,
        Kind::NtpqPeers,
        Cause::NoReply,
    );
    let assoc = peer_output(&p.client, &["ntpq", "-c", "assoc", "127.0.0.1"]);
    check(
        "real-ntpq-assoc-silent",
        &assoc,
        Kind::NtpqAssoc,
        Cause::NoReply,
    );
    let rv = peer_output(&p.client, &["ntpq", "-c", "rv", "127.0.0.1"]);
    check(
        "real-ntpq-rv-unsynchronized",
        &rv,
        Kind::NtpqRv,
        Cause::DaemonNotSynchronizedYet,
    );
    // Open the firewall: the client selects the server.
    p.server.exec_ok(&["iptables", "-F", "INPUT"]);
    let peers = wait_for(
        &p.client,
        &["ntpq", "-pn", "127.0.0.1"],
        |o| o.lines().any(|l| l.starts_with('*')),
        Duration::from_secs(60),
    );
    check("real-ntpq-peers-synced", &peers, Kind::NtpqPeers, Cause::Ok);
    let assoc = peer_output(&p.client, &["ntpq", "-c", "assoc", "127.0.0.1"]);
    check("real-ntpq-assoc-synced", &assoc, Kind::NtpqAssoc, Cause::Ok);
}

#[test]
fn ntpdig_and_ntpdate_outputs() {
    if !require(
        "ntpdig outputs",
        &["ip", "ss", "ntpd", "ntpdig", "ntpdate", "iptables"],
    ) {
        return;
    }
    let p = Pair::new();
    {
        let _fresh = ntpd(&p.server, &p.dir, "");
        let out = peer_output(&p.client, &["ntpdig", "-d", "-t", "1", SERVER]);
        check(
            "real-ntpdig-fresh-ntpd",
            &out,
            Kind::NtpdigDebug,
            Cause::UpstreamUnsynchronized,
        );
    }
    let d = TempDir::new();
    let _ok = ntpd(&p.server, &d, "tos orphan 5 orphanwait 1");
    std::thread::sleep(Duration::from_secs(2));
    let out = wait_for(
        &p.client,
        &["ntpdig", "-d", "-t", "1", SERVER],
        |o| o.contains("no-leap"),
        Duration::from_secs(20),
    );
    check("real-ntpdig-healthy", &out, Kind::NtpdigDebug, Cause::Ok);
    p.server.exec_ok(&[
        "iptables", "-A", "INPUT", "-p", "udp", "--dport", "123", "-j", "DROP",
    ]);
    let out = peer_output(&p.client, &["ntpdate", "-q", "-d", SERVER]);
    check("real-ntpdate-drop", &out, Kind::NtpdigDebug, Cause::NoReply);
}

#[test]
fn chronyc_outputs() {
    if !require(
        "chronyc outputs",
        &["ip", "ss", &chronyd_path(), &chronyc_path()],
    ) {
        return;
    }
    let p = Pair::new();
    let _srv = chronyd(&p.server, &p.dir, "local stratum 8\nallow all");
    p.server.exec_ok(&[
        "iptables", "-A", "INPUT", "-p", "udp", "--dport", "123", "-j", "DROP",
    ]);
    let d = TempDir::new();
    let _cli = chronyd_client(
        &p.client,
        &d,
        &format!("server {SERVER} iburst minpoll 0 maxpoll 0"),
    );
    let sock = d.path().join("chronyd.sock");
    std::thread::sleep(Duration::from_secs(3));
    let c = chronyc_path();
    let s = sock.to_str().unwrap();
    check(
        "real-chronyc-sources-silent",
        &peer_output(&p.client, &[&c, "-h", s, "sources"]),
        Kind::ChronycSources,
        Cause::NoReply,
    );
    check(
        "real-chronyc-sources-v-silent",
        &peer_output(&p.client, &[&c, "-h", s, "sources", "-v"]),
        Kind::ChronycSources,
        Cause::NoReply,
    );
    check(
        "real-chronyc-csv-silent",
        &peer_output(&p.client, &[&c, "-h", s, "-c", "sources"]),
        Kind::ChronycSourcesCsv,
        Cause::NoReply,
    );
    check(
        "real-chronyc-tracking-unsynchronised",
        &peer_output(&p.client, &[&c, "-h", s, "tracking"]),
        Kind::ChronycTracking,
        Cause::DaemonNotSynchronizedYet,
    );
    p.server.exec_ok(&["iptables", "-F", "INPUT"]);
    let out = wait_for(
        &p.client,
        &[&c, "-h", s, "sources"],
        |o| o.lines().any(|l| l.starts_with("^*")),
        Duration::from_secs(30),
    );
    check(
        "real-chronyc-sources-synced",
        &out,
        Kind::ChronycSources,
        Cause::Ok,
    );
    check(
        "real-chronyc-tracking-synced",
        &peer_output(&p.client, &[&c, "-h", s, "tracking"]),
        Kind::ChronycTracking,
        Cause::Ok,
    );
}

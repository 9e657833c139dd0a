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

/// The tools' error words and the rarer reports, from the real tools:
/// ntpq with no ntpd, ntpq against `restrict … noquery`, ntpd whose only
/// usable source is its local clock driver, ntpdig's `Response dropped:`
/// reasons, its lookup failure and socket error, `-j`, ntpsec's ntpdate -q,
/// and chronyc's other reports and its "506 Cannot talk to daemon".
#[test]
fn error_words_and_other_reports() {
    if !require(
        "tool error outputs",
        &["ip", "ss", "ntpd", "ntpq", "ntpdig", "ntpdate", "iptables"],
    ) {
        return;
    }
    let p = Pair::new();
    // ntpq on a host where no ntpd runs.
    let out = peer_output(&p.client, &["ntpq", "-p", "127.0.0.1"]);
    check(
        "real-ntpq-no-daemon",
        &out,
        Kind::NtpqError,
        Cause::DaemonNotRunning,
    );
    // ntpq to a server that does not answer queries (`restrict default noquery`).
    {
        let d = TempDir::new();
        let _srv = ntpd(
            &p.server,
            &d,
            "restrict 198.51.100.0 mask 255.255.255.0 noquery\ntos orphan 5 orphanwait 1",
        );
        let out = peer_output(&p.client, &["ntpq", "-p", SERVER]);
        check(
            "real-ntpq-noquery-timeout",
            &out,
            Kind::NtpqError,
            Cause::NoReply,
        );
    }
    // ntpd whose only usable source is its local clock; the real server is dropped.
    {
        p.server.exec_ok(&[
            "iptables", "-A", "INPUT", "-p", "udp", "--dport", "123", "-j", "DROP",
        ]);
        let _srv = ntpd(&p.server, &TempDir::new(), "tos orphan 5 orphanwait 1");
        let d = TempDir::new();
        let _cli = ntpd(
            &p.client,
            &d,
            &format!(
                "server {SERVER} iburst minpoll 3 maxpoll 4\nserver 127.127.1.0 minpoll 3 maxpoll 4\nfudge 127.127.1.0 stratum 10"
            ),
        );
        // ntpsec polls its local clock driver (reach 377) but, unlike
        // classic ntpd, does not select it while the server is silent: the
        // finding is the silent server.
        let out = wait_for(
            &p.client,
            &["ntpq", "-pn", "127.0.0.1"],
            |o| o.contains(".LOCL.") && o.lines().any(|l| l.contains(" 377 ")),
            Duration::from_secs(30),
        );
        check(
            "real-ntpq-peers-local-clock-unselected",
            &out,
            Kind::NtpqPeers,
            Cause::NoReply,
        );
        p.server.exec_ok(&["iptables", "-F", "INPUT"]);
    }
    // ntpdig's Response dropped reasons, against ntpdiag serve's faults (the
    // words are ntpdig's; what the packet was is set by the fault).
    let serve = |args: &[&str]| {
        let log = p.dir.path().join(format!(
            "serve-{}.log",
            args.join("_").replace(['/', ' '], "")
        ));
        let mut a = vec![ntpdiag(), "serve", "--listen", "198.51.100.1:123"];
        a.extend_from_slice(args);
        let proc_ = p.server.spawn(&a, &log);
        assert!(p.server.wait_udp_listen(123, Duration::from_secs(10)));
        proc_
    };
    for (args, name, cause) in [
        (
            &["--unsynchronized"][..],
            "real-ntpdig-stratum-too-high",
            Cause::UpstreamUnsynchronized,
        ),
        (
            &["--leap", "3", "--stratum", "2"][..],
            "real-ntpdig-leap-not-in-sync",
            Cause::UpstreamUnsynchronized,
        ),
        (
            &["--kod", "RATE"][..],
            "real-ntpdig-kod",
            Cause::UpstreamUnsynchronized,
        ),
        (
            &["--version", "7"][..],
            "real-ntpdig-version-too-new",
            Cause::MalformedReply,
        ),
    ] {
        let mut s = serve(args);
        let out = peer_output(&p.client, &["ntpdig", "-d", "-t", "1", SERVER]);
        check(name, &out, Kind::NtpdigDebug, cause);
        s.stop();
    }
    {
        let _s = serve(&[]);
        let out = wait_for(
            &p.client,
            &["ntpdig", "-j", "-t", "1", SERVER],
            |o| o.contains("\"offset\""),
            Duration::from_secs(10),
        );
        check("real-ntpdig-json", &out, Kind::NtpdigJson, Cause::Ok);
        let out = peer_output(&p.client, &["ntpdate", "-q", SERVER]);
        check("real-ntpdate-shim-q", &out, Kind::NtpdigDebug, Cause::Ok);
    }
    // A name that does not resolve; a destination with no route.
    let out = peer_output(
        &p.client,
        &["ntpdig", "-d", "-t", "1", "nosuchhost.invalid"],
    );
    check(
        "real-ntpdig-lookup-failed",
        &out,
        Kind::NtpdigDebug,
        Cause::NameUnresolved,
    );
    let out = peer_output(&p.client, &["ntpdig", "-d", "-t", "1", "203.0.113.77"]);
    check(
        "real-ntpdig-network-unreachable",
        &out,
        Kind::NtpdigDebug,
        Cause::NetUnreachable,
    );
}

#[test]
fn chronyc_other_reports() {
    if !require(
        "chronyc reports",
        &["ip", "ss", &chronyd_path(), &chronyc_path()],
    ) {
        return;
    }
    let p = Pair::new();
    let c = chronyc_path();
    // No chronyd behind the socket.
    let nosock = p.dir.path().join("none.sock");
    let out = peer_output(&p.client, &[&c, "-h", nosock.to_str().unwrap(), "tracking"]);
    check(
        "real-chronyc-cannot-talk",
        &out,
        Kind::ChronycError,
        Cause::DaemonNotRunning,
    );
    let _srv = chronyd(&p.server, &p.dir, "local stratum 8\nallow all");
    let d = TempDir::new();
    let _cli = chronyd_client(
        &p.client,
        &d,
        &format!(
            "server {SERVER} iburst minpoll 0 maxpoll 0\nserver 203.0.113.9 iburst minpoll 0 maxpoll 0"
        ),
    );
    let sock = d.path().join("chronyd.sock");
    let s = sock.to_str().unwrap();
    let out = wait_for(
        &p.client,
        &[&c, "-h", s, "sources"],
        |o| o.lines().any(|l| l.starts_with("^*")),
        Duration::from_secs(30),
    );
    assert!(out.contains("^*"), "{out}");
    check(
        "real-chronyc-tracking-csv",
        &peer_output(&p.client, &[&c, "-h", s, "-c", "tracking"]),
        Kind::ChronycTracking,
        Cause::Ok,
    );
    check(
        "real-chronyc-sourcestats",
        &peer_output(&p.client, &[&c, "-h", s, "sourcestats"]),
        Kind::ChronycSourcestats,
        Cause::NoReply,
    );
    check(
        "real-chronyc-selectdata",
        &peer_output(&p.client, &[&c, "-h", s, "selectdata"]),
        Kind::ChronycSelectdata,
        Cause::Ok,
    );
    check(
        "real-chronyc-ntpdata",
        &peer_output(&p.client, &[&c, "-h", s, "ntpdata", SERVER]),
        Kind::ChronycNtpdata,
        Cause::Ok,
    );
    check(
        "real-chronyc-ntpdata-silent",
        &peer_output(&p.client, &[&c, "-h", s, "ntpdata", "203.0.113.9"]),
        Kind::ChronycNtpdata,
        Cause::NoReply,
    );
    // The -c forms, kept with their prompt: without it, a line of bare
    // numbers is no report of any one kind.
    let csv = |sub: &[&str]| {
        let mut a = vec![c.as_str(), "-h", s, "-c"];
        a.extend_from_slice(sub);
        format!(
            "$ chronyc -c {}\n{}",
            sub.join(" "),
            peer_output(&p.client, &a)
        )
    };
    check(
        "real-chronyc-csv-sourcestats",
        &csv(&["sourcestats"]),
        Kind::ChronycSourcestats,
        Cause::NoReply,
    );
    check(
        "real-chronyc-csv-selectdata",
        &csv(&["selectdata"]),
        Kind::ChronycSelectdata,
        Cause::Ok,
    );
    check(
        "real-chronyc-csv-ntpdata",
        &csv(&["ntpdata", SERVER]),
        Kind::ChronycNtpdata,
        Cause::Ok,
    );
    keep_output("real-chronyc-csv-activity", &csv(&["activity"]));
    keep_output("real-chronyc-csv-authdata", &csv(&["authdata"]));
    keep_output(
        "real-chronyc-activity",
        &peer_output(&p.client, &[&c, "-h", s, "activity"]),
    );
    keep_output(
        "real-chronyc-authdata",
        &peer_output(&p.client, &[&c, "-h", s, "authdata"]),
    );
}

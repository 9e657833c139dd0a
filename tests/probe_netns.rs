//! `ntpdiag probe` against real peers (ntpsec ntpd, chronyd) and real
//! firewalls (iptables, nftables) in network namespaces the tests create.
//! Beside each verdict, the same scenario goes through `ntpdig -d` and
//! `ntpdate -q -d`, to show (and check) that they cannot tell these cases apart.

mod common;

use std::time::Duration;

use common::*;

const NEEDS: &[&str] = &["ip", "ntpd", "ntpdig", "iptables", "nft", "ss"];

fn verdict(report: &ntpdiag::schema::ProbeReport) -> &ntpdiag::schema::VerdictJson {
    assert_eq!(report.targets.len(), 1, "{report:?}");
    &report.targets[0].verdict
}

fn ntpdig(ns: &Netns, target: &str) -> String {
    peer_output(ns, &["ntpdig", "-d", "-t", "1", target])
}

fn ntpdate(ns: &Netns, target: &str) -> String {
    peer_output(ns, &["ntpdate", "-q", "-d", target])
}

/// Records ntpdiag's text beside the peers' output (fixtures/peers/).
fn record(p: &Pair, scenario: &str, target: &str, extra: &[&str]) -> (String, String, String) {
    let mut args = vec!["--color", "never", target];
    args.extend_from_slice(extra);
    let ours = probe_text(&p.client, &args);
    let dig = ntpdig(&p.client, target);
    let date = ntpdate(&p.client, target);
    keep_fixture(
        scenario,
        &[
            (
                &format!("ntpdiag probe {target} {}", extra.join(" ")),
                &ours,
            ),
            (&format!("ntpdig -d -t 1 {target}"), &dig),
            (&format!("ntpdate -q -d {target}"), &date),
        ],
    );
    (ours, dig, date)
}

#[test]
fn fresh_ntpd_is_upstream_unsynchronized() {
    if !require("fresh_ntpd_is_upstream_unsynchronized", NEEDS) {
        return;
    }
    let p = Pair::new();
    let _ntpd = ntpd(&p.server, &p.dir, "");
    let (r, code) = probe_json(&p.client, &[SERVER]);
    let v = verdict(&r);
    assert_eq!(v.cause, "upstream-unsynchronized", "{v:?}");
    assert_eq!(code, 6);
    let pkt = r.targets[0].probes[0]
        .events
        .iter()
        .find_map(|e| e.packet.clone())
        .expect("a reply");
    assert_eq!(
        (pkt.leap, pkt.stratum, pkt.refid.as_str()),
        (3, 0, ".INIT.")
    );
    let (_, dig, _) = record(&p, "ntpd-fresh-unsynchronized", SERVER, &[]);
    assert!(dig.contains("probable KOD"), "ntpdig calls it a KoD: {dig}");
}

#[test]
fn chronyd_local_stratum_8_is_ok() {
    if !require(
        "chronyd_local_stratum_8_is_ok",
        &["ip", "ss", &chronyd_path()],
    ) {
        return;
    }
    let p = Pair::new();
    let _c = chronyd(&p.server, &p.dir, "local stratum 8\nallow all");
    let (r, code) = probe_json(&p.client, &[SERVER]);
    let v = verdict(&r);
    assert_eq!(v.cause, "ok", "{v:?}");
    assert_eq!(code, 0);
    let probe = &r.targets[0].probes[0];
    assert_eq!(
        probe
            .samples
            .iter()
            .filter(|s| s.outcome == "reply")
            .count(),
        4
    );
    let pkt = probe.events.iter().find_map(|e| e.packet.clone()).unwrap();
    assert_eq!(pkt.stratum, 8);
    assert!(
        probe.samples[0].offset_s.unwrap().abs() < 0.1,
        "same host clock"
    );
    // Over IPv6 too.
    let (r6, _) = probe_json(&p.client, &["2001:db8::1"]);
    assert_eq!(verdict(&r6).cause, "ok");
    let (ours, dig, _) = record(&p, "chronyd-healthy", SERVER, &[]);
    assert!(ours.contains("[ok]"));
    assert!(!dig.contains("no eligible servers"), "{dig}");
}

#[test]
fn iptables_drop_is_no_reply_and_host_up() {
    if !require("iptables_drop_is_no_reply_and_host_up", NEEDS) {
        return;
    }
    let p = Pair::new();
    let _ntpd = ntpd(&p.server, &p.dir, "tos orphan 5 orphanwait 1");
    p.server.exec_ok(&[
        "iptables", "-A", "INPUT", "-p", "udp", "--dport", "123", "-j", "DROP",
    ]);
    let (r, code) = probe_json(&p.client, &[SERVER]);
    let v = verdict(&r);
    assert_eq!(v.cause, "no-reply", "{v:?}");
    assert_eq!(code, 3);
    // The liveness check proves the host is up; a drop on this side is not
    // excluded, so medium (doc/json.md: what each confidence promises).
    assert_eq!(v.confidence, "medium", "{v:?}");
    assert!(v.alternatives[0].what.contains("firewall"));
    assert_eq!(v.alternatives[0].cause, "no-reply");
    assert!(
        v.evidence.iter().any(|e| e.contains("port unreachable")),
        "{v:?}"
    );
    let (_, dig, date) = record(&p, "iptables-drop", SERVER, &[]);
    assert!(dig.contains("no eligible servers"), "{dig}");
    assert!(date.contains("no eligible servers"), "{date}");
}

#[test]
fn drop_everything_is_no_reply_host_on_link() {
    if !require("drop_everything_is_no_reply_host_on_link", NEEDS) {
        return;
    }
    let p = Pair::new();
    p.server.exec_ok(&["iptables", "-P", "INPUT", "DROP"]);
    let (r, _) = probe_json(&p.client, &[SERVER]);
    let v = verdict(&r);
    assert_eq!(v.cause, "no-reply", "{v:?}");
    // The closed-port check is dropped too; ARP still answers.
    assert!(
        v.evidence
            .iter()
            .any(|e| e.contains("no ICMP error either")),
        "{v:?}"
    );
    assert!(v.summary.contains("drops everything"), "{v:?}");
}

#[test]
fn absent_host_is_no_reply_and_no_arp() {
    if !require("absent_host_is_no_reply_and_no_arp", NEEDS) {
        return;
    }
    let p = Pair::new();
    // Nobody has 198.51.100.77 on the link.
    let (r, _) = probe_json(&p.client, &["198.51.100.77"]);
    let v = verdict(&r);
    // Either the kernel's own ARP failure comes back as a local host
    // unreachable within the wait, or the neighbour entry shows no answer.
    match v.cause.as_str() {
        "host-unreachable" => assert!(v.summary.starts_with("This host cannot deliver"), "{v:?}"),
        "no-reply" => assert!(v.summary.contains("does not answer ARP"), "{v:?}"),
        other => panic!("unexpected cause {other}: {v:?}"),
    }
}

#[test]
fn reject_is_port_unreachable_like_no_daemon() {
    if !require("reject_is_port_unreachable_like_no_daemon", NEEDS) {
        return;
    }
    let p = Pair::new();
    // No daemon at all.
    let (r, code) = probe_json(&p.client, &[SERVER]);
    assert_eq!(verdict(&r).cause, "port-unreachable", "{:?}", verdict(&r));
    assert_eq!(code, 4);
    let (ours_none, dig_none, _) = record(&p, "no-daemon", SERVER, &[]);
    // A daemon behind a plain REJECT rule (icmp-port-unreachable by default).
    let _ntpd = ntpd(&p.server, &p.dir, "tos orphan 5 orphanwait 1");
    p.server.exec_ok(&[
        "iptables", "-A", "INPUT", "-p", "udp", "--dport", "123", "-j", "REJECT",
    ]);
    let (r, _) = probe_json(&p.client, &[SERVER]);
    let v = verdict(&r);
    assert_eq!(v.cause, "port-unreachable", "{v:?}");
    assert!(v.summary.contains("server itself"));
    assert!(
        v.alternatives
            .iter()
            .any(|a| a.what.contains("REJECT") && a.cause == "port-unreachable")
    );
    let (_, dig_rej, _) = record(&p, "iptables-reject-port-unreachable", SERVER, &[]);
    assert!(ours_none.contains("[port-unreachable]"));
    // The peers print the same words for both, and for DROP.
    assert!(dig_none.contains("no eligible servers") && dig_rej.contains("no eligible servers"));
}

#[test]
fn reject_admin_prohibited_iptables_and_nft() {
    if !require("reject_admin_prohibited_iptables_and_nft", NEEDS) {
        return;
    }
    let p = Pair::new();
    let _ntpd = ntpd(&p.server, &p.dir, "tos orphan 5 orphanwait 1");
    p.server.exec_ok(&[
        "iptables",
        "-A",
        "INPUT",
        "-p",
        "udp",
        "--dport",
        "123",
        "-j",
        "REJECT",
        "--reject-with",
        "icmp-admin-prohibited",
    ]);
    let (r, code) = probe_json(&p.client, &[SERVER]);
    let v = verdict(&r);
    assert_eq!(v.cause, "admin-prohibited", "{v:?}");
    assert_eq!(code, 4);
    record(&p, "iptables-reject-admin-prohibited", SERVER, &[]);
    p.server.exec_ok(&["iptables", "-F", "INPUT"]);
    // nftables, and firewalld's default (host-prohibited), over IPv6 too.
    p.server.sh(
        "nft add table inet t && nft add chain inet t in '{ type filter hook input priority 0; }' && \
         nft add rule inet t in udp dport 123 reject with icmpx type admin-prohibited",
    );
    let (r, _) = probe_json(&p.client, &[SERVER]);
    assert_eq!(verdict(&r).cause, "admin-prohibited", "{:?}", verdict(&r));
    let (r6, _) = probe_json(&p.client, &["2001:db8::1"]);
    assert_eq!(verdict(&r6).cause, "admin-prohibited", "{:?}", verdict(&r6));
}

/// client ── router ──(nothing beyond). The router answers for what it cannot reach.
#[test]
fn router_without_route_is_net_unreachable_and_unreachable_route_is_host_unreachable() {
    if !require("router_without_route", NEEDS) {
        return;
    }
    let client = Netns::new();
    let router = Netns::new();
    link(&client, "198.51.100.2/24", &router, "198.51.100.1/24");
    client.exec_ok(&[
        "ip",
        "route",
        "add",
        "203.0.113.0/24",
        "via",
        "198.51.100.1",
    ]);
    router.exec_ok(&["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    // 203.0.113.0/25: no route at all on the router → net unreachable.
    let (r, code) = probe_json(&client, &["203.0.113.5"]);
    let v = verdict(&r);
    assert_eq!(v.cause, "net-unreachable", "{v:?}");
    assert!(v.summary.contains("router 198.51.100.1"), "{v:?}");
    assert_eq!(code, 4);
    // An `unreachable` route → host unreachable, named with the router.
    router.exec_ok(&["ip", "route", "add", "unreachable", "203.0.113.200/32"]);
    let (r, _) = probe_json(&client, &["203.0.113.200"]);
    let v = verdict(&r);
    assert_eq!(v.cause, "host-unreachable", "{v:?}");
    assert!(v.summary.contains("router 198.51.100.1"), "{v:?}");
}

/// client ── router ── lan with no host at the address: the router's ARP fails.
#[test]
fn router_arp_failure_is_host_unreachable() {
    if !require("router_arp_failure_is_host_unreachable", NEEDS) {
        return;
    }
    let client = Netns::new();
    let router = Netns::new();
    let lan = Netns::new();
    link(&client, "198.51.100.2/24", &router, "198.51.100.1/24");
    let (r_lan, _) = link(&router, "203.0.113.1/24", &lan, "203.0.113.2/24");
    client.exec_ok(&[
        "ip",
        "route",
        "add",
        "203.0.113.0/24",
        "via",
        "198.51.100.1",
    ]);
    router.exec_ok(&["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    // Give up on ARP after one probe of 100 ms so the error comes within the wait.
    router.exec_ok(&[
        "sysctl",
        "-qw",
        &format!("net.ipv4.neigh.{r_lan}.mcast_solicit=1"),
    ]);
    router.exec_ok(&[
        "sysctl",
        "-qw",
        &format!("net.ipv4.neigh.{r_lan}.retrans_time_ms=100"),
    ]);
    let (r, _) = probe_json(&client, &["203.0.113.99", "--timeout", "2s"]);
    let v = verdict(&r);
    assert_eq!(v.cause, "host-unreachable", "{v:?}");
    assert!(v.summary.contains("router 198.51.100.1"), "{v:?}");
}

#[test]
fn source_port_123_filtered() {
    if !require(
        "source_port_123_filtered",
        &["ip", "ss", "iptables", &chronyd_path()],
    ) {
        return;
    }
    let p = Pair::new();
    let _c = chronyd(&p.server, &p.dir, "local stratum 8\nallow all");
    // An anti-amplification style rule: drop NTP coming from port 123.
    p.server.exec_ok(&[
        "iptables", "-A", "INPUT", "-p", "udp", "--sport", "123", "--dport", "123", "-j", "DROP",
    ]);
    let (r, code) = probe_json(&p.client, &[SERVER, "--source-port", "123"]);
    let v = verdict(&r);
    assert_eq!(v.cause, "source-port-filtered", "{v:?}");
    assert_eq!(code, 3);
    assert_eq!(r.targets[0].probes.len(), 2);
    assert_eq!(r.targets[0].probes[0].verdict.cause, "ok");
    assert_eq!(r.targets[0].probes[1].verdict.cause, "no-reply");
    record(
        &p,
        "source-port-123-filtered",
        SERVER,
        &["--source-port", "123"],
    );
}

/// Nothing listens on udp/123 and the firewall also drops requests from
/// source port 123: the random port draws the kernel's ICMP port
/// unreachable, port 123 draws nothing. Nothing answers NTP from any port,
/// so the verdict is port-unreachable, with the drop as a further finding.
#[test]
fn no_daemon_and_source_port_123_dropped_is_port_unreachable() {
    if !require(
        "no_daemon_and_source_port_123_dropped_is_port_unreachable",
        &["ip", "ss", "iptables"],
    ) {
        return;
    }
    let p = Pair::new();
    p.server.exec_ok(&[
        "iptables", "-A", "INPUT", "-p", "udp", "--sport", "123", "--dport", "123", "-j", "DROP",
    ]);
    let (r, code) = probe_json(&p.client, &[SERVER, "--source-port", "123"]);
    let v = verdict(&r);
    assert_eq!(v.cause, "port-unreachable", "{v:?}");
    assert_eq!(code, 4);
    assert_eq!(r.targets[0].probes[0].verdict.cause, "port-unreachable");
    assert_eq!(r.targets[0].probes[1].verdict.cause, "no-reply");
    assert!(
        v.notes
            .iter()
            .any(|n| n.contains("source port 123") && n.contains("dropped")),
        "{v:?}"
    );
}

#[test]
fn local_port_in_use_and_local_firewall() {
    if !require("local_port_in_use_and_local_firewall", NEEDS) {
        return;
    }
    let p = Pair::new();
    let _c = ntpd(&p.server, &p.dir, "tos orphan 5 orphanwait 1");
    // A local daemon holds port 123 on the client.
    let log = p.dir.path().join("local-serve.log");
    let _local = p
        .client
        .spawn(&[ntpdiag(), "serve", "--listen", "0.0.0.0:123"], &log);
    assert!(p.client.wait_udp_listen(123, Duration::from_secs(5)));
    let (r, code) = probe_json(&p.client, &[SERVER, "--source-port", "123"]);
    let v = verdict(&r);
    assert_eq!(v.cause, "local-port-in-use", "{v:?}");
    assert_eq!(code, 7);
    // A local OUTPUT rule rejects NTP: sendto() fails with EPERM.
    p.client.exec_ok(&[
        "iptables", "-A", "OUTPUT", "-p", "udp", "--dport", "123", "-j", "DROP",
    ]);
    let (r, code) = probe_json(&p.client, &[SERVER]);
    assert_eq!(
        verdict(&r).cause,
        "local-firewall-blocks-ntp",
        "{:?}",
        verdict(&r)
    );
    assert_eq!(code, 7);
}

#[test]
fn names_resolve_from_hosts_and_unknown_names_are_named() {
    if !require(
        "names_resolve_from_hosts_and_unknown_names_are_named",
        &["ip", "ss", &chronyd_path()],
    ) {
        return;
    }
    let p = Pair::new();
    p.client.add_host(SERVER, "controller");
    p.client.add_host("2001:db8::1", "controller");
    let _c = chronyd(&p.server, &p.dir, "local stratum 8\nallow all");
    let (r, code) = probe_json(&p.client, &["controller", "no-such-host.invalid"]);
    // controller: both addresses (A and AAAA) probed.
    let ctl: Vec<_> = r
        .targets
        .iter()
        .filter(|t| t.host == "controller")
        .collect();
    assert_eq!(ctl.len(), 2, "{r:?}");
    assert!(ctl.iter().all(|t| t.verdict.cause == "ok"));
    let bad = r
        .targets
        .iter()
        .find(|t| t.host == "no-such-host.invalid")
        .unwrap();
    assert_eq!(bad.verdict.cause, "name-unresolved");
    assert!(bad.address.is_none());
    assert_eq!(code, 7);
    // -4 keeps only the A record.
    let (r4, _) = probe_json(&p.client, &["-4", "controller"]);
    assert_eq!(r4.targets.len(), 1);
    assert!(
        r4.targets[0]
            .address
            .as_deref()
            .unwrap()
            .starts_with("198.51.100.1")
    );
}

/// The seed case: `server controller iburst` on a compute node, the
/// controller's firewall dropping udp/123.
#[test]
fn seed_case_controller_firewall() {
    if !require("seed_case_controller_firewall", NEEDS) {
        return;
    }
    let p = Pair::new();
    p.client.add_host(SERVER, "controller");
    let _ntpd = ntpd(&p.server, &p.dir, "tos orphan 5 orphanwait 1");
    p.server.exec_ok(&[
        "iptables", "-A", "INPUT", "-p", "udp", "--dport", "123", "-j", "DROP",
    ]);
    let text = probe_text(&p.client, &["--color", "never", "-4", "controller"]);
    assert!(text.contains("[no-reply]"), "{text}");
    assert!(text.contains("the host is up"), "{text}");
    assert!(
        text.contains("1. a firewall on the server drops udp/123"),
        "{text}"
    );
    let date = ntpdate(&p.client, "controller");
    keep_fixture(
        "seed-controller-firewall",
        &[
            ("ntpdiag probe -4 controller", &text),
            ("ntpdate -q -d controller", &date),
        ],
    );
}

/// `ntpdiag serve` is a real server: ntpdig accepts its time, and our probe
/// names its unsynchronized mode.
#[test]
fn serve_is_accepted_by_ntpdig_and_unsynchronized_is_named() {
    if !require("serve_is_accepted_by_ntpdig", &["ip", "ss", "ntpdig"]) {
        return;
    }
    let p = Pair::new();
    let log = p.dir.path().join("serve.log");
    let mut srv = p
        .server
        .spawn(&[ntpdiag(), "serve", "--stratum", "3"], &log);
    assert!(
        p.server.wait_udp_listen(123, Duration::from_secs(5)),
        "{}",
        srv.log_text()
    );
    let dig = ntpdig(&p.client, SERVER);
    // ntpdig prints "<date> <offset> +/- <err> 198.51.100.1 s3 no-leap" for a usable server.
    assert!(
        dig.contains(" s3 ") && !dig.contains("no eligible servers"),
        "{dig}"
    );
    let dig6 = ntpdig(&p.client, "2001:db8::1");
    assert!(dig6.contains(" s3 "), "{dig6}");
    let (r, _) = probe_json(&p.client, &[SERVER]);
    assert_eq!(verdict(&r).cause, "ok");
    srv.stop();
    assert!(
        srv.log_text().contains("stopped [serve]: "),
        "clean stop on SIGTERM: {}",
        srv.log_text()
    );

    let _u = p.server.spawn(
        &[ntpdiag(), "serve", "--unsynchronized"],
        &p.dir.path().join("u.log"),
    );
    assert!(p.server.wait_udp_listen(123, Duration::from_secs(5)));
    let (r, code) = probe_json(&p.client, &[SERVER]);
    assert_eq!(verdict(&r).cause, "upstream-unsynchronized");
    assert_eq!(code, 6);
    let dig = ntpdig(&p.client, SERVER);
    // ntpdig only says it dropped it; ntpdiag says why.
    assert!(
        dig.contains("stratum too high") && dig.contains("no eligible servers"),
        "{dig}"
    );
}

/// A port already taken gets a clear error with the fix, exit 1.
#[test]
fn serve_port_in_use_is_a_clear_error() {
    if !require("serve_port_in_use_is_a_clear_error", &["ip", "ss"]) {
        return;
    }
    let ns = Netns::new();
    let dir = TempDir::new();
    let _a = ns.spawn(
        &[ntpdiag(), "serve", "--listen", "127.0.0.1:123"],
        &dir.path().join("a.log"),
    );
    assert!(ns.wait_udp_listen(123, Duration::from_secs(5)));
    let o = ns.exec(&[ntpdiag(), "serve", "--listen", "127.0.0.1:123"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("Address already in use") && err.contains("fix:"),
        "{err}"
    );
}

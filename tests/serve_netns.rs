//! `ntpdiag serve` against real clients (ntpdig, ntpq, chronyd, ntpsec ntpd)
//! in network namespaces, each fault profile seen by those clients as that
//! fault, and the demo's claims about ntpdig checked against ntpdig itself.

mod common;

use std::time::{Duration, Instant};

use common::*;
use ntpdiag::cli::demo::CASES;
use ntpdiag::scenario::{ProfileSpec, Scenario};

fn serve(ns: &Netns, dir: &TempDir, args: &[&str], port: u16) -> Proc {
    let mut full = vec![ntpdiag(), "serve"];
    full.extend_from_slice(args);
    let log = dir.path().join(format!("serve-{}.log", unique("s")));
    let mut p = ns.spawn(&full, &log);
    if !ns.wait_udp_listen(port, Duration::from_secs(5)) {
        p.stop();
        panic!("serve did not start: {}", p.log_text());
    }
    p
}

/// Every demo scenario on 127.0.0.(10+i):123 in one namespace: ntpdig says
/// what the demo table claims, and `ntpdiag probe` names the expected cause.
#[test]
fn every_profile_is_named_and_the_demo_tells_the_truth_about_ntpdig() {
    if !require("every_profile_is_named", &["ip", "ss", "ntpdig"]) {
        return;
    }
    let ns = Netns::new();
    let dir = TempDir::new();
    let addr = |i: usize| format!("127.0.0.{}", 10 + i);
    let servers: Vec<ProfileSpec> = CASES
        .iter()
        .enumerate()
        .filter_map(|(i, c)| {
            c.spec.map(|f| ProfileSpec {
                name: Some(c.name.into()),
                listen: vec![format!("{}:123", addr(i))],
                ..f()
            })
        })
        .collect();
    let toml = toml::to_string(&Scenario { server: servers }).unwrap();
    let file = dir.file("gallery.toml", &toml);
    let _srv = serve(&ns, &dir, &["--scenario", file.to_str().unwrap()], 123);
    for (i, c) in CASES.iter().enumerate() {
        let a = addr(i);
        let dig = peer_output(&ns, &["ntpdig", "-t", "1", &a]);
        assert!(
            c.peer_check.split('|').any(|x| dig.contains(x)),
            "{}: ntpdig said {dig:?}, the demo claims {:?}",
            c.name,
            c.peer_says
        );
        let (r, _) = probe_json(&ns, &[&a]);
        assert_eq!(
            r.targets[0].verdict.cause,
            c.expect.id(),
            "{}: {:?}",
            c.name,
            r.targets[0].verdict
        );
    }
    // The bogus-origin offset ntpdig printed is the half second the stale
    // origin implies, not the true offset.
    let bogus = CASES.iter().position(|c| c.name == "bogus origin").unwrap();
    let dig = peer_output(&ns, &["ntpdig", "-t", "1", &addr(bogus)]);
    let off: f64 = dig
        .split_whitespace()
        .nth(3)
        .and_then(|x| x.parse().ok())
        .unwrap_or_else(|| panic!("{dig}"));
    assert!((off - 0.5).abs() < 0.05, "{dig}");
}

/// chronyd -Q and ntpd (as a client) accept a healthy `ntpdiag serve`;
/// ntpq reads its variables; `--silent` gives reach 0; `--kod RATE` reaches
/// ntpdig as a KoD carrying RATE.
#[test]
fn real_clients_synchronize_and_see_faults() {
    if !require(
        "real_clients_synchronize_and_see_faults",
        &["ip", "ss", "ntpd", "ntpq", "ntpdig", &chronyd_path()],
    ) {
        return;
    }
    let p = Pair::new();
    let mut srv = serve(
        &p.server,
        &p.dir,
        &["--stratum", "3", "--query-allow", "198.51.100.0/24"],
        123,
    );

    // ntpq -c rv over the network (allowed prefix).
    let rv = peer_output(&p.client, &["ntpq", "-c", "rv", SERVER]);
    assert!(
        rv.contains("stratum=3") && rv.contains("refid=LOCL") && rv.contains("leap_none"),
        "{rv}"
    );
    let peers = peer_output(&p.client, &["ntpq", "-pn", SERVER]);
    assert!(peers.contains("*") && peers.contains(".LOCL."), "{peers}");

    // chronyd -Q: one measurement, clock untouched.
    let cdir = TempDir::new();
    let conf = cdir.file(
        "chrony.conf",
        &format!(
            "server {SERVER} iburst\npidfile {d}/c.pid\ndriftfile {d}/drift\ncmdport 0\nbindcmdaddress {d}/c.sock\n",
            d = cdir.path().display()
        ),
    );
    let out = peer_output(
        &p.client,
        &[
            &chronyd_path(),
            "-Q",
            "-t",
            "20",
            "-d",
            "-f",
            conf.to_str().unwrap(),
            "-u",
            "root",
        ],
    );
    assert!(out.contains("System clock wrong by"), "chronyd -Q: {out}");

    // ntpsec ntpd as a client selects it as system peer ('*').
    let ndir = TempDir::new();
    let _ntpd = ntpd(
        &p.client,
        &ndir,
        &format!("server {SERVER} iburst minpoll 3 maxpoll 4"),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = String::new();
    while Instant::now() < deadline {
        last = peer_output(&p.client, &["ntpq", "-pn", "127.0.0.1"]);
        if last.lines().any(|l| l.starts_with(&format!("*{SERVER}"))) {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(
        last.lines().any(|l| l.starts_with(&format!("*{SERVER}"))),
        "ntpd never selected it: {last}"
    );
    drop(_ntpd);
    srv.stop();

    // --silent: a fresh ntpd client sees reach 0.
    let _silent = serve(&p.server, &p.dir, &["--silent"], 123);
    let ndir2 = TempDir::new();
    let _ntpd2 = ntpd(
        &p.client,
        &ndir2,
        &format!("server {SERVER} iburst minpoll 3 maxpoll 4"),
    );
    std::thread::sleep(Duration::from_secs(6));
    let peers = peer_output(&p.client, &["ntpq", "-pn", "127.0.0.1"]);
    let line = peers
        .lines()
        .find(|l| l.contains(SERVER))
        .unwrap_or_else(|| panic!("{peers}"));
    let reach = line.split_whitespace().nth(6).unwrap();
    assert_eq!(reach, "0", "{peers}");
    drop(_ntpd2);
    drop(_silent);

    // --kod RATE: ntpdig drops it as a KoD; its hex dump carries RATE.
    let _kod = serve(&p.server, &p.dir, &["--kod", "RATE"], 123);
    let dig = peer_output(&p.client, &["ntpdig", "-d", "-d", "-t", "1", SERVER]);
    assert!(
        dig.contains("probable KOD") && dig.contains("RATE"),
        "{dig}"
    );
}

/// Mode 6 goes only to allowed sources; mode 7 never; the client's queries
/// from a non-allowed address time out (ntpq exits 0 anyway).
#[test]
fn control_queries_only_from_allowed_sources() {
    if !require(
        "control_queries_only_from_allowed_sources",
        &["ip", "ss", "ntpq"],
    ) {
        return;
    }
    let p = Pair::new();
    let _srv = serve(&p.server, &p.dir, &["--json"], 123);
    let rv = peer_output(&p.client, &["ntpq", "-c", "rv", SERVER]);
    assert!(rv.contains("timed out") && !rv.contains("stratum="), "{rv}");
    // From the server's own loopback it answers.
    let rv = peer_output(&p.server, &["ntpq", "-c", "rv", "127.0.0.1"]);
    assert!(rv.contains("stratum=2"), "{rv}");
}

/// Access control and rate limiting, seen by ntpdiag probe and ntpdig.
#[test]
fn allow_deny_and_rate_limit() {
    if !require("allow_deny_and_rate_limit", &["ip", "ss", "ntpdig"]) {
        return;
    }
    let p = Pair::new();
    {
        let _s = serve(&p.server, &p.dir, &["--allow", "203.0.113.0/24"], 123);
        let (r, _) = probe_json(&p.client, &[SERVER]);
        assert_eq!(
            r.targets[0].verdict.cause, "no-reply",
            "outside the allow list: ignored"
        );
    }
    {
        let _s = serve(
            &p.server,
            &p.dir,
            &["--deny", "198.51.100.2", "--deny-action", "kod-deny"],
            123,
        );
        let (r, _) = probe_json(&p.client, &[SERVER]);
        assert_eq!(r.targets[0].verdict.cause, "kod-deny");
    }
    {
        let _s = serve(&p.server, &p.dir, &["--rate-limit", "64s,1"], 123);
        // ntpdig's one request uses the token; the probe then meets KoD RATE.
        let dig = peer_output(&p.client, &["ntpdig", "-t", "1", SERVER]);
        assert!(dig.contains(" s2 "), "{dig}");
        let (r, _) = probe_json(&p.client, &[SERVER]);
        assert_eq!(r.targets[0].verdict.cause, "kod-rate");
    }
}

/// Garbage, truncated packets, mode 6/7 from a source not allowed to query,
/// and a burst from many source ports: the server keeps serving, its memory
/// stays bounded, and no reply is larger than its request.
#[test]
fn garbage_and_flood() {
    if !require("garbage_and_flood", &["ip", "ss"]) {
        return;
    }
    let p = Pair::new();
    let mut srv = serve(
        &p.server,
        &p.dir,
        &["--rate-limit", "1s,4", "--threads", "1"],
        123,
    );
    let rss = |pid: u32| -> u64 {
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmRSS:"))
                    .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            })
            .unwrap_or(0)
    };
    let before = rss(srv.pid());
    // 200 distinct client addresses, to fill the per-client table too.
    let batch: String = (10..210)
        .map(|i| format!("addr add 198.51.100.{i}/24 dev {}\n", p.client_if))
        .collect();
    let bfile = p.dir.file("addrs.batch", &batch);
    p.client.exec_ok(&["ip", "-batch", bfile.to_str().unwrap()]);
    // The flood tool: 200 sockets × 20 datagrams of every kind, each
    // checking that what comes back is no larger than what it sent.
    let script = r#"
import os, random, socket, select, sys
random.seed(7)
kinds = []
kinds.append(bytes([0xe3]) + bytes(47))                       # mode 3, zero transmit
kinds.append(bytes([0x16, 2, 0, 1]) + bytes(8))                # mode 6 readvar
kinds.append(bytes([0x17, 0, 3, 42]) + bytes(44))              # mode 7 monlist-like
kinds.append(bytes([0xe3]) + bytes(20))                        # truncated
kinds.append(bytes([0xe3]) + bytes(47) + bytes(400))           # oversized, garbage trailer
socks = []
for i in range(200):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("198.51.100.%d" % (10 + i), 0))
    s.setblocking(False)
    socks.append(s)
sent = {}
worst = 0
for r in range(20):
    for s in socks:
        k = random.randrange(len(kinds) + 1)
        d = kinds[k] if k < len(kinds) else os.urandom(random.randrange(1, 600))
        try:
            s.sendto(d, ("198.51.100.1", 123))
            sent[s.fileno()] = max(sent.get(s.fileno(), 0), len(d))
        except OSError:
            pass
replies = 0
for _ in range(50):
    rd, _, _ = select.select(socks, [], [], 0.05)
    if not rd:
        break
    for s in rd:
        try:
            data = s.recv(4096)
        except OSError:
            continue
        replies += 1
        if len(data) > 48 or len(data) > sent.get(s.fileno(), 0):
            print("AMPLIFIED", len(data), "for at most", sent.get(s.fileno(), 0)); sys.exit(1)
print("sent", 200 * 20, "replies", replies)
"#;
    let o = p.client.exec(&["python3", "-c", script]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.contains("replies"), "{out}");
    eprintln!("flood: {}", out.trim());
    // Still serving: once the flooding address's bucket has a token again
    // (1 s per token), its first request gets time.
    std::thread::sleep(Duration::from_millis(1500));
    let (r, _) = probe_json(&p.client, &[SERVER]);
    let v = &r.targets[0].verdict;
    assert_eq!(v.cause, "ok", "{v:?}");
    let after = rss(srv.pid());
    assert!(srv.is_running());
    // The rate table is allocated up front (512 KiB); the flood adds nothing
    // that grows with the number of sources.
    eprintln!("serve RSS: {before} kB before the flood, {after} kB after");
    assert!(
        after < before + 4096,
        "RSS grew from {before} kB to {after} kB"
    );
    srv.stop();
    let log = srv.log_text();
    assert!(log.contains("dropped"), "{log}");
}

/// `--user` drops root once the sockets are bound; the server keeps serving
/// port 123, and answers NTPv3 clients with version 3.
#[test]
fn drops_privileges_and_serves_v3() {
    if !require("drops_privileges_and_serves_v3", &["ip", "ss"]) {
        return;
    }
    let p = Pair::new();
    let srv = serve(
        &p.server,
        &p.dir,
        &["--user", "nobody", "--listen", "0.0.0.0:123"],
        123,
    );
    let status = std::fs::read_to_string(format!("/proc/{}/status", srv.pid())).unwrap();
    let uid_line = status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .unwrap()
        .to_string();
    let nobody = nix::unistd::User::from_name("nobody")
        .unwrap()
        .unwrap()
        .uid
        .as_raw();
    assert!(
        uid_line
            .split_whitespace()
            .skip(1)
            .all(|u| u == nobody.to_string()),
        "{uid_line}"
    );
    let (r, _) = probe_json(&p.client, &[SERVER, "--ntp-version", "3"]);
    assert_eq!(r.targets[0].verdict.cause, "ok");
    let pkt = r.targets[0].probes[0]
        .events
        .iter()
        .find_map(|e| e.packet.clone())
        .unwrap();
    assert_eq!(pkt.version, 3);
}

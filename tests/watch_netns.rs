//! Live differential test: the same servers polled by real ntpsec `ntpd`
//! (`disable ntp`, `disable kernel`), real `chronyd -x`, and `ntpdiag watch`
//! under `--rules ntpd` and `--rules chrony`, in network namespaces. The
//! oracles are `ntpq -pn` and `chronyc -c selectdata`; nothing touches the
//! clock (a wrong server clock is `serve --offset`).
//!
//! Servers on the server namespace's link:
//! - .11 .12 .13  one healthy `ntpdiag serve` (stratum 2)
//! - .14          `serve --offset 1s`: a falseticker
//! - .15          `serve --unsynchronized`: leap 3, stratum 16
//! - .16          `serve --silent`: reads and drops
//! - .17          nothing listens: ICMP port unreachable

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::*;

const GOOD: [&str; 3] = ["198.51.100.11", "198.51.100.12", "198.51.100.13"];
const OFF: &str = "198.51.100.14";
const UNSYNC: &str = "198.51.100.15";
const SILENT: &str = "198.51.100.16";
const REFUSING: &str = "198.51.100.17";

fn all() -> Vec<&'static str> {
    let mut v = GOOD.to_vec();
    v.extend([OFF, UNSYNC, SILENT, REFUSING]);
    v
}

fn serve(ns: &Netns, dir: &TempDir, addrs: &[&str], extra: &[&str]) -> Proc {
    let mut args = vec![ntpdiag(), "serve"];
    let listen: Vec<String> = addrs.iter().map(|a| format!("{a}:123")).collect();
    for l in &listen {
        args.extend(["--listen", l.as_str()]);
    }
    args.extend_from_slice(extra);
    let log = dir.path().join(format!("serve-{}.log", unique("s")));
    let mut p = ns.spawn(&args, &log);
    if !ns.wait_udp_listen(123, Duration::from_secs(5)) {
        p.stop();
        panic!("serve did not start: {}", p.log_text());
    }
    p
}

/// address → tally, from `ntpq -pn`.
fn ntpq_tallies(out: &str) -> BTreeMap<String, char> {
    out.lines()
        .filter_map(|l| {
            let tally = l.chars().next()?;
            let addr = l.get(1..)?.split_whitespace().next()?;
            addr.starts_with("198.51.100.")
                .then(|| (addr.to_string(), tally))
        })
        .collect()
}

/// address → state letter, from `chronyc -c -n selectdata`.
fn chrony_states(out: &str) -> BTreeMap<String, char> {
    out.lines()
        .filter_map(|l| {
            let mut f = l.split(',');
            let state = f.next()?.chars().next()?;
            let addr = f.next()?;
            addr.starts_with("198.51.100.")
                .then(|| (addr.to_string(), state))
        })
        .collect()
}

/// Runs `watch` with `rules` in the client namespace over `servers`.
fn watch_on(p: &Pair, rules: &str, secs: u64, servers: &[&str]) -> std::process::Child {
    let mut args = vec![
        "ip".to_string(),
        "netns".into(),
        "exec".into(),
        p.client.name.clone(),
        ntpdiag().into(),
        "watch".into(),
        "--rules".into(),
        rules.into(),
        "--minpoll".into(),
        "3".into(),
        "--maxpoll".into(),
        "3".into(),
        "--duration".into(),
        format!("{secs}s"),
        "--json".into(),
    ];
    args.extend(servers.iter().map(|s| s.to_string()));
    std::process::Command::new(&args[0])
        .args(&args[1..])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn watch")
}

fn watch(p: &Pair, rules: &str, secs: u64) -> std::process::Child {
    watch_on(p, rules, secs, &all())
}

fn last_snapshot(child: std::process::Child) -> (serde_json::Value, i32) {
    let o = child.wait_with_output().expect("watch output");
    let text = String::from_utf8_lossy(&o.stdout);
    let snap = text
        .lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["type"] == "snapshot")
        .unwrap_or_else(|| {
            panic!(
                "no snapshot: {text}\n{}",
                String::from_utf8_lossy(&o.stderr)
            )
        });
    (snap, o.status.code().unwrap_or(-1))
}

/// `server` lines for ntp.conf / chrony.conf, iburst, with `opts`.
fn server_lines(set: &[&str], opts: &str) -> String {
    set.iter()
        .map(|a| format!("server {a} iburst {opts}\n"))
        .collect()
}

/// ntpd's config lines that write rawstats and peerstats (the replay
/// fixtures are made of them).
const STATS: &str = "statistics rawstats peerstats\nfilegen rawstats file rawstats type none enable\nfilegen peerstats file peerstats type none enable\n";

/// With NTPDIAG_UPDATE_FIXTURES=1, keeps ntpd's trace (from `ndir`) and
/// ntpq's view as fixtures/replay/`name`.{rawstats,peerstats,ntpq}.
fn keep_trace(ndir: &TempDir, name: &str, peers: &str) {
    if std::env::var("NTPDIAG_UPDATE_FIXTURES").as_deref() != Ok("1") {
        return;
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/replay");
    std::fs::create_dir_all(&dir).unwrap();
    for f in ["rawstats", "peerstats"] {
        std::fs::copy(ndir.path().join(f), dir.join(format!("{name}.{f}"))).unwrap();
    }
    std::fs::write(dir.join(format!("{name}.ntpq")), peers).unwrap();
}

/// `ntpq -pn` in the client namespace, polled (at most 30 s) until `done`
/// holds for its tallies; the last output.
fn ntpq_until(p: &Pair, done: impl Fn(&BTreeMap<String, char>) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut peers = String::new();
    while Instant::now() < deadline {
        peers = peer_output(&p.client, &["ntpq", "-pn", "127.0.0.1"]);
        if done(&ntpq_tallies(&peers)) {
            break;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    peers
}

/// `chronyc -c -n selectdata` against the chronyd whose directory is `dir`.
fn selectdata(p: &Pair, dir: &TempDir) -> String {
    peer_output(
        &p.client,
        &[
            &chronyc_path(),
            "-h",
            dir.path().join("chronyd.sock").to_str().unwrap(),
            "-c",
            "-n",
            "selectdata",
        ],
    )
}

fn source<'a>(snap: &'a serde_json::Value, addr: &str) -> &'a serde_json::Value {
    snap["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["address"] == format!("{addr}:123"))
        .unwrap_or_else(|| panic!("{addr} not in {snap}"))
}

#[test]
fn watch_agrees_with_ntpd_and_chronyd() {
    if !require(
        "watch_agrees_with_ntpd_and_chronyd",
        &["ip", "ss", "ntpd", "ntpq", &chronyd_path(), &chronyc_path()],
    ) {
        return;
    }
    let p = Pair::new();
    for a in all() {
        p.server
            .exec_ok(&["ip", "addr", "add", &format!("{a}/24"), "dev", &p.server_if]);
    }
    // Three clients on one host poll the refusing address (chronyd every
    // second): the kernel's per-host ICMP rate limit (1/s) would starve
    // some of them of their port unreachable, by timing alone.
    p.server
        .exec_ok(&["sysctl", "-q", "-w", "net.ipv4.icmp_ratelimit=0"]);
    let _good = serve(&p.server, &p.dir, &GOOD, &[]);
    let _off = serve(&p.server, &p.dir, &[OFF], &["--offset", "1s"]);
    let _unsync = serve(&p.server, &p.dir, &[UNSYNC], &["--unsynchronized"]);
    let _silent = serve(&p.server, &p.dir, &[SILENT], &["--silent"]);

    let ndir = TempDir::new();
    let _ntpd = ntpd(
        &p.client,
        &ndir,
        &format!("{STATS}{}", server_lines(&all(), "minpoll 3 maxpoll 3")),
    );
    let cdir = TempDir::new();
    let _chronyd = chronyd_client(
        &p.client,
        &cdir,
        &format!("port 0\n{}", server_lines(&all(), "minpoll 0 maxpoll 0")),
    );
    let w_ntpd = watch(&p, "ntpd", 75);
    let w_chrony = watch(&p, "chrony", 75);
    let (snap, code) = last_snapshot(w_ntpd);
    let (csnap, _) = last_snapshot(w_chrony);

    // ntpd has had as long; give it a little more to settle if needed.
    let peers = ntpq_until(&p, |t| {
        t.values().any(|c| *c == '*') && t.get(OFF) == Some(&'x')
    });
    let ntpq = ntpq_tallies(&peers);
    let ours: BTreeMap<String, char> = all()
        .iter()
        .map(|a| {
            let t = source(&snap, a)["tally"].as_str().unwrap();
            (a.to_string(), t.chars().next().unwrap())
        })
        .collect();
    let used = |c: char| matches!(c, '*' | '+' | '-' | '#');
    for a in all() {
        let (n, o) = (ntpq[a], ours[a]);
        // Three identical good servers: which one is '*' depends on
        // microseconds of delay; used-or-not and 'x' must agree exactly.
        assert_eq!(
            (used(n), n == 'x'),
            (used(o), o == 'x'),
            "{a}: ntpq '{n}' vs watch '{o}'\n{peers}\n{snap}"
        );
    }
    assert_eq!(ntpq[OFF], 'x', "{peers}");
    assert_eq!(ntpq.values().filter(|c| **c == '*').count(), 1, "{peers}");
    assert_eq!(ours.values().filter(|c| **c == '*').count(), 1, "{snap}");
    assert_eq!(code, 0, "a system peer was chosen");

    keep_trace(&ndir, "ntpd-3good-1off", &peers);

    // What ntpq shows the same way (reach 0), watch tells apart.
    for a in [UNSYNC, SILENT, REFUSING] {
        let line = peers.lines().find(|l| l.contains(a)).unwrap();
        assert_eq!(line.split_whitespace().nth(6), Some("0"), "{line}");
    }
    let s = source(&snap, UNSYNC);
    assert_eq!(s["cause"], "upstream-unsynchronized", "{s}");
    assert_eq!(s["reach"], "0");
    assert_ne!(s["heard"], "0", "it answers: {s}");
    assert!(
        s["why"]
            .as_str()
            .unwrap()
            .contains("answers, but unsynchronized")
    );
    assert_eq!(source(&snap, SILENT)["cause"], "no-reply");
    assert_eq!(source(&snap, REFUSING)["cause"], "port-unreachable");
    assert_eq!(source(&snap, OFF)["cause"], "falseticker");

    // chrony: the +1 s server is a falseticker for chronyd and for watch
    // under chrony's rules; the good ones are selectable for both.
    let sel = selectdata(&p, &cdir);
    let chrony = chrony_states(&sel);
    eprintln!("ntpq -pn:\n{peers}\nchronyc -c -n selectdata:\n{sel}\nwatch (ntpd rules): {ours:?}");
    assert_eq!(chrony.get(OFF), Some(&'x'), "{sel}");
    assert_eq!(source(&csnap, OFF)["tally"], "x", "{csnap}");
    for a in GOOD {
        assert!(matches!(chrony[a], '*' | '+' | '-'), "{a}: {sel}");
        assert!(
            matches!(source(&csnap, a)["tally"].as_str(), Some("*" | "+")),
            "{csnap}"
        );
    }
}

const WRONG: [&str; 3] = ["198.51.100.21", "198.51.100.22", "198.51.100.23"];
const RIGHT: [&str; 2] = ["198.51.100.24", "198.51.100.25"];
const FAR: &str = "198.51.100.26";

/// Three servers agree at +1 s, two are right, one announces a root
/// dispersion of 2 s: ntpd and chronyd follow the wrong majority and mark
/// the right ones `x`; ntpd rejects the far one (tos maxdist 1.5 s) while
/// chrony accepts it (maxdistance 3 s). watch says the same under each
/// daemon's rules, that the system would step by +1 s, and why the far one
/// is out under ntpd's rules but not chrony's.
#[test]
fn watch_agrees_on_a_wrong_majority_and_a_far_server() {
    if !require(
        "watch_agrees_on_a_wrong_majority_and_a_far_server",
        &["ip", "ss", "ntpd", "ntpq", &chronyd_path(), &chronyc_path()],
    ) {
        return;
    }
    let p = Pair::new();
    let mut set: Vec<&str> = WRONG.to_vec();
    set.extend(RIGHT);
    set.push(FAR);
    for a in &set {
        p.server
            .exec_ok(&["ip", "addr", "add", &format!("{a}/24"), "dev", &p.server_if]);
    }
    let _wrong = serve(&p.server, &p.dir, &WRONG, &["--offset", "1s"]);
    let _right = serve(&p.server, &p.dir, &RIGHT, &[]);
    let _far = serve(&p.server, &p.dir, &[FAR], &["--root-dispersion", "2s"]);
    let ndir = TempDir::new();
    let _ntpd = ntpd(&p.client, &ndir, &server_lines(&set, "minpoll 3 maxpoll 3"));
    let cdir = TempDir::new();
    let _chronyd = chronyd_client(
        &p.client,
        &cdir,
        &format!("port 0\n{}", server_lines(&set, "minpoll 0 maxpoll 0")),
    );
    let w_ntpd = watch_on(&p, "ntpd", 75, &set);
    let w_chrony = watch_on(&p, "chrony", 75, &set);
    let (snap, _) = last_snapshot(w_ntpd);
    let (csnap, _) = last_snapshot(w_chrony);

    let peers = ntpq_until(&p, |t| {
        t.values().any(|c| *c == '*') && RIGHT.iter().all(|a| t.get(*a) == Some(&'x'))
    });
    let ntpq = ntpq_tallies(&peers);
    let sel = selectdata(&p, &cdir);
    let chrony = chrony_states(&sel);
    eprintln!("ntpq -pn:\n{peers}\nchronyc -c -n selectdata:\n{sel}");
    let used = |c: char| matches!(c, '*' | '+' | '-' | '#');
    // The daemons, first: the oracle is what they do.
    for a in RIGHT {
        assert_eq!(ntpq[a], 'x', "{peers}");
        assert_eq!(chrony[a], 'x', "{sel}");
    }
    for a in WRONG {
        assert!(used(ntpq[a]), "{peers}");
        assert!(matches!(chrony[a], '*' | '+' | '-'), "{sel}");
    }
    assert_eq!(ntpq[FAR], ' ', "ntpd rejects the far one: {peers}");
    let far_line = peers.lines().find(|l| l.contains(FAR)).unwrap();
    assert_ne!(
        far_line.split_whitespace().nth(6),
        Some("0"),
        "it answers: {far_line}"
    );
    // Selectable for chrony (not x, not d), though too distant to combine
    // with the selected source: D (combinelimit).
    assert!(
        matches!(chrony[FAR], '*' | '+' | '-' | 'D'),
        "chrony accepts it: {sel}"
    );

    // watch under each daemon's rules says the same.
    for a in RIGHT {
        assert_eq!(source(&snap, a)["tally"], "x", "{snap}");
        assert_eq!(source(&snap, a)["cause"], "falseticker");
        assert_eq!(source(&csnap, a)["tally"], "x", "{csnap}");
    }
    for a in WRONG {
        assert!(
            used(
                source(&snap, a)["tally"]
                    .as_str()
                    .unwrap()
                    .chars()
                    .next()
                    .unwrap()
            ),
            "{snap}"
        );
    }
    let far = source(&snap, FAR);
    assert_eq!(far["tally"], " ", "{far}");
    assert_eq!(far["cause"], "upstream-unsynchronized");
    let why = far["why"].as_str().unwrap();
    assert!(
        why.contains("root distance")
            && why.contains("> 1.5 s")
            && why.contains("chrony would accept"),
        "{why}"
    );
    let cfar = source(&csnap, FAR);
    assert!(
        matches!(cfar["tally"].as_str(), Some("*" | "+" | "-")),
        "{csnap}"
    );
    if chrony[FAR] == 'D' {
        assert_eq!(cfar["tally"], "-", "not combined, as chronyd: {cfar}");
    }
    // The system follows the majority: a daemon would step by about +1 s.
    let off = snap["system"]["offset_s"].as_f64().unwrap();
    assert!((off - 1.0).abs() < 0.01, "{off}");
    assert_eq!(snap["system"]["action"], "step");
}

/// Eleven good servers (one `serve`, one clock): ntpd keeps at most
/// maxclock (10) and drops the rest as backups (#) or outliers (-) by its
/// cluster algorithm; chrony combines them. watch under each daemon's
/// rules agrees with it on which are used, and on whether any is a backup.
#[test]
fn watch_agrees_on_eleven_servers() {
    if !require(
        "watch_agrees_on_eleven_servers",
        &["ip", "ss", "ntpd", "ntpq", &chronyd_path(), &chronyc_path()],
    ) {
        return;
    }
    let p = Pair::new();
    let set: Vec<String> = (31..42).map(|i| format!("198.51.100.{i}")).collect();
    let set: Vec<&str> = set.iter().map(String::as_str).collect();
    for a in &set {
        p.server
            .exec_ok(&["ip", "addr", "add", &format!("{a}/24"), "dev", &p.server_if]);
    }
    let _srv = serve(&p.server, &p.dir, &set, &[]);
    let ndir = TempDir::new();
    let _ntpd = ntpd(
        &p.client,
        &ndir,
        &format!("{STATS}{}", server_lines(&set, "minpoll 3 maxpoll 3")),
    );
    let w_ntpd = watch_on(&p, "ntpd", 75, &set);
    let (snap, _) = last_snapshot(w_ntpd);
    let peers = ntpq_until(&p, |t| t.values().any(|c| *c == '*'));
    let ntpq = ntpq_tallies(&peers);
    eprintln!("ntpq -pn:\n{peers}");
    let tallies: Vec<char> = set
        .iter()
        .map(|a| {
            source(&snap, a)["tally"]
                .as_str()
                .unwrap()
                .chars()
                .next()
                .unwrap()
        })
        .collect();
    eprintln!("watch (ntpd rules): {tallies:?}");
    keep_trace(&ndir, "ntpd-11good", &peers);
    assert_eq!(ntpq.len(), 11, "{peers}");
    // Nobody is a falseticker or rejected: all are used in some way.
    let used = |c: char| matches!(c, '*' | '+' | '-' | '#');
    assert!(ntpq.values().all(|c| used(*c)), "{peers}");
    assert!(tallies.iter().all(|c| used(*c)), "{tallies:?}");
    assert_eq!(ntpq.values().filter(|c| **c == '*').count(), 1);
    assert_eq!(tallies.iter().filter(|c| **c == '*').count(), 1);
    // No "at most maxclock (10) combined" here: ntpsec's cluster loop
    // (ntp_proto.c clock_select) stops as soon as the worst selection
    // jitter is not above the smallest peer jitter, whatever the count —
    // "what remains is a list usually not greater than sys_minclock" — so
    // eleven sources that agree closely may all be combined, by ntpd as by
    // watch (a CI run saw watch keep all eleven while ntpd dropped six).
}

/// A server that vanishes and comes back: watch's strip shows the polls it
/// missed (ICMP port unreachable from the host, nothing listens), the
/// cause says so while it is gone, and the source is used again after.
#[test]
fn a_server_that_vanishes_and_comes_back() {
    if !require("a_server_that_vanishes_and_comes_back", &["ip", "ss"]) {
        return;
    }
    let ns = Netns::new();
    let dir = TempDir::new();
    let start_serve = || {
        let log = dir.path().join(format!("serve-{}.log", unique("s")));
        let mut p = ns.spawn(&[ntpdiag(), "serve", "--listen", "127.0.0.1:123"], &log);
        if !ns.wait_udp_listen(123, Duration::from_secs(5)) {
            p.stop();
            panic!("serve did not start: {}", p.log_text());
        }
        p
    };
    let mut srv = start_serve();
    let mut child = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns.name,
            ntpdiag(),
            "watch",
            "--json",
            "--minpoll",
            "3",
            "--maxpoll",
            "3",
            "--duration",
            "70s",
            "127.0.0.1",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let lines = std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap()));
    let (mut gone_at, mut back_at) = (None, None);
    let mut saw_gone = None;
    let mut saw_back = None;
    let t0 = Instant::now();
    for line in lines.take(500) {
        let v: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap();
        if v["type"] != "snapshot" {
            continue;
        }
        let s = &v["sources"][0];
        let t = t0.elapsed();
        if gone_at.is_none() && s["tally"] == "*" && t > Duration::from_secs(10) {
            srv.stop();
            gone_at = Some(t);
        } else if gone_at.is_some()
            && back_at.is_none()
            && s["strip"].as_str().unwrap().ends_with("!!")
        {
            saw_gone = Some(v.clone());
            srv = start_serve();
            back_at = Some(t);
        } else if back_at.is_some()
            && s["strip"].as_str().unwrap().ends_with('+')
            && s["tally"] == "*"
        {
            saw_back = Some(v.clone());
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    drop(srv);
    let gone = saw_gone.expect("a snapshot naming the vanished server");
    assert!(
        gone["sources"][0]["strip"].as_str().unwrap().contains('!'),
        "{gone}"
    );
    assert!(
        gone["sources"][0]["why"]
            .as_str()
            .unwrap()
            .contains("port unreachable"),
        "{gone}"
    );
    let back = saw_back.expect("the source used again");
    let strip = back["sources"][0]["strip"].as_str().unwrap();
    assert!(strip.contains('!') && strip.ends_with('+'), "{strip}");
}

/// A healthy stratum-1 server (real chronyd, `local stratum 1`) polled
/// every 8 s without iburst: while the clock filter fills, watch says
/// warming-up with the samples still needed, never upstream-unsynchronized
/// (the root distance of one sample is mostly the seven empty stages);
/// once about four samples are in, the source is in use.
#[test]
fn a_healthy_server_warming_up_is_not_blamed() {
    if !require("watch warming up", &["ip", "ss", &chronyd_path()]) {
        return;
    }
    let p = Pair::new();
    let _c = chronyd(&p.server, &p.dir, "local stratum 1\nallow all");
    let mut args = vec![
        "netns",
        "exec",
        &p.client.name,
        ntpdiag(),
        "watch",
        "--minpoll",
        "3",
        "--maxpoll",
        "3",
        "--no-iburst",
        "--duration",
        "45s",
        "--json",
        SERVER,
    ];
    let child = std::process::Command::new("ip")
        .args(args.drain(..))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let o = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    let causes: Vec<String> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["type"] == "snapshot")
        .filter_map(|v| v["sources"][0]["cause"].as_str().map(String::from))
        .collect();
    assert!(causes.iter().any(|c| c == "warming-up"), "{causes:?}");
    assert!(
        causes.iter().all(|c| c != "upstream-unsynchronized"),
        "{causes:?}\n{text}"
    );
    assert_eq!(causes.last().map(String::as_str), Some("ok"), "{causes:?}");
}

//! `ntpdiag fleet` on documents printed by real nodes: a controller running
//! real ntpsec ntpd, a backup server (ntpdiag serve), and three compute
//! nodes on one bridge, each running `ntpdiag probe --json controller
//! backup` (and one `explain --json`). The controller's firewall, a rule
//! that singles out one compute, and an unsynchronized controller give the
//! three fleet verdicts.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use ntpdiag::schema::FleetReport;

const NEEDS: &[&str] = &["ip", "ss", "ntpd", "iptables"];

struct Fleet {
    _hub: Netns,
    ctl: Netns,
    bak: Netns,
    computes: Vec<Netns>,
    dir: TempDir,
}

const CTL: &str = "198.51.100.1";
const BAK: &str = "198.51.100.2";

fn attach(hub: &Netns, node: &Netns, addr: &str) {
    let a = unique("fh");
    let b = unique("fn");
    let o = run_bounded(
        Command::new("ip").args([
            "link", "add", &a, "netns", &hub.name, "type", "veth", "peer", "name", &b, "netns",
            &node.name,
        ]),
        Duration::from_secs(10),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    hub.exec_ok(&["ip", "link", "set", &a, "master", "br0", "up"]);
    node.exec_ok(&["ip", "addr", "add", addr, "dev", &b, "nodad"]);
    node.exec_ok(&["ip", "link", "set", &b, "up"]);
}

impl Fleet {
    fn new() -> Fleet {
        let hub = Netns::new();
        hub.exec_ok(&["ip", "link", "add", "br0", "type", "bridge"]);
        hub.exec_ok(&["ip", "link", "set", "br0", "up"]);
        let ctl = Netns::new();
        let bak = Netns::new();
        attach(&hub, &ctl, "198.51.100.1/24");
        attach(&hub, &bak, "198.51.100.2/24");
        let computes: Vec<Netns> = (0..3)
            .map(|i| {
                let n = Netns::new();
                attach(&hub, &n, &format!("198.51.100.{}/24", 11 + i));
                n.add_host(CTL, "controller");
                n.add_host(BAK, "backup");
                n
            })
            .collect();
        Fleet {
            _hub: hub,
            ctl,
            bak,
            computes,
            dir: TempDir::new(),
        }
    }

    /// Each compute's `probe --json controller backup`, as printed.
    fn probes(&self) -> Vec<String> {
        self.computes
            .iter()
            .map(|n| {
                let o = run_bounded(
                    &mut n.cmd(&[
                        ntpdiag(),
                        "probe",
                        "--json",
                        "-n",
                        "2",
                        "-t",
                        "500ms",
                        "controller",
                        "backup",
                    ]),
                    Duration::from_secs(30),
                );
                String::from_utf8_lossy(&o.stdout).into_owned()
            })
            .collect()
    }
}

fn fleet(args: &[&str], stdin: Option<&str>) -> (FleetReport, i32, String) {
    let mut c = Command::new(ntpdiag());
    c.arg("fleet")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    {
        use std::io::Write;
        let mut i = child.stdin.take().unwrap();
        if let Some(s) = stdin {
            i.write_all(s.as_bytes()).unwrap();
        }
    }
    let o = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    let r: FleetReport = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    (
        r,
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn fleet_names_the_server_the_odd_node_and_the_missing_upstream() {
    if !require("fleet", NEEDS) {
        return;
    }
    let f = Fleet::new();
    let ctl_dir = TempDir::new();
    let mut ctl = ntpd(&f.ctl, &ctl_dir, "tos orphan 5 orphanwait 1");
    let _bak = f.bak.spawn(
        &[ntpdiag(), "serve", "--listen", "198.51.100.2:123"],
        &f.dir.path().join("bak.log"),
    );
    assert!(f.bak.wait_udp_listen(123, Duration::from_secs(10)));
    std::thread::sleep(Duration::from_secs(2));

    // 1. The controller's firewall drops NTP: every compute gets no reply
    //    from it and time from the backup. Whole documents in files.
    f.ctl.exec_ok(&[
        "iptables", "-A", "INPUT", "-p", "udp", "--dport", "123", "-j", "DROP",
    ]);
    let docs = f.probes();
    let files: Vec<std::path::PathBuf> = docs
        .iter()
        .enumerate()
        .map(|(i, d)| f.dir.file(&format!("c{i}.json"), d))
        .collect();
    let paths: Vec<&str> = files.iter().map(|p| p.to_str().unwrap()).collect();
    let mut args = vec!["--json"];
    args.extend(paths.iter());
    let (r, code, _) = fleet(&args, None);
    assert_eq!(code, 3, "{r:#?}");
    assert_eq!(r.verdict.cause, "no-reply");
    assert!(
        r.verdict
            .summary
            .contains("controller itself or the path next to it"),
        "{}",
        r.verdict.summary
    );
    let c = r.servers.iter().find(|s| s.server == "controller").unwrap();
    assert_eq!((c.failing.len(), c.nodes_asking), (3, 3));
    let b = r.servers.iter().find(|s| s.server == "backup").unwrap();
    assert_eq!((b.verdict.cause.as_str(), b.ok.len()), ("ok", 3));
    // Every node is named, by host name and (sharing one host name here) address.
    let mut names: Vec<String> = r.nodes.iter().map(|n| n.name.clone()).collect();
    names.sort();
    for (i, n) in names.iter().enumerate() {
        assert!(
            n.ends_with(&format!("(198.51.100.{})", 11 + i)),
            "{names:?}"
        );
    }
    // Each node's word, and the documents the verdict stands on (each with
    // its time).
    let (used, said): (Vec<&String>, Vec<&String>) = r
        .verdict
        .evidence
        .iter()
        .partition(|e| e.starts_with("documents used from"));
    assert_eq!((said.len(), used.len()), (3, 3), "{:?}", r.verdict.evidence);
    assert!(used.iter().all(|u| u.contains("probe of 20")), "{used:?}");
    let docs_step1 = docs.clone();
    // The text, as README shows it.
    let mut targs = vec!["fleet"];
    targs.extend(paths.iter());
    let o = run_bounded(
        Command::new(ntpdiag()).args(&targs),
        Duration::from_secs(20),
    );
    let t = String::from_utf8_lossy(&o.stdout);
    assert!(
        t.starts_with("VERDICT fleet of 3 node(s): NO REPLY [no-reply]\n  controller answers none of the 3 nodes that ask it, while each of them gets time from another server: the fault is controller itself or the path next to it.\n"),
        "{t}"
    );

    // 2. Only compute 3 is singled out (a rule on the controller for its
    //    address): its side. As JSON lines on stdin, among a gatherer's lines.
    f.ctl.exec_ok(&["iptables", "-F", "INPUT"]);
    f.ctl.exec_ok(&[
        "iptables",
        "-A",
        "INPUT",
        "-s",
        "198.51.100.13",
        "-p",
        "udp",
        "--dport",
        "123",
        "-j",
        "DROP",
    ]);
    let docs = f.probes();
    let mut stdin = String::new();
    for (i, d) in docs.iter().enumerate() {
        let v: serde_json::Value = serde_json::from_str(d).unwrap();
        stdin.push_str(&format!("compute{} | CHANGED | rc=0 >>\n{}\n", i + 1, v));
    }
    stdin.push_str("not json at all {oops\n");
    let (r, code, _) = fleet(&["--json", "-"], Some(&stdin));
    assert_eq!(code, 3, "{r:#?}");
    assert!(
        r.verdict
            .summary
            .starts_with("Only 1 of the 3 nodes that ask controller"),
        "{}",
        r.verdict.summary
    );
    assert!(
        r.verdict.summary.contains("198.51.100.13"),
        "{}",
        r.verdict.summary
    );
    assert_eq!(r.inputs[0].documents, 3);
    assert_eq!(r.inputs[0].errors.len(), 1, "{:?}", r.inputs[0].errors);
    // The documents of step 1 (every node failing) and of step 2, a few
    // seconds newer, together: each node's newest word stands, and a host
    // the gatherer could not reach is listed as such.
    let mut both = docs_step1.join("\n");
    both.push('\n');
    both.push_str(&stdin);
    both.push_str("compute4 | UNREACHABLE! => {\"changed\": false, \"unreachable\": true}\n");
    let (r, _, _) = fleet(&["--json", "-"], Some(&both));
    assert!(
        r.verdict
            .summary
            .starts_with("Only 1 of the 3 nodes that ask controller"),
        "{}",
        r.verdict.summary
    );
    assert_eq!(r.unreachable.len(), 1, "{:?}", r.unreachable);
    assert_eq!(r.unreachable[0].host, "compute4");

    // 3. The controller restarts without an upstream (a fresh ntpd: leap 3,
    //    INIT): every compute hears it unsynchronized.
    f.ctl.exec_ok(&["iptables", "-F", "INPUT"]);
    ctl.stop();
    let fresh_dir = TempDir::new();
    let _fresh = ntpd(&f.ctl, &fresh_dir, "");
    let docs = f.probes();
    let all = docs.join("\n");
    let (r, code, _) = fleet(&["--json", "-"], Some(&all));
    assert_eq!(code, 6, "{r:#?}");
    assert_eq!(r.verdict.cause, "upstream-unsynchronized");
    assert!(
        r.verdict
            .summary
            .contains("controller has no working upstream"),
        "{}",
        r.verdict.summary
    );

    // Text: the verdict, the servers and every node.
    let f2 = f.dir.file("all.json", &all);
    let o = run_bounded(
        Command::new(ntpdiag()).args(["fleet", f2.to_str().unwrap()]),
        Duration::from_secs(20),
    );
    let t = String::from_utf8_lossy(&o.stdout);
    assert!(
        t.contains("servers:")
            && t.contains("nodes:")
            && t.contains("controller [upstream-unsynchronized] 0 failing, 0 ok, 3 unsynchronized"),
        "{t}"
    );
}

/// Input that holds no document still gets one JSON document, exit 2.
#[test]
fn fleet_without_documents() {
    let (r, code, err) = fleet(
        &["--json", "-"],
        Some("hello\n{\"a\": 1}\n\u{0}\u{1}binary"),
    );
    assert_eq!(code, 2);
    assert_eq!(r.verdict.cause, "unrecognized-input");
    assert_eq!(r.inputs[0].ignored, 1);
    assert!(err.is_empty() || !err.contains("panicked"), "{err}");
}

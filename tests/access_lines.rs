//! explain's reading of access lines against the daemons themselves: real
//! ntpsec ntpd (in a namespace: it binds 123) logs a syntax error or
//! "ignoring line" for every `restrict` line ntpdiag calls refused, and
//! nothing for those it takes; `chronyd -p` (in a namespace: it resolves
//! what is not an address) exits with "Could not parse"
//! for every `allow`/`deny` ntpdiag calls refused, and parses the others.

mod common;

use std::time::Duration;

use common::*;
use ntpdiag::explain::access::{chrony_allow, ntp_restrict};

fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(String::from).collect()
}

/// Numeric lines only: a host name would make the daemon resolve it.
const RESTRICT: &[&str] = &[
    "default kod nomodify nopeer noquery limited",
    "-6 default kod notrap nomodify nopeer noquery",
    "source nomodify noquery notrap",
    "198.51.100.0 mask 255.255.255.0 nomodify notrap",
    "192.0.2.0/24 nomodify",
    "2001:db8::/32 noquery",
    "198.51.100.0 mask 255.255.256.0 nomodify",
    "198.51.100.0 mask everything",
    "198.51.100.300 nomodify",
    "-4 10.0.0.0 mask 255.0.0.0",
    "default nomodfy",
    "203.0.113.7 nomodify bogusflag",
];

#[test]
fn restrict_lines_as_ntpd_reads_them() {
    if !require("restrict lines against ntpd", &["ip", "ss", "ntpd"]) {
        return;
    }
    let ns = Netns::new();
    let d = TempDir::new();
    // One line per restrict line, from line 4 on.
    let mut conf = format!(
        "driftfile {p}/drift\ndisable ntp\ndisable kernel\n",
        p = d.path().display()
    );
    for l in RESTRICT {
        conf.push_str(&format!("restrict {l}\n"));
    }
    let f = d.file("ntp.conf", &conf);
    let log = d.path().join("ntpd.log");
    let mut p = ntpd_with(&ns, d.path(), &f);
    std::thread::sleep(Duration::from_millis(300));
    p.stop();
    let text = std::fs::read_to_string(&log).unwrap();
    let mut disagree = vec![];
    for (i, l) in RESTRICT.iter().enumerate() {
        let n = i + 4;
        // ntpsec numbers config_access()'s lines one past the line.
        let theirs = text.contains(&format!("syntax error in {} line {n},", f.display()))
            || text.contains(&format!("ignoring line {},", n + 1))
            || text.contains(&format!("ignoring line {n},"));
        let ours = ntp_restrict(&words(l)).is_err();
        if theirs != ours {
            disagree.push(format!(
                "line {n} `restrict {l}`: ntpd refused={theirs}, ntpdiag refused={ours}"
            ));
        }
    }
    assert!(disagree.is_empty(), "{disagree:#?}\n{text}");
}

const ALLOW: &[&str] = &[
    "",
    "all",
    "198.51.100.0/24",
    "198.51.100",
    "10",
    "2001:db8::/32",
    "all 10.0.0.0/8",
    "198.51.100.0/x",
    "10.0.0.256",
    "256",
    "1.2.3.4.5",
    "10.0.0.0/8 192.168.0.0/16",
];

#[test]
fn allow_lines_as_chronyd_reads_them() {
    if !require("allow lines against chronyd", &["ip", &chronyd_path()]) {
        return;
    }
    // In a namespace of its own: chronyd resolves what is not an address
    // ("10.0.0.256") as a host name, and that lookup must not leave here
    // (the namespace's resolver is its own loopback).
    let ns = Netns::new();
    let d = TempDir::new();
    let mut disagree = vec![];
    for l in ALLOW {
        for key in ["allow", "deny"] {
            let f = d.file("t.conf", &format!("{key} {l}\n"));
            let o = run_bounded(
                &mut ns.cmd(&[&chronyd_path(), "-p", "-f", f.to_str().unwrap()]),
                Duration::from_secs(10),
            );
            let theirs = String::from_utf8_lossy(&o.stderr).contains("Could not parse");
            let ours = chrony_allow(&words(l)).is_err();
            if theirs != ours {
                disagree.push(format!(
                    "`{key} {l}`: chronyd refused={theirs}, ntpdiag refused={ours}"
                ));
            }
        }
    }
    assert!(disagree.is_empty(), "{disagree:#?}");
}

//! explain's chrony.conf reader against chronyd itself: `chronyd -p -f FILE`
//! parses a configuration and exits, printing "Invalid directive" for a
//! line it does not know. Every directive explain accepts must be one
//! chronyd accepts, and every word it calls unknown must be one chronyd
//! refuses — except the directives of chrony releases newer than the one
//! installed here (4.3), which explain accepts on purpose.

mod common;

use std::time::Duration;

use common::*;
use ntpdiag::explain::conf::{CHRONY_KEYWORDS, CHRONY_RETIRED, Config, Daemon, parse_chrony};

/// Added after chrony 4.3.
const NEWER: &[&str] = &[
    "hwtstimeout",
    "leapseclist",
    "ntsaeads",
    "opencommands",
    "ptpdomain",
    "refresh",
];

fn chronyd_invalid(d: &TempDir, word: &str) -> bool {
    let f = d.file("t.conf", &format!("{word} 1\n"));
    let o = run_bounded(
        std::process::Command::new(chronyd_path()).args(["-p", "-f", f.to_str().unwrap()]),
        Duration::from_secs(10),
    );
    String::from_utf8_lossy(&o.stderr).contains("Invalid directive")
}

fn ours_unknown(word: &str) -> bool {
    let mut c = Config::new(Daemon::Chrony);
    parse_chrony("t.conf", &format!("{word} 1\n"), &mut c);
    c.issues
        .iter()
        .any(|i| i.fatal && i.message.contains("unknown directive"))
}

#[test]
fn directives_agree_with_chronyd() {
    if !require("chrony directives", &[&chronyd_path()]) {
        return;
    }
    let d = TempDir::new();
    let others = [
        "orphan",
        "tos",
        "restrict",
        "iburst",
        "nts",
        "minpoll",
        "disable",
        "keys",
        "ntpsec",
        "server_nts",
        "certtimecheck",
    ];
    let mut disagree = vec![];
    for w in CHRONY_KEYWORDS
        .iter()
        .chain(CHRONY_RETIRED)
        .chain(others.iter())
    {
        let theirs = chronyd_invalid(&d, w);
        let ours = ours_unknown(w);
        let expected = theirs && !NEWER.contains(w);
        if ours != expected {
            disagree.push(format!(
                "{w}: chronyd invalid={theirs}, ntpdiag unknown={ours}"
            ));
        }
    }
    assert!(disagree.is_empty(), "{disagree:#?}");
}

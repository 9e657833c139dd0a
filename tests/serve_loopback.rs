//! `ntpdiag serve` and `ntpdiag demo` on loopback, no root needed.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{TempDir, ntpdiag, run_bounded};

#[test]
fn demo_names_every_scenario() {
    let o = run_bounded(
        Command::new(ntpdiag()).args(["demo", "--json"]),
        Duration::from_secs(60),
    );
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let cases = v["cases"].as_array().unwrap();
    assert_eq!(cases.len(), ntpdiag::cli::demo::CASES.len());
    for c in cases {
        assert_eq!(c["named"], true, "{c}");
        assert_eq!(c["target"]["verdict"]["cause"], c["expected"]);
    }
    let o = run_bounded(
        Command::new(ntpdiag()).args(["demo", "--color", "never"]),
        Duration::from_secs(60),
    );
    let t = String::from_utf8_lossy(&o.stdout);
    for c in ntpdiag::cli::demo::CASES {
        assert!(
            t.lines()
                .any(|l| l.starts_with(c.name) && l.trim_end().ends_with(c.expect)),
            "{}: {t}",
            c.name
        );
    }
}

#[test]
fn scenario_file_errors_name_line_and_field() {
    let dir = TempDir::new();
    let f = dir.file(
        "bad.toml",
        "[[server]]\nname = \"a\"\nlisten = [\"127.0.0.1:0\"]\nkod = \"TOOLONG\"\n",
    );
    let o = run_bounded(
        Command::new(ntpdiag()).args(["serve", "--scenario", f.to_str().unwrap()]),
        Duration::from_secs(10),
    );
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("bad.toml:4:")
            && err.contains("field `kod`")
            && err.contains("expected a kiss code"),
        "{err}"
    );
    let o = run_bounded(
        Command::new(ntpdiag()).args(["serve", "--scenario", "/nonexistent.toml"]),
        Duration::from_secs(10),
    );
    assert_eq!(o.status.code(), Some(1));
    let o = run_bounded(
        Command::new(ntpdiag()).args(["serve", "--listen", "127.0.0.1:0", "--drop", "101"]),
        Duration::from_secs(10),
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--drop"));
}

#[test]
fn scenario_fixtures_parse() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/scenarios");
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let text = std::fs::read_to_string(&p).unwrap();
        let built = ntpdiag::scenario::parse_scenario(&p.display().to_string(), &text).unwrap();
        assert!(!built.is_empty());
        n += 1;
    }
    assert!(n >= 2);
}

/// A scenario on loopback high ports, probed; `--json` lines on start and stop.
#[test]
fn scenario_on_loopback_with_json_lines() {
    let dir = TempDir::new();
    let f = dir.file(
        "s.toml",
        "[[server]]\nname = \"ok\"\nlisten = [\"127.0.0.1:0\"]\n\n[[server]]\nname = \"rate\"\nlisten = [\"127.0.0.1:0\"]\nkod = \"RATE\"\n",
    );
    let mut child = Command::new(ntpdiag())
        .args(["serve", "--json", "--scenario", f.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first: serde_json::Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(first["event"], "listening");
    let servers = first["servers"].as_array().unwrap().clone();
    assert_eq!(servers.len(), 2);
    for s in &servers {
        let addr = s["address"].as_str().unwrap();
        let o = run_bounded(
            Command::new(ntpdiag()).args(["probe", "--json", "--no-liveness", addr]),
            Duration::from_secs(30),
        );
        let r: ntpdiag::cli::json::ProbeReport = serde_json::from_slice(&o.stdout).unwrap();
        let want = if s["profile"] == "ok" {
            "ok"
        } else {
            "kod-rate"
        };
        assert_eq!(r.targets[0].verdict.cause, want, "{s}");
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let last: serde_json::Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(last["event"], "stopped");
    let total: u64 = last["counters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["received"].as_u64().unwrap())
        .sum();
    assert!(total >= 5, "{last}");
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

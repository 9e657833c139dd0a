//! `ntpdiag serve` and `ntpdiag demo` on loopback, no root needed.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{TempDir, ntpdiag, run_bounded};

/// What RFC 5905 (and RFC 792 for ICMP) says the demo's server did, read
/// from the packets the demo recorded, not from ntpdiag's verdict: the
/// demo's verdict and its own expectation must both agree with it.
fn rfc_cause(target: &serde_json::Value) -> String {
    let probe = &target["probes"][0];
    let events = probe["events"].as_array().unwrap();
    let nonces: Vec<&str> = events
        .iter()
        .filter(|e| e["kind"] == "transmit" && e["purpose"] == "request")
        .filter_map(|e| e["nonce"].as_str())
        .collect();
    let to = events
        .iter()
        .find(|e| e["kind"] == "transmit")
        .and_then(|e| e["to"].as_str())
        .unwrap()
        .to_string();
    let first = events
        .iter()
        .find(|e| e["kind"] == "receive" && e["purpose"] != "liveness");
    let Some(r) = first else {
        // RFC 792: type 3 code 3 is port unreachable.
        let icmp = events
            .iter()
            .find(|e| e["kind"] == "icmp" && e["purpose"] == "request");
        return match icmp {
            Some(i) if i["icmp"]["type"] == 3 && i["icmp"]["code"] == 3 => {
                "port-unreachable".into()
            }
            Some(i) => format!("icmp {}", i["icmp"]),
            None => "no-reply".into(),
        };
    };
    let p = &r["packet"];
    let version = p["version"].as_u64().unwrap_or(0);
    // §7.3: a server reply is mode 4, versions 1-4.
    if p["mode"] != 4 || !(1..=4).contains(&version) {
        return "malformed-reply".into();
    }
    // §8 test 2: the origin must be one of our transmit timestamps.
    if !nonces.contains(&p["origin"]["hex"].as_str().unwrap()) {
        return "bogus-reply".into();
    }
    if r["from"].as_str() != Some(to.as_str()) {
        return "reply-from-other-address".into();
    }
    let refid_hex = p["refid_hex"].as_str().unwrap();
    let refid: String = (0..4)
        .map(|i| u8::from_str_radix(&refid_hex[2 * i..2 * i + 2], 16).unwrap())
        .filter(|b| *b != 0)
        .map(char::from)
        .collect();
    // §7.4: stratum 0 carries a kiss code; INIT and STEP are states.
    if p["stratum"] == 0 && ["RATE", "DENY", "RSTR"].contains(&refid.as_str()) {
        return format!("kod-{}", refid.to_lowercase());
    }
    // §7.3: leap 3 is "unsynchronized"; stratum 0 (INIT) and 16 unsynchronized.
    if p["leap"] == 3 || p["stratum"] == 0 || p["stratum"].as_u64() >= Some(16) {
        return "upstream-unsynchronized".into();
    }
    // §11.3: beyond PANICT (1000 s) from this host's clock.
    let xmt_hex = p["transmit"]["hex"].as_str().unwrap();
    let secs = u64::from_str_radix(&xmt_hex[..8], 16).unwrap() as i64 - 2_208_988_800;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    if (secs - now).abs() > 1000 {
        return "offset-over-panic".into();
    }
    "ok".into()
}

#[test]
fn demo_causes_agree_with_what_the_packets_say() {
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
        let want = rfc_cause(&c["target"]);
        assert_eq!(
            c["target"]["verdict"]["cause"],
            want.as_str(),
            "{}",
            c["scenario"]
        );
        assert_eq!(c["expected"], want.as_str(), "{}", c["scenario"]);
    }
    let o = run_bounded(
        Command::new(ntpdiag()).args(["demo", "--color", "never"]),
        Duration::from_secs(60),
    );
    let t = String::from_utf8_lossy(&o.stdout);
    for c in ntpdiag::cli::demo::CASES {
        assert!(
            t.lines()
                .any(|l| l.starts_with(c.name) && l.trim_end().ends_with(&c.expect.id())),
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
        let r: ntpdiag::schema::ProbeReport = serde_json::from_slice(&o.stdout).unwrap();
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

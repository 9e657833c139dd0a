//! The monitoring that drops in (contrib/): the alerting rules checked and
//! unit-tested by Prometheus's own promtool, the systemd unit by
//! systemd-analyze, and, live, a real Prometheus in a namespace scraping
//! `ntpdiag watch --metrics` while one of its servers answers
//! unsynchronized, until the rule fires with watch's cause.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

/// A Prometheus tool: $NTPDIAG_PROMETHEUS_DIR, Debian's package unpacked in
/// /opt/prometheus (scripts/lib.sh), or PATH.
fn prom_tool(name: &str) -> String {
    let dir = std::env::var("NTPDIAG_PROMETHEUS_DIR")
        .unwrap_or_else(|_| "/opt/prometheus/usr/bin".into());
    let p = PathBuf::from(dir).join(name);
    if p.exists() {
        p.display().to_string()
    } else {
        name.to_string()
    }
}

fn contrib(p: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("contrib")
        .join(p)
}

#[test]
fn promtool_checks_and_tests_the_rules() {
    let promtool = prom_tool("promtool");
    if !require("promtool", &[&promtool]) {
        return;
    }
    for args in [vec!["check", "rules"], vec!["test", "rules"]] {
        let file = if args[0] == "check" {
            contrib("prometheus/ntpdiag-rules.yml")
        } else {
            contrib("prometheus/ntpdiag-rules.test.yml")
        };
        let o = run_bounded(
            Command::new(&promtool).args(&args).arg(&file),
            Duration::from_secs(60),
        );
        assert!(
            o.status.success(),
            "promtool {args:?}: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

/// The unit as systemd itself reads it (its binary replaced by this build):
/// no unknown key, no bad value.
#[test]
fn systemd_analyze_verifies_the_unit() {
    if !require("systemd-analyze", &["systemd-analyze"]) {
        return;
    }
    let d = TempDir::new();
    let unit = std::fs::read_to_string(contrib("systemd/ntpdiag-watch.service"))
        .unwrap()
        .replace("/usr/bin/ntpdiag", ntpdiag());
    let f = d.file("ntpdiag-watch.service", &unit);
    let o = run_bounded(
        Command::new("systemd-analyze")
            .args(["verify", "--man=no"])
            .arg(&f),
        Duration::from_secs(30),
    );
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success() && said.trim().is_empty(), "{said}");
}

/// A GET of `url` (http://HOST:PORT/PATH) inside `ns`, with curl.
fn get(ns: &Netns, url: &str) -> String {
    let o = ns.exec(&["curl", "-s", "--max-time", "2", url]);
    String::from_utf8_lossy(&o.stdout).to_string()
}

/// Prometheus (Debian's 2.42) in a namespace scrapes watch every second;
/// watch polls a healthy server and one that answers unsynchronized. The
/// shipped rules, with their `for:` shortened to 0s, fire
/// NtpSourceRejected for the bad one with cause upstream-unsynchronized,
/// and for it alone. promtool also lints the scraped text.
#[test]
fn a_live_prometheus_fires_the_rule() {
    let prometheus = prom_tool("prometheus");
    let promtool = prom_tool("promtool");
    if !require("live prometheus", &["ip", "curl", &prometheus, &promtool]) {
        return;
    }
    let ns = Netns::new();
    let d = TempDir::new();
    let _good = ns.spawn(
        &[ntpdiag(), "serve", "--listen", "127.0.0.1:1123"],
        &d.path().join("good.log"),
    );
    let _bad = ns.spawn(
        &[
            ntpdiag(),
            "serve",
            "--listen",
            "127.0.0.1:2123",
            "--unsynchronized",
        ],
        &d.path().join("bad.log"),
    );
    assert!(ns.wait_udp_listen(2123, Duration::from_secs(10)));
    let _watch = ns.spawn(
        &[
            ntpdiag(),
            "watch",
            "--minpoll",
            "3",
            "--metrics",
            "127.0.0.1:9123",
            "127.0.0.1:1123",
            "127.0.0.1:2123",
        ],
        &d.path().join("watch.log"),
    );
    let rules = std::fs::read_to_string(contrib("prometheus/ntpdiag-rules.yml"))
        .unwrap()
        .replace("for: 10m", "for: 0s")
        .replace("for: 5m", "for: 0s");
    let rules_file = d.file("rules.yml", &rules);
    let conf = d.file(
        "prometheus.yml",
        &format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {}\nscrape_configs:\n  - job_name: ntpdiag\n    static_configs:\n      - targets: ['127.0.0.1:9123']\n",
            rules_file.display()
        ),
    );
    let data = d.path().join("data");
    let _prom = ns.spawn(
        &[
            &prometheus,
            &format!("--config.file={}", conf.display()),
            &format!("--storage.tsdb.path={}", data.display()),
            "--web.listen-address=127.0.0.1:9090",
        ],
        &d.path().join("prometheus.log"),
    );
    let end = Instant::now() + Duration::from_secs(90);
    let mut alerts = String::new();
    while Instant::now() < end {
        alerts = get(&ns, "http://127.0.0.1:9090/api/v1/alerts");
        if alerts.contains("\"state\":\"firing\"") && alerts.contains("upstream-unsynchronized") {
            break;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    let v: serde_json::Value = serde_json::from_str(&alerts).unwrap_or_else(|e| {
        panic!(
            "{e}: {alerts}\n{}",
            std::fs::read_to_string(d.path().join("prometheus.log")).unwrap_or_default()
        )
    });
    let firing: Vec<&serde_json::Value> = v["data"]["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["labels"]["alertname"] == "NtpSourceRejected" && a["state"] == "firing")
        .collect();
    assert_eq!(firing.len(), 1, "{alerts}");
    assert_eq!(firing[0]["labels"]["address"], "127.0.0.1:2123", "{alerts}");
    assert_eq!(firing[0]["labels"]["cause"], "upstream-unsynchronized");
    // The scrape lints clean.
    let body = get(&ns, "http://127.0.0.1:9123/metrics");
    assert!(body.contains("ntpdiag_source_cause{"), "{body}");
    // Every metric the rules and the Grafana dashboard name is served.
    let dash = std::fs::read_to_string(contrib("grafana/ntpdiag-dashboard.json")).unwrap();
    let _: serde_json::Value = serde_json::from_str(&dash).expect("the dashboard is JSON");
    for text in [rules.as_str(), dash.as_str()] {
        for name in text
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| w.starts_with("ntpdiag_"))
        {
            assert!(
                body.lines()
                    .any(|l| l.starts_with(&format!("{name}{{"))
                        || l.starts_with(&format!("{name} "))),
                "{name} is not served:\n{body}"
            );
        }
    }
    let mut lint = Command::new(&promtool);
    lint.args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = lint.spawn().unwrap();
    {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(body.as_bytes())
            .unwrap();
    }
    let o = child.wait_with_output().unwrap();
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

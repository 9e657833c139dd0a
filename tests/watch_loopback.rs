//! `ntpdiag watch` on loopback (no root): the JSON-lines contract of the
//! issue (snapshot fields, event lines, end line with the exit code), the
//! OpenMetrics endpoint, and bad input (a name that does not resolve).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{ntpdiag, run_bounded, serve_loopback as serve};

#[test]
fn json_lines_follow_the_contract_and_metrics_are_served() {
    let (good, addr) = serve(&[]);
    let (unsync, uaddr) = serve(&["--unsynchronized"]);
    let mut child = Command::new(ntpdiag())
        .args([
            "watch",
            "--json",
            "--minpoll",
            "3",
            "--count",
            "3",
            "--metrics",
            "127.0.0.1:0",
            &addr,
            &uaddr,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut metrics_addr = None;
    let mut scraped = String::new();
    let mut snapshots = vec![];
    let mut events = 0;
    let mut end = None;
    for line in lines.by_ref().take(200) {
        let v: serde_json::Value =
            serde_json::from_str(&line.unwrap()).expect("every line is JSON");
        match v["type"].as_str().unwrap() {
            "metrics" => metrics_addr = Some(v["address"].as_str().unwrap().to_string()),
            "event" => events += 1,
            "snapshot" => {
                if scraped.is_empty()
                    && let Some(a) = &metrics_addr
                {
                    let mut c = std::net::TcpStream::connect(a).unwrap();
                    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                    c.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
                        .unwrap();
                    c.read_to_string(&mut scraped).unwrap();
                }
                snapshots.push(v);
            }
            "end" => {
                end = Some(v);
                break;
            }
            other => panic!("unknown type {other}"),
        }
    }
    let status = child.wait().unwrap();
    drop(good);
    drop(unsync);
    assert!(events > 0);
    let last = snapshots.last().expect("snapshots");
    for s in last["sources"].as_array().unwrap() {
        for f in ["address", "name", "tally", "reach", "cause", "why"] {
            assert!(s[f].is_string(), "{f}: {s}");
        }
        for f in ["offset_s", "delay_s", "jitter_s", "root_distance_s"] {
            assert!(s[f].is_number(), "{f}: {s}");
        }
        assert!(" x.-+#*o".contains(s["tally"].as_str().unwrap()));
        u8::from_str_radix(s["reach"].as_str().unwrap(), 8).expect("octal reach");
    }
    for f in ["peer", "offset_s", "jitter_s", "cause"] {
        assert!(last["system"].get(f).is_some(), "{f}");
    }
    let u = last["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["address"] == uaddr.as_str())
        .unwrap();
    assert_eq!(u["cause"], "upstream-unsynchronized", "{u}");
    assert_eq!(u["reach"], "0");
    assert_ne!(u["heard"], "0");
    let end = end.expect("an end line");
    assert_eq!(end["exit_code"].as_i64(), status.code().map(i64::from));
    assert!(scraped.starts_with("HTTP/1.1 200 OK"), "{scraped}");
    assert!(scraped.contains("application/openmetrics-text"));
    assert!(scraped.contains("ntpdiag_source_reach{"), "{scraped}");
    assert!(scraped.contains("ntpdiag_system_synchronized"));
    // The cause watch gives each source, one series per source.
    let cause_line = scraped
        .lines()
        .find(|l| l.starts_with("ntpdiag_source_cause{") && l.contains(uaddr.as_str()))
        .unwrap_or_else(|| panic!("{scraped}"));
    assert!(
        cause_line.contains("cause=\"upstream-unsynchronized\"")
            && cause_line.contains("class=\"unusable\""),
        "{cause_line}"
    );
    assert_eq!(
        scraped
            .lines()
            .filter(|l| l.starts_with("ntpdiag_source_cause{") && l.contains(uaddr.as_str()))
            .count(),
        1,
        "{scraped}"
    );
    assert!(scraped.contains("ntpdiag_system_cause{"), "{scraped}");
    assert!(scraped.trim_end().ends_with("# EOF"), "{scraped}");
}

#[test]
fn unresolvable_names_give_a_line_and_exit_7() {
    let o = run_bounded(
        Command::new(ntpdiag()).args(["watch", "--json", "--count", "1", "no-such-host.invalid"]),
        Duration::from_secs(30),
    );
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    assert_eq!(lines[0]["type"], "unresolved");
    assert_eq!(lines[0]["cause"], "name-unresolved");
    assert_eq!(lines.last().unwrap()["type"], "end");
    assert_eq!(o.status.code(), Some(7));
}

/// A configured server's name that does not resolve is the node's cause
/// (`server-name-unresolved`, as explain and lab say), a name given on the
/// command line the probe's (`name-unresolved`): one fact, one id each.
#[test]
fn unresolvable_configured_names_are_server_name_unresolved() {
    let dir = common::TempDir::new();
    let conf = dir.0.join("ntp.conf");
    std::fs::write(&conf, "server no-such-host.invalid iburst\n").unwrap();
    let o = run_bounded(
        Command::new(ntpdiag()).args([
            "watch",
            "--json",
            "--count",
            "1",
            "--config",
            conf.to_str().unwrap(),
        ]),
        Duration::from_secs(30),
    );
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    assert_eq!(lines[0]["type"], "unresolved", "{lines:?}");
    assert_eq!(lines[0]["cause"], "server-name-unresolved");
    assert_eq!(lines[0]["confidence"], "high");
    assert!(lines[0]["fix"][0].as_str().unwrap().contains("/etc/hosts"));
    let end = lines.last().unwrap();
    assert_eq!(end["type"], "end");
    assert_eq!(end["exit_code"], 7);
    assert_eq!(o.status.code(), Some(7));
}

//! ntpd-rs 1.9.0, the real one (built from the crates registry), in
//! namespaces: what `ntp-ctl status` prints and what it logs, read by
//! explain. It runs under the no-clock shim without CAP_SYS_TIME, so the
//! host's clock is never touched.

mod common;

use std::time::{Duration, Instant};

use common::*;

/// ntpd-rs with one healthy server and one address where nothing answers
/// (on the link, no host): `ntp-ctl status` names the silent one, and
/// neither it nor the log says ok while ntpd-rs has combined no time.
#[test]
fn ntpd_rs_status_and_log() {
    let daemon = format!("{}/ntp-daemon", ntpd_rs_dir());
    let ctl = format!("{}/ntp-ctl", ntpd_rs_dir());
    if !require(
        "ntpd-rs",
        &["ip", "ss", "ntpd", "capsh", "gcc", &daemon, &ctl],
    ) {
        return;
    }
    let p = Pair::new();
    let _srv = ntpd(&p.server, &p.dir, "tos orphan 5 orphanwait 1");
    let d = TempDir::new();
    let conf = d.file(
        "ntp.toml",
        &format!(
            "[observability]\nlog-level = \"info\"\nobservation-path = \"{dir}/observe\"\n\n\
             [[source]]\nmode = \"server\"\naddress = \"{SERVER}\"\n\n\
             [[source]]\nmode = \"server\"\naddress = \"198.51.100.7\"\n\n\
             [synchronization]\nminimum-agreeing-sources = 1\n",
            dir = d.path().display()
        ),
    );
    let mut n = ntpd_rs(&p.client, &d, &conf);
    // `Missing polls` is 8 (reach 0) for every source at start: wait until
    // the healthy one has answered and the empty address has been polled
    // a few times (every 16 s).
    let start = Instant::now();
    let status = loop {
        let o = p
            .client
            .exec(&[&ctl, "-c", conf.to_str().unwrap(), "status"]);
        let t = String::from_utf8_lossy(&o.stdout).to_string();
        let missed = |who: &str| {
            t.split_once(who)
                .and_then(|(_, r)| r.split("Missing polls:").nth(1))
                .and_then(|r| r.split_whitespace().next())
                .and_then(|v| v.parse::<u32>().ok())
        };
        let ready = missed(&format!("{SERVER}:123 (")) == Some(0)
            && start.elapsed() > Duration::from_secs(40);
        if ready || start.elapsed() > Duration::from_secs(120) || !n.is_running() {
            break t;
        }
        std::thread::sleep(Duration::from_secs(2));
    };
    let log = n.log_text();
    assert!(
        status.contains("Synchronization status:"),
        "{status}\n{log}"
    );
    keep_output("real-ntp-ctl-status-one-silent", &status);
    let (r, _) = explain_paste(&status);
    let b = r
        .blocks
        .iter()
        .find(|b| b.kind == "NtpdRsCtl")
        .unwrap_or_else(|| panic!("{status}\n{r:#?}"));
    assert!(
        b.notes
            .iter()
            .any(|x| x.meaning.contains("198.51.100.7") && x.meaning.contains("reach 0")),
        "{b:#?}"
    );
    assert!(
        b.notes
            .iter()
            .any(|x| x.meaning.contains(SERVER) && x.meaning.contains("answers")),
        "{b:#?}"
    );
    if status.contains("Stratum:\t16") {
        assert_ne!(r.verdict.cause, "ok", "{status}\n{r:#?}");
    }
    // The log, as it wrote it and behind a journal prefix.
    let log: String = log
        .lines()
        .map(|l| {
            // Without a terminal tracing still colours nothing; strip any.
            l.replace("\u{1b}[2m", "")
                .replace("\u{1b}[0m", "")
                .replace("\u{1b}[32m", "")
                .replace("\u{1b}[3m", "")
                + "\n"
        })
        .collect();
    if log.contains("No consensus on current time") && !log.contains("Offset: ") {
        keep_output("real-ntpd-rs-log-no-consensus", &log);
        let journal: String = log
            .lines()
            .map(|l| format!("Dec 07 10:00:00 node1 ntp-daemon[77]: {l}\n"))
            .collect();
        for text in [log.clone(), journal] {
            let (r, _) = explain_paste(&text);
            assert_eq!(r.verdict.cause, "not-judged", "{text}\n{r:#?}");
        }
    }
}

/// explain on a node that runs ntpd-rs: it finds `ntp-daemon`, reads
/// /etc/ntpd-rs/ntp.toml and asks `ntp-ctl -c FILE status`; its only
/// server is not synchronized, and the verdict is not ok.
#[test]
fn explain_finds_ntpd_rs_on_the_node() {
    let daemon = format!("{}/ntp-daemon", ntpd_rs_dir());
    if !require(
        "ntpd-rs",
        &["ip", "ss", "ntpd", "capsh", "gcc", "nsenter", &daemon],
    ) {
        return;
    }
    let p = Pair::new();
    let _srv = ntpd(&p.server, &p.dir, "");
    let root = TempDir::new();
    let etc = root.path().join("etc/ntpd-rs");
    std::fs::create_dir_all(&etc).unwrap();
    let conf = etc.join("ntp.toml");
    std::fs::write(
        &conf,
        format!(
            "[observability]\nobservation-path = \"{}/observe\"\n\n[[source]]\nmode = \"server\"\naddress = \"{SERVER}\"\n",
            root.path().display()
        ),
    )
    .unwrap();
    let mut n = ntpd_rs(&p.client, &root, &conf);
    std::thread::sleep(Duration::from_secs(5));
    assert!(n.is_running(), "{}", n.log_text());
    let (r, text) = explain_node_in(n.pid(), root.path(), &ntpd_rs_dir());
    let cfg = r.config.as_ref().unwrap_or_else(|| panic!("{text}"));
    assert_eq!(cfg.daemon, "ntpd-rs", "{text}");
    assert!(r.blocks.iter().any(|b| b.kind == "NtpdRsCtl"), "{text}");
    assert_ne!(r.verdict.cause, "ok", "{text}");
    // Its own log says so too (daemon/config's check at start).
    let log = n.log_text();
    assert!(log.contains("Fewer sources configured"), "{log}");
    keep_output("real-ntpd-rs-log-fewer-sources", &log);
    let (lr, _) = explain_paste(&log);
    assert_eq!(lr.verdict.cause, "too-few-sources", "{log}\n{lr:#?}");
    // minimum-agreeing-sources defaults to 3; one server is too few.
    assert!(
        r.verdict.cause == "too-few-sources"
            || r.findings
                .iter()
                .any(|f| f.verdict.cause == "too-few-sources"),
        "{text}"
    );
}

/// A node whose ntp.toml names the node itself (its own address, and
/// localhost): explain says it is a loop, naming the line, for any daemon.
#[test]
fn a_source_that_is_this_host() {
    if !require("a source that is this host", &["ip"]) {
        return;
    }
    let p = Pair::new();
    let root = TempDir::new();
    let etc = root.path().join("etc/ntpd-rs");
    std::fs::create_dir_all(&etc).unwrap();
    std::fs::write(
        etc.join("ntp.toml"),
        format!(
            "[[source]]\nmode = \"server\"\naddress = \"{CLIENT}\"\n\n[[source]]\nmode = \"server\"\naddress = \"localhost\"\n\n[[source]]\nmode = \"server\"\naddress = \"{SERVER}\"\n"
        ),
    )
    .unwrap();
    let (r, text) = explain_json(&mut p.client.cmd(&[
        ntpdiag(),
        "explain",
        "--json",
        "--root",
        root.path().to_str().unwrap(),
    ]));
    let loops: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.verdict.cause == "sync-loop")
        .collect();
    assert_eq!(loops.len(), 2, "{text}");
    assert!(
        loops.iter().any(|f| f.verdict.summary.contains(CLIENT)),
        "{text}"
    );
    // The server that is another host is not one.
    assert!(
        !loops.iter().any(|f| f.verdict.summary.contains(SERVER)),
        "{text}"
    );
}

/// `ntp-ctl validate` on a configuration ntp-daemon refuses, and on its
/// own default one, as it prints them (stderr, with its log line).
#[test]
fn ntp_ctl_validate_as_printed() {
    let ctl = format!("{}/ntp-ctl", ntpd_rs_dir());
    if !require("ntp-ctl", &[&ctl]) {
        return;
    }
    let d = TempDir::new();
    let bad = d.file(
        "bad.toml",
        "[[sources]]\nmode = \"server\"\naddress = \"a\"\n",
    );
    let good = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/configs/ntpd-rs-1.9.0-ntp.toml.default");
    for (conf, cause) in [(bad, "daemon-not-running"), (good, "not-judged")] {
        let o = run_bounded(
            std::process::Command::new(&ctl).args(["-c", conf.to_str().unwrap(), "validate"]),
            Duration::from_secs(10),
        );
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        let (r, _) = explain_paste(&text);
        assert_eq!(r.verdict.cause, cause, "{text}\n{r:#?}");
        assert!(
            r.blocks.iter().any(|b| b.kind == "NtpdRsCtl"),
            "{text}\n{r:#?}"
        );
    }
}

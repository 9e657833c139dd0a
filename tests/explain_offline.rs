//! `ntpdiag explain` on pasted output kept in fixtures/outputs/: real output
//! recorded by tests/outputs_netns.rs, and the seed case's. No root needed.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{TempDir, explain_paste, ntpdiag, run_bounded};
use ntpdiag::schema::ExplainReport;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/outputs")
        .join(format!("{name}.txt"))
}

fn explain_file(name: &str) -> (ExplainReport, i32) {
    let o = run_bounded(
        Command::new(ntpdiag()).args(["explain", "--json", fixture(name).to_str().unwrap()]),
        Duration::from_secs(20),
    );
    let r = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{name}: {e}: {}", String::from_utf8_lossy(&o.stderr)));
    (r, o.status.code().unwrap())
}

#[test]
fn every_output_fixture_is_read() {
    let mut listed = vec![];
    for (name, kind, cause) in [
        ("real-ntpq-peers-silent", "NtpqPeers", "no-reply"),
        ("real-ntpq-peers-synced", "NtpqPeers", "ok"),
        ("real-ntpq-assoc-silent", "NtpqAssoc", "no-reply"),
        ("real-ntpq-assoc-synced", "NtpqAssoc", "ok"),
        (
            "real-ntpq-rv-unsynchronized",
            "NtpqRv",
            "daemon-not-synchronized-yet",
        ),
        (
            "real-ntpdig-fresh-ntpd",
            "NtpdigDebug",
            "upstream-unsynchronized",
        ),
        ("real-ntpdig-healthy", "NtpdigDebug", "ok"),
        ("real-ntpdate-drop", "NtpdigDebug", "no-reply"),
        ("real-chronyc-sources-silent", "ChronycSources", "no-reply"),
        (
            "real-chronyc-sources-v-silent",
            "ChronycSources",
            "no-reply",
        ),
        ("real-chronyc-csv-silent", "ChronycSourcesCsv", "no-reply"),
        ("real-chronyc-sources-synced", "ChronycSources", "ok"),
        (
            "real-chronyc-tracking-unsynchronised",
            "ChronycTracking",
            "daemon-not-synchronized-yet",
        ),
        ("real-chronyc-tracking-synced", "ChronycTracking", "ok"),
        ("seed-compute-peers", "NtpqPeers", "no-reply"),
        ("seed-compute-assoc", "NtpqAssoc", "no-reply"),
        ("seed-compute-ntpdate", "NtpdateDebug", "no-reply"),
        ("seed-controller-peers", "NtpqPeers", "ok"),
        ("seed-controller-assoc", "NtpqAssoc", "ok"),
        // The tools' error words and other reports (outputs_netns records
        // them; the expected verdicts are what the tools' sources say the
        // lines mean).
        ("real-ntpq-no-daemon", "NtpqError", "daemon-not-running"),
        ("real-ntpq-noquery-timeout", "NtpqError", "no-reply"),
        (
            "real-ntpq-peers-local-clock-unselected",
            "NtpqPeers",
            "no-reply",
        ),
        (
            "real-ntpdig-stratum-too-high",
            "NtpdigDebug",
            "upstream-unsynchronized",
        ),
        (
            "real-ntpdig-leap-not-in-sync",
            "NtpdigDebug",
            "upstream-unsynchronized",
        ),
        ("real-ntpdig-kod", "NtpdigDebug", "upstream-unsynchronized"),
        (
            "real-ntpdig-version-too-new",
            "NtpdigDebug",
            "malformed-reply",
        ),
        ("real-ntpdig-json", "NtpdigJson", "ok"),
        ("real-ntpdate-shim-q", "NtpdigDebug", "ok"),
        (
            "real-ntpdig-lookup-failed",
            "NtpdigDebug",
            "name-unresolved",
        ),
        (
            "real-ntpdig-network-unreachable",
            "NtpdigDebug",
            "net-unreachable",
        ),
        (
            "real-chronyc-cannot-talk",
            "ChronycError",
            "daemon-not-running",
        ),
        ("real-chronyc-tracking-csv", "ChronycTracking", "ok"),
        ("real-chronyc-sourcestats", "ChronycSourcestats", "no-reply"),
        ("real-chronyc-selectdata", "ChronycSelectdata", "ok"),
        ("real-chronyc-ntpdata", "ChronycNtpdata", "ok"),
        ("real-chronyc-ntpdata-silent", "ChronycNtpdata", "no-reply"),
        (
            "real-chronyc-csv-sourcestats",
            "ChronycSourcestats",
            "no-reply",
        ),
        ("real-chronyc-csv-selectdata", "ChronycSelectdata", "ok"),
        ("real-chronyc-csv-ntpdata", "ChronycNtpdata", "ok"),
        // Daemon logs (tests/daemon_logs.rs).
        ("real-chronyd-log-selected", "DaemonLog", "ok"),
        ("real-chronyd-log-lost", "DaemonLog", "no-reply"),
        (
            "real-chronyd-log-no-cap-sys-time",
            "DaemonLog",
            "clock-not-settable",
        ),
        ("real-ntpd-log-sys-peer", "DaemonLog", "ok"),
        // OpenNTPD 6.2p3 and ntpd-rs 1.9.0 (tests/openntpd.rs, tests/ntpd_rs.rs).
        ("real-openntpd-log-synced", "DaemonLog", "ok"),
        ("real-ntpctl-all-synced", "Ntpctl", "ok"),
        (
            "real-openntpd-log-unsynced-upstream",
            "DaemonLog",
            "upstream-unsynchronized",
        ),
        ("real-ntpctl-all-unsynced-upstream", "Ntpctl", "not-judged"),
        // Synchronized (stratum 6) to the healthy one, the silent one aside.
        ("real-ntp-ctl-status-one-silent", "NtpdRsCtl", "ok"),
        (
            "real-ntpd-rs-log-fewer-sources",
            "DaemonLog",
            "too-few-sources",
        ),
    ] {
        let (r, code) = explain_file(name);
        assert_eq!(r.mode, "paste");
        let b = r
            .blocks
            .iter()
            .find(|b| b.kind == kind)
            .unwrap_or_else(|| panic!("{name}: {r:#?}"));
        assert_eq!(b.verdict.cause, cause, "{name}: {b:#?}");
        assert!(!b.notes.is_empty());
        assert_eq!(code as u8, r.exit_code);
        listed.push(format!("{name}.txt"));
    }
    // Every fixture is listed above (activity and a healthy authdata hold
    // nothing to judge: only which sources are polled, and their keys).
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/outputs");
    for f in std::fs::read_dir(dir).unwrap() {
        let n = f.unwrap().file_name().to_string_lossy().into_owned();
        let judged_elsewhere = [
            "seed-compute-all.txt",
            "real-chronyc-activity.txt",
            "real-chronyc-authdata.txt",
            "real-chronyc-csv-activity.txt",
            "real-chronyc-csv-authdata.txt",
        ];
        assert!(
            listed.contains(&n) || judged_elsewhere.contains(&n.as_str()),
            "fixtures/outputs/{n} has no expected verdict here"
        );
    }
}

#[test]
fn seed_paste_through_stdin() {
    let mut child = Command::new(ntpdiag())
        .args(["explain", "--paste", "--color", "never"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&std::fs::read(fixture("seed-compute-all")).unwrap())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(3));
    let t = String::from_utf8_lossy(&o.stdout);
    for want in [
        "── ntpq -p / -c peers ──",
        "── ntpq -c assoc ──",
        "── ntpdate -d ──",
        "placeholders",
        "status 8011",
        "never answered",
        "[no-reply]",
    ] {
        assert!(t.contains(want), "{want}: {t}");
    }
}

/// Text that holds no tool output still gets one verdict (and with --json
/// one document): `unrecognized-input`, exit 2; binary data and an empty
/// paste too. A missing file is ntpdiag's error (1).
#[test]
fn unknown_text_binary_empty_and_missing_files() {
    let dir = TempDir::new();
    let run = |args: &[&str], stdin: Option<&[u8]>| {
        let mut c = Command::new(ntpdiag());
        c.arg("explain").args(args);
        match stdin {
            None => run_bounded(&mut c, Duration::from_secs(10)),
            Some(bytes) => {
                let mut child = c
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap();
                child.stdin.take().unwrap().write_all(bytes).unwrap();
                child.wait_with_output().unwrap()
            }
        }
    };
    let json = |o: &std::process::Output| -> ExplainReport {
        serde_json::from_slice(&o.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stdout)))
    };
    let f = dir.file("x.txt", "Lorem ipsum dolor sit amet\n");
    let o = run(&[f.to_str().unwrap()], None);
    assert_eq!(o.status.code(), Some(2));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("unrecognized-input") && out.contains("Lorem ipsum"),
        "{out}"
    );
    // What explain reads is said once, as the verdict's note (issue 26:
    // it was printed twice, on stdout and again on stderr).
    assert_eq!(out.matches("explain reads ntpq (peers").count(), 1, "{out}");
    assert!(
        !String::from_utf8_lossy(&o.stderr).contains("explain reads"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // chronyc's refusal of a command (client.c's reply codes) is read, not
    // unknown, and says nothing of time.
    let g = dir.file("r.txt", "501 Not authorised\n");
    let o = run(&["--json", "--no-probe", g.to_str().unwrap()], None);
    let r = json(&o);
    assert!(
        r.verdict.summary.contains("501 Not authorised"),
        "{:?}",
        r.verdict
    );
    let o = run(&["--json", "--no-probe", f.to_str().unwrap()], None);
    assert_eq!(o.status.code(), Some(2));
    let r = json(&o);
    assert_eq!(r.verdict.cause, "unrecognized-input");
    assert_eq!(r.verdict.class, "input");
    assert_eq!(r.exit_code, 2);
    // Binary, through stdin, with --paste --no-probe.
    let o = run(
        &["--json", "--paste", "--no-probe"],
        Some(&[0xff, 0xfe, 0, 1, 2, 3]),
    );
    assert_eq!(o.status.code(), Some(2));
    let r = json(&o);
    assert!(r.verdict.summary.contains("binary"), "{:?}", r.verdict);
    // Empty.
    let o = run(&["--json", "-"], Some(b""));
    assert_eq!(json(&o).verdict.summary, "The input is empty.");
    let o = run(&["/nonexistent"], None);
    assert_eq!(o.status.code(), Some(1));
}

/// A copied /etc, read offline: bad files give findings, the rest still comes.
#[test]
fn offline_root_with_broken_configs() {
    let dir = TempDir::new();
    let etc = dir.path().join("etc/chrony");
    std::fs::create_dir_all(etc.join("conf.d")).unwrap();
    std::fs::write(etc.join("chrony.conf"), "server controller iburst\nconfdir /etc/chrony/conf.d\ninclude /etc/chrony/nope.conf\nmakestep 1 3\n").unwrap();
    std::fs::write(
        etc.join("conf.d/extra.conf"),
        "pool 2.debian.pool.ntp.org iburst\nsevrer typo\n",
    )
    .unwrap();
    let o = run_bounded(
        Command::new(ntpdiag()).args([
            "explain",
            "--json",
            "--no-probe",
            "--root",
            dir.path().to_str().unwrap(),
        ]),
        Duration::from_secs(30),
    );
    let r: ExplainReport = serde_json::from_slice(&o.stdout).unwrap();
    let errs: Vec<&str> = r
        .findings
        .iter()
        .filter(|f| f.verdict.cause == "config-error")
        .map(|f| f.verdict.summary.as_str())
        .collect();
    assert!(
        errs.iter()
            .any(|e| e.starts_with("/etc/chrony/chrony.conf:3:") && e.contains("nope.conf")),
        "{errs:?}"
    );
    assert!(
        errs.iter()
            .any(|e| e.starts_with("/etc/chrony/conf.d/extra.conf:2:") && e.contains("sevrer")),
        "{errs:?}"
    );
    assert_eq!(
        r.verdict.cause, "config-error",
        "chronyd will not start with an unknown directive: {r:#?}"
    );
}

/// `explain --root R --no-probe --json` lists every source of real configs:
/// Debian's own ntpsec ntp.conf and chrony.conf (as installed here), with
/// the kinds the daemons' documentation names added: reference clocks
/// (127.127.t.u with fudge, ntpsec `refclock`, chrony `refclock SHM/PPS/
/// SOCK`), manycastclient, broadcastclient, `nts`, chrony's sourcedir and
/// confdir, and an include loop (read once, said).
#[test]
fn root_lists_every_source_of_real_configs() {
    let ntp_conf = std::fs::read_to_string("/etc/ntpsec/ntp.conf");
    let chrony_conf = std::fs::read_to_string("/opt/chrony/usr/share/chrony/chrony.conf");
    let (Ok(ntp_conf), Ok(chrony_conf)) = (ntp_conf, chrony_conf) else {
        assert!(
            !common::in_ci(),
            "ntpsec's and chrony's configs must be installed in CI"
        );
        eprintln!("skipped: /etc/ntpsec/ntp.conf or chrony's packaged chrony.conf is missing");
        return;
    };
    // Every line that names a source, counted from the text itself.
    let count = |text: &str, keys: &[&str]| {
        text.lines()
            .filter(|l| {
                let w = l.split_whitespace().next().unwrap_or("");
                keys.contains(&w)
            })
            .count()
    };
    let dir = TempDir::new();
    let ntp = format!(
        "{ntp_conf}\nserver 127.127.1.0\nfudge 127.127.1.0 stratum 10\nrefclock shm unit 0 refid GPS\nmanycastclient 239.255.254.254 key 42\nbroadcastclient novolley\nserver time.cloudflare.com nts iburst\nincludefile /etc/ntpsec/more.conf\n"
    );
    dir.file("etc/ntpsec/ntp.conf", &ntp);
    dir.file(
        "etc/ntpsec/more.conf",
        "server 198.51.100.1 iburst prefer\nincludefile /etc/ntpsec/ntp.conf\n",
    );
    let chrony = format!(
        "{chrony_conf}\nrefclock SHM 0 refid GPS poll 3\nrefclock PPS /dev/pps0 lock GPS\nrefclock SOCK /run/chrony.ttyS0.sock\nserver nts.example nts iburst\ninclude /etc/chrony/chrony.conf\n"
    );
    dir.file("etc/chrony/chrony.conf", &chrony);
    dir.file(
        "etc/chrony/sources.d/local.sources",
        "server 203.0.113.5 iburst\npool pool.example iburst maxsources 2\n",
    );
    dir.file(
        "etc/chrony/conf.d/extra.conf",
        "peer 203.0.113.6\nallow 198.51.100.0/24\n",
    );
    let o = run_bounded(
        Command::new(ntpdiag()).args([
            "explain",
            "--json",
            "--no-probe",
            "--root",
            dir.path().to_str().unwrap(),
        ]),
        Duration::from_secs(30),
    );
    let r: ExplainReport = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stdout)));
    let all: Vec<&ntpdiag::schema::DaemonConfigJson> =
        r.config.iter().chain(r.other_configs.iter()).collect();
    let ntpd = all
        .iter()
        .find(|c| c.daemon == "ntpd")
        .expect("ntpd's config");
    let chronyd = all
        .iter()
        .find(|c| c.daemon == "chronyd")
        .expect("chrony's config");
    let keys = [
        "server",
        "pool",
        "peer",
        "refclock",
        "manycastclient",
        "broadcastclient",
    ];
    assert_eq!(
        ntpd.sources.len(),
        count(&ntp, &keys) + count("server 198.51.100.1 iburst prefer", &keys),
        "{:#?}",
        ntpd.sources
    );
    let chrony_keys = ["server", "pool", "peer", "refclock"];
    assert_eq!(
        chronyd.sources.len(),
        count(&chrony, &chrony_keys) + 3,
        "{:#?}",
        chronyd.sources
    );
    let kind_of = |c: &ntpdiag::schema::DaemonConfigJson, host: &str| {
        c.sources
            .iter()
            .find(|s| s.host == host)
            .map(|s| (s.kind.clone(), s.options.clone(), s.file.clone(), s.line))
    };
    assert_eq!(kind_of(ntpd, "127.127.1.0").unwrap().0, "refclock");
    assert_eq!(kind_of(ntpd, "shm").unwrap().0, "refclock");
    assert_eq!(
        kind_of(ntpd, "239.255.254.254").unwrap().0,
        "manycastclient"
    );
    assert_eq!(kind_of(ntpd, "").unwrap().0, "broadcastclient");
    let nts = kind_of(ntpd, "time.cloudflare.com").unwrap();
    assert!(nts.1.contains(&"nts".to_string()), "{nts:?}");
    let pool = kind_of(ntpd, "0.debian.pool.ntp.org").unwrap();
    assert_eq!(
        (pool.0.as_str(), pool.2.as_str()),
        ("pool", "/etc/ntpsec/ntp.conf")
    );
    assert_eq!(
        ntp.lines()
            .nth(pool.3 - 1)
            .unwrap()
            .split_whitespace()
            .nth(1),
        Some("0.debian.pool.ntp.org")
    );
    assert_eq!(
        kind_of(ntpd, "198.51.100.1").unwrap().2,
        "/etc/ntpsec/more.conf"
    );
    assert!(
        ntpd.access
            .iter()
            .any(|a| a.target == "default" && a.flags.contains(&"noquery".to_string()))
    );
    assert!(
        ntpd.issues
            .iter()
            .any(|i| i.message.contains("include loop") && !i.fatal),
        "{:#?}",
        ntpd.issues
    );
    assert_eq!(kind_of(chronyd, "SHM 0").unwrap().0, "refclock");
    assert_eq!(kind_of(chronyd, "PPS /dev/pps0").unwrap().0, "refclock");
    assert_eq!(
        kind_of(chronyd, "SOCK /run/chrony.ttyS0.sock").unwrap().0,
        "refclock"
    );
    assert_eq!(
        kind_of(chronyd, "203.0.113.5").unwrap().2,
        "/etc/chrony/sources.d/local.sources"
    );
    assert_eq!(kind_of(chronyd, "203.0.113.6").unwrap().0, "peer");
    assert!(
        chronyd
            .issues
            .iter()
            .any(|i| i.message.contains("include loop")),
        "{:#?}",
        chronyd.issues
    );
    // The text shows what was read under the verdict.
    let o = run_bounded(
        Command::new(ntpdiag()).args([
            "explain",
            "--no-probe",
            "--root",
            dir.path().to_str().unwrap(),
        ]),
        Duration::from_secs(30),
    );
    let t = String::from_utf8_lossy(&o.stdout);
    assert!(t.contains("read: ntpd (/etc/ntpsec/ntp.conf"), "{t}");
    assert!(
        t.contains("manycastclient  239.255.254.254 key 42  (/etc/ntpsec/ntp.conf:"),
        "{t}"
    );
}

/// A 20 MB paste of mixed encodings, CRLF line ends, colour codes, binary
/// junk and one real table in the middle: one JSON document, the table
/// found at its line, every junk line left alone.
#[test]
fn huge_mixed_paste_gives_one_document() {
    let table = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/outputs/real-ntpq-peers-silent.txt"),
    )
    .unwrap();
    let mut b: Vec<u8> = Vec::with_capacity(21 << 20);
    let mut i = 0u32;
    while b.len() < 10 << 20 {
        match i % 4 {
            0 => b.extend_from_slice(b"\x1b[31mlog line \xff\xfe latin1 caf\xe9\x1b[0m\r\n"),
            1 => b.extend_from_slice(&[0, 1, 2, 3, 0x80, b'\n']),
            2 => b.extend_from_slice("unicode é 時刻 ✓\r\n".as_bytes()),
            _ => b.extend_from_slice(b"{\"not\": \"ntp\"}\n"),
        }
        i += 1;
    }
    let table_line = b.iter().filter(|c| **c == b'\n').count() + 1;
    b.extend_from_slice(table.replace('\n', "\r\n").as_bytes());
    while b.len() < 20 << 20 {
        b.extend_from_slice(b"\x1b]0;title\x07more junk\r\n");
    }
    let dir = TempDir::new();
    let f = dir.path().join("big.txt");
    std::fs::write(&f, &b).unwrap();
    let o = run_bounded(
        Command::new(ntpdiag()).args(["explain", "--json", "--no-probe", f.to_str().unwrap()]),
        Duration::from_secs(120),
    );
    let r: ExplainReport = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stderr)));
    assert_eq!(
        (r.verdict.cause.as_str(), o.status.code()),
        ("no-reply", Some(3))
    );
    assert_eq!(
        r.blocks.len(),
        1,
        "{:?}",
        r.blocks.iter().map(|b| &b.kind).collect::<Vec<_>>()
    );
    assert_eq!(r.blocks[0].first_line, table_line);
}

/// Reports that hold nothing to judge are said to be read, not unknown.
#[test]
fn activity_and_healthy_authdata_are_read_not_judged() {
    for (name, what) in [
        ("real-chronyc-activity", "chronyc activity"),
        ("real-chronyc-authdata", "chronyc authdata"),
        ("real-chronyc-csv-activity", "chronyc activity"),
        ("real-chronyc-csv-authdata", "chronyc authdata"),
    ] {
        let (r, code) = explain_file(name);
        assert_eq!((r.verdict.cause.as_str(), code), ("unrecognized-input", 2));
        assert!(r.verdict.summary.contains(what), "{}", r.verdict.summary);
    }
}

/// A tool's own failure words cannot be outvoted: every line of
/// fixtures/failures/lines.tsv (each derived from the tool's source, cited
/// in the file) gives no `ok`, alone or pasted after and before a healthy
/// output of the same tool; alone, it is read, not called unrecognized.
#[test]
fn failure_lines_never_give_ok() {
    let table = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/failures/lines.tsv"),
    )
    .unwrap();
    let healthy = |tool: &str| -> &'static [&'static str] {
        match tool {
            "ntpdig" => &["real-ntpdig-healthy"],
            "ntpdate" => &["real-ntpdate-shim-q"],
            "ntpq" => &["real-ntpq-peers-synced", "real-ntpq-assoc-synced"],
            "chronyc" => &[
                "real-chronyc-sources-synced",
                "real-chronyc-tracking-synced",
            ],
            t => panic!("no healthy output of {t}"),
        }
    };
    let judge = |text: &str| -> (String, i32) {
        let (r, code) = explain_paste(text);
        (r.verdict.cause, code)
    };
    let mut rows = 0;
    for row in table
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let cols: Vec<&str> = row.split('\t').collect();
        assert_eq!(cols.len(), 3, "{row}");
        let (tool, text) = (cols[0], cols[2].replace("\\n", "\n") + "\n");
        let (cause, code) = judge(&text);
        assert!(
            cause != "ok" && cause != "unrecognized-input" && code != 0,
            "{tool} alone: {text:?} gave {cause} (exit {code})"
        );
        for h in healthy(tool) {
            let good = std::fs::read_to_string(fixture(h)).unwrap();
            assert_eq!(judge(&good).0, "ok", "{h} is a healthy output");
            for paste in [format!("{good}\n{text}"), format!("{text}\n{good}")] {
                let (cause, code) = judge(&paste);
                assert!(
                    cause != "ok" && code != 0,
                    "{tool} with {h}: {text:?} gave {cause} (exit {code})"
                );
            }
        }
        rows += 1;
    }
    assert!(rows >= 30, "{rows} rows");
}

/// OpenNTPD's packaged ntpd.conf (from the unpacked Debian package) and
/// ntpd-rs 1.9.0's default ntp.toml, under a root: explain finds both and
/// lists every source as the daemons read them.
#[test]
fn root_lists_openntpd_and_ntpd_rs_sources() {
    let open = std::fs::read_to_string("/opt/openntpd/etc/openntpd/ntpd.conf");
    let Ok(open) = open else {
        assert!(!common::in_ci(), "OpenNTPD must be unpacked in CI");
        eprintln!("skipped: /opt/openntpd/etc/openntpd/ntpd.conf is missing");
        return;
    };
    let rs = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/configs/ntpd-rs-1.9.0-ntp.toml.default"),
    )
    .unwrap();
    let dir = TempDir::new();
    dir.file(
        "etc/openntpd/ntpd.conf",
        &format!("{open}\nsensor nmea0 refid GPS\n"),
    );
    dir.file("etc/ntpd-rs/ntp.toml", &rs);
    let (r, _) = common::explain_json(Command::new(ntpdiag()).args([
        "explain",
        "--json",
        "--no-probe",
        "--root",
        dir.path().to_str().unwrap(),
    ]));
    let all: Vec<&ntpdiag::schema::DaemonConfigJson> =
        r.config.iter().chain(r.other_configs.iter()).collect();
    let openntpd = all
        .iter()
        .find(|c| c.daemon == "openntpd")
        .expect("OpenNTPD's config");
    let servers = open
        .lines()
        .filter(|l| l.split_whitespace().next() == Some("servers"))
        .count();
    assert!(servers > 0);
    assert_eq!(
        openntpd.sources.iter().filter(|s| s.kind == "pool").count(),
        servers,
        "{:#?}",
        openntpd.sources
    );
    assert!(
        openntpd
            .sources
            .iter()
            .any(|s| s.kind == "refclock" && s.host == "nmea0")
    );
    assert!(openntpd.issues.is_empty(), "{:#?}", openntpd.issues);
    let ntpd_rs = all
        .iter()
        .find(|c| c.daemon == "ntpd-rs")
        .expect("ntpd-rs's config");
    assert_eq!(ntpd_rs.sources.len(), 1, "{:#?}", ntpd_rs.sources);
    assert_eq!(ntpd_rs.sources[0].kind, "pool");
    assert_eq!(ntpd_rs.sources[0].host, "ntpd-rs.pool.ntp.org");
    assert_eq!(ntpd_rs.sources[0].options, vec!["count=4".to_string()]);
    assert!(ntpd_rs.issues.is_empty(), "{:#?}", ntpd_rs.issues);
}

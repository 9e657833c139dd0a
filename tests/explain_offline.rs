//! `ntpdiag explain` on pasted output kept in fixtures/outputs/: real output
//! recorded by tests/outputs_netns.rs, and the seed case's. No root needed.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{TempDir, ntpdiag, run_bounded};
use ntpdiag::cli::explain::ExplainReport;

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
    assert!(String::from_utf8_lossy(&o.stderr).contains("explain reads ntpq (peers"));
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

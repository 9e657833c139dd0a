//! `ntpdiag capture -r` on the pcaps in fixtures/pcaps/ (recorded by
//! tests/capture_netns.rs with real tcpdump, ntpd, chronyd and iptables), and
//! on broken versions of them. No root needed.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{TempDir, capture_json, ntpdiag, run_bounded};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/pcaps")
        .join(format!("{name}.pcap"))
}

fn cause(name: &str) -> String {
    let (r, code) = capture_json(&["-r", fixture(name).to_str().unwrap()]);
    let c: Vec<_> = r
        .conversations
        .iter()
        .filter(|c| c.server.ends_with(":123"))
        .collect();
    // One conversation with the server (iptables-drop holds a second, later
    // probe whose requests are still pending when the file ends).
    assert!(!c.is_empty() && c.len() <= 2, "{name}: {r:#?}");
    assert_eq!(code as u8, r.exit_code);
    c[0].verdict.cause.clone()
}

#[test]
fn every_fixture_is_named() {
    for (name, want) in [
        ("healthy-chronyd", "ok"),
        ("iptables-drop", "no-reply"),
        ("iptables-reject", "port-unreachable"),
        ("no-daemon", "port-unreachable"),
        ("iptables-admin-prohibited", "admin-prohibited"),
        ("ntpd-unsynchronized", "upstream-unsynchronized"),
        ("ntpd-kod-rate", "kod-rate"),
        ("client-polls-too-fast", "client-polls-too-fast"),
        ("reply-ignored", "reply-ignored"),
        ("asymmetric-path-router-any", "asymmetric-path"),
    ] {
        assert_eq!(cause(name), want, "{name}");
    }
}

/// A pcap record: its 16-octet header and its data.
type Record = (Vec<u8>, Vec<u8>);

/// A pcap file's global header and records.
fn records(bytes: &[u8]) -> (Vec<u8>, Vec<Record>) {
    let mut out = Vec::new();
    let mut off = 24;
    while off + 16 <= bytes.len() {
        let incl = u32::from_le_bytes(bytes[off + 8..off + 12].try_into().unwrap()) as usize;
        let end = (off + 16 + incl).min(bytes.len());
        out.push((bytes[off..off + 16].to_vec(), bytes[off + 16..end].to_vec()));
        off = end;
    }
    (bytes[..24].to_vec(), out)
}

#[test]
fn truncated_file_gives_a_partial_result() {
    let dir = TempDir::new();
    let b = std::fs::read(fixture("client-polls-too-fast")).unwrap();
    for cut in [b.len() / 2, b.len() - 7, 30] {
        let f = dir.file("cut.pcap", "");
        std::fs::write(&f, &b[..cut]).unwrap();
        let (r, _) = capture_json(&["-r", f.to_str().unwrap()]);
        let why = r.stopped_early.clone().unwrap_or_default();
        assert!(
            why.contains("truncated") && why.contains("the rest was skipped"),
            "cut at {cut}: {r:#?}"
        );
    }
    // The header alone: no packets, no panic.
    let f = dir.file("hdr.pcap", "");
    std::fs::write(&f, &b[..24]).unwrap();
    let (r, code) = capture_json(&["-r", f.to_str().unwrap()]);
    assert_eq!((r.stats.frames, code), (0, 0));
}

#[test]
fn garbage_in_the_middle_stops_with_what_was_read() {
    let b = std::fs::read(fixture("client-polls-too-fast")).unwrap();
    let (hdr, recs) = records(&b);
    let mut out = hdr.clone();
    for (i, (h, d)) in recs.iter().enumerate() {
        if i == recs.len() / 2 {
            out.extend_from_slice(&[0xff; 40]);
        }
        out.extend_from_slice(h);
        out.extend_from_slice(d);
    }
    let dir = TempDir::new();
    let f = dir.file("garbage.pcap", "");
    std::fs::write(&f, out).unwrap();
    let (r, _) = capture_json(&["-r", f.to_str().unwrap()]);
    assert!(r.stopped_early.is_some(), "{r:#?}");
    assert!(r.stats.frames >= (recs.len() / 2) as u64, "{r:#?}");
}

#[test]
fn snap_length_cut_is_reported_not_misjudged() {
    let b = std::fs::read(fixture("healthy-chronyd")).unwrap();
    let (hdr, recs) = records(&b);
    let mut out = hdr.clone();
    for (h, d) in &recs {
        let keep = d.len().min(60);
        let mut h = h.clone();
        h[8..12].copy_from_slice(&(keep as u32).to_le_bytes());
        out.extend_from_slice(&h);
        out.extend_from_slice(&d[..keep]);
    }
    let dir = TempDir::new();
    let f = dir.file("snap.pcap", "");
    std::fs::write(&f, out).unwrap();
    let (r, _) = capture_json(&["-r", f.to_str().unwrap()]);
    assert_eq!(r.stats.truncated, 2, "{r:#?}");
    let c = &r.conversations[0];
    assert_eq!(
        (c.verdict.cause.as_str(), c.verdict.confidence.as_str()),
        ("ok", "low"),
        "{c:?}"
    );
    assert!(c.verdict.notes[0].contains("snap length"));
}

#[test]
fn unknown_link_type_and_non_captures_are_clear_errors() {
    let dir = TempDir::new();
    let mut b = std::fs::read(fixture("healthy-chronyd")).unwrap();
    b[20..24].copy_from_slice(&147u32.to_le_bytes()); // LINKTYPE_USER0
    let f = dir.file("user0.pcap", "");
    std::fs::write(&f, &b).unwrap();
    let o = run_bounded(
        Command::new(ntpdiag()).args(["capture", "-r", f.to_str().unwrap()]),
        Duration::from_secs(10),
    );
    assert_eq!(o.status.code(), Some(1));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("link type 147") && e.contains("supported"),
        "{e}"
    );
    let f = dir.file("notes.txt", "these are not packets\n");
    let o = run_bounded(
        Command::new(ntpdiag()).args(["capture", "-r", f.to_str().unwrap()]),
        Duration::from_secs(10),
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("not a capture file"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = run_bounded(
        Command::new(ntpdiag()).args(["capture", "-r", "/nonexistent.pcap"]),
        Duration::from_secs(10),
    );
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn stdin_and_pcapng() {
    let mut child = Command::new(ntpdiag())
        .args(["capture", "--json", "-r", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin
            .write_all(&std::fs::read(fixture("iptables-reject")).unwrap())
            .unwrap();
    }
    let o = child.wait_with_output().unwrap();
    let r: ntpdiag::cli::capture::CaptureReport = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r.conversations[0].verdict.cause, "port-unreachable");
    // pcapng, converted by Wireshark's editcap when it is installed.
    if common::which("editcap").is_none() {
        if common::in_ci() {
            panic!("editcap (tshark's package) is needed in CI");
        }
        eprintln!("SKIPPED the pcapng half: editcap not installed");
        return;
    }
    let dir = TempDir::new();
    let ng = dir.path().join("x.pcapng");
    let o = run_bounded(
        Command::new("editcap").args([
            "-F",
            "pcapng",
            fixture("ntpd-kod-rate").to_str().unwrap(),
            ng.to_str().unwrap(),
        ]),
        Duration::from_secs(20),
    );
    assert!(o.status.success());
    let (r, _) = capture_json(&["-r", ng.to_str().unwrap()]);
    assert_eq!(r.conversations[0].verdict.cause, "kod-rate");
}

#[test]
fn text_table_and_details() {
    let o = run_bounded(
        Command::new(ntpdiag()).args([
            "capture",
            "--color",
            "never",
            "-v",
            "-r",
            fixture("iptables-drop").to_str().unwrap(),
        ]),
        Duration::from_secs(10),
    );
    assert_eq!(o.status.code(), Some(3));
    let t = String::from_utf8_lossy(&o.stdout);
    assert!(
        t.contains("conversation") && t.contains("no-reply") && t.contains("VERDICT"),
        "{t}"
    );
}

/// The server view of a real chronyd client (recorded by capture_netns):
/// one client host over all its source ports, polling too fast; each port
/// alone is one good exchange.
#[test]
fn chronyd_client_ports_are_one_host() {
    let (r, code) = capture_json(&["-r", fixture("chronyd-client-ports").to_str().unwrap()]);
    let hosts: Vec<_> = r
        .clients
        .iter()
        .filter(|g| g.server.ends_with(":123"))
        .collect();
    assert_eq!(hosts.len(), 1, "{r:#?}");
    assert!(hosts[0].conversations >= 8);
    assert_eq!(hosts[0].verdict.cause, "client-polls-too-fast");
    assert!(
        r.conversations
            .iter()
            .all(|c| c.verdict.cause == "ok" || c.verdict.cause == "pending")
    );
    assert_eq!(code, 7);
    assert_eq!(r.servers.len(), 1);
}

/// NFLOG (link type 239), recorded with `tcpdump -i nflog:5` behind an
/// iptables NFLOG rule: the requests the firewall dropped.
#[test]
fn nflog_link_type() {
    let (r, _) = capture_json(&["-r", fixture("nflog-firewall-drops").to_str().unwrap()]);
    assert_eq!(r.link, "Nflog");
    assert_eq!(r.conversations.len(), 1, "{r:#?}");
    assert_eq!(
        (
            r.conversations[0].counts.requests,
            r.conversations[0].counts.replies
        ),
        (4, 0)
    );
    // Every frame cut at every length decodes without a panic.
    let bytes = std::fs::read(fixture("nflog-firewall-drops")).unwrap();
    let (_, recs) = records(&bytes);
    for (_, data) in &recs {
        for n in 0..data.len() {
            let _ = ntpdiag::capture::decode::decode(
                ntpdiag::capture::decode::LinkType::Nflog,
                &data[..n],
            );
        }
    }
}

use super::*;
use crate::diagnose::Cause;
use crate::wire::control::PeerStatus;

fn fixture(name: &str) -> String {
    std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/outputs")
            .join(name),
    )
    .unwrap()
}

#[test]
fn seed_compute_peers() {
    let e = explain(&fixture("seed-compute-peers.txt"));
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].kind, Kind::NtpqPeers);
    assert_eq!(e[0].verdict.cause, Cause::NoReply);
    let n = &e[0].notes[0].meaning;
    assert!(
        n.contains("reach 0") && n.contains("placeholders") && n.contains("XFAC"),
        "{n}"
    );
}

/// The facts carry the pasted line they came from, and the verdict names it.
#[test]
fn facts_name_their_pasted_line() {
    let text = fixture("seed-compute-peers.txt");
    let e = explain(&text);
    let row = text
        .lines()
        .position(|l| l.contains(" controller "))
        .unwrap()
        + 1;
    let s = &e[0].facts.silent_sources[0];
    assert_eq!(s.value.name, "controller");
    assert!(matches!(&s.at, crate::diagnose::facts::Origin::Line { n, .. } if *n == row));
    assert!(
        e[0].verdict
            .evidence
            .iter()
            .any(|x| x.contains(&format!("(line {row})"))),
        "{:?}",
        e[0].verdict.evidence
    );
}

#[test]
fn seed_compute_assoc_8011() {
    let e = explain(&fixture("seed-compute-assoc.txt"));
    assert_eq!(e[0].kind, Kind::NtpqAssoc);
    let n = &e[0].notes[0].meaning;
    assert!(
        n.contains("status 8011")
            && n.contains("configured")
            && n.contains("NOT reachable")
            && n.contains("reject")
            && n.contains("mobilize")
            && n.contains("never answered"),
        "{n}"
    );
    assert_eq!(e[0].verdict.cause, Cause::NoReply);
}

#[test]
fn seed_compute_ntpdate() {
    let e = explain(&fixture("seed-compute-ntpdate.txt"));
    assert_eq!(e[0].kind, Kind::NtpdateDebug);
    assert_eq!(e[0].verdict.cause, Cause::NoReply);
    assert!(e[0].verdict.alternatives[0].cause.contains("firewall"));
}

#[test]
fn seed_compute_all_together() {
    let e = explain(&fixture("seed-compute-all.txt"));
    let kinds: Vec<Kind> = e.iter().map(|x| x.kind).collect();
    assert_eq!(
        kinds,
        vec![Kind::NtpqPeers, Kind::NtpqAssoc, Kind::NtpdateDebug]
    );
    let v = overall(&e).unwrap();
    assert_eq!(v.cause, Cause::NoReply);
    assert_eq!(v.evidence.len(), 1 + 2, "{:?}", v.evidence);
}

#[test]
fn seed_controller_is_synchronized() {
    let e = explain(&fixture("seed-controller-peers.txt"));
    assert_eq!(e[0].verdict.cause, Cause::Ok);
    assert!(e[0].notes[0].meaning.contains("candidate"));
    let e = explain(&fixture("seed-controller-assoc.txt"));
    assert_eq!(e[0].verdict.cause, Cause::Ok);
    assert!(e[0].notes[0].meaning.contains("sys.peer"));
    assert!(e[0].notes[1].meaning.contains("candidate"));
}

#[test]
fn status_words() {
    let s = PeerStatus::from_word(0x961a);
    assert!(s.configured && s.reachable && !s.auth_enabled);
    assert_eq!(
        (s.select_name(), s.event_name(), s.count),
        ("sys.peer", "sys_peer", 1)
    );
    let s = PeerStatus::from_word(0x8011);
    assert!(s.configured && !s.reachable);
    assert_eq!((s.select_name(), s.event_name()), ("reject", "mobilize"));
    assert_eq!(PeerStatus::from_word(0x8017).event_name(), "rate_exceeded");
}

#[test]
fn chrony_outputs() {
    let t = "MS Name/IP address         Stratum Poll Reach LastRx Last sample\n===============================================================================\n^? controller                    0   6     0     -     +0ns[   +0ns] +/-    0ns\n";
    let e = explain(t);
    assert_eq!(e[0].kind, Kind::ChronycSources);
    assert_eq!(e[0].verdict.cause, Cause::NoReply);
    let csv = "^,*,198.51.100.1,8,6,377,34,0.000484000,-0.000157000,0.030000000\n";
    let e = explain(csv);
    assert_eq!(
        (e[0].kind, e[0].verdict.cause),
        (Kind::ChronycSourcesCsv, Cause::Ok)
    );
    let tr = "Reference ID    : 00000000 ()\nStratum         : 0\nRef time (UTC)  : Thu Jan 01 00:00:00 1970\nLeap status     : Not synchronised\n";
    let e = explain(tr);
    assert_eq!(
        (e[0].kind, e[0].verdict.cause),
        (Kind::ChronycTracking, Cause::DaemonNotSynchronizedYet)
    );
}

#[test]
fn unknown_text_gives_nothing() {
    assert!(explain("hello world\nthis is not ntp output\n").is_empty());
    assert!(overall(&[]).is_none());
}

#[test]
fn arbitrary_text_never_panics() {
    let mut x = 0xdead_beefu32;
    let pieces = [
        "remote refid st t when poll reach delay offset jitter\n",
        "=====\n",
        "*",
        " x ",
        "8011 ",
        ".INIT.",
        " 16 ",
        "associd=0 ",
        "status=",
        "leap=11,",
        "transmit(",
        "ntpdig: ",
        "MS Name/IP address\n",
        "^?",
        ",",
        "Reference ID : ",
        "Leap status : ",
        "Server: ",
        "Packet count: ",
        "\n",
        "é",
        "\u{0}",
    ];
    for _ in 0..3000 {
        let mut s = String::new();
        for _ in 0..(x % 40) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            s.push_str(pieces[(x as usize) % pieces.len()]);
        }
        let e = explain(&s);
        let _ = overall(&e);
    }
}

/// Found by `cargo fuzz run explain_paste_any_text`: a chronyc sources row
/// whose state column holds a multi-byte character made a byte slice panic.
#[test]
fn fuzz_regression_multibyte_chrony_row() {
    let bytes = include_bytes!("fuzz-crash-chrony-multibyte.bin");
    let _ = explain(&String::from_utf8_lossy(bytes));
    let _ = explain("MS Name/IP address\n^\u{e9}é controller 0 6 0 - x\n");
}

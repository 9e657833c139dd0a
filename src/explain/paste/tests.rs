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
    assert!(e[0].verdict.alternatives[0].what.contains("firewall"));
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

// Lines built from the tools' own format strings (classic ntpdate.c and
// ntpq, systemd's timedatectl.c), for outputs no tool here prints.

fn verdicts(text: &str) -> Vec<(Kind, Cause)> {
    explain(text)
        .iter()
        .map(|e| (e.kind, e.verdict.cause))
        .collect()
}

/// Every `Server dropped:` reason of classic `clock_select()`, each in a
/// `-d` run with its `print_server()` block.
#[test]
fn classic_ntpdate_every_dropped_reason() {
    let block = |reason: &str, stratum: u32, leap: &str, refid: &str| {
        format!(
            "transmit(198.51.100.1)\nreceive(198.51.100.1)\ntransmit(198.51.100.1)\n198.51.100.1: Server dropped: {reason}\nserver 198.51.100.1, port 123\nstratum {stratum}, precision -23, leap {leap}, trust 000\nrefid [{refid}], root delay 0.000000, root dispersion 0.000000\n 2 Dec 08:00:00 ntpdate[77]: no server suitable for synchronization found\n"
        )
    };
    let cases = [
        (block("strata too high", 16, "11", "INIT"), Cause::UpstreamUnsynchronized),
        (block("strata too high", 16, "11", "DENY"), Cause::Kod(crate::wire::KissCode::Deny)),
        (block("leap not in sync", 3, "11", "198.51.100.9"), Cause::UpstreamUnsynchronized),
        (block("server is very broken", 2, "00", "198.51.100.9"), Cause::UpstreamUnsynchronized),
        (block("server has gone too long without sync", 2, "00", "198.51.100.9"), Cause::UpstreamUnsynchronized),
        (block("server too far away", 2, "00", "198.51.100.9"), Cause::UpstreamUnsynchronized),
        (block("Server is untrusted", 2, "00", "198.51.100.9"), Cause::BogusReply),
        ("transmit(198.51.100.1)\ntransmit(198.51.100.1)\n198.51.100.1: Server dropped: no data\n".to_string(), Cause::NoReply),
        ("transmit(198.51.100.1)\nreceive(198.51.100.1)\nreceive: pkt.org and peer.xmt differ\n198.51.100.1: Server dropped: no data\n".to_string(), Cause::BogusReply),
        ("transmit(198.51.100.1)\nreceive(198.51.100.1)\nreceive: mode 3 stratum 0\n198.51.100.1: Server dropped: no data\n".to_string(), Cause::MalformedReply),
    ];
    for (text, cause) in cases {
        let v = verdicts(&text);
        assert_eq!(v, vec![(Kind::NtpdateDebug, cause)], "{text}");
    }
}

#[test]
fn classic_ntpdate_results_and_syslog_lines() {
    // -q: print_server() without -d, then clock_adjust()'s syslog line.
    let q = "server 198.51.100.1, stratum 2, offset 0.000210, delay 0.02571\nserver 198.51.100.2, stratum 2, offset 2000.000100, delay 0.02600\n 2 Dec 08:00:00 ntpdate[77]: adjust time server 198.51.100.1 offset 0.000210 sec\n";
    assert_eq!(
        verdicts(q),
        vec![
            (Kind::NtpdateResult, Cause::Ok),
            (Kind::NtpdateResult, Cause::OffsetOverPanic)
        ]
    );
    let step = " 2 Dec 08:00:00 ntpdate[77]: step time server 198.51.100.1 offset -3.141593 sec\n";
    assert_eq!(verdicts(step), vec![(Kind::NtpdateResult, Cause::Ok)]);
    let busy = " 2 Dec 08:00:00 ntpdate[77]: the NTP socket is in use, exiting\n";
    assert_eq!(
        verdicts(busy),
        vec![(Kind::NtpdateResult, Cause::LocalPortInUse)]
    );
    let name = "Error resolving ntp.example: Name or service not known (-2)\n 2 Dec 08:00:00 ntpdate[77]: Can't find host ntp.example: Name or service not known (-2)\n 2 Dec 08:00:00 ntpdate[77]: no servers can be used, exiting\n";
    assert_eq!(
        verdicts(name),
        vec![(Kind::NtpdateResult, Cause::NameUnresolved)]
    );
    let rate = " 2 Dec 08:00:00 ntpdate[77]: 198.51.100.1 rate limit response from server.\n";
    assert_eq!(
        verdicts(rate),
        vec![(Kind::NtpdateResult, Cause::Kod(crate::wire::KissCode::Rate))]
    );
}

#[test]
fn ntpq_errors_and_sessions() {
    // Classic ntpq's words for the same failures.
    assert_eq!(
        verdicts("ntpq: read: Connection refused\n"),
        vec![(Kind::NtpqError, Cause::DaemonNotRunning)]
    );
    assert_eq!(
        verdicts("localhost: timed out, nothing received\n***Request timed out\n"),
        vec![
            (Kind::NtpqError, Cause::NoReply),
            (Kind::NtpqError, Cause::NoReply)
        ]
    );
    assert_eq!(
        verdicts("$ ntpq -p\nNo association IDs returned\n"),
        vec![(Kind::NtpqError, Cause::NoServersConfigured)]
    );
    // Refused by a remote host: nothing listens there.
    assert_eq!(
        verdicts("$ ntpq -p 198.51.100.1\n***Socket error; probably ntpd is not running\n"),
        vec![(Kind::NtpqError, Cause::PortUnreachable)]
    );
    // An interactive session: two tables, one block each.
    let s = "ntpq> peers\n     remote           refid      st t when poll reach   delay   offset   jitter\n==============================================================================\n*198.51.100.1    .GPS.            1 u   33   64  377    0.512    0.021   0.012\nntpq> peers\n     remote           refid      st t when poll reach   delay   offset   jitter\n==============================================================================\n 198.51.100.1    .INIT.          16 u    -   64    0    0.000    0.000   0.000\nntpq> quit\n";
    let e = explain(s);
    assert_eq!(e.len(), 2);
    assert_eq!(e[0].command.as_deref(), Some("ntpq peers"));
    assert_eq!(
        (e[0].verdict.cause, e[1].verdict.cause),
        (Cause::Ok, Cause::NoReply)
    );
    assert_eq!((e[0].first_line, e[1].first_line), (2, 6));
    // Classic ntpd synchronized to its local clock driver, server silent
    // (ntpq-subs.c format; ntpsec here never selects the driver).
    let l = "     remote           refid      st t when poll reach   delay   offset  jitter\n==============================================================================\n controller      .INIT.          16 u    -   64    0    0.000    0.000   0.000\n*LOCAL(0)        .LOCL.          10 l   21   64  377    0.000    0.000   0.000\n";
    let e = explain(l);
    assert_eq!(e[0].verdict.cause, Cause::LocalClockOnly);
    assert!(
        e[0].verdict.summary.contains("none of its 1 real server"),
        "{}",
        e[0].verdict.summary
    );
    // The pool prototype is no source; its reach stays 0.
    let p = "     remote           refid      st t when poll reach   delay   offset   jitter\n==============================================================================\n 0.debian.pool.n .POOL.          16 p    -  256    0   0.0000   0.0000   0.0001\n*198.51.100.1    198.51.100.9     2 u   33   64  377    0.512    0.021   0.012\n";
    let e = explain(p);
    assert_eq!(e[0].verdict.cause, Cause::Ok);
    assert_eq!(e[0].facts.daemon.as_ref().unwrap().sources, 1);
}

#[test]
fn timedatectl_missing_values_and_limits() {
    let null = "       Server: (null) (ntp.ubuntu.com)\nPoll interval: 0 (min: 32s; max 34min 8s)\n Packet count: 0\n";
    assert_eq!(
        verdicts(null),
        vec![(Kind::TimedatectlTimesync, Cause::NameUnresolved)]
    );
    let na =
        "       Server: n/a (n/a)\nPoll interval: 0 (min: 32s; max 34min 8s)\n Packet count: 0\n";
    assert_eq!(
        verdicts(na),
        vec![(Kind::TimedatectlTimesync, Cause::NoServersConfigured)]
    );
    let silent = "       Server: 198.51.100.1 (ntp.example)\nPoll interval: 32s (min: 32s; max 34min 8s)\n Packet count: 0\n";
    assert_eq!(
        verdicts(silent),
        vec![(Kind::TimedatectlTimesync, Cause::NoReply)]
    );
    let ok = "       Server: 198.51.100.1 (ntp.example)\nPoll interval: 32s (min: 32s; max 34min 8s)\n         Leap: normal\n      Version: 4\n      Stratum: 2\n    Reference: C6336409\n    Precision: 1us (-20)\nRoot distance: 335us (max: 5s)\n       Offset: -1.562ms\n        Delay: 1.047ms\n       Jitter: 0\n Packet count: 1\n    Frequency: -12.871ppm\n";
    let e = explain(ok);
    assert_eq!(e[0].verdict.cause, Cause::Ok);
    let o = e[0].facts.best.as_ref().unwrap().value.sample.offset;
    assert!((o + 0.001562).abs() < 1e-9, "{o}");
    let unsync = ok.replace("Leap: normal", "Leap: not synchronized");
    assert_eq!(
        verdicts(&unsync),
        vec![(Kind::TimedatectlTimesync, Cause::UpstreamUnsynchronized)]
    );
    assert_eq!(timedatectl::timespan("34min 8s"), Some(2048.0));
    assert_eq!(timedatectl::timespan("-1.562ms"), Some(-0.001562));
}

/// CRLF line ends and terminal colour codes do not change what is read.
#[test]
fn crlf_and_colour_codes() {
    let plain = fixture("real-ntpq-peers-silent.txt");
    let crlf = plain.replace('\n', "\r\n");
    let coloured = plain
        .lines()
        .map(|l| format!("\u{1b}[1;32m{l}\u{1b}[0m\u{1b}]0;title\u{7}"))
        .collect::<Vec<_>>()
        .join("\n");
    for t in [&crlf, &coloured] {
        let e = explain(t);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].verdict.cause, Cause::NoReply);
        assert_eq!(
            e[0].notes[0].line.trim(),
            plain.lines().nth(2).unwrap().trim()
        );
    }
}

/// Prompts of several shells start blocks; output lines that name a tool do not.
#[test]
fn prompts() {
    for (l, c) in [
        (
            "[root@computer_node ~]#  ntpq -c peers",
            Some("ntpq -c peers"),
        ),
        (
            "user@host:~$ chronyc -n sources",
            Some("chronyc -n sources"),
        ),
        (
            "$ sudo ntpdate -d 198.51.100.1",
            Some("ntpdate -d 198.51.100.1"),
        ),
        ("# /usr/sbin/ntpdate -q x", Some("/usr/sbin/ntpdate -q x")),
        ("ntpq> as", Some("ntpq as")),
        ("ntpdig: querying 198.51.100.1 (198.51.100.1)", None),
        ("ntpq: read: Connection refused", None),
        (" 2 Dec 08:00:00 ntpdate[77]: adjust time server", None),
    ] {
        assert_eq!(command_of(l).as_deref(), c, "{l}");
    }
    assert_eq!(
        command_host("ntpq -c rv 198.51.100.1").as_deref(),
        Some("198.51.100.1")
    );
    assert_eq!(command_host("ntpq -p").as_deref(), None);
}

/// Classic ntpdate's `-q` result lines (print_server's "server %s,
/// stratum %d, offset %s, delay %s") for servers it could not use, then its
/// own failure line: receive() stores PKT_TO_STRATUM of the wire stratum
/// (0 → 16) only for replies it accepts, so stratum 16 is a server without
/// time and stratum 0 (offset and delay 0) one with no reply kept. Neither
/// is ever `ok`, alone or with the failure line.
#[test]
fn classic_ntpdate_q_lines_of_unusable_servers_are_never_ok() {
    let fail = " 2 Dec 08:00:00 ntpdate[77]: no server suitable for synchronization found\n";
    let s16 = "server 198.51.100.1, stratum 16, offset 0.000123, delay 0.02571\n";
    let s0 = "server 198.51.100.2, stratum 0, offset 0.000000, delay 0.00000\n";
    for text in [
        format!("{s16}{fail}"),
        format!("{s0}{fail}"),
        format!("{s16}{s0}{fail}"),
        s16.to_string(),
        s0.to_string(),
    ] {
        let e = explain(&text);
        assert!(!e.is_empty(), "{text}");
        for b in &e {
            assert_ne!(
                b.verdict.cause.class(),
                crate::diagnose::Class::Ok,
                "{text}: {:?}",
                b.verdict
            );
        }
        let v = overall(&e).unwrap();
        assert_ne!(v.cause, Cause::Ok, "{text}");
    }
    let e = explain(&format!("{s16}{s0}{fail}"));
    assert_eq!(e[0].verdict.cause, Cause::UpstreamUnsynchronized);
    assert_eq!(e[1].verdict.cause, Cause::NoReply);
    // A usable server's line is still a sample.
    let ok = explain("server 198.51.100.3, stratum 2, offset 0.000210, delay 0.02571\n");
    assert_eq!(ok[0].verdict.cause, Cause::Ok);
}

/// Misreads found as a new user would meet them (issue 26, part 5): each
/// line is claimed only by the report that prints it.
#[test]
fn lines_claimed_only_by_their_report() {
    // chronyc ntpdata's `Reference ID` line is not a tracking report
    // (client.c: tracking opens Reference ID, Stratum; ntpdata has
    // Reference ID, Reference time).
    let ntpdata = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/outputs/real-chronyc-ntpdata.txt"
    ))
    .unwrap();
    let blocks = explain(&ntpdata);
    assert!(
        blocks.iter().all(|b| b.kind != Kind::ChronycTracking),
        "{:?}",
        blocks.iter().map(|b| b.kind).collect::<Vec<_>>()
    );
    // ntpdate.c's transmit() shifts zeros into the filter for a request
    // that timed out: equal counts say nothing of replies.
    let t = "$ ntpdate -d 198.51.100.1\ntransmit(198.51.100.1)\nserver 198.51.100.1, port 123\nstratum 2, precision -23, leap 00, trust 000\ntransmitted 4, in filter 4\n";
    let notes: Vec<String> = explain(t)
        .iter()
        .flat_map(|b| b.notes.iter().map(|n| n.meaning.clone()))
        .collect();
    assert!(
        notes.iter().any(|n| n.contains("zeros ntpdate shifts in")),
        "{notes:?}"
    );
    assert!(notes.iter().all(|n| !n.contains("differ")), "{notes:?}");
}

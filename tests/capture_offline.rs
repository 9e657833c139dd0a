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
        ("replies-unchecked", "low"),
        "{c:?}"
    );
    assert!(c.verdict.summary.contains("snap length"), "{c:?}");
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

/// A named pipe (`-r <(zcat x.pcap.gz)`) is read once, from its first
/// octet: nothing is taken from it to tell its format.
#[test]
fn a_named_pipe_is_read_whole() {
    let dir = TempDir::new();
    let file = fixture("iptables-reject");
    let fifo = dir.path().join("pipe");
    nix::unistd::mkfifo(
        &fifo,
        nix::sys::stat::Mode::S_IRUSR | nix::sys::stat::Mode::S_IWUSR,
    )
    .unwrap();
    let bytes = std::fs::read(&file).unwrap();
    let to = fifo.clone();
    // Blocks until ntpdiag opens the pipe; the test's process ends it if
    // ntpdiag never does.
    std::thread::spawn(move || {
        use std::io::Write;
        let _ = std::fs::OpenOptions::new()
            .write(true)
            .open(&to)
            .and_then(|mut f| f.write_all(&bytes));
    });
    let (piped, code) = capture_json(&["-r", fifo.to_str().unwrap()]);
    let (whole, want) = capture_json(&["-r", file.to_str().unwrap()]);
    assert_eq!(piped.stats.frames, whole.stats.frames, "{piped:#?}");
    assert_eq!(piped.stopped_early, None);
    assert_eq!(
        serde_json::to_value(&piped.clients).unwrap(),
        serde_json::to_value(&whole.clients).unwrap()
    );
    assert_eq!(code, want);
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
    let r: ntpdiag::schema::CaptureReport = serde_json::from_slice(&o.stdout).unwrap();
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

/// `ntpdiag capture --color never -v ARGS`: its text and exit status.
fn capture_text(args: &[&str]) -> (String, Option<i32>) {
    let o = run_bounded(
        Command::new(ntpdiag())
            .args(["capture", "--color", "never", "-v"])
            .args(args),
        Duration::from_secs(60),
    );
    (
        String::from_utf8_lossy(&o.stdout).to_string(),
        o.status.code(),
    )
}

#[test]
fn text_table_and_details() {
    let (t, code) = capture_text(&["-r", fixture("iptables-drop").to_str().unwrap()]);
    assert_eq!(code, Some(3));
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

/// A pcap of many client hosts (Ethernet, IPv4/UDP), written here: each
/// host polls one of three servers from two source ports; replies are
/// good, kisses (RATE), missing, or ICMP host unreachable from a router.
fn many_hosts_pcap(path: &Path, hosts: u32) {
    use ntpdiag::capture::pcapfile::{file_header, record_header};
    let mut out = file_header(65535, 1).to_vec();
    let mut record = |t_us: u64, frame: Vec<u8>| {
        let n = frame.len() as u32;
        out.extend_from_slice(&record_header(
            1_764_000_000 + (t_us / 1_000_000) as u32,
            (t_us % 1_000_000) as u32,
            n,
            n,
        ));
        out.extend_from_slice(&frame);
    };
    let udp = |src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, ntp: &[u8]| {
        let b = etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv4(src, dst, 64)
            .udp(sport, dport);
        let mut v = Vec::new();
        b.write(&mut v, ntp).unwrap();
        v
    };
    let ntp_base: u64 = (1_764_000_000u64 + 2_208_988_800) << 32;
    for round in 0..4u64 {
        for h in 0..hosts {
            let client = [198, 51, 100, (h % 250) as u8 + 1];
            let client = if h >= 250 {
                [203, 0, 113, (h - 250) as u8 + 1]
            } else {
                client
            };
            let server = [192, 0, 2, (h % 3) as u8 + 1];
            let sport = 40_000 + (round % 2) as u16;
            let t = round * 64_000_000 + h as u64 * 1000;
            let xmt = ((h as u64) << 20 | round) + 1;
            let mut req = [0u8; 48];
            req[0] = 0xe3;
            req[40..48].copy_from_slice(&xmt.to_be_bytes());
            let q = udp(client, server, sport, 123, &req);
            record(t, q.clone());
            let now = ntp_base + (((t + 300) as u128) << 32).div_euclid(1_000_000) as u64;
            let mut rep = [0u8; 48];
            rep[24..32].copy_from_slice(&xmt.to_be_bytes());
            // Some hosts always get the same (silence, a router's refusal),
            // the others a mix.
            let kind = match h % 11 {
                5 => 2,
                6 => 0,
                _ => (h as u64 + round) % 7,
            };
            match kind {
                0 => continue,
                1 => {
                    rep[0] = 0xe4;
                    rep[12..16].copy_from_slice(b"RATE");
                }
                2 => {
                    // ICMP host unreachable (3/1) from a router, quoting the request.
                    let quoted = &q[14..14 + 20 + 8 + 48];
                    let mut icmp = vec![3, 1, 0, 0, 0, 0, 0, 0];
                    icmp.extend_from_slice(quoted);
                    let b = etherparse::PacketBuilder::ethernet2(
                        [2, 0, 0, 0, 0, 3],
                        [2, 0, 0, 0, 0, 1],
                    )
                    .ipv4([198, 51, 100, 254], client, 64);
                    let mut v = Vec::new();
                    b.write(&mut v, etherparse::IpNumber::ICMP, &icmp).unwrap();
                    // The ICMP checksum (RFC 792): ones' complement sum.
                    let mut sum = 0u32;
                    for c in icmp.chunks(2) {
                        sum += u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]) as u32;
                    }
                    while sum > 0xffff {
                        sum = (sum & 0xffff) + (sum >> 16);
                    }
                    let ck = !(sum as u16);
                    v[34 + 2..34 + 4].copy_from_slice(&ck.to_be_bytes());
                    record(t + 3000, v);
                    continue;
                }
                _ => {
                    rep[0] = 0x24;
                    rep[1] = 2;
                    rep[12..16].copy_from_slice(&[192, 0, 2, 200]);
                    rep[16..24].copy_from_slice(&(now - (10u64 << 32)).to_be_bytes());
                    rep[32..40].copy_from_slice(&now.to_be_bytes());
                    rep[40..48].copy_from_slice(&(now + 1000).to_be_bytes());
                }
            }
            record(t + 300, udp(server, client, 123, sport, &rep));
        }
    }
    std::fs::write(path, out).unwrap();
}

/// Reading a file on several threads, each tracking its share of the
/// client hosts, gives the same report as one thread: JSON and text, pcap
/// and pcapng, on a capture of many hosts and on every recorded fixture.
#[test]
fn threads_do_not_change_the_result() {
    let dir = TempDir::new();
    let many = dir.path().join("many.pcap");
    many_hosts_pcap(&many, 400);
    fn args<'a>(file: &'a Path, threads: &'a str) -> [&'a str; 6] {
        let file = file.to_str().unwrap();
        ["--max-kept", "300", "--threads", threads, "-r", file]
    }
    let text = |file: &Path, threads: &str| capture_text(&args(file, threads));
    let json = |file: &Path, threads: &str| capture_json(&args(file, threads));
    let mut files = vec![many.clone()];
    if common::which("editcap").is_some() {
        let ng = dir.path().join("many.pcapng");
        let o = run_bounded(
            Command::new("editcap").args([
                "-F",
                "pcapng",
                many.to_str().unwrap(),
                ng.to_str().unwrap(),
            ]),
            Duration::from_secs(20),
        );
        assert!(o.status.success());
        files.push(ng);
    } else if common::in_ci() {
        panic!("editcap (tshark's package) is needed in CI");
    }
    for f in &files {
        let (one, code) = json(f, "1");
        // Every kind of verdict is there, from many hosts, in detail and summed.
        let causes: std::collections::BTreeSet<_> = one
            .clients
            .iter()
            .map(|c| c.verdict.cause.as_str())
            .collect();
        for want in ["ok", "kod-rate", "host-unreachable", "no-reply"] {
            assert!(causes.contains(want), "{f:?}: {causes:?}");
        }
        assert_eq!((one.clients.len(), one.conversations.len()), (400, 300));
        assert_eq!(one.stats.folded, 800 - 300);
        for threads in ["2", "3"] {
            assert_eq!(
                json(f, threads),
                (one.clone(), code),
                "{f:?} --threads {threads}"
            );
            assert_eq!(text(f, threads), text(f, "1"), "{f:?} --threads {threads}");
        }
    }
    // A number of threads past the bound is refused before anything is read.
    let o = run_bounded(
        Command::new(ntpdiag()).args(["capture", "--threads", "65", "-r", many.to_str().unwrap()]),
        Duration::from_secs(10),
    );
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("--threads"),
        "{o:?}"
    );
    for entry in std::fs::read_dir(fixture("x").parent().unwrap()).unwrap() {
        let f = entry.unwrap().path();
        assert_eq!(json(&f, "3"), json(&f, "1"), "{f:?}");
    }
}

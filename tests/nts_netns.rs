//! NTS against real peers in namespaces (root; skipped with a message
//! elsewhere, never in CI):
//!
//! - chronyd 4.3 as an NTS server, with a key and certificate made by
//!   openssl in the test, probed by `ntpdiag probe --nts`: chronyd accepts
//!   ntpdiag's cookies and authenticators and ntpdiag verifies chronyd's,
//!   so both ends of RFC 8915 are checked by the other implementation;
//!   then the same server behind real iptables rules and without a CA;
//! - chronyd as an NTS client of `ntpdiag serve --nts`: `chronyc authdata`
//!   shows the key established and cookies, `chronyc tracking` shows it
//!   takes the time; with `--nts-fault ntsn` chronyd counts NAKs;
//! - openssl s_server (TLS 1.2 only; TLS 1.3 without ALPN) as the servers
//!   that do not speak NTS-KE, and openssl s_client confirming what each
//!   certificate fault of `serve --nts` presents.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;
use ntpdiag::schema::ProbeReport;

fn cause(r: &ProbeReport) -> String {
    r.targets[0].verdict.cause.clone()
}

fn nts_of(r: &ProbeReport) -> ntpdiag::schema::NtsJson {
    r.targets[0].probes[0]
        .nts
        .clone()
        .unwrap_or_else(|| panic!("no nts in {r:#?}"))
}

/// chronyd as an NTS server in the server namespace (key and certificate
/// for ntp.test from openssl); returns the certificate and the process.
fn chronyd_nts_server(p: &Pair) -> (PathBuf, Proc, TempDir) {
    let (key, crt) = openssl_cert(&p.dir);
    let sd = TempDir::new();
    let srv = chronyd(
        &p.server,
        &sd,
        &format!(
            "local stratum 8\nallow all\nntsserverkey {}\nntsservercert {}",
            key.display(),
            crt.display()
        ),
    );
    wait_tcp_listen(&p.server, 4460);
    (crt, srv, sd)
}

fn wait_tcp_listen(ns: &Netns, port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let o = ns.exec(&["ss", "-Htln", &format!("sport = :{port}")]);
        if !String::from_utf8_lossy(&o.stdout).trim().is_empty() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("nothing listens on tcp {port} in {}", ns.name);
}

fn probe(p: &Pair, args: &[&str]) -> (ProbeReport, i32) {
    let mut a = vec!["--nts", "-n", "2", "-t", "1s", "--interval", "100ms"];
    a.extend_from_slice(args);
    probe_json(&p.client, &a)
}

/// chronyd's NTS server, probed: healthy, then broken by the network and by
/// what the client trusts and asks for.
#[test]
fn chronyd_nts_server_probed() {
    if !require(
        "NTS against chronyd",
        &["ip", "ss", "iptables", "openssl", &chronyd_path()],
    ) {
        return;
    }
    let p = Pair::new();
    p.client.add_host(SERVER, "ntp.test");
    let (crt, _srv, _sd) = chronyd_nts_server(&p);
    let ca = crt.to_str().unwrap();

    // Healthy: chronyd takes our cookies and authenticators, we verify its.
    let (r, code) = probe(&p, &["--nts-ca", ca, "ntp.test"]);
    let n = nts_of(&r);
    assert_eq!((cause(&r).as_str(), code), ("ok", 0), "{r:#?}");
    let tls = n.tls.clone().unwrap();
    assert_eq!(tls.alpn.as_deref(), Some("ntske/1"), "{n:#?}");
    let ke = n.ke.clone().unwrap();
    assert_eq!(ke.aead, Some(vec![15]), "{n:#?}");
    assert_eq!(ke.next_protocols, Some(vec![0]), "{n:#?}");
    assert!(ke.cookies >= 1, "{n:#?}");
    let ntp = n.ntp.clone().unwrap();
    assert_eq!((ntp.sent, ntp.authenticated), (2, 2), "{n:#?}");
    assert!(ntp.new_cookies >= 2, "{n:#?}");
    assert_eq!(n.certificates[0].names, vec!["DNS:ntp.test"]);

    // The system's store does not hold this self-signed certificate.
    let (r, code) = probe(&p, &["ntp.test"]);
    assert_eq!(cause(&r), "nts-certificate-untrusted", "{r:#?}");
    assert_eq!(code, 6, "unusable class");
    assert!(nts_of(&r).certificates[0].self_signed);

    // By address: the certificate names only ntp.test.
    let (r, _) = probe(&p, &["--nts-ca", ca, SERVER]);
    assert_eq!(cause(&r), "nts-certificate-name-mismatch", "{r:#?}");
    assert!(
        r.targets[0].verdict.summary.contains("DNS:ntp.test")
            || r.targets[0].verdict.summary.contains("ntp.test"),
        "{r:#?}"
    );

    // A firewall that drops NTP datagrams of 100 octets and more.
    p.server
        .sh("iptables -I INPUT -p udp --dport 123 -m length --length 100:65535 -j DROP");
    let (r, _) = probe(&p, &["--nts-ca", ca, "ntp.test"]);
    assert_eq!(cause(&r), "nts-packets-dropped", "{r:#?}");
    let n = nts_of(&r);
    assert_eq!(n.ntp.as_ref().unwrap().authenticated, 0);
    p.server.sh("iptables -F INPUT");

    // TCP 4460 dropped: no answer, while NTP is answered.
    p.server.sh("iptables -I INPUT -p tcp --dport 4460 -j DROP");
    let t0 = Instant::now();
    let (r, code) = probe(&p, &["--nts-ca", ca, "ntp.test"]);
    assert_eq!((cause(&r).as_str(), code), ("nts-ke-no-reply", 3), "{r:#?}");
    assert!(t0.elapsed() < Duration::from_secs(15), "bounded wait");
    assert_eq!(nts_of(&r).connect, "no-reply");
    p.server.sh("iptables -F INPUT");

    // REJECT: ICMP port unreachable from the server, named.
    p.server
        .sh("iptables -I INPUT -p tcp --dport 4460 -j REJECT");
    let (r, code) = probe(&p, &["--nts-ca", ca, "ntp.test"]);
    assert_eq!((cause(&r).as_str(), code), ("nts-ke-refused", 4), "{r:#?}");
    let n = nts_of(&r);
    let icmp = n.icmp.clone().unwrap_or_else(|| panic!("{n:#?}"));
    assert_eq!(icmp.offender.as_deref(), Some(SERVER), "{n:#?}");
    assert_eq!((icmp.icmp_type, icmp.code), (3, 3), "{n:#?}");
    p.server.sh("iptables -F INPUT");

    // No route from this host: its own stack says so.
    let (r, _) = probe(&p, &["203.0.113.9"]);
    assert_eq!(cause(&r), "net-unreachable", "{r:#?}");
    assert_eq!(nts_of(&r).connect, "failed", "{r:#?}");

    // This host's own firewall rejects the SYN: the ICMP error comes from
    // this host to itself.
    p.client
        .sh("iptables -I OUTPUT -p tcp --dport 4460 -j REJECT");
    let (r, code) = probe(&p, &["--nts-ca", ca, "ntp.test"]);
    assert_eq!(
        (cause(&r).as_str(), code),
        ("local-firewall-blocks-ntp", 7),
        "{r:#?}"
    );
    p.client.sh("iptables -F OUTPUT");
    // Dropped there instead: TCP reports nothing, the SYNs just go
    // unanswered (the verdict's note points at OUTPUT).
    p.client
        .sh("iptables -I OUTPUT -p tcp --dport 4460 -j DROP");
    let (r, _) = probe(&p, &["--nts-ca", ca, "ntp.test"]);
    assert_eq!(cause(&r), "nts-ke-no-reply", "{r:#?}");
    assert!(
        r.targets[0]
            .verdict
            .notes
            .iter()
            .any(|n| n.contains("OUTPUT")),
        "{r:#?}"
    );
    p.client.sh("iptables -F OUTPUT");

    // REJECT with a TCP reset: refused, no ICMP.
    p.server
        .sh("iptables -I INPUT -p tcp --dport 4460 -j REJECT --reject-with tcp-reset");
    let (r, _) = probe(&p, &["--nts-ca", ca, "ntp.test"]);
    assert_eq!(cause(&r), "nts-ke-refused", "{r:#?}");
    assert!(nts_of(&r).icmp.is_none());
    p.server.sh("iptables -F INPUT");
}

/// `ntpdiag serve --nts` in the server namespace, its CA in `dir`.
fn serve_nts(p: &Pair, dir: &TempDir, extra: &[&str]) -> (Proc, PathBuf) {
    let ca = dir.path().join("ca.pem");
    let mut args = vec![
        ntpdiag(),
        "serve",
        "--listen",
        "198.51.100.1:123",
        "--nts",
        "--nts-name",
        "ntp.test",
        "--nts-ca-out",
        ca.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let proc = p.server.spawn(&args, &dir.path().join("serve.log"));
    assert!(
        p.server.wait_udp_listen(123, Duration::from_secs(10)),
        "serve did not start"
    );
    wait_tcp_listen(&p.server, 4460);
    (proc, ca)
}

/// chronyd as an NTS client of ntp.test polling every second, trusting `ca`.
fn chronyd_nts_client(p: &Pair, ca: &Path) -> (Proc, TempDir) {
    let d = TempDir::new();
    let cli = chronyd_client(
        &p.client,
        &d,
        &format!(
            "server ntp.test nts iburst minpoll 0 maxpoll 0\nntstrustedcerts {}",
            ca.display()
        ),
    );
    (cli, d)
}

fn chronyc(p: &Pair, d: &TempDir, args: &[&str]) -> String {
    let sock = d.path().join("chronyd.sock");
    let c = chronyc_path();
    let mut a = vec![c.as_str(), "-h", sock.to_str().unwrap(), "-n"];
    a.extend_from_slice(args);
    peer_output(&p.client, &a)
}

/// The authdata row of ntp.test's address: Mode, KeyID, …, NAK, Cook.
fn authdata(p: &Pair, d: &TempDir) -> Option<Vec<String>> {
    let out = chronyc(p, d, &["-c", "authdata"]);
    out.lines()
        .map(|l| l.split(',').map(str::to_string).collect::<Vec<_>>())
        .find(|f| f.first().map(String::as_str) == Some(SERVER))
}

/// chronyd as an NTS client of ntpdiag's server: the key is established,
/// cookies flow, and chronyd takes the time.
#[test]
fn chronyd_is_an_nts_client_of_serve() {
    if !require(
        "chronyd NTS client of serve --nts",
        &["ip", "ss", &chronyd_path(), &chronyc_path()],
    ) {
        return;
    }
    let p = Pair::new();
    p.client.add_host(SERVER, "ntp.test");
    let (mut srv, ca) = serve_nts(&p, &p.dir, &[]);
    let (_cli, d) = chronyd_nts_client(&p, &ca);
    // chrony's csv authdata: address, mode, key id, type, key length, last,
    // attempts, NAKs, cookies, cookie length (client.c, process_cmd_authdata).
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut synced = false;
    let mut row = None;
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_secs(1));
        row = authdata(&p, &d);
        let tracking = chronyc(&p, &d, &["-c", "tracking"]);
        // Reference ID of 198.51.100.1 is C6336401.
        synced = tracking.starts_with("C6336401,");
        if synced && row.as_ref().is_some_and(|r| r.len() > 8 && r[8] != "0") {
            break;
        }
    }
    let row = row.unwrap_or_else(|| panic!("no authdata row: {}", chronyc(&p, &d, &["authdata"])));
    eprintln!("authdata: {row:?}");
    assert_eq!(row[1], "NTS", "{row:?}");
    assert!(row[8].parse::<u32>().unwrap() > 0, "cookies: {row:?}");
    assert_eq!(row[7], "0", "no NAKs: {row:?}");
    assert!(
        synced,
        "chronyd did not take the time: {}\n{}",
        chronyc(&p, &d, &["tracking"]),
        chronyc(&p, &d, &["sources"])
    );
    // Cookies are 100 octets (key id, nonce, AES-SIV of both keys).
    assert_eq!(row[9], "100", "{row:?}");
    srv.stop();
}

/// NTSN: chronyd counts the kiss as an NTS NAK, and the probe names it.
#[test]
fn ntsn_is_seen_by_chronyd_and_named() {
    if !require("NTSN", &["ip", "ss", &chronyd_path(), &chronyc_path()]) {
        return;
    }
    let p = Pair::new();
    p.client.add_host(SERVER, "ntp.test");
    let (_srv, ca) = serve_nts(&p, &p.dir, &["--nts-fault", "ntsn"]);
    let (_cli, d) = chronyd_nts_client(&p, &ca);
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut row = None;
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_secs(1));
        row = authdata(&p, &d);
        if row.as_ref().is_some_and(|r| r.len() > 7 && r[7] != "0") {
            break;
        }
    }
    let row = row.expect("authdata row");
    assert_ne!(row[7], "0", "chronyd saw no NAK: {row:?}");
    let (r, code) = probe(&p, &["--nts-ca", ca.to_str().unwrap(), "ntp.test"]);
    assert_eq!((cause(&r).as_str(), code), ("kod-ntsn", 5), "{r:#?}");
}

/// What openssl s_client says of the server's certificate (its verify
/// result line), trusting `ca`, at `attime` if given.
fn s_client_verify(p: &Pair, ca: &Path, attime: Option<i64>) -> String {
    let at = attime.map(|t| format!("-attime {t}")).unwrap_or_default();
    let o = p.client.exec(&[
        "sh",
        "-c",
        &format!(
            "echo | timeout 10 openssl s_client -connect {SERVER}:4460 -servername ntp.test -alpn ntske/1 -CAfile {} -verify_hostname ntp.test {at} 2>&1",
            ca.display()
        ),
    ]);
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Every fault of `serve --nts` is named by the probe, and what the TLS
/// faults present is confirmed by openssl.
#[test]
fn serve_nts_faults_are_named() {
    if !require("serve --nts faults", &["ip", "ss", "openssl"]) {
        return;
    }
    let cases: &[(&[&str], &str, Option<&str>)] = &[
        (
            &["--nts-fault", "expired"],
            "nts-certificate-expired",
            Some("certificate has expired"),
        ),
        (
            &["--nts-fault", "not-yet-valid"],
            "nts-certificate-not-yet-valid",
            Some("certificate is not yet valid"),
        ),
        (
            &["--nts-fault", "self-signed"],
            "nts-certificate-untrusted",
            Some("self-signed certificate"),
        ),
        (
            &["--nts-fault", "no-alpn"],
            "nts-tls-failed",
            Some("No ALPN negotiated"),
        ),
        (
            &["--nts-fault", "tls12"],
            "nts-tls-failed",
            Some("Protocol  : TLSv1.2"),
        ),
        (
            &["--nts-fault", "ke-error=1"],
            "nts-ke-error",
            Some("ALPN protocol: ntske/1"),
        ),
        (&["--nts-fault", "no-cookies"], "nts-no-cookies", None),
        (&["--nts-fault", "drop-nts"], "nts-packets-dropped", None),
        (
            &["--nts-fault", "plain-replies"],
            "nts-reply-not-authentic",
            None,
        ),
        (
            &["--offset", "2d"],
            "local-clock-wrong",
            Some("certificate is not yet valid"),
        ),
    ];
    let p = Pair::new();
    p.client.add_host(SERVER, "ntp.test");
    for (extra, want, openssl_says) in cases {
        let d = TempDir::new();
        let (mut srv, ca) = serve_nts(&p, &d, extra);
        if let Some(says) = openssl_says {
            let out = s_client_verify(&p, &ca, None);
            assert!(out.contains(says), "{extra:?}: openssl said:\n{out}");
        }
        let (r, _) = probe(&p, &["--nts-ca", ca.to_str().unwrap(), "ntp.test"]);
        assert_eq!(&cause(&r), want, "{extra:?}: {r:#?}");
        if *want == "local-clock-wrong" {
            // openssl agrees: at the server's time (two days on) the chain verifies.
            let then = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs() as i64
                + 2 * 86_400;
            let out = s_client_verify(&p, &ca, Some(then));
            assert!(out.contains("Verify return code: 0 (ok)"), "{out}");
            let n = nts_of(&r);
            assert_eq!(n.certificate_valid_at_server_time, Some(true));
            let off = n.server_clock_offset_s.unwrap();
            assert!((off - 172_800.0).abs() < 5.0, "{off}");
        }
        if *want == "nts-ke-error" {
            assert_eq!(nts_of(&r).ke.unwrap().errors, vec![1]);
            assert!(
                r.targets[0].verdict.summary.contains("Bad Request"),
                "{r:#?}"
            );
        }
        srv.stop();
    }
}

/// Servers on 4460 that are not NTS-KE servers: openssl s_server with TLS
/// 1.2 only, with TLS 1.3 but no ALPN; and a TCP server that accepts and
/// says nothing, which the probe leaves within its bound.
#[test]
fn non_nts_tls_servers() {
    if !require(
        "TLS servers that are not NTS-KE",
        &["ip", "ss", "openssl", "python3"],
    ) {
        return;
    }
    let p = Pair::new();
    p.client.add_host(SERVER, "ntp.test");
    let (key, crt) = openssl_cert(&p.dir);
    let ca = crt.to_str().unwrap().to_string();
    for (flags, want_detail) in [("-tls1_2", "ProtocolVersion"), ("-tls1_3", "ALPN")] {
        let mut s = p.server.spawn(
            &[
                "openssl",
                "s_server",
                "-accept",
                "4460",
                flags,
                "-cert",
                crt.to_str().unwrap(),
                "-key",
                key.to_str().unwrap(),
                "-quiet",
            ],
            &p.dir.path().join("s_server.log"),
        );
        wait_tcp_listen(&p.server, 4460);
        let (r, _) = probe(&p, &["--nts-ca", &ca, "ntp.test"]);
        assert_eq!(cause(&r), "nts-tls-failed", "{flags}: {r:#?}");
        let v = &r.targets[0].verdict;
        assert!(
            v.evidence.iter().any(|e| e.contains(want_detail)) || v.summary.contains(want_detail),
            "{flags}: {v:#?}"
        );
        s.stop();
    }
    // Accepts and says nothing.
    let mut s = p.server.spawn(
        &[
            "python3",
            "-c",
            "import socket,time\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\ns.bind(('0.0.0.0',4460))\ns.listen()\nc=s.accept()\ntime.sleep(60)",
        ],
        &p.dir.path().join("mute.log"),
    );
    wait_tcp_listen(&p.server, 4460);
    let t0 = Instant::now();
    let (r, _) = probe(&p, &["--nts-ca", &ca, "ntp.test"]);
    assert_eq!(cause(&r), "nts-tls-failed", "{r:#?}");
    assert!(
        t0.elapsed() < Duration::from_secs(15),
        "bounded: {:?}",
        t0.elapsed()
    );
    s.stop();
}

/// explain probes a source configured `nts` with NTS, trusting what the
/// node's chrony.conf says (`ntstrustedcerts`): against a server whose
/// clock is two days ahead of this node, the finding is this node's clock.
#[test]
fn explain_uses_nts_for_nts_sources() {
    if !require("explain with NTS sources", &["ip", "ss"]) {
        return;
    }
    let p = Pair::new();
    p.client.add_host(SERVER, "ntp.test");
    let (_srv, ca) = serve_nts(&p, &p.dir, &["--offset", "2d"]);
    let root = TempDir::new();
    let etc = root.path().join("etc/chrony");
    std::fs::create_dir_all(&etc).unwrap();
    std::fs::copy(&ca, etc.join("ntp-ca.pem")).unwrap();
    std::fs::write(
        etc.join("chrony.conf"),
        "server ntp.test iburst nts\nntstrustedcerts /etc/chrony/ntp-ca.pem\n",
    )
    .unwrap();
    let o = run_bounded(
        &mut p.client.cmd(&[
            ntpdiag(),
            "explain",
            "--json",
            "--root",
            root.path().to_str().unwrap(),
        ]),
        Duration::from_secs(60),
    );
    let r: ntpdiag::schema::ExplainReport = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stdout)));
    let f = r
        .findings
        .iter()
        .find(|f| f.server.as_deref() == Some("ntp.test"))
        .unwrap_or_else(|| panic!("{r:#?}"));
    assert_eq!(f.verdict.cause, "local-clock-wrong", "{r:#?}");
    assert!(f.blocks, "{f:#?}");
    let nts = r.config.as_ref().unwrap();
    assert!(format!("{nts:?}").contains("ntp-ca.pem"));
}

/// watch checks NTS sources once with NTS before polling them: a trusted
/// one is polled, one whose certificate is not trusted is left out with the
/// cause (a daemon gets no time from it).
#[test]
fn watch_checks_nts_sources_first() {
    if !require("watch with NTS sources", &["ip", "ss"]) {
        return;
    }
    let p = Pair::new();
    p.client.add_host(SERVER, "ntp.test");
    let (_srv, ca) = serve_nts(&p, &p.dir, &[]);
    let run = |args: &[&str]| {
        let mut a = vec![
            ntpdiag(),
            "watch",
            "--json",
            "--count",
            "2",
            "--minpoll",
            "3",
        ];
        a.extend_from_slice(args);
        let o = run_bounded(&mut p.client.cmd(&a), Duration::from_secs(60));
        let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect();
        (lines, o.status.code().unwrap_or(-1))
    };
    let (lines, _) = run(&["--nts", "--nts-ca", ca.to_str().unwrap(), "ntp.test"]);
    let nts = lines
        .iter()
        .find(|l| l["type"] == "nts")
        .expect("an nts line");
    assert_eq!(nts["cause"], "ok", "{lines:#?}");
    assert!(lines.iter().any(|l| l["type"] == "snapshot"), "{lines:#?}");

    let conf = p.dir.file("chrony.conf", "server ntp.test iburst nts\n");
    let (lines, code) = run(&["--config", conf.to_str().unwrap()]);
    let nts = lines
        .iter()
        .find(|l| l["type"] == "nts")
        .expect("an nts line");
    assert_eq!(nts["cause"], "nts-certificate-untrusted", "{lines:#?}");
    assert!(!lines.iter().any(|l| l["type"] == "snapshot"), "{lines:#?}");
    assert_eq!(code, 6);
}

/// chronyd's NTS-KE sends NTP elsewhere (`ntsntpserver`) to an NTP server
/// that does not hold its cookie key (a second chronyd without NTS): the
/// probe follows the negotiated address and says what the replies were.
#[test]
fn ke_negotiates_an_ntp_server_without_the_keys() {
    if !require(
        "NTS-KE pointing elsewhere",
        &["ip", "ss", "openssl", &chronyd_path()],
    ) {
        return;
    }
    let p = Pair::new();
    p.client.add_host(SERVER, "ntp.test");
    let other = "198.51.100.3";
    p.server
        .sh(&format!("ip addr add {other}/24 dev {}", p.server_if));
    let (key, crt) = openssl_cert(&p.dir);
    let kd = TempDir::new();
    let _ke = chronyd(
        &p.server,
        &kd,
        &format!(
            "local stratum 8\nallow all\nbindaddress {SERVER}\nntsserverkey {}\nntsservercert {}\nntsntpserver {other}",
            key.display(),
            crt.display()
        ),
    );
    wait_tcp_listen(&p.server, 4460);
    let od = TempDir::new();
    let _plain = chronyd(
        &p.server,
        &od,
        &format!("local stratum 8\nallow all\nbindaddress {other}"),
    );
    let (r, _) = probe(&p, &["--nts-ca", crt.to_str().unwrap(), "ntp.test"]);
    let n = nts_of(&r);
    let ke = n.ke.clone().unwrap();
    assert_eq!(ke.server.as_deref(), Some(other), "{n:#?}");
    let ntp = n.ntp.clone().unwrap();
    assert_eq!(ntp.address.as_deref(), Some("198.51.100.3:123"), "{n:#?}");
    assert_eq!(ntp.authenticated, 0, "{n:#?}");
    // chronyd without NTS drops requests that carry NTS fields; plain ones
    // to the same address are answered.
    assert_eq!(cause(&r), "nts-packets-dropped", "{r:#?}");
    drop(_plain);

    // ntpsec's ntpd there instead, its NTS not enabled.
    let nd = TempDir::new();
    let _ntpd = ntpd(
        &p.server,
        &nd,
        &format!(
            "interface ignore wildcard\ninterface listen {other}\ntos orphan 5 orphanwait 1\nrestrict default kod nomodify"
        ),
    );
    std::thread::sleep(Duration::from_secs(2));
    let (r, _) = probe(&p, &["--nts-ca", crt.to_str().unwrap(), "ntp.test"]);
    let n = nts_of(&r);
    // ntpsec drops them too.
    assert_eq!(cause(&r), "nts-packets-dropped", "{r:#?}");
    assert_eq!(n.ntp.unwrap().authenticated, 0);
}

/// ntpsec's ntpd as an NTS server (`nts enable`, key and certificate from
/// openssl), probed; and as an NTS client of `serve --nts` (`server NAME
/// nts ca FILE`): ntpq shows the association's NTS cookies arriving.
#[test]
fn ntpsec_nts_both_ways() {
    if !require("NTS with ntpsec", &["ip", "ss", "openssl", "ntpd", "ntpq"]) {
        return;
    }
    let p = Pair::new();
    p.client.add_host(SERVER, "ntp.test");
    let (key, crt) = openssl_cert(&p.dir);
    let sd = TempDir::new();
    let _srv = ntpd(
        &p.server,
        &sd,
        &format!(
            "tos orphan 5 orphanwait 1\nrestrict default kod nomodify\nnts enable\nnts key {}\nnts cert {}",
            key.display(),
            crt.display()
        ),
    );
    wait_tcp_listen(&p.server, 4460);
    std::thread::sleep(Duration::from_secs(2));
    let (r, _) = probe(&p, &["--nts-ca", crt.to_str().unwrap(), "ntp.test"]);
    let n = nts_of(&r);
    eprintln!("ntpsec server: {} {:#?}", cause(&r), n.ke);
    assert_eq!(
        n.tls.as_ref().map(|t| t.alpn.clone()),
        Some(Some("ntske/1".into())),
        "{n:#?}"
    );
    let ntp = n.ntp.clone().unwrap_or_default();
    assert_eq!(ntp.authenticated, ntp.sent, "{r:#?}");
    assert!(ntp.sent > 0);
    assert_eq!(cause(&r), "ok", "{r:#?}");
    drop(_srv);

    // ntpsec as the client of serve --nts.
    let (_serve, ca) = serve_nts(&p, &p.dir, &[]);
    let cd = TempDir::new();
    let _cli = ntpd(
        &p.client,
        &cd,
        &format!(
            "server ntp.test nts ca {} iburst minpoll 3 maxpoll 3",
            ca.display()
        ),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut counters = String::new();
    let good = |text: &str, key: &str| {
        text.lines()
            .find(|l| l.trim_start().starts_with(key))
            .and_then(|l| l.split_whitespace().last())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_secs(1));
        counters = peer_output(&p.client, &["ntpq", "-c", "nts"]);
        if good(&counters, "NTS client recvs good") > 0 {
            break;
        }
    }
    eprintln!("{counters}");
    assert!(
        good(&counters, "NTS KE client probes good") >= 1,
        "{counters}"
    );
    assert!(good(&counters, "NTS client recvs good") >= 1, "{counters}");
    assert_eq!(good(&counters, "NTS client recvs w error"), 0, "{counters}");
}

/// Over IPv6: chronyd's NTS server by its AAAA record, healthy, then
/// behind ip6tables REJECT (ICMPv6 port unreachable, its sender named, read
/// from a raw ICMPv6 socket).
#[test]
fn nts_over_ipv6() {
    if !require(
        "NTS over IPv6",
        &["ip", "ss", "ip6tables", "openssl", &chronyd_path()],
    ) {
        return;
    }
    let p = Pair::new();
    p.client.add_host("2001:db8::1", "ntp.test");
    let (crt, _srv, _sd) = chronyd_nts_server(&p);
    let ca = crt.to_str().unwrap();
    let (r, _) = probe(&p, &["-6", "--nts-ca", ca, "ntp.test"]);
    assert_eq!(cause(&r), "ok", "{r:#?}");
    assert_eq!(nts_of(&r).ke_server, "[2001:db8::1]:4460");
    p.server
        .sh("ip6tables -I INPUT -p tcp --dport 4460 -j REJECT");
    let (r, _) = probe(&p, &["-6", "--nts-ca", ca, "ntp.test"]);
    assert_eq!(cause(&r), "nts-ke-refused", "{r:#?}");
    let icmp = nts_of(&r).icmp.unwrap_or_else(|| panic!("{r:#?}"));
    assert_eq!(icmp.family, "icmpv6");
    assert_eq!((icmp.icmp_type, icmp.code), (1, 4), "{icmp:#?}");
    assert_eq!(icmp.offender.as_deref(), Some("2001:db8::1"));
}

/// `serve --nts` presenting a given key and certificate (openssl's, as
/// chrony's ntsserverkey/ntsservercert take them): the probe trusts that
/// certificate and gets authenticated time.
#[test]
fn serve_nts_with_a_given_certificate() {
    if !require("serve --nts --nts-cert", &["ip", "ss", "openssl"]) {
        return;
    }
    let p = Pair::new();
    p.client.add_host(SERVER, "ntp.test");
    let (key, crt) = openssl_cert(&p.dir);
    let _srv = p.server.spawn(
        &[
            ntpdiag(),
            "serve",
            "--listen",
            "198.51.100.1:123",
            "--nts",
            "--nts-cert",
            crt.to_str().unwrap(),
            "--nts-key",
            key.to_str().unwrap(),
        ],
        &p.dir.path().join("serve.log"),
    );
    assert!(p.server.wait_udp_listen(123, Duration::from_secs(10)));
    wait_tcp_listen(&p.server, 4460);
    let (r, code) = probe(&p, &["--nts-ca", crt.to_str().unwrap(), "ntp.test"]);
    assert_eq!((cause(&r).as_str(), code), ("ok", 0), "{r:#?}");
    let n = nts_of(&r);
    assert_eq!(n.certificates[0].subject, "CN=ntp.test");
    assert_eq!(n.ntp.unwrap().authenticated, 2);
}

/// watch polls an NTS source through NTS, as chronyd would: chronyd's
/// server counts NTS-KE connections and authenticated NTP packets from it,
/// and the source is reached.
#[test]
fn watch_polls_nts_sources_with_nts() {
    if !require(
        "watch polling with NTS",
        &["ip", "ss", "openssl", &chronyd_path(), &chronyc_path()],
    ) {
        return;
    }
    let p = Pair::new();
    p.client.add_host(SERVER, "ntp.test");
    let (crt, _srv, sd) = chronyd_nts_server(&p);
    let o = run_bounded(
        &mut p.client.cmd(&[
            ntpdiag(),
            "watch",
            "--json",
            "--count",
            "2",
            "--nts",
            "--nts-ca",
            crt.to_str().unwrap(),
            "ntp.test",
        ]),
        Duration::from_secs(90),
    );
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let stats = lines
        .iter()
        .find(|l| l["type"] == "nts-stats")
        .unwrap_or_else(|| panic!("{lines:#?}"));
    let authenticated = stats["authenticated"].as_u64().unwrap();
    assert!(authenticated >= 1, "{stats:#}");
    assert_eq!(stats["rejected"], 0, "{stats:#}");
    let snap = lines
        .iter()
        .rev()
        .find(|l| l["type"] == "snapshot")
        .expect("a snapshot");
    assert_ne!(snap["sources"][0]["reach"], 0, "{snap:#}");
    // chronyd's own count of what it authenticated.
    let sock = sd.path().join("chronyd.sock");
    let server = peer_output(
        &p.server,
        &[&chronyc_path(), "-h", sock.to_str().unwrap(), "serverstats"],
    );
    eprintln!("{server}");
    let count = |key: &str| {
        server
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split(':').nth(1))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or_else(|| panic!("{key} in {server}"))
    };
    // Two key exchanges (the check before polling, then the jar's) and the
    // check's two NTS requests plus every request watch had authenticated.
    assert_eq!(count("NTS-KE connections accepted"), 2, "{server}");
    assert_eq!(
        count("Authenticated NTP packets"),
        authenticated + 2,
        "{server}"
    );
}

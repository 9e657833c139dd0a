//! Bad input from NTS-KE servers, on loopback (no root): a TLS server that
//! answers the key exchange with garbage, with an endless answer, or with
//! nothing; a TCP server that is not TLS; one that cuts TLS short. Each gets
//! a bounded wait and a named verdict, in one JSON document.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;

/// A TCP server on loopback that runs `serve` on its first connection.
fn tcp_server(serve: impl FnOnce(std::net::TcpStream) + Send + 'static) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        if let Ok((c, _)) = l.accept() {
            let _ = c.set_read_timeout(Some(Duration::from_secs(20)));
            serve(c);
        }
    });
    port
}

/// A TLS 1.3 server with ALPN ntske/1 and a certificate for 127.0.0.1; after
/// the handshake and the client's request, `answer` writes what it likes.
fn tls_server(
    dir: &TempDir,
    answer: impl FnOnce(&mut rustls::StreamOwned<rustls::ServerConnection, std::net::TcpStream>)
    + Send
    + 'static,
) -> (u16, std::path::PathBuf) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let id = ntpdiag::net::nts::tls::generate("127.0.0.1", now, &[]).unwrap();
    let ca = dir.file("ca.pem", id.ca_pem.as_deref().unwrap());
    let cfg = Arc::new(ntpdiag::net::nts::tls::server_config(&id, &[]).unwrap());
    let port = tcp_server(move |c| {
        let conn = rustls::ServerConnection::new(cfg).unwrap();
        let mut s = rustls::StreamOwned::new(conn, c);
        let mut buf = [0u8; 512];
        // The client's request (its End of Message ends it).
        if s.read(&mut buf).is_ok() {
            answer(&mut s);
        }
    });
    (port, ca)
}

/// A UDP port with nothing behind it (loopback answers ICMP port unreachable).
fn closed_udp_port() -> u16 {
    let u = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    u.local_addr().unwrap().port()
}

fn probe(ke_port: u16, ca: Option<&std::path::Path>) -> (serde_json::Value, Duration) {
    let udp = closed_udp_port();
    let port = ke_port.to_string();
    let target = format!("127.0.0.1:{udp}");
    let mut args = vec![
        "probe",
        "--json",
        "--nts",
        "--nts-port",
        &port,
        "-n",
        "1",
        "-t",
        "1s",
        "--no-liveness",
    ];
    let ca_s;
    if let Some(c) = ca {
        ca_s = c.to_str().unwrap().to_string();
        args.extend(["--nts-ca", &ca_s]);
    }
    args.push(&target);
    let t0 = Instant::now();
    let o = run_bounded(
        std::process::Command::new(ntpdiag()).args(&args),
        Duration::from_secs(60),
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "one JSON document ({e}): {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    });
    (v, t0.elapsed())
}

fn verdict(v: &serde_json::Value) -> (String, String) {
    let t = &v["targets"][0];
    (
        t["verdict"]["cause"].as_str().unwrap().to_string(),
        t["probes"][0]["nts"]["ke"]["problem"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    )
}

#[test]
fn garbage_ke_records_are_a_ke_error() {
    let d = TempDir::new();
    let (port, ca) = tls_server(&d, |s| {
        // Next Protocol with an odd-length body, then End of Message with a body.
        let _ = s.write_all(b"\x80\x01\x00\x03abc\x80\x00\x00\x05hello");
        let _ = s.flush();
        std::thread::sleep(Duration::from_secs(2));
    });
    let (v, _) = probe(port, Some(&ca));
    let (cause, problem) = verdict(&v);
    assert_eq!(cause, "nts-ke-error", "{v:#}");
    assert!(problem.contains("malformed"), "{problem}");
}

#[test]
fn an_endless_ke_answer_is_cut_at_64_kib() {
    let d = TempDir::new();
    let (port, ca) = tls_server(&d, |s| {
        // Non-critical records of an unknown type, and never End of Message.
        let mut rec = vec![0x40, 0x00, 0x03, 0xe8];
        rec.resize(4 + 1000, 0x55);
        for _ in 0..100 {
            if s.write_all(&rec).is_err() {
                return;
            }
        }
        let _ = s.flush();
        std::thread::sleep(Duration::from_secs(2));
    });
    let (v, _) = probe(port, Some(&ca));
    let (cause, problem) = verdict(&v);
    assert_eq!(cause, "nts-ke-error", "{v:#}");
    assert!(problem.contains("65536"), "{problem}");
}

#[test]
fn a_mute_ke_server_is_left_within_the_bound() {
    let d = TempDir::new();
    let (port, ca) = tls_server(&d, |_| std::thread::sleep(Duration::from_secs(20)));
    let (v, took) = probe(port, Some(&ca));
    let (cause, problem) = verdict(&v);
    assert_eq!(cause, "nts-ke-error", "{v:#}");
    assert!(problem.contains("no End of Message within"), "{problem}");
    assert!(took < Duration::from_secs(10), "{took:?}");
}

#[test]
fn a_server_that_is_not_tls() {
    let port = tcp_server(|mut c| {
        let mut b = [0u8; 512];
        let _ = c.read(&mut b);
        let _ = c.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
        std::thread::sleep(Duration::from_secs(2));
    });
    let (v, _) = probe(port, None);
    assert_eq!(verdict(&v).0, "nts-tls-failed", "{v:#}");
}

#[test]
fn tls_cut_short_in_the_handshake() {
    let port = tcp_server(|mut c| {
        let mut b = [0u8; 512];
        let _ = c.read(&mut b);
        // A handshake record header promising 80 octets, then 10, then the end.
        let _ = c.write_all(b"\x16\x03\x03\x00\x50\x02\x00\x00\x4c\x03\x03\x00\x00\x00\x00");
    });
    let (v, took) = probe(port, None);
    assert_eq!(verdict(&v).0, "nts-tls-failed", "{v:#}");
    let err = v["targets"][0]["probes"][0]["nts"]["tls"]["error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(err.contains("closed"), "{err}");
    assert!(took < Duration::from_secs(10));
}

/// `probe --nts --builtin`: the built-in server with NTS on loopback (its
/// own CA, random ports), end to end. A smoke test of the built-in path;
/// the interop proof is in nts_netns (chronyd and ntpsec both ways).
#[test]
fn builtin_with_nts() {
    let o = run_bounded(
        std::process::Command::new(ntpdiag()).args([
            "probe",
            "--json",
            "--nts",
            "--builtin",
            "-n",
            "2",
        ]),
        Duration::from_secs(60),
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let t = &v["targets"][0];
    assert_eq!(t["verdict"]["cause"], "ok", "{v:#}");
    let ntp = &t["probes"][0]["nts"]["ntp"];
    assert_eq!(
        (ntp["sent"].as_u64(), ntp["authenticated"].as_u64()),
        (Some(2), Some(2)),
        "{v:#}"
    );
    assert_eq!(t["probes"][0]["nts"]["name"], "127.0.0.1");
    // Each NTS reply is shown decoded, as plain replies are.
    let log = t["probes"][0]["nts"]["log"].as_array().unwrap();
    let packets: Vec<_> = log.iter().filter(|l| !l["packet"].is_null()).collect();
    assert_eq!(packets.len(), 2, "{log:#?}");
    assert_eq!(packets[0]["packet"]["stratum"], 2);
}

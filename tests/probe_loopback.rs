//! `ntpdiag probe` (the real binary) against misbehaving servers on loopback:
//! each a real UDP socket on 127.0.0.x with a random port, answering in one
//! broken way. No root needed; nothing leaves the host.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::run_bounded;
use ntpdiag::engine::server::{Action, Responder, ServerConfig};
use ntpdiag::net::clock;
use ntpdiag::schema::ProbeReport;
use ntpdiag::wire::{KissCode, NtpDuration};

/// A fake server: `answer` turns a request into zero or more datagrams,
/// each sent from the main socket or (when `from_other` is set) from a
/// second socket on 127.0.0.2.
struct Fake {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Fake {
    fn start(from_other: bool, answer: impl Fn(&[u8]) -> Vec<Vec<u8>> + Send + 'static) -> Fake {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let other = UdpSocket::bind("127.0.0.2:0").unwrap();
        let addr = sock.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let s2 = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            while !s2.load(Ordering::Relaxed) {
                let Ok((n, from)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                for out in answer(&buf[..n]) {
                    let s = if from_other { &other } else { &sock };
                    let _ = s.send_to(&out, from);
                }
            }
        });
        Fake {
            addr,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A correct reply from the library's responder, the server clock shifted by `shift` s.
fn reply(cfg: &ServerConfig, req: &[u8], shift: f64) -> Option<Vec<u8>> {
    let now = clock::now() + NtpDuration::from_secs_f64(shift);
    let mut out = [0u8; 64];
    match Responder::new(cfg.clone()).handle(req, now, now, &mut out) {
        Action::Reply(n) => Some(out[..n].to_vec()),
        Action::Drop(_) => None,
    }
}

fn probe(addr: SocketAddr, extra: &[&str]) -> (ProbeReport, i32) {
    let target = addr.to_string();
    let mut args = vec![
        "probe",
        "--json",
        "--interval",
        "50ms",
        "--timeout",
        "500ms",
        &target,
    ];
    args.extend_from_slice(extra);
    let o = run_bounded(
        std::process::Command::new(common::ntpdiag()).args(&args),
        Duration::from_secs(30),
    );
    let text = String::from_utf8_lossy(&o.stdout);
    let r: ProbeReport = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    (r, o.status.code().unwrap())
}

fn cause(addr: SocketAddr) -> (String, i32) {
    let (r, code) = probe(addr, &[]);
    assert_eq!(r.schema_version, 1);
    assert_eq!(r.exit_code as i32, code);
    (r.targets[0].verdict.cause.clone(), code)
}

#[test]
fn healthy() {
    let f = Fake::start(false, |req| {
        reply(&ServerConfig::default(), req, 0.0)
            .into_iter()
            .collect()
    });
    assert_eq!(cause(f.addr), ("ok".into(), 0));
}

#[test]
fn kiss_codes() {
    for (code, id) in [
        (KissCode::Rate, "kod-rate"),
        (KissCode::Deny, "kod-deny"),
        (KissCode::Rstr, "kod-rstr"),
    ] {
        let cfg = ServerConfig {
            kiss: Some(code),
            ..ServerConfig::default()
        };
        let f = Fake::start(false, move |req| {
            reply(&cfg, req, 0.0).into_iter().collect()
        });
        let (r, exit) = probe(f.addr, &[]);
        assert_eq!(r.targets[0].verdict.cause, id);
        assert_eq!(exit, 5);
        // The KoD stops the probe: one request only (RFC 5905 §7.4).
        let sent = r.targets[0].probes[0]
            .events
            .iter()
            .filter(|e| e.kind == "transmit")
            .count();
        assert_eq!(sent, 1, "{id}");
    }
}

#[test]
fn unsynchronized() {
    let f = Fake::start(false, |req| {
        reply(&ServerConfig::unsynchronized(), req, 0.0)
            .into_iter()
            .collect()
    });
    assert_eq!(cause(f.addr), ("upstream-unsynchronized".into(), 6));
}

#[test]
fn offset_over_panic() {
    let f = Fake::start(false, |req| {
        reply(&ServerConfig::default(), req, -3600.0)
            .into_iter()
            .collect()
    });
    assert_eq!(cause(f.addr), ("offset-over-panic".into(), 6));
}

#[test]
fn spoofed_kod_with_wrong_origin_is_bogus_not_kiss() {
    let cfg = ServerConfig {
        kiss: Some(KissCode::Deny),
        ..ServerConfig::default()
    };
    let f = Fake::start(false, move |req| {
        let mut r = reply(&cfg, req, 0.0).unwrap();
        r[24..32].copy_from_slice(&[0x11; 8]);
        vec![r]
    });
    let (r, _) = probe(f.addr, &[]);
    assert_eq!(r.targets[0].verdict.cause, "bogus-reply");
    let ev = &r.targets[0].probes[0].events;
    assert!(ev.iter().any(|e| e.class.as_deref() == Some("bogus")));
    // It did not stop the probe: all four requests went out.
    assert_eq!(
        ev.iter()
            .filter(|e| e.kind == "transmit" && e.purpose.as_deref() == Some("request"))
            .count(),
        4
    );
}

#[test]
fn bogus_then_genuine_is_ok() {
    let f = Fake::start(false, |req| {
        let good = reply(&ServerConfig::default(), req, 0.0).unwrap();
        let mut bad = good.clone();
        bad[24] ^= 0x80;
        vec![bad, good]
    });
    let (r, _) = probe(f.addr, &[]);
    let v = &r.targets[0].verdict;
    assert_eq!(v.cause, "ok");
    // The replies that fail the origin test are evidence beside the verdict.
    assert!(
        v.evidence
            .iter()
            .any(|n| n.contains("4 reply(ies) failed the origin test")),
        "{v:?}"
    );
}

#[test]
fn malformed_replies() {
    // Too short, wrong mode (a reflected request), version 7.
    let f = Fake::start(false, |req| vec![req[..20].to_vec()]);
    assert_eq!(cause(f.addr), ("malformed-reply".into(), 6));
    let f = Fake::start(false, |req| vec![req.to_vec()]);
    assert_eq!(cause(f.addr).0, "malformed-reply");
    let f = Fake::start(false, |req| {
        let mut r = reply(&ServerConfig::default(), req, 0.0).unwrap();
        r[0] = (r[0] & 0xc7) | (7 << 3);
        vec![r]
    });
    assert_eq!(cause(f.addr).0, "malformed-reply");
    // Oversized, with a garbage trailer: still judged on the header (valid).
    let f = Fake::start(false, |req| {
        let mut r = reply(&ServerConfig::default(), req, 0.0).unwrap();
        r.extend_from_slice(&[0xff; 7]);
        vec![r]
    });
    assert_eq!(cause(f.addr).0, "ok");
}

#[test]
fn reply_from_other_address() {
    let f = Fake::start(true, |req| {
        reply(&ServerConfig::default(), req, 0.0)
            .into_iter()
            .collect()
    });
    let (r, code) = probe(f.addr, &[]);
    let v = &r.targets[0].verdict;
    assert_eq!(v.cause, "reply-from-other-address");
    assert!(v.summary.contains("127.0.0.2"), "{v:?}");
    assert_eq!(code, 6);
}

#[test]
fn silent_loopback_port_is_port_unreachable() {
    // A closed loopback port: the kernel answers ICMP port unreachable at once.
    let addr = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let (r, code) = probe(addr, &[]);
    assert_eq!(r.targets[0].verdict.cause, "port-unreachable");
    assert_eq!(code, 4);
    let icmp = r.targets[0].probes[0]
        .events
        .iter()
        .find_map(|e| e.icmp.clone())
        .unwrap();
    assert_eq!((icmp.icmp_type, icmp.code), (3, 3));
    assert_eq!(icmp.offender.as_deref(), Some("127.0.0.1"));
}

#[test]
fn read_and_drop_server_is_no_reply() {
    let f = Fake::start(false, |_| vec![]);
    let (r, code) = probe(f.addr, &["--no-liveness"]);
    assert_eq!(r.targets[0].verdict.cause, "no-reply");
    assert_eq!(code, 3);
}

#[test]
fn builtin_is_ok_and_text_shows_every_packet() {
    let o = run_bounded(
        std::process::Command::new(common::ntpdiag()).args([
            "probe",
            "--builtin",
            "--color",
            "never",
            "-n",
            "3",
        ]),
        Duration::from_secs(30),
    );
    assert_eq!(o.status.code(), Some(0));
    let t = String::from_utf8_lossy(&o.stdout);
    assert_eq!(t.matches("→ request").count(), 3, "{t}");
    assert_eq!(t.matches("← reply to request").count(), 3, "{t}");
    for field in [
        "leap 0",
        "stratum 2",
        "precision",
        "root delay",
        "refid",
        "reference",
        "origin",
        "receive",
        "transmit",
        "offset",
    ] {
        assert!(t.contains(field), "{field} missing: {t}");
    }
    assert!(t.contains("VERDICT builtin"), "{t}");
    assert!(!t.contains('\u{1b}'), "no color when not a terminal");
}

#[test]
fn bad_arguments_are_usage_errors() {
    for args in [
        &["probe"][..],
        &["probe", "--timeout", "0s", "x"],
        &["probe", "[::1"],
        &["probe", "-n", "0", "x"],
    ] {
        let o = run_bounded(
            std::process::Command::new(common::ntpdiag()).args(args),
            Duration::from_secs(10),
        );
        assert_eq!(
            o.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

//! One evidence set per cause id, produced by running the real probe session
//! against simulated peers (the responder of `engine::server`, ICMP reports as
//! the kernel delivers them), then diagnosed.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::*;
use crate::diagnose::SourcePort;
use crate::diagnose::evidence::Neighbour;
use crate::diagnose::{Cause, Confidence};
use crate::engine::local::LocalErrorKind;
use crate::engine::probe::sim::{Response, run};
use crate::engine::probe::{IcmpReport, ProbeConfig, ProbeRecord, ProbeSession, Transmit};
use crate::engine::server::ServerConfig;
use crate::wire::KissCode;
use crate::wire::icmp::IcmpError;
use crate::wire::{NtpDate, NtpTimestamp, ReferenceId};

fn target() -> SocketAddr {
    "198.51.100.1:123".parse().unwrap()
}

fn record(respond: impl FnMut(&Transmit, NtpTimestamp) -> Vec<Response>) -> ProbeRecord {
    let start = Instant::now();
    let wall0 = NtpDate::from_unix(1_764_000_000, 0).timestamp();
    run(
        ProbeSession::new(ProbeConfig::default(), target(), start),
        start,
        wall0,
        respond,
    )
}

fn evidence(rec: ProbeRecord) -> TargetEvidence {
    TargetEvidence {
        host: "controller".into(),
        address: target(),
        source_port: SourcePort::Ephemeral,
        local_address: Some("198.51.100.2:40000".parse().unwrap()),
        setup_error: None,
        record: Some(rec),
        neighbour: None,
        nts: None,
    }
}

/// A server answering from `cfg`, its clock shifted by `shift` seconds.
fn server(cfg: ServerConfig, shift: f64) -> impl FnMut(&Transmit, NtpTimestamp) -> Vec<Response> {
    crate::engine::probe::sim::server(cfg, target(), shift)
}

use crate::engine::probe::sim::icmp;

fn verdict_of(rec: ProbeRecord) -> Verdict {
    let v = diagnose(&evidence(rec));
    assert!(!v.summary.is_empty() && !v.evidence.is_empty(), "{v:?}");
    if v.cause != Cause::Ok {
        assert!(!v.fix.is_empty(), "a failing verdict needs a fix: {v:?}");
    }
    v
}

#[test]
fn ok() {
    let v = verdict_of(record(server(ServerConfig::default(), 0.0)));
    assert_eq!(v.cause, Cause::Ok);
    assert_eq!(v.confidence, Confidence::High);
    assert!(
        v.evidence[0].starts_with("4 of 4 requests answered"),
        "{:?}",
        v.evidence
    );
}

#[test]
fn offset_over_panic_both_signs() {
    let v = verdict_of(record(server(ServerConfig::default(), 2000.0)));
    assert_eq!(v.cause, Cause::OffsetOverPanic);
    assert!(v.evidence.iter().any(|e| e.contains("ahead of")));
    let v = verdict_of(record(server(ServerConfig::default(), -1500.0)));
    assert_eq!(v.cause, Cause::OffsetOverPanic);
    assert!(v.evidence.iter().any(|e| e.contains("behind")));
    // 999 s is within the threshold.
    assert_eq!(
        verdict_of(record(server(ServerConfig::default(), 999.0))).cause,
        Cause::Ok
    );
}

#[test]
fn every_kiss_code() {
    for code in KissCode::ALL.into_iter().chain([KissCode::Ntsn]) {
        let v = verdict_of(record(server(
            ServerConfig {
                kiss: Some(code),
                ..ServerConfig::default()
            },
            0.0,
        )));
        match code {
            KissCode::Init | KissCode::Step => {
                assert_eq!(v.cause, Cause::UpstreamUnsynchronized, "{code}")
            }
            _ => assert_eq!(v.cause, Cause::Kod(code)),
        }
    }
    let v = verdict_of(record(server(
        ServerConfig {
            kiss: Some(KissCode::Rate),
            ..ServerConfig::default()
        },
        0.0,
    )));
    assert_eq!(v.cause.id(), "kod-rate");
    assert!(
        v.evidence.iter().any(|e| e.contains("1 of 1 requests")),
        "RATE stops the probe: {:?}",
        v.evidence
    );
}

#[test]
fn upstream_unsynchronized_variants() {
    // Leap 3 stratum 16 INIT (ntpdiag serve --unsynchronized).
    let v = verdict_of(record(server(ServerConfig::unsynchronized(), 0.0)));
    assert_eq!(v.cause, Cause::UpstreamUnsynchronized);
    assert!(
        v.evidence.iter().any(|e| e.contains("refid INIT")),
        "{:?}",
        v.evidence
    );
    // XFAC at stratum 16.
    let xfac = ServerConfig {
        reference_id: ReferenceId(*b"XFAC"),
        ..ServerConfig::unsynchronized()
    };
    let v = verdict_of(record(server(xfac, 0.0)));
    assert!(
        v.evidence
            .iter()
            .any(|e| e.contains("XFAC: the server reset")),
        "{:?}",
        v.evidence
    );
    // Root distance too large for ntpsec (Windows-like dispersion of 2 s).
    let far = ServerConfig {
        root_dispersion: crate::wire::NtpShort::from_secs_f64(2.0),
        ..ServerConfig::default()
    };
    assert_eq!(
        verdict_of(record(server(far, 0.0))).cause,
        Cause::UpstreamUnsynchronized
    );
}

#[test]
fn bogus_reply() {
    let mut inner = server(ServerConfig::default(), 0.0);
    let v = verdict_of(record(move |tx, w| {
        inner(tx, w)
            .into_iter()
            .map(|r| match r {
                Response::Datagram {
                    after,
                    from,
                    mut bytes,
                } => {
                    bytes[31] ^= 1; // origin off by one fraction unit
                    Response::Datagram { after, from, bytes }
                }
                r => r,
            })
            .collect()
    }));
    assert_eq!(v.cause, Cause::BogusReply);
}

#[test]
fn reply_from_other_address() {
    let mut inner = server(ServerConfig::default(), 0.0);
    let v = verdict_of(record(move |tx, w| {
        inner(tx, w)
            .into_iter()
            .map(|r| match r {
                Response::Datagram { after, bytes, .. } => Response::Datagram {
                    after,
                    from: "198.51.100.7:123".parse().unwrap(),
                    bytes,
                },
                r => r,
            })
            .collect()
    }));
    assert_eq!(v.cause, Cause::ReplyFromOtherAddress);
    assert!(v.summary.contains("198.51.100.7:123"));
}

#[test]
fn malformed_reply() {
    let v = verdict_of(record(|tx, _| {
        if tx.purpose == Purpose::Liveness {
            return vec![];
        }
        vec![Response::Datagram {
            after: Duration::from_millis(1),
            from: target(),
            bytes: b"HTTP/1.0 400".to_vec(),
        }]
    }));
    assert_eq!(v.cause, Cause::MalformedReply);
    assert!(
        v.evidence[0].contains("truncated: 12 octets"),
        "{:?}",
        v.evidence
    );
    // A mode-3 echo (the server reflected the request).
    let v = verdict_of(record(|tx, _| {
        if tx.purpose == Purpose::Liveness {
            return vec![];
        }
        vec![Response::Datagram {
            after: Duration::from_millis(1),
            from: target(),
            bytes: tx.payload.clone(),
        }]
    }));
    assert_eq!(v.cause, Cause::MalformedReply);
}

#[test]
fn icmp_causes() {
    let v = verdict_of(record(icmp(IcmpError::v4(3, 3), "198.51.100.1")));
    assert_eq!(v.cause, Cause::PortUnreachable);
    assert!(v.summary.contains("server itself"));
    assert_eq!(v.alternatives.len(), 2);
    let v = verdict_of(record(icmp(IcmpError::v4(3, 13), "198.51.100.1")));
    assert_eq!(v.cause, Cause::AdminProhibited);
    let v = verdict_of(record(icmp(IcmpError::v4(3, 10), "198.51.100.1")));
    assert_eq!(v.cause, Cause::AdminProhibited);
    let v = verdict_of(record(icmp(IcmpError::v6(1, 1), "2001:db8::1")));
    assert_eq!(v.cause, Cause::AdminProhibited);
    let v = verdict_of(record(icmp(IcmpError::v4(3, 1), "203.0.113.1")));
    assert_eq!(v.cause, Cause::HostUnreachable);
    assert!(v.summary.contains("router 203.0.113.1"), "{}", v.summary);
    let v = verdict_of(record(icmp(IcmpError::v4(3, 1), "198.51.100.2")));
    assert_eq!(v.cause, Cause::HostUnreachable);
    assert!(
        v.summary.starts_with("This host cannot deliver"),
        "{}",
        v.summary
    );
    let v = verdict_of(record(icmp(IcmpError::v4(3, 0), "203.0.113.1")));
    assert_eq!(v.cause, Cause::NetUnreachable);
    assert!(v.summary.contains("router 203.0.113.1"));
}

#[test]
fn no_reply_without_more_evidence_lists_causes_in_order() {
    let v = verdict_of(record(|_, _| vec![]));
    assert_eq!(v.cause, Cause::NoReply);
    assert_eq!(v.confidence, Confidence::Low);
    let order: Vec<&str> = v.alternatives.iter().map(|a| a.what.as_str()).collect();
    assert!(order[0].contains("firewall"));
    assert!(order[1].contains("restrict"));
    assert!(order[2].contains("down"));
    assert!(order[3].contains("this side"));
    assert!(v.evidence.iter().any(|e| e.contains("no ICMP error")));
    assert!(
        v.evidence
            .iter()
            .any(|e| e.contains("drew no ICMP error either"))
    );
}

#[test]
fn no_reply_but_host_up_points_at_udp_123() {
    let v = verdict_of(record(|tx, _| {
        if tx.purpose != Purpose::Liveness {
            return vec![];
        }
        vec![Response::Icmp {
            after: Duration::from_micros(300),
            report: IcmpReport {
                error: IcmpError::v4(3, 3),
                offender: Some(target().ip()),
                original_dest: Some(tx.dest),
                quoted: tx.payload.clone(),
            },
        }]
    }));
    assert_eq!(v.cause, Cause::NoReply);
    // A drop on this side is not excluded (doc/json.md: confidence).
    assert_eq!(v.confidence, Confidence::Medium);
    assert!(v.summary.contains("the host is up"), "{}", v.summary);
    assert!(v.alternatives[0].what.contains("firewall"));
}

#[test]
fn no_reply_and_no_arp_answer_means_host_down() {
    let mut ev = evidence(record(|_, _| vec![]));
    ev.neighbour = Some(Neighbour {
        state: "FAILED".into(),
        lladdr: None,
        dev: Some("eth0".into()),
    });
    let v = diagnose(&ev);
    assert_eq!(v.cause, Cause::NoReply);
    assert!(v.summary.contains("down"), "{}", v.summary);
    ev.neighbour = Some(Neighbour {
        state: "REACHABLE".into(),
        lladdr: Some("02:00:00:00:00:01".into()),
        dev: None,
    });
    let v = diagnose(&ev);
    assert!(v.summary.contains("drops everything"), "{}", v.summary);
}

#[test]
fn local_failures() {
    let mut ev = evidence(record(|_, _| vec![]));
    ev.record = None;
    ev.setup_error = Some(os_error(
        "bind",
        "0.0.0.0:123",
        LocalErrorKind::AddressInUse,
        libc::EADDRINUSE,
    ));
    assert_eq!(diagnose(&ev).cause, Cause::LocalPortInUse);
    ev.setup_error = Some(os_error(
        "bind",
        "0.0.0.0:123",
        LocalErrorKind::PermissionDenied,
        libc::EACCES,
    ));
    assert_eq!(diagnose(&ev).cause, Cause::LocalPermissionDenied);

    let start = Instant::now();
    let mut s = ProbeSession::new(ProbeConfig::default(), target(), start);
    let tx = s.poll_transmit(start, NtpTimestamp(1), 99).unwrap();
    s.handle_send_error(
        start,
        tx.purpose,
        os_error(
            "sendto",
            target(),
            LocalErrorKind::SendNotPermitted,
            libc::EPERM,
        ),
    );
    assert!(s.is_finished());
    let v = diagnose(&evidence(s.finish()));
    assert_eq!(v.cause, Cause::LocalFirewallBlocksNtp);
    assert_eq!(v.cause.class().exit_code(), 7);
}

#[test]
fn source_port_filtered() {
    let ok = evidence(record(server(ServerConfig::default(), 0.0)));
    let silent = evidence(record(|_, _| vec![]));
    let v = compare_source_ports(&ok, &silent, 123);
    assert_eq!(v.cause, Cause::SourcePortFiltered);
    // Both silent: plain no-reply.
    assert_eq!(
        compare_source_ports(&silent, &silent, 123).cause,
        Cause::NoReply
    );
    // Port in use: the local verdict wins, the other is kept as a note.
    let mut ev = evidence(record(|_, _| vec![]));
    ev.setup_error = Some(os_error(
        "bind",
        "0.0.0.0:123",
        LocalErrorKind::AddressInUse,
        libc::EADDRINUSE,
    ));
    let v = compare_source_ports(&ok, &ev, 123);
    assert_eq!(v.cause, Cause::LocalPortInUse);
    assert!(v.notes[0].contains("ok"));
}

/// Nothing listens on udp/123 (port unreachable from a random port) and a
/// firewall also drops source port 123: nothing answers NTP from any port,
/// so the verdict is the refusal, with the drop as a further finding.
#[test]
fn refused_host_that_also_drops_source_port_123_is_port_unreachable() {
    let refused = evidence(record(icmp(IcmpError::v4(3, 3), "198.51.100.1")));
    let silent = evidence(record(|_, _| vec![]));
    let v = compare_source_ports(&refused, &silent, 123);
    assert_eq!(v.cause, Cause::PortUnreachable);
    assert!(
        v.notes
            .iter()
            .any(|n| n.contains("source port 123") && n.contains("dropped")),
        "{:?}",
        v.notes
    );
}

#[test]
fn name_unresolved_verdict() {
    let v = name_unresolved(
        "controller",
        "failed to lookup address information: Name or service not known",
    );
    assert_eq!(v.cause, Cause::NameUnresolved);
    assert_eq!(v.cause.class().exit_code(), 7);
}

/// An error the socket reported outside any one datagram is kept: it shows
/// in the verdict's notes, not dropped.
#[test]
fn socket_errors_are_reported() {
    let start = Instant::now();
    let mut s = ProbeSession::new(ProbeConfig::default(), target(), start);
    s.handle_socket_error(
        start,
        os_error("recvmsg", target(), LocalErrorKind::Other, libc::ENOMEM),
    );
    let wall0 = NtpDate::from_unix(1_764_000_000, 0).timestamp();
    let rec = run(s, start, wall0, server(ServerConfig::default(), 0.0));
    let v = diagnose(&evidence(rec));
    assert_eq!(v.cause, Cause::Ok);
    assert!(
        v.notes
            .iter()
            .any(|n| n.contains("recvmsg") && n.contains("socket reported")),
        "{:?}",
        v.notes
    );
}

/// A failed socket call as the edge reports it (net::errno maps errno to
/// kind; its own tests check that mapping).
fn os_error(
    op: &str,
    target: impl std::fmt::Display,
    kind: LocalErrorKind,
    errno: i32,
) -> crate::engine::local::LocalError {
    crate::engine::local::LocalError {
        kind,
        op: op.to_string(),
        target: target.to_string(),
        errno: Some(errno),
        message: std::io::Error::from_raw_os_error(errno).to_string(),
    }
}

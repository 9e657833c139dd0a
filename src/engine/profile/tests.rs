use super::*;
use crate::engine::exchange::build_request;
use proptest::prelude::*;

fn peer() -> SocketAddr {
    "198.51.100.2:40000".parse().unwrap()
}

fn ts() -> NtpTimestamp {
    NtpTimestamp::from_parts(3_970_000_000, 0)
}

fn run(profile: ServerProfile, req: &[u8]) -> (Action, Vec<u8>) {
    let mut s = Server::new(profile);
    let mut out = [0u8; 512];
    let a = s.handle(1000, peer(), ts(), 7, req, &mut out);
    (a, out.to_vec())
}

fn request() -> [u8; 48] {
    build_request(NtpTimestamp(0x1122_3344_5566_7788), 4, 6)
}

#[test]
fn healthy_reply() {
    let (a, out) = run(ServerProfile::default(), &request());
    let Action::Reply(r) = a else { panic!("{a:?}") };
    assert_eq!(r.len, 48);
    assert!(r.stamp && r.source.is_none() && r.delay.is_zero());
    assert_eq!(
        &out[24..32],
        &request()[40..48],
        "origin = client's transmit"
    );
}

#[test]
fn silent_and_private_and_unserved() {
    let p = ServerProfile {
        faults: Faults {
            silent: true,
            ..Faults::default()
        },
        ..ServerProfile::default()
    };
    assert_eq!(run(p, &request()).0, Action::Drop(DropReason::Silent));
    let mut r = request();
    r[0] = (r[0] & !7) | 7;
    assert_eq!(
        run(ServerProfile::default(), &r).0,
        Action::Drop(DropReason::PrivateMode)
    );
    r[0] = (r[0] & !7) | 4;
    assert_eq!(
        run(ServerProfile::default(), &r).0,
        Action::Drop(DropReason::UnservedMode)
    );
    r[0] = (r[0] & !7) | 1; // symmetric active → answered as mode 2
    let (a, out) = run(ServerProfile::default(), &r);
    assert!(matches!(a, Action::Reply(_)));
    assert_eq!(out[0] & 7, 2);
    let p = ServerProfile {
        symmetric: SymmetricPolicy::Ignore,
        ..ServerProfile::default()
    };
    assert_eq!(run(p, &r).0, Action::Drop(DropReason::UnservedMode));
    assert_eq!(
        run(ServerProfile::default(), &request()[..30]).0,
        Action::Drop(DropReason::Malformed)
    );
}

#[test]
fn control_only_for_query_allow() {
    let q = [0x16u8, 2, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0];
    let (a, _) = run(ServerProfile::default(), &q);
    assert_eq!(
        a,
        Action::Drop(DropReason::ControlNotAllowed),
        "198.51.100.2 is not loopback"
    );
    let p = ServerProfile {
        query_allow: vec!["198.51.100.0/24".parse().unwrap()],
        ..ServerProfile::default()
    };
    let (a, _) = run(p, &q);
    let Action::Control(frags) = a else { panic!() };
    let text = String::from_utf8_lossy(&frags[0][12..]).to_string();
    assert!(
        text.contains("stratum=2") && text.contains("refid=LOCL"),
        "{text}"
    );
}

#[test]
fn access_list_and_kod() {
    let deny: Acl = Acl {
        deny: vec!["198.51.100.0/24".parse().unwrap()],
        ..Acl::default()
    };
    let p = ServerProfile {
        acl: deny.clone(),
        ..ServerProfile::default()
    };
    assert_eq!(run(p, &request()).0, Action::Drop(DropReason::Denied));
    let p = ServerProfile {
        acl: Acl {
            deny_action: DenyAction::KodDeny,
            ..deny.clone()
        },
        ..ServerProfile::default()
    };
    let (a, out) = run(p, &request());
    assert!(matches!(a, Action::Reply(Reply { stamp: false, .. })));
    assert_eq!((out[1], &out[12..16]), (0, &b"DENY"[..]));
    let p = ServerProfile {
        acl: Acl {
            deny_action: DenyAction::KodRstr,
            ..deny
        },
        ..ServerProfile::default()
    };
    assert_eq!(&run(p, &request()).1[12..16], b"RSTR");
}

#[test]
fn rate_limit_kod_then_drop() {
    let cfg = RateConfig {
        interval: Duration::from_secs(2),
        burst: 2,
    };
    let mut s = Server::new(ServerProfile {
        rate: Some((cfg, RateAction::Kod)),
        ..ServerProfile::default()
    });
    let mut out = [0u8; 64];
    let mut kinds = Vec::new();
    for i in 0..5 {
        let a = s.handle(1000 + i, peer(), ts(), 0, &request(), &mut out);
        kinds.push(match a {
            Action::Reply(_) if &out[12..16] == b"RATE" => "rate",
            Action::Reply(_) => "time",
            Action::Drop(_) => "drop",
            Action::Control(_) => "control",
        });
    }
    assert_eq!(kinds, ["time", "time", "rate", "drop", "drop"]);
    assert_eq!(
        s.rate_table_bytes(),
        crate::engine::ratelimit::TABLE_ENTRIES * 32
    );
}

#[test]
fn faults_shape_the_reply() {
    let f = Faults {
        offset: NtpDuration::from_secs_f64(2000.0),
        delay: Duration::from_millis(300),
        bogus_origin: true,
        reply_from: Some("198.51.100.9".parse().unwrap()),
        version: Some(3),
        ..Faults::default()
    };
    let s = Server::new(ServerProfile {
        faults: f,
        ..ServerProfile::default()
    });
    let mut s = s;
    let mut out = [0u8; 64];
    let Action::Reply(r) = s.handle(0, peer(), ts(), 0, &request(), &mut out) else {
        panic!()
    };
    assert_eq!(r.delay, Duration::from_millis(300));
    assert_eq!(r.source, Some("198.51.100.9".parse().unwrap()));
    assert_eq!((out[0] >> 3) & 7, 3);
    let p = Packet::new_checked(&out[..48]).unwrap();
    assert_ne!(p.origin_ts(), NtpTimestamp(0x1122_3344_5566_7788));
    assert!((p.receive_ts().since(ts()).as_secs_f64() - 2000.0).abs() < 1e-6);
    s.stamp(&mut out[..48], ts());
    let p = Packet::new_checked(&out[..48]).unwrap();
    assert!((p.transmit_ts().since(ts()).as_secs_f64() - 2000.0).abs() < 1e-6);
}

#[test]
fn random_drop_uses_the_given_bits() {
    let p = ServerProfile {
        faults: Faults {
            drop_percent: 50,
            ..Faults::default()
        },
        ..ServerProfile::default()
    };
    let mut s = Server::new(p);
    let mut out = [0u8; 64];
    assert_eq!(
        s.handle(0, peer(), ts(), 10, &request(), &mut out),
        Action::Drop(DropReason::RandomDrop)
    );
    assert!(matches!(
        s.handle(0, peer(), ts(), 60, &request(), &mut out),
        Action::Reply(_)
    ));
    assert_eq!(s.counters.dropped.get("RandomDrop"), Some(&1));
}

proptest! {
    /// Whatever the profile and the bytes: no panic, and NTP replies are
    /// never larger than the request.
    #[test]
    fn never_amplifies(bytes in proptest::collection::vec(any::<u8>(), 0..300), kod in any::<bool>(), bogus in any::<bool>(), v in 0u8..8) {
        let server = ServerConfig { kiss: kod.then_some(KissCode::Rate), ..ServerConfig::default() };
        let faults = Faults { bogus_origin: bogus, version: Some(v), ..Faults::default() };
        let mut s = Server::new(ServerProfile { server, faults, ..ServerProfile::default() });
        let mut out = [0u8; 512];
        match s.handle(0, peer(), ts(), 0, &bytes, &mut out) {
            Action::Reply(r) => prop_assert!(r.len <= bytes.len()),
            Action::Control(_) => prop_assert!(false, "control from a non-loopback source"),
            Action::Drop(_) => {}
        }
    }
}

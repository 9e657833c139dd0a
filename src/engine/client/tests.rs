//! The engine against simulated servers (`engine::server`'s responder, its
//! clock shifted), in simulated time: what ENGINE.md §7's live scenarios
//! must show, here without sockets.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::*;
use crate::engine::server::{Action, Responder, ServerConfig};
use crate::wire::{NtpDate, NtpDuration, NtpShort, NtpTimestamp};

type Peer = Box<dyn FnMut(&[u8], NtpTimestamp) -> Option<Vec<u8>>>;

/// A server on the responder, `shift` seconds off.
fn server(cfg: ServerConfig, shift: f64) -> Peer {
    let r = Responder::new(cfg);
    Box::new(move |req, wall| {
        let w = wall + NtpDuration::from_secs_f64(shift);
        let mut out = [0u8; 64];
        match r.handle(req, w, w, &mut out) {
            Action::Reply(n) => Some(out[..n].to_vec()),
            Action::Drop(_) => None,
        }
    })
}

fn silent() -> Peer {
    Box::new(|_, _| None)
}

fn addr(i: usize) -> SocketAddr {
    format!("198.51.100.{}:123", i + 1).parse().unwrap()
}

/// Runs `peers` (one per server) for `secs` simulated seconds; replies
/// take 1 ms each way. Returns the engine.
fn run(profile: Profile, peers: Vec<Peer>, secs: u64, iburst: bool) -> (Engine, Instant) {
    run_with(Rules::of(profile), peers, secs, iburst)
}

/// [`run`] under the given rules.
fn run_with(rules: Rules, peers: Vec<Peer>, secs: u64, iburst: bool) -> (Engine, Instant) {
    let start = Instant::now();
    let wall0 = NtpDate::from_unix(1_764_000_000, 0).timestamp();
    let wall = |t: Instant| wall0 + NtpDuration::from_std(t - start);
    let mut e = Engine::new(rules, start, -20);
    let mut peers = peers;
    for i in 0..peers.len() {
        let mut s = ServerSpec::new(format!("s{i}"), addr(i));
        s.iburst = iburst;
        e.add(s, start, Duration::from_millis(10 * i as u64));
    }
    let mut now = start;
    let end = start + Duration::from_secs(secs);
    let mut inbox: Vec<(Instant, SocketAddr, Vec<u8>)> = vec![];
    let mut rand = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..200_000 {
        rand = rand
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        while let Some(tx) = e.poll_transmit(now, wall(now), rand) {
            rand = rand.wrapping_mul(6364136223846793005).wrapping_add(1);
            let at = now + Duration::from_millis(1);
            if let Some(b) = (peers[tx.assoc])(&tx.payload, wall(at)) {
                inbox.push((at + Duration::from_millis(1), tx.dest, b));
            }
        }
        let next = inbox
            .iter()
            .map(|x| x.0)
            .chain(e.poll_timeout())
            .min()
            .unwrap_or(end);
        if next > end {
            break;
        }
        now = now.max(next);
        let (due, rest): (Vec<_>, Vec<_>) = inbox.drain(..).partition(|x| x.0 <= now);
        inbox = rest;
        for (_, from, b) in due {
            e.handle_datagram(now, from, wall(now), &b);
            // Selection after each sample, as watch's snapshots run it.
            e.update();
        }
    }
    e.update();
    (e, now)
}

fn tallies(e: &mut Engine, now: Instant) -> String {
    e.snapshot(now).sources.iter().map(|s| s.tally).collect()
}

#[test]
fn three_good_and_one_at_plus_one_second_is_a_falseticker() {
    for profile in [Profile::Ntpd, Profile::Chrony, Profile::Rfc] {
        let peers: Vec<Peer> = vec![
            server(ServerConfig::default(), 0.0),
            server(ServerConfig::default(), 0.0005),
            server(ServerConfig::default(), -0.0005),
            server(ServerConfig::default(), 1.0),
        ];
        let (mut e, now) = run(profile, peers, 300, true);
        let s = e.snapshot(now);
        assert_eq!(
            s.sources[3].status,
            Status::Falseticker,
            "{profile:?}: {}",
            tallies(&mut e, now)
        );
        assert_eq!(s.system.status, SysStatus::Synchronized, "{profile:?}");
        assert!(s.system.peer.is_some_and(|p| p < 3));
        assert!(s.system.offset.abs() < 0.001, "{}", s.system.offset);
    }
}

#[test]
fn the_majority_wins_even_when_it_is_wrong() {
    let d = ServerConfig::default;
    let peers: Vec<Peer> = vec![
        server(d(), 1.0),
        server(d(), 1.0005),
        server(d(), 0.9995),
        server(d(), 0.0),
        server(d(), 0.0002),
    ];
    let (mut e, now) = run(Profile::Ntpd, peers, 300, true);
    let s = e.snapshot(now);
    assert_eq!(
        tallies(&mut e, now).chars().filter(|c| *c == 'x').count(),
        2,
        "{}",
        tallies(&mut e, now)
    );
    assert_eq!(s.sources[3].status, Status::Falseticker);
    assert_eq!(s.sources[4].status, Status::Falseticker);
    assert!((s.system.offset - 1.0).abs() < 0.01, "{}", s.system.offset);
    assert!(matches!(s.system.action, ClockAction::Step(o) if o > 0.9));
}

#[test]
fn root_dispersion_2s_is_too_far_for_ntpd_not_for_chrony() {
    let far = ServerConfig {
        root_dispersion: NtpShort::from_secs_f64(2.0),
        ..ServerConfig::default()
    };
    let mk = || -> Vec<Peer> {
        vec![
            server(ServerConfig::default(), 0.0),
            server(ServerConfig::default(), 0.0),
            server(ServerConfig::default(), 0.0),
            server(far.clone(), 0.0),
        ]
    };
    let (mut e, now) = run(Profile::Ntpd, mk(), 300, true);
    let s = e.snapshot(now);
    match s.sources[3].status {
        Status::TooFar {
            distance,
            threshold,
        } => {
            assert!(distance > 2.0 && threshold == 1.5, "{distance} {threshold}")
        }
        ref o => panic!("{o:?}"),
    }
    assert_eq!(
        s.sources[3].flash & assoc::flash::PEER_DIST,
        assoc::flash::PEER_DIST
    );
    let (mut e, now) = run(Profile::Chrony, mk(), 300, true);
    let st = &e.snapshot(now).sources[3].status;
    // Selectable under chrony's 3 s; too distant to combine with the good
    // ones (combinelimit): '-', as chronyd's 'D'.
    assert_eq!(*st, Status::Outlier, "{st:?}");
    assert!(!matches!(st, Status::TooFar { .. }));
}

#[test]
fn unsynchronized_server_answers_but_reach_stays_zero() {
    let (mut e, now) = run(
        Profile::Ntpd,
        vec![server(ServerConfig::unsynchronized(), 0.0)],
        200,
        false,
    );
    let s = &e.snapshot(now).sources[0];
    // ntpd's reach counts usable replies only; the other register counts all.
    assert_eq!(s.reach, 0);
    assert_ne!(s.heard, 0);
    assert!(s.received > 0 && s.usable == 0);
    assert_eq!(
        s.flash & assoc::flash::PKT_STRATUM,
        assoc::flash::PKT_STRATUM
    );
    assert!(
        matches!(s.last_mark, Some(Mark::Rejected { .. })),
        "{:?}",
        s.last_mark
    );
}

#[test]
fn silent_server_is_unreachable_and_backs_off() {
    let (mut e, now) = run(Profile::Ntpd, vec![silent()], 3 * 3600, false);
    let s = &e.snapshot(now).sources[0];
    let a = &e.associations()[0];
    assert_eq!(s.status, Status::Unreachable);
    assert_eq!((s.reach, s.heard), (0, 0));
    assert!(s.strip.iter().all(|m| *m == Mark::Silent));
    // Past UNREACH polls the interval grows towards maxpoll.
    assert!(a.hpoll > a.minpoll, "{}", a.hpoll);
}

#[test]
fn kiss_codes_rate_backs_off_deny_stops() {
    let rate = ServerConfig {
        kiss: Some(KissCode::Rate),
        ..ServerConfig::default()
    };
    let (e, now) = run(Profile::Ntpd, vec![server(rate, 0.0)], 2000, false);
    let a = &e.associations()[0];
    assert!(a.hpoll > a.minpoll, "RATE raises the interval: {}", a.hpoll);
    assert!(a.stopped.is_none());
    let _ = now;
    let deny = ServerConfig {
        kiss: Some(KissCode::Deny),
        ..ServerConfig::default()
    };
    let (mut e, now) = run(Profile::Ntpd, vec![server(deny, 0.0)], 2000, false);
    assert_eq!(
        e.snapshot(now).sources[0].status,
        Status::Stopped(KissCode::Deny)
    );
    assert_eq!(e.associations()[0].polls, 1, "no request after DENY");
}

#[test]
fn eleven_good_servers_leave_backups_under_ntpd() {
    let peers: Vec<Peer> = (0..11)
        .map(|i| server(ServerConfig::default(), i as f64 * 1e-5))
        .collect();
    let (mut e, now) = run(Profile::Ntpd, peers, 300, true);
    let t = tallies(&mut e, now);
    assert!(t.contains('#'), "{t}");
    assert_eq!(t.matches('*').count(), 1, "{t}");
    let peers: Vec<Peer> = (0..11)
        .map(|i| server(ServerConfig::default(), i as f64 * 1e-5))
        .collect();
    let (mut e, now) = run(Profile::Chrony, peers, 300, true);
    let t = tallies(&mut e, now);
    assert!(!t.contains('#') && t.matches('*').count() == 1, "{t}");
}

#[test]
fn clock_update_slew_step_panic() {
    for (shift, want) in [(0.01, "slew"), (0.5, "step"), (2000.0, "panic")] {
        let peers: Vec<Peer> = (0..3)
            .map(|_| server(ServerConfig::default(), shift))
            .collect();
        let (mut e, now) = run(Profile::Ntpd, peers, 200, true);
        let got = match e.snapshot(now).system.action {
            ClockAction::Slew(_) => "slew",
            ClockAction::Step(_) => "step",
            ClockAction::Panic(_) => "panic",
            ClockAction::None => "none",
        };
        assert_eq!(got, want, "{shift}");
    }
}

#[test]
fn events_say_when_states_change() {
    let (mut e, _) = run(
        Profile::Ntpd,
        vec![server(ServerConfig::default(), 0.0)],
        120,
        true,
    );
    let mut saw_peer = false;
    while let Some(ev) = e.poll_event() {
        if let Event::SystemPeer { to: Some(0), .. } = ev {
            saw_peer = true;
        }
    }
    assert!(saw_peer);
}

/// ntp_proto.c clock_select(): "Unless there are at least sys_minsane
/// survivors, leave the building dark". One healthy server under `tos
/// minsane 3` (Debian's ntp.conf) gives no system peer; under minsane 1 it
/// is the system peer.
#[test]
fn fewer_truechimers_than_minsane_leave_the_clock_alone() {
    for (minsane, synced) in [(3, false), (1, true)] {
        let mut rules = Rules::of(Profile::Ntpd);
        rules.minsane = minsane;
        let (mut e, now) = run_with(
            rules.clone(),
            vec![server(ServerConfig::default(), 0.0)],
            120,
            true,
        );
        let s = e.snapshot(now);
        if synced {
            assert_eq!(s.system.status, SysStatus::Synchronized);
        } else {
            assert_eq!(
                s.system.status,
                SysStatus::TooFewSources {
                    truechimers: 1,
                    minsane: 3
                }
            );
            assert!(s.system.peer.is_none());
        }
    }
}

/// A server whose clock wanders by up to ±`noise` s around `shift`
/// (deterministic).
fn noisy(shift: f64, noise: f64, seed: u64) -> Peer {
    let r = Responder::new(ServerConfig::default());
    let mut x = seed;
    Box::new(move |req, wall| {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let u = (x >> 11) as f64 / (1u64 << 53) as f64;
        let w = wall + NtpDuration::from_secs_f64(shift + noise * (2.0 * u - 1.0));
        // The server holds the request up to 1.5 ms: delays vary.
        let tx = w + NtpDuration::from_secs_f64(0.0015 * u);
        let mut out = [0u8; 64];
        match r.handle(req, w, tx, &mut out) {
            Action::Reply(n) => Some(out[..n].to_vec()),
            Action::Drop(_) => None,
        }
    })
}

/// ntp_proto.c's clock-hop dance: among survivors within `mindist` (1 ms)
/// of each other, ntpd keeps its system peer while their offsets differ by
/// less than a hysteresis that halves each round. Three servers a few
/// hundred µs apart, their clocks wandering: the system peer changes less
/// often with the dance than without, and is always a survivor.
#[test]
fn clock_hop_hysteresis_keeps_the_system_peer() {
    let hops = |clockhop: bool| {
        let mut rules = Rules::of(Profile::Ntpd);
        rules.clockhop = clockhop;
        rules.minpoll = 4;
        rules.maxpoll = 4;
        let peers: Vec<Peer> = vec![
            noisy(0.0, 0.0002, 1),
            noisy(0.0002, 0.0002, 2),
            noisy(-0.0002, 0.0002, 3),
        ];
        let (mut e, now) = run_with(rules, peers, 3000, true);
        let mut n = 0;
        while let Some(ev) = e.poll_event() {
            if let Event::SystemPeer {
                from: Some(_), to, ..
            } = ev
            {
                n += 1;
                assert!(to.is_some());
            }
        }
        let s = e.snapshot(now);
        let p = s.system.peer.expect("a system peer");
        assert_eq!(s.sources[p].status, Status::SystemPeer);
        n
    };
    let (with, without) = (hops(true), hops(false));
    assert!(
        with < without,
        "hops with the dance {with}, without {without}"
    );
}

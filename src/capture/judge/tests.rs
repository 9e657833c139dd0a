//! The tracker and the capture adapter on constructed packets: every verdict
//! branch, with the expected values taken from RFC 5905 (tests 2 and 3, the
//! offset and delay formulas of §8, the kiss codes of §7.4, leap 3), RFC 792 /
//! RFC 1812 for the ICMP codes, and ntpsec's `tos maxdist` (1.5 s).
//! One file: every case shares the same packet builders (`Cap`, requests,
//! replies, ICMP quotes).

use std::net::SocketAddr;

use super::*;
use crate::capture::decode::{Decoded, IcmpQuote, NtpDatagram};
use crate::capture::track::{Conv, Tracker, Ts};
use crate::diagnose::Cause;
use crate::wire::icmp::IcmpError;
use crate::wire::packet::{Leap, Mode};
use crate::wire::{NtpShort, NtpTimestamp, ReferenceId, Repr};

const CLIENT: &str = "198.51.100.2:40000";
const SERVER: &str = "198.51.100.1:123";
const BASE: i64 = 1_764_000_000;

fn a(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn ts(t: f64) -> Ts {
    Ts {
        secs: BASE + t.floor() as i64,
        nanos: ((t - t.floor()) * 1e9).round() as u32,
    }
}

fn request(xmt: u64, org: u64) -> [u8; 48] {
    Repr {
        leap: Leap::Unsynchronized,
        version: 4,
        mode: Mode::Client,
        stratum: 0,
        poll: 6,
        precision: -20,
        root_delay: NtpShort(0),
        root_dispersion: NtpShort(0),
        reference_id: ReferenceId([0; 4]),
        reference_ts: NtpTimestamp::ZERO,
        origin_ts: NtpTimestamp(org),
        receive_ts: NtpTimestamp::ZERO,
        transmit_ts: NtpTimestamp(xmt),
    }
    .to_bytes()
}

/// A server reply as RFC 5905 §9.2 builds it: origin = the request's
/// transmit, receive T2 and transmit T3 from the server's clock.
fn reply(org: u64, t2: f64, t3: f64) -> Repr {
    Repr {
        leap: Leap::NoWarning,
        version: 4,
        mode: Mode::Server,
        stratum: 2,
        poll: 6,
        precision: -20,
        root_delay: NtpShort::from_secs_f64(0.001),
        root_dispersion: NtpShort::from_secs_f64(0.001),
        reference_id: ReferenceId(*b"LOCL"),
        reference_ts: ts(t2 - 10.0).ntp(),
        origin_ts: NtpTimestamp(org),
        receive_ts: ts(t2).ntp(),
        transmit_ts: ts(t3).ntp(),
    }
}

/// A capture being written: packets numbered from 1. Every frame also
/// goes to three trackers sharing the client hosts, as `capture` reads a
/// large file on several threads; [`Cap::finish_all`] checks they hold
/// what the one tracker holds.
struct Cap {
    t: Tracker,
    no: u64,
    shards: Vec<Tracker>,
}

impl Cap {
    fn new() -> Cap {
        Cap::with(Tracker::new(120.0, 1000))
    }

    fn with(t: Tracker) -> Cap {
        Cap {
            t,
            no: 0,
            shards: (0..3)
                .map(|i| Tracker::new(120.0, 1000).shard(i, 3))
                .collect(),
        }
    }

    fn push(&mut self, d: &Decoded, at: f64) {
        self.t.push(self.no, ts(at), d);
        for t in &mut self.shards {
            t.push(self.no, ts(at), d);
        }
    }

    /// The one tracker's result, checked against the shards' joined.
    fn finish_all(self) -> crate::capture::track::Finished {
        let one = self.t.finish_all();
        if !self.shards.is_empty() {
            let joined = Tracker::finish_shards(self.shards);
            assert_eq!(
                format!("{:?}", joined.conversations),
                format!("{:?}", one.conversations)
            );
            assert_eq!(format!("{:?}", joined.groups), format!("{:?}", one.groups));
            assert_eq!(joined.stats, one.stats);
            assert_eq!(joined.nts_ke, one.nts_ke);
        }
        one
    }

    fn ntp(&mut self, at: f64, src: &str, dst: &str, payload: &[u8]) {
        self.no += 1;
        let d = Decoded::Ntp(NtpDatagram {
            src: a(src),
            dst: a(dst),
            payload,
            truncated: false,
        });
        self.push(&d, at);
    }

    fn req(&mut self, at: f64, xmt: u64, org: u64) {
        self.ntp(at, CLIENT, SERVER, &request(xmt, org));
    }

    fn rep(&mut self, at: f64, from: &str, r: Repr) {
        self.ntp(at, from, CLIENT, &r.to_bytes());
    }

    fn icmp(&mut self, at: f64, offender: &str, error: IcmpError, quoted: &[u8], to_server: bool) {
        self.no += 1;
        let (qs, qd) = if to_server {
            (a(CLIENT), a(SERVER))
        } else {
            (a(SERVER), a(CLIENT))
        };
        let d = Decoded::Icmp(IcmpQuote {
            offender: offender.parse().unwrap(),
            to: qs.ip(),
            error,
            quoted_src: qs,
            quoted_dst: qd,
            quoted_payload: quoted,
            ke: false,
        });
        self.push(&d, at);
    }

    fn convs(self) -> Vec<Conv> {
        self.finish_all()
            .conversations
            .into_iter()
            .map(|(_, c)| c)
            .collect()
    }

    /// The conversation client → SERVER.
    fn main(self) -> Conv {
        self.convs()
            .into_iter()
            .find(|c| c.server == Some(a(SERVER)))
            .expect("a conversation with the server")
    }
}

#[test]
fn good_reply_gives_ok_with_the_rfc_offset_and_delay() {
    let mut c = Cap::new();
    c.req(0.0, 0xA1, 0);
    // Server clock 0.5 s ahead: T2 = 0.005 + 0.5, T3 = 0.006 + 0.5, T4 = 0.010.
    c.rep(0.010, SERVER, reply(0xA1, 0.505, 0.506));
    let conv = c.main();
    assert_eq!((conv.requests, conv.answered, conv.valid), (1, 1, 1));
    let x = facts(&conv);
    let s = x.best.as_ref().unwrap().value.sample;
    // RFC 5905 §8: θ = ((T2 − T1) + (T3 − T4)) / 2, δ = (T4 − T1) − (T3 − T2).
    let (t1, t2, t3, t4) = (0.0, 0.505, 0.506, 0.010);
    assert!(
        (s.offset - ((t2 - t1) + (t3 - t4)) / 2.0).abs() < 1e-6,
        "{s:?}"
    );
    assert!((s.delay - ((t4 - t1) - (t3 - t2))).abs() < 1e-6, "{s:?}");
    let v = judge(&conv);
    assert_eq!(v.cause, Cause::Ok);
    assert!(v.evidence[0].contains("packet #2"), "{:?}", v.evidence);
}

#[test]
fn replies_are_paired_by_origin_not_by_order() {
    let mut c = Cap::new();
    c.req(0.0, 0xA1, 0);
    c.req(64.0, 0xB2, 0);
    c.rep(64.01, SERVER, reply(0xB2, 64.005, 64.006));
    c.rep(64.02, SERVER, reply(0xA1, 64.015, 64.016));
    let conv = c.main();
    assert_eq!((conv.requests, conv.answered, conv.valid), (2, 2, 2));
    assert_eq!(conv.unanswered(), 0);
}

#[test]
fn unanswered_requests_are_counted_and_memory_stays_bounded() {
    let mut c = Cap::new();
    for i in 0..200u64 {
        c.req(i as f64 * 64.0 / 100.0, 0x1000 + i, 0);
    }
    let conv = c.main();
    assert_eq!(conv.requests, 200);
    // The last 7 (0.64 s apart) were sent within 4 s of the capture's end.
    assert_eq!(conv.rare().pending_at_end, 7);
    assert_eq!(conv.unanswered(), 193);
    let v = judge(&conv);
    assert_eq!(v.cause, Cause::NoReply);
    assert!(
        v.notes
            .iter()
            .any(|n| n.contains("within 4 s of 7 request(s)")),
        "{:?}",
        v.notes
    );
}

#[test]
fn reply_from_another_address() {
    let mut c = Cap::new();
    c.req(0.0, 0xA1, 0);
    c.rep(0.01, "198.51.100.9:123", reply(0xA1, 0.005, 0.006));
    let convs = c.convs();
    let main = convs.iter().find(|c| c.server == Some(a(SERVER))).unwrap();
    let v = judge(main);
    assert_eq!(v.cause, Cause::ReplyFromOtherAddress);
    assert!(v.summary.contains("198.51.100.9:123"), "{}", v.summary);
    // The other address's own conversation holds only server-side
    // traffic: not judged (its reply is judged above, with its request).
    let other = convs
        .iter()
        .find(|c| c.server == Some(a("198.51.100.9:123")))
        .unwrap();
    assert_eq!(judge(other).cause, Cause::RepliesUnchecked);
}

#[test]
fn offset_over_the_1000_s_panic_threshold() {
    let mut c = Cap::new();
    c.req(0.0, 0xA1, 0);
    c.rep(0.01, SERVER, reply(0xA1, 2000.005, 2000.006));
    assert_eq!(judge(&c.main()).cause, Cause::OffsetOverPanic);
    // Just under the threshold it is still usable time.
    let mut c = Cap::new();
    c.req(0.0, 0xA1, 0);
    c.rep(0.01, SERVER, reply(0xA1, 999.005, 999.006));
    assert_eq!(judge(&c.main()).cause, Cause::Ok);
}

#[test]
fn bogus_origin_fails_test_2() {
    let mut c = Cap::new();
    c.req(0.0, 0xA1, 0);
    c.rep(0.01, SERVER, reply(0xA2, 0.005, 0.006));
    let v = judge(&c.main());
    assert_eq!(v.cause, Cause::BogusReply);
    // A spoofed KoD (wrong origin) is bogus too, never a kiss (RFC 8633 §5.4).
    let mut c = Cap::new();
    c.req(0.0, 0xA1, 0);
    let mut k = reply(0xA2, 0.005, 0.006);
    k.stratum = 0;
    k.reference_id = ReferenceId(*b"DENY");
    c.rep(0.01, SERVER, k);
    assert_eq!(judge(&c.main()).cause, Cause::BogusReply);
}

#[test]
fn malformed_replies() {
    // RFC 5905 test 3: a zero transmit timestamp is not a reply.
    let mut c = Cap::new();
    c.req(0.0, 0xA1, 0);
    let mut r = reply(0xA1, 0.005, 0.006);
    r.transmit_ts = NtpTimestamp::ZERO;
    c.rep(0.01, SERVER, r);
    assert_eq!(judge(&c.main()).cause, Cause::MalformedReply);
    // Too short for an NTP header.
    let mut c = Cap::new();
    c.req(0.0, 0xA1, 0);
    c.ntp(0.01, SERVER, CLIENT, &[0x24; 20]);
    let v = judge(&c.main());
    assert_eq!(v.cause, Cause::MalformedReply);
    assert!(v.evidence.iter().any(|e| e.contains("20 octets")), "{v:?}");
}

#[test]
fn icmp_from_a_router_names_the_router() {
    for (code, want) in [(1, Cause::HostUnreachable), (0, Cause::NetUnreachable)] {
        let mut c = Cap::new();
        let q = request(0xA1, 0);
        c.req(0.0, 0xA1, 0);
        c.icmp(3.0, "203.0.113.1", IcmpError::v4(3, code), &q, true);
        let conv = c.main();
        assert_eq!(conv.unanswered(), 0, "the error answers the request");
        let v = judge(&conv);
        assert_eq!(v.cause, want, "code {code}");
        assert!(v.summary.contains("router 203.0.113.1"), "{}", v.summary);
    }
    // From the server itself: port unreachable, said so.
    let mut c = Cap::new();
    let q = request(0xA1, 0);
    c.req(0.0, 0xA1, 0);
    c.icmp(0.001, "198.51.100.1", IcmpError::v4(3, 3), &q, true);
    let v = judge(&c.main());
    assert_eq!(v.cause, Cause::PortUnreachable);
    assert!(v.summary.contains("server itself"), "{}", v.summary);
}

#[test]
fn root_distance_over_ntpsec_maxdist() {
    let mut c = Cap::new();
    c.req(0.0, 0xA1, 0);
    let mut r = reply(0xA1, 0.005, 0.006);
    r.root_dispersion = NtpShort::from_secs_f64(2.0);
    c.rep(0.01, SERVER, r);
    let v = judge(&c.main());
    assert_eq!(v.cause, Cause::UpstreamUnsynchronized);
    assert!(v.summary.contains("root distance"), "{}", v.summary);
}

#[test]
fn kiss_and_unsynchronized_replies() {
    let mut c = Cap::new();
    c.req(0.0, 0xA1, 0);
    let mut k = reply(0xA1, 0.005, 0.006);
    k.stratum = 0;
    k.leap = Leap::Unsynchronized;
    k.reference_id = ReferenceId(*b"RATE");
    c.rep(0.01, SERVER, k);
    assert_eq!(
        judge(&c.main()).cause,
        Cause::Kod(crate::wire::KissCode::Rate)
    );

    let mut c = Cap::new();
    c.req(0.0, 0xA1, 0);
    let mut u = reply(0xA1, 0.005, 0.006);
    u.leap = Leap::Unsynchronized;
    u.stratum = 16;
    u.reference_id = ReferenceId(*b"INIT");
    c.rep(0.01, SERVER, u);
    assert_eq!(judge(&c.main()).cause, Cause::UpstreamUnsynchronized);
}

/// A client that echoes each reply's transmit in its next request's origin
/// (classic ntpd) and then stops: the replies reach the capture but not it.
#[test]
fn reply_ignored_when_the_client_stops_echoing() {
    let mut c = Cap::new();
    let mut org = 0;
    for i in 0..6u64 {
        let t = i as f64 * 64.0;
        let xmt = 0x100 + i;
        // The first two follow-ups echo, the later ones do not.
        c.req(t, xmt, if i <= 2 { org } else { 0xDEAD });
        let r = reply(xmt, t + 0.005, t + 0.006);
        org = r.transmit_ts.0;
        c.rep(t + 0.01, SERVER, r);
    }
    let conv = c.main();
    assert!(conv.echo_yes >= 2 && conv.rare().echo_no >= 2, "{conv:?}");
    let v = judge(&conv);
    assert_eq!(v.cause, Cause::ReplyIgnored);
    assert!(v.summary.contains("never received"), "{}", v.summary);
}

/// A client that never echoed (ntpsec, chrony send zero origins): no
/// reply-ignored from missing echoes.
#[test]
fn clients_that_never_echo_are_not_blamed() {
    let mut c = Cap::new();
    for i in 0..6u64 {
        let t = i as f64 * 64.0;
        c.req(t, 0x100 + i, 0);
        c.rep(t + 0.01, SERVER, reply(0x100 + i, t + 0.005, t + 0.006));
    }
    assert_eq!(judge(&c.main()).cause, Cause::Ok);
}

#[test]
fn reply_bounced_by_the_clients_host() {
    let mut c = Cap::new();
    c.req(0.0, 0xA1, 0);
    let r = reply(0xA1, 0.005, 0.006);
    c.rep(0.01, SERVER, r);
    c.icmp(
        0.011,
        "198.51.100.2",
        IcmpError::v4(3, 3),
        &r.to_bytes(),
        false,
    );
    let v = judge(&c.main());
    assert_eq!(v.cause, Cause::ReplyIgnored);
    assert!(
        v.evidence
            .iter()
            .any(|e| e.contains("from the client 198.51.100.2")),
        "{v:?}"
    );
}

#[test]
fn both_sides_in_one_capture_request_twice_reply_once_is_asymmetric() {
    let mut c = Cap::new();
    c.req(0.0, 0xA1, 0);
    c.req(0.0001, 0xA1, 0); // the same request, seen again past the router
    c.rep(0.01, SERVER, reply(0xA1, 0.005, 0.006));
    let conv = c.main();
    assert_eq!(
        (
            conv.requests,
            conv.request_sightings_max,
            conv.reply_sightings_max
        ),
        (1, 2, 1)
    );
    assert_eq!(judge(&conv).cause, Cause::AsymmetricPath);
}

/// ntpd's `limited` defaults (ntp.conf(5)): `discard minimum 1` (2 s) and
/// `average 3` (8 s).
#[test]
fn polling_faster_than_ntpd_discard_defaults() {
    let mut c = Cap::new();
    for i in 0..12u64 {
        let t = i as f64 * 1.0;
        c.req(t, 0x100 + i, 0);
        c.rep(t + 0.01, SERVER, reply(0x100 + i, t + 0.005, t + 0.006));
    }
    assert_eq!(judge(&c.main()).cause, Cause::ClientPollsTooFast);
    // Every 16 s is within both limits.
    let mut c = Cap::new();
    for i in 0..12u64 {
        let t = i as f64 * 16.0;
        c.req(t, 0x100 + i, 0);
        c.rep(t + 0.01, SERVER, reply(0x100 + i, t + 0.005, t + 0.006));
    }
    assert_eq!(judge(&c.main()).cause, Cause::Ok);
}

#[test]
fn a_capture_with_only_replies_is_not_judged_as_a_failure() {
    let mut c = Cap::new();
    c.rep(0.01, SERVER, reply(0xA1, 0.005, 0.006));
    let v = judge(&c.main());
    // Not ok either: RFC 5905 test 2 (origin) needs the request.
    assert_eq!(v.cause, Cause::RepliesUnchecked);
    assert_eq!(v.confidence, crate::diagnose::Confidence::Low);
}

/// Replies without their requests: what the header alone proves (RFC 5905
/// §7.3/§7.4: leap 3 = alarm, stratum 0 = kiss/unspecified, stratum 16 =
/// unsynchronized) and a transmit time past the 1000 s panic threshold
/// from the capture's clock. Never ok.
#[test]
fn replies_without_requests_are_judged_by_their_header_only() {
    let cases: Vec<(Repr, Cause)> = vec![
        (
            Repr {
                leap: Leap::Unsynchronized,
                ..reply(0xA1, 0.005, 0.006)
            },
            Cause::UpstreamUnsynchronized,
        ),
        (
            Repr {
                stratum: 16,
                ..reply(0xA1, 0.005, 0.006)
            },
            Cause::UpstreamUnsynchronized,
        ),
        (
            Repr {
                stratum: 0,
                reference_id: ReferenceId(*b"RATE"),
                ..reply(0xA1, 0.005, 0.006)
            },
            Cause::Kod(crate::wire::KissCode::Rate),
        ),
        (
            Repr {
                version: 0,
                ..reply(0xA1, 0.005, 0.006)
            },
            Cause::MalformedReply,
        ),
        // Ten years ahead of the capture's clock.
        (
            reply(0xA1, 315_360_000.005, 315_360_000.006),
            Cause::OffsetOverPanic,
        ),
        // 900 s ahead: under panic, nothing told.
        (reply(0xA1, 900.005, 900.006), Cause::RepliesUnchecked),
    ];
    for (r, want) in cases {
        let mut c = Cap::new();
        c.rep(0.01, SERVER, r);
        let conv = c.main();
        let v = judge(&conv);
        assert_eq!(v.cause, want, "{r:?}: {v:?}");
        assert_ne!(v.cause, Cause::Ok);
        if want != Cause::RepliesUnchecked {
            assert!(v.evidence.iter().any(|l| l.contains("packet #1")), "{v:?}");
        }
    }
}

/// A told reply whose request comes later in the file (out of time order)
/// is judged with its request, and no longer as unpaired.
#[test]
fn a_reply_told_by_header_then_paired_is_judged_with_its_request() {
    let mut c = Cap::new();
    let far = reply(0xA1, 315_360_000.005, 315_360_000.006);
    c.rep(0.010, SERVER, far);
    c.req(0.0, 0xA1, 0);
    let conv = c.main();
    assert_eq!((conv.rare().unpaired, conv.rare().unpaired_told_n), (0, 0));
    assert!(conv.rare().unpaired_told.is_none());
    let v = judge(&conv);
    assert_eq!(v.cause, Cause::OffsetOverPanic);
    assert!(
        v.evidence.iter().all(|l| !l.contains("capture's clock")),
        "{v:?}"
    );
}

/// A datagram under 48 octets from port 123 that answers a request is a
/// malformed reply, whatever mode its first octet's bits name (0x2d: mode
/// 5, broadcast).
#[test]
fn a_short_reply_is_malformed_not_a_broadcast() {
    let mut c = Cap::new();
    c.req(0.0, 0xA1, 0);
    c.ntp(0.010, SERVER, CLIENT, &[0x2d, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    let f = c.finish_all();
    assert_eq!(f.stats.broadcast, 0);
    let conv = f
        .conversations
        .into_iter()
        .map(|(_, c)| c)
        .find(|c| c.server == Some(a(SERVER)))
        .unwrap();
    let v = judge(&conv);
    assert_eq!(v.cause, Cause::MalformedReply, "{v:?}");
}

/// A request sent 2 s before the capture's last frame: its answer may be
/// after the end (a reply, or a host unreachable after ~3 s of ARP), so it
/// is pending, not unanswered (limits::ANSWER_WINDOW).
#[test]
fn a_request_near_the_end_is_pending() {
    let mut c = Cap::new();
    c.req(10.0, 0xB1, 0);
    // Another host's traffic carries the capture 2 s further.
    c.ntp(
        12.0,
        "198.51.100.7:5000",
        "198.51.100.8:123",
        &request(0xC1, 0),
    );
    let conv = c.main();
    assert_eq!((conv.rare().pending_at_end, conv.unanswered()), (1, 0));
    let v = judge(&conv);
    assert_eq!(v.cause, Cause::Pending);
    assert_eq!(v.cause.class(), crate::diagnose::Class::Ok);
    // 5 s before the end: past the window, unanswered.
    let mut c = Cap::new();
    c.req(10.0, 0xB1, 0);
    c.ntp(
        15.0,
        "198.51.100.7:5000",
        "198.51.100.8:123",
        &request(0xC1, 0),
    );
    assert_eq!(judge(&c.main()).cause, Cause::NoReply);
}

/// RFC 4330 §5: an SNTP client may send a zero transmit timestamp; the
/// server copies it into the origin. That reply answers the request.
#[test]
fn sntp_zero_transmit_is_answered_by_a_zero_origin() {
    let mut c = Cap::new();
    c.req(0.0, 0, 0);
    c.rep(0.010, SERVER, reply(0, 0.004, 0.005));
    let conv = c.main();
    assert_eq!(conv.answered, 1);
    assert_eq!(judge(&conv).cause, Cause::Ok);
    // A zero origin to a request with a real transmit answers nothing.
    let mut c = Cap::new();
    c.req(0.0, 0xD1, 0);
    c.rep(0.010, SERVER, reply(0, 0.004, 0.005));
    assert_eq!(judge(&c.main()).cause, Cause::BogusReply);
}

/// Two SNTP clients on two hosts, both with zero transmits: each reply is
/// paired with the request of its own host (by address, not the value alone).
#[test]
fn equal_transmits_pair_by_address() {
    let mut c = Cap::new();
    let other = "198.51.100.3:40000";
    c.req(0.0, 0, 0);
    c.ntp(0.001, other, SERVER, &request(0, 0));
    c.rep(0.010, SERVER, reply(0, 0.004, 0.005));
    c.ntp(0.011, SERVER, other, &reply(0, 0.005, 0.006).to_bytes());
    let convs = c.convs();
    assert_eq!(convs.len(), 2);
    for conv in &convs {
        assert_eq!((conv.answered, conv.rare().other_n), (1, 0), "{conv:?}");
        assert_eq!(judge(conv).cause, Cause::Ok);
    }
}

/// A capture out of time order (merged files, several interfaces): the
/// reply is stored before its request, and still answers it.
#[test]
fn a_reply_stored_before_its_request_pairs() {
    let mut c = Cap::new();
    c.rep(0.010, SERVER, reply(0xE1, 0.004, 0.005));
    c.req(0.0, 0xE1, 0);
    let conv = c.main();
    assert_eq!(
        (
            conv.requests,
            conv.answered,
            conv.replies,
            conv.rare().unpaired
        ),
        (1, 1, 1, 0)
    );
    let v = judge(&conv);
    assert_eq!(v.cause, Cause::Ok);
    // Its offset is the RFC 5905 one from the times on the packets.
    let (s, _, _) = conv.best.unwrap();
    assert!((s.offset - (-0.0005)).abs() < 1e-6, "{}", s.offset);
}

// ------------------------------------------------------------ server view

fn view_of(
    c: Cap,
) -> (
    Vec<crate::capture::view::ServerGroup>,
    Vec<crate::capture::view::ServerGroup>,
) {
    let f = c.finish_all();
    let servers = crate::capture::view::by_server(&f.groups);
    let hosts = f
        .groups
        .into_iter()
        .inspect(assert_headline)
        .map(|g| crate::capture::view::ServerGroup {
            client: Some(g.client()),
            server: g.server(),
            conversations: g.conversations,
            clients: 1,
            verdict: crate::capture::view::judge_host(&g),
            conv: g.conv,
        })
        .collect();
    (hosts, servers)
}

/// A table row's verdict (the cause and first line of evidence) is the
/// full verdict's.
fn assert_headline(g: &crate::capture::track::HostGroup) {
    let full = crate::capture::view::judge_host(g);
    let host = crate::capture::view::host_name(g);
    let row = crate::capture::view::headline_host(g, &host, &g.server().to_string());
    assert_eq!(
        (row.cause, row.evidence.first()),
        (full.cause, full.evidence.first()),
        "{host}"
    );
}

/// Every client host of every recorded capture: its row says what its
/// full verdict says first, and the rule that judged it names its cause.
#[test]
fn rows_say_what_full_verdicts_say_first_in_every_recorded_capture() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/pcaps");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "pcap" || x == "pcapng"))
        .collect();
    files.sort();
    assert!(files.len() >= 10, "{files:?}");
    let mut hosts = 0;
    for f in files {
        let opts = crate::capture::source::Options {
            filter: None,
            write: None,
            idle: std::time::Duration::from_secs(300),
            max_open: 100_000,
            max_kept: 10_000,
            max_hosts: 100_000,
            threads: 1,
            progress: false,
            stop: Default::default(),
        };
        let out =
            crate::capture::source::run(crate::capture::source::Input::File(f), &opts).unwrap();
        for g in &out.hosts {
            assert_headline(g);
            // The rule that judged it names the cause it gave.
            crate::diagnose::table::check_names(crate::diagnose::rules::STEPS, &facts(&g.conv))
                .unwrap();
            hosts += 1;
        }
    }
    assert!(hosts >= 10, "{hosts}");
}

/// A client that sends every request from a new source port (RFC 9109,
/// as chrony and ntpdig do) is one client host with one verdict.
#[test]
fn one_client_host_across_source_ports() {
    let mut c = Cap::new();
    for i in 0..10u64 {
        let t = i as f64 * 64.0;
        let port = format!("198.51.100.2:{}", 40000 + i);
        c.ntp(t, &port, SERVER, &request(0x100 + i, 0));
        c.ntp(
            t + 0.01,
            SERVER,
            &port,
            &reply(0x100 + i, t + 0.004, t + 0.005).to_bytes(),
        );
    }
    let (hosts, servers) = view_of(c);
    assert_eq!(hosts.len(), 1);
    let h = &hosts[0];
    assert_eq!(
        (h.conversations, h.conv.requests, h.conv.answered),
        (10, 10, 10)
    );
    assert_eq!(h.verdict.cause, Cause::Ok);
    assert!(
        h.verdict.summary.contains("asked by 198.51.100.2"),
        "{}",
        h.verdict.summary
    );
    // Request intervals run across the ports: 9 of 64 s.
    assert_eq!(h.conv.intervals, 9);
    assert!((h.conv.interval_sum / 9.0 - 64.0).abs() < 1e-6);
    assert_eq!((servers.len(), servers[0].clients), (1, 1));
}

/// Polling too fast shows only across ports: each conversation alone has
/// one request; the client host has 12, 1 s apart (ntpd's `discard
/// minimum` is 2 s).
#[test]
fn polling_too_fast_across_source_ports() {
    let mut c = Cap::new();
    for i in 0..12u64 {
        let t = i as f64;
        let port = format!("198.51.100.2:{}", 40000 + i);
        c.ntp(t, &port, SERVER, &request(0x200 + i, 0));
        c.ntp(
            t + 0.01,
            SERVER,
            &port,
            &reply(0x200 + i, t + 0.004, t + 0.005).to_bytes(),
        );
    }
    let (hosts, _) = view_of(c);
    assert_eq!(hosts[0].verdict.cause, Cause::ClientPollsTooFast);
}

/// Two client hosts of one server: one answered, one not. Each host has its
/// verdict; the server answers.
#[test]
fn per_client_host_and_per_server() {
    let mut c = Cap::new();
    c.req(0.0, 0x301, 0);
    c.rep(0.01, SERVER, reply(0x301, 0.004, 0.005));
    c.ntp(0.5, "198.51.100.3:41000", SERVER, &request(0x302, 0));
    c.ntp(
        10.0,
        "198.51.100.7:5000",
        "198.51.100.8:123",
        &request(0x303, 0),
    );
    let (hosts, servers) = view_of(c);
    let of = |ip: &str| {
        hosts
            .iter()
            .find(|h| h.client == Some(ip.parse().unwrap()) && h.server == a(SERVER))
            .unwrap()
            .verdict
            .cause
    };
    assert_eq!(of("198.51.100.2"), Cause::Ok);
    assert_eq!(of("198.51.100.3"), Cause::NoReply);
    let s = servers.iter().find(|s| s.server == a(SERVER)).unwrap();
    assert_eq!(
        (s.clients, s.conversations, s.verdict.cause),
        (2, 2, Cause::Ok)
    );
}

/// Mode 7 `monlist` requests (ntp_request.h: octet 0 R|M|VN|mode, octet 3
/// the request code, MON_GETLIST_1 = 42, MON_GETLIST = 20), mode 6 queries
/// and answers (RFC 1305 appendix B: the response bit), broadcasts and
/// symmetric peers are counted, never made into conversations.
#[test]
fn modes_outside_client_server_are_counted() {
    let mut c = Cap::new();
    let mut monlist = [0u8; 48];
    monlist[0] = 0x17; // version 2, mode 7
    monlist[2] = 3; // IMPL_XNTPD
    monlist[3] = 42; // MON_GETLIST_1
    c.ntp(0.0, CLIENT, SERVER, &monlist);
    let mut q = [0u8; 12];
    q[0] = 0x16; // version 2, mode 6
    q[1] = 1; // read status
    c.ntp(0.1, CLIENT, SERVER, &q);
    q[1] = 0x81; // its response
    c.ntp(0.2, SERVER, CLIENT, &q);
    let mut b = request(0x400, 0);
    b[0] = 0x25; // version 4, mode 5
    c.ntp(0.3, SERVER, "198.51.100.255:123", &b);
    let mut sym = request(0x401, 0);
    sym[0] = 0x21; // version 4, mode 1
    c.ntp(0.4, "198.51.100.2:123", SERVER, &sym);
    let f = c.finish_all();
    let (convs, s) = (f.conversations, f.stats);
    assert!(convs.is_empty(), "{convs:?}");
    assert_eq!(
        (
            s.private,
            s.monlist,
            s.control_queries,
            s.control_answers,
            s.broadcast,
            s.symmetric
        ),
        (1, 1, 1, 1, 1, 1)
    );
    assert_eq!(s.versions[4], 2);
}

/// A reply with a wrong origin (spoofed or stale) arrives before the
/// genuine one; the client takes it and closes its socket, so the genuine
/// reply bounces off the client's host: the verdict says which client.
#[test]
fn a_wrong_origin_taken_first_then_the_genuine_reply_bounces() {
    let mut c = Cap::new();
    c.req(0.0, 0xF1, 0);
    c.rep(0.004, SERVER, reply(0xBAD, 0.002, 0.003));
    let r = reply(0xF1, 0.005, 0.006);
    c.rep(0.01, SERVER, r);
    c.icmp(
        0.011,
        "198.51.100.2",
        IcmpError::v4(3, 3),
        &r.to_bytes(),
        false,
    );
    let v = judge(&c.main());
    assert_eq!(v.cause, Cause::ReplyIgnored);
    assert!(
        v.evidence.iter().any(|e| e
            .contains("before it, a reply with a wrong origin arrived (packet #2")
            && e.contains("the client 198.51.100.2:40000 took that one")),
        "{v:?}"
    );
    // Without the bounce, the server gives good time and the wrong origin
    // is evidence beside it.
    let mut c = Cap::new();
    c.req(0.0, 0xF2, 0);
    c.rep(0.004, SERVER, reply(0xBAD, 0.002, 0.003));
    c.rep(0.01, SERVER, reply(0xF2, 0.005, 0.006));
    let v = judge(&c.main());
    assert_eq!(v.cause, Cause::Ok);
    assert!(
        v.evidence
            .iter()
            .any(|e| e.contains("failed the origin test")),
        "{v:?}"
    );
}

/// A stray reply after every request was answered: its evidence names its
/// origin and says it matches no request — never the stand-in nonce the
/// judgement used internally.
#[test]
fn evidence_never_prints_a_placeholder() {
    let mut c = Cap::new();
    c.req(0.0, 0xF3, 0);
    c.rep(0.01, SERVER, reply(0xF3, 0.005, 0.006));
    c.rep(0.50, SERVER, reply(0x77, 0.49, 0.495));
    let conv = c.main();
    let (_, detail) = conv.rare().bogus.clone().unwrap();
    assert!(
        detail.contains("is the transmit of none of this client's requests"),
        "{detail}"
    );
    let v = judge(&conv);
    let all = format!("{v:?}");
    assert!(!all.contains("00000000.00000001"), "{all}");
}

/// Beyond the detail bound, conversations are folded into their client
/// host's totals: the server view stays complete, and says how many.
#[test]
fn conversations_past_the_bound_are_folded_not_lost() {
    // Bounds are per shard: checked on one tracker only.
    let mut c = Cap {
        shards: Vec::new(),
        ..Cap::with(Tracker::new(120.0, 1000).max_kept(2))
    };
    for i in 0..5u64 {
        let t = i as f64 * 64.0;
        let port = format!("198.51.100.2:{}", 40000 + i);
        c.ntp(t, &port, SERVER, &request(0x500 + i, 0));
        c.ntp(
            t + 0.01,
            SERVER,
            &port,
            &reply(0x500 + i, t + 0.004, t + 0.005).to_bytes(),
        );
    }
    let f = c.t.finish_all();
    assert_eq!((f.conversations.len(), f.stats.folded), (2, 3));
    assert_eq!(f.groups.len(), 1);
    assert_eq!(
        (f.groups[0].conversations, f.groups[0].conv.requests),
        (5, 5)
    );
}

/// What follows the header: a crypto-NAK is a 4-octet MAC (RFC 5905 §7.3,
/// key id 0, no digest); a MAC is a key id and a 16- or 20-octet digest
/// (RFC 8573); NTS is extension fields of RFC 8915's types (RFC 7822
/// framing: length a multiple of 4, at least 16).
#[test]
fn trailers() {
    use crate::capture::track::{Trailer, trailer};
    assert_eq!(trailer(&[0; 4]), Trailer::CryptoNak);
    assert_eq!(trailer(&[0; 20]), Trailer::Mac);
    assert_eq!(trailer(&[0; 24]), Trailer::Mac);
    let mut nts = vec![];
    for (ty, len) in [(0x0104u16, 36u16), (0x0204, 104), (0x0404, 40)] {
        nts.extend_from_slice(&ty.to_be_bytes());
        nts.extend_from_slice(&len.to_be_bytes());
        nts.resize(nts.len() + len as usize - 4, 0xab);
    }
    assert_eq!(trailer(&nts), Trailer::Nts);
    assert_eq!(trailer(&nts[..nts.len() - 1]), Trailer::Other);
    assert_eq!(trailer(&[1, 2, 3]), Trailer::Other);
}

/// Beyond the host bound, new client hosts are summed per server as
/// "other client hosts": the server's totals stay complete.
#[test]
fn client_hosts_past_the_bound_are_summed_per_server() {
    let mut c = Cap {
        shards: Vec::new(),
        ..Cap::with(Tracker::new(120.0, 1000).max_hosts(2))
    };
    for i in 0..5u64 {
        let t = i as f64;
        let client = format!("198.51.100.{}:40000", 10 + i);
        c.ntp(t, &client, SERVER, &request(0x700 + i, 0));
        c.ntp(
            t + 0.01,
            SERVER,
            &client,
            &reply(0x700 + i, t + 0.004, t + 0.005).to_bytes(),
        );
    }
    let f = c.t.finish_all();
    assert_eq!(f.stats.hosts_folded, 3);
    let named: Vec<_> = f.groups.iter().filter(|g| !g.others).collect();
    let others: Vec<_> = f.groups.iter().filter(|g| g.others).collect();
    assert_eq!((named.len(), others.len()), (2, 1));
    assert_eq!(
        (
            others[0].conversations,
            others[0].conv.requests,
            others[0].conv.answered
        ),
        (3, 3, 3)
    );
    assert_eq!(
        crate::capture::view::host_name(others[0]),
        "other client hosts"
    );
    let servers = crate::capture::view::by_server(&f.groups);
    assert_eq!((servers.len(), servers[0].conv.requests), (1, 5));
}

/// Many client hosts, each with what a busy server's capture holds:
/// answered and unanswered requests, a kiss, a reply from another address,
/// an ICMP error from a router, a reply stored before its request, SNTP's
/// zero transmit, requests pending at the end, several source ports. Three
/// trackers sharing the client hosts ([`Cap::finish_all`]) hold what one
/// holds, and so does a detail bound that the shares split.
#[test]
fn shards_hold_what_one_tracker_holds() {
    for max_kept in [usize::MAX, 7] {
        let mut c = Cap {
            shards: (0..3)
                .map(|i| Tracker::new(120.0, 1000).max_kept(max_kept).shard(i, 3))
                .collect(),
            ..Cap::with(Tracker::new(120.0, 1000).max_kept(max_kept))
        };
        for h in 0..24u64 {
            let server = format!("203.0.113.{}:123", 1 + h % 3);
            let t0 = h as f64 * 0.5;
            for r in 0..4u64 {
                let t = t0 + r as f64 * 64.0;
                let client = format!("198.51.100.{}:{}", 10 + h, 40000 + (r % (1 + h % 2)));
                let xmt = (h << 32) | (r + 1);
                c.ntp(t, &client, &server, &request(xmt, 0));
                match (h + r) % 6 {
                    0 => {}
                    1 => {
                        let mut k = reply(xmt, t + 0.004, t + 0.005);
                        k.stratum = 0;
                        k.leap = Leap::Unsynchronized;
                        k.reference_id = ReferenceId(*b"RATE");
                        c.ntp(t + 0.01, &server, &client, &k.to_bytes());
                    }
                    2 => c.ntp(
                        t + 0.01,
                        "203.0.113.9:123",
                        &client,
                        &reply(xmt, t + 0.004, t + 0.005).to_bytes(),
                    ),
                    3 => {
                        c.no += 1;
                        let q = request(xmt, 0);
                        let d = Decoded::Icmp(IcmpQuote {
                            offender: "198.51.100.254".parse().unwrap(),
                            to: a(&client).ip(),
                            error: IcmpError::v4(3, 1),
                            quoted_src: a(&client),
                            quoted_dst: a(&server),
                            quoted_payload: &q,
                            ke: false,
                        });
                        c.push(&d, t + 0.02);
                    }
                    _ => c.ntp(
                        t + 0.01,
                        &server,
                        &client,
                        &reply(xmt, t + 0.004, t + 0.005).to_bytes(),
                    ),
                }
            }
            // A reply stored before its request, and SNTP's zero transmit.
            let client = format!("198.51.100.{}:50000", 10 + h);
            let t = 300.0 + h as f64;
            c.ntp(
                t + 0.01,
                &server,
                &client,
                &reply(h + 0x900, t + 0.004, t + 0.005).to_bytes(),
            );
            c.ntp(t, &client, &server, &request(h + 0x900, 0));
            c.ntp(t + 1.0, &client, &server, &request(0, 0));
            c.ntp(
                t + 1.01,
                &server,
                &client,
                &reply(0, t + 1.004, t + 1.005).to_bytes(),
            );
        }
        // Requests young when the capture ends.
        c.ntp(
            400.0,
            "198.51.100.10:40000",
            "203.0.113.1:123",
            &request(0xabc, 0),
        );
        c.ntp(
            400.5,
            "198.51.100.11:40000",
            "203.0.113.2:123",
            &request(0xabd, 0),
        );
        let f = c.finish_all();
        // A group per (client host, server), the other address's too.
        assert!(f.groups.len() > 24, "{}", f.groups.len());
        if max_kept == 7 {
            assert_eq!(f.conversations.len(), 7);
        }
    }
}

/// A conversation idle longer than `idle` (capture time) is closed: the
/// client's next request from the same port starts a new one. The sweeps
/// that find nothing to close are skipped; this one must not be.
#[test]
fn an_idle_conversation_is_closed_and_a_later_request_starts_another() {
    let mut c = Cap::new(); // idle 120 s
    let (ca, cb) = ("198.51.100.2:40000", "198.51.100.3:40000");
    c.ntp(0.0, ca, SERVER, &request(0x10, 0));
    c.ntp(100.0, cb, SERVER, &request(0x20, 0));
    // Swept after this frame: A's last packet is 170 s old.
    c.ntp(170.0, cb, SERVER, &request(0x21, 0));
    c.ntp(180.0, ca, SERVER, &request(0x11, 0));
    // Not swept: B's last packet is 120 s old, not more.
    c.ntp(290.0, cb, SERVER, &request(0x22, 0));
    c.ntp(295.0, cb, SERVER, &request(0x23, 0));
    let convs = c.convs();
    let of = |who: &str| {
        convs
            .iter()
            .filter(|x| x.client == Some(a(who)))
            .map(|x| x.requests)
            .collect::<Vec<_>>()
    };
    assert_eq!(of(ca), vec![1, 1]);
    assert_eq!(of(cb), vec![4]);
}

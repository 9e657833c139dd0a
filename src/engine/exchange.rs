//! One client request and the judgement of a reply to it (RFC 5905 §8, §9.2,
//! Appendix A.5.1.1; RFC 8633 §5.4; RFC 9109).
//!
//! The request carries a random transmit timestamp (a nonce), not the local
//! time: the server copies it into the reply's origin field, which proves the
//! reply answers this request and reveals nothing about our clock. The real
//! send time T1 is kept locally.
//!
//! Judging a reply takes its bytes and the local receive time T4; nothing here
//! reads a clock or touches a socket.

use crate::wire::packet::{Leap, Mode, Packet, Repr, Trailer};
use crate::wire::timestamp::log2_secs;
use crate::wire::{KissCode, NtpDuration, NtpTimestamp, WireError};

use super::limits::{MAXDISP, MAXSTRAT, MINDISP, PHI};

/// A request that was sent: what the reply must echo, and when it left.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Request {
    /// The random transmit timestamp we sent; the reply's origin must equal it.
    pub nonce: NtpTimestamp,
    /// Local time the request left (T1).
    pub t1: NtpTimestamp,
    pub version: u8,
    /// log2 of the local clock's precision, for the dispersion estimate.
    pub local_precision: i8,
}

/// Builds the 48-octet client request: leap 3 (we claim nothing about our
/// clock), the version, mode 3, the poll exponent, and the nonce as transmit
/// timestamp. Every other field is zero (data minimisation).
pub fn build_request(nonce: NtpTimestamp, version: u8, poll: i8) -> [u8; 48] {
    Repr {
        leap: Leap::Unsynchronized,
        version,
        mode: Mode::Client,
        stratum: 0,
        poll,
        precision: 0,
        root_delay: Default::default(),
        root_dispersion: Default::default(),
        reference_id: Default::default(),
        reference_ts: NtpTimestamp::ZERO,
        origin_ts: NtpTimestamp::ZERO,
        receive_ts: NtpTimestamp::ZERO,
        transmit_ts: nonce,
    }
    .to_bytes()
}

/// Why a reply says the server has no good time to give.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum UnsyncReason {
    /// Leap indicator 3 (alarm).
    LeapAlarm,
    /// Stratum 0 whose refid is not a kiss code (often all zero).
    Stratum0NoCode,
    /// Stratum 0 with INIT or STEP: a state, not a refusal.
    KissState(KissCode),
    /// Stratum 16 or more.
    Stratum16,
    /// Root delay/2 + root dispersion ≥ MAXDISP (16 s), RFC 5905 test 7.
    RootDistance,
}

impl UnsyncReason {
    pub fn describe(self) -> &'static str {
        match self {
            UnsyncReason::LeapAlarm => "leap indicator 3 (alarm: clock not synchronized)",
            UnsyncReason::Stratum0NoCode => "stratum 0 without a kiss code (unspecified/invalid)",
            UnsyncReason::KissState(KissCode::Step) => {
                "stratum 0, refid STEP: the server stepped its clock and has not resynchronized"
            }
            UnsyncReason::KissState(_) => {
                "stratum 0, refid INIT: the server has not synchronized since it started"
            }
            UnsyncReason::Stratum16 => "stratum 16 (unsynchronized)",
            UnsyncReason::RootDistance => {
                "root delay/2 + root dispersion ≥ 16 s: its time is too uncertain to use"
            }
        }
    }
}

/// Why a reply was discarded as bogus (RFC 5905 test 2 / ntpsec BOGON2–3).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum BogusReason {
    /// The origin timestamp does not equal the nonce we sent.
    OriginMismatch {
        expected: NtpTimestamp,
        got: NtpTimestamp,
    },
    /// The origin timestamp is zero.
    ZeroOrigin,
}

/// Why a reply is not a valid server reply at all.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum InvalidReason {
    Wire(WireError),
    WrongMode(Mode),
    BadVersion(u8),
    /// Receive or transmit timestamp zero (RFC 5905 test 3).
    ZeroTimestamp(&'static str),
    /// Reference time later than transmit time (test 7).
    ReferenceAfterTransmit,
}

impl InvalidReason {
    pub fn describe(&self) -> String {
        match self {
            InvalidReason::Wire(e) => e.to_string(),
            InvalidReason::WrongMode(m) => {
                format!("mode {m} where a server reply (mode 4) was expected")
            }
            InvalidReason::BadVersion(v) => format!("version {v}: NTP versions are 1 to 4"),
            InvalidReason::ZeroTimestamp(which) => format!("{which} timestamp is zero"),
            InvalidReason::ReferenceAfterTransmit => {
                "reference time is later than transmit time".to_string()
            }
        }
    }
}

/// The class of a received datagram, in the order the tests are applied.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum ReplyClass {
    /// A usable server reply.
    Valid,
    /// A genuine reply (origin matched) from a server with no good time.
    Unsynchronized(UnsyncReason),
    /// A Kiss-o'-Death whose origin matched: it counts (RFC 8633 §5.4).
    Kiss(KissCode),
    /// Not an answer to our request; a KoD here is ignored (CVE-2015-7704).
    Bogus(BogusReason),
    /// The same reply again (RFC 5905 test 1).
    Duplicate,
    /// Not a well-formed server reply.
    Invalid(InvalidReason),
}

impl ReplyClass {
    /// True when the reply provably answers the request (origin matched).
    pub fn answers_request(&self) -> bool {
        matches!(
            self,
            ReplyClass::Valid | ReplyClass::Unsynchronized(_) | ReplyClass::Kiss(_)
        )
    }

    pub fn label(&self) -> String {
        match self {
            ReplyClass::Valid => "valid".into(),
            ReplyClass::Unsynchronized(r) => format!("server unsynchronized: {}", r.describe()),
            ReplyClass::Kiss(c) => format!("Kiss-o'-Death {}: {}", c.text(), c.meaning()),
            ReplyClass::Bogus(BogusReason::OriginMismatch { expected, got }) => format!(
                "bogus: origin {} is not our transmit {}",
                got.hex(),
                expected.hex()
            ),
            ReplyClass::Bogus(BogusReason::ZeroOrigin) => "bogus: origin timestamp is zero".into(),
            ReplyClass::Duplicate => "duplicate of an earlier reply".into(),
            ReplyClass::Invalid(r) => format!("invalid: {}", r.describe()),
        }
    }
}

/// Offset, delay, dispersion and root distance from one exchange (RFC 5905
/// §8 and A.5.1.1, A.5.5.2 with one sample: jitter 0, age 0).
#[derive(Clone, Copy, PartialEq, Debug)]
pub struct Sample {
    /// Server clock minus local clock (s): ((T2 − T1) + (T3 − T4)) / 2.
    pub offset: f64,
    /// Round trip (s): (T4 − T1) − (T3 − T2), at least the local precision.
    pub delay: f64,
    /// 2^ρ(server) + 2^ρ(local) + PHI·(T4 − T1) (s).
    pub dispersion: f64,
    /// max(MINDISP, root delay + delay)/2 + root dispersion + dispersion (s).
    pub root_distance: f64,
}

/// Computes a sample from the four timestamps and the server header.
pub fn compute_sample(
    t1: NtpTimestamp,
    t2: NtpTimestamp,
    t3: NtpTimestamp,
    t4: NtpTimestamp,
    server: &Repr,
    local_precision: i8,
) -> Sample {
    let a = t2.since(t1).0 as i128;
    let b = t3.since(t4).0 as i128;
    let offset = NtpDuration(((a + b) / 2) as i64).as_secs_f64();
    let round = t4.since(t1).0 as i128 - t3.since(t2).0 as i128;
    let delay = (round as f64 / 4_294_967_296.0).max(log2_secs(local_precision));
    let dispersion = log2_secs(server.precision)
        + log2_secs(local_precision)
        + PHI * t4.since(t1).as_secs_f64().max(0.0);
    let root_distance = (server.root_delay.as_secs_f64() + delay).max(MINDISP) / 2.0
        + server.root_dispersion.as_secs_f64()
        + dispersion;
    Sample {
        offset,
        delay,
        dispersion,
        root_distance,
    }
}

/// Everything learnt from one received datagram.
#[derive(Clone, PartialEq, Debug)]
pub struct Judgement {
    /// The header, when there were at least 48 octets.
    pub header: Option<Repr>,
    /// Extension fields/MAC found after the header.
    pub trailer: Option<Result<Trailer, WireError>>,
    pub class: ReplyClass,
    /// Present when the timestamps allow it (valid or unsynchronized replies).
    pub sample: Option<Sample>,
}

/// Judges a datagram received for `req` at local time `t4`.
/// `previous_transmit` is the transmit timestamp of an earlier reply to the
/// same request, if any (duplicate test).
pub fn judge_reply(
    req: &Request,
    bytes: &[u8],
    t4: NtpTimestamp,
    previous_transmit: Option<NtpTimestamp>,
) -> Judgement {
    let packet = match Packet::new_checked(bytes) {
        Ok(p) => p,
        Err(e) => {
            return Judgement {
                header: None,
                trailer: None,
                class: ReplyClass::Invalid(InvalidReason::Wire(e)),
                sample: None,
            };
        }
    };
    let h = Repr::parse(&packet);
    let trailer = if packet.trailer_bytes().is_empty() {
        None
    } else {
        Some(packet.trailer())
    };
    let class = classify(req, &h, previous_transmit);
    let sample = match class {
        ReplyClass::Valid | ReplyClass::Unsynchronized(_)
            if !h.receive_ts.is_zero() && !h.transmit_ts.is_zero() =>
        {
            Some(compute_sample(
                req.t1,
                h.receive_ts,
                h.transmit_ts,
                t4,
                &h,
                req.local_precision,
            ))
        }
        _ => None,
    };
    Judgement {
        header: Some(h),
        trailer,
        class,
        sample,
    }
}

/// What a reply's header alone proves when its request is not at hand (a
/// capture of one direction, or one begun mid-exchange): every test of
/// RFC 5905 §8 that needs no request (mode, version, kiss code, leap,
/// stratum, zero timestamps, root distance). The origin test (test 2)
/// cannot be applied, so [`ReplyClass::Valid`] here proves nothing about
/// the exchange: only that the header has no fault of its own.
pub fn classify_header(bytes: &[u8]) -> (Option<Repr>, ReplyClass) {
    let packet = match Packet::new_checked(bytes) {
        Ok(p) => p,
        Err(e) => return (None, ReplyClass::Invalid(InvalidReason::Wire(e))),
    };
    let h = Repr::parse(&packet);
    // Read as if it answered: the request's nonce is the reply's origin.
    let req = Request {
        nonce: h.origin_ts,
        t1: NtpTimestamp::ZERO,
        version: h.version,
        local_precision: -20,
    };
    (Some(h), classify(&req, &h, None))
}

fn classify(req: &Request, h: &Repr, previous_transmit: Option<NtpTimestamp>) -> ReplyClass {
    if h.mode != Mode::Server {
        return ReplyClass::Invalid(InvalidReason::WrongMode(h.mode));
    }
    if h.version == 0 || h.version > 4 {
        return ReplyClass::Invalid(InvalidReason::BadVersion(h.version));
    }
    // Origin first: a packet that does not answer our request proves nothing,
    // a KoD included (RFC 8633 §5.4).
    // A zero origin answers nothing — unless the request's transmit was
    // zero too: SNTP clients may send one (RFC 4330 §5), and the server
    // copies it.
    if h.origin_ts.is_zero() && !req.nonce.is_zero() {
        return ReplyClass::Bogus(BogusReason::ZeroOrigin);
    }
    if h.origin_ts != req.nonce {
        return ReplyClass::Bogus(BogusReason::OriginMismatch {
            expected: req.nonce,
            got: h.origin_ts,
        });
    }
    if previous_transmit == Some(h.transmit_ts) {
        return ReplyClass::Duplicate;
    }
    if h.stratum == 0 {
        if KissCode::looks_like_code(h.reference_id.0) {
            return match KissCode::from_bytes(h.reference_id.0) {
                c @ (KissCode::Init | KissCode::Step) => {
                    ReplyClass::Unsynchronized(UnsyncReason::KissState(c))
                }
                c => ReplyClass::Kiss(c),
            };
        }
        return ReplyClass::Unsynchronized(UnsyncReason::Stratum0NoCode);
    }
    if h.leap == Leap::Unsynchronized {
        return ReplyClass::Unsynchronized(UnsyncReason::LeapAlarm);
    }
    if h.stratum >= MAXSTRAT {
        return ReplyClass::Unsynchronized(UnsyncReason::Stratum16);
    }
    if h.receive_ts.is_zero() {
        return ReplyClass::Invalid(InvalidReason::ZeroTimestamp("receive"));
    }
    if h.transmit_ts.is_zero() {
        return ReplyClass::Invalid(InvalidReason::ZeroTimestamp("transmit"));
    }
    if h.root_delay.as_secs_f64() / 2.0 + h.root_dispersion.as_secs_f64() >= MAXDISP {
        return ReplyClass::Unsynchronized(UnsyncReason::RootDistance);
    }
    // A zero reference time is left to the diagnosis to remark on; one more
    // than a second after the transmit time is bad header data.
    if !h.reference_ts.is_zero() && h.transmit_ts.since(h.reference_ts).as_secs_f64() < -1.0 {
        return ReplyClass::Invalid(InvalidReason::ReferenceAfterTransmit);
    }
    ReplyClass::Valid
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{NtpShort, ReferenceId};

    fn ts(s: f64) -> NtpTimestamp {
        NtpTimestamp((s * 4_294_967_296.0) as u64)
    }

    fn req(nonce: u64, t1: NtpTimestamp) -> Request {
        Request {
            nonce: NtpTimestamp(nonce),
            t1,
            version: 4,
            local_precision: -20,
        }
    }

    fn server_reply(nonce: u64, rx: NtpTimestamp, tx: NtpTimestamp) -> Repr {
        Repr {
            leap: Leap::NoWarning,
            version: 4,
            mode: Mode::Server,
            stratum: 2,
            poll: 6,
            precision: -20,
            root_delay: NtpShort::from_secs_f64(0.010),
            root_dispersion: NtpShort::from_secs_f64(0.020),
            reference_id: ReferenceId([192, 0, 2, 1]),
            reference_ts: ts(3_900_000_000.0),
            origin_ts: NtpTimestamp(nonce),
            receive_ts: rx,
            transmit_ts: tx,
        }
    }

    #[test]
    fn request_layout() {
        let b = build_request(NtpTimestamp(0x0102030405060708), 4, 6);
        assert_eq!(b[0], 0xe3); // LI 3, VN 4, mode 3 — as ntpdig sends
        assert_eq!(b[2], 6);
        assert_eq!(&b[40..48], &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert!(b[1..40].iter().enumerate().all(|(i, &x)| i == 1 || x == 0));
    }

    /// RFC 5905 §8: offset θ = ((T2−T1) + (T3−T4))/2, delay δ = (T4−T1) − (T3−T2).
    /// With the server 10 s ahead, 50 ms each way and 10 ms inside the server:
    /// T1 = 100, T2 = 110.05, T3 = 110.06, T4 = 100.11 → θ = 10, δ = 0.1.
    #[test]
    fn offset_and_delay_formulas() {
        let base = 3_900_000_000.0;
        let (t1, t2, t3, t4) = (
            ts(base + 100.0),
            ts(base + 110.05),
            ts(base + 110.06),
            ts(base + 100.11),
        );
        let h = server_reply(1, t2, t3);
        let s = compute_sample(t1, t2, t3, t4, &h, -20);
        assert!((s.offset - 10.0).abs() < 1e-6, "offset {}", s.offset);
        assert!((s.delay - 0.1).abs() < 1e-6, "delay {}", s.delay);
        // dispersion: 2^-20 + 2^-20 + 15e-6 * 0.11
        let disp = 2.0 * 2f64.powi(-20) + PHI * 0.11;
        assert!((s.dispersion - disp).abs() < 1e-9);
        // root distance: (0.010 + 0.1)/2 + 0.020 + disp (short format rounding ≤ 2^-16)
        assert!((s.root_distance - (0.055 + 0.020 + disp)).abs() < 1e-4);
    }

    #[test]
    fn negative_offset_and_rollover() {
        // Client 2 s ahead; exchange straddles the 2036 era boundary.
        let era_end = 4_294_967_296.0;
        let (t1, t4) = (
            ts(era_end - 0.5 + 2.0 - 4_294_967_296.0),
            ts(era_end + 0.5 + 2.0 - 4_294_967_296.0),
        );
        let (t2, t3) = (ts(era_end - 0.25), ts(era_end - 0.2));
        let s = compute_sample(t1, t2, t3, t4, &server_reply(1, t2, t3), -20);
        assert!((s.offset + 2.225).abs() < 1e-6, "offset {}", s.offset);
        assert!((s.delay - 0.95).abs() < 1e-6, "delay {}", s.delay);
    }

    #[test]
    fn delay_is_at_least_the_precision() {
        let t = ts(3_900_000_000.0);
        let s = compute_sample(t, t, t, t, &server_reply(1, t, t), -10);
        assert_eq!(s.delay, 2f64.powi(-10));
    }

    fn judge(h: &Repr, nonce: u64) -> ReplyClass {
        let t1 = ts(3_900_000_000.0);
        judge_reply(&req(nonce, t1), &h.to_bytes(), ts(3_900_000_000.01), None).class
    }

    #[test]
    fn classification_order() {
        let rx = ts(3_900_000_000.004);
        let tx = ts(3_900_000_000.005);
        let good = server_reply(7, rx, tx);
        assert_eq!(judge(&good, 7), ReplyClass::Valid);

        // Wrong origin, even on a KoD: bogus, never a kiss (CVE-2015-7704).
        let mut kod = good;
        kod.stratum = 0;
        kod.reference_id = ReferenceId(*b"DENY");
        assert!(matches!(
            judge(&kod, 8),
            ReplyClass::Bogus(BogusReason::OriginMismatch { .. })
        ));
        assert_eq!(judge(&kod, 7), ReplyClass::Kiss(KissCode::Deny));

        // ntpsec's fresh reply: leap 3, stratum 0, INIT → unsynchronized, not access.
        let mut init = good;
        init.leap = Leap::Unsynchronized;
        init.stratum = 0;
        init.reference_id = ReferenceId(*b"INIT");
        assert_eq!(
            judge(&init, 7),
            ReplyClass::Unsynchronized(UnsyncReason::KissState(KissCode::Init))
        );
        let mut step = init;
        step.reference_id = ReferenceId(*b"STEP");
        assert_eq!(
            judge(&step, 7),
            ReplyClass::Unsynchronized(UnsyncReason::KissState(KissCode::Step))
        );
        let mut zero = init;
        zero.reference_id = ReferenceId([0; 4]);
        assert_eq!(
            judge(&zero, 7),
            ReplyClass::Unsynchronized(UnsyncReason::Stratum0NoCode)
        );

        let mut xfac = good;
        xfac.stratum = 16;
        xfac.reference_id = ReferenceId(*b"XFAC");
        assert_eq!(
            judge(&xfac, 7),
            ReplyClass::Unsynchronized(UnsyncReason::Stratum16)
        );
        let mut leap = good;
        leap.leap = Leap::Unsynchronized;
        assert_eq!(
            judge(&leap, 7),
            ReplyClass::Unsynchronized(UnsyncReason::LeapAlarm)
        );

        let mut mode = good;
        mode.mode = Mode::Client;
        assert_eq!(
            judge(&mode, 7),
            ReplyClass::Invalid(InvalidReason::WrongMode(Mode::Client))
        );
        let mut ver = good;
        ver.version = 5;
        assert_eq!(
            judge(&ver, 7),
            ReplyClass::Invalid(InvalidReason::BadVersion(5))
        );
        let mut zo = good;
        zo.origin_ts = NtpTimestamp::ZERO;
        assert_eq!(judge(&zo, 7), ReplyClass::Bogus(BogusReason::ZeroOrigin));
        // An SNTP request with a zero transmit (RFC 4330 §5) is answered by
        // a zero origin.
        assert_eq!(judge(&zo, 0), ReplyClass::Valid);
        let mut zr = good;
        zr.receive_ts = NtpTimestamp::ZERO;
        assert_eq!(
            judge(&zr, 7),
            ReplyClass::Invalid(InvalidReason::ZeroTimestamp("receive"))
        );
        let mut far = good;
        far.root_dispersion = NtpShort::from_secs_f64(17.0);
        assert_eq!(
            judge(&far, 7),
            ReplyClass::Unsynchronized(UnsyncReason::RootDistance)
        );
        let mut future = good;
        future.reference_ts = ts(3_900_000_100.0);
        assert_eq!(
            judge(&future, 7),
            ReplyClass::Invalid(InvalidReason::ReferenceAfterTransmit)
        );
        for v in 1..=4 {
            let mut old = good;
            old.version = v;
            assert_eq!(judge(&old, 7), ReplyClass::Valid);
        }
    }

    #[test]
    fn duplicates_and_truncation() {
        let t1 = ts(3_900_000_000.0);
        let r = req(7, t1);
        let h = server_reply(7, ts(3_900_000_000.004), ts(3_900_000_000.005));
        let j = judge_reply(&r, &h.to_bytes(), ts(3_900_000_000.01), Some(h.transmit_ts));
        assert_eq!(j.class, ReplyClass::Duplicate);
        let j = judge_reply(&r, &h.to_bytes()[..20], ts(3_900_000_000.01), None);
        assert_eq!(
            j.class,
            ReplyClass::Invalid(InvalidReason::Wire(WireError::Truncated {
                needed: 48,
                got: 20
            }))
        );
        assert!(j.header.is_none());
        let mut long = h.to_bytes().to_vec();
        long.extend_from_slice(&[0u8; 20]);
        let j = judge_reply(&r, &long, ts(3_900_000_000.01), None);
        assert_eq!(j.class, ReplyClass::Valid);
        assert!(matches!(j.trailer, Some(Ok(Trailer { mac: Some(_), .. }))));
    }

    #[test]
    fn kod_has_no_sample() {
        let t1 = ts(3_900_000_000.0);
        let mut h = server_reply(7, ts(3_900_000_000.004), ts(3_900_000_000.005));
        h.stratum = 0;
        h.reference_id = ReferenceId(*b"RATE");
        let j = judge_reply(&req(7, t1), &h.to_bytes(), ts(3_900_000_000.01), None);
        assert_eq!(j.class, ReplyClass::Kiss(KissCode::Rate));
        assert!(j.sample.is_none());
    }
}

//! Any bytes as a received NTP datagram: parsing, the trailer walk, the
//! client's judgement and every description of the result must not panic,
//! and a parsed header must emit back to the same 48 octets.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ntpdiag::engine::exchange::{Request, judge_reply};
use ntpdiag::wire::{NtpDate, NtpTimestamp, Packet, Repr};

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = Packet::new_checked(data) {
        let r = Repr::parse(&p);
        assert_eq!(&r.to_bytes()[..], &data[..48]);
        let _ = p.trailer();
        let _ = r.reference_id.describe(r.stratum);
        let pivot = NtpDate::from_unix(1_764_000_000, 0);
        for t in [r.reference_ts, r.origin_ts, r.receive_ts, r.transmit_ts] {
            let _ = t.to_date_near(pivot).utc_string();
        }
    }
    // Judge it as a reply to a request whose nonce is the datagram's own
    // origin field (so the deeper tests run) and to one that is not.
    let origin = data.get(24..32).map_or(1, |b| u64::from_be_bytes(b.try_into().unwrap()));
    for nonce in [origin, 0x0123_4567_89ab_cdef] {
        let req = Request { nonce: NtpTimestamp(nonce), t1: NtpTimestamp(0xeeb0_0000_0000_0000), version: 4, local_precision: -20 };
        let j = judge_reply(&req, data, NtpTimestamp(0xeeb0_0000_1000_0000), None);
        let _ = j.class.label();
    }
});

//! Any bytes as replies to the client engine's requests (from the server's
//! address, from another address, and echoing the real origin so that they
//! reach the deeper tests): no panic, nothing lost, counts consistent.
#![no_main]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use ntpdiag::engine::client::{Engine, Profile, Rules, ServerSpec};
use ntpdiag::wire::{NtpDate, NtpDuration};

fuzz_target!(|data: &[u8]| {
    let start = Instant::now();
    let server: SocketAddr = "198.51.100.1:123".parse().unwrap();
    let other: SocketAddr = "198.51.100.9:123".parse().unwrap();
    let wall0 = NtpDate::from_unix(1_764_000_000, 0).timestamp();
    let mut e = Engine::new(Rules::of(Profile::Ntpd), start, -20);
    let mut spec = ServerSpec::new("s", server);
    spec.iburst = true;
    e.add(spec, start, Duration::ZERO);
    let mut now = start;
    let mut received = 0u64;
    for (i, chunk) in data.chunks(64).take(64).enumerate() {
        let wall = wall0 + NtpDuration::from_std(now - start);
        if let Some(tx) = e.poll_transmit(now, wall, 0x1234_5678 + i as u64) {
            let mut reply = chunk.to_vec();
            // Half the time, make it answer the request (origin = our nonce).
            if i % 2 == 0 && reply.len() >= 48 {
                reply[24..32].copy_from_slice(&tx.payload[40..48]);
            }
            let from = if i % 7 == 3 { other } else { server };
            e.handle_datagram(now + Duration::from_millis(1), from, wall, &reply);
            received += 1;
        }
        now = e.poll_timeout().unwrap_or(now + Duration::from_secs(1)).max(now + Duration::from_millis(1));
    }
    let s = e.snapshot(now);
    let src = &s.sources[0];
    assert!(src.usable <= src.received);
    assert!(src.received <= received);
    assert!(src.offset.is_finite() && src.root_distance.is_finite());
});

//! Any bytes as a request to the server responder: no panic, and a reply
//! is never larger than the request (no amplification).
#![no_main]

use libfuzzer_sys::fuzz_target;
use ntpdiag::engine::server::{Action, Responder, ServerConfig};
use ntpdiag::wire::NtpTimestamp;

fuzz_target!(|data: &[u8]| {
    let mut out = [0u8; 1024];
    for cfg in [ServerConfig::default(), ServerConfig::unsynchronized()] {
        if let Action::Reply(n) = Responder::new(cfg).handle(data, NtpTimestamp(1), NtpTimestamp(2), &mut out) {
            assert!(n <= data.len());
        }
    }
});

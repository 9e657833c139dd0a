//! Any bytes as an NTP request to a server serving NTS (RFC 8915 §5): no
//! panic, a reply never larger than the request (no amplification), and
//! any bytes read as an NTS reply by the client without panic. Half the
//! inputs are made into well-formed NTS requests first (a cookie of the
//! server's key and an authenticator), so the authenticated path is reached
//! and then cut or flipped by the rest of the input.
#![no_main]

use std::net::SocketAddr;
use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use ntpdiag::engine::nts::NtsServer;
use ntpdiag::engine::profile::{Action, ServerProfile, Server};
use ntpdiag::wire::NtpTimestamp;
use ntpdiag::wire::nts::{ClientRequest, CookieKey, Keys, client_request, verify_reply};

fuzz_target!(|data: &[u8]| {
    let key = CookieKey { id: 1, key: [7; 32] };
    let keys = Keys { c2s: [1; 32], s2c: [2; 32] };
    let profile = ServerProfile {
        nts: Some(Arc::new(NtsServer::new(key.clone()))),
        ..ServerProfile::default()
    };
    let mut server = Server::with_seed(profile, [3; 32]);
    let peer: SocketAddr = "198.51.100.2:40000".parse().unwrap();
    let mut request = data.to_vec();
    if data.first().is_some_and(|b| b & 1 == 1) && data.len() >= 3 {
        let mut header = [0u8; 48];
        header[0] = 0x23;
        let cookie = key.make(&keys, &[4; 16]);
        let mut r = client_request(&ClientRequest {
            header: &header,
            unique_id: &[5; 32],
            cookie: &cookie,
            placeholders: (data[1] % 8) as usize,
            c2s: &keys.c2s,
            nonce: &[6; 16],
        });
        // Flip one octet and cut where the input says.
        let at = data[2] as usize * r.len() / 256;
        if data.len() > 3 {
            r[at] ^= data[3];
        }
        if data.len() > 4 {
            r.truncate(r.len() - (data[4] as usize % 64).min(r.len()));
        }
        request = r;
    }
    let mut out = vec![0u8; 2048];
    if let Action::Reply(r) = server.handle(0, peer, NtpTimestamp(1 << 32), 0, &request, &mut out) {
        assert!(r.len <= request.len().max(48), "{} > {}", r.len, request.len());
        let _ = verify_reply(&out[..r.len], &[5; 32], &keys.s2c);
    }
    let _ = verify_reply(data, &[5; 32], &keys.s2c);
});

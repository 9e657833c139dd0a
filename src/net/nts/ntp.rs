//! NTS-protected NTP with the keys and cookies of a key exchange (RFC 8915
//! §5): requests, replies verified, and what they tell (`probe --nts`).

use super::*;

/// Sends `samples` NTS-protected requests to `target`, one cookie each.
pub fn ntp_exchange(
    s: &mut Session,
    target: SocketAddr,
    samples: u32,
    timeout: Duration,
    interval: Duration,
) {
    let mut n = NtsNtp {
        address: Some(target),
        ..NtsNtp::default()
    };
    let Some(keys) = s.keys.clone() else {
        return;
    };
    let bind: SocketAddr = if target.is_ipv4() {
        "0.0.0.0:0".parse().expect("address")
    } else {
        "[::]:0".parse().expect("address")
    };
    let sock = match UdpSocket::bind(bind).and_then(|u| u.connect(target).map(|_| u)) {
        Ok(u) => u,
        Err(e) => {
            n.send_error = Some(e.to_string());
            s.log(format!("NTS: cannot open a socket to {target}: {e}"));
            s.probe.facts.ntp = Some(n);
            return;
        }
    };
    let mut buf = [0u8; 2048];
    for i in 0..samples {
        if i > 0 {
            std::thread::sleep(interval);
        }
        let Some(cookie) = s.cookies.pop() else {
            s.log("NTS: no cookie left");
            break;
        };
        let nonce = NtpTimestamp(rand::random());
        let header = build_request(nonce, 4, 6);
        let uid: [u8; 32] = rand::random();
        let aead_nonce: [u8; NONCE_LEN] = rand::random();
        // Ask for the cookie back when the jar would run dry.
        let placeholders = usize::from(s.cookies.len() < samples as usize);
        let req = nts::client_request(&ClientRequest {
            header: &header,
            unique_id: &uid,
            cookie: &cookie,
            placeholders,
            c2s: &keys.c2s,
            nonce: &aead_nonce,
        });
        n.request_len = req.len();
        let t1 = clock::now();
        if let Err(e) = sock.send(&req) {
            n.send_error = Some(e.to_string());
            s.log(format!("NTS → #{}: sending failed: {e}", i + 1));
            break;
        }
        n.sent += 1;
        s.log(format!(
            "NTS → #{} {} octets to {target}: Unique Identifier, cookie ({} octets), {} placeholder(s), authenticator",
            i + 1,
            req.len(),
            cookie.len(),
            placeholders
        ));
        let request = Request {
            nonce,
            t1,
            version: 4,
            local_precision: clock::precision(),
        };
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                s.log(format!(
                    "NTS ← #{}: nothing within {:.1} s",
                    i + 1,
                    timeout.as_secs_f64()
                ));
                break;
            }
            let _ = sock.set_read_timeout(Some(left));
            let len = match sock.recv(&mut buf) {
                Ok(len) => len,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                    n.icmp.get_or_insert(Icmp {
                        error: if target.is_ipv4() {
                            IcmpError::v4(3, 3)
                        } else {
                            IcmpError::v6(1, 4)
                        },
                        offender: None,
                        sender: Sender::Unknown,
                        rtt_ms: None,
                    });
                    s.log(format!("NTS ← #{}: ICMP port unreachable", i + 1));
                    break;
                }
                Err(_) => {
                    s.log(format!(
                        "NTS ← #{}: nothing within {:.1} s",
                        i + 1,
                        timeout.as_secs_f64()
                    ));
                    break;
                }
            };
            let t4 = clock::now();
            let bytes = &buf[..len];
            let j = judge_reply(&request, bytes, t4, None);
            let logged = s.probe.log.len();
            match &j.class {
                ReplyClass::Duplicate | ReplyClass::Bogus(_) => continue,
                ReplyClass::Kiss(KissCode::Ntsn) => {
                    n.ntsn += 1;
                    s.log(format!(
                        "NTS ← #{} {len} octets: kiss NTSN (the server cannot read the cookie)",
                        i + 1
                    ));
                }
                _ => match nts::verify_reply(bytes, &uid, &keys.s2c) {
                    Ok(v) => {
                        n.authenticated += 1;
                        n.new_cookies += v.cookies.len() as u64;
                        let c = v.cookies.len();
                        s.cookies.extend(v.cookies);
                        s.log(format!(
                            "NTS ← #{} {len} octets: authenticated, {c} new cookie(s), {}{}",
                            i + 1,
                            j.class.label(),
                            j.sample
                                .map(|x| format!(
                                    ", offset {:+.3} ms, delay {:.3} ms",
                                    x.offset * 1e3,
                                    x.delay * 1e3
                                ))
                                .unwrap_or_default()
                        ));
                    }
                    Err(e) => {
                        n.unverified += 1;
                        n.first_unverified.get_or_insert_with(|| e.to_string());
                        s.log(format!("NTS ← #{} {len} octets: not authentic: {e}", i + 1));
                    }
                },
            }
            if let (Some(h), Some(line)) = (j.header, s.probe.log.get_mut(logged)) {
                line.packet = Some((h, nonce));
            }
            break;
        }
    }
    s.probe.facts.ntp = Some(n);
}

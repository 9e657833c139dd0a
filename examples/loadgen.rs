//! NTP load generator for the serve benchmark (bench/serve-rate.sh).
//!
//! Sends mode-3 requests in batches (sendmmsg) from several sockets, keeps a
//! bounded number in flight per socket, reads replies in batches (recvmmsg),
//! and reports replies per second. Requests carry a counter as transmit
//! timestamp; a reply counts only if it is 48+ octets, mode 4 or 2, and its
//! origin is one of ours.
//!
//! usage: loadgen TARGET SECONDS [SOCKETS] [WINDOW] [SOURCE-ADDR ...]
//! Prints one line: `replies=N seconds=S rate=R sent=M`.
//!
//! usage: loadgen --distinct N TARGET
//! Flood mode: one request from each of N distinct source addresses in
//! 127.0.0.0/8 (every one of them is local, so each gets its own socket),
//! for the server's per-client table. Prints `distinct=N seconds=S`.

use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use ntpdiag::net::mmsg::{Batch, OutMsg};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--distinct") {
        distinct(&args);
        return;
    }
    if args.len() < 3 {
        eprintln!("usage: loadgen TARGET SECONDS [SOCKETS] [WINDOW] [SOURCE-ADDR ...]");
        std::process::exit(2);
    }
    let target: SocketAddr = args[1].parse().expect("TARGET: ADDR:PORT");
    let secs: f64 = args[2].parse().expect("SECONDS");
    let nsock: usize = args.get(3).map_or(4, |s| s.parse().expect("SOCKETS"));
    let window: u64 = args.get(4).map_or(64, |s| s.parse().expect("WINDOW"));
    let sources: Vec<String> = args.iter().skip(5).cloned().collect();
    let socks: Vec<UdpSocket> = (0..nsock)
        .map(|i| {
            let bind = match sources.get(i % sources.len().max(1)) {
                Some(a) if !sources.is_empty() => format!("{a}:0"),
                _ => {
                    if target.is_ipv4() {
                        "0.0.0.0:0".into()
                    } else {
                        "[::]:0".into()
                    }
                }
            };
            let s = UdpSocket::bind(&bind).expect("bind");
            s.set_nonblocking(true).unwrap();
            s
        })
        .collect();
    let mut inflight = vec![0u64; nsock];
    let mut counter = vec![1u64; nsock];
    let mut rx = Batch::new(64);
    let mut tx = Batch::new(64);
    let mut reqs = vec![[0u8; 48]; 64];
    let (mut sent, mut replies) = (0u64, 0u64);
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(secs);
    let mut last_progress = Instant::now();
    while Instant::now() < end {
        let mut progressed = false;
        for (i, s) in socks.iter().enumerate() {
            let fd = s.as_raw_fd();
            // Top up the window.
            let want = (window.saturating_sub(inflight[i])).min(64) as usize;
            if want > 0 {
                for r in reqs.iter_mut().take(want) {
                    r.fill(0);
                    r[0] = 0x23; // LI 0, VN 4, mode 3
                    let x = ((i as u64) << 48) | counter[i];
                    counter[i] += 1;
                    r[40..48].copy_from_slice(&x.to_be_bytes());
                }
                let msgs: Vec<OutMsg> = reqs[..want]
                    .iter()
                    .map(|r| OutMsg {
                        dest: target,
                        source: None,
                        payload: r,
                    })
                    .collect();
                if let Ok(n) = tx.send(fd, &msgs) {
                    sent += n as u64;
                    inflight[i] += n as u64;
                }
            }
            // Drain replies.
            while let Ok(n) = rx.recv(fd) {
                if n == 0 {
                    break;
                }
                for k in 0..n {
                    let p = rx.payload(k);
                    if p.len() >= 48
                        && matches!(p[0] & 7, 2 | 4)
                        && u64::from_be_bytes(p[24..32].try_into().unwrap()) >> 48 == i as u64
                    {
                        replies += 1;
                    }
                }
                inflight[i] = inflight[i].saturating_sub(n as u64);
                progressed = true;
            }
        }
        if progressed {
            last_progress = Instant::now();
        } else if last_progress.elapsed() > Duration::from_millis(20) {
            // Lost requests never come back: forget them so the window reopens.
            inflight.iter_mut().for_each(|f| *f = 0);
            last_progress = Instant::now();
        }
    }
    let el = start.elapsed().as_secs_f64();
    println!(
        "replies={replies} seconds={el:.3} rate={:.0} sent={sent}",
        replies as f64 / el
    );
}

fn distinct(args: &[String]) {
    let n: u32 = args
        .get(2)
        .and_then(|s| s.parse().ok())
        .expect("--distinct N TARGET");
    let target: SocketAddr = args
        .get(3)
        .and_then(|s| s.parse().ok())
        .expect("--distinct N TARGET");
    let mut req = [0u8; 48];
    req[0] = 0x23;
    let start = Instant::now();
    let mut sent = 0u32;
    for i in 0..n {
        // 127.1.0.0 upwards: distinct, local, not the server's 127.0.0.1.
        let a = std::net::Ipv4Addr::from(0x7f01_0000u32 + i);
        let Ok(s) = UdpSocket::bind((a, 0)) else {
            continue;
        };
        req[40..44].copy_from_slice(&i.to_be_bytes());
        if s.send_to(&req, target).is_ok() {
            sent += 1;
        }
    }
    println!(
        "distinct={sent} seconds={:.3}",
        start.elapsed().as_secs_f64()
    );
}

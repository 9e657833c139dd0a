//! The ceiling for the serve benchmark: a bare UDP echo of the 48 octets that
//! arrive, with the same batched I/O as `ntpdiag serve` (recvmmsg/sendmmsg,
//! 64 per batch) and nothing else — except turning mode 3 into mode 4 and
//! copying transmit into origin (two moves), so the load generator counts
//! its answers like any server's.
//!
//! usage: udp_echo ADDR:PORT

use std::net::UdpSocket;
use std::os::fd::AsRawFd;

use ntpdiag::net::mmsg::{Batch, OutMsg};

fn main() {
    let addr = std::env::args().nth(1).expect("usage: udp_echo ADDR:PORT");
    let s = UdpSocket::bind(&addr).expect("bind");
    let fd = s.as_raw_fd();
    let mut rx = Batch::new(64);
    let mut tx = Batch::new(64);
    let mut out = vec![[0u8; 48]; 64];
    loop {
        let _ = nix::poll::poll(
            &mut [nix::poll::PollFd::new(
                std::os::fd::AsFd::as_fd(&s),
                nix::poll::PollFlags::POLLIN,
            )],
            nix::poll::PollTimeout::from(200u16),
        );
        while let Ok(n) = rx.recv(fd) {
            if n == 0 {
                break;
            }
            for (k, o) in out.iter_mut().enumerate().take(n) {
                let p = rx.payload(k);
                let len = p.len().min(48);
                o[..len].copy_from_slice(&p[..len]);
                o[0] = (o[0] & !7) | 4;
                o.copy_within(40..48, 24);
            }
            let msgs: Vec<OutMsg> = (0..n)
                .map(|k| OutMsg {
                    dest: rx.meta[k].from,
                    source: None,
                    payload: &out[k],
                })
                .collect();
            let _ = tx.send(fd, &msgs);
        }
    }
}

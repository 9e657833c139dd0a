//! Writes a large synthetic NTP capture for the capture benchmark: Ethernet
//! frames of client requests and server replies (with matching origin
//! timestamps), CLIENTS clients each polling one of a few servers, some
//! requests unanswered, some answered with KoD RATE.
//!
//! usage: gen_pcap FILE PACKETS [CLIENTS]

use std::io::{BufWriter, Write};

use ntpdiag::capture::pcapfile::{file_header, record_header};

fn frame(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, ntp: &[u8; 48]) -> Vec<u8> {
    let b = etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4(src, dst, 64)
        .udp(sport, dport);
    let mut v = Vec::with_capacity(90);
    b.write(&mut v, ntp).expect("build frame");
    v
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let path = args.get(1).expect("usage: gen_pcap FILE PACKETS [CLIENTS]");
    let packets: u64 = args.get(2).and_then(|s| s.parse().ok()).expect("PACKETS");
    let clients: u32 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(1000);
    let mut w = BufWriter::new(std::fs::File::create(path).expect("create"));
    // Snap length 65535, Ethernet.
    w.write_all(&file_header(65535, 1)).unwrap();
    let mut write = |secs: u32, usecs: u32, f: &[u8]| {
        let n = f.len() as u32;
        w.write_all(&record_header(secs, usecs, n, n)).unwrap();
        w.write_all(f).unwrap();
    };
    let base: u32 = 1_764_000_000;
    let ntp_base: u64 = (base as u64 + 2_208_988_800) << 32;
    let mut n = 0u64;
    let mut i = 0u64;
    while n < packets {
        let c = (i % clients as u64) as u32;
        let round = i / clients as u64;
        let client = [10, 1, (c >> 8) as u8, c as u8];
        let server = [192, 0, 2, (c % 4) as u8 + 1];
        let sport = 40_000 + (c % 20_000) as u16;
        // Each client polls every 64 s; spread clients over the interval.
        let t_us = round * 64_000_000 + (c as u64 * 64_000_000 / clients as u64);
        let (secs, usecs) = (base + (t_us / 1_000_000) as u32, (t_us % 1_000_000) as u32);
        let xmt = (i.wrapping_mul(0x9e37_79b9_7f4a_7c15)) | 1;
        let mut req = [0u8; 48];
        req[0] = 0xe3;
        req[40..48].copy_from_slice(&xmt.to_be_bytes());
        write(secs, usecs, &frame(client, server, sport, 123, &req));
        n += 1;
        if n >= packets {
            break;
        }
        // 1 in 50 requests unanswered, 1 in 200 answered with KoD RATE.
        if i % 50 != 7 {
            let mut rep = [0u8; 48];
            let now = ntp_base + (((t_us + 300) as u128) << 32).div_euclid(1_000_000) as u64;
            if i % 200 == 3 {
                rep[0] = 0xe4;
                rep[12..16].copy_from_slice(b"RATE");
            } else {
                rep[0] = 0x24;
                rep[1] = 2;
                rep[12..16].copy_from_slice(&[192, 0, 2, 200]);
                rep[16..24].copy_from_slice(&(now - (10u64 << 32)).to_be_bytes());
                rep[32..40].copy_from_slice(&now.to_be_bytes());
                rep[40..48].copy_from_slice(&(now + 1000).to_be_bytes());
            }
            rep[24..32].copy_from_slice(&xmt.to_be_bytes());
            let r_us = t_us + 300;
            write(
                base + (r_us / 1_000_000) as u32,
                (r_us % 1_000_000) as u32,
                &frame(server, client, 123, sport, &rep),
            );
            n += 1;
        }
        i += 1;
    }
    w.flush().unwrap();
    eprintln!("wrote {n} packets to {path}");
}

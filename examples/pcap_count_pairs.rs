//! A second floor for the capture benchmark: the bare libpcap read, the
//! same decoder as `ntpdiag capture`, and one counter per conversation
//! (client address:port ↔ server) in a hash map — the least state any tool
//! that follows conversations keeps, with no pairing and no verdicts.
//!
//! usage: pcap_count_pairs FILE

use std::collections::HashMap;

use ntpdiag::capture::decode::{Decoded, LinkType, decode};

fn main() {
    let path = std::env::args()
        .nth(1)
        .expect("usage: pcap_count_pairs FILE");
    let mut cap = pcap::Capture::from_file(&path).expect("open");
    let link = LinkType::from_dlt(cap.get_datalink().0).expect("link type");
    let mut convs: HashMap<_, u64, foldhash::fast::RandomState> = HashMap::default();
    let mut n = 0u64;
    while let Ok(p) = cap.next_packet() {
        n += 1;
        if let Decoded::Ntp(d) = decode(link, p.data) {
            let key = if d.dst.port() == 123 {
                (d.src, d.dst)
            } else {
                (d.dst, d.src)
            };
            *convs.entry(key).or_default() += 1;
        }
    }
    println!("packets={n} conversations={}", convs.len());
}

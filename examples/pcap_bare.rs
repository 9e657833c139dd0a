//! The floor for the capture benchmark: a bare libpcap read loop
//! (pcap_next_ex through the `pcap` crate) that only counts packets and bytes.
//!
//! usage: pcap_bare FILE

fn main() {
    let path = std::env::args().nth(1).expect("usage: pcap_bare FILE");
    let mut cap = pcap::Capture::from_file(&path).expect("open");
    let (mut n, mut bytes) = (0u64, 0u64);
    while let Ok(p) = cap.next_packet() {
        n += 1;
        bytes += p.data.len() as u64;
    }
    println!("packets={n} bytes={bytes}");
}

//! Any bytes as a classic pcap file (after a valid file header, so that the
//! fuzzer reaches the records; its first octet picks the byte order and the
//! timestamp precision): frames are read until the end or an error, never a
//! panic, each within the snap length and the file, its nanoseconds under a
//! second.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ntpdiag::capture::pcapfile::Reader;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, data)) = data.split_first() else {
        return;
    };
    let big = pick & 1 == 1;
    let magic: u32 = if pick & 2 == 0 { 0xA1B2_C3D4 } else { 0xA1B2_3C4D };
    let snaplen = [65_535u32, 0, 64, 300_000][(pick as usize >> 2) & 3];
    let w32 = |v: &mut Vec<u8>, x: u32| {
        v.extend_from_slice(&if big { x.to_be_bytes() } else { x.to_le_bytes() })
    };
    let mut file = Vec::with_capacity(24 + data.len());
    w32(&mut file, magic);
    for x in [2u16, 4] {
        file.extend_from_slice(&if big { x.to_be_bytes() } else { x.to_le_bytes() });
    }
    for x in [0, 0, snaplen, 1] {
        w32(&mut file, x);
    }
    file.extend_from_slice(data);
    let mut r = Reader::new(&file[..]).expect("a valid header");
    let limit = r.header.snaplen as usize;
    let mut n = 0;
    while let Ok(Some(f)) = r.next_frame() {
        assert!(f.data.len() <= limit && f.data.len() <= data.len());
        assert!(f.nanos < 1_000_000_000);
        n += 1;
        if n > 100_000 {
            break;
        }
    }
});

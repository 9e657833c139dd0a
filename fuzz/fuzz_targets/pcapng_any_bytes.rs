//! Any bytes as a pcapng file (after a valid section header, so that the
//! fuzzer reaches the blocks): frames are read until the end or an error,
//! never a panic, and each frame lies inside its block.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ntpdiag::capture::pcapng::Reader;

fuzz_target!(|data: &[u8]| {
    let mut file = Vec::with_capacity(28 + data.len());
    file.extend_from_slice(&0x0A0D_0D0Au32.to_le_bytes());
    file.extend_from_slice(&28u32.to_le_bytes());
    file.extend_from_slice(&0x1A2B_3C4Du32.to_le_bytes());
    file.extend_from_slice(&[1, 0, 0, 0]);
    file.extend_from_slice(&(-1i64).to_le_bytes());
    file.extend_from_slice(&28u32.to_le_bytes());
    file.extend_from_slice(data);
    let mut r = Reader::new(&file[..]);
    let mut n = 0;
    while let Ok(Some(f)) = r.next_frame() {
        assert!(f.data.len() <= file.len());
        n += 1;
        if n > 100_000 {
            break;
        }
    }
});

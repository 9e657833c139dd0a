//! Any bytes as captured frames of every supported link type, fed to the
//! conversation tracker and judged: no panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ntpdiag::capture::decode::{LinkType, decode};
use ntpdiag::capture::judge::judge;
use ntpdiag::capture::track::{Tracker, Ts};

fuzz_target!(|data: &[u8]| {
    let mut t = Tracker::new(600.0, 64);
    // Split the input into frames at 0xA5 bytes, so one input is a stream.
    for (i, frame) in data.split(|b| *b == 0xa5).enumerate() {
        for l in [LinkType::Ethernet, LinkType::Raw, LinkType::LinuxSll, LinkType::LinuxSll2, LinkType::Null, LinkType::Loop, LinkType::Nflog] {
            let d = decode(l, frame);
            t.push(i as u64 + 1, Ts { secs: 1_764_000_000 + i as i64, nanos: 0 }, &d);
        }
    }
    let (convs, _) = t.finish();
    for (_, c) in &convs {
        let _ = judge(c);
    }
});

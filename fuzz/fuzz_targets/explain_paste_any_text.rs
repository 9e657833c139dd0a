//! Any text as pasted tool output: every parser and explanation, no panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ntpdiag::explain::paste::{explain, overall};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let blocks = explain(&text);
    let _ = overall(&blocks);
});

//! Any bytes as gathered documents: the object scanner, the document
//! readers and the fleet rules, no panic, always a report.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ntpdiag::schema::{Input, report};

fuzz_target!(|data: &[u8]| {
    let (r, _) = report(vec![Input {
        name: "fuzz".into(),
        bytes: Ok(data.to_vec()),
    }]);
    assert!(r.exit_code <= 7);
});

//! Any bytes as an NTS-KE message (RFC 8915 §4): read without panic; a
//! message read whole re-encodes record by record to the octets it took.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ntpdiag::wire::nts_ke::{Read, next_record, read_message};

fuzz_target!(|data: &[u8]| {
    if let Ok(Read::Done(r, used)) = read_message(data) {
        assert!(used <= data.len());
        let mut again = Vec::new();
        let mut at = 0;
        for _ in &r.records {
            let (rec, n) = next_record(&data[at..]).expect("a record read once reads again");
            again.extend(rec.to_bytes());
            at += n;
        }
        assert_eq!(&again[..], &data[..used]);
    }
});

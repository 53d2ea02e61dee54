//! A pack manifest from a hostile publisher: parsing refuses with a problem
//! or returns a manifest, and never panics.
#![no_main]

use kalamu_core::pack::Manifest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Manifest::from_bytes(data) {
        let _ = m.lesson_count();
        let _ = m.total_bytes();
    }
});

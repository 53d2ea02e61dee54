//! A sync batch and a pull answer from a hostile peer: decoding refuses or
//! returns a batch whose every event passes the checks, and never panics.
#![no_main]

use kalamu_core::sync::Batch;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(batch) = Batch::decode(data) {
        for e in &batch.events {
            assert!(e.seq >= 1 && e.hlc.is_sane() && e.body.check().is_ok());
        }
        // What decodes encodes again to the same events and signatures.
        let again = Batch::decode(&batch.encode()).expect("re-encoded batches decode");
        assert_eq!(again.events, batch.events);
        assert_eq!(again.proofs, batch.proofs);
    }
    let _ = Batch::decode_frames(data);
});

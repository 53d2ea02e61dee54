//! A USB bundle file from a hostile stick: reading it refuses (not a bundle,
//! truncated, tampered) or yields batches, and never panics.
#![no_main]

use kalamu_core::sync::BundleReader;
use kalamu_core::sync::seal::{Opening, SigningKey};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = std::env::temp_dir().join(format!("kalamu-fuzz-{}.kbundle", std::process::id()));
    std::fs::write(&path, data).expect("the temp dir is writable");
    if let Ok(reader) = BundleReader::open(&path) {
        // One fixed key reads and signs: a corpus bundle made with it reaches the batches.
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let _ = reader.read_sealed(&Opening { reader: &key, maker: &key.verifying_key() }, |_, _| Ok(()));
    }
});

//! PIN benchmark: what one offline guess at a stolen PIN hash costs, and so
//! what all 10,000 four-digit PINs of one learner cost on one core, next to
//! the keyed BLAKE3 hash PINs had before, measured in the same run.
//!
//! Run: `cargo bench -p kalamu-core --bench pin`.

use std::time::{Duration, Instant};

use kalamu_core::pin::{hash_pin, pin_matches};

const PINS: u32 = 10_000;

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let stored = hash_pin("4821").unwrap();
    // An attacker holding the hash tries PINs until one matches.
    let guesses = 8;
    let t = Instant::now();
    for guess in 0..guesses {
        assert!(!pin_matches(&stored, "learner", &format!("{guess:04}")).unwrap());
    }
    let argon = t.elapsed() / guesses;

    let key = blake3::hash(b"0196a0a0-0000-7000-8000-000000000001");
    let target = blake3::keyed_hash(key.as_bytes(), b"4821");
    let t = Instant::now();
    let found =
        (0..PINS).find(|p| blake3::keyed_hash(key.as_bytes(), format!("{p:04}").as_bytes()) == target);
    let blake_all = t.elapsed();
    assert_eq!(found, Some(4821));

    let all = argon * PINS;
    println!("PIN hash ({}):", stored.split('$').take(4).collect::<Vec<_>>().join("$"));
    println!("  one offline guess           {:>10.1} ms", ms(argon));
    println!("  every PIN, one core         {:>10.1} min", all.as_secs_f64() / 60.0);
    println!("baseline, keyed BLAKE3 (before):");
    println!("  one offline guess           {:>10.4} ms", ms(blake_all / PINS));
    println!("  every PIN, one core         {:>10.1} ms", ms(blake_all));
    println!(
        "  ratio                       {:>10.0}x",
        all.as_secs_f64() / blake_all.as_secs_f64().max(1e-9)
    );
    println!("at the sign-in prompt: 4 free guesses, then waits of 30 s doubling to 15 min");
    println!("  every PIN online            {:>10.0} days", online_days());
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Days a person at the prompt needs to try every PIN, waiting as told.
fn online_days() -> f64 {
    let mut waited = 0u64;
    for failures in 1..PINS {
        waited += kalamu_core::pin::wait_seconds(failures, 0, 0);
    }
    waited as f64 / 86_400.0
}

//! Course download benchmark, against a real `kalamu hub serve` process on
//! loopback, with a counting relay in between:
//!
//! 1. download and install of a 1 GiB pack (`kalamu download`: fetched,
//!    then every byte verified and stored), next to `curl` writing the same
//!    file to disk (the baseline), in the same run;
//! 2. an upgrade in which 5% of the media changed: bytes the laptop fetched,
//!    and the size of the patch pack `kalamu pack diff` writes for it.
//!
//! Run: `cargo bench -p kalamu-cli --bench downloads`
//! (`KALAMU_BENCH_PACK_MIB` changes the pack's size).

use std::path::Path;
use std::process::Command;
use std::time::Instant;

mod shared;
use shared::{HubProcess, Relay, ended_children_cpu_seconds, kalamu};

const PACK: &str = "org.kalamu.bench.download";
const FILES: usize = 100;

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let mib: usize = std::env::var("KALAMU_BENCH_PACK_MIB").ok().and_then(|v| v.parse().ok()).unwrap_or(1024);
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    println!("Kalamu download benchmark (hub: a `kalamu hub serve` process on loopback, SQLite)");

    let public = kalamu(w, &["pack", "keygen", "--out", w.join("key").to_str().unwrap()]);
    let t = Instant::now();
    let v1 = build(w, "1.0.0", mib, &[]);
    let size = std::fs::metadata(&v1).unwrap().len();
    println!("\na {mib} MiB pack of {FILES} videos built in {:.1} s", t.elapsed().as_secs_f64());

    let hub_dir = w.join("hub");
    kalamu(&hub_dir, &["hub", "center", "add", "Centre de Siguiri"]);
    kalamu(&hub_dir, &["hub", "trust", "add", &public, "--name", "Bench"]);
    let t = Instant::now();
    kalamu(&hub_dir, &["hub", "publish", v1.to_str().unwrap()]);
    println!("published (verified and stored in the hub's database) in {:.1} s", t.elapsed().as_secs_f64());
    let hub = HubProcess::start(&hub_dir);
    let relay = Relay::start(hub.addr, None);
    let laptop = w.join("laptop");
    kalamu(&laptop, &["trust", "add", &public, "--name", "Bench"]);
    let code = kalamu(&hub_dir, &["hub", "enroll-code", "Centre de Siguiri"]);
    kalamu(&laptop, &["enroll", "--hub", &relay.url(), "--code", &code, "--name", "bench"]);

    // Baseline: curl writes the same file to disk, by the same relay.
    let token = device_token(&laptop);
    let (hub_cpu, child_cpu) = (hub.cpu_seconds(), ended_children_cpu_seconds());
    let t = Instant::now();
    let curl = Command::new("curl")
        .args(["-sS", "--fail", "-o"])
        .arg(w.join("curl.kpack"))
        .args(["-H", &format!("Authorization: Bearer {token}")])
        .arg(format!("{}/v1/packs/{PACK}", relay.url()))
        .status()
        .unwrap();
    assert!(curl.success());
    let curl_time = t.elapsed();
    let curl_cpu = (hub.cpu_seconds() - hub_cpu, ended_children_cpu_seconds() - child_cpu);
    let _ = Command::new("sync").status();
    let _ = std::fs::remove_file(w.join("curl.kpack"));

    let (hub_cpu, child_cpu) = (hub.cpu_seconds(), ended_children_cpu_seconds());
    let before = relay.bytes().1;
    let t = Instant::now();
    kalamu(&laptop, &["download", PACK]);
    let took = t.elapsed();
    let kalamu_cpu = (hub.cpu_seconds() - hub_cpu, ended_children_cpu_seconds() - child_cpu);
    let down = relay.bytes().1 - before;
    println!("\n1. download and install of the {} MB pack", size / 1_000_000);
    println!(
        "   curl to disk (baseline)                  {:>7.2} s  (CPU: hub {:.2} s, curl {:.2} s)",
        curl_time.as_secs_f64(),
        curl_cpu.0,
        curl_cpu.1
    );
    println!(
        "   kalamu download (fetch, verify, install) {:>7.2} s  ({:.2}× curl; target ≤ 1.3×; {down} bytes over the link; CPU: hub {:.2} s, laptop {:.2} s)",
        took.as_secs_f64(),
        took.as_secs_f64() / curl_time.as_secs_f64(),
        kalamu_cpu.0,
        kalamu_cpu.1
    );

    // 2. 5% of the videos change.
    let changed: Vec<usize> = (0..FILES / 20).map(|i| i * 20 + 7).collect();
    let v2 = build(w, "1.1.0", mib, &changed);
    kalamu(&hub_dir, &["hub", "publish", v2.to_str().unwrap()]);
    let before = relay.bytes().1;
    let t = Instant::now();
    kalamu(&laptop, &["download", PACK]);
    let upgrade = t.elapsed();
    let fetched = relay.bytes().1 - before;
    let patch = w.join("v2.kpatch");
    kalamu(
        w,
        &["pack", "diff", v1.to_str().unwrap(), v2.to_str().unwrap(), "--out", patch.to_str().unwrap()],
    );
    let patch_size = std::fs::metadata(&patch).unwrap().len();
    let size2 = std::fs::metadata(&v2).unwrap().len();
    println!("\n2. an upgrade in which {} of {FILES} videos (5%) changed", changed.len());
    println!(
        "   fetched by kalamu download               {:>7.1} MB  ({:.1}% of the pack; target ≤ 10%), in {:.2} s",
        fetched as f64 / 1e6,
        fetched as f64 * 100.0 / size2 as f64,
        upgrade.as_secs_f64()
    );
    println!(
        "   patch pack (kalamu pack diff)            {:>7.1} MB  ({:.1}% of the pack)",
        patch_size as f64 / 1e6,
        patch_size as f64 * 100.0 / size2 as f64
    );
}

/// The laptop's device credential, as its store keeps it.
fn device_token(laptop: &Path) -> String {
    kalamu_core::Store::open_dir(laptop).unwrap().require_hub_link().unwrap().device_token
}

/// Version `v` of the bench pack: `FILES` videos of random bytes making
/// `mib` MiB in all, those in `changed` made anew.
fn build(w: &Path, v: &str, mib: usize, changed: &[usize]) -> std::path::PathBuf {
    let src = w.join(format!("src-{v}"));
    std::fs::create_dir_all(src.join("media")).unwrap();
    std::fs::create_dir_all(src.join("lessons")).unwrap();
    std::fs::write(
        src.join("pack.toml"),
        format!(
            "format = 1\nid = \"{PACK}\"\nversion = \"{v}\"\ntitle = \"Download bench\"\nlanguage = \"fr\"\npublisher = \"Bench\"\n\n\
             [[modules]]\nid = \"m\"\ntitle = \"Module\"\n\n[[modules.lessons]]\nid = \"l\"\ntitle = \"Leçon\"\nentry = \"lessons/l.html\"\n"
        ),
    )
    .unwrap();
    std::fs::write(src.join("lessons/l.html"), "<!doctype html><title>Leçon</title><p>Vidéos</p>").unwrap();
    let each = (mib << 20) / FILES;
    for i in 0..FILES {
        let seed = if changed.contains(&i) { 10_000 + i as u64 } else { i as u64 };
        std::fs::write(src.join(format!("media/video-{i:03}.webm")), video(seed, each)).unwrap();
    }
    let out = w.join(format!("pack-{v}.kpack"));
    let key = w.join("key");
    kalamu(
        w,
        &[
            "pack",
            "build",
            src.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
        ],
    );
    let _ = std::fs::remove_dir_all(&src);
    out
}

/// Random-looking video bytes, the same for the same seed.
fn video(seed: u64, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(b"\x1a\x45\xdf\xa3");
    let mut x = 0x9E37_79B9_7F4A_7C15 ^ seed.wrapping_mul(0x2545_F491_4F6C_DD1D);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

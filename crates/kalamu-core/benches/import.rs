//! Import benchmark: builds 1 GiB and 4 GiB packs of mixed content and
//! prints, in one run, the import time next to `unzip -q` of the same file
//! and a `dd` write with fsync of the same bytes, the import's peak RSS,
//! the bytes an upgrade writes when 5 % of the media changed, and the
//! first-byte latency of random seeks into a 700 MB video.
//!
//! Run: `cargo bench -p kalamu-core --bench import` (sizes in GiB with
//! `KALAMU_BENCH_SIZES=1,4`; scratch space in `target/bench-import`, about
//! 6× the largest size is needed). Page caches are dropped before each timed
//! step when the bench runs as root.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use kalamu_core::Store;
use kalamu_core::pack::build::build;
use kalamu_core::pack::import::ImportOptions;

const MIB: u64 = 1 << 20;
const VIDEO: u64 = 700_000_000;
const CHILD_ENV: &str = "KALAMU_BENCH_IMPORT_CHILD";

fn main() {
    if let Ok(args) = std::env::var(CHILD_ENV) {
        return child_import(&args);
    }
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` asks for a list; there is nothing to list.
    }
    let sizes: Vec<u64> = std::env::var("KALAMU_BENCH_SIZES")
        .unwrap_or_else(|_| "1,4".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let work = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/bench-import");
    let _ = fs::remove_dir_all(&work);
    fs::create_dir_all(&work).unwrap();
    let caches = if drop_caches() { "cold (page cache dropped before each step)" } else { "warm (not root)" };
    println!("Kalamu import benchmark — caches {caches}");
    println!();
    let mut rss = Vec::new();
    for gib in sizes {
        rss.push((gib, run_size(&work, gib)));
    }
    if let [(a, ra), (b, rb), ..] = rss[..] {
        let diff = (rb as f64 - ra as f64) / ra as f64 * 100.0;
        println!(
            "peak RSS {a} GiB → {b} GiB: {} → {} MiB ({diff:+.1} %; target within 10 %)",
            ra / 1024,
            rb / 1024
        );
    }
    let _ = fs::remove_dir_all(&work);
}

/// Runs every measurement for one pack size; returns the import's peak RSS in KiB.
fn run_size(work: &Path, gib: u64) -> u64 {
    let total = gib << 30;
    let dir = work.join(format!("{gib}g"));
    let src = dir.join("src");
    let files = make_source(&src, total, "1.0.0");
    let pack = dir.join("pack.kpack");
    let t = Instant::now();
    build(&src, &pack, None, &mut |_| {}).unwrap();
    let build_time = t.elapsed();
    let pack_bytes = fs::metadata(&pack).unwrap().len();
    println!(
        "== {gib} GiB pack: {} files, {:.0} MB ({} built in {:.1} s)",
        files.len() + 1,
        mb(pack_bytes),
        pack.display(),
        build_time.as_secs_f64()
    );

    drop_caches();
    let out = dir.join("unzipped");
    let t = Instant::now();
    let ok = Command::new("unzip").arg("-q").arg(&pack).arg("-d").arg(&out).status().unwrap();
    assert!(ok.success());
    let unzip = t.elapsed();
    fs::remove_dir_all(&out).unwrap();

    drop_caches();
    let t = Instant::now();
    let ok = Command::new("dd")
        .arg("if=/dev/zero")
        .arg(format!("of={}", dir.join("dd.bin").display()))
        .arg("bs=1M")
        .arg(format!("count={}", pack_bytes.div_ceil(MIB)))
        .arg("conv=fsync")
        .arg("status=none")
        .status()
        .unwrap();
    assert!(ok.success());
    let dd = t.elapsed();
    fs::remove_file(dir.join("dd.bin")).unwrap();

    drop_caches();
    let data = dir.join("data");
    let (import, peak_kib, _) = import_in_child(&data, &pack);
    println!("import          {:>7.2} s   {:>6.0} MB/s", secs(import), mb(pack_bytes) / secs(import));
    println!("unzip -q        {:>7.2} s   {:>6.0} MB/s", secs(unzip), mb(pack_bytes) / secs(unzip));
    println!("dd conv=fsync   {:>7.2} s   {:>6.0} MB/s", secs(dd), mb(pack_bytes) / secs(dd));
    println!(
        "import/unzip    {:>7.2}×  (target ≤ 0.4×)    import/dd {:.2}×  (target ≤ 3×)",
        secs(import) / secs(unzip),
        secs(import) / secs(dd)
    );
    println!("import peak RSS {:>7.1} MiB (target ≤ 64 MiB)", peak_kib as f64 / 1024.0);

    // Upgrade: 5 % of the media bytes replaced, version bumped.
    let changed = change_media(&src, &files, total / 20);
    fs::write(src.join("pack.toml"), pack_toml("1.1.0")).unwrap();
    let pack2 = dir.join("pack-1.1.kpack");
    build(&src, &pack2, None, &mut |_| {}).unwrap();
    drop_caches();
    let (upgrade, _, report) = import_in_child(&data, &pack2);
    let written = report["bytes_written"].as_u64().unwrap();
    println!(
        "upgrade         {:>7.2} s   wrote {:.0} MB of {:.0} MB = {:.1} % ({:.0} MB of media changed; target ≤ 10 %)",
        secs(upgrade),
        mb(written),
        mb(pack_bytes),
        written as f64 / pack_bytes as f64 * 100.0,
        mb(changed)
    );

    // Seeks: first byte of 64 KiB reads at random offsets of the 700 MB video.
    drop_caches();
    let store = Store::open_dir(&data).unwrap();
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut lat = Vec::new();
    for _ in 0..50 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let at = x % (VIDEO - 65536);
        let t = Instant::now();
        let bytes = store.read_range("org.kalamu.bench", "media/film.webm", at, at + 65536).unwrap();
        lat.push(t.elapsed());
        assert_eq!(bytes.len(), 65536);
    }
    lat.sort();
    println!(
        "seek into 700 MB video: first 64 KiB in p50 {:.2} ms, max {:.2} ms (target < 20 ms)",
        lat[lat.len() / 2].as_secs_f64() * 1e3,
        lat[lat.len() - 1].as_secs_f64() * 1e3
    );
    println!();
    drop(store);
    fs::remove_dir_all(&dir).unwrap();
    peak_kib
}

fn pack_toml(version: &str) -> String {
    format!(
        "format = 1\nid = \"org.kalamu.bench\"\nversion = \"{version}\"\ntitle = \"Benchmark\"\nlanguage = \"en\"\n\
         publisher = \"Bench\"\n[[modules]]\nid = \"m\"\ntitle = \"M\"\n[[modules.lessons]]\nid = \"l\"\ntitle = \"L\"\n\
         entry = \"lessons/l0/index.html\"\n"
    )
}

/// Writes a source folder of about `total` bytes: a 700 MB video, 5 MB media
/// files, and small lesson pages. Returns the media files other than the video.
fn make_source(src: &Path, total: u64, version: &str) -> Vec<PathBuf> {
    fs::create_dir_all(src.join("media")).unwrap();
    fs::write(src.join("pack.toml"), pack_toml(version)).unwrap();
    write_random(&src.join("media/film.webm"), b"\x1a\x45\xdf\xa3", VIDEO, 1);
    let mut rest = total.saturating_sub(VIDEO);
    let mut media = Vec::new();
    let mut i = 0u64;
    while rest > 5 * MIB {
        let (ext, magic): (&str, &[u8]) = match i % 3 {
            0 => ("ogg", b"OggS"),
            1 => ("png", b"\x89PNG\r\n\x1a\n"),
            _ => ("mp4", b"\0\0\0\x18ftypmp42"),
        };
        let path = src.join(format!("media/m{i:04}.{ext}"));
        write_random(&path, magic, 5 * MIB, i + 2);
        media.push(path);
        rest -= 5 * MIB;
        i += 1;
    }
    for l in 0..200 {
        let dir = src.join(format!("lessons/l{l}"));
        fs::create_dir_all(&dir).unwrap();
        fs::write(
            dir.join("index.html"),
            format!("<!doctype html><title>L{l}</title><p>{}</p>", "Lesson text. ".repeat(200)),
        )
        .unwrap();
    }
    media
}

/// Rewrites media files until `bytes` have changed; returns the bytes changed.
fn change_media(src: &Path, files: &[PathBuf], bytes: u64) -> u64 {
    let _ = src;
    let mut changed = 0;
    for (n, f) in files.iter().enumerate().step_by(7) {
        if changed >= bytes {
            break;
        }
        let magic: Vec<u8> = fs::read(f).unwrap()[..12].to_vec();
        let len = fs::metadata(f).unwrap().len();
        write_random(f, &magic, len, 1_000_000 + n as u64);
        changed += len;
    }
    changed
}

fn write_random(path: &Path, magic: &[u8], len: u64, seed: u64) {
    use std::io::Write;
    let mut f = std::io::BufWriter::with_capacity(4 << 20, fs::File::create(path).unwrap());
    f.write_all(magic).unwrap();
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut left = len - magic.len() as u64;
    let mut buf = vec![0u8; 1 << 20];
    while left > 0 {
        for w in buf.chunks_exact_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            w.copy_from_slice(&x.to_le_bytes());
        }
        let n = left.min(buf.len() as u64) as usize;
        f.write_all(&buf[..n]).unwrap();
        left -= n as u64;
    }
    f.flush().unwrap();
}

/// Runs the import in a fresh process so its peak RSS is the import's alone.
fn import_in_child(data: &Path, pack: &Path) -> (Duration, u64, serde_json::Value) {
    let t = Instant::now();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .env(CHILD_ENV, format!("{}\n{}", data.display(), pack.display()))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    while child.try_wait().unwrap().is_none() {
        if let Some(hwm) = fs::read_to_string(&status_path).ok().and_then(|s| vm_hwm(&s)) {
            peak = peak.max(hwm);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let elapsed = t.elapsed();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    (elapsed, peak.max(report["peak_kib"].as_u64().unwrap_or(0)), report)
}

fn child_import(args: &str) {
    let (data, pack) = args.split_once('\n').unwrap();
    if std::env::var_os("KALAMU_BENCH_VERIFY_ONLY").is_some() {
        let mut opened = kalamu_core::pack::verify::OpenedPack::open(Path::new(pack)).unwrap();
        opened.stream(&mut kalamu_core::pack::verify::Discard, &mut |_| {}).unwrap();
        let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
        eprintln!("verify only: {:?} KiB", vm_hwm(&status));
    }
    if std::env::var_os("KALAMU_BENCH_MEMORY_DETAIL").is_some() {
        std::thread::spawn(|| {
            let start = Instant::now();
            loop {
                let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
                let rss = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap_or("").replace('\t', " ");
                eprintln!("t={:.2}s {rss}", start.elapsed().as_secs_f64());
                std::thread::sleep(Duration::from_millis(200));
            }
        });
    }
    let store = Store::open_dir(Path::new(data)).unwrap();
    let report = store
        .import_pack(
            Path::new(pack),
            ImportOptions { allow_unsigned: true, ..Default::default() },
            &mut |_| {},
        )
        .unwrap();
    let peak = fs::read_to_string("/proc/self/status").ok().and_then(|s| vm_hwm(&s)).unwrap_or(0);
    let mut json = serde_json::to_value(&report).unwrap();
    json["peak_kib"] = peak.into();
    if std::env::var_os("KALAMU_BENCH_MEMORY_DETAIL").is_some() {
        let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
        let detail: Vec<&str> =
            status.lines().filter(|l| l.starts_with("Rss") || l.starts_with("VmHWM")).collect();
        eprintln!("child memory: {}", detail.join(", ").replace('\t', " "));
    }
    println!("{json}");
}

fn vm_hwm(status: &str) -> Option<u64> {
    status.lines().find(|l| l.starts_with("VmHWM:"))?.split_whitespace().nth(1)?.parse().ok()
}

fn drop_caches() -> bool {
    let _ = Command::new("sync").status();
    fs::write("/proc/sys/vm/drop_caches", "3").is_ok()
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

//! Sync benchmark, against a real `kalamu hub serve` process on loopback:
//!
//! 1. a laptop holding 1M events syncs them all to an empty hub, next to the
//!    raw SQLite insert of the same events (the baseline); wire bytes are
//!    counted by a relay in between; then the same over TLS;
//! 2. the same sync cut half-way, then resumed: the bytes sent again;
//! 3. 1,000 simulated laptops in 20 centers sync at the same instant, three
//!    times over, then spread over 10 s (each round, every laptop pushes 30
//!    new events and pulls its center's new ones): latency p50/p99 and errors.
//!
//!    The same bursts against a hub that speaks TLS, and one more burst while
//!    a client floods enrolment with wrong codes (its guesses per second
//!    printed, alone and during the burst).
//!
//! 4. a day of a 30-learner laptop (6,000 events with random quiz answers
//!    and positions) through a slow link (64 kbit/s, 600 ms round trip):
//!    wall time, bytes per event, and the link's own floor (bytes ÷ bandwidth).
//!
//! Run: `cargo bench -p kalamu-cli --bench sync`
//! (`KALAMU_BENCH_EVENTS`, `KALAMU_BENCH_DEVICES` change the sizes; 0 events skips parts 1 and 2).

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kalamu_core::Store;
use kalamu_core::progress::event::{Answer, Event, EventBody};
use kalamu_core::progress::hlc::Hlc;
use kalamu_core::sync::LearnerRecord;

mod shared;
use shared::fleet::{Fleet, LESSONS, PACK, body};
use shared::{HubProcess, Relay, cpu_seconds, kalamu};

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let total: usize = env("KALAMU_BENCH_EVENTS", 1_000_000);
    let devices: usize = env("KALAMU_BENCH_DEVICES", 1_000);
    let work = tempfile::tempdir().unwrap();
    println!("Kalamu sync benchmark (hub: a `kalamu hub serve` process on loopback, SQLite)");

    if total > 0 {
        one_laptop(work.path(), total);
        // Parts 1 and 2 leave gigabytes behind; their removal and write-back
        // must not land in the middle of part 3's bursts.
        for part in ["seed", "raw", "hub1", "laptop1", "hub2", "laptop2", "hub5", "laptop5"] {
            let path = work.path().join(part);
            let _ = std::fs::remove_dir_all(&path);
        }
        let _ = Command::new("sync").status();
    }

    slow_link(work.path());

    // 3. Many laptops at once: three bursts (the machine is shared, so one
    // burst's figures wander), then the same laptops spread over 10 s. Two
    // hubs take turns: one folds new progress into the staff reports when it
    // is idle (as hubs do), the other only when a page is viewed (the
    // baseline: what the reports cost a burst is the difference).
    let hubs = [
        ("reports folded when idle", HubProcess::start(&work.path().join("hub3"))),
        (
            "reports folded on view",
            HubProcess::start_with(&work.path().join("hub3v"), &["--reports", "viewed"]),
        ),
        ("TLS, folded when idle", HubProcess::start_tls(&work.path().join("hub3t"))),
    ];
    // The last round also floods the first hub's enrolment from one client.
    let rounds = [
        ("all at the same instant", Duration::ZERO),
        ("again", Duration::ZERO),
        ("and again", Duration::ZERO),
        ("spread over 10 s", Duration::from_secs(10)),
        ("at once, enrolment flooded", Duration::ZERO),
    ];
    let flooded = rounds.len() - 1;
    let fleets: Vec<Fleet> =
        hubs.iter().map(|(_, hub)| Fleet::enrol_sqlite(hub, devices, 20, rounds.len())).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    println!(
        "\n3. {devices} laptops in 20 centers; each round, every laptop pushes 30 new events and pulls its center's new ones"
    );
    let alone = flood(hubs[0].1.addr, Duration::from_secs(2), None);
    println!(
        "   enrolment flood from one client, alone: {:.0} requests/s answered, {:.1} wrong codes/s checked (the rest 429)",
        alone.answered_per_s(),
        alone.checked_per_s()
    );
    let mut burst_p99 = [Vec::new(), Vec::new(), Vec::new()];
    let mut flooded_p99 = 0.0;
    for (round, (label, spread)) in rounds.into_iter().enumerate() {
        // Each hub goes first in turn, so none always meets another's write-back.
        for step in 0..hubs.len() {
            let k = (round + step) % hubs.len();
            let (kind, hub) = &hubs[k];
            let (cpu, own) = (hub.cpu_seconds(), cpu_seconds(std::process::id()));
            let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let flooder = (round == flooded && k == 0).then(|| {
                let (addr, stop) = (hub.addr, stop.clone());
                std::thread::spawn(move || flood(addr, Duration::from_secs(60), Some(stop)))
            });
            let (latencies, errors, pulled, wall, own_after) =
                runtime.block_on(fleets[k].sync_all(round, spread));
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            let hub_cpu = hub.cpu_seconds() - cpu;
            if let Some(flooder) = flooder {
                let during = flooder.join().unwrap();
                println!(
                    "   enrolment flood during the burst: {:.0} requests/s answered, {:.1} wrong codes/s checked",
                    during.answered_per_s(),
                    during.checked_per_s()
                );
            }
            let laptops_cpu = own_after - own;
            let p = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
            if round == flooded {
                if k == 0 {
                    flooded_p99 = p(0.99);
                }
            } else if spread.is_zero() {
                burst_p99[k].push(p(0.99));
            }
            println!(
                "   {label:<24} {kind:<25} p50 {:>4.0} ms  p99 {:>4.0} ms  max {:>4.0} ms  errors {errors}  (wall {:.1} s; CPU: hub {hub_cpu:.2} s, laptops {laptops_cpu:.2} s; pulled {} events)",
                p(0.50),
                p(0.99),
                latencies.last().unwrap(),
                wall.as_secs_f64(),
                pulled,
            );
            if k == 0 {
                let caught_up = reports_caught_up(&hub.dir);
                println!("   {:<50} reports caught up {:.2} s after the round", "", caught_up.as_secs_f64());
            }
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let [idle, viewed, tls] = burst_p99.each_mut().map(median);
    println!(
        "   at the same instant: median p99 {idle:.0} ms with reports folded when idle, {viewed:.0} ms on view (the reports add {:+.0} ms; target p99 < 500 ms, 0 errors)",
        idle - viewed
    );
    println!(
        "   over TLS: median p99 {tls:.0} ms ({:+.0}% against plain HTTP, folded when idle; target within 15%)",
        (tls / idle - 1.0) * 100.0
    );
    println!(
        "   while one client on this machine floods enrolment: p99 {flooded_p99:.0} ms, against {idle:.0} ms without (target < 500 ms)"
    );
}

/// What a flood of wrong enrolment codes met.
struct Flood {
    answered: u64,
    checked: u64,
    took: Duration,
}

impl Flood {
    fn answered_per_s(&self) -> f64 {
        self.answered as f64 / self.took.as_secs_f64()
    }
    fn checked_per_s(&self) -> f64 {
        self.checked as f64 / self.took.as_secs_f64()
    }
}

/// One client sending wrong enrolment codes as fast as the hub answers, on
/// one keep-alive connection (a new one when the hub closes it), for `limit`
/// or until `stop`. Answers other than 429 are codes the hub checked.
fn flood(
    addr: std::net::SocketAddr,
    limit: Duration,
    stop: Option<Arc<std::sync::atomic::AtomicBool>>,
) -> Flood {
    use std::io::{BufRead, BufReader, Write};
    let start = Instant::now();
    let (mut answered, mut checked) = (0, 0);
    let body = serde_json::json!({
        "code_proof": "00".repeat(32),
        "nonce": "00".repeat(16),
        "device_id": uuid::Uuid::now_v7().to_string(),
        "device_name": "flood",
    })
    .to_string();
    let request = format!(
        "POST /v1/enroll HTTP/1.1\r\nHost: hub\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let stopped = || stop.as_ref().is_some_and(|s| s.load(std::sync::atomic::Ordering::Relaxed));
    'connections: while start.elapsed() < limit && !stopped() {
        let Ok(stream) = std::net::TcpStream::connect(addr) else { continue };
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut writer = stream;
        while start.elapsed() < limit && !stopped() {
            if writer.write_all(request.as_bytes()).is_err() {
                continue 'connections;
            }
            let mut status = String::new();
            if reader.read_line(&mut status).unwrap_or(0) == 0 {
                continue 'connections;
            }
            let (mut length, mut line) = (0usize, String::new());
            loop {
                line.clear();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    continue 'connections;
                }
                if line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut skip = vec![0u8; length];
            if std::io::Read::read_exact(&mut reader, &mut skip).is_err() {
                continue 'connections;
            }
            answered += 1;
            if !status.contains(" 429 ") {
                checked += 1;
            }
        }
    }
    Flood { answered, checked, took: start.elapsed() }
}

/// How long until the hub's staff reports have folded every event it holds (bounded).
fn reports_caught_up(hub_dir: &Path) -> Duration {
    let t = Instant::now();
    let db = rusqlite::Connection::open_with_flags(
        hub_dir.join("hub.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let sum = |sql: &str| -> i64 { db.query_row(sql, [], |r| r.get(0)).unwrap_or(0) };
    while t.elapsed() < Duration::from_secs(60)
        && sum("SELECT coalesce(sum(seq), 0) FROM projected") < sum("SELECT coalesce(sum(seq), 0) FROM heads")
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    t.elapsed()
}

/// Parts 1 and 2: one laptop's backlog of `total` events.
fn one_laptop(work: &Path, total: usize) {
    // The laptop's store. Recording 1M events durably one by one would take
    // minutes; they are laid down in bulk as this laptop's own, in order.
    let seed = work.join("seed");
    let t = Instant::now();
    let events = laptop_with_events(&seed, total);
    println!("laptop store with {total} events of 100 learners made in {:.1} s", t.elapsed().as_secs_f64());

    // Baseline: the same events inserted straight into a SQLite table.
    let t = Instant::now();
    std::fs::create_dir_all(work.join("raw")).unwrap();
    raw_insert(&work.join("raw").join("raw.db"), &events);
    let raw = t.elapsed();
    drop(events);

    // 1. Full sync of every event.
    let hub = HubProcess::start(&work.join("hub1"));
    let laptop = copy_store(&seed, &work.join("laptop1"));
    let relay = Relay::start(hub.addr, None);
    enroll(&hub, &laptop, &relay.url(), "Centre de Conakry");
    let t = Instant::now();
    let report = sync(&laptop);
    let took = t.elapsed();
    let (up, down) = relay.bytes();
    assert_eq!(
        report.pushed as usize,
        total + 100,
        "every event, and the 100 learners' additions, reached the hub"
    );
    println!("\n1. sync {total} events laptop → hub");
    println!(
        "   raw SQLite insert (baseline)   {:>7.2} s  ({:.0} events/s)",
        raw.as_secs_f64(),
        rate(total, raw)
    );
    println!(
        "   sync end to end                {:>7.2} s  ({:.0} events/s; {:.1}× the raw insert; target < 10 s)",
        took.as_secs_f64(),
        rate(total, took),
        took.as_secs_f64() / raw.as_secs_f64()
    );
    println!(
        "   wire bytes per event           {:>7.1}    ({up} up, {down} down, {} batches; target ≤ 48)",
        (up + down) as f64 / total as f64,
        report.batches
    );
    // The same sync over TLS, through the same kind of relay.
    let hub5 = HubProcess::start_tls(&work.join("hub5"));
    let laptop5 = copy_store(&seed, &work.join("laptop5"));
    let relay5 = Relay::start(hub5.addr, None);
    enroll(&hub5, &laptop5, &relay5.tls_url(), "Centre de Conakry");
    let t = Instant::now();
    let report5 = sync(&laptop5);
    let took5 = t.elapsed();
    assert_eq!(report5.pushed as usize, total + 100);
    let (up5, down5) = relay5.bytes();
    println!(
        "   sync over TLS                  {:>7.2} s  ({:+.0}% against plain HTTP just above; target within 15%; {:.1} wire bytes per event)",
        took5.as_secs_f64(),
        (took5.as_secs_f64() / took.as_secs_f64() - 1.0) * 100.0,
        (up5 + down5) as f64 / total as f64
    );
    drop((hub5, relay5));
    let pushes = total.div_ceil(kalamu_client::sync::BATCH_EVENTS) as u64;
    let batch_bytes = up / pushes;

    // 2. The same sync cut half-way through, then run again.
    let hub2 = HubProcess::start(&work.join("hub2"));
    let laptop2 = copy_store(&seed, &work.join("laptop2"));
    let cutter = Relay::start(hub2.addr, Some(up / 2));
    enroll(&hub2, &laptop2, &cutter.url(), "Centre de Conakry");
    let cut = sync_result(&laptop2);
    let (cut_up, _) = cutter.bytes();
    let resumed = Relay::start(hub2.addr, None);
    laptop2.set_hub_url(&resumed.url()).unwrap();
    let report2 = sync(&laptop2);
    let (resume_up, _) = resumed.bytes();
    let resent = (cut_up + resume_up).saturating_sub(up);
    println!("\n2. the same sync cut after {cut_up} bytes, then resumed");
    println!("   first run: {}", cut.err().map_or("finished".to_owned(), |e| e.to_string()));
    println!("   second run: {} events sent, {} batches", report2.pushed, report2.batches);
    println!(
        "   bytes sent again               {resent:>7}    ({:.2} of a batch of {batch_bytes} bytes; target ≤ one batch)",
        resent as f64 / batch_bytes as f64
    );
}

/// Part 4: a realistic day through a slow link.
fn slow_link(work: &Path) {
    const EVENTS: usize = 6_000;
    const RATE: u64 = 64_000 / 8;
    let dir = work.join("day");
    let store = Store::open_dir(&dir).unwrap();
    let learners: Vec<String> =
        (0..30).map(|i| store.add_learner(&format!("Élève {i}")).unwrap().id).collect();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let t = Instant::now();
    for i in 0..EVENTS {
        let r = next();
        let body = match r % 6 {
            0 => EventBody::LessonOpened,
            1 => EventBody::Position {
                media: Some("media/intro.webm".into()),
                at: (r >> 8) as f64 / (1u64 << 56) as f64 * 600.0,
            },
            2 => EventBody::Position { media: None, at: (r >> 8) as f64 / (1u64 << 56) as f64 },
            3 => EventBody::TimeSpent { seconds: 5 + (r >> 8) as u32 % 600 },
            4 => EventBody::LessonCompleted,
            _ => EventBody::QuizAttempt {
                answers: (1..=5)
                    .map(|q| (format!("q{q}"), Answer::Choice(((r >> (8 * q)) % 4) as usize)))
                    .collect(),
                score: ((r >> 48) % 6) as u32,
                max: 5,
            },
        };
        let lesson = LESSONS[(r >> 40) as usize % LESSONS.len()];
        store.record(&learners[i % 30], PACK, lesson, body).unwrap();
    }
    let made = t.elapsed();
    let hub = HubProcess::start(&work.join("hub4"));
    let relay = Relay::start_slow(hub.addr, RATE, Duration::from_millis(300));
    enroll(&hub, &store, &relay.url(), "Centre de Kankan");
    let before = relay.bytes();
    let t = Instant::now();
    let report = sync(&store);
    let took = t.elapsed();
    let (up, down) = relay.bytes();
    let bytes = (up - before.0) + (down - before.1);
    // The day's events, and the 30 learners' additions (counted in the bytes per event too).
    assert_eq!(report.pushed as usize, EVENTS + learners.len());
    println!(
        "\n4. a day of a 30-learner laptop ({EVENTS} events, random answers and positions; made in {:.1} s) over 64 kbit/s, 600 ms round trip",
        made.as_secs_f64()
    );
    println!(
        "   sync end to end                {:>7.2} s  (the link's floor for these bytes: {:.2} s; target < 10 s)",
        took.as_secs_f64(),
        bytes as f64 / RATE as f64
    );
    println!(
        "   wire bytes per event           {:>7.1}    ({} up, {} down, {} batches; target ≤ 10)",
        bytes as f64 / EVENTS as f64,
        up - before.0,
        down - before.1,
        report.batches
    );
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn rate(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

fn laptop_with_events(dir: &Path, total: usize) -> Vec<Event> {
    let store = Store::open_dir(dir).unwrap();
    let learners: Vec<LearnerRecord> = (0..100)
        .map(|i| {
            let l = store.add_learner(&format!("Learner {i}")).unwrap();
            LearnerRecord { id: l.id, name: l.name, created_at: l.created_at, pin_hash: None }
        })
        .collect();
    // After the learners' additions, which are events of this laptop too.
    let kalamu_core::progress::event::Device { id: device, next_seq: first, .. } = store.device().unwrap();
    let start = Hlc::at_millis(kalamu_core::store::now_millis() as u64 - 90 * 86_400_000);
    let events: Vec<Event> = (0..total)
        .map(|i| Event {
            id: uuid::Uuid::now_v7().to_string(),
            learner_id: learners[(i / 7) % 100].id.clone(),
            device_id: device.clone(),
            seq: first + i as u64,
            hlc: Hlc(start.0 + (i as u64) * (3 << 16)),
            pack_id: PACK.into(),
            lesson_id: LESSONS[(i / 3) % LESSONS.len()].into(),
            body: body(i),
        })
        .collect();
    // Loaded as if recorded here (a store refuses its own id in batches from elsewhere).
    for chunk in events.chunks(20_000) {
        store.merge_events(chunk).unwrap();
    }
    events
}

fn raw_insert(path: &Path, events: &[Event]) {
    let mut db = rusqlite::Connection::open(path).unwrap();
    db.pragma_update(None, "journal_mode", "WAL").unwrap();
    db.pragma_update(None, "synchronous", "FULL").unwrap();
    db.execute_batch(
        "CREATE TABLE events (id TEXT PRIMARY KEY, learner_id TEXT, device_id TEXT, seq INTEGER, hlc INTEGER,
         pack_id TEXT, lesson_id TEXT, kind TEXT, body TEXT, UNIQUE (device_id, seq)) STRICT",
    )
    .unwrap();
    let tx = db.transaction().unwrap();
    {
        let mut stmt = tx.prepare("INSERT INTO events VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)").unwrap();
        for e in events {
            stmt.execute(rusqlite::params![
                e.id,
                e.learner_id,
                e.device_id,
                e.seq as i64,
                e.hlc.0 as i64,
                e.pack_id,
                e.lesson_id,
                e.body.kind(),
                serde_json::to_string(&e.body).unwrap()
            ])
            .unwrap();
        }
    }
    tx.commit().unwrap();
}

fn copy_store(from: &Path, to: &Path) -> Store {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
    Store::open_dir(to).unwrap()
}

fn enroll(hub: &HubProcess, laptop: &Store, url: &str, center: &str) {
    kalamu(&hub.dir, &["hub", "center", "add", center]);
    let code = kalamu(&hub.dir, &["hub", "enroll-code", center]);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(kalamu_client::enroll(laptop, url, &code, "bench")).unwrap();
}

fn sync_result(store: &Store) -> kalamu_client::Result<kalamu_client::SyncReport> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(kalamu_client::sync(store, Duration::from_secs(60), |_| {}))
}

fn sync(store: &Store) -> kalamu_client::SyncReport {
    sync_result(store).unwrap()
}

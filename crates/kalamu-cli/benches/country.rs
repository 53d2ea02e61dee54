//! A country's hub, against real processes on loopback: thousands of
//! simulated laptops (10,000 by default, in centers of 20) sync in bursts, on
//!
//! - one hub on SQLite (a center's hub, the baseline);
//! - one hub on PostgreSQL behind nginx;
//! - two hubs on one PostgreSQL database behind nginx;
//!
//! each on a fresh database of its own, three bursts each, taking turns. In
//! a burst every laptop pushes 30 new events and pulls its center's new
//! ones, at most 1,000 laptops at once (a hub takes 2,048 connections). The
//! figures: laptops synced per second, latency p50/p99 and errors, and the
//! hubs' CPU. PostgreSQL is a throw-away server started here (Debian's
//! `initdb`/`pg_ctl`), without durability, as in the tests: the hubs' work
//! is what is measured.
//!
//! Then a laptop's first pull from a hub on PostgreSQL holding 1/10 of N
//! events, and then N (1M by default): the hub's and the laptop's (the real
//! `kalamu sync`) peak memory at both sizes, which stays flat if neither
//! side holds more than a pull's worth at a time.
//!
//! Then a center's hub (SQLite) holding 1/10 of M events, and then M (1M by
//! default), relaying them to an empty national hub (PostgreSQL): how long,
//! and both hubs' peak memory.
//!
//! Run: `cargo bench -p kalamu-cli --bench country`
//! (`KALAMU_BENCH_LAPTOPS`, `KALAMU_BENCH_IN_FLIGHT`, `KALAMU_BENCH_PULL_EVENTS`,
//! `KALAMU_BENCH_RELAY_EVENTS` change the sizes;
//! `KALAMU_BENCH_LAPTOPS=0` skips the bursts).

use std::time::Duration;

use kalamu_hub::db::DbUrl;

mod shared;
use shared::HubProcess;
use shared::fleet::Fleet;

#[path = "../tests/it/balancer.rs"]
mod balancer;
#[path = "../tests/it/pg.rs"]
#[allow(dead_code)]
mod pg;

/// Bursts per configuration.
const ROUNDS: usize = 3;

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let laptops = env("KALAMU_BENCH_LAPTOPS", 10_000);
    let in_flight = env("KALAMU_BENCH_IN_FLIGHT", 1_000);
    let centers = laptops.div_ceil(20);
    let work = tempfile::tempdir().unwrap();
    println!(
        "Kalamu country benchmark: {laptops} laptops in {centers} centers, at most {in_flight} syncing at once; \
         each burst, every laptop pushes 30 new events and pulls its center's new ones"
    );

    let (url_one, server) = pg::fresh_database();
    if laptops > 0 {
        bursts(work.path(), &url_one, server.is_some(), laptops, in_flight);
    }
    let pull_events = env("KALAMU_BENCH_PULL_EVENTS", 1_000_000);
    if pull_events > 0 {
        println!("\n   a laptop's first pull from one hub on PostgreSQL, and the peak memory of both sides:");
        for total in [pull_events / 10, pull_events] {
            first_pull(work.path(), &fresh_on(&url_one), total);
        }
    }
    let relay_events = env("KALAMU_BENCH_RELAY_EVENTS", 1_000_000);
    if relay_events > 0 {
        println!(
            "\n   a center's hub (SQLite) relaying to a national hub (PostgreSQL), and the peak memory of both:"
        );
        for total in [relay_events / 10, relay_events] {
            relay(work.path(), &fresh_on(&url_one), total);
        }
    }
    drop(server);
}

/// A center's hub holding `total` events of 20 laptops, linked to an empty
/// national hub: how long until the national hub holds them all, and each
/// hub process's peak memory.
fn relay(work: &std::path::Path, url: &str, total: usize) {
    let dir = work.join(format!("relay-center-{total}"));
    let center = kalamu_hub::db::open(&DbUrl::Sqlite(dir.join("hub.db"))).unwrap();
    fill(center.as_ref(), "Kindia", total, 20);
    drop(center);
    let national = kalamu_hub::db::open(&DbUrl::Postgres(url.to_owned())).unwrap();
    national.add_center("Centre de Kindia").unwrap();
    let code = kalamu_hub::admin::new_relay_code(national.as_ref(), "Centre de Kindia", 60).unwrap().code;
    drop(national);
    let above = HubProcess::start_with(
        &work.join(format!("relay-national-{total}")),
        &["--db", url, "--reports", "viewed"],
    );
    let below = HubProcess::start_with(&dir, &["--relay-every", "1", "--reports", "viewed"]);
    let mut db = postgres::Client::connect(url, postgres::NoTls).unwrap();
    let started = std::time::Instant::now();
    shared::kalamu(&dir, &["hub", "upstream", "--hub", &above.url(), "--code", &code, "--center", "Kindia"]);
    let held = |db: &mut postgres::Client| -> i64 {
        db.query_one("SELECT CAST(coalesce(sum(seq), 0) AS BIGINT) FROM heads", &[]).unwrap().get(0)
    };
    let until = std::time::Instant::now() + Duration::from_secs(600);
    while held(&mut db) < total as i64 && std::time::Instant::now() < until {
        std::thread::sleep(Duration::from_millis(100));
    }
    let took = started.elapsed();
    println!(
        "   {total:>9} events relayed in {:.1} s ({:.0} events/s; target < 20 s for 1M){}; peak memory: center's hub {:.0} MiB, national hub {:.0} MiB (target: flat, < 100 MiB)",
        took.as_secs_f64(),
        held(&mut db) as f64 / took.as_secs_f64(),
        if held(&mut db) < total as i64 { " (NOT ALL: stopped after 10 minutes)" } else { "" },
        below.peak_rss_mib(),
        above.peak_rss_mib(),
    );
}

/// The bursts, on SQLite and on PostgreSQL with one hub and with two.
fn bursts(work: &std::path::Path, url_one: &str, own_server: bool, laptops: usize, in_flight: usize) {
    let centers = laptops.div_ceil(20);
    let sqlite = HubProcess::start(&work.join("sqlite"));
    let url_one = url_one.to_owned();
    // The second database on the same server.
    let url_two = if own_server { fresh_on(&url_one) } else { pg::fresh_database().0 };
    let one = HubProcess::start_with(&work.join("pg-one"), &["--db", &url_one]);
    let two_a = HubProcess::start_with(&work.join("pg-two-a"), &["--db", &url_two]);
    let two_b = HubProcess::start_with(&work.join("pg-two-b"), &["--db", &url_two]);
    let lb_one = balancer::Balancer::start(&[one.addr]);
    let lb_two = balancer::Balancer::start(&[two_a.addr, two_b.addr]);

    let register = |db: &DbUrl, url: &str| {
        let storage = kalamu_hub::db::open(db).unwrap();
        Fleet::register(storage.as_ref(), url, laptops, centers, ROUNDS, in_flight)
    };
    let configs: Vec<(&str, Vec<&HubProcess>, Fleet)> = vec![
        ("SQLite, 1 hub", vec![&sqlite], register(&DbUrl::Sqlite(sqlite.dir.join("hub.db")), &sqlite.url())),
        (
            "PostgreSQL, 1 hub behind nginx",
            vec![&one],
            register(&DbUrl::Postgres(url_one.clone()), &lb_one.url()),
        ),
        (
            "PostgreSQL, 2 hubs behind nginx",
            vec![&two_a, &two_b],
            register(&DbUrl::Postgres(url_two.clone()), &lb_two.url()),
        ),
    ];
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); configs.len()];
    let mut p99s: Vec<Vec<f64>> = vec![Vec::new(); configs.len()];
    for round in 0..ROUNDS {
        // Each configuration goes first in turn, so none always meets another's write-back.
        for step in 0..configs.len() {
            let k = (round + step) % configs.len();
            let (label, hubs, fleet) = &configs[k];
            let cpu: f64 = hubs.iter().map(|h| h.cpu_seconds()).sum();
            let (latencies, errors, pulled, wall, _) =
                runtime.block_on(fleet.sync_all(round, Duration::ZERO));
            let hub_cpu = hubs.iter().map(|h| h.cpu_seconds()).sum::<f64>() - cpu;
            let p = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
            let rate = laptops as f64 / wall.as_secs_f64();
            rates[k].push(rate);
            p99s[k].push(p(0.99));
            println!(
                "   burst {} {label:<32} {rate:>6.0} laptops/s  p50 {:>5.0} ms  p99 {:>5.0} ms  errors {errors}  (wall {:.1} s; hub CPU {hub_cpu:.1} s; pulled {pulled} events)",
                round + 1,
                p(0.50),
                p(0.99),
                wall.as_secs_f64(),
            );
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let rate: Vec<f64> = rates.iter_mut().map(median).collect();
    let p99: Vec<f64> = p99s.iter_mut().map(median).collect();
    println!("\n   median of {ROUNDS} bursts:");
    for (k, (label, ..)) in configs.iter().enumerate() {
        println!("   {label:<32} {:>6.0} laptops/s  p99 {:>5.0} ms  (target p99 < 500 ms)", rate[k], p99[k]);
    }
    println!(
        "   2 hubs against 1 on PostgreSQL: {:.2}x the throughput (target >= 1.7x; here both hubs, nginx, PostgreSQL and the simulated laptops share {} cores)",
        rate[2] / rate[1],
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
}

/// A hub on PostgreSQL holding `total` events of one laptop, and another
/// laptop's first `kalamu sync`: how long, and each side's peak memory.
/// Stores `total` events of `laptops` laptops of a new center `name` straight
/// into `storage`, as their pushes of 5,000 (signed as a laptop signs them)
/// would; returns the center's id.
fn fill(storage: &dyn kalamu_hub::storage::Storage, name: &str, total: usize, laptops: usize) -> String {
    use kalamu_core::progress::event::Event;
    use kalamu_core::progress::hlc::Hlc;
    use kalamu_core::sync::proof::{Chain, Proof, SigningKey};
    use kalamu_core::sync::{Batch, LearnerRecord};
    use kalamu_hub::storage::{Incoming, wait};

    let center = storage.add_center(name).unwrap().id;
    let now = kalamu_core::store::now_millis();
    let start = Hlc::at_millis(now as u64 - 90 * 86_400_000);
    for l in 0..laptops {
        let device = uuid::Uuid::now_v7().to_string();
        let seed = kalamu_core::Store::fresh_signing_seed().unwrap();
        let key = SigningKey::from_bytes(&seed);
        let code = format!("bench-code-{device}");
        storage.add_enroll_code(&center, &code, now + 3_600_000, None).unwrap();
        let token = format!("bench-token-{device}");
        storage
            .enroll(&code, &device, &format!("laptop {l}"), &token, Some(key.verifying_key().to_bytes()), now)
            .unwrap();
        let learners: Vec<LearnerRecord> = (0..100)
            .map(|i| LearnerRecord {
                id: uuid::Uuid::now_v7().to_string(),
                name: format!("Learner {l}.{i}"),
                created_at: now,
                pin_hash: None,
            })
            .collect();
        let mine = total / laptops + usize::from(l < total % laptops);
        let mut chain = Chain::start(&device);
        let mut seq = 0u64;
        while (seq as usize) < mine {
            let n = 5_000.min(mine - seq as usize) as u64;
            let events: Vec<Event> = (seq + 1..=seq + n)
                .map(|s| Event {
                    id: kalamu_core::progress::event::derived_id(&device, s),
                    learner_id: learners[(s as usize / 7) % 100].id.clone(),
                    device_id: device.clone(),
                    seq: s,
                    hlc: Hlc(start.0 + s * (3 << 16)),
                    pack_id: shared::fleet::PACK.into(),
                    lesson_id: shared::fleet::LESSONS[(s as usize / 3) % shared::fleet::LESSONS.len()].into(),
                    body: shared::fleet::body(s as usize),
                })
                .collect();
            chain = events.iter().fold(chain, |c, e| c.then(e));
            seq += n;
            let proofs = vec![Proof::sign(&key, &device, seq, &chain)];
            // Each batch describes the learners its events name, as a laptop's do.
            let named: std::collections::BTreeSet<&str> =
                events.iter().map(|e| e.learner_id.as_str()).collect();
            let described = learners.iter().filter(|l| named.contains(l.id.as_str())).cloned().collect();
            let batch = Batch { learners: described, events, proofs };
            let wire = batch.encode();
            wait(storage.push(&center, &device, vec![Incoming::unchecked(batch, wire)], now)).unwrap();
        }
    }
    center
}

fn first_pull(work: &std::path::Path, url: &str, total: usize) {
    let storage = kalamu_hub::db::open(&DbUrl::Postgres(url.to_owned())).unwrap();
    let filling = std::time::Instant::now();
    let center = fill(storage.as_ref(), "Centre national", total, 1);
    let filled = filling.elapsed();
    let code = kalamu_hub::admin::new_enroll_code(storage.as_ref(), &center, 60, None).unwrap().code;
    drop(storage);

    let hub =
        HubProcess::start_with(&work.join(format!("pull-{total}")), &["--db", url, "--reports", "viewed"]);
    let before = hub.peak_rss_mib();
    let laptop = work.join(format!("laptop-{total}"));
    shared::kalamu(&laptop, &["enroll", "--hub", &hub.url(), "--code", &code, "--name", "reader"]);
    let pulling = std::time::Instant::now();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_kalamu"))
        .arg("--data")
        .arg(&laptop)
        .args(["sync", "--json", "--timeout", "120"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut laptop_peak: f64 = 0.0;
    while child.try_wait().unwrap().is_none() {
        laptop_peak = laptop_peak.max(shared::peak_rss_mib(child.id()));
        std::thread::sleep(Duration::from_millis(20));
    }
    let took = pulling.elapsed();
    let out = child.wait_with_output().unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    println!(
        "   {total:>9} events (stored in {:.0} s): pulled {} in {:.1} s ({:.0} events/s); peak memory: hub {:.0} MiB ({:.0} MiB before the pull), laptop {laptop_peak:.0} MiB (target: flat, < 100 MiB)",
        filled.as_secs_f64(),
        report["pulled"],
        took.as_secs_f64(),
        total as f64 / took.as_secs_f64(),
        hub.peak_rss_mib(),
        before,
    );
}

/// Another fresh database on the server of `url`.
fn fresh_on(url: &str) -> String {
    pg::database_on(url.rsplit_once('/').map_or(url, |(b, _)| b))
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

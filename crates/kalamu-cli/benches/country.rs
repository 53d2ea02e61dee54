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
//! Run: `cargo bench -p kalamu-cli --bench country`
//! (`KALAMU_BENCH_LAPTOPS`, `KALAMU_BENCH_IN_FLIGHT` change the sizes).

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

    let sqlite = HubProcess::start(&work.path().join("sqlite"));
    let (url_one, server) = pg::fresh_database();
    let (url_two, _) = match &server {
        // The second database on the same server.
        Some(_) => (fresh_on(&url_one), None::<pg::Server>),
        None => pg::fresh_database(),
    };
    let one = HubProcess::start_with(&work.path().join("pg-one"), &["--db", &url_one]);
    let two_a = HubProcess::start_with(&work.path().join("pg-two-a"), &["--db", &url_two]);
    let two_b = HubProcess::start_with(&work.path().join("pg-two-b"), &["--db", &url_two]);
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
    drop(configs);
    drop(server);
}

/// A second fresh database on the server of `url`.
fn fresh_on(url: &str) -> String {
    let base = url.rsplit_once('/').map_or(url, |(b, _)| b);
    let name = format!("hub_{}", uuid::Uuid::now_v7().simple());
    let mut admin = postgres::Client::connect(&format!("{base}/postgres"), postgres::NoTls).unwrap();
    admin.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
    format!("{base}/{name}")
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

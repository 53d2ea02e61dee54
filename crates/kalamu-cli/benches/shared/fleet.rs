//! Simulated laptops for the sync benchmarks: each with a credential, a
//! learner and its signed batches made before any clock starts, syncing as
//! the real client does (push this round's events, then pull what it lacks).

use std::sync::Arc;
use std::time::{Duration, Instant};

use kalamu_client::HubClient;
use kalamu_core::Store;
use kalamu_core::progress::event::{Answer, Event, EventBody};
use kalamu_core::progress::hlc::Hlc;
use kalamu_core::sync::proof::{Chain, Proof, SigningKey};
use kalamu_core::sync::protocol::PullRequest;
use kalamu_core::sync::{Batch, LearnerRecord, VersionVector};
use kalamu_hub::storage::Storage;

use super::{HubProcess, cpu_seconds};

/// The sample pack the simulated learners study.
pub const PACK: &str = "org.kalamu.samples.networks-intro";
/// Its lessons.
pub const LESSONS: &[&str] = &["what-is-a-network", "switches-and-routers", "ip-addresses", "wifi", "quiz"];

pub fn body(i: usize) -> EventBody {
    match i % 5 {
        0 => EventBody::LessonOpened,
        1 => EventBody::Position { media: Some("media/intro.webm".into()), at: (i % 300) as f64 * 0.5 },
        2 => EventBody::TimeSpent { seconds: 20 + (i % 40) as u32 },
        3 => EventBody::LessonCompleted,
        _ => EventBody::QuizAttempt {
            answers: [("q1".to_owned(), Answer::Choice(i % 3)), ("q2".to_owned(), Answer::Number(8.0))]
                .into(),
            score: (i % 3) as u32,
            max: 2,
        },
    }
}

/// One simulated laptop: a device credential, its events for each round
/// (encoded on the laptop's own CPU, before any clock starts), and what it holds.
pub struct Sim {
    device: String,
    client: HubClient,
    rounds: Vec<Vec<u8>>,
    /// Rounds the hub has acknowledged, and the laptop's vector.
    state: std::sync::Mutex<(usize, VersionVector)>,
}

impl Sim {
    /// Laptop `i`, with one learner and `rounds` rounds of 30 events, signed with `seed`.
    fn new(i: usize, device: String, seed: &[u8; 32], client: HubClient, rounds: usize) -> Sim {
        let key = SigningKey::from_bytes(seed);
        let learner = LearnerRecord {
            id: uuid::Uuid::now_v7().to_string(),
            name: format!("Learner {i}"),
            created_at: 0,
            pin_hash: None,
        };
        let now = Hlc::at_millis(kalamu_core::store::now_millis() as u64);
        let mut chain = Chain::start(&device);
        let rounds = (0..rounds)
            .map(|r| {
                let events = (30 * r..30 * (r + 1))
                    .map(|k| Event {
                        id: uuid::Uuid::now_v7().to_string(),
                        learner_id: learner.id.clone(),
                        device_id: device.clone(),
                        seq: k as u64 + 1,
                        hlc: Hlc(now.0 + k as u64),
                        pack_id: PACK.into(),
                        lesson_id: LESSONS[k % LESSONS.len()].into(),
                        body: body(k),
                    })
                    .collect::<Vec<_>>();
                // Signed as a laptop signs: its chain through the batch's last event.
                chain = events.iter().fold(chain, |c, e| c.then(e));
                let proofs = vec![Proof::sign(&key, &device, 30 * (r as u64 + 1), &chain)];
                Batch { learners: vec![learner.clone()], events, proofs }.encode()
            })
            .collect();
        Sim { device, client, rounds, state: Default::default() }
    }
}

/// Simulated laptops, each with one learner.
pub struct Fleet {
    sims: Vec<Arc<Sim>>,
    /// Most laptops syncing at once.
    in_flight: usize,
}

impl Fleet {
    /// `n` laptops in `centers` centers of a SQLite hub, enrolled over HTTP as laptops enrol.
    pub fn enrol_sqlite(hub: &HubProcess, n: usize, centers: usize, rounds: usize) -> Fleet {
        // Codes straight into the hub's database, as `kalamu hub enroll-code` would make them.
        let storage = kalamu_hub::sqlite::SqliteStorage::open(&hub.dir.join("hub.db")).unwrap();
        let centers: Vec<String> =
            (0..centers).map(|i| storage.add_center(&format!("Centre {i}")).unwrap().id).collect();
        let url = hub.url();
        let codes: Vec<String> = (0..n)
            .map(|i| {
                kalamu_hub::admin::new_enroll_code(&storage, &centers[i % centers.len()], 60, None)
                    .unwrap()
                    .code
            })
            .collect();
        drop(storage);
        // One connection pool for all: building a TLS-capable client per laptop
        // costs more than the sync. The pool still opens a connection per
        // request in flight, as a thousand laptops would.
        let shared = HubClient::new(&url, None, Duration::from_secs(60)).unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
        let sims = rt.block_on(async {
            let mut tasks = Vec::new();
            for (i, code) in codes.into_iter().enumerate() {
                let shared = shared.clone();
                tasks.push(tokio::spawn(async move {
                    let device = uuid::Uuid::now_v7().to_string();
                    let seed = Store::fresh_signing_seed().unwrap();
                    let (answer, address) = shared
                        .enroll(
                            &code,
                            &device,
                            &format!("sim-{i}"),
                            &kalamu_core::sync::proof::public_key_hex(&seed),
                        )
                        .await
                        .unwrap();
                    // Pinned to the key it met, as an enrolled laptop is.
                    let client =
                        HubClient::pinned(&address, Some(answer.device_token), Duration::from_secs(60))
                            .unwrap();
                    Arc::new(Sim::new(i, device, &seed, client, rounds))
                }));
            }
            let mut out = Vec::new();
            for t in tasks {
                out.push(t.await.unwrap());
            }
            out
        });
        Fleet { sims, in_flight: usize::MAX }
    }

    /// `n` laptops in `centers` centers, registered straight into a hub's
    /// database as an enrolment stores them (thousands of enrolments over
    /// HTTP would spend minutes on the codes' slow keys), syncing through
    /// `url` (plain HTTP) at most `in_flight` at once.
    pub fn register(
        storage: &dyn Storage,
        url: &str,
        n: usize,
        centers: usize,
        rounds: usize,
        in_flight: usize,
    ) -> Fleet {
        let centers: Vec<String> =
            (0..centers).map(|i| storage.add_center(&format!("Centre {i}")).unwrap().id).collect();
        let now = kalamu_core::store::now_millis();
        // One pool of connections for all, as the laptops behind one
        // balancer would use at most `in_flight` at once: each laptop's own
        // pool would keep an idle connection per laptop open on the hub.
        let shared = HubClient::new(url, None, Duration::from_secs(120)).unwrap();
        let sims = (0..n)
            .map(|i| {
                let device = uuid::Uuid::now_v7().to_string();
                let seed = Store::fresh_signing_seed().unwrap();
                let public = SigningKey::from_bytes(&seed).verifying_key().to_bytes();
                let code = kalamu_core::sync::protocol::new_token();
                let token = kalamu_core::sync::protocol::new_token();
                storage.add_enroll_code(&centers[i % centers.len()], &code, now + 3_600_000, None).unwrap();
                let hash = kalamu_core::sync::bundle::token_hash(&token);
                storage.enroll(&code, &device, &format!("sim-{i}"), &hash, Some(public), now).unwrap();
                let client = shared.with_token(token);
                Arc::new(Sim::new(i, device, &seed, client, rounds))
            })
            .collect();
        Fleet { sims, in_flight }
    }

    /// Every laptop syncs once, as the real client does: it pushes this
    /// round's events (if the hub has not acknowledged them), then pulls what
    /// it lacks. Returns sorted latencies (ms), errors, the events pulled in
    /// all, the wall time, and this process's CPU time when the last laptop was done.
    pub async fn sync_all(&self, round: usize, spread: Duration) -> (Vec<f64>, usize, usize, Duration, f64) {
        let start = Instant::now();
        let mut tasks = Vec::new();
        let gate =
            Arc::new(tokio::sync::Semaphore::new(self.in_flight.min(tokio::sync::Semaphore::MAX_PERMITS)));
        for (i, sim) in self.sims.iter().enumerate() {
            let (sim, gate) = (sim.clone(), gate.clone());
            let delay = spread.mul_f64(i as f64 / self.sims.len() as f64);
            tasks.push(tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                let _turn = gate.acquire().await;
                let t = Instant::now();
                let result: kalamu_client::Result<Vec<u8>> = async {
                    let (acked, mut mine) = sim.state.lock().unwrap().clone();
                    if acked <= round {
                        sim.client.push(sim.rounds[round].clone()).await?;
                        sim.state.lock().unwrap().0 = round + 1;
                    }
                    mine.raise(&sim.device, 30 * (round as u64 + 1));
                    for _ in 0..100 {
                        let answer =
                            sim.client.pull(&PullRequest { vector: mine.clone(), limit: 5_000 }).await?;
                        if !answer.more {
                            return Ok(answer.batches);
                        }
                        for e in Batch::decode_frames(&answer.batches)?.events {
                            mine.raise(&e.device_id, e.seq);
                        }
                    }
                    Ok(Vec::new())
                }
                .await;
                (t.elapsed().as_secs_f64() * 1e3, sim, result)
            }));
        }
        let mut answers = Vec::new();
        for t in tasks {
            answers.push(t.await.unwrap());
        }
        let wall = start.elapsed();
        let cpu = cpu_seconds(std::process::id());
        // A real laptop decodes and stores what it pulled on its own CPU; here
        // that waits until every laptop is done, so the simulated laptops do
        // not take the hub's cores from it.
        let mut latencies = Vec::new();
        let (mut pulled, mut errors) = (0, 0);
        for (ms, sim, answer) in answers {
            latencies.push(ms);
            match answer.and_then(|got| Ok(Batch::decode_frames(&got)?)) {
                Ok(batch) => {
                    pulled += batch.events.len();
                    let mut state = sim.state.lock().unwrap();
                    state.1.raise(&sim.device, 30 * (round as u64 + 1));
                    for e in &batch.events {
                        state.1.raise(&e.device_id, e.seq);
                    }
                }
                Err(e) => {
                    // The first error of a round says what went wrong; the count says how often.
                    if errors == 0 {
                        eprintln!("   first error of the round: {e}");
                    }
                    errors += 1;
                }
            }
        }
        latencies.sort_by(f64::total_cmp);
        (latencies, errors, pulled, wall, cpu)
    }
}

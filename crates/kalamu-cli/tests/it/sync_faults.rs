//! Sync over a bad link: a fault-injecting proxy between the laptops and a
//! real hub cuts, resets, stalls, slows and replays. Whatever happens, the
//! hub ends with exactly the union of the laptops' events, each once.

use crate::fleet::{Engine, Hub, Laptop, ok};
use crate::proxy::{Fault, Proxy};

fn sync_over_a_bad_link_loses_nothing_and_counts_nothing_twice(engine: Engine) {
    let hub = Hub::start_on(engine);
    hub.add_center("Centre de Kankan");
    let proxy = Proxy::start(hub.addr);
    let (a, b) = (Laptop::new(), Laptop::new());
    a.enroll(&hub.url(), &hub.code("Centre de Kankan"), "laptop-a");
    b.enroll(&hub.url(), &hub.code("Centre de Kankan"), "laptop-b");
    // Laptop A starts with more than two batches to send.
    let (l1, l2) = (a.add_learner("Aïssata"), a.add_learner("Lansana"));
    a.study(&l1, 6_000);
    a.study(&l2, 5_500);
    let l3 = b.add_learner("Nanténin");
    b.study(&l3, 700);

    // Byte counts are chosen to land inside a batch (these regular events
    // cost a few bytes each, their ids none) or inside the hub's answers (a
    // few hundred bytes each).
    let faults = [
        Fault::CutRequest(1_500),
        Fault::CutResponse(400),
        Fault::Reset(1_200),
        Fault::Stall(1_000),
        Fault::Replay,
        Fault::Slow(100_000),
        Fault::CutRequest(2_000),
        Fault::CutResponse(1_200),
        Fault::Reset(500),
        Fault::Replay,
    ];
    let mut outcomes = Vec::new();
    for (round, fault) in faults.iter().enumerate() {
        proxy.set(*fault);
        for (laptop, learner, studying) in [(&a, &l1, 1_500), (&b, &l3, 200)] {
            // Between rounds, students keep studying, so every fault meets a batch in flight.
            laptop.study(learner, studying);
            let out = laptop.sync(Some(&proxy.url()));
            let said = String::from_utf8_lossy(if out.status.success() { &out.stdout } else { &out.stderr });
            eprintln!("round {round} {fault:?}: {}", said.lines().next().unwrap_or(""));
            if laptop.data == a.data {
                outcomes.push((*fault, out.status.success()));
            }
        }
        // Whatever was cut, the hub never holds an event twice or one nobody recorded.
        let (ids, rows) = hub.event_ids();
        assert_eq!(ids.len(), rows, "round {round} ({fault:?})");
        let union: std::collections::BTreeSet<_> = a.event_ids().union(&b.event_ids()).cloned().collect();
        assert!(ids.is_subset(&union), "round {round} ({fault:?})");
    }
    let failed = outcomes.iter().filter(|(_, ok)| !ok).count();
    // On laptop A, which always has a batch in flight: cuts, resets and stalls
    // fail the sync; slow and replayed links still carry it.
    for (fault, ok) in &outcomes {
        match fault {
            Fault::Slow(_) | Fault::Replay => assert!(ok, "{fault:?}"),
            Fault::CutRequest(1_500) | Fault::Reset(1_200) | Fault::Stall(_) => assert!(!ok, "{fault:?}"),
            _ => {}
        }
    }
    assert!(failed >= 4, "the faults must bite");

    // The link heals: two clean syncs each (B then learns A's last events).
    proxy.set(Fault::None);
    for _ in 0..2 {
        for laptop in [&a, &b] {
            ok(laptop.sync(Some(&proxy.url())));
        }
    }
    let union: std::collections::BTreeSet<_> = a.event_ids().union(&b.event_ids()).cloned().collect();
    let (on_hub, rows) = hub.event_ids();
    assert_eq!(rows, union.len(), "no event counted twice");
    assert_eq!(on_hub, union, "no event lost");
    assert_eq!(a.event_ids(), union);
    assert_eq!(b.event_ids(), union);
    assert_eq!(a.store().pending().unwrap() + b.store().pending().unwrap(), 0);
    // The hub's version vector agrees with what it holds.
    let heads: i64 = hub.scalar("SELECT CAST(sum(seq) AS BIGINT) FROM heads");
    assert_eq!(heads as usize, rows);
}

fn a_laptop_switched_off_mid_sync_on_a_slow_link_sends_again_about_a_second_of_batches(engine: Engine) {
    const BATCH: i64 = 5_000;
    let hub = Hub::start_on(engine);
    hub.add_center("Centre de Labé");
    let proxy = Proxy::start(hub.addr);
    let a = Laptop::new();
    a.enroll(&hub.url(), &hub.code("Centre de Labé"), "laptop-a");
    let learner = a.add_learner("Fatoumata");
    // With the learner's addition, five batches exactly.
    a.study(&learner, 5 * BATCH as usize - 1);
    // These regular events cost under a byte each on the wire (their ids
    // nothing; a batch of 5,000 is about 3.5 KB): a batch a second or so.
    proxy.set(Fault::Slow(3_500));
    let mut sync = std::process::Command::new(env!("CARGO_BIN_EXE_kalamu"))
        .arg("--data")
        .arg(&a.data)
        .args(["sync", "--timeout", "30", "--hub", &proxy.url()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let held = || -> i64 { hub.scalar("SELECT CAST(coalesce(sum(seq), 0) AS BIGINT) FROM heads") };
    // Switched off (kill -9) once the hub has stored three batches of the five.
    for _ in 0..600 {
        if held() >= 3 * BATCH {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    sync.kill().unwrap();
    sync.wait().unwrap();
    let on_hub = held();
    assert!((3 * BATCH..5 * BATCH).contains(&on_hub), "killed mid-sync: the hub holds {on_hub}");
    // What the laptop knows the hub holds is where its next sync starts.
    let noted: i64 = a.store().hub_vector().unwrap().0.values().map(|&s| s as i64).sum();
    assert!(on_hub - noted <= 2 * BATCH, "the hub holds {on_hub}, the laptop knows of {noted}");

    proxy.set(Fault::None);
    let report = ok(a.sync(Some(&proxy.url())));
    assert!(report.contains("Nothing is waiting"), "{report}");
    let (ids, rows) = hub.event_ids();
    assert_eq!((ids.len(), rows), (5 * BATCH as usize, 5 * BATCH as usize), "each event once");
}

crate::on_both_engines!(
    sync_over_a_bad_link_loses_nothing_and_counts_nothing_twice,
    a_laptop_switched_off_mid_sync_on_a_slow_link_sends_again_about_a_second_of_batches,
);

//! A center's hub relaying to a country's: the center works through a whole
//! outage of its uplink, then the country's hub catches up with exactly what
//! its laptops recorded, and its revocations and required courses reach the
//! center. A relay speaks only for its own center's laptops, and only with
//! their own signatures.

use std::time::{Duration, Instant};

use kalamu_core::sync::VersionVector;

use crate::fleet::{Engine, Hub, Laptop, PACK, ok};
use crate::proxy::{Fault, Proxy};
use crate::{kalamu, stderr};

/// Waits (60 s at most) until `done` holds.
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < until, "still not so after 60 s: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A national hub on PostgreSQL with a center, and that center's own hub linked to it through `uplink`.
fn linked() -> (Hub, Hub, Proxy) {
    let national = Hub::start_on(Engine::Postgres);
    national.add_center("Centre de Kindia");
    let code = ok(national.run(&["enroll-code", "Centre de Kindia", "--relay"])).trim().to_owned();
    let uplink = Proxy::start(national.addr);
    let center = Hub::start_relaying();
    center.add_center("Kindia");
    let said = ok(center.run(&["upstream", "--hub", &uplink.url(), "--code", &code, "--center", "Kindia"]));
    assert!(said.contains("relays Kindia to Centre de Kindia"), "{said}");
    (national, center, uplink)
}

#[test]
fn a_center_cut_off_for_an_outage_catches_up_and_takes_the_national_hubs_word() {
    let (national, center, uplink) = linked();
    // The outage: nothing reaches the national hub, while the center goes on.
    uplink.set(Fault::CutRequest(0));
    let (a, b) = (Laptop::new(), Laptop::new());
    a.enroll(&center.url(), &center.code("Kindia"), "kindia-1");
    b.enroll(&center.url(), &center.code("Kindia"), "kindia-2");
    let (awa, sekou) = (a.add_learner("Awa"), b.add_learner("Sékou"));
    for _ in 0..3 {
        a.study(&awa, 400);
        b.study(&sekou, 300);
        ok(a.sync(None));
        ok(b.sync(None));
    }
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(national.event_ids().1, 0, "nothing crossed the cut uplink");

    // The uplink comes back, cutting answers at first, then clean.
    uplink.set(Fault::CutResponse(300));
    std::thread::sleep(Duration::from_secs(2));
    uplink.set(Fault::None);
    let union: std::collections::BTreeSet<String> = a.event_ids().union(&b.event_ids()).cloned().collect();
    wait_until("the national hub holds every event of the center", || national.event_ids().0 == union);
    let (_, rows) = national.event_ids();
    assert_eq!(rows, union.len(), "each event once");
    // Each laptop is known above by its own id, its events signed by it.
    let devices = ok(national.run(&["devices", "--json"]));
    assert!(devices.contains(&a.device_id()) && devices.contains(&b.device_id()), "{devices}");

    // Studying goes on; the next relay carries it too, and only it.
    a.study(&awa, 50);
    ok(a.sync(None));
    let union: std::collections::BTreeSet<String> = a.event_ids().union(&b.event_ids()).cloned().collect();
    wait_until("the new events arrive", || national.event_ids().0 == union);
    assert_eq!(national.event_ids().1, union.len());

    // A revocation made nationally reaches the center: laptop B is refused there.
    ok(national.run(&["revoke", &b.device_id()]));
    wait_until("the center's hub revokes laptop B", || {
        let devices: serde_json::Value =
            serde_json::from_str(&ok(center.run(&["devices", "--json"]))).unwrap();
        devices
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["id"] == b.device_id().as_str() && !d["revoked_at"].is_null())
    });
    b.study(&sekou, 2);
    let refused = b.sync(None);
    assert!(stderr(&refused).contains("removed from the center"), "{}", stderr(&refused));

    // A course required nationally is required at the center.
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("publisher.key");
    let public =
        ok(kalamu(dir.path(), &["pack", "keygen", "--out", key.to_str().unwrap()])).trim().to_owned();
    let pack = dir.path().join("networks.kpack");
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../course-packs/networks-intro");
    let (src, out, key) = (src.to_str().unwrap(), pack.to_str().unwrap(), key.to_str().unwrap());
    ok(kalamu(dir.path(), &["pack", "build", src, "--out", out, "--key", key]));
    ok(national.run(&["trust", "add", &public, "--name", "Ministère"]));
    ok(national.run(&["publish", out]));
    ok(national.run(&["require", PACK, "--center", "Centre de Kindia"]));
    wait_until("the center requires the course", || {
        center.scalar(&format!("SELECT count(*) FROM required_packs WHERE pack_id = '{PACK}'")) == 1
    });
}

/// Pushes `body` to `hub` with credential `token`; the status and the error code.
fn push_with(hub: &Hub, token: &str, body: &[u8]) -> (u16, String) {
    let (status, answer) =
        hub.request("POST", "/v1/sync/push", &[("Authorization", &format!("Bearer {token}"))], body);
    let code = serde_json::from_slice::<serde_json::Value>(&answer)
        .ok()
        .and_then(|v| v["code"].as_str().map(str::to_owned))
        .unwrap_or_default();
    (status, code)
}

#[test]
fn a_relay_speaks_only_for_its_own_centers_laptops_with_their_own_signatures() {
    let (national, center, _uplink) = linked();
    national.add_center("Centre de Labé");
    // A laptop of another center, enrolled at the national hub itself.
    let labe = Laptop::new();
    labe.enroll(&national.url(), &national.code("Centre de Labé"), "labe-1");
    let fanta = labe.add_learner("Fanta");
    labe.study(&fanta, 20);
    // And one of Kindia's, enrolled at the national hub directly: its key is pinned there.
    let direct = Laptop::new();
    direct.enroll(&national.url(), &national.code("Centre de Kindia"), "kindia-direct");
    let mariam = direct.add_learner("Mariam");
    direct.study(&mariam, 20);
    let relay_token: String = center.db().query_row("SELECT token FROM upstream", [], |r| r.get(0)).unwrap();
    let before = national.event_ids();

    // The relay cannot write another center's laptop.
    let theirs = labe.store().own_batch_after(&VersionVector::default(), 1_000).unwrap().encode();
    assert_eq!(push_with(&national, &relay_token, &theirs), (403, "other_center".into()));
    // Nor forge events of its own center's laptop: they must bear that laptop's signature.
    let mut forged = direct.store().own_batch_after(&VersionVector::default(), 1_000).unwrap();
    forged.events[3].body = kalamu_core::progress::event::EventBody::LessonCompleted;
    let (status, code) = push_with(&national, &relay_token, &forged.encode());
    assert_eq!(status, 422, "{code}");
    // Nor mix two laptops in one batch.
    let mut mixed = direct.store().own_batch_after(&VersionVector::default(), 1_000).unwrap();
    let other = labe.store().own_batch_after(&VersionVector::default(), 1_000).unwrap();
    mixed.events.extend(other.events);
    mixed.learners.extend(other.learners);
    assert_eq!(push_with(&national, &relay_token, &mixed.encode()).0, 400);
    assert_eq!(national.event_ids(), before, "nothing of any of them is stored");

    // Nor give its own key to a laptop of its center that enrolled here before sending one:
    // that laptop's first signed push registers its key, and only it may make it.
    let keyless = kalamu_core::progress::event::fresh_device_id();
    let code = national.code("Centre de Kindia");
    let body = crate::fleet::enrol_json(&code, &keyless, "kindia-old").to_string();
    assert_eq!(
        national.request("POST", "/v1/enroll", &[("Content-Type", "application/json")], body.as_bytes()).0,
        200
    );
    let mut posing = direct.store().own_batch_after(&VersionVector::default(), 1_000).unwrap();
    for e in &mut posing.events {
        e.device_id = keyless.clone();
        e.id = kalamu_core::progress::event::derived_id(&keyless, e.seq);
    }
    let chain = posing.events.iter().fold(kalamu_core::sync::proof::Chain::start(&keyless), |c, e| c.then(e));
    let chosen =
        kalamu_core::sync::proof::SigningKey::from_bytes(&kalamu_core::Store::fresh_signing_seed().unwrap());
    let last = posing.events.last().unwrap().seq;
    posing.proofs = vec![kalamu_core::sync::proof::Proof::sign(&chosen, &keyless, last, &chain)];
    assert_eq!(push_with(&national, &relay_token, &posing.encode()).0, 400);
    assert_eq!(national.event_ids(), before, "nothing of any of them is stored");

    // A laptop's credential is no relay's: it gets no relay's answers.
    let (status, _) = national.request(
        "GET",
        "/v1/relay/down",
        &[("Authorization", &format!("Bearer {}", labe.token()))],
        b"",
    );
    assert_eq!(status, 400);
    // The honest laptops sync on.
    ok(labe.sync(None));
    ok(direct.sync(None));
    assert_eq!(national.event_ids().1, 42, "two learners' additions and 40 events");
}

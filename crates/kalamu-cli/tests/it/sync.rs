//! Enrolment and sync between a real hub process and laptops, over loopback.

use kalamu_core::sync::{Batch, VersionVector};

use crate::fleet::{Engine, Hub, Laptop, PACK, ok};
use crate::{stderr, stdout};

fn json(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_str(&stdout(out)).unwrap_or_else(|e| panic!("{e}: {}{}", stdout(out), stderr(out)))
}

/// A hub with one center and two enrolled laptops.
fn center_with_two_laptops(engine: Engine) -> (Hub, Laptop, Laptop) {
    let hub = Hub::start_on(engine);
    hub.add_center("Centre de Kindia");
    let (a, b) = (Laptop::new(), Laptop::new());
    a.enroll(&hub.url(), &hub.code("Centre de Kindia"), "laptop-a");
    b.enroll(&hub.url(), &hub.code("Centre de Kindia"), "laptop-b");
    (hub, a, b)
}

fn a_hub_stopped_right_after_a_sync_still_knows_when_the_laptop_was_seen(engine: Engine) {
    let (mut hub, a, _b) = center_with_two_laptops(engine);
    let learner = a.add_learner("Mariama");
    a.study(&learner, 2);
    ok(a.sync(None));
    // Nothing left to send: this sync makes no write its note could ride with.
    let before = kalamu_core::store::now_millis();
    ok(a.sync(None));
    // Stopped well within the 0.2 s a "last seen" note may wait for a write to ride with.
    hub.stop();
    let devices = json(&hub.run(&["devices", "--json"]));
    let a_seen =
        devices.as_array().unwrap().iter().find(|d| d["name"] == "laptop-a").unwrap()["last_seen_at"]
            .as_i64();
    assert!(a_seen.is_some_and(|t| t >= before), "{devices}");
    assert_eq!(hub.event_ids().1, 3, "Mariama's addition and two events");
}

fn a_learner_who_studied_on_laptop_a_finds_all_progress_on_laptop_b(engine: Engine) {
    let (hub, a, b) = center_with_two_laptops(engine);
    let awa = ok(a.run(&["learner", "add", "Awa", "--pin", "2468"])).trim().to_owned();
    a.study(&awa, 40);
    let lesson = ["--learner", &awa, "--pin", "2468", "--pack", PACK, "--lesson", "ip-addresses"];
    ok(a.run(&[&["progress", "record"], &lesson[..], &["completed"]].concat()));
    let sent = ok(a.sync(None));
    assert!(sent.contains("Sent 42 events"), "her addition and 41 events: {sent}");
    assert!(sent.contains("Nothing is waiting"), "{sent}");

    let got = ok(b.sync(None));
    assert!(got.contains("received 42 events"), "{got}");
    let learners = json(&b.run(&["learner", "list", "--json"]));
    assert_eq!(learners[0]["name"], "Awa");
    assert_eq!(learners[0]["has_pin"], true, "the PIN travels with the learner");
    let show = |l: &Laptop| json(&l.run(&["progress", "show", "--learner", &awa, "--json"]));
    assert_eq!(show(&b), show(&a));
    assert_eq!(show(&b)[0]["progress"]["packs"][0]["lessons"]["ip-addresses"]["completed"], true);

    // Awa goes on studying on B; A sees it after its next sync.
    b.study(&awa, 7);
    assert!(ok(b.sync(None)).contains("Sent 7 events"));
    assert!(ok(a.sync(None)).contains("received 7 events"));
    assert_eq!(show(&a), show(&b));
    let (on_hub, rows) = hub.event_ids();
    assert_eq!(rows, 49);
    assert_eq!(on_hub, a.event_ids());
    assert_eq!(on_hub, b.event_ids());
    // A sync with nothing new moves nothing.
    let again = json(&a.run(&["sync", "--json"]));
    assert_eq!((again["pushed"].as_u64(), again["pulled"].as_u64()), (Some(0), Some(0)));
}

/// Copies the hub's database files (`hub.db` and its log) from one directory to another.
fn copy_db(from: &std::path::Path, to: &std::path::Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("hub.db") {
            std::fs::copy(&path, to.join(&name)).unwrap();
        }
    }
}

#[test]
fn a_hub_restored_from_an_older_backup_gets_every_event_back_from_the_laptops() {
    let (hub, a, b) = center_with_two_laptops(Engine::Sqlite);
    let awa = a.add_learner("Awa");
    a.study(&awa, 10);
    ok(a.sync(None));
    let backup = tempfile::tempdir().unwrap();
    let hub = hub.restart(|dir| copy_db(dir, backup.path()));
    a.study(&awa, 5);
    ok(a.sync(Some(&hub.url())));
    ok(b.sync(Some(&hub.url())));
    b.study(&awa, 6);
    ok(b.sync(Some(&hub.url())));
    ok(a.sync(Some(&hub.url())));
    assert_eq!(hub.event_ids().0, a.event_ids());

    // The hub's disk dies; staff restore last week's backup: it holds A's first 10 events only.
    let restore = |hub: Hub| {
        hub.restart(|dir| {
            for entry in std::fs::read_dir(dir).unwrap() {
                std::fs::remove_file(entry.unwrap().path()).unwrap();
            }
            copy_db(backup.path(), dir);
        })
    };
    let hub = restore(hub);
    assert_eq!(hub.event_ids().1, 11, "Awa's addition and 10 events");
    // A has new events: it pushes from what the hub once acknowledged, is
    // told that leaves a gap, asks what the hub holds and sends all its own.
    // Each laptop speaks only for itself: B's events come back from B.
    a.study(&awa, 3);
    let sent = ok(a.sync(Some(&hub.url())));
    assert!(sent.contains("Sent 8 events"), "{sent}");
    assert_eq!(hub.event_ids().1, 19);
    let sent = ok(b.sync(Some(&hub.url())));
    assert!(sent.contains("Sent 6 events"), "{sent}");
    let (on_hub, rows) = hub.event_ids();
    assert_eq!((on_hub, rows), (a.event_ids(), 25));

    // Again, and now neither laptop has anything new: the pull answer says
    // the hub lacks what the laptop holds, and the laptop sends its own.
    let hub = restore(hub);
    let sent = ok(b.sync(Some(&hub.url())));
    assert!(sent.contains("Sent 6 events"), "{sent}");
    assert_eq!(hub.event_ids().1, 17);
    let sent = ok(a.sync(Some(&hub.url())));
    assert!(sent.contains("Sent 8 events"), "{sent}");
    ok(b.sync(Some(&hub.url())));
    let (on_hub, rows) = hub.event_ids();
    assert_eq!((on_hub, rows), (a.event_ids(), 25));
    assert_eq!(a.event_ids(), b.event_ids());
    assert_eq!((a.store().pending().unwrap(), b.store().pending().unwrap()), (0, 0));
}

fn sync_says_what_is_pending_when_the_hub_is_away(engine: Engine) {
    let (hub, a, _b) = center_with_two_laptops(engine);
    let learner = a.add_learner("Mamadou");
    a.study(&learner, 5);
    let url = hub.url();
    drop(hub);
    let out = a.sync(Some(&url));
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("cannot be reached") && err.contains("6 events are waiting for the hub"), "{err}");
    assert_eq!(a.store().pending().unwrap(), 6, "Mamadou's addition and 5 events");
}

#[test]
fn enrolment_codes_work_once_and_expire() {
    let hub = Hub::start();
    hub.add_center("Centre de Labé");
    let (a, b, c) = (Laptop::new(), Laptop::new(), Laptop::new());
    let code = hub.code("Centre de Labé");
    a.enroll(&hub.url(), &code, "a");
    let again = b.run(&["enroll", "--hub", &hub.url(), "--code", &code]);
    assert!(stderr(&again).contains("already used"), "{}", stderr(&again));
    let wrong = b.run(&["enroll", "--hub", &hub.url(), "--code", "AAAA-BBBB"]);
    assert!(stderr(&wrong).contains("not right"), "{}", stderr(&wrong));
    let stale = ok(hub.run(&["enroll-code", "Centre de Labé", "--ttl-minutes", "0"])).trim().to_owned();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let late = c.run(&["enroll", "--hub", &hub.url(), "--code", &stale]);
    assert!(stderr(&late).contains("expired"), "{}", stderr(&late));
    // Codes are typed by people: case and dashes do not matter.
    let typed = hub.code("Centre de Labé").to_lowercase().replace('-', " ");
    b.enroll(&hub.url(), &typed, "b");
    // The hub keeps only hashes of codes and credentials.
    let db = hub.db();
    let stored: String =
        db.query_row("SELECT group_concat(code_hash) FROM enroll_codes", [], |r| r.get(0)).unwrap();
    assert!(!stored.contains(&code) && !stored.contains(&code.replace('-', "")));
    let token = a.token();
    let hashes: String =
        db.query_row("SELECT group_concat(token_hash) FROM devices", [], |r| r.get(0)).unwrap();
    assert!(!hashes.contains(&token) && !hashes.contains(token.trim_start_matches("kd1.")));
}

fn a_revoked_laptop_is_refused_at_once(engine: Engine) {
    let (hub, a, b) = center_with_two_laptops(engine);
    let learner = b.add_learner("Hawa");
    b.study(&learner, 3);
    ok(b.sync(None));
    ok(hub.run(&["revoke", &b.device_id()]));
    b.study(&learner, 2);
    let out = b.sync(None);
    assert!(stderr(&out).contains("removed from the center"), "{}", stderr(&out));
    for (method, path) in [("GET", "/v1/sync/vector"), ("POST", "/v1/sync/push"), ("POST", "/v1/sync/pull")] {
        let (status, body) =
            hub.request(method, path, &[("Authorization", &format!("Bearer {}", b.token()))], b"{}");
        assert_eq!(status, 403, "{path}");
        assert!(String::from_utf8_lossy(&body).contains("\"code\":\"revoked\""), "{path}");
    }
    assert_eq!(hub.event_ids().1, 4, "nothing from the revoked laptop after the revocation");
    let devices = json(&hub.run(&["devices", "--json"]));
    let revoked: Vec<_> = devices.as_array().unwrap().iter().filter(|d| !d["revoked_at"].is_null()).collect();
    assert_eq!(revoked.len(), 1);
    assert_eq!(revoked[0]["name"], "laptop-b");
    ok(a.sync(None));
}

fn a_laptop_of_one_center_is_refused_everything_of_another_center(engine: Engine) {
    let hub = Hub::start_on(engine);
    hub.add_center("Centre de Kindia");
    hub.add_center("Centre de Labé");
    let (a, b) = (Laptop::new(), Laptop::new());
    a.enroll(&hub.url(), &hub.code("Centre de Kindia"), "kindia-1");
    b.enroll(&hub.url(), &hub.code("Centre de Labé"), "labe-1");
    let (la, lb) = (a.add_learner("Aminata"), b.add_learner("Boubacar"));
    a.study(&la, 4);
    b.study(&lb, 6);
    ok(a.sync(None));
    ok(b.sync(None));
    let before = hub.event_ids();
    let auth = format!("Bearer {}", a.token());
    let auth = [("Authorization", auth.as_str())];

    // Reading: the vector and a pull from nothing show only Kindia's data.
    let (status, body) = hub.request("GET", "/v1/sync/vector", &auth, b"");
    assert_eq!(status, 200);
    let vector: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert!(vector["vector"].get(b.device_id()).is_none());
    let (status, body) = hub.request("POST", "/v1/sync/pull", &auth, br#"{"vector":{},"limit":1000}"#);
    assert_eq!(status, 200);
    let pulled = Batch::decode_frames(&body).unwrap();
    assert_eq!(pulled.events.len(), 5, "Aminata's addition and 4 events");
    assert!(pulled.events.iter().all(|e| e.learner_id == la));

    // Writing: Labé's events as they are, then passed off as laptop A's own.
    let theirs = b.store().batch_after(&VersionVector::default(), 100).unwrap();
    let (status, body) = hub.request("POST", "/v1/sync/push", &auth, &theirs.encode());
    assert_eq!(status, 403, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("not_your_event"), "{}", String::from_utf8_lossy(&body));
    let mut disguised = theirs.clone();
    for (i, e) in disguised.events.iter_mut().enumerate() {
        e.device_id = a.device_id();
        e.seq = 6 + i as u64;
        e.id = uuid::Uuid::now_v7().to_string();
    }
    // Signed by A, as A can sign whatever it makes up.
    a.store().sign(&mut disguised).unwrap();
    let (status, body) = hub.request("POST", "/v1/sync/push", &auth, &disguised.encode());
    assert_eq!(status, 403);
    assert!(String::from_utf8_lossy(&body).contains(&format!("learner {lb} belongs to another center")));

    // Bundles: Labé's hub bundle on a Kindia laptop.
    let file = hub.dir.path().join("labe.kbundle");
    ok(hub.run(&["export", "Centre de Labé", "--out", file.to_str().unwrap()]));
    let out = a.run(&["sync", "import", file.to_str().unwrap()]);
    assert!(stderr(&out).contains("belongs to center"), "{}", stderr(&out));
    assert_eq!(hub.event_ids(), before);
    assert_eq!(a.event_ids().len(), 5);
}

fn malformed_oversized_and_replayed_requests_get_clear_errors_and_change_nothing(engine: Engine) {
    let (hub, a, _b) = center_with_two_laptops(engine);
    let learner = a.add_learner("Fanta");
    a.study(&learner, 10);
    let batch = a.store().own_batch_after(&VersionVector::default(), 100).unwrap().encode();
    let token = format!("Bearer {}", a.token());
    let auth = [("Authorization", token.as_str())];
    let (status, body) = hub.request("POST", "/v1/sync/push", &auth, &batch);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let before = hub.event_ids();

    let huge = vec![7u8; 9 << 20];
    /// Method, path, headers, body, expected status and error code.
    type Case<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>, Vec<u8>, u16, &'a str);
    let cases: Vec<Case> = vec![
        ("GET", "/v1/sync/vector", vec![], vec![], 401, "no_credential"),
        ("GET", "/v1/sync/vector", vec![("Authorization", "Bearer kd1.00ff")], vec![], 401, "unknown_device"),
        ("POST", "/v1/sync/push", auth.to_vec(), b"not zstd at all".to_vec(), 422, "bad_batch"),
        ("POST", "/v1/sync/push", auth.to_vec(), huge, 413, "too_large"),
        ("POST", "/v1/sync/pull", auth.to_vec(), b"{\"vector\":".to_vec(), 400, "bad_request"),
        (
            "POST",
            "/v1/sync/pull",
            auth.to_vec(),
            br#"{"vector":{},"limit":5,"x":1}"#.to_vec(),
            400,
            "bad_request",
        ),
        ("POST", "/v1/enroll", vec![], b"[]".to_vec(), 400, "bad_request"),
        (
            "POST",
            "/v1/enroll",
            vec![],
            crate::fleet::enrol_json("AAAA-AAAA", "../x", "x").to_string().into_bytes(),
            400,
            "bad_request",
        ),
        ("DELETE", "/v1/sync/vector", auth.to_vec(), vec![], 405, ""),
        ("GET", "/v1/admin", vec![], vec![], 400, "bad_request"),
    ];
    for (method, path, headers, body, status, code) in cases {
        let (got, answer) = hub.request(method, path, &headers, &body);
        let answer = String::from_utf8_lossy(&answer);
        assert_eq!(got, status, "{method} {path}: {answer}");
        assert!(answer.contains(code), "{method} {path}: {answer}");
        if !code.is_empty() {
            let parsed: serde_json::Value = serde_json::from_str(&answer).unwrap();
            assert!(parsed["message"].as_str().unwrap().len() > 10, "{answer}");
        }
    }
    // The same batch again: acknowledged, and nothing is counted twice.
    let (status, body) = hub.request("POST", "/v1/sync/push", &auth, &batch);
    assert_eq!(status, 200);
    let ack: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!((ack["received"].as_u64(), ack["new"].as_u64()), (Some(11), Some(0)));
    assert_eq!(hub.event_ids(), before);
    assert_eq!(before.1, 11, "Fanta's addition and 10 events");
}

fn usb_bundles_carry_progress_both_ways_and_twice_changes_nothing(engine: Engine) {
    let (hub, a, b) = center_with_two_laptops(engine);
    let learner = a.add_learner("Djénab");
    // Her addition and 24 events of study: 25 in all.
    a.study(&learner, 24);
    let stick = tempfile::tempdir().unwrap();
    let up = stick.path().join("laptop-a.kbundle");
    let up = up.to_str().unwrap();
    assert!(ok(a.run(&["sync", "export", "--out", up])).contains("Wrote 25 events"));
    assert!(ok(hub.run(&["import", up])).contains("25 events, 25 new"));
    assert!(ok(hub.run(&["import", up])).contains("25 events, 0 new"));
    assert_eq!(hub.event_ids().1, 25);

    let down = stick.path().join("kindia.kbundle");
    let down = down.to_str().unwrap();
    ok(hub.run(&["export", "Centre de Kindia", "--out", down]));
    assert!(ok(b.run(&["sync", "import", down])).contains("25 events, 25 new here"));
    let before = b.event_ids();
    assert!(ok(b.run(&["sync", "import", down])).contains("0 new here"));
    assert_eq!(b.event_ids(), before);
    assert_eq!(b.event_ids(), a.event_ids());
    assert_eq!(a.store().pending().unwrap(), 25, "A has not heard from the hub yet");
    assert!(ok(a.sync(None)).contains("Sent 0 events"));
    assert_eq!(a.store().pending().unwrap(), 0);

    // A copy cut short, and one with a changed byte, are refused by the hub and by a laptop.
    let bytes = std::fs::read(up).unwrap();
    let cut = stick.path().join("cut.kbundle");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let mut changed = bytes.clone();
    let at = changed.len() - 40;
    changed[at] ^= 1;
    let bad = stick.path().join("changed.kbundle");
    std::fs::write(&bad, changed).unwrap();
    for (file, words) in [(&cut, "truncated"), (&bad, "changed since it was made")] {
        let out = hub.run(&["import", file.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1));
        assert!(stderr(&out).contains(words), "{}", stderr(&out));
    }
    assert_eq!(hub.event_ids().1, 25);
}

fn a_laptop_credential_rotates_after_a_week_and_the_old_one_dies_once_the_new_one_is_used(engine: Engine) {
    let (hub, a, _b) = center_with_two_laptops(engine);
    let learner = a.add_learner("Fatoumata");
    a.study(&learner, 3);
    let status_with = |token: &str| {
        let auth = format!("Bearer {token}");
        hub.request("GET", "/v1/sync/vector", &[("Authorization", auth.as_str())], b"").0
    };
    // A week later by the laptop's clock: `kalamu sync` run as it would be then.
    let sync_a_week_on = || {
        std::process::Command::new("faketime")
            .args(["-f", "+8d", env!("CARGO_BIN_EXE_kalamu"), "--data"])
            .arg(&a.data)
            .args(["sync", "--timeout", "3"])
            .output()
            .expect("faketime is installed (scripts/lib.sh installs it)")
    };
    let first = a.token();
    ok(a.sync(None));
    assert_eq!(a.token(), first, "a fresh credential is kept");

    assert!(ok(sync_a_week_on()).contains("Sent 0 events"));
    let second = a.token();
    assert_ne!(second, first, "a week-old credential was replaced");
    // The same run went on to ask for the center's courses with the new one.
    assert_eq!(status_with(&first), 401, "used once, the new one is the only one");
    assert_eq!(status_with(&second), 200);
    assert!(ok(sync_a_week_on()).contains("Sent 0 events"), "the new one is a week old by that clock");

    // A rotation cut off after the hub took the offer, before the laptop
    // switched: the laptop still holds the old credential and the next.
    let next = {
        // Its credential made long ago, by the laptop's clock.
        let db = rusqlite::Connection::open(a.data.join("kalamu.db")).unwrap();
        db.execute("UPDATE hub_link SET token_at = 0", []).unwrap();
        let store = a.store();
        let next = store.token_to_offer().unwrap().expect("a rotation is due");
        // Offered through the real hub, as the laptop would.
        let auth = format!("Bearer {second}");
        let body = serde_json::json!({ "next_token_hash": kalamu_core::sync::bundle::token_hash(&next) });
        let (status, _) = hub.request(
            "POST",
            "/v1/token",
            &[("Authorization", auth.as_str()), ("Content-Type", "application/json")],
            body.to_string().as_bytes(),
        );
        assert_eq!(status, 204);
        next
    };
    assert_eq!(a.token(), second, "the laptop died before switching");
    a.study(&learner, 2);
    assert!(ok(a.sync(None)).contains("Sent 2 events"), "the old credential still works");
    assert_eq!(a.token(), next, "and the same next one was offered again and adopted");
    ok(a.sync(None));
    assert_eq!(status_with(&second), 401);
    // Revoked, the laptop's every credential dies at once.
    ok(hub.run(&["revoke", &a.device_id()]));
    assert_eq!(status_with(&next), 403);
}

/// Whether `needle` appears anywhere in `bytes`.
fn holds(bytes: &[u8], needle: &str) -> bool {
    bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
}

fn a_lost_stick_shows_no_learner_and_a_revoked_laptop_can_neither_read_nor_forge_a_bundle(engine: Engine) {
    let (hub, a, b) = center_with_two_laptops(engine);
    let learner = a.add_learner("Djénab Kouyaté");
    a.study(&learner, 6);
    let stick = tempfile::tempdir().unwrap();
    let up = stick.path().join("laptop-a.kbundle");
    ok(a.run(&["sync", "export", "--out", up.to_str().unwrap()]));
    assert!(ok(hub.run(&["import", up.to_str().unwrap()])).contains("7 events, 7 new"));
    // B was lost; staff revoke it. The center's next bundle is made after that.
    ok(hub.run(&["revoke", &b.device_id()]));
    let down = stick.path().join("kindia.kbundle");
    ok(hub.run(&["export", "Centre de Kindia", "--out", down.to_str().unwrap()]));
    for file in [&up, &down] {
        let bytes = std::fs::read(file).unwrap();
        for secret in ["Djénab", "Kouyat", PACK, "lesson", "quiz"] {
            assert!(!holds(&bytes, secret), "{} shows {secret:?}", file.display());
        }
    }
    let before = b.event_ids();
    let refused = b.run(&["sync", "import", down.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(stderr(&refused).contains("was not made for this laptop"), "{}", stderr(&refused));
    assert_eq!(b.event_ids(), before, "the revoked laptop read nothing");
    assert!(ok(a.run(&["sync", "import", down.to_str().unwrap()])).contains("7 events, 0 new here"));

    // B forges a hub bundle for A: a learner and an event of its choosing, in
    // a file encrypted to A's public key (public keys are no secret).
    let forger = b.store();
    let fake = forger.add_learner("Intrus").unwrap();
    forger
        .record(&fake.id, PACK, "lesson-1", kalamu_core::progress::event::EventBody::LessonCompleted)
        .unwrap();
    let header = kalamu_core::sync::BundleHeader {
        from: kalamu_core::sync::BundleSource::Hub,
        ..kalamu_core::sync::BundleReader::open(&down).unwrap().header.clone()
    };
    let maker = forger.signing_key().unwrap();
    let victim = a.store().signing_key().unwrap().verifying_key();
    let sealing = kalamu_core::sync::seal::Sealing { maker: &maker, readers: &[victim] };
    let mut batches = vec![forger.own_batch_after(&VersionVector::default(), 100).unwrap()].into_iter();
    let forged = stick.path().join("forged.kbundle");
    kalamu_core::sync::bundle::write_bundle(&forged, &header, &sealing, || Ok(batches.next())).unwrap();
    let before = a.event_ids();
    let refused = a.run(&["sync", "import", forged.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(stderr(&refused).contains("was not made by this center"), "{}", stderr(&refused));
    assert_eq!(a.event_ids(), before);
    assert!(!ok(a.run(&["learner", "list"])).contains("Intrus"), "no forged learner reached A");
    // And the hub takes nothing more from the revoked laptop, not even by stick.
    let late = stick.path().join("laptop-b.kbundle");
    ok(b.run(&["sync", "export", "--out", late.to_str().unwrap()]));
    assert_eq!(hub.run(&["import", late.to_str().unwrap()]).status.code(), Some(1));
}

fn a_laptop_clock_years_ahead_loses_nothing_and_is_flagged_to_staff(engine: Engine) {
    let (hub, a, b) = center_with_two_laptops(engine);
    let learner = a.add_learner("Sékou");
    a.study(&learner, 5);
    ok(a.sync(None));
    ok(b.sync(None));
    // Laptop B's clock is 1,900 days (5.2 years) ahead for everything it does:
    // not a whole number of years, so the rounding of the words is not at stake.
    let wrong = |args: &[&str]| {
        std::process::Command::new("faketime")
            .args(["-f", "+1900d", env!("CARGO_BIN_EXE_kalamu"), "--data"])
            .arg(&b.data)
            .args(args)
            .output()
            .expect("faketime is installed (scripts/lib.sh installs it)")
    };
    let lesson = ["--learner", learner.as_str(), "--pack", PACK, "--lesson", "switches-and-routers"];
    ok(wrong(&[&["progress", "record"], &lesson[..], &["opened"]].concat()));
    ok(wrong(&[&["progress", "record"], &lesson[..], &["completed"]].concat()));
    let report = ok(wrong(&["sync", "--timeout", "5"]));
    assert!(report.contains("Sent 2 events") && report.contains("clock is 5 years ahead"), "{report}");

    // The hub stores when it saw a laptop with its next write, within 0.2 s.
    let flagged = |devices: serde_json::Value| -> Vec<serde_json::Value> {
        let all = devices.as_array().unwrap().iter();
        all.filter(|d| d["clock_is_off"] == true).map(|d| d["name"].clone()).collect()
    };
    let mut seen = flagged(json(&hub.run(&["devices", "--json"])));
    for _ in 0..20 {
        if !seen.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        seen = flagged(json(&hub.run(&["devices", "--json"])));
    }
    assert_eq!(seen, ["laptop-b"]);
    let listed = ok(hub.run(&["devices"]));
    assert!(listed.contains("CLOCK OFF: 5 years ahead") && listed.contains("last seen just now"), "{listed}");

    // A, whose clock is right, gets everything, and what it records after is ordered after it.
    ok(a.sync(None));
    a.study(&learner, 1);
    ok(a.sync(None));
    ok(b.sync(None));
    assert_eq!(a.event_ids(), b.event_ids());
    assert_eq!(hub.event_ids().1, 9);
    // B's stamps, five years ahead, did not drag A's clock along: A's new
    // event carries A's own time (a day ahead at most), so one wrong clock
    // cannot run a whole center's clocks into the future.
    let events = a.store().events_of(&learner).unwrap();
    let own = events.iter().rev().find(|e| e.device_id == a.device_id()).unwrap();
    let day = 24 * 3600 * 1000;
    assert!(own.hlc.millis() as i64 <= kalamu_core::store::now_millis() + day, "{own:?}");
    let shown = json(&a.run(&["progress", "show", "--learner", &learner, "--json"]));
    assert_eq!(shown[0]["progress"]["packs"][0]["lessons"]["switches-and-routers"]["completed"], true);
    // The hub recorded when it received each event, by its own clock.
    let received: i64 = hub.scalar("SELECT CAST(max(received_at) AS BIGINT) FROM runs");
    assert!((received - kalamu_core::store::now_millis()).abs() < 600_000);
}

fn one_sync_brings_everything_the_hub_holds_however_many_rounds_it_takes(engine: Engine) {
    let (hub, a, b) = center_with_two_laptops(engine);
    let learner = a.add_learner("Aïssatou");
    // More than four pulls of 5,000: a fresh laptop once stopped at 20,000.
    a.study(&learner, 20_005);
    ok(a.sync(None));
    let report = json(&b.run(&["sync", "--json"]));
    assert_eq!(report["pulled"], 20_006, "her addition and 20,005 events: {report}");
    assert_eq!(report["pending"], 0);
    assert!(report["waiting_for_space"].is_null());
    assert_eq!(b.event_ids(), hub.event_ids().0);
}

fn a_learner_added_on_one_laptop_reaches_the_others_before_studying(engine: Engine) {
    let (_hub, a, b) = center_with_two_laptops(engine);
    let pin = ok(a.run(&["learner", "add", "Kadiatou", "--pin", "1357"])).trim().to_owned();
    ok(a.sync(None));
    ok(b.sync(None));
    let learners = json(&b.run(&["learner", "list", "--json"]));
    assert_eq!(learners[0]["name"], "Kadiatou", "{learners}");
    assert_eq!(learners[0]["id"], pin.as_str());
    assert_eq!(learners[0]["has_pin"], true);
    // Nothing shows as studied: the addition is no lesson.
    let shown = json(&b.run(&["progress", "show", "--learner", &pin, "--json"]));
    assert_eq!(shown[0]["progress"]["seconds"], 0, "{shown}");
    assert!(shown[0]["progress"]["resume"].is_null(), "{shown}");
}

crate::on_both_engines!(
    a_hub_stopped_right_after_a_sync_still_knows_when_the_laptop_was_seen,
    a_learner_who_studied_on_laptop_a_finds_all_progress_on_laptop_b,
    sync_says_what_is_pending_when_the_hub_is_away,
    a_revoked_laptop_is_refused_at_once,
    a_laptop_of_one_center_is_refused_everything_of_another_center,
    malformed_oversized_and_replayed_requests_get_clear_errors_and_change_nothing,
    usb_bundles_carry_progress_both_ways_and_twice_changes_nothing,
    a_laptop_credential_rotates_after_a_week_and_the_old_one_dies_once_the_new_one_is_used,
    a_lost_stick_shows_no_learner_and_a_revoked_laptop_can_neither_read_nor_forge_a_bundle,
    a_laptop_clock_years_ahead_loses_nothing_and_is_flagged_to_staff,
    one_sync_brings_everything_the_hub_holds_however_many_rounds_it_takes,
    a_learner_added_on_one_laptop_reaches_the_others_before_studying
);

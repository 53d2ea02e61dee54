//! Several Kalamu processes on one data dir: the app's long-lived store (with
//! a sync thread that reopens it), and staff's CLI commands at the same time.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kalamu_core::Store;
use kalamu_core::progress::event::EventBody;

use crate::{kalamu, stderr};

/// Set for the child that plays the app.
const HOLDER_DIR: &str = "KALAMU_TEST_HOLDER_DIR";

/// The app's side, run in a child process by the test below: one store held
/// open for the whole run, recording, while a second connection opens and
/// closes now and then (as the sync encoder thread does). Prints the count
/// of committed events after each commit.
#[test]
#[ignore = "run as a child process by a_cli_beside_the_app_loses_no_recorded_event"]
fn app_like_recorder() {
    let dir = std::env::var(HOLDER_DIR).expect("the parent sets the data dir");
    let store = Store::open_dir(Path::new(&dir)).unwrap();
    let learner = store.add_learner("Aïssata").unwrap();
    for n in 1u64.. {
        store.record(&learner.id, "org.example.pack", "lesson-1", EventBody::LessonOpened).unwrap();
        println!("{n}");
        if n % 5 == 0 {
            drop(Store::open_dir(Path::new(&dir)).unwrap());
        }
        std::thread::sleep(Duration::from_millis(3));
    }
}

#[test]
fn a_cli_beside_the_app_loses_no_recorded_event() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "shared_data_dir::app_like_recorder",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(HOLDER_DIR, &data)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut committed = 0u64;
    let mut next_count = || {
        for line in lines.by_ref() {
            if let Ok(n) = line.unwrap().trim().parse::<u64>() {
                return n;
            }
        }
        panic!("the recorder stopped");
    };
    while committed < 20 {
        committed = next_count();
    }
    // Staff's commands while the app records: each opens and closes the store.
    let deadline = Instant::now() + Duration::from_secs(20);
    for round in 0..12 {
        assert!(Instant::now() < deadline, "CLI commands took too long");
        let args: &[&str] = match round % 3 {
            0 => &["learner", "list", "--json"],
            1 => &["packs"],
            _ => &["learner", "add", "Mariama"],
        };
        let out = kalamu(&data, args);
        assert!(out.status.success(), "{}", stderr(&out));
        committed = next_count();
    }
    committed = committed.max(next_count());
    child.kill().unwrap();
    child.wait().unwrap();

    let store = Store::open_dir(&data).unwrap();
    let learner = store.learners().unwrap().into_iter().find(|l| l.name == "Aïssata").unwrap();
    let stored = store.events_of(&learner.id).unwrap().len() as u64;
    assert!(
        stored >= committed,
        "the app committed {committed} events but only {stored} survived the CLI and a kill -9"
    );
    assert_eq!(store.learners().unwrap().iter().filter(|l| l.name == "Mariama").count(), 4);
}

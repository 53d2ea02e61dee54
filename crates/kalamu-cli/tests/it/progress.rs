//! `kalamu progress`: recording as the app does, and showing what was derived.

use std::path::Path;

use crate::{kalamu, stderr, stdout};

fn setup(dir: &Path) -> (std::path::PathBuf, String) {
    let data = dir.join("data");
    let pack = dir.join("bases.kpack");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../course-packs/bases-informatique");
    assert!(
        kalamu(dir, &["pack", "build", src.to_str().unwrap(), "--out", pack.to_str().unwrap()])
            .status
            .success()
    );
    assert!(kalamu(&data, &["import", "--allow-unsigned", pack.to_str().unwrap()]).status.success());
    let learner = stdout(&kalamu(&data, &["learner", "add", "Kadiatou"])).trim().to_owned();
    (data, learner)
}

#[test]
fn recorded_events_show_up_as_progress() {
    let dir = tempfile::tempdir().unwrap();
    let (data, learner) = setup(dir.path());
    let pack = "org.kalamu.samples.bases-informatique";
    let record = |lesson: &str, event: &[&str]| {
        let mut args = vec!["progress", "record", "--learner", &learner, "--pack", pack, "--lesson", lesson];
        args.extend_from_slice(event);
        let out = kalamu(&data, &args);
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out)
    };
    record("parties-ordinateur", &["opened"]);
    record("parties-ordinateur", &["time", "120"]);
    record("parties-ordinateur", &["completed"]);
    record("le-binaire", &["opened"]);
    record("le-binaire", &["position", "4.5", "--media", "media/compter-en-binaire.webm"]);
    let graded = record("materiel-quiz", &["quiz", r#"{"q1": 0}"#]);
    assert!(graded.contains("\"max\":5"), "{graded}");

    let out = kalamu(&data, &["progress", "show", "--learner", &learner, "--json"]);
    let shown: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let p = &shown[0]["progress"];
    assert_eq!(p["packs"][0]["completed"], 1, "a completed lesson; the quiz, 0 of 5, is only attempted");
    assert_eq!(p["packs"][0]["lessons"]["materiel-quiz"]["attempts"], 1);
    assert_eq!(p["packs"][0]["lessons"]["materiel-quiz"]["completed"], false);
    assert_eq!(p["packs"][0]["lessons"]["parties-ordinateur"]["seconds"], 120);
    assert_eq!(p["resume"]["lesson_id"], "le-binaire");
    assert_eq!(p["resume"]["position"]["at"], 4.5);
}

#[test]
fn recording_against_a_missing_lesson_or_learner_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (data, learner) = setup(dir.path());
    let pack = "org.kalamu.samples.bases-informatique";
    let out = kalamu(
        &data,
        &["progress", "record", "--learner", &learner, "--pack", pack, "--lesson", "nope", "opened"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("has no lesson nope"), "{}", stderr(&out));
    let out = kalamu(
        &data,
        &["progress", "record", "--learner", "ghost", "--pack", pack, "--lesson", "le-binaire", "opened"],
    );
    assert!(stderr(&out).contains("no learner with id ghost"), "{}", stderr(&out));
}

#[test]
fn nobody_records_for_a_learner_with_a_pin_without_it() {
    let dir = tempfile::tempdir().unwrap();
    let (data, _) = setup(dir.path());
    let pack = "org.kalamu.samples.bases-informatique";
    let learner = stdout(&kalamu(&data, &["learner", "add", "Binta", "--pin", "4821"])).trim().to_owned();
    let record = |extra: &[&str], event: &[&str]| {
        let mut args =
            vec!["progress", "record", "--learner", &learner, "--pack", pack, "--lesson", "le-binaire"];
        args.extend_from_slice(extra);
        args.extend_from_slice(event);
        kalamu(&data, &args)
    };
    for (extra, what) in [(&[][..], "no PIN"), (&["--pin", "1111"][..], "a wrong PIN")] {
        for event in [&["completed"][..], &["quiz", r#"{"q1": 0}"#][..]] {
            let refused = record(extra, event);
            assert_eq!(refused.status.code(), Some(1), "{what}: {event:?}");
            assert!(stderr(&refused).to_lowercase().contains("pin"), "{what}: {}", stderr(&refused));
        }
    }
    let shown = stdout(&kalamu(&data, &["progress", "show", "--learner", &learner, "--json"]));
    let shown: serde_json::Value = serde_json::from_str(&shown).unwrap();
    let p = &shown[0]["progress"];
    assert_eq!(p["packs"][0]["lessons"]["le-binaire"]["completed"], false, "nothing was recorded: {shown}");
    assert!(p["resume"].is_null(), "nothing was recorded: {shown}");
    let done = record(&["--pin", "4821"], &["completed"]);
    assert!(done.status.success(), "{}", stderr(&done));
}

#[test]
fn pin_guesses_slow_down_after_four_wrong_ones_even_across_runs() {
    let dir = tempfile::tempdir().unwrap();
    let (data, _) = setup(dir.path());
    let pack = "org.kalamu.samples.bases-informatique";
    let learner = stdout(&kalamu(&data, &["learner", "add", "Binta", "--pin", "4821"])).trim().to_owned();
    let args = |pin: &'static str| {
        vec![
            "progress",
            "record",
            "--learner",
            &learner,
            "--pack",
            pack,
            "--lesson",
            "le-binaire",
            "--pin",
            pin,
        ]
        .into_iter()
        .map(str::to_owned)
        .chain(["opened".to_owned()])
        .collect::<Vec<_>>()
    };
    let at = |offset: Option<&str>, pin: &'static str| {
        let mut command = match offset {
            None => std::process::Command::new(env!("CARGO_BIN_EXE_kalamu")),
            Some(offset) => {
                let mut c = std::process::Command::new("faketime");
                c.args(["-f", offset, env!("CARGO_BIN_EXE_kalamu")]);
                c
            }
        };
        command
            .arg("--data")
            .arg(&data)
            .args(args(pin))
            .output()
            .expect("kalamu runs (faketime is installed)")
    };
    // Four wrong PINs cost only a retry, each in its own process.
    for _ in 0..4 {
        assert!(stderr(&at(None, "1111")).contains("not right"));
    }
    // The fifth is counted too; from then on even the right PIN must wait.
    assert!(stderr(&at(None, "1111")).contains("not right"));
    let waiting = at(None, "4821");
    assert_eq!(waiting.status.code(), Some(1));
    assert!(stderr(&waiting).contains("try again in 30 s"), "{}", stderr(&waiting));
    // Setting the clock back does not end the wait.
    assert!(stderr(&at(Some("-1d"), "4821")).contains("try again in 30 s"));
    // Once the wait is over, the right PIN works and clears the count.
    let later = at(Some("+31s"), "4821");
    assert!(later.status.success(), "{}", stderr(&later));
    assert!(stderr(&at(None, "1111")).contains("not right"), "the count starts again");
    assert!(at(None, "4821").status.success());
}

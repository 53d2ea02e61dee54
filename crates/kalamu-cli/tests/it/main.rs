//! The `kalamu` binary as scripts and staff use it.

/// Runs each named test, a function of the hub's [`fleet::Engine`], once on
/// SQLite and once on a real PostgreSQL server.
#[macro_export]
macro_rules! on_both_engines {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite {
            $( #[test] fn $name() { super::$name($crate::fleet::Engine::Sqlite) } )*
        }
        mod on_postgres {
            $( #[test] fn $name() { super::$name($crate::fleet::Engine::Postgres) } )*
        }
    };
}

mod attacks;
mod balancer;
mod country;
mod disk_space;
mod downloads;
mod fleet;
mod packs;
mod pg;
mod progress;
mod proxy;
mod relay;
mod settings;
mod shared_data_dir;
mod stick;
mod sync;
mod sync_faults;
mod tls;

use std::path::Path;
use std::process::{Command, Output};

pub(crate) fn kalamu(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kalamu"))
        .arg("--data")
        .arg(data)
        .args(args)
        .env_remove("KALAMU_DATA")
        .output()
        .expect("kalamu runs")
}

pub(crate) fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

pub(crate) fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).unwrap()
}

#[test]
fn help_lists_the_commands() {
    let out = Command::new(env!("CARGO_BIN_EXE_kalamu")).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = stdout(&out);
    for cmd in ["packs", "learner", "--data"] {
        assert!(help.contains(cmd), "--help does not mention {cmd}:\n{help}");
    }
}

#[test]
fn packs_json_on_a_new_data_dir_is_an_empty_list() {
    let dir = tempfile::tempdir().unwrap();
    let out = kalamu(dir.path(), &["packs", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let packs: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(packs, serde_json::json!([]));
    assert!(dir.path().join("kalamu.db").is_file(), "the store is created on first use");
}

#[test]
fn kalamu_data_env_var_chooses_the_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_kalamu"))
        .args(["learner", "add", "Fatoumata"])
        .env("KALAMU_DATA", dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let list = kalamu(dir.path(), &["learner", "list", "--json"]);
    let learners: serde_json::Value = serde_json::from_str(&stdout(&list)).unwrap();
    assert_eq!(learners[0]["name"], "Fatoumata");
    assert_eq!(learners[0]["id"], stdout(&out).trim());
}

#[test]
fn data_dir_holding_a_foreign_file_fails_with_one_sentence_and_status_1() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("kalamu.db"), "not a database").unwrap();
    let out = kalamu(dir.path(), &["packs"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.starts_with("kalamu: ") && err.contains("is not a Kalamu store"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one sentence: {err}");
}

#[test]
fn usage_error_exits_with_status_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = kalamu(dir.path(), &["packs", "--no-such-flag"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn blank_learner_name_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = kalamu(dir.path(), &["learner", "add", "  "]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("name cannot be empty"));
}

#[test]
fn learner_added_with_a_pin_is_listed_as_guarded() {
    let dir = tempfile::tempdir().unwrap();
    let out = kalamu(dir.path(), &["learner", "add", "Sékou", "--pin", "2468"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let list: serde_json::Value =
        serde_json::from_str(&stdout(&kalamu(dir.path(), &["learner", "list", "--json"]))).unwrap();
    assert_eq!(list[0]["has_pin"], true);
    assert!(!stdout(&kalamu(dir.path(), &["learner", "list", "--json"])).contains("2468"));
    let bad = kalamu(dir.path(), &["learner", "add", "Nènè", "--pin", "12"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(stderr(&bad).contains("exactly four digits"));
}

#[test]
fn a_reader_that_stops_early_ends_the_command_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let store = kalamu_core::Store::open_dir(dir.path()).unwrap();
    for i in 0..1500 {
        store.add_learner(&format!("Apprenant numéro {i:04} du centre de formation de Kindia")).unwrap();
    }
    drop(store);
    // More than a pipe holds, so the command is still writing when the reader goes (`… | head -1`).
    let mut child = Command::new(env!("CARGO_BIN_EXE_kalamu"))
        .arg("--data")
        .arg(dir.path())
        .args(["learner", "list", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 1];
    std::io::Read::read_exact(child.stdout.as_mut().unwrap(), &mut first).unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{:?}", out.status);
    assert_eq!(stderr(&out), "", "no panic, no message");
}

/// Runs `kalamu --data DATA ARGS` through a shell with umask 022, as a
/// laptop's or a hub's account usually has it.
#[cfg(unix)]
fn kalamu_with_umask_022(data: &Path, args: &[&str]) -> Output {
    let mut script = String::from("umask 022 && exec \"$0\" --data \"$1\"");
    for i in 0..args.len() {
        script.push_str(&format!(" \"${}\"", i + 2));
    }
    Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_kalamu"))
        .arg(data)
        .args(args)
        .env_remove("KALAMU_DATA")
        .output()
        .expect("kalamu runs")
}

#[cfg(unix)]
#[test]
fn stores_and_hub_databases_are_for_their_account_alone_whatever_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let (laptop, hub) = (dir.path().join("laptop"), dir.path().join("hub"));
    for (data, args) in
        [(&laptop, &["learner", "add", "Fatoumata"][..]), (&hub, &["hub", "center", "add", "Boké"][..])]
    {
        let out = kalamu_with_umask_022(data, args);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&laptop), 0o700, "the laptop's data dir");
    assert_eq!(mode(&hub), 0o700, "the hub's data dir");
    let mut files = Vec::new();
    for d in [&laptop, &hub] {
        for e in std::fs::read_dir(d).unwrap().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.contains(".db") {
                files.push((name, mode(&e.path())));
            }
        }
    }
    for must in ["kalamu.db", "chunks.db", "hub.db"] {
        assert!(files.iter().any(|(n, _)| n == must), "{must} is there: {files:?}");
    }
    assert!(files.iter().all(|(_, m)| *m == 0o600), "every database file and journal is 0600: {files:?}");
}

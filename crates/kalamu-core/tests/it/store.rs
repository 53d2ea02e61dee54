//! Opening stores: new, current, newer, and files that are not stores.

use std::path::Path;

use kalamu_core::store::{FILE_NAME, SCHEMA_VERSION};
use kalamu_core::{Error, Store};

fn bytes(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap()
}

#[test]
fn store_is_created_on_first_use_in_a_missing_data_dir() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("nested/data");
    let store = Store::open_dir(&data).unwrap();
    assert!(data.join(FILE_NAME).is_file());
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    assert!(store.packs().unwrap().is_empty());
}

#[test]
fn data_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let id = Store::open_dir(dir.path()).unwrap().add_learner("Mamadou").unwrap().id;
    let store = Store::open_dir(dir.path()).unwrap();
    assert_eq!(store.learner(&id).unwrap().name, "Mamadou");
}

#[test]
fn store_from_a_newer_kalamu_is_refused_and_left_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(FILE_NAME);
    drop(Store::open(&path).unwrap());
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1).unwrap();
        // Leave rollback-journal mode so nothing but our check could touch the file.
        conn.pragma_update(None, "journal_mode", "DELETE").unwrap();
    }
    let before = bytes(&path);
    let err = Store::open(&path).err().expect("a newer store must be refused");
    assert!(matches!(err, Error::NewerStore { found, .. } if found == SCHEMA_VERSION + 1), "{err}");
    assert!(err.to_string().contains("newer Kalamu"), "{err}");
    assert_eq!(bytes(&path), before, "the refused store was modified");
    assert!(!dir.path().join(format!("{FILE_NAME}-wal")).exists());
}

#[test]
fn file_that_is_not_sqlite_is_refused_and_left_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(FILE_NAME);
    std::fs::write(&path, b"These are a learner's notes, not a database.\n").unwrap();
    let err = Store::open(&path).err().expect("a text file must be refused");
    assert!(matches!(err, Error::NotAStore { .. }), "{err}");
    assert!(err.to_string().contains("not a Kalamu store"), "{err}");
    assert_eq!(bytes(&path), b"These are a learner's notes, not a database.\n");
}

#[test]
fn sqlite_database_of_another_program_is_refused_and_left_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(FILE_NAME);
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL); INSERT INTO invoices VALUES (1, 9.5);")
            .unwrap();
    }
    let before = bytes(&path);
    let err = Store::open(&path).err().expect("a foreign database must be refused");
    assert!(matches!(err, Error::NotAStore { .. }), "{err}");
    assert!(err.to_string().contains("another program"), "{err}");
    assert_eq!(bytes(&path), before);
}

#[test]
fn two_processes_opening_a_new_store_at_once_both_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(FILE_NAME);
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let path = path.clone();
            std::thread::spawn(move || Store::open(&path).map(|s| s.schema_version().unwrap()))
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap().unwrap(), SCHEMA_VERSION);
    }
}

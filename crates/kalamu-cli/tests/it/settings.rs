//! `kalamu hub serve` with its settings file, as the packaged service starts
//! it: the file is read, flags override it, a typo stops the start, and the
//! operator's log says what happened.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};

use crate::{kalamu, stderr};

/// Starts `kalamu hub --config FILE serve ARGS`; returns the child, its address and its log file.
fn serve(data: &std::path::Path, config: &std::path::Path, args: &[&str]) -> (std::process::Child, String) {
    let log = std::fs::File::create(data.join("hub.log")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kalamu"))
        .arg("--data")
        .arg(data)
        .arg("hub")
        .arg("--config")
        .arg(config)
        .arg("serve")
        .args(args)
        .env_remove("JOURNAL_STREAM")
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    (child, line.trim().to_owned())
}

fn get(address: &str, path: &str) -> String {
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: hub\r\nConnection: close\r\n\r\n").unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

#[test]
fn the_hub_serves_what_its_settings_file_says_and_flags_override_it() {
    let data = tempfile::tempdir().unwrap();
    let db = data.path().join("elsewhere.db");
    let config = data.path().join("hub.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"256.0.0.1:1\"\ndb = \"sqlite:{}\"\nplain_http = true\nreports = \"viewed\"\nlog = \"info\"\n",
            db.display()
        ),
    )
    .unwrap();

    // The file's address cannot be listened on; the flag's wins.
    let (mut hub, line) = serve(data.path(), &config, &["--listen", "127.0.0.1:0"]);
    let address = line.rsplit("http://").next().unwrap().to_owned();
    assert!(line.contains("http://127.0.0.1:"), "plain HTTP, as the file says: {line}");
    assert!(get(&address, "/v1/health").starts_with("HTTP/1.1 200"));
    let refused = get(&address, "/v1/sync/vector");
    assert!(refused.starts_with("HTTP/1.1 401"), "{refused}");
    // Other hub commands read the same database through the same file.
    let config_arg = config.to_str().unwrap();
    let added = kalamu(data.path(), &["hub", "--config", config_arg, "center", "add", "Centre de Mamou"]);
    assert!(added.status.success(), "{}", stderr(&added));
    let code = kalamu(data.path(), &["hub", "--config", config_arg, "enroll-code", "Centre de Mamou"]);
    let code = String::from_utf8(code.stdout).unwrap().trim().to_owned();
    let laptop = tempfile::tempdir().unwrap();
    let hub_url = format!("http://{address}");
    let enrolled =
        kalamu(laptop.path(), &["enroll", "--hub", &hub_url, "--code", &code, "--name", "Salle 2"]);
    assert!(enrolled.status.success(), "{}", stderr(&enrolled));
    let _ = hub.kill();
    let _ = hub.wait();

    assert!(db.is_file(), "the database is the one the file names");
    assert!(!data.path().join("hub.db").exists(), "not the data directory's default");
    let log = std::fs::read_to_string(data.path().join("hub.log")).unwrap();
    assert!(log.contains(&format!("database sqlite:{}", db.display())), "{log}");
    assert!(log.contains("listening on http://127.0.0.1:"), "{log}");
    assert!(log.contains("refused 401 no_credential"), "each refused request is logged with its code: {log}");
    assert!(log.lines().all(|l| l.contains(" INFO ") || l.contains(" WARN ")), "one line each: {log}");
    assert!(log.contains("enrolled laptop") && log.contains("(Salle 2) into Centre de Mamou"), "{log}");
    assert!(!log.contains(&code), "the enrolment code is not logged: {log}");
    let store = rusqlite::Connection::open(laptop.path().join("kalamu.db")).unwrap();
    let token: String = store.query_row("SELECT device_token FROM hub_link", [], |r| r.get(0)).unwrap();
    assert!(token.len() >= 32 && !log.contains(&token), "the laptop's credential is not logged: {log}");
    let db = rusqlite::Connection::open(&db).unwrap();
    let centers: i64 = db.query_row("SELECT count(*) FROM centers", [], |r| r.get(0)).unwrap();
    assert_eq!(centers, 1);
}

#[test]
fn a_settings_file_with_a_typo_stops_the_start_and_names_the_key() {
    let data = tempfile::tempdir().unwrap();
    let config = data.path().join("hub.toml");
    std::fs::write(&config, "listen = \"127.0.0.1:0\"\nplain-http = true\n").unwrap();
    let out = kalamu(data.path(), &["hub", "--config", config.to_str().unwrap(), "serve"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("hub.toml") && err.contains("plain-http"), "{err}");
    assert!(!data.path().join("hub.db").exists(), "nothing was made");
}

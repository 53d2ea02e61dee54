//! The hub's PostgreSQL database as operators meet it, on a real server:
//! hub processes starting together on an empty database make its schema
//! once, and a database that is not a hub's, or a newer hub's, is refused
//! without a change.

use kalamu_hub::HubError;
use kalamu_hub::db::{DbUrl, open};

#[path = "../../kalamu-cli/tests/it/pg.rs"]
mod pg;

#[test]
fn hubs_starting_together_make_the_schema_once_and_share_it() {
    let (url, _server) = pg::fresh_database();
    let db = DbUrl::Postgres(url.clone());
    let opened: Vec<_> = (0..4)
        .map(|_| {
            let db = db.clone();
            std::thread::spawn(move || open(&db).map(|_| ()))
        })
        .collect();
    for o in opened {
        o.join().unwrap().unwrap();
    }
    let a = open(&db).unwrap();
    a.add_center("Centre de Boké").unwrap();
    assert_eq!(open(&db).unwrap().center("Centre de Boké").unwrap().name, "Centre de Boké");
    let version: i64 = pg::client(&url).query_one("SELECT version FROM kalamu_schema", &[]).unwrap().get(0);
    assert_eq!(version, 12, "numbered as SQLite's schema");
}

#[test]
fn a_database_of_something_else_or_of_a_newer_hub_is_refused_unchanged() {
    let (url, _server) = pg::fresh_database();
    let mut client = pg::client(&url);
    client.batch_execute("CREATE TABLE accounts (id INT); INSERT INTO accounts VALUES (7)").unwrap();
    let refused = open(&DbUrl::Postgres(url.clone())).err().expect("refused");
    assert!(
        matches!(&refused, HubError::BadDatabase(_, why) if why.contains("not a Kalamu hub database")),
        "{refused}"
    );
    let tables: i64 = client
        .query_one("SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()", &[])
        .unwrap()
        .get(0);
    assert_eq!(tables, 1, "nothing was made");

    let (url, _server2) = pg::fresh_database();
    drop(open(&DbUrl::Postgres(url.clone())).unwrap());
    pg::client(&url).batch_execute("UPDATE kalamu_schema SET version = 99").unwrap();
    let refused = open(&DbUrl::Postgres(url)).err().expect("refused");
    assert!(matches!(&refused, HubError::BadDatabase(_, why) if why.contains("newer hub")), "{refused}");
}

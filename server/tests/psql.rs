//! A psql session against the server: the transcript PostgreSQL's own shell shows for a
//! table, a query, an error, a failed transaction block, `\dt`, `\dn` and `\q`. psql 15 is installed on
//! every machine of the project; the test fails if it is not.

use std::process::Command;
use std::sync::Arc;

use engine::{Engine, EngineConfig, ManualClock};
use server::Settings;

const SCRIPT: &str = r#"CREATE TABLE fruit (id INT PRIMARY KEY, name TEXT, price DOUBLE);
INSERT INTO fruit VALUES (1, 'apple', 1.5), (2, 'pear', 2.25);
SELECT * FROM fruit ORDER BY id;
SELECT name FROM missing;
BEGIN;
INSERT INTO fruit VALUES (1, 'again', 0);
SELECT 1;
ROLLBACK;
SELECT count(*) AS fruits FROM fruit;
\dt
\dn
\q
"#;

const TRANSCRIPT: &str = r#"CREATE TABLE fruit (id INT PRIMARY KEY, name TEXT, price DOUBLE);
CREATE TABLE
INSERT INTO fruit VALUES (1, 'apple', 1.5), (2, 'pear', 2.25);
INSERT 0 2
SELECT * FROM fruit ORDER BY id;
 id | name  | price 
----+-------+-------
  1 | apple |   1.5
  2 | pear  |  2.25
(2 rows)

SELECT name FROM missing;
psql:script.sql:4: ERROR:  Error during planning: table 'engine.default.missing' not found
BEGIN;
BEGIN
INSERT INTO fruit VALUES (1, 'again', 0);
psql:script.sql:6: ERROR:  duplicate key (id)=(1) violates the primary key of table default.fruit
SELECT 1;
psql:script.sql:7: ERROR:  current transaction is aborted, commands ignored until end of transaction block
ROLLBACK;
ROLLBACK
SELECT count(*) AS fruits FROM fruit;
 fruits 
--------
      2
(1 row)

\dt
        List of relations
 Schema  | Name  | Type  | Owner 
---------+-------+-------+-------
 default | fruit | table | root
(1 row)

\dn
 List of schemas
  Name   | Owner 
---------+-------
 default | root
(1 row)

\q
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_psql_session_reads_as_against_postgresql() {
    let dir = tempfile::tempdir().unwrap();
    let config = EngineConfig::for_tests(dir.path().join("data"), Arc::new(ManualClock::default())).with_root_password("secret");
    let engine = Engine::open(config).unwrap();
    let mut settings = Settings::new(dir.path().join("data"));
    settings.listen = "127.0.0.1:0".into();
    let server = server::start(engine, &settings).await.unwrap();
    let script = dir.path().join("script.sql");
    std::fs::write(&script, SCRIPT).unwrap();
    let address = server.local_addr();
    let command = format!(
        "cd {} && psql -X -a -h {} -p {} -U root -d postgres -f script.sql 2>&1",
        dir.path().display(),
        address.ip(),
        address.port()
    );
    let output = tokio::task::spawn_blocking(move || Command::new("sh").arg("-c").arg(command).env("PGPASSWORD", "secret").output())
        .await
        .unwrap()
        .expect("psql runs (PostgreSQL 15's client is installed on the project's machines)");
    let transcript = String::from_utf8_lossy(&output.stdout);
    assert_eq!(transcript, TRANSCRIPT);
    server.shutdown().await;
}

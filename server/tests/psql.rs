//! A psql session against the server: the transcript PostgreSQL's own shell shows for a
//! table, a query, an error, a failed transaction block, `\dt`, `\dn` and `\q`. psql 15 is installed on
//! every machine of the project (and openssl, which makes the TLS test's certificate);
//! the tests fail if they are not.

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

/// A server over a fresh engine whose root password is `secret`, in `dir`.
async fn start(dir: &std::path::Path, adjust: impl FnOnce(&mut Settings)) -> server::RunningServer {
    let config = EngineConfig::for_tests(dir.join("data"), Arc::new(ManualClock::default())).with_root_password("secret");
    let engine = Engine::open(config).unwrap();
    let mut settings = Settings::new(dir.join("data"));
    settings.listen = "127.0.0.1:0".into();
    adjust(&mut settings);
    server::start(engine, &settings).await.unwrap()
}

/// Runs a shell command in `dir` (psql, openssl) and returns what it printed, both streams.
async fn shell(dir: &std::path::Path, command: String) -> String {
    let command = format!("cd {} && {command} 2>&1", dir.display());
    let output = tokio::task::spawn_blocking(move || Command::new("sh").arg("-c").arg(command).env("PGPASSWORD", "secret").output())
        .await
        .unwrap()
        .expect("the shell runs");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_psql_session_reads_as_against_postgresql() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |_| {}).await;
    std::fs::write(dir.path().join("script.sql"), SCRIPT).unwrap();
    let address = server.local_addr();
    let transcript =
        shell(dir.path(), format!("psql -X -a -h {} -p {} -U root -d postgres -f script.sql", address.ip(), address.port())).await;
    assert_eq!(transcript, TRANSCRIPT);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_certificate_connections_may_use_tls() {
    let dir = tempfile::tempdir().unwrap();
    let made = shell(
        dir.path(),
        "openssl req -x509 -newkey rsa:2048 -nodes -keyout server.key -out server.crt -days 1 -subj /CN=localhost".into(),
    )
    .await;
    assert!(dir.path().join("server.key").exists(), "openssl made no key: {made}");
    let (cert, key) = (dir.path().join("server.crt"), dir.path().join("server.key"));
    let server = start(dir.path(), |settings| settings.tls = Some((cert, key))).await;
    let address = server.local_addr();
    let url = |mode: &str| format!("\"host={} port={} user=root dbname=postgres sslmode={mode}\"", address.ip(), address.port());
    let info = shell(dir.path(), format!("psql -X {} -c '\\conninfo'", url("require"))).await;
    assert!(info.contains("SSL connection (protocol: TLSv1.3"), "{info}");
    server.shutdown().await;
    // Without a certificate, a client that requires TLS is refused.
    let plain = start(&dir.path().join("plain"), |_| {}).await;
    let address = plain.local_addr();
    let refused = shell(
        dir.path(),
        format!("psql -X \"host={} port={} user=root dbname=postgres sslmode=require\" -c 'SELECT 1'", address.ip(), address.port()),
    )
    .await;
    assert!(refused.contains("does not support SSL"), "{refused}");
    plain.shutdown().await;
}

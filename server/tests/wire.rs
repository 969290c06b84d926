//! The server through a real PostgreSQL client (tokio-postgres): both protocols, values
//! of every type in text and binary, errors with their SQLSTATE, transaction status,
//! SCRAM logins, user isolation, the startup database, the connection limit, cancel and
//! shutdown. Each test runs its own server on a free port over a fresh engine.

use std::sync::Arc;

use engine::{Engine, EngineConfig, ManualClock};
use server::{RunningServer, Settings};
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

const ROOT_PASSWORD: &str = "root-password";

struct TestServer {
    server: Option<RunningServer>,
    engine: Engine,
    _dir: tempfile::TempDir,
}

impl TestServer {
    async fn start() -> TestServer {
        TestServer::with(|_| {}).await
    }

    async fn with(adjust: impl FnOnce(&mut Settings)) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let config = EngineConfig::for_tests(dir.path().join("data"), Arc::new(ManualClock::default())).with_root_password(ROOT_PASSWORD);
        let engine = Engine::open(config).unwrap();
        let mut settings = Settings::new(dir.path().join("data"));
        settings.listen = "127.0.0.1:0".into();
        adjust(&mut settings);
        let server = server::start(engine.clone(), &settings).await.unwrap();
        TestServer { server: Some(server), engine, _dir: dir }
    }

    fn url(&self, user: &str, password: &str, database: &str) -> String {
        let address = self.server.as_ref().unwrap().local_addr();
        format!("host={} port={} user={user} password={password} dbname={database}", address.ip(), address.port())
    }

    async fn try_connect(&self, user: &str, password: &str, database: &str) -> Result<Client, tokio_postgres::Error> {
        let (client, connection) = tokio_postgres::connect(&self.url(user, password, database), NoTls).await?;
        tokio::spawn(connection);
        Ok(client)
    }

    async fn root(&self) -> Client {
        self.try_connect("root", ROOT_PASSWORD, "postgres").await.unwrap()
    }
}

fn code(error: &tokio_postgres::Error) -> String {
    error.code().map(|c| c.code().to_string()).unwrap_or_else(|| format!("no SQLSTATE: {error}"))
}

/// The text rows of a simple query.
async fn simple_rows(client: &Client, sql: &str) -> Vec<Vec<Option<String>>> {
    client
        .simple_query(sql)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|message| match message {
            SimpleQueryMessage::Row(row) => Some((0..row.len()).map(|i| row.get(i).map(str::to_string)).collect()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn both_protocols_carry_values_of_every_type() {
    let test = TestServer::start().await;
    let client = test.root().await;
    client
        .batch_execute(
            "CREATE TABLE t (id BIGINT PRIMARY KEY, small SMALLINT, i INT, f DOUBLE, r REAL, b BOOLEAN, s TEXT, \
             d DATE, ts TIMESTAMP, bin BYTEA, dec DECIMAL(10, 2))",
        )
        .await
        .unwrap();
    let insert = client.prepare("INSERT INTO t VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)").await.unwrap();
    let day = chrono::NaiveDate::from_ymd_opt(2024, 2, 29).unwrap();
    let stamp = day.and_hms_micro_opt(12, 34, 56, 789_000).unwrap();
    let decimal = rust_decimal::Decimal::new(12_345, 2);
    let count = client
        .execute(&insert, &[&1i64, &7i16, &-3i32, &1.5f64, &2.25f32, &true, &"it's", &day, &stamp, &vec![0u8, 255], &decimal])
        .await
        .unwrap();
    assert_eq!(count, 1);
    let nulls: [&(dyn tokio_postgres::types::ToSql + Sync); 11] = [
        &2i64,
        &None::<i16>,
        &None::<i32>,
        &None::<f64>,
        &None::<f32>,
        &None::<bool>,
        &None::<String>,
        &None::<chrono::NaiveDate>,
        &None::<chrono::NaiveDateTime>,
        &None::<Vec<u8>>,
        &None::<rust_decimal::Decimal>,
    ];
    client.execute(&insert, &nulls).await.unwrap();

    // Extended protocol, binary results.
    let row = client.query_one("SELECT small, i, f, r, b, s, d, ts, bin, dec FROM t WHERE id = $1", &[&1i64]).await.unwrap();
    assert_eq!(row.get::<_, i16>(0), 7);
    assert_eq!(row.get::<_, i32>(1), -3);
    assert_eq!(row.get::<_, f64>(2), 1.5);
    assert_eq!(row.get::<_, f32>(3), 2.25);
    assert!(row.get::<_, bool>(4));
    assert_eq!(row.get::<_, String>(5), "it's");
    assert_eq!(row.get::<_, chrono::NaiveDate>(6), day);
    assert_eq!(row.get::<_, chrono::NaiveDateTime>(7), stamp);
    assert_eq!(row.get::<_, Vec<u8>>(8), vec![0, 255]);
    assert_eq!(row.get::<_, rust_decimal::Decimal>(9), decimal);
    let row = client.query_one("SELECT s, d FROM t WHERE id = 2", &[]).await.unwrap();
    assert_eq!(row.get::<_, Option<String>>(0), None);

    // Simple protocol, PostgreSQL's text forms.
    let rows = simple_rows(&client, "SELECT small, b, s, d, ts, bin, dec FROM t ORDER BY id").await;
    let text = |v: &[&str]| v.iter().map(|s| Some(s.to_string())).collect::<Vec<_>>();
    assert_eq!(rows[0], text(&["7", "t", "it's", "2024-02-29", "2024-02-29 12:34:56.789", "\\x00ff", "123.45"]));
    assert_eq!(rows[1], vec![None; 7]);
}

#[tokio::test]
async fn scripts_stream_rows_and_stop_at_the_first_error() {
    let test = TestServer::start().await;
    let client = test.root().await;
    client.batch_execute("CREATE TABLE n (id BIGINT PRIMARY KEY)").await.unwrap();
    let values: Vec<String> = (0..20_000).map(|i| format!("({i})")).collect();
    client.batch_execute(&format!("INSERT INTO n VALUES {}", values.join(","))).await.unwrap();
    let messages = client.simple_query("SELECT id FROM n; INSERT INTO n VALUES (-1)").await.unwrap();
    let rows = messages.iter().filter(|m| matches!(m, SimpleQueryMessage::Row(_))).count();
    let tags: Vec<u64> =
        messages.iter().filter_map(|m| if let SimpleQueryMessage::CommandComplete(n) = m { Some(*n) } else { None }).collect();
    assert_eq!((rows, tags), (20_000, vec![20_000, 1]));
    // The second statement fails: the third never runs.
    let error = client.batch_execute("INSERT INTO n VALUES (-2); INSERT INTO n VALUES (-2); INSERT INTO n VALUES (-3)").await.unwrap_err();
    assert_eq!(error.code(), Some(&SqlState::UNIQUE_VIOLATION));
    assert_eq!(simple_rows(&client, "SELECT count(*) FROM n WHERE id = -3").await, vec![vec![Some("0".to_string())]]);
    // A portal reads a few rows at a time.
    let mut client = client;
    let transaction = client.transaction().await.unwrap();
    let statement = transaction.prepare("SELECT id FROM n WHERE id >= 0 ORDER BY id").await.unwrap();
    let portal = transaction.bind(&statement, &[]).await.unwrap();
    let first = transaction.query_portal(&portal, 100).await.unwrap();
    let second = transaction.query_portal(&portal, 100).await.unwrap();
    assert_eq!((first.len(), first[0].get::<_, i64>(0), second[0].get::<_, i64>(0)), (100, 0, 100));
    transaction.commit().await.unwrap();
}

#[tokio::test]
async fn errors_carry_the_engine_sqlstate_and_blocks_their_status() {
    let test = TestServer::start().await;
    let mut client = test.root().await;
    assert_eq!(code(&client.prepare("SELECT * FROM missing").await.unwrap_err()), "42P01");
    assert_eq!(code(&client.simple_query("SELEC 1").await.unwrap_err()), "42601");
    client.batch_execute("CREATE TABLE k (id INT PRIMARY KEY)").await.unwrap();
    client.batch_execute("BEGIN; INSERT INTO k VALUES (1)").await.unwrap();
    assert_eq!(code(&client.execute("INSERT INTO k VALUES (1)", &[]).await.unwrap_err()), "23505");
    // The block is failed: everything but ROLLBACK is refused.
    assert_eq!(code(&client.simple_query("SELECT 1").await.unwrap_err()), "25P02");
    client.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(simple_rows(&client, "SELECT count(*) FROM k").await, vec![vec![Some("0".to_string())]]);
    // A value that cannot be read (a text parameter that is no integer) fails the block too.
    client.batch_execute("BEGIN").await.unwrap();
    let insert = client.prepare_typed("INSERT INTO k VALUES ($1)", &[tokio_postgres::types::Type::TEXT]).await.unwrap();
    let error = client.execute(&insert, &[&"seven"]).await.unwrap_err();
    assert_eq!(code(&error), "22P02");
    assert_eq!(code(&client.simple_query("SELECT 1").await.unwrap_err()), "25P02");
    client.batch_execute("ROLLBACK").await.unwrap();
    // tokio-postgres's transactions follow ReadyForQuery's status.
    let transaction = client.transaction().await.unwrap();
    transaction.execute("INSERT INTO k VALUES ($1)", &[&5i32]).await.unwrap();
    transaction.commit().await.unwrap();
    assert_eq!(client.query_one("SELECT count(*) FROM k", &[]).await.unwrap().get::<_, i64>(0), 1);
}

#[tokio::test]
async fn logins_are_scram_and_users_see_only_their_rows() {
    let test = TestServer::start().await;
    let root = test.root().await;
    root.batch_execute(
        "CREATE USER alice WITH PASSWORD 'a-secret'; CREATE USER bob WITH PASSWORD 'b-secret'; \
         CREATE USER TABLE notes (id INT PRIMARY KEY, body TEXT)",
    )
    .await
    .unwrap();
    assert_eq!(code(&test.try_connect("alice", "wrong", "postgres").await.err().unwrap()), "28P01");
    assert_eq!(code(&test.try_connect("nobody", "wrong", "postgres").await.err().unwrap()), "28P01");
    let alice = test.try_connect("alice", "a-secret", "alice").await.unwrap();
    let bob = test.try_connect("bob", "b-secret", "bob").await.unwrap();
    alice.execute("INSERT INTO notes VALUES (1, $1)", &[&"alice's"]).await.unwrap();
    bob.execute("INSERT INTO notes VALUES (1, $1)", &[&"bob's"]).await.unwrap();
    assert_eq!(bodies(&alice).await, ["alice's"]);
    assert_eq!(bodies(&bob).await, ["bob's"]);
    assert_eq!(simple_rows(&alice, "SELECT CURRENT_USER").await, vec![vec![Some("alice".to_string())]]);
    // A role user cannot act as root.
    assert_eq!(code(&alice.simple_query("EXECUTE AS USER root (SELECT 1)").await.unwrap_err()), "42501");
}

async fn bodies(client: &Client) -> Vec<String> {
    client.query("SELECT body FROM notes", &[]).await.unwrap().iter().map(|r| r.get::<_, String>(0)).collect()
}

#[tokio::test]
async fn the_startup_database_picks_the_namespace() {
    let test = TestServer::start().await;
    let root = test.root().await;
    root.batch_execute("CREATE NAMESPACE app; CREATE TABLE app.items (id INT PRIMARY KEY); INSERT INTO app.items VALUES (7)")
        .await
        .unwrap();
    let in_app = test.try_connect("root", ROOT_PASSWORD, "app").await.unwrap();
    assert_eq!(in_app.query_one("SELECT id FROM items", &[]).await.unwrap().get::<_, i32>(0), 7);
    // SCRAM's last message already said ReadyForQuery: the first statement gets the
    // fatal 3D000, and the connection closes.
    let nowhere = test.try_connect("root", ROOT_PASSWORD, "nowhere").await.unwrap();
    assert_eq!(code(&nowhere.simple_query("SELECT 1").await.unwrap_err()), "3D000");
    assert!(nowhere.simple_query("SELECT 1").await.is_err());
}

#[tokio::test]
async fn connections_past_the_limit_get_53300() {
    let test = TestServer::with(|settings| settings.max_connections = 2).await;
    let _first = test.root().await;
    let _second = test.root().await;
    assert_eq!(code(&test.try_connect("root", ROOT_PASSWORD, "postgres").await.err().unwrap()), "53300");
    drop(_first);
    // The slot frees when the connection's task ends (the client closing its socket).
    let mut attempts = 0;
    while test.try_connect("root", ROOT_PASSWORD, "postgres").await.is_err() {
        attempts += 1;
        assert!(attempts < 10_000, "the slot never freed");
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn cancel_stops_a_running_statement() {
    let test = TestServer::start().await;
    let client = test.root().await;
    let values: Vec<String> = (0..2_000).map(|i| format!("({i})")).collect();
    client.batch_execute(&format!("CREATE TABLE c (id BIGINT PRIMARY KEY); INSERT INTO c VALUES {}", values.join(","))).await.unwrap();
    let token = client.cancel_token();
    let running = tokio::spawn(async move {
        let outcome = client.simple_query("SELECT count(*) FROM c a, c b, c d WHERE a.id + b.id + d.id > -1").await;
        (outcome.map(|_| ()), client)
    });
    while !running.is_finished() {
        token.cancel_query(NoTls).await.unwrap();
        tokio::task::yield_now().await;
    }
    let (outcome, client) = running.await.unwrap();
    assert_eq!(outcome.unwrap_err().code(), Some(&SqlState::QUERY_CANCELED));
    // The connection goes on.
    assert_eq!(simple_rows(&client, "SELECT count(*) FROM c").await, vec![vec![Some("2000".to_string())]]);
}

#[tokio::test]
async fn shutdown_closes_connections_and_returns() {
    let mut test = TestServer::start().await;
    let client = test.root().await;
    client.batch_execute("CREATE TABLE s (id INT PRIMARY KEY); INSERT INTO s VALUES (1)").await.unwrap();
    test.server.take().unwrap().shutdown().await;
    assert!(client.simple_query("SELECT 1").await.is_err(), "the connection is closed");
    // What was committed stays.
    let mut session = test.engine.root_session();
    assert_eq!(session.execute("SELECT id FROM s").await.unwrap().row_count(), 1);
}

#[tokio::test]
async fn subscribe_streams_events_until_the_subscription_ends() {
    let test = TestServer::start().await;
    let writer = test.root().await;
    writer.batch_execute("CREATE TABLE feed (id INT PRIMARY KEY, v TEXT); INSERT INTO feed VALUES (1, 'first')").await.unwrap();
    let reader = test.root().await;
    let listening = tokio::spawn(async move { reader.simple_query("SUBSCRIBE TO feed").await });
    // Write once the subscription is open (its initial row is the first one).
    let mut attempts = 0;
    while simple_rows(&writer, "SELECT count(*) FROM system.live_queries").await != vec![vec![Some("1".to_string())]] {
        attempts += 1;
        assert!(attempts < 100_000, "the subscription never opened");
        tokio::task::yield_now().await;
    }
    writer.batch_execute("INSERT INTO feed VALUES (2, 'second'); UPDATE feed SET v = 'changed' WHERE id = 1").await.unwrap();
    let live_id = simple_rows(&writer, "SELECT live_id FROM system.live_queries").await[0][0].clone().unwrap();
    writer.batch_execute(&format!("KILL LIVE QUERY '{live_id}'")).await.unwrap();
    let messages = listening.await.unwrap().unwrap();
    let rows: Vec<String> = messages
        .iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(row) => {
                Some(format!("{} {} {}", row.get(0).unwrap(), row.get(2).unwrap_or("-"), row.get(3).unwrap_or("-")))
            }
            _ => None,
        })
        .collect();
    assert_eq!(rows[..4], ["initial 1 first", "insert 2 second", "update 1 changed", "old 1 first"]);
    assert!(rows[4].starts_with("end: "), "{rows:?}");
}

//! `--wire`: every scenario through the PostgreSQL wire protocol. The scenario's engine
//! is served by an in-process `engine-server` (trust authentication: `connect`
//! directives still check passwords in process, then the connection logs in over the
//! wire as the bound user), and each sqllogictest connection is a tokio-postgres client
//! of its own. A statement is prepared (Parse/Describe) and run with the extended
//! protocol; text holding several statements runs with the simple protocol. Received
//! values become Arrow arrays of the type they travelled as, so results render exactly
//! as in process (`normalize`).
//!
//! `--against URL` runs the same clients against any PostgreSQL-wire server (PostgreSQL
//! itself included), each file in a fresh database of its own; directives, which act on
//! the in-process engine, have no effect there and are counted.
//!
//! What the wire does not carry runs in process and is counted: subscriptions
//! (`SUBSCRIBE`, `FETCH EVENTS`, `KILL LIVE QUERY`). Records whose result the wire cannot
//! show as in process say `skipif wire` (the label of these runs), each with its reason.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{NaiveDate, NaiveDateTime, NaiveTime, Timelike};
use engine::exports::arrow::array::{
    ArrayRef, BinaryArray, BooleanArray, Date32Array, Decimal128Array, Float32Array, Float64Array, Int16Array, Int32Array, Int64Array,
    StringArray, Time64MicrosecondArray, TimestampMicrosecondArray,
};
use engine::exports::arrow::datatypes::{Field, Schema};
use engine::exports::arrow::record_batch::RecordBatch;
use engine::{CountedCommand, Engine, QueryResult};
use server::config::Auth;
use server::{RunningServer, Settings};
use tokio_postgres::types::Type;
use tokio_postgres::{Client, NoTls, Row, SimpleQueryMessage};

use crate::db::HarnessError;

/// The label of `--wire` runs (`skipif wire`).
pub const WIRE_LABEL: &str = "wire";

/// Records that ran in process during `--wire` runs (subscriptions).
pub static IN_PROCESS_RECORDS: AtomicUsize = AtomicUsize::new(0);

/// Whether a statement needs the in-process session (the wire does not serve it).
pub fn needs_in_process(sql: &str) -> bool {
    let words: Vec<String> = sql.split_whitespace().take(3).map(|w| w.to_ascii_uppercase()).collect();
    matches!(words.first().map(String::as_str), Some("SUBSCRIBE")) || words.starts_with(&["KILL".into(), "LIVE".into()])
}

/// The `--against` server URL, when scenarios run on a server of someone else's.
pub static AGAINST: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Directives that had no effect in `--against` runs (they act on the in-process engine).
pub static IGNORED_DIRECTIVES: AtomicUsize = AtomicUsize::new(0);

/// Fresh databases made for `--against` files.
static DATABASES: AtomicUsize = AtomicUsize::new(0);

/// Where a scenario's clients connect.
struct Target {
    host: String,
    port: u16,
    /// The default connection's login (`--against`: the URL's; in process: root, trusted).
    user: String,
    password: Option<String>,
    database: String,
}

/// The server of one scenario's engine (or the `--against` server) and its connections'
/// clients.
pub struct WireSessions {
    server: Option<RunningServer>,
    target: Target,
    /// `--against`: the file's own database, dropped at the end, and the client that made it.
    made: Option<(Client, String)>,
    clients: HashMap<String, Client>,
}

impl WireSessions {
    pub async fn start(engine: &Engine) -> Result<WireSessions, HarnessError> {
        let mut settings = Settings::new("unused");
        settings.listen = "127.0.0.1:0".into();
        settings.auth = Auth::Trust;
        let server = server::start(engine.clone(), &settings).await.map_err(|e| harness(format!("starting the server: {e:#}")))?;
        let address = server.local_addr();
        let target = Target {
            host: address.ip().to_string(),
            port: address.port(),
            user: engine::catalog::ROOT_USER.to_string(),
            password: None,
            database: "postgres".into(),
        };
        Ok(WireSessions { server: Some(server), target, made: None, clients: HashMap::new() })
    }

    /// The `--against` server, in a fresh database of the file's own (`CREATE DATABASE`;
    /// on this engine's server, whose databases are namespaces, `CREATE NAMESPACE`).
    pub async fn against(url: &str) -> Result<WireSessions, HarnessError> {
        let config: tokio_postgres::Config = url.parse().map_err(|e| harness(format!("--against {url}: {e}")))?;
        let host = match config.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
            _ => return Err(harness(format!("--against {url}: name a TCP host"))),
        };
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let user = config.get_user().unwrap_or("postgres").to_string();
        let password = config.get_password().map(|p| String::from_utf8_lossy(p).into_owned());
        let (admin, link) = config.connect(NoTls).await.map_err(error)?;
        tokio::spawn(link);
        let database = format!("slt_{}_{}", std::process::id(), DATABASES.fetch_add(1, Ordering::Relaxed));
        if admin.batch_execute(&format!("CREATE DATABASE {database}")).await.is_err() {
            admin.batch_execute(&format!("CREATE NAMESPACE {database}")).await.map_err(error)?;
        }
        let target = Target { host, port, user, password, database: database.clone() };
        Ok(WireSessions { server: None, target, made: Some((admin, database)), clients: HashMap::new() })
    }

    /// Closes every client and the server (before a restart, and at the end of a file:
    /// an `--against` file's database goes too).
    pub async fn stop(&mut self) {
        self.clients.clear();
        if let Some(server) = self.server.take() {
            server.shutdown().await;
        }
        if let Some((admin, database)) = self.made.take()
            && admin.batch_execute(&format!("DROP DATABASE {database} WITH (FORCE)")).await.is_err()
        {
            let _ = admin.batch_execute(&format!("DROP NAMESPACE {database} CASCADE")).await;
        }
    }

    /// Forgets a connection's client (it is bound to another user).
    pub fn forget(&mut self, connection: &str) {
        self.clients.remove(connection);
    }

    /// Runs `sql` on `connection`'s client, logging in first if needed: as `login` (a
    /// bound user and password), or the target's default login.
    pub async fn run(&mut self, connection: &str, login: Option<(&str, Option<&str>)>, sql: &str) -> Result<QueryResult, HarnessError> {
        if !self.clients.contains_key(connection) {
            let target = &self.target;
            let (user, password) = login.unwrap_or((&target.user, target.password.as_deref()));
            let mut config = tokio_postgres::Config::new();
            config.host(&target.host).port(target.port).user(user).dbname(&target.database);
            if let Some(password) = password {
                config.password(password);
            }
            let (client, link) = config.connect(NoTls).await.map_err(error)?;
            tokio::spawn(link);
            self.clients.insert(connection.to_string(), client);
        }
        let client = &self.clients[connection];
        let statement = match client.prepare(sql).await {
            Ok(statement) => statement,
            Err(e) if e.as_db_error().is_some_and(|d| d.message().contains("multiple commands")) => return script(client, sql).await,
            Err(e) => return Err(error(e)),
        };
        if statement.columns().is_empty() {
            let rows = client.execute(&statement, &[]).await.map_err(error)?;
            return Ok(QueryResult::Count { command: CountedCommand::Insert, rows });
        }
        let rows = client.query(&statement, &[]).await.map_err(error)?;
        let columns: Vec<(String, Type)> = statement.columns().iter().map(|c| (c.name().to_string(), c.type_().clone())).collect();
        rows_result(&columns, &rows)
    }
}

/// Several statements with the simple protocol: the last one's rows (as text) or count.
async fn script(client: &Client, sql: &str) -> Result<QueryResult, HarnessError> {
    let mut last = QueryResult::Message(String::new());
    let mut rows: Vec<Vec<Option<String>>> = Vec::new();
    let mut names: Option<Vec<String>> = None;
    for message in client.simple_query(sql).await.map_err(error)? {
        match message {
            SimpleQueryMessage::RowDescription(columns) => names = Some(columns.iter().map(|c| c.name().to_string()).collect()),
            SimpleQueryMessage::Row(row) => rows.push((0..row.len()).map(|i| row.get(i).map(str::to_string)).collect()),
            SimpleQueryMessage::CommandComplete(count) => {
                last = match names.take() {
                    Some(names) => text_rows(&names, std::mem::take(&mut rows))?,
                    None => QueryResult::Count { command: CountedCommand::Insert, rows: count },
                };
            }
            _ => {}
        }
    }
    Ok(last)
}

fn text_rows(names: &[String], rows: Vec<Vec<Option<String>>>) -> Result<QueryResult, HarnessError> {
    let schema = Arc::new(Schema::new(
        names.iter().map(|n| Field::new(n, engine::exports::arrow::datatypes::DataType::Utf8, true)).collect::<Vec<_>>(),
    ));
    let columns: Vec<ArrayRef> =
        (0..names.len()).map(|i| Arc::new(rows.iter().map(|r| r[i].clone()).collect::<StringArray>()) as ArrayRef).collect();
    let batch = RecordBatch::try_new(schema.clone(), columns).map_err(|e| harness(e.to_string()))?;
    Ok(QueryResult::Rows { schema, batches: vec![batch] })
}

/// Rows received with the extended protocol as one Arrow batch, each column of the type
/// its values travelled as.
fn rows_result(columns: &[(String, Type)], rows: &[Row]) -> Result<QueryResult, HarnessError> {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("a date");
    let mut fields = Vec::new();
    let mut arrays: Vec<ArrayRef> = Vec::new();
    for (index, (name, pg)) in columns.iter().enumerate() {
        macro_rules! column {
            ($rust:ty, $array:ty, $map:expr) => {{
                let values: Vec<Option<$rust>> = rows.iter().map(|r| r.try_get(index)).collect::<Result<_, _>>().map_err(error)?;
                Arc::new(values.into_iter().map(|v| v.map($map)).collect::<$array>()) as ArrayRef
            }};
        }
        let array: ArrayRef = match *pg {
            Type::BOOL => column!(bool, BooleanArray, |v| v),
            Type::INT2 => column!(i16, Int16Array, |v| v),
            Type::INT4 => column!(i32, Int32Array, |v| v),
            Type::INT8 => column!(i64, Int64Array, |v| v),
            Type::FLOAT4 => column!(f32, Float32Array, |v| v),
            Type::FLOAT8 => column!(f64, Float64Array, |v| v),
            Type::BYTEA => column!(Vec<u8>, BinaryArray, |v| v),
            Type::DATE => column!(NaiveDate, Date32Array, |v: NaiveDate| (v - epoch).num_days() as i32),
            Type::TIME => column!(NaiveTime, Time64MicrosecondArray, |v: NaiveTime| i64::from(v.num_seconds_from_midnight()) * 1_000_000
                + i64::from(v.nanosecond() / 1_000)),
            Type::TIMESTAMP => column!(NaiveDateTime, TimestampMicrosecondArray, |v: NaiveDateTime| v.and_utc().timestamp_micros()),
            Type::TIMESTAMPTZ => {
                let values: Vec<Option<chrono::DateTime<chrono::Utc>>> =
                    rows.iter().map(|r| r.try_get(index)).collect::<Result<_, _>>().map_err(error)?;
                Arc::new(
                    values
                        .into_iter()
                        .map(|v| v.map(|v| v.timestamp_micros()))
                        .collect::<TimestampMicrosecondArray>()
                        .with_timezone("+00:00"),
                )
            }
            Type::NUMERIC => {
                let values: Vec<Option<rust_decimal::Decimal>> =
                    rows.iter().map(|r| r.try_get(index)).collect::<Result<_, _>>().map_err(error)?;
                let scale = values.iter().flatten().map(|d| d.scale()).max().unwrap_or(0);
                let array: Decimal128Array = values
                    .into_iter()
                    .map(|v| {
                        v.map(|mut d| {
                            d.rescale(scale);
                            d.mantissa()
                        })
                    })
                    .collect();
                Arc::new(array.with_precision_and_scale(38, scale as i8).map_err(|e| harness(e.to_string()))?)
            }
            _ => column!(String, StringArray, |v| v),
        };
        fields.push(Field::new(name, array.data_type().clone(), true));
        arrays.push(array);
    }
    let schema = Arc::new(Schema::new(fields));
    let batch = if arrays.is_empty() {
        RecordBatch::new_empty(schema.clone())
    } else {
        RecordBatch::try_new(schema.clone(), arrays).map_err(|e| harness(e.to_string()))?
    };
    Ok(QueryResult::Rows { schema, batches: vec![batch] })
}

fn harness(message: String) -> HarnessError {
    HarnessError { message, sql_state: None }
}

/// A client error as the runner shows it in process: `DataFusion error: message` when
/// the server marks DataFusion as its routine, `SQLSTATE: message` otherwise.
fn error(e: tokio_postgres::Error) -> HarnessError {
    match e.as_db_error() {
        Some(db) => {
            let message = match db.routine() {
                Some(server::errors::DATAFUSION_ROUTINE) => format!("DataFusion error: {}", db.message()),
                _ => format!("{}: {}", db.code().code(), db.message()),
            };
            HarnessError { message, sql_state: Some(db.code().code().to_string()) }
        }
        None => harness(format!("wire: {e}")),
    }
}

/// Counts a record that ran in process.
pub fn count_in_process() {
    IN_PROCESS_RECORDS.fetch_add(1, Ordering::Relaxed);
}

//! The databases scenarios run on: the engine (one engine per scenario file, one session
//! per sqllogictest connection, the restart and clock directives), and, as the baseline
//! for corpus parity, plain DataFusion on its in-memory tables.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use engine::exports::datafusion::error::DataFusionError;
use engine::exports::datafusion::logical_expr::LogicalPlan;
use engine::exports::datafusion::prelude::{SessionConfig, SessionContext};
use engine::{Engine, EngineConfig, EngineError, ErrorOrigin, ManualClock, Session, Subscription};
use sqllogictest::{AsyncDB, DBOutput};
use tokio::sync::Mutex;

use crate::normalize::{ColumnType, to_output};
use crate::wire::{self, WireSessions};

/// The label scenarios use with `skipif` / `onlyif` for this engine.
pub const ENGINE_LABEL: &str = "engine";

/// An error as the runner shows it: DataFusion's errors keep their usual
/// `DataFusion error: ` prefix (so DataFusion corpora match), the engine's carry a SQLSTATE.
#[derive(Debug)]
pub struct HarnessError {
    pub message: String,
    pub sql_state: Option<String>,
}

impl std::fmt::Display for HarnessError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for HarnessError {}

impl From<EngineError> for HarnessError {
    fn from(error: EngineError) -> Self {
        let message = match error.origin() {
            ErrorOrigin::DataFusion => format!("DataFusion error: {}", error.message()),
            ErrorOrigin::Engine => format!("{}: {}", error.sql_state(), error.message()),
        };
        HarnessError { message, sql_state: Some(error.sql_state().code().to_string()) }
    }
}

/// The name sqllogictest gives the connection of records without `connection NAME`.
pub const DEFAULT_CONNECTION: &str = "default";

/// The connection the next record runs on (set by the scenario runner before each record).
pub type CurrentConnection = Arc<std::sync::Mutex<String>>;

/// How a `connect` directive opens a connection's session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Login {
    /// A trusted in-process session for the user (no password).
    Trusted,
    Password(String),
}

/// A connection bound to a user by `connect`; sessions are opened again from it after a
/// `restart`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub user: String,
    pub login: Login,
}

/// The engine of one scenario file and the sessions of its connections. The default
/// connection is root unless a `connect default ...` binds it; every other connection
/// must be bound before it runs anything, so a misspelt name is an error, never a root
/// session.
pub struct EngineHolder {
    data_dir: PathBuf,
    clock: Arc<ManualClock>,
    engine: Option<Engine>,
    sessions: HashMap<String, Session>,
    bindings: HashMap<String, Binding>,
    /// The open subscription of each connection (its last `SUBSCRIBE TO`), read by
    /// `FETCH EVENTS`. Subscriptions outlive a restart: they receive their final event.
    subscriptions: HashMap<String, Subscription>,
    /// `--wire`: statements go through the PostgreSQL wire protocol (`crate::wire`).
    wire_enabled: bool,
    wire: Option<WireSessions>,
}

impl EngineHolder {
    pub fn open(data_dir: PathBuf, clock: Arc<ManualClock>) -> Result<Self, HarnessError> {
        let engine = Engine::open(Self::config(&data_dir, &clock))?;
        Ok(EngineHolder {
            data_dir,
            clock,
            engine: Some(engine),
            sessions: HashMap::new(),
            bindings: HashMap::new(),
            subscriptions: HashMap::new(),
            wire_enabled: false,
            wire: None,
        })
    }

    fn config(data_dir: &std::path::Path, clock: &Arc<ManualClock>) -> EngineConfig {
        EngineConfig::for_tests(data_dir, clock.clone()).with_root_password(ROOT_PASSWORD)
    }

    /// Closes every session and the engine, then opens the engine again on the same data
    /// directory (the `restart` directive). Bindings stay: each bound connection logs in
    /// again when it next runs.
    pub async fn restart(&mut self) -> Result<(), HarnessError> {
        if let Some(mut wire) = self.wire.take() {
            wire.stop().await;
        }
        self.sessions.clear();
        self.engine = None;
        self.engine = Some(Engine::open(Self::config(&self.data_dir, &self.clock))?);
        Ok(())
    }

    /// Runs the engine's due jobs (the `jobs run` directive).
    /// Moves every hot row of every SHARED and USER table to cold storage (the flushed
    /// tier of the scenario matrix), as root.
    pub async fn flush_all(&self) -> Result<(), HarnessError> {
        self.engine().root_session().execute("FLUSH ALL TABLES").await?;
        Ok(())
    }

    pub async fn run_jobs(&self) -> Result<(), HarnessError> {
        self.engine().run_jobs().await?;
        Ok(())
    }

    pub fn clock(&self) -> &ManualClock {
        &self.clock
    }

    fn engine(&self) -> &Engine {
        self.engine.as_ref().expect("the engine is open between statements")
    }

    fn open_session(&self, binding: &Binding) -> Result<Session, HarnessError> {
        Ok(match &binding.login {
            Login::Trusted => self.engine().session(&binding.user)?,
            Login::Password(password) => self.engine().login(&binding.user, password)?,
        })
    }

    /// Binds `connection` to a user, opening its session now (so a wrong password fails
    /// at the directive).
    pub fn connect(&mut self, connection: &str, binding: Binding) -> Result<(), HarnessError> {
        let session = self.open_session(&binding)?;
        if let Some(wire) = &mut self.wire {
            wire.forget(connection);
        }
        self.sessions.insert(connection.to_string(), session);
        self.bindings.insert(connection.to_string(), binding);
        Ok(())
    }

    /// Binds `connection` to a user without opening a session here (`--against`: the
    /// user lives on the other server).
    pub fn bind(&mut self, connection: &str, binding: Binding) {
        if let Some(wire) = &mut self.wire {
            wire.forget(connection);
        }
        self.bindings.insert(connection.to_string(), binding);
    }

    /// Checks that opening a session for `binding` fails with `sql_state`.
    pub fn connect_fails(&self, binding: &Binding, sql_state: &str) -> Result<(), String> {
        match self.open_session(binding) {
            Ok(_) => Err(format!("logging in as {} succeeded; expected SQLSTATE {sql_state}", binding.user)),
            Err(error) if error.sql_state.as_deref() == Some(sql_state) => Ok(()),
            Err(error) => Err(format!("logging in as {} failed with {error}; expected SQLSTATE {sql_state}", binding.user)),
        }
    }

    /// Runs statements over the PostgreSQL wire protocol from now on (`--wire`,
    /// `--against`).
    pub fn enable_wire(&mut self) {
        self.wire_enabled = true;
    }

    /// Closes the wire clients, and the file's database of an `--against` run.
    pub async fn close_wire(&mut self) {
        if let Some(mut wire) = self.wire.take() {
            wire.stop().await;
        }
    }

    async fn run(&mut self, connection: &str, sql: &str) -> Result<engine::QueryResult, HarnessError> {
        let in_process = is_fetch_events(sql) || wire::needs_in_process(sql);
        if self.wire_enabled && in_process {
            wire::count_in_process();
        }
        if self.wire_enabled && !in_process {
            let against = wire::AGAINST.get();
            let login = match self.bindings.get(connection) {
                Some(Binding { user, login: Login::Password(password) }) => Some((user.clone(), Some(password.clone()))),
                Some(Binding { user, login: Login::Trusted }) => Some((user.clone(), None)),
                None if connection == DEFAULT_CONNECTION => None,
                None => return Err(unbound(connection)),
            };
            if self.wire.is_none() {
                self.wire = Some(match against {
                    Some(url) => WireSessions::against(url).await?,
                    None => WireSessions::start(self.engine()).await?,
                });
            }
            let login = login.as_ref().map(|(user, password)| (user.as_str(), password.as_deref()));
            return self.wire.as_mut().expect("started above").run(connection, login, sql).await;
        }
        if is_fetch_events(sql) {
            return self.fetch_events(connection).await;
        }
        if !self.sessions.contains_key(connection) {
            let session = match self.bindings.get(connection) {
                Some(binding) => self.open_session(binding)?,
                None if connection == DEFAULT_CONNECTION => self.engine().root_session(),
                None => return Err(unbound(connection)),
            };
            self.sessions.insert(connection.to_string(), session);
        }
        let session = self.sessions.get_mut(connection).expect("inserted above");
        match session.execute(sql).await? {
            engine::QueryResult::Subscription(subscription) => {
                self.subscriptions.insert(connection.to_string(), *subscription);
                Ok(engine::QueryResult::Message("SUBSCRIBE".into()))
            }
            other => Ok(other),
        }
    }

    /// `FETCH EVENTS`: the events the connection's subscription received since the last
    /// fetch, once the engine has delivered every change committed so far.
    async fn fetch_events(&mut self, connection: &str) -> Result<engine::QueryResult, HarnessError> {
        let Some(subscription) = self.subscriptions.get_mut(connection) else {
            return Err(HarnessError {
                message: format!("connection {connection} has no subscription: run SUBSCRIBE TO on it first"),
                sql_state: None,
            });
        };
        let events = subscription.received().await;
        crate::events::event_rows(subscription.schema(), &events).map_err(|message| HarnessError { message, sql_state: None })
    }
}

fn unbound(connection: &str) -> HarnessError {
    HarnessError {
        message: format!(
            "connection {connection} is not bound to a user: add `connect {connection} user NAME trusted` (or `password PW`) before using it"
        ),
        sql_state: None,
    }
}

/// Whether `sql` is the harness's `FETCH EVENTS` statement.
fn is_fetch_events(sql: &str) -> bool {
    let words: Vec<&str> = sql.trim().trim_end_matches(';').split_whitespace().collect();
    matches!(words.as_slice(), [fetch, events] if fetch.eq_ignore_ascii_case("FETCH") && events.eq_ignore_ascii_case("EVENTS"))
}

/// Root's password in every scenario (`connect c user root password root-password`).
pub const ROOT_PASSWORD: &str = "root-password";

/// Which database a scenario runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Engine,
    /// The engine through the PostgreSQL wire protocol (`--wire`).
    Wire,
    /// A plain DataFusion `SessionContext` with in-memory tables (the parity baseline).
    DataFusion,
}

/// Whether the record being run is a `query` record. A DML statement run by one returns
/// its count as one row (as DataFusion's own runner does), so DataFusion's test files run
/// unchanged; run by a `statement` record it completes with its count (`statement count N`).
pub type QueryRecordFlag = Arc<AtomicBool>;

/// One sqllogictest connection.
pub enum Connection {
    Engine { holder: Arc<Mutex<EngineHolder>>, current: CurrentConnection, query_record: QueryRecordFlag },
    DataFusion { context: SessionContext, query_record: QueryRecordFlag },
}

impl Connection {
    /// sqllogictest makes one connection per name; each runs its records in the session
    /// of the connection named by `current` (set before each record).
    pub fn factory(
        holder: Arc<Mutex<EngineHolder>>,
        current: CurrentConnection,
        query_record: QueryRecordFlag,
    ) -> impl FnMut() -> std::future::Ready<Result<Connection, HarnessError>> {
        move || {
            std::future::ready(Ok(Connection::Engine {
                holder: holder.clone(),
                current: current.clone(),
                query_record: query_record.clone(),
            }))
        }
    }

    /// Connections that share one DataFusion context (its tables live in memory).
    pub fn datafusion_factory(query_record: QueryRecordFlag) -> impl FnMut() -> std::future::Ready<Result<Connection, HarnessError>> {
        let config = SessionConfig::new().with_information_schema(true);
        let context = SessionContext::new_with_config(config);
        move || std::future::ready(Ok(Connection::DataFusion { context: context.clone(), query_record: query_record.clone() }))
    }
}

async fn run_datafusion(context: &SessionContext, sql: &str) -> Result<engine::QueryResult, HarnessError> {
    let datafusion_error = |error: DataFusionError| HarnessError::from(EngineError::from_datafusion(error));
    let frame = context.sql(sql).await.map_err(datafusion_error)?;
    let plan = frame.logical_plan();
    let counted = match plan {
        LogicalPlan::Dml(dml) => Some(engine::CountedCommand::of_write(&dml.op)),
        _ => None,
    };
    let is_statement = matches!(plan, LogicalPlan::Ddl(_) | LogicalPlan::Statement(_));
    let schema = frame.schema().inner().clone();
    let batches = frame.collect().await.map_err(datafusion_error)?;
    Ok(if let Some(command) = counted {
        engine::QueryResult::Count { command, rows: engine::exec::dml::count_of(&batches) }
    } else if is_statement {
        engine::QueryResult::Message(String::new())
    } else {
        engine::QueryResult::Rows { schema, batches }
    })
}

#[async_trait]
impl AsyncDB for Connection {
    type Error = HarnessError;
    type ColumnType = ColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<ColumnType>, HarnessError> {
        let (result, query_record) = match self {
            Connection::Engine { holder, current, query_record } => {
                let name = current.lock().unwrap_or_else(|p| p.into_inner()).clone();
                (holder.lock().await.run(&name, sql).await?, query_record)
            }
            Connection::DataFusion { context, query_record } => (run_datafusion(context, sql).await?, query_record),
        };
        to_output(result, query_record.load(Ordering::SeqCst)).map_err(|message| HarnessError { message, sql_state: None })
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        ENGINE_LABEL
    }

    fn error_sql_state(error: &HarnessError) -> Option<String> {
        error.sql_state.clone()
    }
}

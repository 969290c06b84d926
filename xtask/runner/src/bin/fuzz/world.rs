//! One engine on a temporary directory with a manual clock, its sessions (root with the
//! simple-statement path, root without it, a second user `fz`), the model of what its
//! tables hold, and the statements that brought it there (the trace minimisation
//! replays). Every statement runs under `catch_unwind` and a timeout, and every error's
//! SQLSTATE is checked; writes are checked against the model, failed ones for leaving
//! storage byte for byte as it was.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Result;
use engine::exports::arrow::datatypes::SchemaRef;
use engine::exports::arrow::record_batch::RecordBatch;
use engine::exports::datafusion::common::TableReference;
use engine::exports::datafusion::datasource::MemTable;
use engine::exports::datafusion::prelude::SessionContext;
use engine::{Engine, EngineConfig, ManualClock, QueryResult, Session};
use futures::FutureExt;

use crate::model::{Expect, Model, Op, Scope};
use crate::oracles::{Failure, Oracle};
use crate::render;

/// Panics seen by the hook (any thread), and the last one's message.
static PANICS: AtomicU64 = AtomicU64::new(0);
static LAST_PANIC: Mutex<String> = Mutex::new(String::new());

/// Records panics instead of printing them: a panic is a finding, reported with its
/// statement.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let location = info.location().map(|l| format!(" at {l}")).unwrap_or_default();
        let payload = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "<non-string payload>".into());
        *LAST_PANIC.lock().unwrap_or_else(|p| p.into_inner()) = format!("{payload}{location}");
        PANICS.fetch_add(1, Ordering::SeqCst);
    }));
}

/// How a statement as the second user starts ([`Scope::wrap`]).
pub const FZ_PREFIX: &str = "EXECUTE AS USER fz (";

/// The code given to internal errors of plain DataFusion (others get the SQLSTATE the
/// engine would give them).
pub const DATAFUSION_ERROR: &str = "DF000";

/// How long one statement may take before it counts as hung.
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(60);

/// What a statement returned.
#[derive(Debug)]
pub enum Answer {
    Rows { schema: SchemaRef, batches: Vec<RecordBatch> },
    Count(u64),
    Message(String),
    Error { code: String, message: String },
    Panic(String),
    Hang,
}

impl Answer {
    pub fn rows(&self) -> Option<Vec<String>> {
        match self {
            Answer::Rows { batches, .. } => Some(render::rows(batches, None)),
            _ => None,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Answer::Rows { batches, .. } => render::show_rows(&render::rows(batches, None)),
            Answer::Count(n) => format!("count {n}"),
            Answer::Message(m) => format!("message {m:?}"),
            Answer::Error { code, message } => format!("error {code}: {message}"),
            Answer::Panic(p) => format!("PANIC: {p}"),
            Answer::Hang => format!("no answer within {STATEMENT_TIMEOUT:?}"),
        }
    }

    /// A failure in itself: a panic, a hang, or an error without a proper SQLSTATE.
    pub fn failure(&self, sql: &str) -> Option<Failure> {
        match self {
            Answer::Panic(p) => Some(Failure::of_statement(Oracle::Panic, format!("panic: {p}\n  SQL: {sql}"), sql)),
            Answer::Hang => Some(Failure::of_statement(Oracle::Panic, format!("hung: {}\n  SQL: {sql}", self.describe()), sql)),
            Answer::Error { code, message } => {
                let wellformed = code.len() == 5 && code.chars().all(|c| c.is_ascii_digit() || c.is_ascii_uppercase());
                if !wellformed || code == "XX000" {
                    Some(Failure::of_statement(Oracle::Sqlstate, format!("error with SQLSTATE {code}: {message}\n  SQL: {sql}"), sql))
                } else {
                    None
                }
            }
            _ => None,
        }
    }
}

/// Counts of what ran.
#[derive(Debug, Default, Clone)]
pub struct Counters {
    /// Queries the oracles ran on the engine.
    pub engine_queries: u64,
    /// Queries run on plain DataFusion (differential oracle, model).
    pub datafusion_queries: u64,
    /// Writes, DDL and flushes run on the engine.
    pub statements: u64,
    /// Time in engine queries, DataFusion queries (and building their tables), writes
    /// (with their model and storage checks).
    pub engine_time: Duration,
    pub datafusion_time: Duration,
    pub write_time: Duration,
}

/// The open engine and its sessions (closed and opened again by a restart).
struct Handles {
    engine: Engine,
    root: Session,
    planner: Session,
}

impl Handles {
    fn open(dir: &std::path::Path, clock: Arc<ManualClock>) -> Result<Handles> {
        let engine = Engine::open(EngineConfig::for_tests(dir.join("data"), clock))?;
        let root = engine.root_session();
        let mut planner = engine.root_session();
        planner.set_simple_statements(false);
        Ok(Handles { engine, root, planner })
    }
}

pub struct World {
    dir: tempfile::TempDir,
    clock: Arc<ManualClock>,
    live: Option<Handles>,
    pub model: Model,
    /// The statements run so far (with those that failed as predicted).
    pub trace: Vec<Op>,
    /// Plain DataFusion over MemTables of each scope's rows (built when first needed after
    /// a write).
    oracle: BTreeMap<Scope, SessionContext>,
    pub counters: Counters,
    /// Whether the last write failed (as predicted).
    pub last_failed: bool,
}

impl World {
    pub async fn open() -> Result<World> {
        let dir = tempfile::tempdir()?;
        let clock = Arc::new(ManualClock::default());
        let mut live = Handles::open(dir.path(), clock.clone())?;
        live.root.execute("CREATE USER fz ROLE user").await?;
        Ok(World {
            dir,
            clock,
            live: Some(live),
            model: Model::default(),
            trace: Vec::new(),
            oracle: BTreeMap::new(),
            counters: Counters::default(),
            last_failed: false,
        })
    }

    async fn run(session: &mut Session, sql: &str) -> Answer {
        let before = PANICS.load(Ordering::SeqCst);
        let outcome = tokio::time::timeout(STATEMENT_TIMEOUT, std::panic::AssertUnwindSafe(session.execute(sql)).catch_unwind()).await;
        let answer = match outcome {
            Err(_) => Answer::Hang,
            Ok(Err(_)) => Answer::Panic(LAST_PANIC.lock().unwrap_or_else(|p| p.into_inner()).clone()),
            Ok(Ok(Ok(QueryResult::Rows { schema, batches }))) => Answer::Rows { schema, batches },
            Ok(Ok(Ok(QueryResult::Count { rows: n, .. }))) => Answer::Count(n),
            Ok(Ok(Ok(QueryResult::Message(m)))) => Answer::Message(m),
            Ok(Ok(Ok(QueryResult::Subscription(_)))) => Answer::Message("subscription".into()),
            // `execute` collects rows: no stream reaches here.
            Ok(Ok(Ok(QueryResult::Stream(_)))) => Answer::Message("rows not collected".into()),
            Ok(Ok(Err(e))) => Answer::Error { code: e.sql_state().code().to_string(), message: e.to_string() },
        };
        // A panic on another thread (a task the statement spawned) that came back as an error.
        if PANICS.load(Ordering::SeqCst) != before && !matches!(answer, Answer::Panic(_)) {
            return Answer::Panic(format!(
                "{} (the statement answered: {})",
                LAST_PANIC.lock().unwrap_or_else(|p| p.into_inner()),
                answer.describe()
            ));
        }
        answer
    }

    /// A query on root's session.
    pub async fn query(&mut self, sql: &str) -> Answer {
        self.counters.engine_queries += 1;
        let started = std::time::Instant::now();
        let answer = Self::run(self.root(), sql).await;
        self.counters.engine_time += started.elapsed();
        answer
    }

    /// A query on root's session without the simple-statement path.
    pub async fn query_planned(&mut self, sql: &str) -> Answer {
        self.counters.engine_queries += 1;
        Self::run(&mut self.live.as_mut().expect("an open engine").planner, sql).await
    }

    /// The same query on plain DataFusion over MemTables of root's rows (read from the
    /// engine with `SELECT *, _seq`). `None` when DataFusion itself panics.
    pub async fn query_oracle(&mut self, sql: &str) -> Option<Answer> {
        let started = std::time::Instant::now();
        let answer = self.query_oracle_timed(sql).await;
        self.counters.datafusion_time += started.elapsed();
        answer
    }

    async fn query_oracle_timed(&mut self, sql: &str) -> Option<Answer> {
        // A query as the second user runs on that user's rows.
        let (scope, sql) = match sql.strip_prefix(FZ_PREFIX).and_then(|s| s.strip_suffix(')')) {
            Some(inner) => (Scope::Fz, inner),
            None => (Scope::Root, sql),
        };
        if !self.oracle.contains_key(&scope) {
            let ctx = self.build_oracle(scope).await.ok()?;
            self.oracle.insert(scope, ctx);
        }
        self.counters.datafusion_queries += 1;
        let ctx = &self.oracle[&scope];
        let run = async {
            let frame = ctx.sql(sql).await?;
            let schema = frame.schema().inner().clone();
            let batches = frame.collect().await?;
            Ok::<_, engine::exports::datafusion::error::DataFusionError>((schema, batches))
        };
        let before = PANICS.load(Ordering::SeqCst);
        let outcome = std::panic::AssertUnwindSafe(run).catch_unwind().await;
        if PANICS.load(Ordering::SeqCst) != before {
            return None;
        }
        Some(match outcome {
            Err(_) => return None,
            Ok(Ok((schema, batches))) => Answer::Rows { schema, batches },
            Ok(Err(e)) => {
                // The SQLSTATE the engine would give DataFusion's error (so a data exception
                // is class 22 on both sides); an internal error keeps the oracle's own code.
                let message = e.to_string();
                let code = engine::EngineError::from_datafusion(e).sql_state().code();
                let code = if code == "XX000" { DATAFUSION_ERROR } else { code };
                Answer::Error { code: code.into(), message }
            }
        })
    }

    fn root(&mut self) -> &mut Session {
        &mut self.live.as_mut().expect("an open engine").root
    }

    /// Closes the engine (every session) and opens it again on the same directory.
    fn restart(&mut self) -> Result<()> {
        self.live = None;
        self.live = Some(Handles::open(self.dir.path(), self.clock.clone())?);
        Ok(())
    }

    /// Builds the DataFusion copy again at its next use (after a write outside `apply`).
    pub fn forget_oracle(&mut self) {
        self.oracle.clear();
    }

    async fn build_oracle(&mut self, scope: Scope) -> Result<SessionContext> {
        let ctx = SessionContext::new();
        let mut names: Vec<String> = self.model.tables.iter().map(|t| t.schema.name.clone()).collect();
        if names.is_empty() {
            // Tables made outside the model (`--exec`): ask the catalog.
            let sql = "SELECT table_name FROM system.tables WHERE namespace_id = 'default' AND table_type <> 'view'";
            if let Answer::Rows { batches, .. } = Self::run(self.root(), sql).await {
                names = render::rows(&batches, None);
            }
        }
        for name in names {
            let sql = scope.wrap(&format!("SELECT *, _seq FROM {}", crate::schema::ident(&name)));
            self.counters.engine_queries += 1;
            if let Answer::Rows { schema, batches } = Self::run(self.root(), &sql).await {
                let table = MemTable::try_new(schema, vec![batches])?;
                ctx.register_table(TableReference::bare(name), Arc::new(table))?;
            }
        }
        Ok(ctx)
    }

    /// Runs a write or DDL statement and checks it against the model: its count or
    /// error, storage unchanged when it fails, and the rows it leaves. `Ok(false)`: the
    /// model cannot predict it and it did not run.
    pub async fn apply(&mut self, op: &Op) -> Result<bool, Failure> {
        let started = std::time::Instant::now();
        let outcome = self.apply_timed(op).await;
        self.counters.write_time += started.elapsed();
        outcome
    }

    async fn apply_timed(&mut self, op: &Op) -> Result<bool, Failure> {
        self.last_failed = false;
        let Some((expect, next)) = self.model.predict(op).await else { return Ok(false) };
        self.counters.datafusion_queries += u64::from(matches!(op, Op::Update { .. } | Op::Delete { .. }));
        let sql = op.sql();
        let before = match expect {
            Expect::Fail(_) => Some(self.storage().map_err(|e| Failure::new(Oracle::Atomicity, e))?),
            Expect::Ok(_) => None,
        };
        self.counters.statements += 1;
        let answer = match op {
            Op::Clock(ms) => {
                self.clock.advance_millis(*ms);
                Answer::Message("clock".into())
            }
            Op::Restart => match self.restart() {
                Ok(()) => Answer::Message("restart".into()),
                Err(e) => Answer::Error { code: "restart".into(), message: format!("{e:#}") },
            },
            Op::RunJobs => {
                let engine = self.live.as_ref().expect("an open engine").engine.clone();
                match std::panic::AssertUnwindSafe(engine.run_jobs()).catch_unwind().await {
                    Ok(Ok(n)) => Answer::Count(n as u64),
                    Ok(Err(e)) => Answer::Error { code: e.sql_state().code().to_string(), message: e.to_string() },
                    Err(_) => Answer::Panic(LAST_PANIC.lock().unwrap_or_else(|p| p.into_inner()).clone()),
                }
            }
            _ => Self::run(self.root(), &sql).await,
        };
        self.oracle.clear();
        self.last_failed = matches!(answer, Answer::Error { .. });
        if let Some(failure) = answer.failure(&sql) {
            return Err(failure);
        }
        match (&expect, &answer) {
            (Expect::Ok(Some(count)), Answer::Count(n)) if n == count => {}
            (Expect::Ok(None), Answer::Message(_) | Answer::Count(_)) => {}
            (Expect::Fail(codes), Answer::Error { code, .. }) => {
                if !codes.is_empty() && !codes.contains(&code.as_str()) {
                    return Err(Failure::new(
                        Oracle::Sqlstate,
                        format!("expected an error with SQLSTATE {}, got {}\n  SQL: {sql}", codes.join(" or "), answer.describe()),
                    ));
                }
                let after = self.storage().map_err(|e| Failure::new(Oracle::Atomicity, e))?;
                if let Some(before) = before
                    && let Some(difference) = storage_difference(&before, &after)
                {
                    return Err(Failure::new(
                        Oracle::Atomicity,
                        format!("a failed statement ({}) changed storage: {difference}\n  SQL: {sql}", answer.describe()),
                    ));
                }
            }
            _ => {
                let expected = match &expect {
                    Expect::Ok(Some(count)) => format!("count {count}"),
                    Expect::Ok(None) => "success".into(),
                    Expect::Fail(codes) if codes.is_empty() => "an error".into(),
                    Expect::Fail(codes) => format!("an error with SQLSTATE {}", codes.join(" or ")),
                };
                return Err(Failure::new(Oracle::State, format!("expected {expected}, got {}\n  SQL: {sql}", answer.describe())));
            }
        }
        if let (Expect::Ok(_), Some(next)) = (&expect, next) {
            self.model = next;
        }
        self.trace.push(op.clone());
        if let Some(table) = op.table() {
            let table = table.to_string();
            self.check_rows(&table, op.scope()).await?;
        }
        Ok(true)
    }

    /// `SELECT *` of a table as `scope`'s user against the model: column names, and rows
    /// with float zeros compared by sign (but key columns as keys).
    pub async fn check_rows(&mut self, table: &str, scope: Scope) -> Result<(), Failure> {
        let Some(model) = self.model.table(table) else { return Ok(()) };
        let expected = model.rendered(scope);
        let tombstones = (model.schema.kind != crate::schema::Kind::Stream).then(|| model.tombstone_count(scope));
        let names: Vec<String> = model.schema.columns.iter().map(|c| c.name.clone()).collect();
        let strict = model.strict_columns();
        let sql = scope.wrap(&format!("SELECT * FROM {}", model.schema.ident()));
        let answer = self.query(&sql).await;
        if let Some(failure) = answer.failure(&sql) {
            return Err(failure);
        }
        let Answer::Rows { schema, batches } = &answer else {
            return Err(Failure::new(Oracle::State, format!("{sql}: {}", answer.describe())));
        };
        let got_names: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
        if got_names != names {
            return Err(Failure::new(Oracle::State, format!("{sql}: columns {got_names:?}, expected {names:?}")));
        }
        let actual = render::rows(batches, Some(&strict));
        if actual != expected {
            let (missing, extra) = render::difference(&expected, &actual);
            return Err(Failure::new(
                Oracle::State,
                format!(
                    "{sql}: rows differ from the model\n  missing: {}\n  extra:   {}",
                    render::show_rows(&missing),
                    render::show_rows(&extra)
                ),
            ));
        }
        if let Some(tombstones) = tombstones {
            // Soft-deleted rows stay, hot and cold, and a statement naming `_deleted` sees them.
            let sql = scope.wrap(&format!("SELECT COUNT(*) FROM {} WHERE _deleted", crate::schema::ident(table)));
            let answer = self.query(&sql).await;
            if let Some(failure) = answer.failure(&sql) {
                return Err(failure);
            }
            if answer.rows() != Some(vec![tombstones.to_string()]) {
                return Err(Failure::new(
                    Oracle::State,
                    format!("{sql}: {}, but {tombstones} rows were deleted (and not written again)", answer.describe()),
                ));
            }
        }
        Ok(())
    }

    /// Every table, every scope, against the model.
    pub async fn check_all_rows(&mut self) -> Result<(), Failure> {
        let tables: Vec<(String, bool)> = self.model.tables.iter().map(|t| (t.schema.name.clone(), t.schema.kind.per_user())).collect();
        for (table, per_user) in tables {
            self.check_rows(&table, Scope::Root).await?;
            if per_user {
                self.check_rows(&table, Scope::Fz).await?;
            }
        }
        Ok(())
    }

    /// Hot storage, every key and value, and the names of the cold storage's files.
    fn storage(&self) -> Result<Storage, String> {
        let engine = &self.live.as_ref().expect("an open engine").engine;
        let hot = engine.dump_storage().map_err(|e| format!("dump_storage: {e}"))?;
        let cold = engine.shared().cold.list_all().map_err(|e| format!("cold list_all: {e}"))?;
        Ok(Storage { hot, cold: cold.iter().map(|p| p.to_string()).collect() })
    }

    /// Runs FLUSH TABLE outside the model (the hot/cold oracle's own flush); the model does
    /// not change.
    pub async fn flush(&mut self, table: &str) -> Result<(), Failure> {
        let op = Op::Flush { table: table.to_string() };
        self.apply(&op).await.map(|_| ())
    }
}

pub struct Storage {
    hot: Vec<(Vec<u8>, Vec<u8>)>,
    cold: Vec<String>,
}

fn storage_difference(before: &Storage, after: &Storage) -> Option<String> {
    if before.cold != after.cold {
        return Some(format!("cold files {:?} became {:?}", before.cold, after.cold));
    }
    if before.hot != after.hot {
        let old: std::collections::BTreeMap<_, _> = before.hot.iter().cloned().collect();
        let new: std::collections::BTreeMap<_, _> = after.hot.iter().cloned().collect();
        let mut changes = Vec::new();
        for (key, value) in &new {
            match old.get(key) {
                None => changes.push(format!("added {}", escape(key))),
                Some(v) if v != value => changes.push(format!("changed {}", escape(key))),
                _ => {}
            }
        }
        for key in old.keys().filter(|k| !new.contains_key(*k)) {
            changes.push(format!("removed {}", escape(key)));
        }
        let shown: Vec<String> = changes.iter().take(6).cloned().collect();
        return Some(format!("{} hot keys ({}{})", changes.len(), shown.join(", "), if changes.len() > 6 { ", ..." } else { "" }));
    }
    None
}

fn escape(bytes: &[u8]) -> String {
    bytes.iter().map(|b| std::ascii::escape_default(*b).to_string()).collect()
}

//! The concurrent run: N sessions, each a tokio task on the multi-thread runtime with its
//! own seeded RNG and one engine session per user, send random statements at once while
//! the engine's background job runner works every 50 ms; every statement is recorded
//! ([`crate::history`]), and every row change of every table generation is captured by
//! subscriptions ("watchers", one per row scope) opened as soon as the table exists.
//!
//! **Gates.** The change history must be complete, so a table is never written while it
//! has no watcher: CREATE TABLE and ALTER TABLE (which ends a table's subscriptions) hold
//! the table's gate exclusively until its watchers are open again, and DML holds it
//! shared. A STREAM TRUNCATE (which has no `_seq` and makes no event) holds its row
//! scope's gate exclusively, so no write of that scope runs beside it and its place among
//! the scope's commits is exact. DROP TABLE, FLUSH, jobs and reads take no gate: they
//! race everything. DDL of one table comes from one session (its owner, `table %
//! sessions`), so it is in that session's program order; DDL of different tables runs at
//! once.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Result;
use engine::ObjectRef;
use engine::{Engine, LiveEvent, Session, SubscribeRequest, Subscription};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::RwLock;

use crate::history::{Block, Event, EventKind, FinalScope, History, Kind, Outcome, Scope, Step, Stmt, Watch, decode};
use crate::workload::{self, TABLES, TableKind, USERS};

/// How long and how wide a run is.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub seed: u64,
    pub sessions: usize,
    /// Statements in all (split between the sessions), or
    pub ops: Option<usize>,
    /// run until this much time has passed.
    pub seconds: Option<f64>,
}

/// Which gates a statement holds while it runs.
#[derive(Debug, Clone, Copy)]
enum Gate {
    /// DML: its table's gate and its scope's gate, shared.
    Shared,
    /// STREAM TRUNCATE: its table's gate shared, its scope's exclusively.
    Scope,
}

struct Shared {
    engine: Engine,
    started: Instant,
    next_id: AtomicU64,
    table_gates: Vec<RwLock<()>>,
    scope_gates: Vec<BTreeMap<Scope, RwLock<()>>>,
    stmts: Mutex<Vec<Stmt>>,
    events: Arc<Mutex<Vec<Event>>>,
    watches: Arc<Mutex<Vec<Watch>>>,
    problems: Mutex<Vec<String>>,
    watchers: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    stop: tokio::sync::watch::Sender<bool>,
    deadline: Option<Instant>,
}

impl Shared {
    fn last_seq(&self) -> u64 {
        self.engine.shared().store.last_seq()
    }

    fn id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::SeqCst)
    }

    fn problem(&self, text: String) {
        self.problems.lock().unwrap().push(text);
    }
}

/// A table this session owns (runs the DDL of).
#[derive(Debug, Clone)]
pub struct Owned {
    pub table: usize,
    pub exists: bool,
    pub generation: u32,
    epoch: u32,
    added: Vec<String>,
    next_column: u32,
}

struct Worker {
    index: usize,
    rng: StdRng,
    sessions: BTreeMap<&'static str, Session>,
    owned: Vec<Owned>,
    sent: usize,
}

/// Opens the engine's users (the same in the replay).
pub async fn create_users(root: &mut Session) -> Result<()> {
    for (user, role) in USERS {
        root.execute(&format!("CREATE USER {user} WITH PASSWORD 'pw' ROLE {role}"))
            .await
            .map_err(|e| anyhow::anyhow!("CREATE USER {user}: {e}"))?;
    }
    Ok(())
}

/// One session per user, root included.
pub fn sessions_of(engine: &Engine) -> Result<BTreeMap<&'static str, Session>> {
    let mut sessions = BTreeMap::new();
    sessions.insert("root", engine.root_session());
    for (user, _) in USERS {
        sessions.insert(user, engine.session(user)?);
    }
    Ok(sessions)
}

/// Runs the workload on `engine` (whose users exist) and returns what happened.
pub async fn run(engine: Engine, config: &RunConfig) -> Result<History> {
    let (stop, _) = tokio::sync::watch::channel(false);
    let shared = Arc::new(Shared {
        engine: engine.clone(),
        started: Instant::now(),
        next_id: AtomicU64::new(1),
        table_gates: TABLES.iter().map(|_| RwLock::new(())).collect(),
        scope_gates: (0..TABLES.len()).map(|t| workload::scopes(t).into_iter().map(|s| (s, RwLock::new(()))).collect()).collect(),
        stmts: Mutex::new(Vec::new()),
        events: Arc::new(Mutex::new(Vec::new())),
        watches: Arc::new(Mutex::new(Vec::new())),
        problems: Mutex::new(Vec::new()),
        watchers: Mutex::new(Vec::new()),
        stop,
        deadline: config.seconds.map(|s| Instant::now() + Duration::from_secs_f64(s)),
    });
    let per_session = config.ops.map(|ops| ops.div_ceil(config.sessions));
    let mut handles = Vec::new();
    for index in 0..config.sessions {
        let owned = (0..TABLES.len())
            .filter(|t| t % config.sessions == index)
            .map(|table| Owned { table, exists: false, generation: 0, epoch: 0, added: Vec::new(), next_column: 1 })
            .collect();
        let mut worker = Worker {
            index,
            rng: StdRng::seed_from_u64(config.seed.wrapping_mul(1_000_003).wrapping_add(index as u64)),
            sessions: sessions_of(&engine)?,
            owned,
            sent: 0,
        };
        let shared = shared.clone();
        handles.push(tokio::spawn(async move {
            for at in 0..worker.owned.len() {
                worker.create(&shared, at).await;
            }
            loop {
                let done = match (per_session, shared.deadline) {
                    (Some(ops), _) => worker.sent >= ops,
                    (None, Some(deadline)) => Instant::now() >= deadline,
                    (None, None) => true,
                };
                if done {
                    break;
                }
                worker.step(&shared).await;
            }
            worker.owned
        }));
    }
    let mut owned = Vec::new();
    for handle in handles {
        owned.extend(handle.await?);
    }
    // Every change committed so far reaches its subscription's queue, then the watchers
    // take what is left and stop.
    engine.shared().live.settle().await;
    let _ = shared.stop.send(true);
    let watchers: Vec<_> = std::mem::take(&mut *shared.watchers.lock().unwrap());
    for watcher in watchers {
        watcher.await?;
    }
    let finals = final_state(&engine, &owned).await?;
    let history = History {
        stmts: std::mem::take(&mut *shared.stmts.lock().unwrap()),
        events: std::mem::take(&mut *shared.events.lock().unwrap()),
        watches: std::mem::take(&mut *shared.watches.lock().unwrap()),
        finals,
        problems: std::mem::take(&mut *shared.problems.lock().unwrap()),
    };
    Ok(history)
}

/// Every existing table's rows, per scope, as the engine holds them now.
async fn final_state(engine: &Engine, owned: &[Owned]) -> Result<Vec<FinalScope>> {
    let mut sessions = sessions_of(engine)?;
    let mut finals = Vec::new();
    for table in owned.iter().filter(|o| o.exists) {
        for scope in workload::scopes(table.table) {
            let (rendered, decoded) = read_scope(&mut sessions, table.table, scope).await?;
            finals.push(FinalScope { table: table.table, generation: table.generation, scope, rendered, decoded });
        }
    }
    Ok(finals)
}

/// A scope's rows: rendered whole (every column and `_deleted`), and decoded with `_seq`.
pub async fn read_scope(
    sessions: &mut BTreeMap<&'static str, Session>,
    table: usize,
    scope: Scope,
) -> Result<(Vec<String>, Vec<crate::history::Values>)> {
    let name = TABLES[table].name;
    let user = match scope {
        Scope::Shared => "root",
        Scope::User(user) => user,
    };
    let session = sessions.get_mut(user).expect("a session per user");
    let (whole, keyed) = if TABLES[table].kind == TableKind::Stream {
        (format!("SELECT * FROM {name}"), format!("SELECT v, w, _seq FROM {name}"))
    } else {
        (format!("SELECT *, _deleted FROM {name}"), format!("SELECT id, v, w, _deleted, _seq FROM {name}"))
    };
    let rendered = match Outcome::of(session.execute(&whole).await) {
        Outcome::Rows(rows) => rows,
        other => anyhow::bail!("reading {name} ({scope}): {}", other.brief()),
    };
    let decoded = match session.execute(&keyed).await {
        Ok(engine::QueryResult::Rows { batches, .. }) => decode(&batches),
        Ok(_) => anyhow::bail!("reading {name} ({scope}): not rows"),
        Err(error) => anyhow::bail!("reading {name} ({scope}): {error}"),
    };
    Ok((rendered, decoded))
}

impl Worker {
    fn elapsed(shared: &Shared) -> Duration {
        shared.started.elapsed()
    }

    /// Runs `sql` as `user` and records it; `before`/`after` are sampled inside whatever
    /// gates the caller holds.
    async fn timed(&mut self, shared: &Shared, user: &'static str, sql: &str) -> (Outcome, u64, u64, Duration, Duration) {
        let session = self.sessions.get_mut(user).expect("a session per user");
        let before = shared.last_seq();
        let start = Self::elapsed(shared);
        let outcome = Outcome::of(session.execute(sql).await);
        let end = Self::elapsed(shared);
        let after = shared.last_seq();
        (outcome, before, after, start, end)
    }

    #[allow(clippy::too_many_arguments)]
    fn record(
        &mut self,
        shared: &Shared,
        id: u64,
        user: &'static str,
        table: Option<usize>,
        scope: Scope,
        kind: Kind,
        sql: String,
        timed: (Outcome, u64, u64, Duration, Duration),
        generation: Option<u32>,
    ) -> Outcome {
        let (outcome, before, after, start, end) = timed;
        let stmt = Stmt {
            id,
            session: self.index,
            index: self.sent,
            user,
            table,
            scope,
            kind,
            sql,
            outcome: outcome.clone(),
            before,
            after,
            start,
            end,
            generation,
        };
        self.sent += 1;
        shared.stmts.lock().unwrap().push(stmt);
        outcome
    }

    async fn step(&mut self, shared: &Shared) {
        let roll = self.rng.random_range(0..100);
        if roll < 54 {
            let table = self.rng.random_range(0..TABLES.len());
            self.dml(shared, table).await;
        } else if roll < 62 {
            let table = self.rng.random_range(0..TABLES.len());
            self.block(shared, table).await;
        } else if roll < 86 {
            let table = self.rng.random_range(0..TABLES.len());
            let id = shared.id();
            let planned = workload::read(&mut self.rng, table);
            let timed = self.timed(shared, planned.user, &planned.sql).await;
            self.record(shared, id, planned.user, Some(table), planned.scope, Kind::Read, planned.sql, timed, None);
        } else if roll < 90 && !self.owned.is_empty() {
            let at = self.rng.random_range(0..self.owned.len());
            self.ddl(shared, at).await;
        } else if roll < 95 {
            let keyed: Vec<usize> = (0..TABLES.len()).filter(|t| TABLES[*t].kind != TableKind::Stream).collect();
            let table = keyed[self.rng.random_range(0..keyed.len())];
            let id = shared.id();
            let sql = format!("FLUSH TABLE {}", TABLES[table].name);
            let timed = self.timed(shared, "root", &sql).await;
            self.record(shared, id, "root", Some(table), Scope::Shared, Kind::Flush, sql, timed, None);
        } else if roll < 97 {
            let id = shared.id();
            let before = shared.last_seq();
            let start = Self::elapsed(shared);
            let outcome = match shared.engine.run_jobs().await {
                Ok(n) => Outcome::Count(n as u64),
                Err(error) => Outcome::Error { state: error.sql_state().code().to_string(), message: error.to_string() },
            };
            let timed = (outcome, before, shared.last_seq(), start, Self::elapsed(shared));
            self.record(shared, id, "root", None, Scope::Shared, Kind::Jobs, "run_jobs()".into(), timed, None);
        } else {
            let table = self.rng.random_range(0..TABLES.len());
            self.dml(shared, table).await;
        }
    }

    async fn dml(&mut self, shared: &Shared, table: usize) {
        let id = shared.id();
        let planned = workload::dml(&mut self.rng, table, id);
        let gate = if matches!(planned.kind, Kind::StreamTruncate) { Gate::Scope } else { Gate::Shared };
        self.gated(shared, id, table, planned, gate).await;
    }

    async fn gated(&mut self, shared: &Shared, id: u64, table: usize, planned: workload::Planned, gate: Gate) {
        let table_gate = shared.table_gates[table].read().await;
        let scope_gate = &shared.scope_gates[table][&planned.scope];
        let timed = match gate {
            Gate::Shared => {
                let _guard = scope_gate.read().await;
                self.timed(shared, planned.user, &planned.sql).await
            }
            Gate::Scope => {
                let _guard = scope_gate.write().await;
                self.timed(shared, planned.user, &planned.sql).await
            }
        };
        drop(table_gate);
        self.record(shared, id, planned.user, Some(table), planned.scope, planned.kind, planned.sql, timed, None);
    }

    /// A transaction block on `table`: `BEGIN`, its steps until one fails, then `COMMIT`
    /// (seven times in eight, when every step succeeded) or `ROLLBACK`. It holds the
    /// table's gate shared throughout, and its scope's gate exclusively around `COMMIT`.
    async fn block(&mut self, shared: &Shared, table: usize) {
        let id = shared.id();
        let (user, scope, planned) = workload::block(&mut self.rng, table, || shared.id());
        let commit = self.rng.random_range(0..8) != 0;
        let table_gate = shared.table_gates[table].read().await;
        let before = shared.last_seq();
        let start = Self::elapsed(shared);
        let session = self.sessions.get_mut(user).expect("a session per user");
        let mut texts = vec![Block::BEGIN.to_string()];
        let mut steps = Vec::new();
        let mut outcome = Outcome::of(session.execute(Block::BEGIN).await);
        if outcome.is_ok() {
            for (step_id, step) in planned {
                let result = Outcome::of(session.execute(&step.sql).await);
                let failed = !result.is_ok();
                texts.push(step.sql.clone());
                steps.push(Step { id: step_id, kind: step.kind, sql: step.sql, outcome: result });
                if failed {
                    break;
                }
            }
        }
        let mut committed = false;
        let mut commit_window = (0, 0);
        if outcome.is_ok() {
            let failed = steps.iter().any(|s| !s.outcome.is_ok());
            if commit && !failed {
                let _scope_gate = shared.scope_gates[table][&scope].write().await;
                let commit_before = shared.last_seq();
                outcome = Outcome::of(session.execute("COMMIT").await);
                commit_window = (commit_before, shared.last_seq());
                committed = outcome.is_ok();
                texts.push("COMMIT".into());
            } else {
                outcome = Outcome::of(session.execute("ROLLBACK").await);
                texts.push("ROLLBACK".into());
            }
        }
        let timed = (outcome, before, shared.last_seq(), start, Self::elapsed(shared));
        drop(table_gate);
        let kind = Kind::Block(Block { steps, committed, commit_window });
        self.record(shared, id, user, Some(table), scope, kind, texts.join("; "), timed, None);
    }

    async fn ddl(&mut self, shared: &Shared, at: usize) {
        let owned = self.owned[at].clone();
        if !owned.exists {
            return self.create(shared, at).await;
        }
        let roll = self.rng.random_range(0..100);
        if roll < 25 {
            // DROP TABLE races every writer: no gate.
            let id = shared.id();
            let sql = format!("DROP TABLE {}", TABLES[owned.table].name);
            let timed = self.timed(shared, "root", &sql).await;
            let outcome = self.record(shared, id, "root", Some(owned.table), Scope::Shared, Kind::Drop, sql, timed, Some(owned.generation));
            if outcome.is_ok() {
                self.owned[at].exists = false;
            }
            return;
        }
        let drop_column = roll < 55 && !owned.added.is_empty();
        let (kind, sql, column) = if drop_column {
            let column = owned.added[self.rng.random_range(0..owned.added.len())].clone();
            (Kind::AlterDrop, format!("ALTER TABLE {} DROP COLUMN {column}", TABLES[owned.table].name), column)
        } else {
            let column = format!("c{}", owned.next_column);
            let default = if self.rng.random_bool(0.7) { format!(" DEFAULT {}", self.rng.random_range(0..1000)) } else { String::new() };
            (Kind::AlterAdd, format!("ALTER TABLE {} ADD COLUMN {column} BIGINT{default}", TABLES[owned.table].name), column)
        };
        let id = shared.id();
        let gate = shared.table_gates[owned.table].write().await;
        let timed = self.timed(shared, "root", &sql).await;
        let ok = timed.0.is_ok();
        self.record(shared, id, "root", Some(owned.table), Scope::Shared, kind, sql, timed, Some(owned.generation));
        if ok {
            let entry = &mut self.owned[at];
            if drop_column {
                entry.added.retain(|c| *c != column);
            } else {
                entry.added.push(column);
                entry.next_column += 1;
            }
            // ALTER TABLE ended the table's subscriptions: open new ones before any
            // writer may run again.
            entry.epoch += 1;
            let (generation, epoch) = (entry.generation, entry.epoch);
            self.watch(shared, owned.table, generation, epoch).await;
        }
        drop(gate);
    }

    async fn create(&mut self, shared: &Shared, at: usize) {
        let table = self.owned[at].table;
        let id = shared.id();
        let sql = workload::create_sql(table);
        let gate = shared.table_gates[table].write().await;
        let generation = self.owned[at].generation + 1;
        let timed = self.timed(shared, "root", &sql).await;
        let outcome = self.record(shared, id, "root", Some(table), Scope::Shared, Kind::Create, sql, timed, Some(generation));
        if outcome.is_ok() {
            let entry = &mut self.owned[at];
            *entry = Owned { table, exists: true, generation, epoch: 0, added: Vec::new(), next_column: 1 };
            self.watch(shared, table, generation, 0).await;
        } else {
            shared.problem(format!("CREATE of {} failed: {}", TABLES[table].name, outcome.brief()));
        }
        drop(gate);
    }

    /// Opens one subscription per row scope of the table (as that scope's user) and a
    /// task that records what each delivers.
    async fn watch(&mut self, shared: &Shared, table: usize, generation: u32, epoch: u32) {
        for scope in workload::scopes(table) {
            let user = match scope {
                Scope::Shared => "root",
                Scope::User(user) => user,
            };
            let request = SubscribeRequest {
                table: ObjectRef { namespace: None, name: TABLES[table].name.into() },
                predicate: None,
                from_seq: None,
                last_rows: None,
            };
            let session = self.sessions.get_mut(user).expect("a session per user");
            match session.subscribe(request).await {
                Ok(subscription) => {
                    let index = {
                        let mut watches = shared.watches.lock().unwrap();
                        watches.push(Watch {
                            table,
                            generation,
                            epoch,
                            scope,
                            start_seq: subscription.start_seq(),
                            opened: shared.started.elapsed(),
                            ended: None,
                            failed: false,
                        });
                        watches.len() - 1
                    };
                    let tag = Tag { table, generation, epoch, scope, watch: index };
                    let pump = pump(subscription, tag, shared.events.clone(), shared.watches.clone(), shared.stop.subscribe());
                    shared.watchers.lock().unwrap().push(tokio::spawn(pump));
                }
                Err(error) => shared.problem(format!("SUBSCRIBE TO {} as {user} failed: {error}", TABLES[table].name)),
            }
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Tag {
    table: usize,
    generation: u32,
    epoch: u32,
    scope: Scope,
    watch: usize,
}

/// Moves a subscription's events into the record until it ends, or until told to stop
/// (then it takes whatever is queued).
async fn pump(
    mut subscription: Subscription,
    tag: Tag,
    events: Arc<Mutex<Vec<Event>>>,
    watches: Arc<Mutex<Vec<Watch>>>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let take = |event: LiveEvent| -> bool {
        if event.is_final() {
            let mut watches = watches.lock().unwrap();
            let watch = &mut watches[tag.watch];
            watch.ended = Some(event.message.clone().unwrap_or_default());
            watch.failed = event.kind == engine::EventKind::Error;
            return false;
        }
        let kind = match event.kind {
            engine::EventKind::Initial => EventKind::Initial,
            engine::EventKind::Insert => EventKind::Insert,
            engine::EventKind::Update => EventKind::Update,
            _ => EventKind::Delete,
        };
        let row = event.row.as_ref().map(|r| decode(std::slice::from_ref(r)).pop().unwrap_or_default()).unwrap_or_default();
        let old = event.old_row.as_ref().map(|r| decode(std::slice::from_ref(r)).pop().unwrap_or_default());
        events.lock().unwrap().push(Event {
            table: tag.table,
            generation: tag.generation,
            epoch: tag.epoch,
            scope: tag.scope,
            kind,
            seq: event.seq.unwrap_or(0),
            row,
            old,
        });
        true
    };
    loop {
        let next = tokio::select! {
            biased;
            event = subscription.next() => Some(event),
            _ = stop.wait_for(|stopped| *stopped) => None,
        };
        match next {
            Some(Some(event)) => {
                if !take(event) {
                    return;
                }
            }
            Some(None) => return,
            None => {
                while let Some(event) = subscription.try_next() {
                    if !take(event) {
                        return;
                    }
                }
                return;
            }
        }
    }
}

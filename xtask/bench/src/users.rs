//! The `users` workloads: the cost of USER tables, measured against the same workload on
//! SHARED tables in one engine, several repetitions. Within a repetition the variants
//! take turns in short blocks of statements, each timed, so that a slow spell of a noisy
//! machine falls on all of them alike.
//!
//! - Single-row INSERT and primary-key SELECT, spread round-robin over `--users` users
//!   with one session each (opened before timing). The USER side runs as users of role
//!   user (`u0`, `u1`, ...) on a USER table; the SHARED side as the same number of users
//!   of role service (`s0`, `s1`, ...; role user may not write SHARED tables) on a SHARED
//!   table with the same columns and the same SQL text: ids are unique across users, so
//!   only the table kind differs. The INSERT also runs on a SHARED table whose ids put
//!   each user's rows together, in the key order the USER table stores them in.
//! - The scan of one user's rows (`SELECT COUNT(*), SUM(v)`), `--user-rows` rows per
//!   user, in a USER table of 10 users and in one of `--users` users: the scan reads the
//!   user's own key range, so its cost should follow the user's rows, not the table's.
//!   Beside it, on SHARED tables: the same rows read by a primary-key range, the same
//!   rows with an `owner` column filtered by `WHERE owner = ...` (a scan of the whole
//!   table), and a table holding only one user's rows.
//!
//! The tables read are flushed and compacted before the reads, so where a table sits in
//! RocksDB does not depend on which was loaded first.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use engine::exports::arrow::array::Int64Array;
use engine::passwords::PasswordCost;
use engine::{Engine, EngineConfig, QueryResult, Session};

use crate::Args;
use crate::Measurement;
use crate::systems::create_table_named;
use crate::systems::row_sql;

/// The measurement every other one of a users workload is compared with.
pub const USER: &str = "USER";
const SHARED: &str = "SHARED";
const SHARED_GROUPED: &str = "SHARED ids grouped by user";
const SHARED_RANGE: &str = "SHARED id range";
const SHARED_OWNER: &str = "SHARED owner filter";
const SHARED_SMALL: &str = "SHARED one user's rows";

/// Rows per INSERT statement while loading (untimed).
const LOAD_ROWS: i64 = 1000;

/// Statements a variant runs per turn of the INSERT and SELECT workloads (about 10 ms).
const TURN_STATEMENTS: usize = 1000;

/// Queries a variant runs per turn of the scans.
const TURN_SCANS: usize = 10;

/// One variant's statements of one repetition, each run in the session of its user.
struct Run {
    name: &'static str,
    side: Side,
    /// The index of the user whose session runs it, and the SQL.
    statements: Vec<(usize, String)>,
    /// The rows each statement must return, if that is checked.
    rows: Option<usize>,
}

/// The table kind a measurement runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    /// A USER table, as users of role user.
    User,
    /// A SHARED table, as users of role service.
    Shared,
}

impl Side {
    /// The benchmark table's definition as this kind of table.
    fn create_sql(self, table: &str) -> String {
        let shared = create_table_named(table);
        match self {
            Side::User => shared.replacen("CREATE TABLE", "CREATE USER TABLE", 1),
            Side::Shared => shared,
        }
    }
}

/// `items` in the order repetition `rep` runs them (rotated, so none always goes first).
fn rotated<T, const N: usize>(mut items: [T; N], rep: usize) -> [T; N] {
    items.rotate_left(rep % N);
    items
}

/// The sizes of the users workloads (from the command line).
#[derive(Debug, Clone)]
pub struct Sizes {
    pub users: usize,
    pub inserts: i64,
    pub lookups: i64,
    pub rows_per_user: i64,
    pub scans: i64,
    pub filtered_scans: i64,
    pub reps: usize,
}

impl Sizes {
    pub fn of(args: &Args) -> Sizes {
        Sizes {
            users: args.users,
            inserts: args.user_inserts,
            lookups: args.user_lookups,
            rows_per_user: args.user_rows,
            scans: args.user_scans,
            filtered_scans: args.user_filtered_scans,
            reps: args.reps,
        }
    }
}

/// One engine with the users, a session per user, and the loaded tables of the reads.
pub struct UserBench {
    sizes: Sizes,
    /// Sessions of `u0`, `u1`, ... (role user), for USER tables.
    user_sessions: Vec<Session>,
    /// Sessions of `s0`, `s1`, ... (role service), for SHARED tables.
    shared_sessions: Vec<Session>,
    /// User counts whose USER and SHARED tables ([`UserBench::load_pair`]) are loaded.
    loaded: Vec<usize>,
    engine: Engine,
    _dir: tempfile::TempDir,
}

/// The id of row `row` of user `user`: each user's ids are one block, unique in the table.
fn row_id(user: usize, row: i64, rows_per_user: i64) -> i64 {
    user as i64 * rows_per_user + row
}

/// One row of the benchmark table with its owner's name after the id (the owner table).
fn owner_row_sql(id: i64, user: usize) -> String {
    row_sql(id).replacen(", ", &format!(", 'u{user}', "), 1)
}

/// Inserts `ids` into `table` in [`LOAD_ROWS`]-row statements; `row` gives each row's SQL.
async fn load(session: &mut Session, table: &str, ids: std::ops::Range<i64>, row: impl Fn(i64) -> String) -> Result<()> {
    let mut start = ids.start;
    while start < ids.end {
        let end = (start + LOAD_ROWS).min(ids.end);
        let rows: Vec<String> = (start..end).map(&row).collect();
        let sql = format!("INSERT INTO {table} VALUES {}", rows.join(", "));
        session.execute(&sql).await.with_context(|| table.to_string())?;
        start = end;
    }
    Ok(())
}

/// The first column of the first row of a query's result, as a BIGINT (COUNT(*)).
fn first_count(result: &QueryResult) -> Result<i64> {
    let QueryResult::Rows { batches, .. } = result else { anyhow::bail!("the query returned no rows") };
    let batch = batches.iter().find(|b| b.num_rows() > 0).context("the query returned no rows")?;
    let counts = batch.column(0).as_any().downcast_ref::<Int64Array>().context("COUNT(*) is not a BIGINT")?;
    Ok(counts.value(0))
}

/// Adds one repetition's sample of `name`: µs per statement.
fn add_sample(measured: &mut BTreeMap<String, Measurement>, name: &str, elapsed: Duration, statements: i64) {
    let entry = measured.entry(name.to_string()).or_default();
    entry.size = statements;
    entry.samples.push(elapsed.as_secs_f64() * 1e6 / statements as f64);
    entry.peak_rss_mib = entry.peak_rss_mib.max(crate::peak_rss_mib());
}

impl UserBench {
    /// Opens an engine (the bench's configuration, cheap password hashing for CREATE USER)
    /// and creates the users of both sides with a session each.
    pub async fn open(sizes: Sizes) -> Result<UserBench> {
        anyhow::ensure!(sizes.users > 0 && sizes.rows_per_user > 0, "the users workloads need users and rows");
        let dir = tempfile::tempdir()?;
        let mut config = EngineConfig::new(dir.path().join("data"));
        config.password_cost = PasswordCost::TESTING;
        let engine = Engine::open(config)?;
        let mut root = engine.root_session();
        let mut user_sessions = Vec::with_capacity(sizes.users);
        let mut shared_sessions = Vec::with_capacity(sizes.users);
        for user in 0..sizes.users {
            root.execute(&format!("CREATE USER 'u{user}' WITH PASSWORD 'x' ROLE user")).await?;
            root.execute(&format!("CREATE USER 's{user}' WITH PASSWORD 'x' ROLE service")).await?;
            user_sessions.push(engine.session(&format!("u{user}"))?);
            shared_sessions.push(engine.session(&format!("s{user}"))?);
        }
        Ok(UserBench { sizes, user_sessions, shared_sessions, loaded: Vec::new(), engine, _dir: dir })
    }

    fn sessions(&mut self, side: Side) -> &mut Vec<Session> {
        match side {
            Side::User => &mut self.user_sessions,
            Side::Shared => &mut self.shared_sessions,
        }
    }

    /// Flushes RocksDB's memtables and compacts every file into the last level, so the
    /// tables read sit alike in storage, whichever was loaded first (untimed).
    fn settle(&self) -> Result<()> {
        self.engine.flush_hot_storage()?;
        self.engine.shared().store.compact_prefix(&[]);
        Ok(())
    }

    /// Runs one statement as root (DDL).
    async fn as_root(&self, sql: &str) -> Result<()> {
        self.engine.root_session().execute(sql).await.with_context(|| sql.to_string())?;
        Ok(())
    }

    /// Single-row INSERTs, statement `i` by user `i % users`, into a fresh table per
    /// repetition and variant; µs per statement. The USER and SHARED tables get id `i`;
    /// the grouped SHARED table an id that orders rows by user first, as the USER table's
    /// keys do.
    pub async fn single_inserts(&mut self) -> Result<BTreeMap<String, Measurement>> {
        let (users, n) = (self.sizes.users, self.sizes.inserts);
        let variants = [(USER, Side::User), (SHARED, Side::Shared), (SHARED_GROUPED, Side::Shared)];
        let mut measured = BTreeMap::new();
        for rep in 0..self.sizes.reps {
            let mut runs = Vec::new();
            for (index, (name, side)) in rotated(variants, rep).into_iter().enumerate() {
                let table = format!("insert_{rep}_{index}");
                self.as_root(&side.create_sql(&table)).await?;
                let id = |i: i64| if name == SHARED_GROUPED { (i % users as i64) * n + i } else { i };
                let statements = (0..n).map(|i| ((i as usize) % users, format!("INSERT INTO {table} VALUES {}", row_sql(id(i))))).collect();
                runs.push(Run { name, side, statements, rows: None });
            }
            self.take_turns(&runs, TURN_STATEMENTS, &mut measured).await?;
        }
        Ok(measured)
    }

    /// Runs `runs` taking turns, `turn` statements of each at a time, so a slower spell of
    /// the machine falls on every variant alike; adds each one's µs per statement to
    /// `measured` (with the peak memory of the whole repetition).
    async fn take_turns(&mut self, runs: &[Run], turn: usize, measured: &mut BTreeMap<String, Measurement>) -> Result<()> {
        crate::reset_peak_rss();
        let mut elapsed = vec![Duration::ZERO; runs.len()];
        let mut start = 0;
        while runs.iter().any(|run| run.statements.len() > start) {
            for (index, run) in runs.iter().enumerate() {
                let block = &run.statements[start.min(run.statements.len())..(start + turn).min(run.statements.len())];
                let sessions = self.sessions(run.side);
                let started = Instant::now();
                for (user, sql) in block {
                    let result = sessions[*user].execute(sql).await.with_context(|| sql.clone())?;
                    if let Some(rows) = run.rows {
                        anyhow::ensure!(result.row_count() == rows, "{sql} as user {user}: {} rows", result.row_count());
                    }
                }
                elapsed[index] += started.elapsed();
            }
            start += turn;
        }
        for (run, elapsed) in runs.iter().zip(elapsed) {
            add_sample(measured, run.name, elapsed, run.statements.len() as i64);
        }
        Ok(())
    }

    /// Loads `table` with `users` users' `rows_per_user` rows each, each user's block by
    /// its own session (untimed); `row` gives a row's SQL from its id and user.
    async fn load_table(&mut self, side: Side, table: &str, users: usize, row: impl Fn(i64, usize) -> String) -> Result<()> {
        let rows = self.sizes.rows_per_user;
        for user in 0..users {
            let ids = row_id(user, 0, rows)..row_id(user, rows, rows);
            load(&mut self.sessions(side)[user], table, ids, |id| row(id, user)).await?;
        }
        Ok(())
    }

    /// Loads, once per user count, `user_{users}` (USER) and `shared_{users}` (SHARED):
    /// the same `users` blocks of `rows_per_user` rows; then [`UserBench::settle`].
    async fn load_pair(&mut self, users: usize) -> Result<()> {
        if self.loaded.contains(&users) {
            return Ok(());
        }
        for side in [Side::User, Side::Shared] {
            let table = pair_table(side, users);
            self.as_root(&side.create_sql(&table)).await?;
            self.load_table(side, &table, users, |id, _| row_sql(id)).await?;
        }
        self.loaded.push(users);
        self.settle()?;
        Ok(())
    }

    /// Primary-key SELECTs of rows that exist for the user asking, each by a pseudo-random
    /// user, on the USER and SHARED tables of `--users` users; µs per lookup.
    pub async fn lookups(&mut self) -> Result<BTreeMap<String, Measurement>> {
        let (users, rows) = (self.sizes.users, self.sizes.rows_per_user);
        self.load_pair(users).await?;
        let targets: Vec<(usize, i64)> =
            crate::ids(users as i64 * rows, self.sizes.lookups).into_iter().map(|id| ((id / rows) as usize, id)).collect();
        let mut measured = BTreeMap::new();
        for rep in 0..self.sizes.reps {
            let runs: Vec<Run> = rotated([(USER, Side::User), (SHARED, Side::Shared)], rep)
                .into_iter()
                .map(|(name, side)| {
                    let table = pair_table(side, users);
                    let statements = targets.iter().map(|(user, id)| (*user, format!("SELECT * FROM {table} WHERE id = {id}"))).collect();
                    Run { name, side, statements, rows: Some(1) }
                })
                .collect();
            self.take_turns(&runs, TURN_STATEMENTS, &mut measured).await?;
        }
        Ok(measured)
    }

    /// The scan of one user's rows, each query by a pseudo-random user of `users`, in the
    /// USER table, and the same rows on SHARED tables (see the module comment); µs per
    /// query. Every variant's count is checked once before timing. The owner filter reads
    /// the whole table, so it runs at most `--user-filtered-scans` queries.
    pub async fn scans(&mut self, users: usize) -> Result<BTreeMap<String, Measurement>> {
        let rows = self.sizes.rows_per_user;
        self.load_pair(users).await?;
        let (owner_table, small_table) = (format!("owner_{users}"), format!("small_{users}"));
        let columns = "id BIGINT PRIMARY KEY, owner TEXT, name TEXT, grp INT, v DOUBLE";
        self.as_root(&format!("CREATE TABLE {owner_table} ({columns})")).await?;
        self.load_table(Side::Shared, &owner_table, users, owner_row_sql).await?;
        self.as_root(&Side::Shared.create_sql(&small_table)).await?;
        self.load_table(Side::Shared, &small_table, 1, |id, _| row_sql(id)).await?;
        self.settle()?;
        let (user_table, shared_table) = (pair_table(Side::User, users), pair_table(Side::Shared, users));
        let scan = |name: &str, user: usize| -> (Side, String) {
            let select = "SELECT COUNT(*), SUM(v) FROM";
            match name {
                USER => (Side::User, format!("{select} {user_table}")),
                SHARED_RANGE => {
                    let (first, last) = (row_id(user, 0, rows), row_id(user, rows - 1, rows));
                    (Side::Shared, format!("{select} {shared_table} WHERE id BETWEEN {first} AND {last}"))
                }
                SHARED_OWNER => (Side::Shared, format!("{select} {owner_table} WHERE owner = 'u{user}'")),
                _ => (Side::Shared, format!("{select} {small_table}")),
            }
        };
        let variants = [USER, SHARED_RANGE, SHARED_OWNER, SHARED_SMALL];
        for name in variants {
            let (side, sql) = scan(name, users - 1);
            let count = first_count(&self.sessions(side)[users - 1].execute(&sql).await?)?;
            anyhow::ensure!(count == rows, "{sql} counted {count} rows, not {rows}");
        }
        let scanners = crate::ids(users as i64, self.sizes.scans);
        let filtered_scans = self.sizes.scans.min(self.sizes.filtered_scans);
        let mut measured = BTreeMap::new();
        for rep in 0..self.sizes.reps {
            let runs: Vec<Run> = rotated(variants, rep)
                .into_iter()
                .map(|name| {
                    let queries = if name == SHARED_OWNER { filtered_scans } else { self.sizes.scans };
                    let side = scan(name, 0).0;
                    let statements =
                        scanners[..queries as usize].iter().map(|&user| (user as usize, scan(name, user as usize).1)).collect();
                    Run { name, side, statements, rows: None }
                })
                .collect();
            self.take_turns(&runs, TURN_SCANS, &mut measured).await?;
        }
        Ok(measured)
    }
}

/// The USER or SHARED table of the reads with `users` users.
fn pair_table(side: Side, users: usize) -> String {
    match side {
        Side::User => format!("user_{users}"),
        Side::Shared => format!("shared_{users}"),
    }
}

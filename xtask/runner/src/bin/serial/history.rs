//! What a concurrent run records, and the one value-to-text layer the checks share.
//!
//! Every statement a session sends becomes a [`Stmt`]: what it was (its [`Kind`], with
//! the structure the checker needs, e.g. a DELETE's predicate), who sent it and as whom,
//! what came back, and when: the engine's `_seq` high-water mark sampled just before and
//! just after (`before`, `after`), and the instants it started and ended. Every change a
//! subscription delivered becomes an [`Event`], tagged with the table generation, the
//! subscription epoch (ALTER TABLE ends subscriptions; the watcher opens new ones) and the
//! row scope it came from.

use std::collections::BTreeMap;
use std::time::Duration;

use engine::QueryResult;
use engine::exports::arrow::array::{Array, AsArray};
use engine::exports::arrow::compute::cast;
use engine::exports::arrow::datatypes::{DataType, Int64Type};
use engine::exports::arrow::record_batch::RecordBatch;
use engine::exports::arrow::util::display::array_value_to_string;

use crate::workload::Pred;

/// A row's columns by name; every column of the workload is BIGINT (booleans read 0/1).
pub type Values = BTreeMap<String, Option<i64>>;

/// Whose rows: the one scope of a SHARED table, or one user's of a USER or STREAM table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    Shared,
    User(&'static str),
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scope::Shared => write!(f, "shared"),
            Scope::User(user) => write!(f, "{user}'s rows"),
        }
    }
}

/// What a statement returned, comparable between the run and the replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Rendered rows, sorted (every check compares multisets).
    Rows(Vec<String>),
    Count(u64),
    Message,
    /// Compared by SQLSTATE only.
    Error {
        state: String,
        message: String,
    },
}

impl Outcome {
    pub fn of(result: engine::Result<QueryResult>) -> Outcome {
        match result {
            Ok(QueryResult::Rows { batches, .. }) => Outcome::Rows(render(&batches)),
            Ok(QueryResult::Count { rows: n, .. }) => Outcome::Count(n),
            Ok(_) => Outcome::Message,
            Err(error) => Outcome::Error { state: error.sql_state().code().to_string(), message: error.to_string() },
        }
    }

    pub fn count(&self) -> Option<u64> {
        match self {
            Outcome::Count(n) => Some(*n),
            _ => None,
        }
    }

    pub fn is_ok(&self) -> bool {
        !matches!(self, Outcome::Error { .. })
    }

    pub fn state(&self) -> Option<&str> {
        match self {
            Outcome::Error { state, .. } => Some(state),
            _ => None,
        }
    }

    /// Equal as the checks see it: errors by SQLSTATE.
    pub fn same_as(&self, other: &Outcome) -> bool {
        match (self, other) {
            (Outcome::Error { state: a, .. }, Outcome::Error { state: b, .. }) => a == b,
            (a, b) => a == b,
        }
    }

    /// Short text for reports.
    pub fn brief(&self) -> String {
        match self {
            Outcome::Rows(rows) if rows.len() > 12 => format!("{} rows: {:?} ...", rows.len(), &rows[..12]),
            Outcome::Rows(rows) => format!("{} rows: {rows:?}", rows.len()),
            Outcome::Count(n) => format!("count {n}"),
            Outcome::Message => "ok".into(),
            Outcome::Error { state, message } => format!("error {state}: {message}"),
        }
    }
}

/// Rows as `name=value|...` in column order, sorted.
pub fn render(batches: &[RecordBatch]) -> Vec<String> {
    let mut rows = Vec::new();
    for batch in batches {
        let schema = batch.schema();
        for row in 0..batch.num_rows() {
            let cells: Vec<String> = batch
                .columns()
                .iter()
                .zip(schema.fields())
                .map(|(column, field)| {
                    let value = if column.is_null(row) {
                        "NULL".to_string()
                    } else {
                        array_value_to_string(column, row).unwrap_or_else(|e| format!("<{e}>"))
                    };
                    format!("{}={value}", field.name())
                })
                .collect();
            rows.push(cells.join("|"));
        }
    }
    rows.sort();
    rows
}

/// Every row of `batches` as [`Values`].
pub fn decode(batches: &[RecordBatch]) -> Vec<Values> {
    let mut rows = Vec::new();
    for batch in batches {
        let columns: Vec<(String, Vec<Option<i64>>)> = batch
            .schema()
            .fields()
            .iter()
            .zip(batch.columns())
            .map(|(field, column)| (field.name().clone(), integers(column.as_ref())))
            .collect();
        for row in 0..batch.num_rows() {
            rows.push(columns.iter().map(|(name, values)| (name.clone(), values[row])).collect());
        }
    }
    rows
}

fn integers(column: &dyn Array) -> Vec<Option<i64>> {
    let source = if column.data_type() == &DataType::Boolean {
        cast(column, &DataType::Int8).and_then(|c| cast(&c, &DataType::Int64))
    } else {
        cast(column, &DataType::Int64)
    };
    match source {
        Ok(array) => array.as_primitive::<Int64Type>().iter().collect(),
        Err(_) => vec![None; column.len()],
    }
}

/// What a statement was, with what the checker needs to know about it.
#[derive(Debug, Clone)]
pub enum Kind {
    /// INSERT of rows with these keys into a SHARED or USER table.
    Insert {
        keys: Vec<i64>,
    },
    /// `UPDATE t SET v = ..., w = <id> WHERE pred`.
    Update {
        pred: Pred,
    },
    /// `DELETE FROM t WHERE pred`.
    Delete {
        pred: Pred,
    },
    /// TRUNCATE of a SHARED or USER table (soft: every live row gets a tombstone).
    Truncate,
    /// INSERT into a STREAM table.
    StreamInsert {
        rows: usize,
    },
    /// TRUNCATE of a STREAM table (the user's rows go for good, with no `_seq`).
    StreamTruncate,
    Create,
    AlterAdd,
    AlterDrop,
    Drop,
    Flush,
    Jobs,
    /// A SELECT (of one table, as one user).
    Read,
    /// A transaction block at SERIALIZABLE: `BEGIN`, DML and reads of one table and row
    /// scope as one user, then `COMMIT` (or `ROLLBACK`, chosen or after a step failed).
    Block(Block),
}

/// One statement of a transaction block.
#[derive(Debug, Clone)]
pub struct Step {
    /// Its own statement id (its DML writes it into `w`).
    pub id: u64,
    pub kind: Kind,
    pub sql: String,
    pub outcome: Outcome,
}

/// What a block sent and how it ended.
#[derive(Debug, Clone)]
pub struct Block {
    /// The statements sent between `BEGIN` and the end (none after the first that failed).
    pub steps: Vec<Step>,
    /// Whether `COMMIT` was sent and succeeded.
    pub committed: bool,
    /// The `_seq` high-water mark just before and after `COMMIT` (which holds its scope's
    /// gate exclusively, so every change of the scope in between is the block's).
    pub commit_window: (u64, u64),
}

impl Block {
    pub const BEGIN: &str = "BEGIN ISOLATION LEVEL SERIALIZABLE";

    /// Whether it committed a write (a step that changed rows).
    pub fn committed_writes(&self) -> bool {
        self.committed && self.steps.iter().any(|step| step.outcome.count().is_some_and(|n| n > 0))
    }

    /// The steps a serial run at one point must answer alike: every one that succeeded,
    /// and the first that failed unless it failed with 40001 (a conflict, which a serial
    /// run never has) or 42P01 (the table was dropped after the block began: DDL does not
    /// wait for open blocks, and a block that outlives its table fails).
    pub fn replayable(&self) -> &[Step] {
        match self.steps.iter().position(|s| !s.outcome.is_ok()) {
            Some(at) if matches!(self.steps[at].outcome.state(), Some("40001" | "42P01")) => &self.steps[..at],
            Some(at) => &self.steps[..=at],
            None => &self.steps,
        }
    }
}

impl Kind {
    /// The rows an INSERT was given (what its count must be).
    pub fn rows_given(&self) -> Option<u64> {
        match self {
            Kind::Insert { keys } => Some(keys.len() as u64),
            Kind::StreamInsert { rows } => Some(*rows as u64),
            _ => None,
        }
    }

    pub fn is_ddl(&self) -> bool {
        matches!(self, Kind::Create | Kind::AlterAdd | Kind::AlterDrop | Kind::Drop)
    }

    pub fn name(&self) -> &'static str {
        match self {
            Kind::Insert { .. } => "INSERT",
            Kind::Update { .. } => "UPDATE",
            Kind::Delete { .. } => "DELETE",
            Kind::Truncate => "TRUNCATE",
            Kind::StreamInsert { .. } => "STREAM INSERT",
            Kind::StreamTruncate => "STREAM TRUNCATE",
            Kind::Create => "CREATE TABLE",
            Kind::AlterAdd => "ALTER ADD COLUMN",
            Kind::AlterDrop => "ALTER DROP COLUMN",
            Kind::Drop => "DROP TABLE",
            Kind::Flush => "FLUSH TABLE",
            Kind::Jobs => "run_jobs",
            Kind::Read => "SELECT",
            Kind::Block(_) => "BLOCK",
        }
    }
}

/// One statement a session sent.
#[derive(Debug, Clone)]
pub struct Stmt {
    /// Unique in the run; DML writes it into `w`, so every row version names its writer.
    pub id: u64,
    pub session: usize,
    /// Its place in its session's program order.
    pub index: usize,
    /// The user it ran as.
    pub user: &'static str,
    /// Index into [`crate::workload::TABLES`]; None for `run_jobs`.
    pub table: Option<usize>,
    pub scope: Scope,
    pub kind: Kind,
    pub sql: String,
    pub outcome: Outcome,
    /// `_seq` high-water mark just before it started (after its gates were taken) and
    /// just after it returned (before they were released).
    pub before: u64,
    pub after: u64,
    /// Since the run started.
    pub start: Duration,
    pub end: Duration,
    /// DDL: the generation of the table it created, altered or dropped.
    pub generation: Option<u32>,
}

impl Stmt {
    pub fn describe(&self) -> String {
        format!("statement {} (session {} #{}, as {}): {}", self.id, self.session, self.index, self.user, self.sql)
    }

    /// Whether it may have changed rows: acknowledged, and for a block, committed.
    pub fn acked(&self) -> bool {
        match &self.kind {
            Kind::Block(block) => block.committed,
            _ => self.outcome.is_ok(),
        }
    }
}

/// The kind of a change event (the subscription's own kinds, minus the final ones).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Initial,
    Insert,
    Update,
    Delete,
}

/// One change a subscription delivered.
#[derive(Debug, Clone)]
pub struct Event {
    pub table: usize,
    pub generation: u32,
    pub epoch: u32,
    pub scope: Scope,
    pub kind: EventKind,
    pub seq: u64,
    /// The new row (inserts, updates, initial rows), or the row before (deletes).
    pub row: Values,
    /// Updates: the row before.
    pub old: Option<Values>,
}

/// How one subscription went: where it started, and how it ended.
#[derive(Debug, Clone)]
pub struct Watch {
    pub table: usize,
    pub generation: u32,
    pub epoch: u32,
    pub scope: Scope,
    pub start_seq: u64,
    /// When it opened (since the run started).
    pub opened: Duration,
    /// The final event's message (None: still open when the run ended).
    pub ended: Option<String>,
    /// Whether the final event was an error (fell behind).
    pub failed: bool,
}

/// A table scope as the engine holds it after the run.
#[derive(Debug, Clone)]
pub struct FinalScope {
    pub table: usize,
    pub generation: u32,
    pub scope: Scope,
    /// `SELECT *, _deleted` (or `SELECT *` for STREAM tables), rendered: compared with
    /// the replay.
    pub rendered: Vec<String>,
    /// `id, v, w, _deleted, _seq` (STREAM: `v, w, _seq`): compared with the events.
    pub decoded: Vec<Values>,
}

/// Everything a run recorded.
#[derive(Debug, Default)]
pub struct History {
    pub stmts: Vec<Stmt>,
    pub events: Vec<Event>,
    pub watches: Vec<Watch>,
    pub finals: Vec<FinalScope>,
    /// Problems seen while running (subscriptions that could not open, internal errors).
    pub problems: Vec<String>,
}

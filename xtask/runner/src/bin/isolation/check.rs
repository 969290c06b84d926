//! What counts as a failure: leaked values in any output, rows that differ from the
//! oracle's, and writes that change other than the predicted rows; and how the ground
//! truth follows the writes that succeed.

use anyhow::Result;
use engine::QueryResult;
use engine::exports::arrow::util::display::array_value_to_string;
use engine::exports::datafusion::arrow::record_batch::RecordBatch;
use engine::exports::datafusion::prelude::SessionContext;

use crate::Checker;
use crate::grammar::{ScratchWrite, Write};
use crate::world::{PRINCIPALS, PRIVATE_MARKER, Principal, RESTRICTED_MARKER, Role, SCRATCH, marker};

/// What a statement returned, in a form both sides share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Rendered rows, sorted (the grammar's queries are deterministic as multisets).
    Rows(Vec<String>),
    Count(u64),
    Message(String),
    Error {
        state: Option<String>,
        message: String,
    },
}

pub fn rows_of(batches: &[RecordBatch]) -> Vec<String> {
    let mut rows = Vec::new();
    for batch in batches {
        for row in 0..batch.num_rows() {
            let cells: Vec<String> = batch
                .columns()
                .iter()
                .map(|column| {
                    if column.is_null(row) {
                        "NULL".to_string()
                    } else {
                        array_value_to_string(column, row).unwrap_or_else(|e| format!("<{e}>"))
                    }
                })
                .collect();
            rows.push(cells.join("|"));
        }
    }
    rows.sort();
    rows
}

impl Outcome {
    pub fn of_engine(result: engine::Result<QueryResult>) -> Outcome {
        match result {
            Ok(QueryResult::Rows { batches, .. }) => Outcome::Rows(rows_of(&batches)),
            Ok(QueryResult::Count { rows: n, .. }) => Outcome::Count(n),
            Ok(QueryResult::Message(message)) => Outcome::Message(message),
            Ok(QueryResult::Subscription(subscription)) => Outcome::Message(format!("SUBSCRIBE {}", subscription.id())),
            // `execute` collects rows; a stream is only what `Session::run` returns.
            Ok(QueryResult::Stream(_)) => Outcome::Message("rows not collected".into()),
            Err(error) => Outcome::Error { state: Some(error.sql_state().code().to_string()), message: error.to_string() },
        }
    }

    pub async fn of_datafusion(ctx: &SessionContext, sql: &str) -> Outcome {
        let result = match ctx.sql(sql).await {
            Ok(frame) => frame.collect().await,
            Err(error) => Err(error),
        };
        match result {
            Ok(batches) => Outcome::Rows(rows_of(&batches)),
            Err(error) => Outcome::Error { state: None, message: error.to_string() },
        }
    }

    /// Everything the statement showed: rows, counts, messages, errors.
    pub fn text(&self) -> String {
        match self {
            Outcome::Rows(rows) => rows.join("\n"),
            Outcome::Count(n) => n.to_string(),
            Outcome::Message(message) => message.clone(),
            Outcome::Error { message, .. } => message.clone(),
        }
    }

    pub fn is_error(&self, state: &str) -> bool {
        matches!(self, Outcome::Error { state: Some(s), .. } if s == state)
    }
}

/// A value in `text` that `effective` must never see: another user's marker or name, or a
/// SHARED value of an access level above its role.
pub fn leaks(text: &str, effective: Principal) -> Option<String> {
    for other in PRINCIPALS.iter().filter(|p| p.name != effective.name) {
        if text.contains(&marker(other.name)) {
            return Some(format!("a value of {}", other.name));
        }
        if text.split(|c: char| !c.is_ascii_alphanumeric() && c != '_').any(|word| word == other.name) {
            return Some(format!("the name of {}", other.name));
        }
    }
    if effective.role < Role::Service && text.contains(PRIVATE_MARKER) {
        return Some("a value of a PRIVATE table".into());
    }
    if effective.role < Role::Dba && text.contains(RESTRICTED_MARKER) {
        return Some("a value of a RESTRICTED table".into());
    }
    None
}

/// Why the engine's answer to a query differs from the oracle's, if it does.
pub fn compare(engine: &Outcome, oracle: &Outcome) -> Option<String> {
    match (engine, oracle) {
        (Outcome::Rows(a), Outcome::Rows(b)) if a == b => None,
        (Outcome::Rows(a), Outcome::Rows(b)) => {
            Some(format!("rows differ from the oracle's ({} vs {}):\n  engine: {a:?}\n  oracle: {b:?}", a.len(), b.len()))
        }
        (Outcome::Error { .. }, Outcome::Error { .. }) => None,
        (Outcome::Error { message, .. }, _) => Some(format!("the engine refused what the oracle answers: {message}")),
        (_, Outcome::Error { message, .. }) => {
            Some(format!("the engine answered what the user may not run (oracle: {message}): {}", engine.text()))
        }
        (other, _) => Some(format!("unexpected engine result {other:?}")),
    }
}

/// What a write should do.
#[derive(Debug, Clone)]
pub enum Prediction {
    /// The statement must fail (a unique violation, or a table the user may not read).
    Fails,
    /// The statement must be refused for the effective user's role (42501).
    Denied,
    /// An EXPLAIN ANALYZE of a write the user may make: it runs, and answers with a plan.
    Explained,
    /// It changes these rows: ids (and, for copies, the values copied).
    Changes { count: u64, rows: Vec<(i32, i32)> },
}

fn ids_and_values(rows: &[String]) -> Vec<(i32, i32)> {
    rows.iter()
        .map(|row| {
            let mut cells = row.split('|').map(|c| c.parse::<i32>().unwrap_or(i32::MIN));
            (cells.next().unwrap_or(i32::MIN), cells.next().unwrap_or(0))
        })
        .collect()
}

pub async fn predict(checker: &mut Checker, write: &Write, effective: Principal) -> Result<Prediction> {
    let rows = checker.model.users.entry(effective.name).or_default().clone();
    let changes = |rows: Vec<(i32, i32)>| Prediction::Changes { count: rows.len() as u64, rows };
    Ok(match write {
        Write::InsertNote { id, val } if rows.notes.contains_key(id) => {
            let _ = val;
            Prediction::Fails
        }
        Write::InsertNote { id, val } => changes(vec![(*id, *val)]),
        Write::CopyNotesToItems { offset, filter } => {
            match checker.run_oracle(&format!("SELECT id + {offset}, val FROM notes WHERE {filter}"), effective).await? {
                Outcome::Rows(found) => {
                    let copies = ids_and_values(&found);
                    if copies.iter().any(|(id, _)| rows.items.contains_key(id)) { Prediction::Fails } else { changes(copies) }
                }
                _ => Prediction::Fails,
            }
        }
        Write::BumpNotes { filter } | Write::DeleteNotes { filter } => {
            match checker.run_oracle(&format!("SELECT id, 0 FROM notes WHERE {filter}"), effective).await? {
                Outcome::Rows(found) => changes(ids_and_values(&found)),
                _ => Prediction::Fails,
            }
        }
        Write::BumpItem { id } | Write::DeleteItem { id } => changes(if rows.items.contains_key(id) { vec![(*id, 0)] } else { Vec::new() }),
        Write::TruncateEvents => Prediction::Changes { count: rows.events.len() as u64, rows: Vec::new() },
        Write::InsertEvent { n } => changes(vec![(*n, 0)]),
        Write::Scratch { table, write } => {
            let (name, _, _, writer) = SCRATCH[*table];
            let held = checker.model.scratch.get(name).copied().unwrap_or(0);
            match write {
                _ if effective.role < writer => Prediction::Denied,
                ScratchWrite::Insert(_) => Prediction::Changes { count: 1, rows: Vec::new() },
                ScratchWrite::Delete | ScratchWrite::Truncate => Prediction::Changes { count: held, rows: Vec::new() },
                ScratchWrite::ExplainInsert(_) | ScratchWrite::ExplainTruncate => Prediction::Explained,
            }
        }
    })
}

/// Checks the engine's answer to a write against the prediction and, when it succeeded,
/// applies the write to the ground truth.
pub fn apply(checker: &mut Checker, write: &Write, effective: Principal, prediction: &Prediction, engine: &Outcome) -> Option<String> {
    let (count, rows) = match prediction {
        Prediction::Fails => {
            return match engine {
                Outcome::Error { .. } => None,
                other => Some(format!("the write should have failed, but returned {}", other.text())),
            };
        }
        Prediction::Denied if engine.is_error("42501") => return None,
        Prediction::Denied => return Some(format!("the write must be refused (42501), but returned {}", engine.text())),
        Prediction::Explained => match engine {
            Outcome::Rows(_) => (0, &Vec::new()),
            other => return Some(format!("EXPLAIN ANALYZE of an allowed write failed: {}", other.text())),
        },
        Prediction::Changes { count, rows } => (*count, rows),
    };
    match engine {
        Outcome::Count(n) if *n == count => {}
        Outcome::Rows(_) if matches!(prediction, Prediction::Explained) => {}
        other => return Some(format!("the write should change {count} rows, but returned {}", other.text())),
    }
    let user = checker.model.users.entry(effective.name).or_default();
    match write {
        Write::InsertNote { id, val } => {
            user.notes.insert(*id, (*val, format!("{}{id}", marker(effective.name))));
        }
        Write::CopyNotesToItems { .. } => {
            for (id, qty) in rows {
                user.items.insert(*id, *qty);
            }
        }
        Write::BumpNotes { .. } => {
            for (id, _) in rows {
                if let Some((val, _)) = user.notes.get_mut(id) {
                    *val += 1;
                }
            }
        }
        Write::DeleteNotes { .. } => {
            for (id, _) in rows {
                user.notes.remove(id);
            }
        }
        Write::BumpItem { id } => {
            if let Some(qty) = user.items.get_mut(id) {
                *qty += 1;
            }
        }
        Write::DeleteItem { id } => {
            user.items.remove(id);
        }
        Write::TruncateEvents => user.events.clear(),
        Write::InsertEvent { n } => user.events.push(*n),
        Write::Scratch { table, write } => {
            let held = checker.model.scratch.entry(SCRATCH[*table].0).or_default();
            match write {
                ScratchWrite::Insert(_) | ScratchWrite::ExplainInsert(_) => *held += 1,
                ScratchWrite::Delete | ScratchWrite::Truncate | ScratchWrite::ExplainTruncate => *held = 0,
            }
            return None;
        }
    }
    checker.oracles.remove(effective.name);
    None
}

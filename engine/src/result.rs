//! What a statement returns to the embedding application.

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::logical_expr::WriteOp;

/// The outcome of one statement.
#[derive(Debug)]
pub enum QueryResult {
    /// Rows, with their column names and Arrow types.
    Rows { schema: SchemaRef, batches: Vec<RecordBatch> },
    /// The number of rows a statement changed (or moved, for FLUSH), and which kind of
    /// statement it was.
    Count { command: CountedCommand, rows: u64 },
    /// A DDL or session statement's command tag, e.g. `CREATE TABLE`.
    Message(String),
    /// `SUBSCRIBE TO`: the open subscription (its initial rows come first).
    Subscription(Box<crate::live::Subscription>),
}

/// What a [`QueryResult::Count`] counts: the statement that changed the rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountedCommand {
    Insert,
    Update,
    Delete,
    /// TRUNCATE TABLE: the rows it soft-deleted.
    Truncate,
    /// FLUSH: the rows it moved to cold storage.
    Flush,
}

impl CountedCommand {
    /// The command a planned write is.
    pub fn of_write(op: &WriteOp) -> CountedCommand {
        match op {
            WriteOp::Update => CountedCommand::Update,
            WriteOp::Delete => CountedCommand::Delete,
            WriteOp::Truncate => CountedCommand::Truncate,
            // INSERT and CREATE TABLE AS; DataFusion may add kinds of write, which insert.
            _ => CountedCommand::Insert,
        }
    }

    /// PostgreSQL's command tag for `rows` rows of this command (`INSERT 0 3`,
    /// `UPDATE 2`, `DELETE 1`, `TRUNCATE TABLE`, which carries no count there); the
    /// engine's own FLUSH says `FLUSH 3`.
    pub fn command_tag(self, rows: u64) -> String {
        match self {
            CountedCommand::Insert => format!("INSERT 0 {rows}"),
            CountedCommand::Update => format!("UPDATE {rows}"),
            CountedCommand::Delete => format!("DELETE {rows}"),
            CountedCommand::Truncate => "TRUNCATE TABLE".to_string(),
            CountedCommand::Flush => format!("FLUSH {rows}"),
        }
    }
}

impl QueryResult {
    /// The rows a data-changing statement counted (`None` for anything else).
    pub fn count(&self) -> Option<u64> {
        match self {
            QueryResult::Count { rows, .. } => Some(*rows),
            _ => None,
        }
    }

    /// The number of rows returned (0 for counts and messages).
    pub fn row_count(&self) -> usize {
        match self {
            QueryResult::Rows { batches, .. } => batches.iter().map(|b| b.num_rows()).sum(),
            _ => 0,
        }
    }
}

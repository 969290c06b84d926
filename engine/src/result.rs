//! What a statement returns to the embedding application.

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;

/// The outcome of one statement.
#[derive(Debug)]
pub enum QueryResult {
    /// Rows, with their column names and Arrow types.
    Rows { schema: SchemaRef, batches: Vec<RecordBatch> },
    /// The number of rows an INSERT, UPDATE, DELETE or TRUNCATE changed.
    Count(u64),
    /// A DDL or session statement's command tag, e.g. `CREATE TABLE`.
    Message(String),
    /// `SUBSCRIBE TO`: the open subscription (its initial rows come first).
    Subscription(Box<crate::live::Subscription>),
}

impl QueryResult {
    /// The number of rows returned (0 for counts and messages).
    pub fn row_count(&self) -> usize {
        match self {
            QueryResult::Rows { batches, .. } => batches.iter().map(|b| b.num_rows()).sum(),
            _ => 0,
        }
    }
}

//! What a statement returns to the embedding application: rows (collected, or streamed
//! batch by batch as a [`RowStream`]), a count of changed rows with the command that
//! changed them, a command tag, or a live subscription.

use std::pin::Pin;
use std::task::{Context, Poll};

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::logical_expr::WriteOp;
use futures::{Stream, StreamExt};

use crate::error::{EngineError, Result};
use crate::functions::StatementScope;

/// The outcome of one statement.
#[derive(Debug)]
pub enum QueryResult {
    /// Rows, with their column names and Arrow types.
    Rows { schema: SchemaRef, batches: Vec<RecordBatch> },
    /// Rows still to be read: the schema now, the batches as they are produced
    /// (`Session::run`; `Session::execute` collects them into [`QueryResult::Rows`]).
    Stream(RowStream),
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

    /// The number of rows returned (0 for counts and messages, and for a stream, whose
    /// rows are not read yet).
    pub fn row_count(&self) -> usize {
        match self {
            QueryResult::Rows { batches, .. } => batches.iter().map(|b| b.num_rows()).sum(),
            _ => 0,
        }
    }

    /// The result with a stream's rows read and collected (any other result as it is).
    pub async fn collected(self) -> Result<QueryResult> {
        match self {
            QueryResult::Stream(stream) => {
                let schema = stream.schema();
                let batches = stream.collect_batches().await?;
                Ok(QueryResult::Rows { schema, batches })
            }
            other => Ok(other),
        }
    }
}

/// A query's rows as they are produced: the schema is known before the first batch, and
/// only the batches in flight are in memory. Reading it runs the query; dropping it
/// stops the query. An error while reading ends the stream, and fails the transaction
/// block the query ran in (as a failed statement would).
pub struct RowStream {
    schema: SchemaRef,
    batches: SendableRecordBatchStream,
    scope: StatementScope,
    on_failure: Option<Box<dyn FnOnce() + Send>>,
    ended: bool,
}

impl std::fmt::Debug for RowStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RowStream").field("schema", &self.schema).field("ended", &self.ended).finish()
    }
}

impl RowStream {
    /// The rows of `batches`, produced in `scope` (the statement's effective user and
    /// instant).
    pub fn new(schema: SchemaRef, batches: SendableRecordBatchStream, scope: StatementScope) -> RowStream {
        RowStream { schema, batches, scope, on_failure: None, ended: false }
    }

    /// Calls `hook` once if reading the rows fails.
    pub fn on_failure(mut self, hook: impl FnOnce() + Send + 'static) -> RowStream {
        self.on_failure = Some(Box::new(hook));
        self
    }

    /// The rows' column names and Arrow types.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// Reads every remaining batch.
    pub async fn collect_batches(mut self) -> Result<Vec<RecordBatch>> {
        let mut batches = Vec::new();
        while let Some(batch) = self.next().await {
            batches.push(batch?);
        }
        Ok(batches)
    }
}

impl Stream for RowStream {
    type Item = Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.ended {
            return Poll::Ready(None);
        }
        let this = &mut *self;
        let polled = this.scope.enter(|| this.batches.poll_next_unpin(cx));
        match polled {
            Poll::Ready(Some(Err(error))) => {
                self.ended = true;
                if let Some(hook) = self.on_failure.take() {
                    hook();
                }
                Poll::Ready(Some(Err(EngineError::from(error))))
            }
            Poll::Ready(None) => {
                self.ended = true;
                Poll::Ready(None)
            }
            other => other.map(|item| item.map(|batch| batch.map_err(EngineError::from))),
        }
    }
}

//! What a subscriber receives.

use datafusion::arrow::record_batch::RecordBatch;

/// The kind of a [`LiveEvent`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// A row of the subscription's initial result (rows matching when it opened, the
    /// newest `last_rows`, or a row changed after `from_seq`).
    Initial,
    /// A row was inserted, or changed so that it now matches the predicate.
    Insert,
    /// A row that matched was changed and still matches: `row` is the new row, `old_row`
    /// the row before.
    Update,
    /// A row that matched was deleted, or changed so that it no longer matches: `row` is
    /// the row as it was before.
    Delete,
    /// The subscription ended because it fell behind; resume from `seq`.
    Error,
    /// The subscription ended (killed, table or user dropped, engine closed).
    End,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Initial => "initial",
            EventKind::Insert => "insert",
            EventKind::Update => "update",
            EventKind::Delete => "delete",
            EventKind::Error => "error",
            EventKind::End => "end",
        }
    }
}

/// One event of a subscription.
#[derive(Debug, Clone)]
pub struct LiveEvent {
    pub kind: EventKind,
    /// Row events: the `_seq` of the change (of the row, for initial rows). Error events:
    /// the last `_seq` delivered before the error, to resume from (`from_seq`).
    pub seq: Option<u64>,
    /// The row (one row, the table's user columns).
    pub row: Option<RecordBatch>,
    /// Update events: the row before the change.
    pub old_row: Option<RecordBatch>,
    /// Error and end events: why the subscription ended.
    pub message: Option<String>,
    /// Error events: the SQLSTATE of the error.
    pub sql_state: Option<&'static str>,
}

impl LiveEvent {
    pub fn row(kind: EventKind, seq: u64, row: RecordBatch, old_row: Option<RecordBatch>) -> Self {
        LiveEvent { kind, seq: Some(seq), row: Some(row), old_row, message: None, sql_state: None }
    }

    pub fn end(message: impl Into<String>) -> Self {
        LiveEvent { kind: EventKind::End, seq: None, row: None, old_row: None, message: Some(message.into()), sql_state: None }
    }

    pub fn error(sql_state: &'static str, resume_from: u64, message: impl Into<String>) -> Self {
        LiveEvent {
            kind: EventKind::Error,
            seq: Some(resume_from),
            row: None,
            old_row: None,
            message: Some(message.into()),
            sql_state: Some(sql_state),
        }
    }

    /// Whether this event ends the subscription.
    pub fn is_final(&self) -> bool {
        matches!(self.kind, EventKind::Error | EventKind::End)
    }
}

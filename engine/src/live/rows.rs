//! A subscription's events as rows, the one shape every consumer shows them in (the
//! server's SUBSCRIBE result set, the harness's `FETCH EVENTS`).
//!
//! Columns: `kind`, `_seq`, then the table's columns (nullable). An update is two rows:
//! `update` with the new row and `old` with the row before, both with the change's
//! `_seq`. A final event is one row whose kind carries its reason (`end: ...`, `error
//! SQLSTATE: ...`), with the `_seq` to resume from for an error, and NULL columns.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, Int64Array, StringArray, new_null_array};
use datafusion::arrow::compute::concat;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;

use crate::error::{EngineError, Result};
use crate::live::{EventKind, LiveEvent};

/// The columns of the event rows of a subscription to a table with columns `table`.
pub fn event_schema(table: &SchemaRef) -> SchemaRef {
    let mut fields = vec![Field::new("kind", DataType::Utf8, false), Field::new("_seq", DataType::Int64, true)];
    fields.extend(table.fields().iter().map(|f| f.as_ref().clone().with_nullable(true)));
    Arc::new(Schema::new(fields))
}

/// `events` as rows of [`event_schema`].
pub fn event_rows(table: &SchemaRef, events: &[LiveEvent]) -> Result<RecordBatch> {
    let mut kinds: Vec<String> = Vec::new();
    let mut seqs: Vec<Option<i64>> = Vec::new();
    let mut pieces: Vec<Vec<ArrayRef>> = vec![Vec::new(); table.fields().len()];
    let mut push = |kind: String, seq: Option<u64>, row: Option<&RecordBatch>| {
        kinds.push(kind);
        seqs.push(seq.map(|s| s as i64));
        for (index, field) in table.fields().iter().enumerate() {
            pieces[index].push(match row {
                Some(row) => row.column(index).clone(),
                None => new_null_array(field.data_type(), 1),
            });
        }
    };
    for event in events {
        match event.kind {
            EventKind::End => push(format!("end: {}", event.message.as_deref().unwrap_or("")), None, None),
            EventKind::Error => {
                push(format!("error {}: {}", event.sql_state.unwrap_or("?"), event.message.as_deref().unwrap_or("")), event.seq, None)
            }
            kind => {
                push(kind.as_str().to_string(), event.seq, event.row.as_ref());
                if let Some(old) = &event.old_row {
                    push("old".to_string(), event.seq, Some(old));
                }
            }
        }
    }
    let mut columns: Vec<ArrayRef> = vec![Arc::new(StringArray::from(kinds)), Arc::new(Int64Array::from(seqs))];
    for (index, field) in table.fields().iter().enumerate() {
        let parts: Vec<&dyn Array> = pieces[index].iter().map(|a| a.as_ref()).collect();
        columns.push(if parts.is_empty() {
            new_null_array(field.data_type(), 0)
        } else {
            concat(&parts).map_err(|e| EngineError::internal(format!("event rows: {e}")))?
        });
    }
    RecordBatch::try_new(event_schema(table), columns).map_err(|e| EngineError::internal(format!("event rows: {e}")))
}

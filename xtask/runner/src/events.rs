//! `FETCH EVENTS`: a subscription's events as query rows, so scenarios assert them in the
//! ordinary result format.
//!
//! Columns: `kind`, `_seq`, then the table's columns. An update is two rows: `update`
//! with the new row and `old` with the row before, both with the change's `_seq`. A
//! final event is one row whose kind carries its reason (`end: ...`, `error SQLSTATE:
//! ...`), with the `_seq` to resume from for an error, and NULL columns.

use std::sync::Arc;

use engine::exports::arrow::array::{ArrayRef, Int64Array, StringArray, new_null_array};
use engine::exports::arrow::compute::concat;
use engine::exports::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use engine::exports::arrow::record_batch::RecordBatch;
use engine::{EventKind, LiveEvent, QueryResult};

pub fn event_rows(table: &SchemaRef, events: &[LiveEvent]) -> Result<QueryResult, String> {
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
    let mut fields = vec![Field::new("kind", DataType::Utf8, false), Field::new("_seq", DataType::Int64, true)];
    fields.extend(table.fields().iter().map(|f| f.as_ref().clone().with_nullable(true)));
    let schema: SchemaRef = Arc::new(Schema::new(fields));
    let mut columns: Vec<ArrayRef> = vec![Arc::new(StringArray::from(kinds)), Arc::new(Int64Array::from(seqs))];
    for (index, field) in table.fields().iter().enumerate() {
        let parts: Vec<&dyn engine::exports::arrow::array::Array> = pieces[index].iter().map(|a| a.as_ref()).collect();
        columns.push(if parts.is_empty() { new_null_array(field.data_type(), 0) } else { concat(&parts).map_err(|e| e.to_string())? });
    }
    let batch = RecordBatch::try_new(schema.clone(), columns).map_err(|e| e.to_string())?;
    Ok(QueryResult::Rows { schema, batches: vec![batch] })
}

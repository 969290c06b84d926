//! `FETCH EVENTS`: a subscription's events as query rows (`engine::live::rows`: `kind`,
//! `_seq`, then the table's columns), so scenarios assert them in the ordinary result
//! format.

use engine::exports::arrow::datatypes::SchemaRef;
use engine::{LiveEvent, QueryResult};

pub fn event_rows(table: &SchemaRef, events: &[LiveEvent]) -> Result<QueryResult, String> {
    let batch = engine::live::rows::event_rows(table, events).map_err(|e| e.to_string())?;
    Ok(QueryResult::Rows { schema: batch.schema(), batches: vec![batch] })
}

//! A subscription's initial events, gathered batch by batch while its scope is read: only
//! the rows it will send are kept, and with `last_rows = N` only the newest N of them, so
//! memory follows what the subscription returns, not the size of the table.
//!
//! Which rows: the matching rows in `_seq` order (the newest `last_rows` of them); with
//! `from_seq`, every row changed after it: matching rows as initial rows, deleted and no
//! longer matching ones as deletes.

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, Int64Array, UInt32Array};
use datafusion::arrow::compute::{concat_batches, sort_to_indices, take_record_batch};
use datafusion::arrow::datatypes::{Int64Type, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::physical_expr::PhysicalExpr;

use crate::error::{EngineError, Result};
use crate::live::change::matches;
use crate::live::{EventKind, LiveEvent};
use crate::sql::parser::SubscribeRequest;
use crate::storage::cold::compact_views;

/// Rows kept past `last_rows` before the newest are picked out again (amortizes the sort).
const TRIM_SLACK_ROWS: usize = 4096;

/// The initial events of one subscription, as its read goes.
pub struct InitialRows<'a> {
    /// The user columns of the rows events carry.
    row_schema: SchemaRef,
    user_columns: usize,
    filter: Option<&'a Arc<dyn PhysicalExpr>>,
    from_seq: Option<u64>,
    last_rows: Option<usize>,
    /// Chosen rows so far: user columns, with their `_seq` and event kind.
    parts: Vec<Chosen>,
    held: usize,
}

struct Chosen {
    rows: RecordBatch,
    seqs: Vec<i64>,
    kinds: Vec<EventKind>,
}

impl<'a> InitialRows<'a> {
    /// For reads whose batches hold the user columns, then `_seq` (then `_deleted`).
    pub fn new(row_schema: SchemaRef, filter: Option<&'a Arc<dyn PhysicalExpr>>, request: &SubscribeRequest) -> Self {
        let user_columns = row_schema.fields().len();
        let last_rows = request.last_rows.map(|n| usize::try_from(n).unwrap_or(usize::MAX));
        InitialRows { row_schema, user_columns, filter, from_seq: request.from_seq, last_rows, parts: Vec::new(), held: 0 }
    }

    /// Takes the rows of one read batch that become events.
    pub fn add(&mut self, batch: &RecordBatch) -> Result<()> {
        let user_columns = self.user_columns;
        let rows = batch.project(&(0..user_columns).collect::<Vec<_>>()).map_err(internal)?;
        let seqs = batch.column(user_columns).as_primitive::<Int64Type>();
        let deleted = (batch.num_columns() > user_columns + 1).then(|| batch.column(user_columns + 1).as_boolean());
        let matched = matches(self.filter, &rows)?;
        let is_match = |i: usize| matched.as_ref().is_none_or(|m| m.is_valid(i) && m.value(i));
        let is_deleted = |i: usize| deleted.is_some_and(|d| d.value(i));
        let mut chosen = Chosen { rows: RecordBatch::new_empty(self.row_schema.clone()), seqs: Vec::new(), kinds: Vec::new() };
        let mut indices = Vec::new();
        for i in 0..rows.num_rows() {
            let live = is_match(i) && !is_deleted(i);
            let kind = match self.from_seq {
                Some(from) if seqs.value(i) as u64 <= from => None,
                Some(_) if !live => Some(EventKind::Delete),
                _ if live => Some(EventKind::Initial),
                _ => None,
            };
            if let Some(kind) = kind {
                indices.push(i as u32);
                chosen.seqs.push(seqs.value(i));
                chosen.kinds.push(kind);
            }
        }
        if indices.is_empty() {
            return Ok(());
        }
        chosen.rows = take_record_batch(&rows, &UInt32Array::from(indices)).map_err(internal)?;
        self.held += chosen.seqs.len();
        self.parts.push(chosen);
        if let Some(last) = self.last_rows
            && self.held > last.saturating_add(TRIM_SLACK_ROWS)
        {
            self.keep_newest(Some(last))?;
        }
        Ok(())
    }

    /// The events, in `_seq` order.
    pub fn finish(mut self) -> Result<Vec<LiveEvent>> {
        self.keep_newest(self.last_rows)?;
        let Some(Chosen { rows, seqs, kinds }) = self.parts.pop() else { return Ok(Vec::new()) };
        Ok(kinds
            .into_iter()
            .zip(seqs)
            .enumerate()
            .map(|(at, (kind, seq))| LiveEvent::row(kind, seq as u64, rows.slice(at, 1), None))
            .collect())
    }

    /// Joins the chosen rows into one part in `_seq` order, the newest `last` only.
    fn keep_newest(&mut self, last: Option<usize>) -> Result<()> {
        let parts = std::mem::take(&mut self.parts);
        let rows = concat_batches(&self.row_schema, parts.iter().map(|p| &p.rows)).map_err(internal)?;
        let seqs: Vec<i64> = parts.iter().flat_map(|p| p.seqs.iter().copied()).collect();
        let kinds: Vec<EventKind> = parts.into_iter().flat_map(|p| p.kinds).collect();
        let order = sort_to_indices(&Int64Array::from(seqs.clone()), None, None).map_err(internal)?;
        let skip = last.map_or(0, |last| order.len().saturating_sub(last));
        let order = order.slice(skip, order.len() - skip);
        // Compacted: the rows kept must not hold the buffers of every batch read.
        let rows = compact_views(&take_record_batch(&rows, &order).map_err(internal)?)?;
        let chosen = Chosen {
            rows,
            seqs: order.values().iter().map(|&i| seqs[i as usize]).collect(),
            kinds: order.values().iter().map(|&i| kinds[i as usize]).collect(),
        };
        self.held = chosen.seqs.len();
        self.parts = vec![chosen];
        Ok(())
    }
}

fn internal(error: datafusion::arrow::error::ArrowError) -> EngineError {
    EngineError::internal(format!("initial rows: {error}"))
}

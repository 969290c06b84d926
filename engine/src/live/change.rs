//! A committed change set as the feed carries it, and how one subscription's predicate
//! turns it into events.

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, BooleanArray, UInt32Array};
use datafusion::arrow::compute::{concat_batches, take_record_batch};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::physical_expr::PhysicalExpr;

use crate::error::{EngineError, Result};
use crate::live::event::{EventKind, LiveEvent};

/// One feed: a table's rows of one scope (`user`: `None` for SHARED rows).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FeedKey {
    pub table_id: u64,
    pub user: Option<u64>,
}

/// The rows one commit wrote to one feed, row `i` being the change with `_seq`
/// `seqs[i]`, in `_seq` order.
#[derive(Debug, Clone)]
pub struct ChangeBatch {
    pub feed: FeedKey,
    pub seqs: Vec<u64>,
    /// The row's values after the change (its user columns).
    pub new_rows: RecordBatch,
    /// The row's values before the change; where there was no live row before, any row
    /// of the right shape (the writer repeats the new one).
    pub old_rows: RecordBatch,
    /// Whether the row is live after the change (false for a delete).
    pub has_new: Vec<bool>,
    /// Whether a live row was there before the change (false for an insert).
    pub has_old: Vec<bool>,
}

impl ChangeBatch {
    pub fn len(&self) -> usize {
        self.seqs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seqs.is_empty()
    }

    /// Joins consecutive change batches of one feed and one row shape into one, so a
    /// predicate is evaluated once for all of them.
    pub fn concat(batches: &[Arc<ChangeBatch>]) -> Result<Arc<ChangeBatch>> {
        let first = batches.first().ok_or_else(|| EngineError::internal("no change batches to join"))?;
        if batches.len() == 1 {
            return Ok(first.clone());
        }
        let schema = first.new_rows.schema();
        let join = |pick: fn(&ChangeBatch) -> &RecordBatch| {
            concat_batches(&schema, batches.iter().map(|b| pick(b)))
                .map_err(|e| EngineError::internal(format!("joining change batches: {e}")))
        };
        Ok(Arc::new(ChangeBatch {
            feed: first.feed,
            seqs: batches.iter().flat_map(|b| b.seqs.iter().copied()).collect(),
            new_rows: join(|b| &b.new_rows)?,
            old_rows: join(|b| &b.old_rows)?,
            has_new: batches.iter().flat_map(|b| b.has_new.iter().copied()).collect(),
            has_old: batches.iter().flat_map(|b| b.has_old.iter().copied()).collect(),
        }))
    }

    /// The events of the changes after `_seq` `after`, for a subscription with `filter`
    /// (none: every row matches). A change that moves a row into the predicate is an
    /// insert, out of it a delete.
    pub fn events(&self, filter: Option<&Arc<dyn PhysicalExpr>>, after: u64, out: &mut Vec<LiveEvent>) -> Result<()> {
        if self.seqs.last().is_none_or(|last| *last <= after) {
            return Ok(());
        }
        let new_match = matches(filter, &self.new_rows)?;
        let old_match = matches(filter, &self.old_rows)?;
        let mut chosen: Vec<(EventKind, usize)> = Vec::new();
        for (i, &seq) in self.seqs.iter().enumerate() {
            if seq <= after {
                continue;
            }
            let was_in = self.has_old[i] && old_match.as_ref().is_none_or(|m| m.is_valid(i) && m.value(i));
            let is_in = self.has_new[i] && new_match.as_ref().is_none_or(|m| m.is_valid(i) && m.value(i));
            match (was_in, is_in) {
                (false, true) => chosen.push((EventKind::Insert, i)),
                (true, true) => chosen.push((EventKind::Update, i)),
                (true, false) => chosen.push((EventKind::Delete, i)),
                (false, false) => {}
            }
        }
        if chosen.is_empty() {
            return Ok(());
        }
        // Events hold rows of small batches of their own, not of the whole change batch
        // (which a selective subscriber would otherwise keep alive in its queue).
        let indices = UInt32Array::from_iter_values(chosen.iter().map(|(_, i)| *i as u32));
        let internal = |e: datafusion::arrow::error::ArrowError| EngineError::internal(format!("event rows: {e}"));
        let new_rows = take_record_batch(&self.new_rows, &indices).map_err(internal)?;
        let old_rows = take_record_batch(&self.old_rows, &indices).map_err(internal)?;
        for (at, (kind, i)) in chosen.into_iter().enumerate() {
            let seq = self.seqs[i];
            out.push(match kind {
                EventKind::Update => LiveEvent::row(kind, seq, new_rows.slice(at, 1), Some(old_rows.slice(at, 1))),
                EventKind::Delete => LiveEvent::row(kind, seq, old_rows.slice(at, 1), None),
                _ => LiveEvent::row(kind, seq, new_rows.slice(at, 1), None),
            });
        }
        Ok(())
    }
}

/// The predicate's value for every row of `rows` (`None`: no predicate).
pub fn matches(filter: Option<&Arc<dyn PhysicalExpr>>, rows: &RecordBatch) -> Result<Option<BooleanArray>> {
    let Some(filter) = filter else { return Ok(None) };
    let value = filter.evaluate(rows).and_then(|v| v.into_array(rows.num_rows())).map_err(EngineError::from_datafusion)?;
    let booleans = value.as_boolean_opt().ok_or_else(|| EngineError::internal("a subscription predicate did not evaluate to booleans"))?;
    Ok(Some(booleans.clone()))
}

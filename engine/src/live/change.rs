//! A committed change set as the feed carries it, and how one subscription's predicate
//! turns it into events.

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, BooleanArray};
use datafusion::arrow::compute::concat_batches;
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
    pub fn concat(batches: &[Arc<ChangeBatch>]) -> Result<ChangeBatch> {
        let first = batches.first().ok_or_else(|| EngineError::internal("no change batches to join"))?;
        if batches.len() == 1 {
            return Ok(first.as_ref().clone());
        }
        let schema = first.new_rows.schema();
        let join = |pick: fn(&ChangeBatch) -> &RecordBatch| {
            concat_batches(&schema, batches.iter().map(|b| pick(b)))
                .map_err(|e| EngineError::internal(format!("joining change batches: {e}")))
        };
        Ok(ChangeBatch {
            feed: first.feed,
            seqs: batches.iter().flat_map(|b| b.seqs.iter().copied()).collect(),
            new_rows: join(|b| &b.new_rows)?,
            old_rows: join(|b| &b.old_rows)?,
            has_new: batches.iter().flat_map(|b| b.has_new.iter().copied()).collect(),
            has_old: batches.iter().flat_map(|b| b.has_old.iter().copied()).collect(),
        })
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
        for (i, &seq) in self.seqs.iter().enumerate() {
            if seq <= after {
                continue;
            }
            let was_in = self.has_old[i] && old_match.as_ref().is_none_or(|m| m.is_valid(i) && m.value(i));
            let is_in = self.has_new[i] && new_match.as_ref().is_none_or(|m| m.is_valid(i) && m.value(i));
            let event = match (was_in, is_in) {
                (false, true) => LiveEvent::row(EventKind::Insert, seq, self.new_rows.slice(i, 1), None),
                (true, true) => {
                    LiveEvent::row(EventKind::Update, seq, self.new_rows.slice(i, 1), Some(self.old_rows.slice(i, 1)))
                }
                (true, false) => LiveEvent::row(EventKind::Delete, seq, self.old_rows.slice(i, 1), None),
                (false, false) => continue,
            };
            out.push(event);
        }
        Ok(())
    }
}

/// The predicate's value for every row of `rows` (`None`: no predicate).
pub fn matches(filter: Option<&Arc<dyn PhysicalExpr>>, rows: &RecordBatch) -> Result<Option<BooleanArray>> {
    let Some(filter) = filter else { return Ok(None) };
    let value = filter.evaluate(rows).and_then(|v| v.into_array(rows.num_rows())).map_err(EngineError::from_datafusion)?;
    let booleans = value
        .as_boolean_opt()
        .ok_or_else(|| EngineError::internal("a subscription predicate did not evaluate to booleans"))?;
    Ok(Some(booleans.clone()))
}

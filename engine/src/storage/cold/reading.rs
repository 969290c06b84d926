//! Reading segments: a read handed over batch by batch from the I/O runtime
//! ([`SegmentBatches`]), the row selection of a point read, and the decoded row groups
//! point reads keep ([`GroupCache`]).

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::record_batch::RecordBatch;
use futures::StreamExt;
use object_store::path::Path;
use parquet::arrow::arrow_reader::{RowSelection, RowSelector};

use crate::error::{EngineError, Result, SqlState};

/// The batches of one segment read, as the I/O runtime decodes them.
pub struct SegmentBatches {
    pub(super) rx: futures::channel::mpsc::Receiver<Result<Option<RecordBatch>>>,
    pub(super) ended: bool,
}

impl SegmentBatches {
    /// Every batch, waiting for them on this thread.
    pub fn collect_blocking(mut self) -> Result<Vec<RecordBatch>> {
        let mut batches = Vec::new();
        while let Some(batch) = self.next_blocking() {
            batches.push(batch?);
        }
        Ok(batches)
    }

    /// The next batch, waiting for it on this thread (any thread: it needs no runtime).
    pub fn next_blocking(&mut self) -> Option<Result<RecordBatch>> {
        if self.ended {
            return None;
        }
        match futures::executor::block_on(self.rx.next()) {
            Some(Ok(Some(batch))) => Some(Ok(batch)),
            Some(Ok(None)) => {
                self.ended = true;
                None
            }
            Some(Err(error)) => Some(Err(error)),
            None => {
                self.ended = true;
                Some(Err(EngineError::new(SqlState::IO_ERROR, "a segment read stopped before its end")))
            }
        }
    }
}

/// Decoded row groups within a byte budget; the oldest goes first.
#[derive(Default)]
pub(super) struct GroupCache {
    budget: usize,
    used: usize,
    groups: HashMap<(Path, usize), Arc<RecordBatch>>,
    order: std::collections::VecDeque<(Path, usize)>,
}

impl GroupCache {
    pub(super) fn with_budget(budget: usize) -> Self {
        GroupCache { budget, ..GroupCache::default() }
    }

    pub(super) fn get(&self, path: &Path, group: usize) -> Option<Arc<RecordBatch>> {
        self.groups.get(&(path.clone(), group)).cloned()
    }

    pub(super) fn insert(&mut self, path: Path, group: usize, batch: Arc<RecordBatch>) {
        let size = batch.get_array_memory_size();
        if size > self.budget || self.groups.contains_key(&(path.clone(), group)) {
            return;
        }
        while self.used + size > self.budget {
            let Some(oldest) = self.order.pop_front() else { break };
            if let Some(gone) = self.groups.remove(&oldest) {
                self.used -= gone.get_array_memory_size();
            }
        }
        self.used += size;
        self.order.push_back((path.clone(), group));
        self.groups.insert((path, group), batch);
    }

    pub(super) fn forget(&mut self, prefix: &Path) {
        let gone: Vec<(Path, usize)> = self.groups.keys().filter(|(path, _)| path.prefix_matches(prefix)).cloned().collect();
        for key in gone {
            if let Some(batch) = self.groups.remove(&key) {
                self.used -= batch.get_array_memory_size();
            }
        }
        self.order.retain(|key| self.groups.contains_key(key));
    }
}

/// Selects the row numbers `rows` (ascending) out of `total`.
pub(super) fn row_selection(rows: &[usize], total: usize) -> RowSelection {
    let mut selectors = Vec::with_capacity(rows.len() * 2 + 1);
    let mut at = 0;
    for &row in rows {
        if row > at {
            selectors.push(RowSelector::skip(row - at));
        }
        selectors.push(RowSelector::select(1));
        at = row + 1;
    }
    if total > at {
        selectors.push(RowSelector::skip(total - at));
    }
    RowSelection::from(selectors)
}


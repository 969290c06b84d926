//! Reading segments: a read handed over batch by batch from the I/O runtime
//! ([`SegmentBatches`]), the row selection of a point read, and the byte-bounded cache
//! of what point reads keep: decoded row groups and segment key indexes ([`BoundedCache`]).

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

/// Values read from segments (decoded row groups, key indexes), by file and part, within
/// a byte budget; the oldest goes first.
pub(super) struct BoundedCache<V> {
    budget: usize,
    used: usize,
    values: HashMap<(Path, usize), (Arc<V>, usize)>,
    order: std::collections::VecDeque<(Path, usize)>,
}

impl<V> BoundedCache<V> {
    pub(super) fn with_budget(budget: usize) -> Self {
        BoundedCache { budget, used: 0, values: HashMap::new(), order: std::collections::VecDeque::new() }
    }

    pub(super) fn budget(&self) -> usize {
        self.budget
    }

    pub(super) fn get(&self, path: &Path, part: usize) -> Option<Arc<V>> {
        self.values.get(&(path.clone(), part)).map(|(value, _)| value.clone())
    }

    /// Keeps `value` (taking `size` bytes), making room by dropping the oldest. A value
    /// over the budget on its own is not kept: the cache never holds more than its
    /// budget, whatever the size of one segment (size `cold_cache_bytes` for the largest
    /// key index point reads should find in memory).
    pub(super) fn insert(&mut self, path: Path, part: usize, value: Arc<V>, size: usize) {
        if size > self.budget || self.values.contains_key(&(path.clone(), part)) {
            return;
        }
        while self.used + size > self.budget && !self.order.is_empty() {
            let Some(oldest) = self.order.pop_front() else { break };
            if let Some((_, gone)) = self.values.remove(&oldest) {
                self.used -= gone;
            }
        }
        self.used += size;
        self.order.push_back((path.clone(), part));
        self.values.insert((path, part), (value, size));
    }

    /// Drops every value of the files under `prefix`.
    pub(super) fn forget(&mut self, prefix: &Path) {
        let gone: Vec<(Path, usize)> = self.values.keys().filter(|(path, _)| path.prefix_matches(prefix)).cloned().collect();
        for key in gone {
            if let Some((_, size)) = self.values.remove(&key) {
                self.used -= size;
            }
        }
        self.order.retain(|key| self.values.contains_key(key));
    }
}

/// `batch` with its view columns (`Utf8View`, `BinaryView`) holding only the bytes their
/// rows use: a few rows taken out of a large batch otherwise keep every buffer of it alive.
pub fn compact_views(batch: &RecordBatch) -> Result<RecordBatch> {
    use datafusion::arrow::array::AsArray;
    use datafusion::arrow::datatypes::DataType;
    let columns = batch
        .columns()
        .iter()
        .map(|column| match column.data_type() {
            DataType::Utf8View => Arc::new(column.as_string_view().gc()) as _,
            DataType::BinaryView => Arc::new(column.as_binary_view().gc()) as _,
            _ => column.clone(),
        })
        .collect();
    RecordBatch::try_new(batch.schema(), columns).map_err(|e| EngineError::internal(format!("compacting view columns: {e}")))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_stays_within_its_budget_oldest_first() {
        let mut cache: BoundedCache<&str> = BoundedCache::with_budget(10);
        let (a, b) = (Path::from("t/a.parquet"), Path::from("t/b.parquet"));
        cache.insert(a.clone(), 0, Arc::new("a0"), 4);
        cache.insert(a.clone(), 1, Arc::new("a1"), 4);
        cache.insert(b.clone(), 0, Arc::new("b0"), 4);
        assert!(cache.get(&a, 0).is_none(), "the oldest made room");
        assert_eq!(cache.get(&a, 1).as_deref(), Some(&"a1"));
        assert_eq!(cache.get(&b, 0).as_deref(), Some(&"b0"));
        cache.forget(&Path::from("t/a.parquet"));
        assert!(cache.get(&a, 1).is_none());
        assert_eq!(cache.used, 4);
        cache.insert(a.clone(), 2, Arc::new("a2"), 6);
        assert_eq!((cache.get(&b, 0).as_deref(), cache.get(&a, 2).as_deref()), (Some(&"b0"), Some(&"a2")));
        // Over the budget on its own: not kept, and nothing else is dropped for it.
        cache.insert(b.clone(), 1, Arc::new("huge"), 11);
        assert!(cache.get(&b, 1).is_none());
        assert_eq!((cache.get(&b, 0).as_deref(), cache.get(&a, 2).as_deref()), (Some(&"b0"), Some(&"a2")));
        assert_eq!(cache.used, 10);
    }
}

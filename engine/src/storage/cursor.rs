//! Pulling rows out of hot storage one at a time: what a merge of hot rows with cold
//! segments needs (the callback scans of [`Store`] push rows instead).

use rocksdb::{DB, DBRawIteratorWithThreadMode, SnapshotWithThreadMode};

use crate::error::Result;
use crate::storage::store::{Store, bounded};

/// Key ranges `[lower, upper)` (no upper bound: to the end of the keyspace).
pub type KeyRanges = [(Vec<u8>, Option<Vec<u8>>)];

/// The rows of several key ranges of one snapshot, in range order, pulled one by one.
pub struct RangeCursor<'s> {
    snapshot: &'s SnapshotWithThreadMode<'s, DB>,
    ranges: &'s KeyRanges,
    next_range: usize,
    iter: Option<DBRawIteratorWithThreadMode<'s, DB>>,
    /// The iterator sits on a row not handed out yet.
    fresh: bool,
}

impl<'s> RangeCursor<'s> {
    /// Whether a row is left, without taking it.
    pub fn has_rows(&mut self) -> Result<bool> {
        if self.next_row()?.is_none() {
            return Ok(false);
        }
        // The row stays for the next `next_row`.
        self.fresh = true;
        Ok(true)
    }

    /// The next row (whole key, value), or `None` after the last range.
    pub fn next_row(&mut self) -> Result<Option<(&[u8], &[u8])>> {
        loop {
            if let Some(iter) = &mut self.iter {
                if !self.fresh {
                    iter.next();
                }
                self.fresh = false;
                if iter.valid() {
                    break;
                }
                iter.status()?;
                self.iter = None;
            }
            let Some((lower, upper)) = self.ranges.get(self.next_range) else { return Ok(None) };
            self.next_range += 1;
            let mut iter = self.snapshot.raw_iterator_opt(bounded(lower, upper.as_deref()));
            iter.seek(lower);
            self.iter = Some(iter);
            self.fresh = true;
        }
        let iter = self.iter.as_ref().expect("positioned above");
        Ok(iter.key().zip(iter.value()))
    }
}

impl Store {
    /// Takes a snapshot, asks `taken` whether to go on (`false`: the caller's view moved
    /// between deciding what to read and the snapshot; returns `None`), then hands a
    /// cursor over `ranges` of that snapshot to `read`.
    pub fn with_cursor<T>(
        &self,
        ranges: &KeyRanges,
        taken: impl FnOnce() -> bool,
        read: impl FnOnce(&mut RangeCursor<'_>) -> Result<T>,
    ) -> Result<Option<T>> {
        let snapshot = self.db().snapshot();
        if !taken() {
            return Ok(None);
        }
        let mut cursor = RangeCursor { snapshot: &snapshot, ranges, next_range: 0, iter: None, fresh: false };
        read(&mut cursor).map(Some)
    }
}

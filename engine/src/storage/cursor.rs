//! Pulling rows out of hot storage one at a time: what a merge of hot rows with cold
//! segments needs (the callback scans of [`Store`] push rows instead). A transaction's
//! pending rows are merged in as [`Store::scan_ranges_then`] merges them.

use std::iter::Peekable;

use rocksdb::{DB, DBRawIteratorWithThreadMode};

use crate::error::Result;
use crate::storage::read_point::ReadPoint;
use crate::storage::snapshot::DbSnapshot;
use crate::storage::store::{Store, bounded, pending_in};

/// Key ranges `[lower, upper)` (no upper bound: to the end of the keyspace).
pub type KeyRanges = [(Vec<u8>, Option<Vec<u8>>)];

type PendingRows<'s> = Peekable<Box<dyn Iterator<Item = (&'s [u8], Option<&'s [u8]>)> + 's>>;

/// Where the row handed out last came from.
enum Last<'s> {
    /// The iterator sits on it.
    Stored,
    /// A pending row (already taken from the pending rows).
    Pending(&'s [u8], &'s [u8]),
}

/// The rows of several key ranges of one snapshot, in range order, pulled one by one.
pub struct RangeCursor<'s> {
    snapshot: &'s DbSnapshot<'s>,
    at: &'s ReadPoint,
    ranges: &'s KeyRanges,
    next_range: usize,
    iter: Option<(DBRawIteratorWithThreadMode<'s, DB>, PendingRows<'s>)>,
    last: Option<Last<'s>>,
    /// The row handed out last is to be handed out again (`has_rows` peeked at it).
    again: bool,
}

/// What cursors of one snapshot share: more cursors over other ranges of the same
/// snapshot, one per thread of a read cut into key parts.
#[derive(Clone, Copy)]
pub struct CursorSource<'s> {
    snapshot: &'s DbSnapshot<'s>,
    at: &'s ReadPoint,
}

impl<'s> CursorSource<'s> {
    /// A cursor over `ranges` of the snapshot.
    pub fn cursor<'p>(self, ranges: &'p KeyRanges) -> RangeCursor<'p>
    where
        's: 'p,
    {
        RangeCursor { snapshot: self.snapshot, at: self.at, ranges, next_range: 0, iter: None, last: None, again: false }
    }
}

impl<'s> RangeCursor<'s> {
    /// The snapshot this cursor reads, to open more cursors on.
    pub fn source(&self) -> CursorSource<'s> {
        CursorSource { snapshot: self.snapshot, at: self.at }
    }

    /// Whether a row is left, without taking it.
    pub fn has_rows(&mut self) -> Result<bool> {
        if self.next_row()?.is_none() {
            return Ok(false);
        }
        self.again = true;
        Ok(true)
    }

    /// The next row (whole key, value), or `None` after the last range.
    pub fn next_row(&mut self) -> Result<Option<(&[u8], &[u8])>> {
        if std::mem::take(&mut self.again) {
            return Ok(self.last_row());
        }
        if let (Some(Last::Stored), Some((iter, _))) = (&self.last, &mut self.iter) {
            iter.next();
        }
        self.last = None;
        loop {
            let Some((iter, pending)) = &mut self.iter else {
                let Some((lower, upper)) = self.ranges.get(self.next_range) else { return Ok(None) };
                self.next_range += 1;
                let mut iter = self.snapshot.raw_iterator_opt(bounded(lower, upper.as_deref()));
                iter.seek(lower);
                let pending: Box<dyn Iterator<Item = _> + 's> = Box::new(pending_in(self.at, lower, upper.as_deref()));
                self.iter = Some((iter, pending.peekable()));
                continue;
            };
            let pending_first = match (iter.key(), pending.peek()) {
                (None, None) => {
                    iter.status()?;
                    self.iter = None;
                    continue;
                }
                (Some(key), Some((pending_key, _))) => (*pending_key <= key).then_some(*pending_key == key),
                (None, Some(_)) => Some(false),
                (Some(_), None) => None,
            };
            match pending_first {
                None => {
                    self.last = Some(Last::Stored);
                    return Ok(self.last_row());
                }
                Some(replaces_stored) => {
                    let (key, value) = pending.next().expect("peeked");
                    if replaces_stored {
                        iter.next();
                    }
                    if let Some(value) = value {
                        self.last = Some(Last::Pending(key, value));
                        return Ok(self.last_row());
                    }
                }
            }
        }
    }

    fn last_row(&self) -> Option<(&[u8], &[u8])> {
        match (&self.last, &self.iter) {
            (Some(Last::Stored), Some((iter, _))) => iter.key().zip(iter.value()),
            (Some(Last::Pending(key, value)), _) => Some((key, value)),
            _ => None,
        }
    }
}

impl Store {
    /// Takes a snapshot (or uses `at`'s), asks `taken` whether to go on (`false`: the
    /// caller's view moved between deciding what to read and the snapshot; returns
    /// `None`), then hands a cursor over `ranges` of that snapshot to `read`.
    pub fn with_cursor<T>(
        &self,
        at: &ReadPoint,
        ranges: &KeyRanges,
        taken: impl FnOnce() -> bool,
        read: impl FnOnce(&mut RangeCursor<'_>) -> Result<T>,
    ) -> Result<Option<T>> {
        let fresh;
        let snapshot = match at.snapshot() {
            Some(held) => held.snapshot(),
            None => {
                fresh = self.db().snapshot();
                &fresh
            }
        };
        if !taken() {
            return Ok(None);
        }
        let mut cursor = CursorSource { snapshot, at }.cursor(ranges);
        read(&mut cursor).map(Some)
    }
}

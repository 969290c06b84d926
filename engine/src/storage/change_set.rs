//! What one statement changes, handed to the commit section as a unit ([`ChangeSet`]),
//! and what the commit reports back ([`Committed`]).

use crate::error::{EngineError, Result};
use crate::storage::keys;
use crate::storage::store::Counter;

pub(super) enum Change {
    Put(Vec<u8>, Vec<u8>),
    Delete(Vec<u8>),
    DeleteRange(Vec<u8>, Vec<u8>),
}

/// A statement's changes as a transaction keeps them ([`ChangeSet::into_pending_parts`]).
pub struct PendingParts {
    /// Rows written (whole key, value with `_seq` unassigned).
    pub rows: Vec<(Vec<u8>, Vec<u8>)>,
    /// Keys removed outright.
    pub removed: Vec<Vec<u8>>,
    pub uses_row_ids: bool,
}

/// The changes of one statement, committed atomically by [`Store::commit`].
#[derive(Default)]
pub struct ChangeSet {
    /// Encoded rows; the commit writes the next `_seq` into each header, in this order.
    pub(super) rows: Vec<(Vec<u8>, Vec<u8>)>,
    pub(super) changes: Vec<Change>,
    pub(super) counters: Vec<(Counter, u64)>,
    pub(super) uses_row_ids: bool,
    /// Whether the commit hands the written rows back ([`Committed::rows`]), each with
    /// the row it replaced, for the change feed.
    pub(super) keep_rows: bool,
    pub(super) previous: Vec<Option<Vec<u8>>>,
    /// A scope (by key prefix) and how many rows it holds once this set is committed
    /// (`None` count: forget what was known).
    pub(super) row_counts: Vec<(Vec<u8>, Option<u64>)>,
    /// A STREAM scope (by key prefix) and the arrival time of its newest row once this
    /// set is committed.
    pub(super) last_arrivals: Vec<(Vec<u8>, i64)>,
    /// The scopes (by key prefix) whose rows this set changes, as a reader sees them: the
    /// commit stamps each with its last `_seq` ([`crate::storage::Store::scope_changed_since`]).
    pub(super) scopes: Vec<Vec<u8>>,
}

impl ChangeSet {
    /// A change set whose commit hands its rows back, with the rows they replaced
    /// ([`ChangeSet::put_row_over`]), for live subscriptions.
    pub fn keeping_rows() -> Self {
        ChangeSet { keep_rows: true, ..ChangeSet::default() }
    }

    /// Writes a row; its `_seq` is assigned at commit (rows get increasing values in the
    /// order they are added).
    pub fn put_row(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.put_row_over(key, value, None);
    }

    /// Writes a row that replaces `previous` (the stored value it overwrites), which a
    /// change set [keeping rows](ChangeSet::keeping_rows) hands back after the commit.
    pub fn put_row_over(&mut self, key: Vec<u8>, value: Vec<u8>, previous: Option<Vec<u8>>) {
        self.rows.push((key, value));
        if self.keep_rows {
            self.previous.push(previous);
        }
    }

    /// Notes that this set changes rows of the scope under `prefix` (writes do; moving
    /// rows between tiers and removing expired ones do not).
    pub fn changes_scope(&mut self, prefix: Vec<u8>) {
        if !self.scopes.contains(&prefix) {
            self.scopes.push(prefix);
        }
    }

    /// The set as a transaction keeps it until COMMIT: rows written (with `_seq` still
    /// unassigned), keys removed outright, and whether row ids were handed out. Range
    /// deletions and the STREAM bookkeeping have no pending form yet.
    pub fn into_pending_parts(self) -> Result<PendingParts> {
        if !self.counters.is_empty() || !self.row_counts.is_empty() || !self.last_arrivals.is_empty() {
            return Err(EngineError::not_supported("this change cannot be made inside a transaction block yet"));
        }
        let mut removed = Vec::new();
        let mut rows = Vec::new();
        for change in self.changes {
            match change {
                Change::Delete(key) => removed.push(key),
                Change::Put(..) => return Err(EngineError::not_supported("this change cannot be made inside a transaction block yet")),
                Change::DeleteRange(..) => {
                    return Err(EngineError::not_supported("removing a range of rows inside a transaction block is not supported yet"));
                }
            }
        }
        rows.extend(self.rows);
        Ok(PendingParts { rows, removed, uses_row_ids: self.uses_row_ids })
    }

    /// Whether the commit will hand the rows back.
    pub fn keeps_rows(&self) -> bool {
        self.keep_rows
    }

    /// Records how many rows the scope under `prefix` holds after this commit (for
    /// [`crate::storage::Store::cached_row_count`]). Only a writer holding the scope's
    /// write lock may say so.
    pub fn set_row_count_after(&mut self, prefix: Vec<u8>, rows: u64) {
        self.row_counts.push((prefix, Some(rows)));
    }

    /// Records the arrival time of the newest row of the STREAM scope under `prefix`
    /// after this commit (for [`crate::storage::Store::cached_last_arrival`]).
    pub fn set_last_arrival_after(&mut self, prefix: Vec<u8>, millis: i64) {
        self.last_arrivals.push((prefix, millis));
    }

    /// Makes the store forget the row count of the scope under `prefix` at this commit.
    pub fn forget_row_count(&mut self, prefix: Vec<u8>) {
        self.row_counts.push((prefix, None));
    }

    /// Deletes every key in `[from, to)`.
    pub fn delete_range(&mut self, from: Vec<u8>, to: Vec<u8>) {
        self.changes.push(Change::DeleteRange(from, to));
    }

    pub fn put(&mut self, key: &[u8], value: &[u8]) {
        self.changes.push(Change::Put(key.to_vec(), value.to_vec()));
    }

    pub fn delete(&mut self, key: &[u8]) {
        self.changes.push(Change::Delete(key.to_vec()));
    }

    /// Deletes every key that starts with `prefix`.
    pub fn delete_prefix(&mut self, prefix: &[u8]) {
        let upper = keys::prefix_upper_bound(prefix).unwrap_or_else(|| vec![0xFF; 64]);
        self.changes.push(Change::DeleteRange(prefix.to_vec(), upper));
    }

    /// Records a new value of a counter (catalog counters, written with the change).
    pub fn set_counter(&mut self, counter: Counter, value: u64) {
        self.counters.push((counter, value));
    }

    /// Notes that rows of this change set use ids from [`Store::allocate_row_ids`], so the
    /// commit persists the row-id counter with them.
    pub fn uses_row_ids(&mut self) {
        self.uses_row_ids = true;
    }

    /// Adds every change of `other` after this set's.
    pub fn append(&mut self, other: ChangeSet) {
        if self.keep_rows {
            if other.keep_rows {
                self.previous.extend(other.previous);
            } else {
                self.previous.extend(std::iter::repeat_n(None, other.rows.len()));
            }
        }
        self.rows.extend(other.rows);
        self.changes.extend(other.changes);
        self.counters.extend(other.counters);
        self.uses_row_ids |= other.uses_row_ids;
        self.row_counts.extend(other.row_counts);
        self.last_arrivals.extend(other.last_arrivals);
    }

    /// How many rows (each taking a `_seq`) the set writes.
    pub fn row_count(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty() && self.changes.is_empty() && self.counters.is_empty()
    }
}

/// The `_seq` values one commit assigned: `first..=last` (empty when it wrote no row).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Committed {
    pub first_seq: u64,
    pub last_seq: u64,
    /// For a change set [keeping rows](ChangeSet::keeping_rows): each row as written
    /// (its `_seq` set, in `_seq` order) with the value it replaced.
    pub rows: Vec<CommittedRow>,
}

/// A row as one commit wrote it, for the change feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedRow {
    pub key: Vec<u8>,
    /// The stored value, its `_seq` set.
    pub value: Vec<u8>,
    /// The value it replaced, if the writer gave one.
    pub previous: Option<Vec<u8>>,
}

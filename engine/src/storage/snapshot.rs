//! A point in hot storage's history that outlives one call ([`HotSnapshot`]): a
//! transaction reads every statement of its block from one. RocksDB lends snapshots out of
//! its handle; `self_cell` keeps the snapshot beside the `Arc<Store>` it borrows from, so
//! the pair lives as long as the transaction does, with no `unsafe` in the engine.

use std::sync::Arc;

use rocksdb::{DB, SnapshotWithThreadMode};
use self_cell::self_cell;

use crate::error::{EngineError, Result, SqlState};
use crate::storage::keys;
use crate::storage::store::{Counter, Store};

pub(super) type DbSnapshot<'a> = SnapshotWithThreadMode<'a, DB>;

self_cell!(
    struct SnapshotCell {
        owner: Arc<Store>,
        #[covariant]
        dependent: DbSnapshot,
    }
);

/// A RocksDB snapshot held across calls, with the last `_seq` committed when it was taken.
pub struct HotSnapshot {
    cell: SnapshotCell,
    seq: u64,
}

impl std::fmt::Debug for HotSnapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HotSnapshot").field("seq", &self.seq).finish()
    }
}

impl HotSnapshot {
    /// Takes a snapshot of `store` now. Its `_seq` is read through the snapshot itself (the
    /// counter is written in the same batch as the rows), so every row it holds has a
    /// `_seq` at most [`HotSnapshot::seq`] and every commit after it a larger one.
    pub fn take(store: &Arc<Store>) -> Result<HotSnapshot> {
        let cell = SnapshotCell::new(store.clone(), |store| store.db().snapshot());
        let stored = cell.borrow_dependent().get(keys::meta_key(Counter::Seq.name()))?;
        let seq = match stored.as_deref().map(<[u8; 8]>::try_from) {
            Some(Ok(bytes)) => u64::from_be_bytes(bytes),
            None => 0,
            Some(Err(_)) => return Err(EngineError::new(SqlState::DATA_CORRUPTED, "the _seq counter is not eight bytes")),
        };
        Ok(HotSnapshot { cell, seq })
    }

    /// The last `_seq` committed when the snapshot was taken.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Whether the snapshot belongs to `store`.
    pub(super) fn is_of(&self, store: &Store) -> bool {
        std::ptr::eq(Arc::as_ptr(self.cell.borrow_owner()), store)
    }

    pub(super) fn snapshot(&self) -> &DbSnapshot<'_> {
        self.cell.borrow_dependent()
    }
}

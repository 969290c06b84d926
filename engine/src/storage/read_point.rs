//! Where a read reads from ([`ReadPoint`]): the present, or a transaction's view.
//!
//! In the present, each read takes a fresh hot snapshot and the cold store's current
//! segment lists (and checks that no flush published in between). A transaction instead
//! captures once, at its first statement, one hot snapshot together with the segment lists
//! of every scope ([`TxnView`]): holding them pins the files they name, so no flush, purge
//! or compaction changes what the transaction reads. Its pending writes
//! ([`PendingWrites`]) lie on top of every hot read. Under SERIALIZABLE the reads are also
//! noted ([`ReadLog`]) so that COMMIT can check nothing they saw has changed since.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use crate::error::Result;
use crate::storage::cold::{ColdScope, ColdStore};
use crate::storage::keys::{RowScope, TableId};
use crate::storage::pending::PendingWrites;
use crate::storage::snapshot::HotSnapshot;
use crate::storage::store::Store;

/// One hot snapshot and the segment lists that belong with it.
#[derive(Debug)]
pub struct TxnView {
    hot: HotSnapshot,
    cold: HashMap<(TableId, RowScope), Arc<ColdScope>>,
}

impl TxnView {
    /// Captures hot and cold state as of one instant: segment lists, then the snapshot,
    /// again if a flush published in between (a flush publishes before it deletes the
    /// hot rows it moved, so a list taken before the snapshot, unchanged after it, holds
    /// nothing the snapshot lacks and lacks nothing it moved).
    pub fn capture(store: &Arc<Store>, cold: &ColdStore) -> Result<TxnView> {
        loop {
            let generation = cold.generation();
            let scopes = cold.scopes_with_segments();
            let hot = HotSnapshot::take(store)?;
            if cold.generation() == generation {
                return Ok(TxnView { hot, cold: scopes });
            }
        }
    }

    /// The last `_seq` the view holds: every later commit is invisible to it.
    pub fn seq(&self) -> u64 {
        self.hot.seq()
    }
}

/// What a transaction read, for the commit's check under SERIALIZABLE: scopes it scanned
/// (by key prefix) and single keys it looked up (whole keys, by table and scope).
#[derive(Debug, Default)]
pub struct ReadLog {
    pub scopes: HashSet<Vec<u8>>,
    pub keys: HashMap<(TableId, RowScope), HashSet<Vec<u8>>>,
}

/// Where one read reads from. `ReadPoint::default()` is the present.
#[derive(Debug, Clone, Default)]
pub struct ReadPoint {
    txn: Option<TxnRead>,
}

#[derive(Debug, Clone)]
struct TxnRead {
    view: Arc<TxnView>,
    pending: Arc<PendingWrites>,
    log: Option<Arc<Mutex<ReadLog>>>,
}

impl ReadPoint {
    /// The present.
    pub fn now() -> ReadPoint {
        ReadPoint::default()
    }

    /// A transaction's view with its pending writes on top; reads are noted in `log`
    /// when it is given.
    pub fn in_transaction(view: Arc<TxnView>, pending: Arc<PendingWrites>, log: Option<Arc<Mutex<ReadLog>>>) -> ReadPoint {
        ReadPoint { txn: Some(TxnRead { view, pending, log }) }
    }

    /// Whether this is the present (no transaction's view).
    pub fn is_now(&self) -> bool {
        self.txn.is_none()
    }

    /// The segments of a scope as this point sees them (`None`: hot rows only).
    pub fn cold_scope(&self, cold: &ColdStore, table_id: TableId, scope: &RowScope) -> Option<Arc<ColdScope>> {
        match &self.txn {
            Some(txn) => txn.view.cold.get(&(table_id, scope.clone())).cloned(),
            None => cold.scope(table_id, scope),
        }
    }

    /// Whether the transaction wrote any row under `prefix` (reads of such a range need
    /// the pending rows merged in).
    pub fn has_pending_under(&self, prefix: &[u8]) -> bool {
        self.txn.as_ref().is_some_and(|txn| txn.pending.touches(prefix))
    }

    /// Notes a scan of the scope under `prefix` (SERIALIZABLE only).
    pub fn note_scan(&self, prefix: &[u8]) {
        if let Some(log) = self.txn.as_ref().and_then(|txn| txn.log.as_ref()) {
            log.lock().unwrap_or_else(|p| p.into_inner()).scopes.insert(prefix.to_vec());
        }
    }

    /// Notes lookups of single keys of one scope (SERIALIZABLE only).
    pub fn note_keys<K: AsRef<[u8]>>(&self, table_id: TableId, scope: &RowScope, keys: &[K]) {
        if let Some(log) = self.txn.as_ref().and_then(|txn| txn.log.as_ref()) {
            let mut log = log.lock().unwrap_or_else(|p| p.into_inner());
            log.keys.entry((table_id, scope.clone())).or_default().extend(keys.iter().map(|k| k.as_ref().to_vec()));
        }
    }

    pub(super) fn snapshot(&self) -> Option<&HotSnapshot> {
        self.txn.as_ref().map(|txn| &txn.view.hot)
    }

    pub(super) fn pending(&self) -> Option<&PendingWrites> {
        self.txn.as_ref().map(|txn| txn.pending.as_ref()).filter(|p| !p.is_empty())
    }
}

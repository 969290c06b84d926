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

/// What a statement or transaction read, for its commit's check under SERIALIZABLE:
/// scopes it scanned (by key prefix) and single keys it looked up (whole keys, by table
/// and scope), each with the last `_seq` its read may have seen at most.
#[derive(Debug, Default)]
pub struct ReadLog {
    pub scopes: HashMap<Vec<u8>, u64>,
    pub keys: HashMap<(TableId, RowScope), KeysRead>,
}

/// Keys looked up in one scope: the last `_seq` the lookups may have seen, and the keys.
pub type KeysRead = (u64, HashSet<Vec<u8>>);

impl ReadLog {
    /// What changed since it was read, if anything: a commit into a scanned scope or a new
    /// version of a looked-up key (scope `except`, read under its write lock, is left out).
    pub fn changed(&self, store: &Store, cold: &ColdStore, except: Option<&[u8]>) -> Result<bool> {
        let skipped = |prefix: &[u8]| except.is_some_and(|except| except == prefix);
        if self.scopes.iter().any(|(prefix, &seq)| !skipped(prefix) && store.scope_changed_since(prefix, seq)) {
            return Ok(true);
        }
        for ((table_id, scope), (seq, keys)) in &self.keys {
            if skipped(&crate::storage::keys::scope_row_prefix(*table_id, scope)) {
                continue;
            }
            let keys: Vec<Vec<u8>> = keys.iter().cloned().collect();
            if crate::storage::tiers::changed_since(store, cold, *table_id, scope, &keys, *seq)? {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

/// Where one read reads from. `ReadPoint::default()` is the present.
#[derive(Debug, Clone, Default)]
pub struct ReadPoint {
    txn: Option<TxnRead>,
    /// Where reads are noted (SERIALIZABLE blocks, and statements outside a block that
    /// write after reading).
    log: Option<Arc<Mutex<ReadLog>>>,
}

#[derive(Debug, Clone)]
struct TxnRead {
    view: Arc<TxnView>,
    pending: PendingWrites,
}

impl ReadPoint {
    /// The present.
    pub fn now() -> ReadPoint {
        ReadPoint::default()
    }

    /// A transaction's view with its pending writes on top; reads are noted in `log`
    /// when it is given.
    pub fn in_transaction(view: Arc<TxnView>, pending: PendingWrites, log: Option<Arc<Mutex<ReadLog>>>) -> ReadPoint {
        ReadPoint { txn: Some(TxnRead { view, pending }), log }
    }

    /// The present, with reads noted in `log`.
    pub fn now_noting(log: Arc<Mutex<ReadLog>>) -> ReadPoint {
        ReadPoint { txn: None, log: Some(log) }
    }

    /// Where reads are noted, if anywhere.
    pub fn log(&self) -> Option<&Arc<Mutex<ReadLog>>> {
        self.log.as_ref()
    }

    /// Whether anything noted in the log changed since it was read ([`ReadLog::changed`];
    /// `false` when reads are not noted).
    pub fn reads_changed(&self, store: &Store, cold: &ColdStore, except: Option<&[u8]>) -> Result<bool> {
        match &self.log {
            Some(log) => log.lock().unwrap_or_else(|p| p.into_inner()).changed(store, cold, except),
            None => Ok(false),
        }
    }

    /// The last `_seq` a read starting now may see at most: the view's, or `current` (the
    /// store's last, read before the read takes its snapshot).
    fn read_seq(&self, current: u64) -> u64 {
        self.txn.as_ref().map_or(current, |txn| txn.view.seq())
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

    /// Notes a scan of the scope under `prefix`, about to take its snapshot when the
    /// store's last `_seq` is `current`.
    pub fn note_scan(&self, prefix: &[u8], current: u64) {
        if let Some(log) = &self.log {
            let seq = self.read_seq(current);
            let mut log = log.lock().unwrap_or_else(|p| p.into_inner());
            let noted = log.scopes.entry(prefix.to_vec()).or_insert(seq);
            *noted = (*noted).min(seq);
        }
    }

    /// Notes lookups of single keys of one scope (as [`ReadPoint::note_scan`]).
    pub fn note_keys<K: AsRef<[u8]>>(&self, table_id: TableId, scope: &RowScope, keys: &[K], current: u64) {
        if let Some(log) = &self.log {
            let seq = self.read_seq(current);
            let mut log = log.lock().unwrap_or_else(|p| p.into_inner());
            let (noted, set) = log.keys.entry((table_id, scope.clone())).or_insert_with(|| (seq, HashSet::new()));
            *noted = (*noted).min(seq);
            set.extend(keys.iter().map(|k| k.as_ref().to_vec()));
        }
    }

    pub(super) fn snapshot(&self) -> Option<&HotSnapshot> {
        self.txn.as_ref().map(|txn| &txn.view.hot)
    }

    pub(super) fn pending(&self) -> Option<&PendingWrites> {
        self.txn.as_ref().map(|txn| &txn.pending).filter(|p| !p.is_empty())
    }
}

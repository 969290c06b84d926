//! An open transaction block ([`Transaction`]): its isolation level and access mode, its
//! start time (what `NOW()` and `_updated` read inside it), its view of storage (captured
//! at its first statement that reads or writes rows, as PostgreSQL takes its snapshot), the
//! rows it wrote so far ([`PendingWrites`]), what it read (SERIALIZABLE), its savepoints,
//! and whether a failed statement left it failed. Statements reach it through a
//! [`TxnHandle`]; the commit itself is [`super::txn_commit`].

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use datafusion::arrow::record_batch::RecordBatch;

use crate::catalog::TableEntry;
use crate::error::{EngineError, Result, SqlState};
use crate::shared::{EngineShared, IdleBlock};
use crate::sql::transaction::Isolation;
use crate::storage::ChangeSet;
use crate::storage::change_set::PendingParts;
use crate::storage::keys::{RowScope, TableId};
use crate::storage::pending::PendingWrites;
use crate::storage::read_point::{ReadLog, ReadPoint, TxnView};

/// A table scope the transaction wrote, with the table as it was when written.
pub type WrittenScopes = BTreeMap<(TableId, RowScope), Arc<TableEntry>>;

/// The state a savepoint returns to.
#[derive(Debug, Clone)]
struct Savepoint {
    name: String,
    pending: PendingWrites,
    written: WrittenScopes,
    stream_rows: StreamRows,
}

/// One open transaction block.
#[derive(Debug)]
pub struct Transaction {
    pub isolation: Isolation,
    pub read_only: bool,
    /// The engine clock when the block began: `NOW()` and `_updated` inside it.
    pub start_millis: i64,
    /// A statement failed: only ROLLBACK (or ROLLBACK TO a savepoint) runs now.
    pub failed: bool,
    /// The idle timeout ended the block: its view and rows are gone.
    pub expired: bool,
    /// A statement of the block is running (the idle timeout waits for it).
    pub running: bool,
    /// The engine clock when the block's last statement ended (or it began).
    pub idle_since: i64,
    view: Option<Arc<TxnView>>,
    pending: PendingWrites,
    reads: Arc<Mutex<ReadLog>>,
    written: WrittenScopes,
    uses_row_ids: bool,
    /// STREAM rows inserted, by scope, as the statements gave them (COMMIT keys them).
    stream_rows: StreamRows,
    savepoints: Vec<Savepoint>,
}

/// STREAM rows a block inserted, by table scope.
pub type StreamRows = BTreeMap<(TableId, RowScope), Vec<RecordBatch>>;

/// A session's open transaction, shared with the statement running in it.
pub type TxnHandle = Arc<Mutex<Transaction>>;

/// Locks a transaction handle (a poisoned lock still holds a consistent transaction: every
/// change to it is one assignment).
pub fn lock(handle: &TxnHandle) -> std::sync::MutexGuard<'_, Transaction> {
    handle.lock().unwrap_or_else(|p| p.into_inner())
}

impl Transaction {
    pub fn new(isolation: Isolation, read_only: bool, start_millis: i64) -> Transaction {
        Transaction {
            isolation,
            read_only,
            start_millis,
            failed: false,
            expired: false,
            running: false,
            idle_since: start_millis,
            view: None,
            pending: PendingWrites::default(),
            reads: Arc::new(Mutex::new(ReadLog::default())),
            written: WrittenScopes::new(),
            uses_row_ids: false,
            stream_rows: StreamRows::new(),
            savepoints: Vec::new(),
        }
    }

    /// Where the transaction's next statement reads: its view (captured now if this is
    /// its first read) with its pending rows on top.
    pub fn read_point(&mut self, shared: &EngineShared) -> Result<ReadPoint> {
        let view = match &self.view {
            Some(view) => view.clone(),
            None => {
                let view = Arc::new(TxnView::capture(&shared.store, &shared.cold)?);
                self.view = Some(view.clone());
                view
            }
        };
        let log = self.isolation.checks_reads().then(|| self.reads.clone());
        Ok(ReadPoint::in_transaction(view, self.pending.clone(), log))
    }

    /// Takes a statement's changes into the transaction's pending rows: what it wrote
    /// becomes visible to the transaction's next reads and is committed at COMMIT.
    pub fn absorb(&mut self, entry: &Arc<TableEntry>, scope: &RowScope, changes: ChangeSet) -> Result<()> {
        if self.read_only {
            return Err(read_only_error());
        }
        let PendingParts { rows, removed, uses_row_ids } = changes.into_pending_parts()?;
        // Statements holding a copy keep reading what they began with (the layers are shared).
        for key in removed {
            self.pending.remove(key);
        }
        for (key, value) in rows {
            self.pending.put(key, value);
        }
        self.uses_row_ids |= uses_row_ids;
        self.written.entry((entry.id(), scope.clone())).or_insert_with(|| entry.clone());
        Ok(())
    }

    /// Keeps the rows a statement inserted into a STREAM scope for COMMIT.
    pub fn keep_stream_rows(&mut self, entry: &Arc<TableEntry>, scope: &RowScope, batches: Vec<RecordBatch>) {
        self.stream_rows.entry((entry.id(), scope.clone())).or_default().extend(batches);
    }

    /// Forgets the STREAM rows the block inserted into a scope (its TRUNCATE).
    pub fn forget_stream_rows(&mut self, entry: &Arc<TableEntry>, scope: &RowScope) {
        self.stream_rows.remove(&(entry.id(), scope.clone()));
    }

    /// Whether the block's view exists (a statement has read or written through it).
    pub fn has_view(&self) -> bool {
        self.view.is_some()
    }

    /// Whether the transaction has written anything.
    pub fn has_writes(&self) -> bool {
        !self.pending.is_empty()
    }

    pub fn savepoint(&mut self, name: &str) {
        let savepoint = Savepoint {
            name: name.to_string(),
            pending: self.pending.clone(),
            written: self.written.clone(),
            stream_rows: self.stream_rows.clone(),
        };
        self.savepoints.push(savepoint);
    }

    /// Forgets the savepoint `name` and every later one (their writes stay).
    pub fn release(&mut self, name: &str) -> Result<()> {
        let at = self.find_savepoint(name)?;
        self.savepoints.truncate(at);
        Ok(())
    }

    /// Undoes every write after the savepoint `name` (which stays), and clears a failure.
    pub fn rollback_to(&mut self, name: &str) -> Result<()> {
        let at = self.find_savepoint(name)?;
        let savepoint = self.savepoints[at].clone();
        self.savepoints.truncate(at + 1);
        self.pending = savepoint.pending;
        self.written = savepoint.written;
        self.stream_rows = savepoint.stream_rows;
        self.failed = false;
        Ok(())
    }

    fn find_savepoint(&self, name: &str) -> Result<usize> {
        self.savepoints
            .iter()
            .rposition(|s| s.name == name)
            .ok_or_else(|| EngineError::new(SqlState::INVALID_SAVEPOINT, format!("savepoint \"{name}\" does not exist")))
    }

    /// What COMMIT needs: the view, the pending rows, the written scopes and what was read.
    pub fn into_commit(self) -> Option<CommitWork> {
        let view = self.view?;
        if self.pending.is_empty() {
            return None;
        }
        let reads = self.isolation.checks_reads().then(|| std::mem::take(&mut *self.reads.lock().unwrap_or_else(|p| p.into_inner())));
        Some(CommitWork {
            view,
            pending: self.pending,
            written: self.written,
            stream_rows: self.stream_rows,
            uses_row_ids: self.uses_row_ids,
            reads,
        })
    }
}

/// A transaction that wrote something, as COMMIT takes it.
pub struct CommitWork {
    pub view: Arc<TxnView>,
    pub pending: PendingWrites,
    pub written: WrittenScopes,
    /// STREAM rows, keyed, trimmed and counted at COMMIT.
    pub stream_rows: StreamRows,
    pub uses_row_ids: bool,
    /// What it read (SERIALIZABLE only).
    pub reads: Option<ReadLog>,
}

impl IdleBlock for Transaction {
    fn idle_since(&self) -> Option<i64> {
        (!self.running && !self.expired).then_some(self.idle_since)
    }

    fn expire(&mut self) {
        self.expired = true;
        self.view = None;
        self.pending = PendingWrites::default();
        self.reads = Arc::new(Mutex::new(ReadLog::default()));
        self.written.clear();
        self.stream_rows.clear();
        self.savepoints.clear();
    }
}

/// What a statement inside a transaction block carries: the block, and where the
/// statement reads (the block's view with its pending rows as the statement began).
#[derive(Debug, Clone)]
pub struct InTransaction {
    pub handle: TxnHandle,
    pub at: ReadPoint,
    pub start_millis: i64,
}

/// A write in a READ ONLY transaction.
pub fn read_only_error() -> EngineError {
    EngineError::new(SqlState::READ_ONLY, "cannot write in a read-only transaction")
}

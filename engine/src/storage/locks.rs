//! Write locks: who may validate and commit changes to a table at a time.
//!
//! Writers to one scope of a table (the shared rows, or one user's rows) take that scope's
//! lock for the whole statement, so a statement's uniqueness checks and read-modify-write
//! see no other writer of the same rows; writers of other tables and other scopes do not
//! wait for each other. DROP TABLE (and, later, ALTER TABLE) takes the table's exclusive
//! lock, which waits for every scope's writers. The locks are asynchronous: a statement
//! that waits for one yields its async worker. The `_seq` order of commits is decided
//! later, in the store's short commit section.
//!
//! Group commit: each scope lock has a queue. A writer whose work is ready before it holds
//! the lock (an INSERT's encoded rows) queues it and waits for the lock or for its result,
//! whichever comes first ([`WriteLocks::queue_for_scope`]); whoever gets the lock takes
//! everything queued ([`ScopeWriteGuard::take_queued`]) and commits it together, so writers
//! queued on a busy scope share one write instead of taking turns.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard, OwnedRwLockReadGuard, OwnedRwLockWriteGuard, RwLock};

use crate::storage::keys::{RowScope, TableId};

#[derive(Default)]
struct TableLocks {
    table: Arc<RwLock<()>>,
    scopes: Mutex<HashMap<RowScope, Arc<ScopeLock>>>,
}

/// One scope's lock and the work queued for whoever holds it next.
#[derive(Default)]
struct ScopeLock {
    held: Arc<AsyncMutex<()>>,
    queued: Mutex<Vec<Box<dyn Any + Send>>>,
}

/// How a queued writer's wait ended.
pub enum QueueWait<R> {
    /// Another writer took the queued work and committed it (or refused it): its result.
    Done(R),
    /// This writer holds the lock, and its own work is still queued: it takes the queue,
    /// sends every result, its own too (the receiver comes back with the guard).
    Holder(ScopeWriteGuard, tokio::sync::oneshot::Receiver<R>),
}

type TableMap = Arc<Mutex<HashMap<TableId, Arc<TableLocks>>>>;

/// The write locks of every table, created on first use and forgotten when nobody holds
/// or waits for them (every clone of a table's locks is taken under the map's mutex, so
/// the count cannot grow while it is checked).
#[derive(Default)]
pub struct WriteLocks {
    tables: TableMap,
}

impl std::fmt::Debug for WriteLocks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WriteLocks")
    }
}

/// Removes a table's locks from the map once `locks` is the last handle on them.
fn release_table(tables: &TableMap, table_id: TableId, locks: Arc<TableLocks>) {
    let mut map = tables.lock().unwrap_or_else(|p| p.into_inner());
    drop(locks);
    if map.get(&table_id).is_some_and(|entry| Arc::strong_count(entry) == 1) {
        map.remove(&table_id);
    }
}

/// Proof that the holder is the only writer of one scope of one table.
pub struct ScopeWriteGuard {
    table_id: TableId,
    scope: RowScope,
    tables: TableMap,
    locks: Option<Arc<TableLocks>>,
    scope_lock: Arc<ScopeLock>,
    held: Option<(OwnedRwLockReadGuard<()>, OwnedMutexGuard<()>)>,
}

impl ScopeWriteGuard {
    /// Takes everything queued on this scope ([`WriteLocks::queue_for_scope`]) of type `J`,
    /// oldest first (other kinds of work stay queued).
    pub fn take_queued<J: Send + 'static>(&self) -> Vec<J> {
        let mut queued = self.scope_lock.queued.lock().unwrap_or_else(|p| p.into_inner());
        let mut taken = Vec::new();
        let mut kept = Vec::new();
        for work in queued.drain(..) {
            match work.downcast::<J>() {
                Ok(work) => taken.push(*work),
                Err(other) => kept.push(other),
            }
        }
        *queued = kept;
        taken
    }
}

impl Drop for ScopeWriteGuard {
    fn drop(&mut self) {
        self.held = None;
        let Some(locks) = self.locks.take() else { return };
        {
            let mut scopes = locks.scopes.lock().unwrap_or_else(|p| p.into_inner());
            // This guard's own handle and the map's: nobody else holds or waits.
            if scopes.get(&self.scope).is_some_and(|lock| Arc::strong_count(lock) == 2) {
                scopes.remove(&self.scope);
            }
        }
        release_table(&self.tables, self.table_id, locks);
    }
}

/// A held lock of a whole table (`G`: the read or the write side), released from the map
/// with it.
pub struct TableGuard<G> {
    table_id: TableId,
    tables: TableMap,
    locks: Option<Arc<TableLocks>>,
    held: Option<G>,
}

impl<G> TableGuard<G> {
    pub fn table_id(&self) -> TableId {
        self.table_id
    }
}

impl<G> Drop for TableGuard<G> {
    fn drop(&mut self) {
        self.held = None;
        if let Some(locks) = self.locks.take() {
            release_table(&self.tables, self.table_id, locks);
        }
    }
}

/// Proof that no schema change or drop of a table commits while it is held (ALTER TABLE
/// and DROP TABLE take the table's exclusive lock): what a flush or a compaction holds
/// while it reads rows with the table's current definition. Writers of its scopes go on.
/// The lock is fair, so a holder never waits for a scope lock of the same table (a waiting
/// ALTER would stop that wait for good): it lets go first.
pub type SchemaReadGuard = TableGuard<OwnedRwLockReadGuard<()>>;

/// Proof that the holder is the only writer of a whole table (every scope).
pub type TableWriteGuard = TableGuard<OwnedRwLockWriteGuard<()>>;

impl WriteLocks {
    fn table(&self, table_id: TableId) -> Arc<TableLocks> {
        self.tables.lock().unwrap_or_else(|p| p.into_inner()).entry(table_id).or_default().clone()
    }

    /// Waits until the caller is the only writer of `scope` of the table.
    pub async fn lock_scope(&self, table_id: TableId, scope: &RowScope) -> ScopeWriteGuard {
        let locks = self.table(table_id);
        let table = locks.table.clone().read_owned().await;
        let scope_lock = locks.scopes.lock().unwrap_or_else(|p| p.into_inner()).entry(scope.clone()).or_default().clone();
        let held = scope_lock.held.clone().lock_owned().await;
        ScopeWriteGuard {
            table_id,
            scope: scope.clone(),
            tables: self.tables.clone(),
            locks: Some(locks),
            scope_lock,
            held: Some((table, held)),
        }
    }

    /// Queues `work` on the scope, then waits for the scope's lock or for `done` (where
    /// the holder that takes the work sends its result), whichever comes first. The holder
    /// of the lock must take and finish every queued work of its kind before it lets go,
    /// and must not await in between, so a writer that gets the lock with its `done`
    /// still empty finds its work in the queue.
    pub async fn queue_for_scope<J: Send + 'static, R>(
        &self,
        table_id: TableId,
        scope: &RowScope,
        work: J,
        mut done: tokio::sync::oneshot::Receiver<R>,
    ) -> QueueWait<R> {
        let locks = self.table(table_id);
        let scope_lock = locks.scopes.lock().unwrap_or_else(|p| p.into_inner()).entry(scope.clone()).or_default().clone();
        scope_lock.queued.lock().unwrap_or_else(|p| p.into_inner()).push(Box::new(work));
        let (table_lock, held_lock) = (locks.table.clone(), scope_lock.held.clone());
        // Holds the handles from here on, so however the wait ends, dropping it forgets
        // the entries nobody else uses (the holder that sent the result may have let go
        // while this writer still held them).
        let mut guard =
            ScopeWriteGuard { table_id, scope: scope.clone(), tables: self.tables.clone(), locks: Some(locks), scope_lock, held: None };
        let acquire = async move {
            let table = table_lock.read_owned().await;
            let held = held_lock.lock_owned().await;
            (table, held)
        };
        tokio::pin!(acquire);
        let held = tokio::select! {
            biased;
            result = &mut done => match result {
                Ok(result) => return QueueWait::Done(result),
                // A holder that took the work sends before it drops the sender; one that
                // skipped it (its writer gave up) never does: wait for the lock.
                Err(_) => (&mut acquire).await,
            },
            held = &mut acquire => held,
        };
        if let Ok(result) = done.try_recv() {
            drop(held);
            return QueueWait::Done(result);
        }
        guard.held = Some(held);
        QueueWait::Holder(guard, done)
    }

    /// Waits until no schema change or drop of the table is running, and keeps them out
    /// while the guard lives.
    pub async fn hold_schema(&self, table_id: TableId) -> SchemaReadGuard {
        let locks = self.table(table_id);
        let held = locks.table.clone().read_owned().await;
        TableGuard { table_id, tables: self.tables.clone(), locks: Some(locks), held: Some(held) }
    }

    /// Waits until the caller is the only writer of the whole table.
    pub async fn lock_table(&self, table_id: TableId) -> TableWriteGuard {
        let locks = self.table(table_id);
        let held = locks.table.clone().write_owned().await;
        TableGuard { table_id, tables: self.tables.clone(), locks: Some(locks), held: Some(held) }
    }

    /// How many tables have locks in use or awaited (for tests).
    pub fn tables_in_use(&self) -> usize {
        self.tables.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

/// Runs blocking storage work (RocksDB reads, writes and compactions) so that it never
/// stalls an async worker's other tasks: on a multi-threaded tokio runtime the worker hands
/// its queue to another thread for the duration (`block_in_place`), which costs far less
/// than a round trip to the blocking pool (measured: a hop to `spawn_blocking` and back
/// added about 70 µs to every single-row INSERT on the 2-core CI machine); on a
/// current-thread runtime, whose one thread has no other worker to hand over to, the work
/// runs in place.
pub async fn off_async<T: Send + 'static>(work: impl FnOnce() -> crate::error::Result<T> + Send + 'static) -> crate::error::Result<T> {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current().map(|handle| handle.runtime_flavor()) {
        Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(work),
        _ => work(),
    }
}

#[cfg(test)]
mod tests {
    use futures::FutureExt;

    use super::*;

    #[tokio::test]
    async fn writers_of_other_tables_and_scopes_do_not_wait() {
        let locks = WriteLocks::default();
        let shared_one = locks.lock_scope(1, &RowScope::Shared).await;
        // Another table, and another scope of the same table, are free.
        let other_table = locks.lock_scope(2, &RowScope::Shared).now_or_never();
        assert!(other_table.is_some());
        let other_scope = locks.lock_scope(1, &RowScope::User(2)).now_or_never();
        assert!(other_scope.is_some());
        drop((other_table, other_scope));
        // The same scope waits; so does the whole table.
        assert!(locks.lock_scope(1, &RowScope::Shared).now_or_never().is_none());
        assert!(locks.lock_table(1).now_or_never().is_none());
        drop(shared_one);
        let whole = locks.lock_table(1).now_or_never().expect("free once the writer is done");
        assert!(locks.lock_scope(1, &RowScope::User(3)).now_or_never().is_none());
        drop(whole);
        assert!(locks.lock_scope(1, &RowScope::Shared).now_or_never().is_some());
        // A schema hold lets writers in and keeps the whole-table lock out.
        let hold = locks.hold_schema(1).now_or_never().expect("free");
        assert!(locks.lock_scope(1, &RowScope::Shared).now_or_never().is_some());
        assert!(locks.lock_table(1).now_or_never().is_none());
        drop(hold);
        assert_eq!(locks.tables_in_use(), 0);
    }

    #[tokio::test]
    async fn scope_locks_are_forgotten_when_free() {
        let locks = WriteLocks::default();
        for user in [2, 3, 4] {
            drop(locks.lock_scope(7, &RowScope::User(user)).await);
        }
        let held = locks.lock_scope(7, &RowScope::Shared).await;
        assert_eq!(locks.table(7).scopes.lock().unwrap().len(), 1);
        drop(held);
        assert_eq!(locks.tables_in_use(), 0);
    }

    #[tokio::test]
    async fn a_queued_writer_served_by_the_holder_leaves_no_lock_behind() {
        use tokio::sync::oneshot;
        let locks = WriteLocks::default();
        let (first_done, first_result) = oneshot::channel::<u32>();
        let (second_done, second_result) = oneshot::channel::<u32>();
        let first = locks.queue_for_scope(5, &RowScope::Shared, (1u32, first_done), first_result).now_or_never().expect("free");
        let QueueWait::Holder(guard, mut own) = first else { panic!("the first writer holds the lock") };
        // The second writer queues while the lock is held.
        let mut second = Box::pin(locks.queue_for_scope(5, &RowScope::Shared, (2u32, second_done), second_result));
        assert!((&mut second).now_or_never().is_none());
        let queued: Vec<(u32, oneshot::Sender<u32>)> = guard.take_queued();
        assert_eq!(queued.iter().map(|(work, _)| *work).collect::<Vec<_>>(), vec![1, 2]);
        for (work, done) in queued {
            let _ = done.send(work * 10);
        }
        // The holder lets go while the second writer still holds its handles.
        drop(guard);
        assert_eq!(own.try_recv().unwrap(), 10);
        let QueueWait::Done(result) = second.await else { panic!("served by the holder") };
        assert_eq!(result, 20);
        assert_eq!(locks.tables_in_use(), 0);
    }
}

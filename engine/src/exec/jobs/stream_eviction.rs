//! STREAM eviction: for each STREAM table with a TTL, each user's expired rows (arrival
//! at least TTL_SECONDS before now) are one key range, deleted with one range deletion per
//! user under that user's write lock (writers of the scope wait a moment; readers never
//! do); EPHEMERAL tables nobody subscribes to lose every row. Reads already skip expired
//! rows, so eviction changes what is stored, not what is seen. One `stream_eviction` job
//! per table in `system.jobs`.

use std::sync::Arc;

use crate::catalog::TableEntry;
use crate::error::Result;
use crate::exec::jobs::{JobKind, JobTally};
use crate::provider::stream_rules::stream_visible_from;
use crate::shared::EngineShared;
use crate::storage::{ChangeSet, RowScope, UserId, keys, off_async};

/// Evicted rows from which the job compacts the table's range, so their bytes leave the
/// files now rather than at RocksDB's next compaction of those files.
const COMPACT_FROM_ROWS: u64 = 10_000;

/// Evicts the expired rows of every STREAM table that has some. Returns how many tables
/// were evicted.
pub async fn run_due(shared: &Arc<EngineShared>) -> Result<usize> {
    let mut tally = JobTally::default();
    let mut tables: Vec<Arc<TableEntry>> = shared.catalog.tables().into_iter().filter(|t| t.kind().rules().append_only).collect();
    tables.sort_by_key(|t| t.id());
    for table in tables {
        let options = &table.definition.options;
        let purge_all = options.ephemeral == Some(true) && !shared.live.watches_table(table.id());
        if options.ttl_seconds.is_none() && !purge_all {
            continue;
        }
        let now = shared.now_millis();
        let (work_shared, work_table) = (shared.clone(), table.clone());
        let users = off_async(move || users_with_expired_rows(&work_shared, &work_table, now, purge_all)).await?;
        if users.is_empty() {
            continue;
        }
        let definition = &table.definition;
        let job = shared.jobs.start(JobKind::StreamEviction.name(), Some(&definition.namespace), Some(&definition.name), now);
        let outcome = evict(shared, &table, users, now, purge_all).await;
        // A failure is recorded in system.jobs; the other tables are still evicted.
        shared.jobs.finish(job, shared.now_millis(), outcome.as_ref().map(|n| *n).map_err(|e| e.to_string()));
        tally.add(outcome.map(|_| 1));
    }
    tally.finish()
}

/// The rows of `scope_prefix` to evict at `now`: `[scope_prefix, until)`.
fn eviction_end(table: &TableEntry, scope_prefix: &[u8], now: i64, purge_all: bool) -> Vec<u8> {
    if purge_all {
        // Purging an EPHEMERAL table takes the rows that arrived before the check that
        // found no subscription, never one stored for a subscription opened since.
        keys::stream_rows_before(scope_prefix, now)
    } else {
        stream_visible_from(table, scope_prefix, now)
    }
}

/// The users with rows to evict.
fn users_with_expired_rows(shared: &EngineShared, table: &TableEntry, now: i64, purge_all: bool) -> Result<Vec<UserId>> {
    let mut users = Vec::new();
    for (user, first) in shared.store.users_with_rows(table.id())? {
        let scope_prefix = keys::scope_row_prefix(table.id(), &RowScope::User(user));
        if first < eviction_end(table, &scope_prefix, now, purge_all) {
            users.push(user);
        }
    }
    Ok(users)
}

/// Evicts each user's expired rows under that user's write lock (writers of the scope
/// wait a moment; readers never do), one range deletion each. Returns the rows removed.
async fn evict(shared: &Arc<EngineShared>, table: &Arc<TableEntry>, users: Vec<UserId>, now: i64, purge_all: bool) -> Result<u64> {
    let mut rows = 0;
    for user in users {
        let scope = RowScope::User(user);
        let guard = shared.locks.lock_scope(table.id(), &scope).await;
        if shared.catalog.current(table).is_none() {
            break; // dropped meanwhile: DROP TABLE removed every row
        }
        if purge_all && shared.live.watches_table(table.id()) {
            break; // a subscription opened meanwhile: the rows stay for it
        }
        let (work_shared, work_table) = (shared.clone(), table.clone());
        rows += off_async(move || {
            let scope_prefix = keys::scope_row_prefix(work_table.id(), &scope);
            let until = eviction_end(&work_table, &scope_prefix, now, purge_all);
            let count = work_shared.store.count_keys(&scope_prefix, &until)?;
            let mut changes = ChangeSet::default();
            changes.delete_range(scope_prefix.clone(), until);
            changes.forget_row_count(scope_prefix);
            work_shared.store.commit(changes)?;
            drop(guard);
            Ok(count)
        })
        .await?;
    }
    if rows >= COMPACT_FROM_ROWS {
        let (work_shared, table_id) = (shared.clone(), table.id());
        off_async(move || {
            work_shared.store.compact_prefix(&keys::table_row_prefix(table_id));
            Ok(())
        })
        .await?;
    }
    Ok(rows)
}

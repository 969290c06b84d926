//! Engine jobs: work that runs without a statement, recorded in `system.jobs`.
//!
//! [`run_due`] runs every job that has work now, to completion: the engine's background
//! runner calls it periodically (`EngineConfig::job_interval`), tests and scenarios call
//! it through `Engine::run_jobs` with a manual clock, so nothing waits on real time.
//! Readers never wait for a job; a job takes one user's write lock at a time, for the
//! moment its range deletion takes.
//!
//! Flush policies ([`super::flush_policy`]), the retention purge ([`super::retention`])
//! and compaction ([`super::compaction`]) are jobs of their own; every run ends by
//! deleting the segment files they retired that no reader holds any more; the fourth
//! job is STREAM eviction:
//! for each STREAM table with a TTL, each user's
//! expired rows (arrival at least TTL_SECONDS before now) are one key range, deleted with
//! one range deletion per user; EPHEMERAL tables nobody subscribes to lose every row.
//! Reads already skip expired rows, so eviction changes what is stored, not what is seen.

use std::sync::Arc;

use crate::catalog::TableEntry;
use crate::error::{EngineError, Result};
use crate::exec::compaction::COMPACTION;
use crate::exec::retention::RETENTION_PURGE;
use crate::provider::compact::{compact_scope, purge_scope};
use crate::provider::stream_rules::stream_visible_from;
use crate::shared::EngineShared;
use crate::storage::{ChangeSet, RowScope, UserId, keys, off_async};

/// A job type, as `system.jobs` names it.
pub const STREAM_EVICTION: &str = "stream_eviction";

/// Evicted rows from which the job compacts the table's range, so their bytes leave the
/// files now rather than at RocksDB's next compaction of those files.
const COMPACT_FROM_ROWS: u64 = 10_000;

/// Counts the jobs that ran and keeps the first error: one job's failure (recorded in
/// `system.jobs`) does not stop the others.
#[derive(Default)]
pub(crate) struct JobTally {
    ran: usize,
    first_error: Option<EngineError>,
}

impl JobTally {
    /// Counts `done` jobs of a successful outcome, or keeps its error.
    pub(crate) fn add(&mut self, outcome: Result<usize>) {
        match outcome {
            Ok(done) => self.ran += done,
            Err(error) => {
                self.first_error.get_or_insert(error);
            }
        }
    }

    pub(crate) fn finish(self) -> Result<usize> {
        match self.first_error {
            Some(error) => Err(error),
            None => Ok(self.ran),
        }
    }
}

/// Runs every job that has work now. Returns how many ran.
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
        let job = shared.jobs.start(STREAM_EVICTION, Some(&definition.namespace), Some(&definition.name), now);
        let outcome = evict(shared, &table, users, now, purge_all).await;
        // A failure is recorded in system.jobs; the other tables are still evicted.
        shared.jobs.finish(job, shared.now_millis(), outcome.as_ref().map(|n| *n).map_err(|e| e.to_string()));
        tally.add(outcome.map(|_| 1));
    }
    tally.add(crate::exec::flush_policy::run_due_flushes(shared).await);
    tally.add(crate::exec::retention::run_due_purges(shared).await);
    tally.add(crate::exec::compaction::run_due_compactions(shared).await);
    delete_retired_files(shared).await;
    tally.finish()
}

/// The job type of a failed deletion of a retired segment file in `system.jobs`.
pub const FILE_CLEANUP: &str = "file_cleanup";

/// Deletes the segment files purges and compactions retired once no reader holds them
/// (last in a run: the run's own rewrites hold none by then). A file that cannot be
/// deleted is recorded once as a failed `file_cleanup` job, stays queued, and stops
/// nothing else.
async fn delete_retired_files(shared: &Arc<EngineShared>) {
    for (path, error) in shared.cold.delete_retired().await {
        let now = shared.now_millis();
        let job = shared.jobs.start(FILE_CLEANUP, None, None, now);
        shared.jobs.finish(job, now, Err(format!("deleting retired segment file {path}: {error}")));
    }
}

/// What a scope job does to each scope.
#[derive(Debug, Clone, Copy)]
pub(crate) enum SegmentRewrite {
    /// The retention purge of tombstones last changed before `cutoff` (engine clock, ms).
    Purge {
        cutoff: i64,
    },
    Compact,
}

/// Does `work` to each of `scopes` of `table` as one job in `system.jobs`, under the
/// engine's segment-writes lock (flushes, purges and compactions go one at a time); the job's
/// count is the sum of the scopes' (tombstones purged, segments merged), and the first
/// error ends it.
pub(crate) async fn run_scope_job(
    shared: &Arc<EngineShared>,
    table: &Arc<TableEntry>,
    scopes: Vec<RowScope>,
    work: SegmentRewrite,
) -> Result<u64> {
    let _one_at_a_time = shared.segment_writes.lock().await;
    let definition = &table.definition;
    let job_type = match work {
        SegmentRewrite::Purge { .. } => RETENTION_PURGE,
        SegmentRewrite::Compact => COMPACTION,
    };
    let job = shared.jobs.start(job_type, Some(&definition.namespace), Some(&definition.name), shared.now_millis());
    let mut outcome = Ok(0);
    for scope in scopes {
        let done = match work {
            SegmentRewrite::Purge { cutoff } => purge_scope(shared, table, scope, cutoff).await,
            SegmentRewrite::Compact => compact_scope(shared, table, scope).await,
        };
        match done {
            Ok(done) => outcome = outcome.map(|total| total + done),
            Err(error) => {
                outcome = Err(error);
                break;
            }
        }
    }
    shared.jobs.finish(job, shared.now_millis(), outcome.as_ref().map(|n| *n).map_err(|e| e.to_string()));
    outcome
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
        let definition = &table.definition;
        if shared.catalog.table(&definition.namespace, &definition.name).map(|t| t.id()) != Some(table.id()) {
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

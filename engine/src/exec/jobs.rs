//! Engine jobs: work that runs without a statement, recorded in `system.jobs`.
//!
//! [`run_due`] runs every job that has work now, to completion, on the calling thread:
//! the engine's background runner calls it periodically (`EngineConfig::job_interval`),
//! tests and scenarios call it through `Engine::run_jobs` with a manual clock, so nothing
//! waits on real time. Jobs take no table or scope lock: statements go on meanwhile.
//!
//! The one job so far is STREAM eviction: for each STREAM table with a TTL, each user's
//! expired rows (arrival at least TTL_SECONDS before now) are one key range, deleted with
//! one range deletion per user; EPHEMERAL tables nobody subscribes to lose every row.
//! Reads already skip expired rows, so eviction changes what is stored, not what is seen.

use std::sync::Arc;

use crate::catalog::{TableEntry, TableKind};
use crate::error::Result;
use crate::provider::writer::stream_visible_from;
use crate::shared::EngineShared;
use crate::storage::{ChangeSet, RowScope, keys};

/// A job type, as `system.jobs` names it.
pub const STREAM_EVICTION: &str = "stream_eviction";

/// Evicted rows from which the job compacts the table's range, so their bytes leave the
/// files now rather than at RocksDB's next compaction of those files.
const COMPACT_FROM_ROWS: u64 = 10_000;

/// Runs every job that has work now. Returns how many ran.
pub fn run_due(shared: &Arc<EngineShared>) -> Result<usize> {
    let mut ran = 0;
    let mut tables: Vec<Arc<TableEntry>> =
        shared.catalog.tables().into_iter().filter(|t| t.kind() == TableKind::Stream).collect();
    tables.sort_by_key(|t| t.id());
    for table in tables {
        let options = &table.definition.options;
        let purge_all = options.ephemeral == Some(true) && !shared.live.watches_table(table.id());
        if options.ttl_seconds.is_none() && !purge_all {
            continue;
        }
        let now = shared.now_millis();
        let ranges = expired_ranges(shared, &table, now, purge_all)?;
        if ranges.is_empty() {
            continue;
        }
        let definition = &table.definition;
        let job = shared.jobs.start(STREAM_EVICTION, Some(&definition.namespace), Some(&definition.name), now);
        let outcome = evict(shared, &table, ranges);
        shared.jobs.finish(job, shared.now_millis(), outcome.as_ref().map(|n| *n).map_err(|e| e.to_string()));
        outcome?;
        ran += 1;
    }
    Ok(ran)
}

/// One user's rows to evict: the keys in `[from, to)`, `rows` of them.
struct Expired {
    from: Vec<u8>,
    to: Vec<u8>,
    rows: u64,
}

/// Each user's range of rows to evict (only ranges holding rows).
fn expired_ranges(shared: &EngineShared, table: &TableEntry, now: i64, purge_all: bool) -> Result<Vec<Expired>> {
    let store = &shared.store;
    let scopes = keys::user_scopes_prefix(table.id());
    let end = keys::prefix_upper_bound(&scopes).unwrap_or_default();
    let mut cursor = scopes;
    let mut ranges = Vec::new();
    // One seek per user: from the first key of a scope to the next scope.
    while let Some(first) = store.first_key(&cursor, &end)? {
        let Some(user) = keys::user_of_row_key(table.id(), &first) else { break };
        let scope_prefix = keys::scope_row_prefix(table.id(), &RowScope::User(user));
        let scope_end = keys::prefix_upper_bound(&scope_prefix).unwrap_or_default();
        let until = if purge_all { scope_end.clone() } else { stream_visible_from(table, &scope_prefix, now) };
        if first < until {
            let rows = store.count_keys(&scope_prefix, &until)?;
            ranges.push(Expired { from: scope_prefix, to: until, rows });
        }
        cursor = scope_end;
    }
    Ok(ranges)
}

fn evict(shared: &EngineShared, table: &TableEntry, ranges: Vec<Expired>) -> Result<u64> {
    let mut changes = ChangeSet::default();
    let mut rows = 0;
    for range in ranges {
        changes.delete_range(range.from, range.to);
        rows += range.rows;
    }
    shared.store.commit(changes)?;
    if rows >= COMPACT_FROM_ROWS {
        shared.store.compact_prefix(&keys::table_row_prefix(table.id()));
    }
    Ok(rows)
}

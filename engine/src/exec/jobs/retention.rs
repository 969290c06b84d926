//! The retention purge job: for each SHARED and USER table with `DELETED_RETENTION_HOURS =
//! N`, every scope holding a tombstone (hot or cold) last changed N hours or more ago
//! (engine clock) is purged ([`crate::provider::compact`]), one `retention_purge` job per
//! table. The cutoff comes from [`instant_before`]: a retention longer than the engine
//! clock can span has none, and such a table keeps its tombstones for good. Each purge
//! raises the scope's retention horizon (see `storage::cold::manifest`); the files it
//! retires are deleted by the file cleanup job once no reader holds them.

use std::sync::Arc;

use crate::catalog::options::{MILLIS_PER_HOUR, instant_before};
use crate::catalog::{RowOwner, TableEntry};
use crate::error::Result;
use crate::exec::flush::flushable_tables;
use crate::exec::jobs::JobTally;
use crate::exec::jobs::scope_rewrite::{SegmentRewrite, run_scope_job};
use crate::shared::EngineShared;
use crate::storage::row_codec::decode_header;
use crate::storage::{RowScope, keys, off_async};

/// Purges every table that has expired tombstones. Returns how many were purged.
pub async fn run_due(shared: &Arc<EngineShared>) -> Result<usize> {
    let now = shared.now_millis();
    let mut tally = JobTally::default();
    for table in flushable_tables(shared, None) {
        let Some(hours) = table.definition.options.deleted_retention_hours else { continue };
        // No cutoff: a retention longer than the engine clock spans keeps tombstones for good.
        let Some(cutoff) = instant_before(now, hours, MILLIS_PER_HOUR) else { continue };
        let (work_shared, work_table) = (shared.clone(), table.clone());
        let scopes = off_async(move || scopes_with_expired_tombstones(&work_shared, &work_table, cutoff)).await?;
        if scopes.is_empty() {
            continue;
        }
        tally.add(run_scope_job(shared, &table, scopes, SegmentRewrite::Purge { cutoff }).await.map(|_| 1));
    }
    tally.finish()
}

/// The scopes with a tombstone older than `cutoff`: segments say so in their manifest;
/// hot rows are looked at.
fn scopes_with_expired_tombstones(shared: &EngineShared, table: &TableEntry, cutoff: i64) -> Result<Vec<RowScope>> {
    let mut scopes: Vec<RowScope> = shared
        .cold
        .table_scopes(table.id())
        .iter()
        .filter(|s| s.manifest.segments.iter().any(|segment| segment.oldest_tombstone_millis.is_some_and(|t| t < cutoff)))
        .map(|s| s.dir.scope.clone())
        .collect();
    let hot: Vec<RowScope> = match table.kind().rules().rows {
        _ if !table.kind().rules().flushed => Vec::new(),
        RowOwner::Everyone => vec![RowScope::Shared],
        RowOwner::EachUser => shared.store.users_with_rows(table.id())?.into_iter().map(|(user, _)| RowScope::User(user)).collect(),
    };
    for scope in hot {
        if scopes.contains(&scope) {
            continue;
        }
        let prefix = keys::scope_row_prefix(table.id(), &scope);
        let mut expired = false;
        shared.store.scan_range(&prefix, keys::prefix_upper_bound(&prefix).as_deref(), |_, value| {
            let header = decode_header(value)?;
            expired = header.deleted && header.updated_millis < cutoff;
            Ok(!expired)
        })?;
        if expired {
            scopes.push(scope);
        }
    }
    Ok(scopes)
}

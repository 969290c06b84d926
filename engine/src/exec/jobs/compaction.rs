//! The compaction job: a table scope flushed more than `compact_segments_over` times
//! (engine configuration, 8 by default) has its segments merged into one
//! ([`crate::provider::compact`]), so reads of it merge two runs at most again instead
//! of one per flush, and older versions of its keys take no more room. One `compaction`
//! job per table, recorded in `system.jobs` with the number of segments merged.

use std::sync::Arc;

use crate::error::Result;
use crate::exec::flush::flushable_tables;
use crate::exec::jobs::JobTally;
use crate::exec::jobs::scope_rewrite::{SegmentRewrite, run_scope_job};
use crate::shared::EngineShared;

/// Compacts every scope with too many segments. Returns how many tables were compacted.
pub async fn run_due(shared: &Arc<EngineShared>) -> Result<usize> {
    let limit = shared.config.compact_segments_over.max(1);
    let mut tally = JobTally::default();
    for table in flushable_tables(shared, None) {
        let scopes: Vec<_> = shared
            .cold
            .table_scopes(table.id())
            .iter()
            .filter(|s| s.manifest.segments.len() > limit)
            .map(|s| s.dir.scope.clone())
            .collect();
        if scopes.is_empty() {
            continue;
        }
        tally.add(run_scope_job(shared, &table, scopes, SegmentRewrite::Compact).await.map(|_| 1));
    }
    tally.finish()
}

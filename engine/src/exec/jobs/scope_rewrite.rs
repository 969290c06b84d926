//! What the retention purge and compaction share: one job per table that rewrites the
//! segments of some of its scopes ([`crate::provider::compact`]), one scope after another,
//! under the engine's segment-writes lock (flushes, purges and compactions go one at a
//! time), recorded in `system.jobs` with the sum of the scopes' counts.

use std::sync::Arc;

use crate::catalog::TableEntry;
use crate::error::Result;
use crate::exec::jobs::JobKind;
use crate::provider::compact::{compact_scope, purge_scope};
use crate::shared::EngineShared;
use crate::storage::RowScope;

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
        SegmentRewrite::Purge { .. } => JobKind::RetentionPurge.name(),
        SegmentRewrite::Compact => JobKind::Compaction.name(),
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

//! The file cleanup job: deletes the segment files purges and compactions retired, and
//! what dropped tables and users left, once no reader holds them. A file that cannot be
//! deleted is recorded once as a failed `file_cleanup` job, stays queued, and stops
//! nothing else. It takes no lock: a retired file is no manifest's any more.

use std::sync::Arc;

use crate::error::Result;
use crate::exec::jobs::JobKind;
use crate::shared::EngineShared;

/// Deletes what no reader holds. Returns 0: a cleanup that works is not a job of its own
/// in `system.jobs`; only a failure is recorded.
pub async fn run_due(shared: &Arc<EngineShared>) -> Result<usize> {
    for (path, error) in shared.cold.delete_retired().await {
        let now = shared.now_millis();
        let job = shared.jobs.start(JobKind::FileCleanup.name(), None, None, now);
        shared.jobs.finish(job, now, Err(format!("deleting retired segment file {path}: {error}")));
    }
    Ok(0)
}

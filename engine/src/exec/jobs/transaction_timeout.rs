//! The transaction timeout job: ends transaction blocks idle for longer than
//! `EngineConfig::idle_in_transaction_timeout`, so a forgotten block cannot pin storage
//! (its view's snapshot and segment files) for ever. Each ended block is one
//! `transaction_timeout` job; its session's next statement gets 25P03. It takes no lock.

use std::sync::Arc;

use crate::error::Result;
use crate::exec::jobs::JobKind;
use crate::shared::EngineShared;

/// Ends the idle blocks. Returns how many.
pub async fn run_due(shared: &Arc<EngineShared>) -> Result<usize> {
    let Some(timeout) = shared.config.idle_in_transaction_timeout else { return Ok(0) };
    let now = shared.now_millis();
    let timeout_millis = i64::try_from(timeout.as_millis()).unwrap_or(i64::MAX);
    let ended = shared.blocks.expire_idle(now, timeout_millis);
    for _ in 0..ended {
        let job = shared.jobs.start(JobKind::TransactionTimeout.name(), None, None, now);
        shared.jobs.finish(job, now, Ok(0));
    }
    Ok(ended)
}

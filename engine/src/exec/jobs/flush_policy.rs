//! The flush policies' job: a table with `FLUSH_POLICY = 'rows:N'` is flushed once it
//! holds N hot rows (all scopes together), one with `interval:S` once it has hot rows
//! and S seconds (engine clock) have passed since its last flush, or since the engine
//! first saw it ([`span_has_passed`]: an interval longer than the engine clock can span
//! never comes due). Both may be given; either triggers. The flush is the same one FLUSH
//! TABLE runs ([`crate::exec::flush::flush_table`]), recorded as a `flush` job.

use std::sync::Arc;

use crate::catalog::TableEntry;
use crate::catalog::options::{MILLIS_PER_SECOND, span_has_passed};
use crate::error::Result;
use crate::exec::flush::{flush_table, flushable_tables};
use crate::exec::jobs::JobTally;
use crate::shared::EngineShared;
use crate::storage::{keys, off_async};

/// Flushes every table whose policy is due. Returns how many tables were flushed.
pub async fn run_due(shared: &Arc<EngineShared>) -> Result<usize> {
    let mut tally = JobTally::default();
    for table in flushable_tables(shared, None) {
        let Some(policy) = table.definition.options.flush_policy else { continue };
        let now = shared.now_millis();
        let last = shared.last_flush_millis(table.id(), now);
        let interval_due = policy.interval_seconds.is_some_and(|seconds| span_has_passed(last, now, seconds, MILLIS_PER_SECOND));
        let (work_shared, work_table) = (shared.clone(), table.clone());
        let due = off_async(move || is_due(&work_shared, &work_table, policy.rows, interval_due)).await?;
        if !due {
            continue;
        }
        tally.add(flush_table(shared, &table).await.map(|_| 1));
    }
    tally.finish()
}

/// Whether the table holds at least `rows` hot rows, or any hot row when the interval
/// has passed.
fn is_due(shared: &EngineShared, table: &TableEntry, rows: Option<u64>, interval_due: bool) -> Result<bool> {
    let prefix = keys::table_row_prefix(table.id());
    let upper = keys::prefix_upper_bound(&prefix).unwrap_or_default();
    let wanted = match (rows, interval_due) {
        (_, true) => 1,
        (Some(rows), false) => rows.max(1),
        (None, false) => return Ok(false),
    };
    shared.store.has_at_least(&prefix, &upper, wanted)
}

//! The STREAM side of the write path: rows keyed by arrival time and row id, MAX_ROWS
//! trimming in the inserting commit, EPHEMERAL tables that store nothing while nobody
//! subscribes, and, in a transaction block, rows keyed provisionally at the block's start
//! (COMMIT keys them again: `provider::txn_commit`) and TRUNCATE as removals of the keys
//! the block sees.

use datafusion::arrow::record_batch::RecordBatch;

use super::{TableWriter, UNASSIGNED_SEQ, column_readers};
use crate::error::Result;
use crate::provider::stream_rules::stream_visible_from;
use crate::storage::ChangeSet;
use crate::storage::keys;
use crate::storage::row_codec::{RowHeader, encode_row};

impl TableWriter {
    /// STREAM rows: keyed by arrival time and row id; the oldest rows over MAX_ROWS are
    /// removed in the same commit; nothing is stored for an EPHEMERAL table nobody
    /// subscribes to.
    pub(super) fn prepare_stream_insert(&self, batches: &[RecordBatch]) -> Result<ChangeSet> {
        let options = &self.entry.definition.options;
        let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
        let mut changes = self.new_changes();
        if self.transaction.is_some() {
            return self.provisional_stream_rows(batches, changes);
        }
        if rows == 0 || (options.ephemeral == Some(true) && !self.shared.live.watches_table(self.entry.id())) {
            return Ok(changes);
        }
        let store = &self.shared.store;
        let end = keys::prefix_upper_bound(&self.scope_prefix).unwrap_or_default();
        // Arrival never goes back within a scope (a system clock may step back): key order
        // stays arrival order and `_seq` order.
        let last_arrival = match store.cached_last_arrival(&self.scope_prefix) {
            Some(millis) => Some(millis),
            None => store.last_key(&self.scope_prefix, &end)?.and_then(|key| keys::stream_arrival_millis(&key[self.scope_prefix.len()..])),
        };
        let now = self.now_millis().max(last_arrival.unwrap_or(i64::MIN));
        changes.set_last_arrival_after(self.scope_prefix.clone(), now);
        // Rows of this statement beyond MAX_ROWS would be removed by its own commit.
        let keep_new = options.max_rows.map_or(rows, |max| rows.min(max as usize));
        let skip = rows - keep_new;
        if let Some(max) = options.max_rows {
            // The scope's row count is counted once, then kept by the writers of the
            // scope (all under its lock): trimming costs the rows it removes, not the
            // rows the scope holds.
            let stored = match store.cached_row_count(&self.scope_prefix) {
                Some(count) => count,
                None => store.count_keys(&self.scope_prefix, &end)?,
            };
            let excess = (stored + keep_new as u64).saturating_sub(max);
            if excess > 0 {
                // The first key that stays (the oldest `excess` go), or none: all go.
                let first_kept = store.key_after_oldest(&self.scope_prefix, &end, excess)?;
                changes.delete_range(self.scope_prefix.clone(), first_kept.unwrap_or_else(|| end.clone()));
            }
            changes.set_row_count_after(self.scope_prefix.clone(), stored + keep_new as u64 - excess);
        }
        changes.uses_row_ids();
        self.put_arrivals(batches, skip, now, &mut changes)?;
        Ok(changes)
    }

    /// Adds the rows of `batches` after the first `skip` to `changes`, keyed by arrival at
    /// `now` and a new row id each, `_updated` `now`.
    fn put_arrivals(&self, batches: &[RecordBatch], skip: usize, now: i64, changes: &mut ChangeSet) -> Result<()> {
        let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
        let version = self.entry.definition.schema_version;
        let mut row_id = self.shared.store.allocate_row_ids(rows.saturating_sub(skip) as u64);
        let readers = column_readers(batches.iter())?;
        let mut position = 0;
        for (batch_index, batch) in batches.iter().enumerate() {
            for row in 0..batch.num_rows() {
                position += 1;
                if position <= skip {
                    continue;
                }
                let mut key = self.scope_prefix.clone();
                key.extend_from_slice(&keys::stream_row_suffix(now, row_id));
                row_id += 1;
                let mut value = Vec::new();
                let header = RowHeader { schema_version: version, seq: UNASSIGNED_SEQ, updated_millis: now, deleted: false };
                encode_row(header, &readers[batch_index], row, &mut value);
                changes.put_row(key, value);
            }
        }
        Ok(())
    }

    /// STREAM rows inserted in a transaction block: keyed at the block's start, so the
    /// block reads them; COMMIT keys them again by arrival, trims MAX_ROWS and keeps
    /// EPHEMERAL's rule (`provider::txn_commit`), from the batches the block keeps.
    fn provisional_stream_rows(&self, batches: &[RecordBatch], mut changes: ChangeSet) -> Result<ChangeSet> {
        self.put_arrivals(batches, 0, self.now_millis(), &mut changes)?;
        Ok(changes)
    }

    /// A STREAM scope's rows removed outright in a transaction block (its TRUNCATE): every
    /// key the block sees, one by one (a block keeps no range deletions).
    pub(super) fn stream_truncate_in_block(&self, now: i64) -> Result<(ChangeSet, u64)> {
        let mut changes = self.new_changes();
        let visible_from = stream_visible_from(&self.entry, &self.scope_prefix, now);
        let end = keys::prefix_upper_bound(&self.scope_prefix);
        let mut count = 0;
        self.shared.store.scan_ranges_then(
            &self.at,
            &[(visible_from, end)],
            || true,
            |key, _| {
                changes.delete(key);
                count += 1;
                Ok(true)
            },
        )?;
        Ok((changes, count))
    }
}

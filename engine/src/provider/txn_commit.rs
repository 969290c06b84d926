//! COMMIT of a transaction block that wrote rows.
//!
//! 1. The write lock of every scope it wrote, in (table id, scope) order (every taker of
//!    several scope locks takes them in that order: no deadlock), each checking that its
//!    table is still the one written and its user still exists.
//! 2. In the store's commit section ([`crate::storage::Store::commit_checked`]), the check
//!    that nothing the transaction depends on changed since its view was taken: no key it
//!    wrote has a committed version newer than the view (first committer wins: REPEATABLE
//!    READ and SERIALIZABLE), and under SERIALIZABLE no scope it scanned was written and no
//!    key it looked up changed. A failed check is 40001 and writes nothing; a passed one
//!    writes every pending row in one batch, `_seq` values in the order the rows were
//!    written.
//! 3. Watched scopes get their committed rows on the live feed, still under their locks.
//!
//! Because the check and the write happen in one commit section, the committed
//! transactions are equivalent to running them one at a time in commit order.

use std::collections::HashMap;
use std::sync::Arc;

use crate::error::{EngineError, Result, SqlState};
use crate::provider::transaction::CommitWork;
use crate::provider::writer::{LockedWriter, TableWriter};
use crate::shared::EngineShared;
use crate::storage::keys;
use crate::storage::row_codec::{RowHeader, decode_header, rewrite_header};
use crate::storage::{ChangeSet, CommittedRow, ReadPoint, off_async, tiers};

/// Commits a transaction's pending rows; returns how many rows it wrote.
pub async fn commit(shared: &Arc<EngineShared>, work: CommitWork) -> Result<u64> {
    let mut locked: Vec<LockedWriter> = Vec::with_capacity(work.written.len());
    for ((_, scope), entry) in &work.written {
        locked.push(TableWriter::new(shared.clone(), entry.clone(), scope.clone()).lock().await?);
    }
    let shared = shared.clone();
    off_async(move || {
        let watched: Vec<bool> = locked.iter().map(LockedWriter::watched).collect();
        let keep_rows = watched.iter().any(|w| *w);
        let streams: Vec<Vec<u8>> = work
            .written
            .iter()
            .filter(|(_, entry)| entry.kind().rules().append_only)
            .map(|((table_id, scope), _)| keys::scope_row_prefix(*table_id, scope))
            .collect();
        let in_stream = |key: &[u8]| streams.iter().any(|prefix| key.starts_with(prefix));
        let rows = work.pending.clone().into_write_order();
        let count = rows.len() as u64;
        // The committed value of every key the feed needs (each written one) or whose
        // tombstone takes the values it deletes (each deleted one).
        let wanted: Vec<&(Vec<u8>, Option<Vec<u8>>)> =
            rows.iter().filter(|(key, value)| keep_rows || value.as_deref().is_some_and(is_tombstone) && !in_stream(key)).collect();
        let previous = current_values(&shared, &work, &wanted)?;
        let mut changes = if keep_rows { ChangeSet::keeping_rows() } else { ChangeSet::default() };
        for (key, value) in rows {
            match value {
                // A STREAM row's key is provisional: it is keyed again below.
                Some(_) if in_stream(&key) => {}
                Some(value) => {
                    let replaced = previous.get(&key).cloned().flatten();
                    let value = deleting(value, replaced.as_deref())?;
                    changes.put_row_over(key, value, replaced);
                }
                None => changes.delete(&key),
            }
        }
        if work.uses_row_ids {
            changes.uses_row_ids();
        }
        // STREAM rows: keyed by arrival now, MAX_ROWS trimmed and EPHEMERAL kept as a
        // statement outside a block does it, under the scope's lock.
        for (writer, ((table_id, scope), entry)) in locked.iter().zip(&work.written) {
            if !entry.kind().rules().append_only {
                continue;
            }
            if let Some(batches) = work.stream_rows.get(&(*table_id, scope.clone())) {
                changes.append(writer.prepare_insert(batches)?);
            }
            // A TRUNCATE in the block removed rows the count did not see go.
            let upper = keys::prefix_upper_bound(writer.scope_prefix());
            if work.pending.range(writer.scope_prefix(), upper.as_deref()).any(|(_, value)| value.is_none()) {
                changes.forget_row_count(writer.scope_prefix().to_vec());
            }
        }
        for writer in &locked {
            changes.changes_scope(writer.scope_prefix().to_vec());
        }
        let committed = shared.store.commit_checked(changes, || check_unchanged(&shared, &work))?;
        for (writer, watched) in locked.iter().zip(watched) {
            if watched {
                let rows: Vec<CommittedRow> =
                    committed.rows.iter().filter(|row| row.key.starts_with(writer.scope_prefix())).cloned().collect();
                writer.publish_rows(rows);
            }
        }
        drop(locked);
        Ok(count)
    })
    .await
}

/// Whether a stored value is a tombstone.
fn is_tombstone(value: &[u8]) -> bool {
    decode_header(value).is_ok_and(|header| header.deleted)
}

/// The value a pending row commits as. A tombstone over a committed live row holds that
/// row's values, as a DELETE outside a block does: a block that changed a row and then
/// deleted it removed the version others saw, and its own in-between version was never
/// visible (the change feed's delete shows the same row). Anything else is kept.
fn deleting(value: Vec<u8>, committed: Option<&[u8]>) -> Result<Vec<u8>> {
    let header = decode_header(&value)?;
    let Some(committed) = committed.filter(|_| header.deleted) else { return Ok(value) };
    let old = decode_header(committed)?;
    if old.deleted {
        return Ok(value);
    }
    let mut tombstone = committed.to_vec();
    rewrite_header(&mut tombstone, RowHeader { schema_version: old.schema_version, ..header })?;
    Ok(tombstone)
}

/// The committed value of each given key now (for the change feed's "before" rows and
/// the values a tombstone takes).
fn current_values(
    shared: &EngineShared,
    work: &CommitWork,
    rows: &[&(Vec<u8>, Option<Vec<u8>>)],
) -> Result<HashMap<Vec<u8>, Option<Vec<u8>>>> {
    let mut values = HashMap::with_capacity(rows.len());
    if rows.is_empty() {
        return Ok(values);
    }
    for (table_id, scope) in work.written.keys() {
        let prefix = keys::scope_row_prefix(*table_id, scope);
        let keys: Vec<Vec<u8>> = rows.iter().map(|(key, _)| key).filter(|key| key.starts_with(&prefix)).cloned().collect();
        let found = tiers::read_rows(&shared.store, &ReadPoint::now(), &shared.cold, *table_id, scope, prefix.len(), &keys)?;
        values.extend(keys.into_iter().zip(found));
    }
    Ok(values)
}

/// Fails with 40001 when something the transaction depends on changed since its view.
fn check_unchanged(shared: &EngineShared, work: &CommitWork) -> Result<()> {
    let since = work.view.seq();
    // STREAM rows are only ever appended: no key of theirs is written twice.
    for ((table_id, scope), _) in work.written.iter().filter(|(_, entry)| !entry.kind().rules().append_only) {
        let prefix = keys::scope_row_prefix(*table_id, scope);
        let upper = keys::prefix_upper_bound(&prefix);
        let written: Vec<Vec<u8>> = work.pending.range(&prefix, upper.as_deref()).map(|(key, _)| key.to_vec()).collect();
        if tiers::changed_since(&shared.store, &shared.cold, *table_id, scope, &written, since)? {
            return Err(conflict("concurrent update"));
        }
    }
    match &work.reads {
        Some(reads) if reads.changed(&shared.store, &shared.cold, None)? => Err(conflict("read/write dependencies among transactions")),
        _ => Ok(()),
    }
}

/// The 40001 of a commit whose check failed.
pub fn conflict(reason: &str) -> EngineError {
    EngineError::new(SqlState::SERIALIZATION_FAILURE, format!("could not serialize access due to {reason}; retry the transaction"))
}

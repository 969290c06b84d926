//! Flushing one scope of a table: its hot rows become a Parquet segment.
//!
//! The order makes every step safe to repeat and a crash at any point harmless:
//! 1. read the scope's hot rows (tombstones included) from one snapshot, without locks,
//!    and write them as a segment file (not visible: no manifest names it);
//! 2. under the scope's write lock, write the manifest that adds the segment (readers see
//!    it from the next manifest generation on);
//! 3. still under the lock, delete the hot rows the segment holds, only where the hot row
//!    is still the version flushed (a write that came in since keeps its row, newer than
//!    the segment's, so hot always wins).
//!
//! A crash after 1 leaves a file no manifest names (deleted when the engine opens); after
//! 2, hot rows equal to segment rows (hot wins, same values; the next flush of the scope
//! finds a listed segment holding its newest `_seq` and only finishes step 3). Each file
//! gets a new number from the hot store's file counter, so no name is written twice.

use std::sync::Arc;

use datafusion::arrow::array::AsArray;
use datafusion::arrow::datatypes::Int64Type;
use datafusion::arrow::record_batch::RecordBatch;

use crate::catalog::TableEntry;
use crate::config::FlushStep;
use crate::error::Result;
use crate::provider::assemble::BatchAssembler;
use crate::provider::request::ScanRequest;
use crate::shared::EngineShared;
use crate::storage::cold::names;
use crate::storage::cold::segment::{SegmentColumn, encode_segment, segment_schema};
use crate::storage::keys::{self, RowScope};
use crate::storage::row_codec::decode_header;
use crate::storage::{ChangeSet, off_async};

/// Hot rows deleted by one flush from which their range is compacted at once, so later
/// reads of the scope do not step over their tombstones.
const COMPACT_FROM_ROWS: usize = 10_000;

/// Rows per batch while a scope is read for flushing.
const FLUSH_BATCH_ROWS: usize = 64 * 1024;

/// Moves the hot rows of one scope into a new segment. Returns the rows flushed.
pub async fn flush_scope(shared: &Arc<EngineShared>, entry: &Arc<TableEntry>, scope: RowScope) -> Result<u64> {
    // The rows are read, and the segment's columns chosen, with the definition the table
    // has now, while no ALTER can commit: a row written since an ALTER has a schema
    // version the caller's older definition does not know, and its new columns belong in
    // the segment. A table dropped meanwhile flushes nothing.
    let schema_hold = shared.locks.hold_schema(entry.id()).await;
    let Some(entry) = shared.catalog.current(entry) else { return Ok(0) };
    let entry = &entry;
    let definition = &entry.definition;
    let columns = segment_columns(entry);
    let (work_shared, work_entry, work_scope, work_columns) = (shared.clone(), entry.clone(), scope.clone(), columns.clone());
    let batches = off_async(move || read_hot_rows(&work_shared, &work_entry, &work_scope, &work_columns)).await?;
    drop(schema_hold);
    let Some((max_seq, flushed)) = flushed_versions(&batches, columns.len()) else { return Ok(0) };
    let rows = flushed.len() as u64;
    let cold = &shared.cold;
    let (dir, _) = cold.next_manifest(entry.id(), &scope);
    // A segment holding the newest hot version holds every hot version (they are older,
    // so that flush's snapshot had them): a flush that stopped after its manifest.
    let already_listed = cold.scope(entry.id(), &scope).is_some_and(|s| s.manifest.segments.iter().any(|m| m.max_seq == max_seq));
    let segment = if already_listed {
        None
    } else {
        let version = definition.schema_version;
        let work_shared = shared.clone();
        let number = off_async(move || work_shared.store.allocate_file_number()).await?;
        let file = names::segment_file_name(entry.id(), number);
        let encoded = off_async(move || encode_segment(&columns, &batches, version, file)).await?;
        match encoded {
            Some((bytes, meta)) => {
                if let Err(error) = cold.put_segment(dir.file_path(&meta.file), bytes).await {
                    // DROP TABLE or DROP USER removed the folder meanwhile: nothing to flush.
                    return if scope_gone(shared, entry, &scope) { Ok(0) } else { Err(error) };
                }
                shared.observe_flush(FlushStep::SegmentWritten);
                Some(meta)
            }
            None => return Ok(0),
        }
    };
    let _guard = shared.locks.lock_scope(entry.id(), &scope).await;
    if scope_gone(shared, entry, &scope) {
        // Dropped meanwhile (the table or the user): the file written for it goes too.
        if let Some(segment) = &segment {
            cold.remove_files(vec![dir.file_path(&segment.file)]).await?;
        }
        return Ok(0);
    }
    if let Some(segment) = segment {
        let (dir, mut manifest) = cold.next_manifest(entry.id(), &scope);
        if let Some(current) = cold.scope(entry.id(), &scope) {
            manifest.segments = current.manifest.segments.clone();
        }
        manifest.segments.push(segment);
        cold.publish(dir, manifest).await?;
        shared.observe_flush(FlushStep::ManifestWritten);
    }
    let work_shared = shared.clone();
    let prefix = keys::scope_row_prefix(entry.id(), &scope);
    let compact = prefix.clone();
    let removed = off_async(move || remove_flushed_hot_rows(&work_shared, &prefix, &flushed)).await?;
    shared.observe_flush(FlushStep::HotRowsRemoved);
    drop(_guard);
    if removed >= COMPACT_FROM_ROWS {
        let work_shared = shared.clone();
        off_async(move || {
            work_shared.store.compact_prefix(&compact);
            Ok(())
        })
        .await?;
    }
    Ok(rows)
}

/// Whether the table or the user of `scope` was dropped.
pub fn scope_gone(shared: &EngineShared, entry: &TableEntry, scope: &RowScope) -> bool {
    let user_gone = match scope {
        RowScope::Shared => false,
        RowScope::User(user) => !shared.catalog.user_id_exists(*user),
    };
    user_gone || shared.catalog.current(entry).is_none()
}

/// The user columns of a segment written now: the table's current ones.
pub fn segment_columns(entry: &TableEntry) -> Vec<SegmentColumn> {
    entry.definition.columns.iter().map(|c| SegmentColumn { id: c.id, name: c.name.clone(), data_type: c.data_type.clone() }).collect()
}

/// The scope's hot rows, every version and tombstone, in segment layout and key order.
fn read_hot_rows(shared: &EngineShared, entry: &Arc<TableEntry>, scope: &RowScope, columns: &[SegmentColumn]) -> Result<Vec<RecordBatch>> {
    let sources = ScanRequest::segment_sources(columns.len());
    let request = ScanRequest::whole_scope(entry.clone(), scope.clone(), sources, true, FLUSH_BATCH_ROWS);
    let prefix = keys::scope_row_prefix(entry.id(), scope);
    let mut assembler = BatchAssembler::new(segment_schema(columns), &request, FLUSH_BATCH_ROWS)?;
    let mut batches = Vec::new();
    let mut collect = |batch: RecordBatch| {
        batches.push(batch);
        true
    };
    shared.store.scan_range(&prefix, keys::prefix_upper_bound(&prefix).as_deref(), |key, value| assembler.add(key, value, &mut collect))?;
    assembler.flush(&mut collect)?;
    Ok(batches)
}

/// Each flushed row's key (scope part excluded) with its `_seq`, in key order.
type FlushedVersions = Vec<(Vec<u8>, u64)>;

/// The largest `_seq` of the rows, and their versions; `None` without rows.
fn flushed_versions(batches: &[RecordBatch], user_columns: usize) -> Option<(u64, FlushedVersions)> {
    let mut flushed = Vec::new();
    let mut max_seq = 0;
    for batch in batches {
        let seqs = batch.column(user_columns).as_primitive::<Int64Type>();
        let keys = batch.column(user_columns + 3).as_binary::<i32>();
        for row in 0..batch.num_rows() {
            let seq = seqs.value(row) as u64;
            max_seq = max_seq.max(seq);
            flushed.push((keys.value(row).to_vec(), seq));
        }
    }
    (!flushed.is_empty()).then_some((max_seq, flushed))
}

/// Deletes the hot rows that still hold the flushed version (caller holds the scope's
/// write lock): one range deletion when nothing newer came in, else one per row.
/// Returns how many went.
fn remove_flushed_hot_rows(shared: &EngineShared, prefix: &[u8], flushed: &[(Vec<u8>, u64)]) -> Result<usize> {
    let upper = keys::prefix_upper_bound(prefix);
    let mut remove = Vec::new();
    let mut kept_newer = false;
    let mut next = 0;
    shared.store.scan_range(prefix, upper.as_deref(), |key, value| {
        let suffix = &key[prefix.len()..];
        while next < flushed.len() && flushed[next].0.as_slice() < suffix {
            next += 1;
        }
        let seq = decode_header(value)?.seq;
        if next < flushed.len() && flushed[next].0.as_slice() == suffix && flushed[next].1 == seq {
            remove.push(key.to_vec());
        } else {
            kept_newer = true;
        }
        Ok(true)
    })?;
    if remove.is_empty() {
        return Ok(0);
    }
    let mut changes = ChangeSet::default();
    if kept_newer {
        for key in &remove {
            changes.delete(key);
        }
    } else {
        changes.delete_range(prefix.to_vec(), upper.clone().unwrap_or_default());
    }
    shared.store.commit(changes)?;
    Ok(remove.len())
}

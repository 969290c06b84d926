//! Flushing one scope of a table: its hot rows become a Parquet segment.
//!
//! The order makes every step safe to repeat and a crash at any point harmless:
//! 1. read the scope's hot rows (tombstones included) from one snapshot, without locks,
//!    and stream them into a segment file batch by batch, uploaded in parts (not visible:
//!    no manifest names it), so memory stays bounded whatever the scope's size;
//! 2. under the scope's write lock, write the manifest that adds the segment (readers see
//!    it from the next manifest generation on);
//! 3. still under the lock, delete the hot rows the segment holds, only where the hot row
//!    is still the version flushed, known by its `_seq` (a write that came in since keeps
//!    its row, newer than the segment's, so hot always wins).
//!
//! A crash after 1 leaves a file no manifest names (deleted when the engine opens); after
//! 2, hot rows equal to segment rows (hot wins, same values; the next flush of the scope
//! finds a listed segment holding its newest `_seq` and only finishes step 3). Each file
//! gets a new number from the hot store's file counter, so no name is written twice.

use std::sync::Arc;

use datafusion::arrow::record_batch::RecordBatch;

use crate::catalog::TableEntry;
use crate::config::FlushStep;
use crate::error::Result;
use crate::provider::assemble::BatchAssembler;
use crate::provider::request::ScanRequest;
use crate::shared::EngineShared;
use crate::storage::cold::manifest::SegmentMeta;
use crate::storage::cold::names;
use crate::storage::cold::segment::{SegmentBuilder, SegmentColumn, segment_schema};
use crate::storage::keys::{self, RowScope};
use crate::storage::row_codec::decode_header;
use crate::storage::{ChangeSet, off_async};

/// Hot rows deleted by one flush from which their range is compacted at once, so later
/// reads of the scope do not step over their tombstones.
const COMPACT_FROM_ROWS: usize = 10_000;

/// Rows per batch while a scope is read for flushing.
const FLUSH_BATCH_ROWS: usize = 64 * 1024;

/// Hot rows deleted per commit when a flush removes them one by one.
const REMOVE_CHUNK: usize = 64 * 1024;

/// Moves the hot rows of one scope into a new segment. Returns the rows flushed.
pub async fn flush_scope(shared: &Arc<EngineShared>, entry: &Arc<TableEntry>, scope: RowScope) -> Result<u64> {
    // The rows are read, and the segment's columns chosen, with the definition the table
    // has now, while no ALTER can commit: a row written since an ALTER has a schema
    // version the caller's older definition does not know, and its new columns belong in
    // the segment. A table dropped meanwhile flushes nothing.
    let schema_hold = shared.locks.hold_schema(entry.id()).await;
    let Some(entry) = shared.catalog.current(entry) else { return Ok(0) };
    let entry = &entry;
    let prefix = keys::scope_row_prefix(entry.id(), &scope);
    let work_shared = shared.clone();
    let probe = prefix.clone();
    // A file number is a synced write: none for a scope without hot rows.
    let Some(number) = off_async(move || {
        let upper = keys::prefix_upper_bound(&probe).unwrap_or_default();
        if work_shared.store.first_key(&probe, &upper)?.is_none() {
            return Ok(None);
        }
        work_shared.store.allocate_file_number().map(Some)
    })
    .await?
    else {
        return Ok(0);
    };
    let (work_shared, work_entry, work_scope) = (shared.clone(), entry.clone(), scope.clone());
    let written = off_async(move || write_hot_segment(&work_shared, &work_entry, &work_scope, number)).await;
    drop(schema_hold);
    let written = match written {
        Ok(Some(written)) => written,
        Ok(None) => return Ok(0),
        // DROP TABLE or DROP USER removed the folder meanwhile: nothing to flush.
        Err(_) if scope_gone(shared, entry, &scope) => return Ok(0),
        Err(error) => return Err(error),
    };
    if written.segment.is_some() {
        shared.observe_flush(FlushStep::SegmentWritten);
    }
    let cold = &shared.cold;
    let _guard = shared.locks.lock_scope(entry.id(), &scope).await;
    if scope_gone(shared, entry, &scope) {
        // Dropped meanwhile (the table or the user): the file written for it goes too.
        if let Some(segment) = &written.segment {
            let (dir, _) = cold.next_manifest(entry.id(), &scope);
            cold.remove_files(vec![dir.file_path(&segment.file)]).await?;
        }
        return Ok(0);
    }
    if let Some(segment) = written.segment {
        let (dir, mut manifest) = cold.next_manifest(entry.id(), &scope);
        if let Some(current) = cold.scope(entry.id(), &scope) {
            manifest.segments = current.manifest.segments.clone();
        }
        manifest.segments.push(segment);
        cold.publish(dir, manifest).await?;
        shared.observe_flush(FlushStep::ManifestWritten);
    }
    let work_shared = shared.clone();
    let compact = prefix.clone();
    let max_seq = written.max_seq;
    let removed = off_async(move || remove_flushed_hot_rows(&work_shared, &prefix, max_seq)).await?;
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
    Ok(written.rows)
}

/// What a flush read from hot storage and wrote.
struct Written {
    /// Hot rows read (every version and tombstone).
    rows: u64,
    /// The largest `_seq` among them.
    max_seq: u64,
    /// The new segment; `None` when a listed segment already holds these rows (a flush
    /// that stopped after its manifest).
    segment: Option<SegmentMeta>,
}

/// Streams the scope's hot rows (every version and tombstone, in key order, from one
/// snapshot) into segment file `number`, batch by batch, uploading it in parts: memory
/// stays at one batch, one row group and one part whatever the scope's size. `None`
/// without hot rows.
fn write_hot_segment(shared: &EngineShared, entry: &Arc<TableEntry>, scope: &RowScope, number: u64) -> Result<Option<Written>> {
    let columns = segment_columns(entry);
    let sources = ScanRequest::segment_sources(columns.len());
    let request = ScanRequest::whole_scope(entry.clone(), scope.clone(), sources, true, FLUSH_BATCH_ROWS);
    let prefix = keys::scope_row_prefix(entry.id(), scope);
    let file = names::segment_file_name(entry.id(), number);
    let (dir, _) = shared.cold.next_manifest(entry.id(), scope);
    let upload = shared.cold.start_upload(dir.file_path(&file))?;
    let mut builder = SegmentBuilder::new(&columns, upload)?;
    let mut assembler = BatchAssembler::new(segment_schema(&columns), &request, FLUSH_BATCH_ROWS)?;
    let mut failure = None;
    let mut write = |batch: RecordBatch| match builder.add(&batch) {
        Ok(()) => true,
        Err(error) => {
            failure = Some(error);
            false
        }
    };
    shared.store.scan_range(&prefix, keys::prefix_upper_bound(&prefix).as_deref(), |key, value| assembler.add(key, value, &mut write))?;
    assembler.flush(&mut write)?;
    if let Some(error) = failure {
        return Err(error);
    }
    let (rows, max_seq) = (builder.rows(), builder.max_seq());
    if rows == 0 {
        return Ok(None);
    }
    // A segment holding the newest hot version holds every hot version (they are older,
    // so that flush's snapshot had them): a flush that stopped after its manifest. The
    // upload is dropped unfinished, which aborts it.
    let listed = shared.cold.scope(entry.id(), scope).is_some_and(|s| s.manifest.segments.iter().any(|m| m.max_seq == max_seq));
    if listed {
        return Ok(Some(Written { rows, max_seq, segment: None }));
    }
    let (upload, segment) = builder.finish(&columns, entry.definition.schema_version, file)?;
    upload.finish()?;
    Ok(Some(Written { rows, max_seq, segment }))
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

/// Deletes the hot rows the new segment holds (caller holds the scope's write lock):
/// every hot row whose `_seq` is at most `max_seq`, the newest the flush read. Commits
/// are written in `_seq` order, so the flush's snapshot held every commit up to some
/// `_seq` at least `max_seq`: a hot row with a `_seq` that small is the version it read,
/// and a row written since keeps its newer version. One range deletion when nothing newer
/// came in, else point deletions committed [`REMOVE_CHUNK`] at a time (a crash between
/// two leaves rows both hot and in the segment, which reads as one: hot wins). Returns
/// how many went.
fn remove_flushed_hot_rows(shared: &EngineShared, prefix: &[u8], max_seq: u64) -> Result<usize> {
    let upper = keys::prefix_upper_bound(prefix);
    let (mut flushed, mut newer) = (0usize, false);
    shared.store.scan_range(prefix, upper.as_deref(), |_, value| {
        if decode_header(value)?.seq <= max_seq {
            flushed += 1;
        } else {
            newer = true;
        }
        Ok(true)
    })?;
    if flushed == 0 {
        return Ok(0);
    }
    if !newer {
        let mut changes = ChangeSet::default();
        changes.delete_range(prefix.to_vec(), upper.unwrap_or_default());
        shared.store.commit(changes)?;
        return Ok(flushed);
    }
    let mut chunk = ChangeSet::default();
    let mut in_chunk = 0;
    shared.store.scan_range(prefix, upper.as_deref(), |key, value| {
        if decode_header(value)?.seq <= max_seq {
            chunk.delete(key);
            in_chunk += 1;
            if in_chunk == REMOVE_CHUNK {
                shared.store.commit(std::mem::take(&mut chunk))?;
                in_chunk = 0;
            }
        }
        Ok(true)
    })?;
    if in_chunk > 0 {
        shared.store.commit(chunk)?;
    }
    Ok(flushed)
}

//! Rewriting one scope's segments as one: the retention purge and compaction.
//!
//! The purge makes deleted rows older than `DELETED_RETENTION_HOURS` go for good. A
//! tombstone cannot simply be dropped (an older version of its key in an older segment
//! would come back), so the purge flushes the scope, merges every segment into one
//! ([`merge`]: the newest version of each key, tombstones included), leaves the expired
//! tombstones out, and publishes a manifest that lists only the new segment. Compaction
//! is the same rewrite keeping every tombstone: a scope flushed many times is read as one
//! file again, with one version per key. The old files are retired, not deleted at once:
//! a reader may still be reading them; a job run after the last such reader is done
//! deletes them (and the next open, whatever is left). A purge raises the scope's
//! retention horizon to the newest `_seq` it removed.

use std::sync::Arc;

use datafusion::arrow::array::{AsArray, BooleanArray};
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::datatypes::{Int64Type, TimestampMillisecondType};
use datafusion::arrow::record_batch::RecordBatch;

use crate::catalog::TableEntry;
use crate::error::{EngineError, Result};
use crate::provider::flush::{flush_scope, scope_gone, segment_columns};
use crate::provider::merge;
use crate::provider::request::ScanRequest;
use crate::shared::EngineShared;
use crate::storage::cold::segment::{SegmentBuilder, segment_schema};
use crate::storage::cold::{ColdScope, SegmentMeta, names};
use crate::storage::keys::{self, RowScope};
use crate::storage::off_async;

/// Purges the tombstones of `scope` last changed before `cutoff` (engine clock, ms).
/// Returns how many went. The caller holds the engine's segment-writes lock.
pub async fn purge_scope(shared: &Arc<EngineShared>, entry: &Arc<TableEntry>, scope: RowScope, cutoff: i64) -> Result<u64> {
    flush_scope(shared, entry, scope.clone()).await?;
    let Some(segments) = shared.cold.scope(entry.id(), &scope) else { return Ok(0) };
    if !segments.manifest.segments.iter().any(|s| s.oldest_tombstone_millis.is_some_and(|t| t < cutoff)) {
        return Ok(0);
    }
    Ok(rewrite(shared, entry, segments, Some(cutoff), "purged").await?.unwrap_or(0))
}

/// Merges the segments of `scope` (its hot rows flushed first) into one. Returns how
/// many segments were merged (none when there were fewer than two). The caller holds
/// the engine's segment-writes lock.
pub async fn compact_scope(shared: &Arc<EngineShared>, entry: &Arc<TableEntry>, scope: RowScope) -> Result<u64> {
    flush_scope(shared, entry, scope.clone()).await?;
    let Some(segments) = shared.cold.scope(entry.id(), &scope) else { return Ok(0) };
    let merged = segments.manifest.segments.len() as u64;
    if merged < 2 {
        return Ok(0);
    }
    // A table dropped meanwhile merged nothing.
    Ok(rewrite(shared, entry, segments, None, "compacted").await?.map_or(0, |_| merged))
}

/// Replaces the scope's segments by one holding their merged rows, without tombstones
/// older than `cutoff` (a purge) or with all of them (`None`: a compaction); `tag` names
/// the work in errors. Returns how many tombstones went (a purge that finds none leaves the
/// scope as it was), or `None` when the table was dropped meanwhile.
async fn rewrite(
    shared: &Arc<EngineShared>,
    entry: &Arc<TableEntry>,
    segments: Arc<ColdScope>,
    cutoff: Option<i64>,
    tag: &str,
) -> Result<Option<u64>> {
    let scope = segments.dir.scope.clone();
    // Read with the table's definition as it is now, while no ALTER can commit (as a
    // flush reads): segments and hot rows may hold schema versions newer than `entry`.
    let schema_hold = shared.locks.hold_schema(entry.id()).await;
    let Some(entry) = shared.catalog.current(entry) else { return Ok(None) };
    let entry = &entry;
    let (work_shared, work_entry, work_segments) = (shared.clone(), entry.clone(), segments.clone());
    let written = off_async(move || write_merged(&work_shared, &work_entry, &work_segments, cutoff)).await;
    drop(schema_hold);
    let Rewritten { segment, purged, newest_purged_seq } = match written {
        Ok(Some(written)) => written,
        Ok(None) => return Ok(Some(0)),
        // DROP TABLE or DROP USER removed the folder meanwhile: nothing to rewrite.
        Err(_) if scope_gone(shared, entry, &scope) => return Ok(None),
        Err(error) => return Err(error),
    };
    let (_, mut manifest) = shared.cold.next_manifest(entry.id(), &scope);
    manifest.purged_through_seq = manifest.purged_through_seq.max(newest_purged_seq);
    manifest.segments.extend(segment);
    let _guard = shared.locks.lock_scope(entry.id(), &scope).await;
    let current = shared.cold.scope(entry.id(), &scope);
    let still_there = shared.catalog.current(entry).is_some();
    if !still_there || current.as_ref().map(|c| &c.manifest) != Some(&segments.manifest) {
        let written = manifest.segments.iter().map(|s| segments.segment_path(s)).collect();
        shared.cold.remove_files(written).await?;
        if !still_there {
            return Ok(None);
        }
        return Err(EngineError::internal(format!("a scope's segments changed while they were being {tag}")));
    }
    // Publishing retires the files the new manifest no longer lists.
    shared.cold.publish(segments.dir.clone(), manifest).await?;
    Ok(Some(purged))
}

/// A scope's rows rewritten: the new segment (`None` when no row is left), how many
/// tombstones were left out, and the newest `_seq` among them (0: none).
struct Rewritten {
    segment: Option<SegmentMeta>,
    purged: u64,
    newest_purged_seq: u64,
}

/// Streams every segment of the scope merged (hot rows too, newest first), without the
/// tombstones older than `cutoff`, into a new segment file uploaded in parts: memory stays
/// at one batch per merged run, one row group and one part whatever the scope's size.
/// `None` for a purge that found nothing to leave out (the upload is dropped unfinished,
/// which aborts it).
fn write_merged(shared: &EngineShared, entry: &Arc<TableEntry>, segments: &ColdScope, cutoff: Option<i64>) -> Result<Option<Rewritten>> {
    let columns = segment_columns(entry);
    let user = columns.len();
    let scope = segments.dir.scope.clone();
    let request = ScanRequest::whole_scope(entry.clone(), scope.clone(), ScanRequest::segment_sources(user), true, 64 * 1024);
    let prefix = keys::scope_row_prefix(entry.id(), &scope);
    let ranges = vec![(prefix.clone(), keys::prefix_upper_bound(&prefix))];
    let schema = segment_schema(&columns);
    let file = names::segment_file_name(entry.id(), shared.store.allocate_file_number()?);
    let upload = shared.cold.start_upload(segments.dir.file_path(&file))?;
    let mut builder = SegmentBuilder::new(&columns, upload)?;
    let expired_before = cutoff.unwrap_or(i64::MIN);
    let (mut purged, mut newest_purged_seq) = (0u64, 0u64);
    let mut failed: Option<EngineError> = None;
    let mut keep = |batch: RecordBatch| {
        let deleted = batch.column(user + 2).as_boolean();
        let updated = batch.column(user + 1).as_primitive::<TimestampMillisecondType>();
        let seqs = batch.column(user).as_primitive::<Int64Type>();
        let mask: BooleanArray =
            (0..batch.num_rows()).map(|row| Some(!(deleted.value(row) && updated.value(row) < expired_before))).collect();
        purged += (batch.num_rows() - mask.true_count()) as u64;
        let newest = (0..batch.num_rows()).filter(|&row| !mask.value(row)).map(|row| seqs.value(row) as u64).max();
        newest_purged_seq = newest_purged_seq.max(newest.unwrap_or(0));
        let added = filter_record_batch(&batch, &mask)
            .map_err(|error| EngineError::internal(format!("purging rows: {error}")))
            .and_then(|kept| builder.add(&kept));
        match added {
            Ok(()) => true,
            Err(error) => {
                failed = Some(error);
                false
            }
        }
    };
    merge::run_merged(&shared.store, &shared.cold, segments, &schema, &request, &ranges, || true, merge::MergeSink::Single(&mut keep))?;
    // A merge stopped by an error must not replace the segments with part of their rows.
    if let Some(error) = failed {
        return Err(error);
    }
    if purged == 0 && cutoff.is_some() {
        return Ok(None);
    }
    let (upload, segment) = builder.finish(&columns, entry.definition.schema_version, file)?;
    if segment.is_some() {
        upload.finish()?;
    }
    Ok(Some(Rewritten { segment, purged, newest_purged_seq }))
}

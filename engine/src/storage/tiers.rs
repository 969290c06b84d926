//! Rows by key across both tiers: the point reader that writers (uniqueness, UPDATE,
//! DELETE) and key lookups share, so a flushed row is found exactly like a hot one.
//!
//! For each key the hot tier wins when it holds the key (a flush deletes a hot row only
//! while it is still the version the segment holds, so hot is always the newest), then
//! the newest segment holding it. A cold row comes back in the hot encoding
//! ([`super::row_codec`]) with its own schema version, `_seq`, `_updated` and tombstone
//! flag, so callers cannot tell the tiers apart.
//!
//! Reads without the scope's write lock check the manifest generation around their hot
//! read (see [`super::cold`]) and read again when a flush published in between; a read in
//! a transaction's view ([`ReadPoint`]) reads its snapshot and segment lists, which hang
//! together by construction, with the transaction's pending rows on top of hot storage.

use std::sync::Arc;

use datafusion::arrow::array::AsArray;
use datafusion::arrow::datatypes::{Int64Type, TimestampMillisecondType};
use datafusion::arrow::record_batch::RecordBatch;

use crate::error::{EngineError, Result, SqlState};
use crate::storage::cold::segment::TRAILING_COLUMNS;
use crate::storage::cold::{ColdScope, ColdStore};
use crate::storage::keys::{RowScope, TableId};
use crate::storage::read_point::ReadPoint;
use crate::storage::row_codec::{ColumnReader, RowHeader, decode_header, encode_row};
use crate::storage::store::Store;

/// The stored rows under `keys` (whole keys, `prefix_len` bytes of scope prefix), hot or
/// cold, in the hot encoding; deleted rows included (callers check the header).
pub fn read_rows(
    store: &Store,
    at: &ReadPoint,
    cold: &ColdStore,
    table_id: TableId,
    scope: &RowScope,
    prefix_len: usize,
    keys: &[Vec<u8>],
) -> Result<Vec<Option<Vec<u8>>>> {
    // Every lookup of keys through a read point is noted, found or not: under SERIALIZABLE
    // a key that was absent and is inserted before COMMIT changed what was read.
    at.note_keys(table_id, scope, keys, store.last_seq());
    let (mut rows, segments) = hot_rows_and_segments(store, at, cold, table_id, scope, keys)?;
    if let Some(segments) = segments {
        fill_from_cold(cold, &segments, prefix_len, keys, &mut rows)?;
    }
    Ok(rows)
}

/// Values of hot rows by key, `None` where hot storage has no row.
type HotRows = Vec<Option<Vec<u8>>>;

/// The hot rows under `keys` and the scope's segment list, read as one view: again when
/// a flush published between the two.
fn hot_rows_and_segments<K: AsRef<[u8]>>(
    store: &Store,
    at: &ReadPoint,
    cold: &ColdStore,
    table_id: TableId,
    scope: &RowScope,
    keys: &[K],
) -> Result<(HotRows, Option<Arc<ColdScope>>)> {
    if !at.is_now() {
        return Ok((store.multi_get(at, keys)?, at.cold_scope(cold, table_id, scope)));
    }
    loop {
        let generation = cold.generation();
        let segments = cold.scope(table_id, scope);
        let rows = store.multi_get(at, keys)?;
        if cold.generation() == generation {
            return Ok((rows, segments));
        }
    }
}

/// Whether each key holds a live (not deleted) row in either tier.
pub fn live_keys(
    store: &Store,
    at: &ReadPoint,
    cold: &ColdStore,
    table_id: TableId,
    scope: &RowScope,
    prefix_len: usize,
    keys: &[&[u8]],
) -> Result<Vec<bool>> {
    let (hot, segments) = hot_rows_and_segments(store, at, cold, table_id, scope, keys)?;
    let mut live = Vec::with_capacity(keys.len());
    for (key, value) in keys.iter().zip(hot) {
        live.push(match value {
            Some(value) => !decode_header(&value)?.deleted,
            None => match &segments {
                Some(segments) => match find_cold(cold, segments, &key[prefix_len..])? {
                    Some((segment, row)) => !cold.segment_keys(segments, &segments.manifest.segments[segment])?.deleted.value(row),
                    None => false,
                },
                None => false,
            },
        });
    }
    Ok(live)
}

/// Whether any of `keys` (whole keys of one scope) has a version committed after `since`,
/// or the scope's retention purge removed tombstones after it (their traces are gone).
pub fn changed_since(store: &Store, cold: &ColdStore, table_id: TableId, scope: &RowScope, keys: &[Vec<u8>], since: u64) -> Result<bool> {
    if keys.is_empty() {
        return Ok(false);
    }
    if cold.scope_horizon(table_id, scope) > since {
        return Ok(true);
    }
    let prefix_len = crate::storage::keys::scope_row_prefix(table_id, scope).len();
    for value in read_rows(store, &ReadPoint::now(), cold, table_id, scope, prefix_len, keys)?.into_iter().flatten() {
        if decode_header(&value)?.seq > since {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Whether no row of either tier has a key in `[first, last]` (whole keys).
#[allow(clippy::too_many_arguments)]
pub fn span_is_empty(
    store: &Store,
    at: &ReadPoint,
    cold: &ColdStore,
    table_id: TableId,
    scope: &RowScope,
    prefix_len: usize,
    first: &[u8],
    last: &[u8],
) -> Result<bool> {
    if let Some(segments) = at.cold_scope(cold, table_id, scope) {
        let upper = [&last[prefix_len..], &[0u8][..]].concat();
        if segments.manifest.segments.iter().any(|s| s.may_hold_keys(&first[prefix_len..], Some(&upper))) {
            return Ok(false);
        }
    }
    store.range_is_empty(at, first, last)
}

/// The newest segment holding `key` (scope part excluded), and the row number in it.
fn find_cold(cold: &ColdStore, segments: &ColdScope, key: &[u8]) -> Result<Option<(usize, usize)>> {
    let just_after = [key, &[0u8][..]].concat();
    for (index, segment) in segments.manifest.segments.iter().enumerate().rev() {
        if !segment.may_hold_keys(key, Some(&just_after)) {
            continue;
        }
        if let Some(row) = cold.segment_keys(segments, segment)?.find(key) {
            return Ok(Some((index, row)));
        }
    }
    Ok(None)
}

/// Fills the keys hot storage did not have from the segments, re-encoded (from the
/// segments' decoded row groups, which the cold store keeps for the next lookups).
fn fill_from_cold(cold: &ColdStore, segments: &ColdScope, prefix_len: usize, keys: &[Vec<u8>], rows: &mut [Option<Vec<u8>>]) -> Result<()> {
    for (position, key) in keys.iter().enumerate() {
        if rows[position].is_some() {
            continue;
        }
        let Some((index, row)) = find_cold(cold, segments, &key[prefix_len..])? else { continue };
        let segment = &segments.manifest.segments[index];
        let (group, offset) = cold.group_of(segments, segment, row)?;
        let batch = cold.row_group(segments, segment, group)?;
        rows[position] = Some(encode_segment_row(&batch, offset, segment.schema_version, &segment.file)?);
    }
    Ok(())
}

/// Row `row` of a segment batch (every column) in the hot encoding.
fn encode_segment_row(batch: &RecordBatch, row: usize, schema_version: u32, file: &str) -> Result<Vec<u8>> {
    let corrupt = || EngineError::new(SqlState::DATA_CORRUPTED, format!("segment {file} does not have the segment layout"));
    let user = batch.num_columns().checked_sub(TRAILING_COLUMNS).ok_or_else(corrupt)?;
    let readers = batch.columns()[..user].iter().map(ColumnReader::new).collect::<Result<Vec<_>>>()?;
    let seqs = batch.column(user).as_primitive_opt::<Int64Type>().ok_or_else(corrupt)?;
    let updated = batch.column(user + 1).as_primitive_opt::<TimestampMillisecondType>().ok_or_else(corrupt)?;
    let deleted = batch.column(user + 2).as_boolean_opt().ok_or_else(corrupt)?;
    let header = RowHeader { schema_version, seq: seqs.value(row) as u64, updated_millis: updated.value(row), deleted: deleted.value(row) };
    let mut value = Vec::new();
    encode_row(header, &readers, row, &mut value);
    Ok(value)
}

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
//! read (see [`super::cold`]) and read again when a flush published in between.

use datafusion::arrow::array::AsArray;
use datafusion::arrow::datatypes::{Int64Type, TimestampMillisecondType};

use crate::error::Result;
use crate::storage::cold::{ColdScope, ColdStore};
use crate::storage::keys::{RowScope, TableId};
use crate::storage::row_codec::{ColumnReader, RowHeader, decode_header, encode_row};
use crate::storage::store::Store;

/// The stored rows under `keys` (whole keys, `prefix_len` bytes of scope prefix), hot or
/// cold, in the hot encoding; deleted rows included (callers check the header).
pub fn read_rows(
    store: &Store,
    cold: &ColdStore,
    table_id: TableId,
    scope: &RowScope,
    prefix_len: usize,
    keys: &[Vec<u8>],
) -> Result<Vec<Option<Vec<u8>>>> {
    let (mut rows, segments) = loop {
        let generation = cold.generation();
        let segments = cold.scope(table_id, scope);
        let rows = store.multi_get(keys)?;
        if cold.generation() == generation {
            break (rows, segments);
        }
    };
    if let Some(segments) = segments {
        fill_from_cold(cold, &segments, prefix_len, keys, &mut rows)?;
    }
    Ok(rows)
}

/// Whether each key holds a live (not deleted) row in either tier.
pub fn live_keys(
    store: &Store,
    cold: &ColdStore,
    table_id: TableId,
    scope: &RowScope,
    prefix_len: usize,
    keys: &[&[u8]],
) -> Result<Vec<bool>> {
    let (hot, segments) = loop {
        let generation = cold.generation();
        let segments = cold.scope(table_id, scope);
        let hot = store.multi_get(keys)?;
        if cold.generation() == generation {
            break (hot, segments);
        }
    };
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

/// Whether no row of either tier has a key in `[first, last]` (whole keys).
pub fn span_is_empty(
    store: &Store,
    cold: &ColdStore,
    table_id: TableId,
    scope: &RowScope,
    prefix_len: usize,
    first: &[u8],
    last: &[u8],
) -> Result<bool> {
    if let Some(segments) = cold.scope(table_id, scope) {
        let upper = [&last[prefix_len..], &[0u8][..]].concat();
        if segments.manifest.segments.iter().any(|s| s.may_hold_keys(&first[prefix_len..], Some(&upper))) {
            return Ok(false);
        }
    }
    store.range_is_empty(first, last)
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

/// Fills the keys hot storage did not have from the segments, re-encoded.
fn fill_from_cold(
    cold: &ColdStore,
    segments: &ColdScope,
    prefix_len: usize,
    keys: &[Vec<u8>],
    rows: &mut [Option<Vec<u8>>],
) -> Result<()> {
    // (segment, row in segment, position in `keys`)
    let mut wanted: Vec<(usize, usize, usize)> = Vec::new();
    for (position, key) in keys.iter().enumerate() {
        if rows[position].is_none()
            && let Some((segment, row)) = find_cold(cold, segments, &key[prefix_len..])?
        {
            wanted.push((segment, row, position));
        }
    }
    wanted.sort_unstable();
    for group in wanted.chunk_by(|a, b| a.0 == b.0) {
        let segment = &segments.manifest.segments[group[0].0];
        let user_columns = segment.columns.len();
        let mut row_numbers: Vec<usize> = group.iter().map(|w| w.1).collect();
        row_numbers.dedup();
        let columns: Vec<usize> = (0..user_columns + 3).collect();
        let batches = cold.read_segment(segments, segment, &columns, Some(&row_numbers), row_numbers.len().max(1))?;
        let mut decoded = Vec::with_capacity(row_numbers.len());
        for batch in &batches {
            let readers = batch.columns()[..user_columns].iter().map(ColumnReader::new).collect::<Result<Vec<_>>>()?;
            let seqs = batch.column(user_columns).as_primitive::<Int64Type>();
            let updated = batch.column(user_columns + 1).as_primitive::<TimestampMillisecondType>();
            let deleted = batch.column(user_columns + 2).as_boolean();
            for row in 0..batch.num_rows() {
                let header = RowHeader {
                    schema_version: segment.schema_version,
                    seq: seqs.value(row) as u64,
                    updated_millis: updated.value(row),
                    deleted: deleted.value(row),
                };
                let mut value = Vec::new();
                encode_row(header, &readers, row, &mut value);
                decoded.push(value);
            }
        }
        for (segment_row, _, position) in group.iter().map(|w| (w.1, w.0, w.2)) {
            let at = row_numbers.binary_search(&segment_row).expect("every wanted row was read");
            rows[position] = decoded.get(at).cloned();
        }
    }
    Ok(())
}

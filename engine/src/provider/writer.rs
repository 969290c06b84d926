//! The write paths of engine tables: INSERT, UPDATE, DELETE (soft) and TRUNCATE (soft).
//!
//! Each runs under the engine-wide write lock, validates everything first (NOT NULL,
//! primary-key uniqueness against storage and within the statement), and then commits all
//! of the statement's rows in one atomic batch. A failing statement writes nothing and
//! hands back the `_seq` values it had taken.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::ScalarValue;

use crate::catalog::TableEntry;
use crate::engine::EngineShared;
use crate::error::{EngineError, Result, SqlState};
use crate::storage::key_codec::{decode_key_values, encode_key_row, encode_row_id};
use crate::storage::keys::{self, RowScope};
use crate::storage::row_codec::{ColumnReader, RowHeader, decode_header, encode_row, rewrite_header};
use crate::storage::{ChangeSet, WriteGuard};

/// Writes to one scope of one table.
pub struct TableWriter<'a> {
    shared: &'a EngineShared,
    entry: &'a Arc<TableEntry>,
    scope_prefix: Vec<u8>,
}

impl<'a> TableWriter<'a> {
    pub fn new(shared: &'a EngineShared, entry: &'a Arc<TableEntry>, scope: &RowScope) -> Self {
        let scope_prefix = keys::scope_row_prefix(entry.id(), scope);
        TableWriter { shared, entry, scope_prefix }
    }

    /// Runs `build` and commits its changes, or hands back its `_seq` values when it fails.
    fn statement(
        &self,
        guard: &WriteGuard<'_>,
        build: impl FnOnce(&WriteGuard<'_>, &mut ChangeSet) -> Result<u64>,
    ) -> Result<u64> {
        let store = &self.shared.store;
        let seq_before = store.last_seq();
        let mut changes = ChangeSet::default();
        match build(guard, &mut changes) {
            Ok(count) => {
                if !changes.is_empty() {
                    store.commit(guard, changes)?;
                }
                Ok(count)
            }
            Err(error) => {
                store.abandon(guard, changes, seq_before);
                Err(error)
            }
        }
    }

    /// Inserts every row of `batches` (columns in table order). Returns the row count.
    pub fn insert(&self, guard: &WriteGuard<'_>, batches: &[RecordBatch]) -> Result<u64> {
        for batch in batches {
            self.check_not_null(batch.columns())?;
        }
        let now = self.shared.now_millis();
        self.statement(guard, |guard, changes| {
            let store = &self.shared.store;
            let version = self.entry.definition.schema_version;
            let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
            let mut planned: Vec<(Vec<u8>, usize, usize, u64)> = Vec::with_capacity(rows);
            for (batch_index, batch) in batches.iter().enumerate() {
                let key_arrays: Vec<&ArrayRef> = self.entry.key_columns.iter().map(|&i| batch.column(i)).collect();
                for row in 0..batch.num_rows() {
                    let seq = store.next_seq(guard, changes);
                    let mut key = self.scope_prefix.clone();
                    if self.entry.has_primary_key() {
                        encode_key_row(&key_arrays, row, &mut key)?;
                    } else {
                        key.extend_from_slice(&encode_row_id(seq));
                    }
                    planned.push((key, batch_index, row, seq));
                }
            }
            if self.entry.has_primary_key() {
                let keys: Vec<&[u8]> = planned.iter().map(|(k, ..)| k.as_slice()).collect();
                self.refuse_duplicates(&keys)?;
                self.refuse_live_keys(&keys)?;
            }
            let readers = column_readers(batches.iter())?;
            let mut value = Vec::new();
            for (key, batch_index, row, seq) in &planned {
                value.clear();
                let header = RowHeader { schema_version: version, seq: *seq, updated_millis: now, deleted: false };
                encode_row(header, &readers[*batch_index], *row, &mut value);
                changes.put(key, &value);
            }
            Ok(planned.len() as u64)
        })
    }

    /// Applies UPDATE results: each row of `batches` holds the new values of the user
    /// columns (table order) in its first columns and the row's current key in `row_keys`.
    pub fn update(&self, guard: &WriteGuard<'_>, batches: &[(RecordBatch, ArrayRef)]) -> Result<u64> {
        for (batch, _) in batches {
            self.check_not_null(batch.columns())?;
        }
        let now = self.shared.now_millis();
        self.statement(guard, |guard, changes| {
            let store = &self.shared.store;
            let version = self.entry.definition.schema_version;
            // Old key -> (batch, row); the first match of a row wins.
            let mut targets: Vec<(Vec<u8>, usize, usize)> = Vec::new();
            let mut seen_old = HashSet::new();
            for (batch_index, (_, row_keys)) in batches.iter().enumerate() {
                let row_keys = row_keys.as_binary::<i32>();
                for row in 0..row_keys.len() {
                    let key = [self.scope_prefix.as_slice(), row_keys.value(row)].concat();
                    if seen_old.insert(key.clone()) {
                        targets.push((key, batch_index, row));
                    }
                }
            }
            let old_keys: Vec<Vec<u8>> = targets.iter().map(|(k, ..)| k.clone()).collect();
            let current = store.multi_get(&old_keys)?;
            let mut live: Vec<(Vec<u8>, usize, usize, Vec<u8>)> = Vec::new();
            for ((key, batch_index, row), value) in targets.into_iter().zip(current) {
                if let Some(value) = value
                    && !decode_header(&value)?.deleted
                {
                    live.push((key, batch_index, row, value));
                }
            }
            let vacated: HashSet<&Vec<u8>> = live.iter().map(|(k, ..)| k).collect();
            let mut new_keys: Vec<Vec<u8>> = Vec::with_capacity(live.len());
            let mut claimed: HashMap<Vec<u8>, ()> = HashMap::new();
            for (old_key, batch_index, row, _) in &live {
                let new_key = if self.entry.has_primary_key() {
                    let batch = &batches[*batch_index].0;
                    let arrays: Vec<&ArrayRef> = self.entry.key_columns.iter().map(|&i| batch.column(i)).collect();
                    let mut key = self.scope_prefix.clone();
                    encode_key_row(&arrays, *row, &mut key)?;
                    key
                } else {
                    old_key.clone()
                };
                if claimed.insert(new_key.clone(), ()).is_some() {
                    return Err(self.duplicate_key(&new_key));
                }
                new_keys.push(new_key);
            }
            // A new key may land on a live row only if that row is itself being updated.
            let moved: Vec<Vec<u8>> = live
                .iter()
                .zip(&new_keys)
                .filter(|((old, ..), new)| old != *new && !vacated.contains(new))
                .map(|(_, new)| new.clone())
                .collect();
            let moved: Vec<&[u8]> = moved.iter().map(Vec::as_slice).collect();
            self.refuse_live_keys(&moved)?;
            let readers = column_readers(batches.iter().map(|(batch, _)| batch))?;
            let new_key_set: HashSet<&Vec<u8>> = new_keys.iter().collect();
            let mut value = Vec::new();
            for ((old_key, batch_index, row, mut old_value), new_key) in live.iter().cloned().zip(&new_keys) {
                if &old_key != new_key && !new_key_set.contains(&old_key) {
                    let seq = store.next_seq(guard, changes);
                    let header = decode_header(&old_value)?;
                    rewrite_header(&mut old_value, RowHeader { seq, updated_millis: now, deleted: true, ..header })?;
                    changes.put(&old_key, &old_value);
                }
                let seq = store.next_seq(guard, changes);
                value.clear();
                let header = RowHeader { schema_version: version, seq, updated_millis: now, deleted: false };
                encode_row(header, &readers[batch_index], row, &mut value);
                changes.put(new_key, &value);
            }
            Ok(live.len() as u64)
        })
    }

    /// Soft-deletes the rows with these keys (primary-key part only). Returns how many
    /// live rows were deleted.
    pub fn delete(&self, guard: &WriteGuard<'_>, row_keys: &[ArrayRef]) -> Result<u64> {
        let now = self.shared.now_millis();
        self.statement(guard, |guard, changes| {
            let store = &self.shared.store;
            let mut keys = Vec::new();
            let mut seen = HashSet::new();
            for array in row_keys {
                let array = array.as_binary::<i32>();
                for row in 0..array.len() {
                    let key = [self.scope_prefix.as_slice(), array.value(row)].concat();
                    if seen.insert(key.clone()) {
                        keys.push(key);
                    }
                }
            }
            let mut count = 0;
            for (key, value) in keys.iter().zip(store.multi_get(&keys)?) {
                let Some(mut value) = value else { continue };
                let header = decode_header(&value)?;
                if header.deleted {
                    continue;
                }
                let seq = store.next_seq(guard, changes);
                rewrite_header(&mut value, RowHeader { seq, updated_millis: now, deleted: true, ..header })?;
                changes.put(key, &value);
                count += 1;
            }
            Ok(count)
        })
    }

    /// Soft-deletes every live row of the scope.
    pub fn truncate(&self, guard: &WriteGuard<'_>) -> Result<u64> {
        let now = self.shared.now_millis();
        self.statement(guard, |guard, changes| {
            let store = &self.shared.store;
            let mut count = 0;
            let upper = keys::prefix_upper_bound(&self.scope_prefix);
            let mut rewrites = Vec::new();
            store.scan_range(&self.scope_prefix, upper.as_deref(), |key, value| {
                if !decode_header(value)?.deleted {
                    rewrites.push((key.to_vec(), value.to_vec()));
                }
                Ok(true)
            })?;
            for (key, mut value) in rewrites {
                let header = decode_header(&value)?;
                let seq = store.next_seq(guard, changes);
                rewrite_header(&mut value, RowHeader { seq, updated_millis: now, deleted: true, ..header })?;
                changes.put(&key, &value);
                count += 1;
            }
            Ok(count)
        })
    }

    /// Fails with a unique violation on the first key (in statement order) that appears
    /// twice among `keys`.
    fn refuse_duplicates(&self, keys: &[&[u8]]) -> Result<()> {
        // Bulk loads usually come in key order, which rules duplicates out without hashing.
        if keys.windows(2).all(|pair| pair[0] < pair[1]) {
            return Ok(());
        }
        let mut seen = HashSet::with_capacity(keys.len());
        for key in keys {
            if !seen.insert(*key) {
                return Err(self.duplicate_key(key));
            }
        }
        Ok(())
    }

    /// Fails with a unique violation if any of `keys` holds a live row.
    fn refuse_live_keys(&self, keys: &[&[u8]]) -> Result<()> {
        // A batch whose whole key span is empty in storage cannot collide: one seek.
        const SPAN_CHECK_FROM: usize = 8;
        if keys.len() >= SPAN_CHECK_FROM {
            let first = keys.iter().min().expect("not empty");
            let last = keys.iter().max().expect("not empty");
            if self.shared.store.range_is_empty(first, last)? {
                return Ok(());
            }
        }
        for (key, existing) in keys.iter().zip(self.shared.store.multi_get(keys)?) {
            if let Some(value) = existing
                && !decode_header(&value)?.deleted
            {
                return Err(self.duplicate_key(key));
            }
        }
        Ok(())
    }

    fn check_not_null(&self, columns: &[ArrayRef]) -> Result<()> {
        for (column, definition) in columns.iter().zip(&self.entry.definition.columns) {
            if !definition.nullable && column.null_count() > 0 {
                return Err(EngineError::new(
                    SqlState::NOT_NULL_VIOLATION,
                    format!(
                        "null value in column {} of table {} violates its NOT NULL constraint",
                        definition.name,
                        self.entry.definition.qualified_name()
                    ),
                ));
            }
        }
        Ok(())
    }

    fn duplicate_key(&self, key: &[u8]) -> EngineError {
        let values = decode_key_values(&self.entry.key_types(), &key[self.scope_prefix.len()..])
            .map(|values| values.iter().map(render_key_value).collect::<Vec<_>>().join(", "))
            .unwrap_or_else(|_| "?".into());
        EngineError::new(
            SqlState::UNIQUE_VIOLATION,
            format!(
                "duplicate key ({})=({}) violates the primary key of table {}",
                self.entry.key_names().join(", "),
                values,
                self.entry.definition.qualified_name()
            ),
        )
    }
}

/// Encoders for every column of every batch.
fn column_readers<'b>(batches: impl Iterator<Item = &'b RecordBatch>) -> Result<Vec<Vec<ColumnReader<'b>>>> {
    batches.map(|batch| batch.columns().iter().map(ColumnReader::new).collect()).collect()
}

fn render_key_value(value: &ScalarValue) -> String {
    match value {
        ScalarValue::Utf8(Some(s)) | ScalarValue::Utf8View(Some(s)) | ScalarValue::LargeUtf8(Some(s)) => s.clone(),
        other => other.to_string(),
    }
}

//! INSERT into tables with soft deletes: rows validated on their own and encoded (no lock
//! needed), then checked against the stored rows (under the scope's lock) and added to the
//! statement's change set. STREAM tables take their own path ([`super::stream`]).

use std::collections::HashSet;

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::record_batch::RecordBatch;

use crate::error::Result;
use crate::provider::writer::{TableWriter, UNASSIGNED_SEQ, column_readers};
use crate::storage::ChangeSet;
use crate::storage::key_codec::{encode_key_row, encode_row_id};
use crate::storage::row_codec::{RowHeader, encode_row};

impl TableWriter {
    /// Validates and encodes INSERT rows and checks them against the stored rows (the
    /// caller holds the scope's lock): the statement's change set, not yet committed.
    pub(super) fn prepare_insert(&self, batches: &[RecordBatch]) -> Result<ChangeSet> {
        if self.appends_only() {
            for batch in batches {
                self.check_not_null(batch.columns())?;
            }
            return self.prepare_stream_insert(batches);
        }
        let encoded = self.encode_insert(batches)?;
        self.refuse_stored_keys(&encoded)?;
        let mut changes = self.new_changes();
        encoded.add_to(&mut changes);
        Ok(changes)
    }

    /// Validates an INSERT's rows on their own (NOT NULL, no key twice) and encodes them:
    /// nothing here reads storage, so it needs no lock. Not for STREAM tables.
    pub(super) fn encode_insert(&self, batches: &[RecordBatch]) -> Result<EncodedInsert> {
        for batch in batches {
            self.check_not_null(batch.columns())?;
        }
        let now = self.now_millis();
        let version = self.entry.definition.schema_version;
        let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
        let uses_row_ids = !self.entry.has_primary_key();
        let mut next_row_id = if uses_row_ids { self.shared.store.allocate_row_ids(rows as u64) } else { 0 };
        let mut planned: Vec<(Vec<u8>, usize, usize)> = Vec::with_capacity(rows);
        for (batch_index, batch) in batches.iter().enumerate() {
            let key_arrays: Vec<&ArrayRef> = self.entry.key_columns.iter().map(|&i| batch.column(i)).collect();
            for row in 0..batch.num_rows() {
                let mut key = self.scope_prefix.clone();
                if uses_row_ids {
                    key.extend_from_slice(&encode_row_id(next_row_id));
                    next_row_id += 1;
                } else {
                    encode_key_row(&key_arrays, row, &mut key)?;
                }
                planned.push((key, batch_index, row));
            }
        }
        if !uses_row_ids {
            let keys: Vec<&[u8]> = planned.iter().map(|(k, ..)| k.as_slice()).collect();
            self.refuse_duplicates(&keys)?;
        }
        let readers = column_readers(batches.iter())?;
        let header = RowHeader { schema_version: version, seq: UNASSIGNED_SEQ, updated_millis: now, deleted: false };
        let rows = planned
            .into_iter()
            .map(|(key, batch_index, row)| {
                let mut value = Vec::new();
                encode_row(header, &readers[batch_index], row, &mut value);
                (key, value)
            })
            .collect();
        Ok(EncodedInsert { rows, uses_row_ids, updated_millis: now })
    }

    /// Fails with a unique violation if a row of `encoded` would land on a live row.
    pub(super) fn refuse_stored_keys(&self, encoded: &EncodedInsert) -> Result<()> {
        if encoded.uses_row_ids {
            return Ok(());
        }
        let keys: Vec<&[u8]> = encoded.rows.iter().map(|(k, _)| k.as_slice()).collect();
        self.refuse_live_keys(&keys)
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
}

/// An INSERT's rows, validated on their own and encoded with `_seq` unassigned: what is
/// left is the check against stored rows and the commit.
#[derive(Default)]
pub(crate) struct EncodedInsert {
    pub(super) rows: Vec<(Vec<u8>, Vec<u8>)>,
    /// The table has no primary key: the keys are fresh internal row ids.
    pub(super) uses_row_ids: bool,
    /// The `_updated` the rows carry.
    pub(super) updated_millis: i64,
}

impl EncodedInsert {
    pub(super) fn add_to(self, changes: &mut ChangeSet) {
        if self.uses_row_ids {
            changes.uses_row_ids();
        }
        for (key, value) in self.rows {
            changes.put_row(key, value);
        }
    }
}

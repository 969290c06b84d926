//! Turning stored rows (key, hot-encoded value) into Arrow batches in a scan's column
//! layout: user columns decoded with the layout of each row's schema version, system
//! columns from the row header, the row key from the key.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, BinaryBuilder, BooleanArray, Int64Array, TimestampMillisecondArray};
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};

use crate::catalog::{SystemColumn, TableEntry};
use crate::error::{EngineError, Result};
use crate::provider::request::{ColumnSource, ScanRequest};
use crate::storage::keys::{self, RowScope};
use crate::storage::row_codec::{RowDecoder, RowHeader, decode_header};

/// Accumulates decoded rows until a batch is full.
pub struct BatchAssembler<'a> {
    schema: SchemaRef,
    request: &'a ScanRequest,
    /// Positions in the output of user columns, and their definition index.
    user_outputs: Vec<(usize, usize)>,
    /// One decoder per schema version seen (usually one: a short list beats hashing per row).
    decoders: Vec<(u32, RowDecoder)>,
    version: Option<u32>,
    seqs: Vec<i64>,
    updated: Vec<i64>,
    deleted: Vec<bool>,
    row_keys: BinaryBuilder,
    /// Rows in the batch being built, and rows added in all.
    pub rows: usize,
    pub total: usize,
    /// Rows per batch (the decoders reserve room for them).
    capacity: usize,
    /// Length of the scope prefix in front of every row key.
    pub prefix_len: usize,
}

impl<'a> BatchAssembler<'a> {
    pub fn new(schema: SchemaRef, request: &'a ScanRequest, capacity: usize) -> Result<Self> {
        let user_outputs = request
            .sources
            .iter()
            .enumerate()
            .filter_map(|(output, source)| match source {
                ColumnSource::User(index) => Some((output, *index)),
                _ => None,
            })
            .collect();
        Ok(BatchAssembler {
            schema,
            request,
            user_outputs,
            decoders: Vec::new(),
            version: None,
            seqs: Vec::new(),
            updated: Vec::new(),
            deleted: Vec::new(),
            row_keys: BinaryBuilder::new(),
            rows: 0,
            total: 0,
            capacity,
            prefix_len: keys::scope_row_prefix(request.entry.id(), &request.scope).len(),
        })
    }

    /// Adds one stored row (whole key, value) unless it is a deleted row the request does
    /// not want. A full batch, or one of another schema version, goes to `emit` first.
    /// Returns `false` when `emit` asks to stop.
    pub fn add(&mut self, key: &[u8], value: &[u8], emit: &mut dyn FnMut(RecordBatch) -> bool) -> Result<bool> {
        let header = decode_header(value)?;
        if header.deleted && !self.request.include_deleted {
            return Ok(true);
        }
        let starts_batch = self.rows >= self.capacity || (self.rows > 0 && self.version != Some(header.schema_version));
        if starts_batch && !emit(self.finish()?) {
            return Ok(false);
        }
        self.push(&key[self.prefix_len..], value, header)?;
        Ok(true)
    }

    /// Hands the rows not yet emitted to `emit`; returns what it returns.
    pub fn flush(&mut self, emit: &mut dyn FnMut(RecordBatch) -> bool) -> Result<bool> {
        if self.rows == 0 {
            return Ok(true);
        }
        Ok(emit(self.finish()?))
    }

    fn decoder(&mut self, version: u32) -> Result<&mut RowDecoder> {
        if let Some(at) = self.decoders.iter().position(|(v, _)| *v == version) {
            return Ok(&mut self.decoders[at].1);
        }
        let entry = &self.request.entry;
        let layout = entry
            .versions
            .get(&version)
            .ok_or_else(|| EngineError::internal(format!("row written with unknown schema version {version}")))?;
        let stored_types: Vec<DataType> = layout.iter().map(|c| c.data_type.clone()).collect();
        let output_types: Vec<DataType> =
            self.user_outputs.iter().map(|(_, index)| entry.definition.columns[*index].data_type.clone()).collect();
        let wanted = self
            .user_outputs
            .iter()
            .map(|(_, index)| {
                let id = entry.definition.columns[*index].id;
                layout.iter().position(|c| c.id == id)
            })
            .collect();
        let decoder = RowDecoder::new(stored_types, &output_types, wanted, self.capacity)?;
        self.decoders.push((version, decoder));
        Ok(&mut self.decoders.last_mut().expect("pushed above").1)
    }

    fn push(&mut self, primary_key: &[u8], value: &[u8], header: RowHeader) -> Result<()> {
        self.version = Some(header.schema_version);
        self.decoder(header.schema_version)?.push(value)?;
        self.seqs.push(header.seq as i64);
        self.updated.push(header.updated_millis);
        self.deleted.push(header.deleted);
        if self.request.sources.contains(&ColumnSource::RowKey) {
            self.row_keys.append_value(primary_key);
        }
        self.rows += 1;
        self.total += 1;
        Ok(())
    }

    pub fn finish(&mut self) -> Result<RecordBatch> {
        let version = self.version.expect("finish is only called with rows");
        let mut user_columns = self.decoder(version)?.finish()?;
        // Columns the rows' version did not have read their backfill (or NULL).
        let layout = self.request.entry.versions.get(&version);
        for (position, (_, index)) in self.user_outputs.iter().enumerate() {
            let id = self.request.entry.definition.columns[*index].id;
            if layout.is_some_and(|layout| !layout.iter().any(|c| c.id == id)) {
                user_columns[position] = self.request.entry.missing_column(*index, self.rows)?;
            }
        }
        let mut user_columns = user_columns.into_iter();
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.request.sources.len());
        for source in &self.request.sources {
            columns.push(match source {
                ColumnSource::User(_) => user_columns.next().expect("one decoded column per user output"),
                ColumnSource::System(SystemColumn::Seq) => Arc::new(Int64Array::from(self.seqs.clone())),
                ColumnSource::System(SystemColumn::Updated) => Arc::new(TimestampMillisecondArray::from(self.updated.clone())),
                ColumnSource::System(SystemColumn::Deleted) => Arc::new(BooleanArray::from(self.deleted.clone())),
                ColumnSource::RowKey => Arc::new(self.row_keys.finish()),
            });
        }
        let rows = self.rows;
        self.seqs.clear();
        self.updated.clear();
        self.deleted.clear();
        self.rows = 0;
        let options = RecordBatchOptions::new().with_row_count(Some(rows));
        RecordBatch::try_new_with_options(self.schema.clone(), columns, &options)
            .map_err(|e| EngineError::internal(format!("assembling a scan batch: {e}")))
    }
}

/// Decodes stored rows (whole key, value) into one batch of the table's user columns in
/// its current layout (the live feed's rows).
pub fn decode_user_rows<'r>(entry: &Arc<TableEntry>, rows: impl Iterator<Item = (&'r [u8], &'r [u8])>) -> Result<RecordBatch> {
    let sources = (0..entry.definition.columns.len()).map(ColumnSource::User).collect();
    let request = ScanRequest::whole_scope(entry.clone(), RowScope::Shared, sources, true, usize::MAX);
    let schema = entry.schema.clone();
    let mut assembler = BatchAssembler::new(schema.clone(), &request, 64)?;
    assembler.prefix_len = 0;
    let mut batches = Vec::new();
    let mut collect = |b: RecordBatch| {
        batches.push(b);
        true
    };
    for (key, value) in rows {
        assembler.add(key, value, &mut collect)?;
    }
    assembler.flush(&mut collect)?;
    datafusion::arrow::compute::concat_batches(&schema, &batches).map_err(|e| EngineError::internal(format!("joining decoded rows: {e}")))
}

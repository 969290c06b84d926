//! The physical scan of an engine table: streams Arrow batches out of RocksDB.
//!
//! The scan runs on a blocking thread over one RocksDB snapshot, walks the key ranges
//! derived from pushed-down filters, skips deleted rows unless the statement asked for
//! them, decodes only the projected columns, stops at the pushed-down limit, and sends
//! batches through a bounded channel, so memory stays at a couple of batches. Equalities
//! on a one-column key are read as point lookups ([`read_keys`], also the simple path's
//! row reader); a large unlimited range is split into parts read by several threads from
//! the same snapshot.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, BinaryBuilder, BooleanArray, Int64Array, TimestampMillisecondArray};
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};
use datafusion::common::Result as DfResult;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchReceiverStreamBuilder;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties};

use crate::catalog::{SystemColumn, TableEntry};
use crate::error::{EngineError, Result};
use crate::provider::key_range::KeyInterval;
use crate::provider::table::ColumnSource;
use crate::storage::keys::{self, RowScope};
use crate::storage::row_codec::{RowDecoder, decode_header};
use crate::storage::Store;

/// What one scan reads.
#[derive(Debug, Clone)]
pub struct ScanRequest {
    pub entry: Arc<TableEntry>,
    pub scope: RowScope,
    pub sources: Vec<ColumnSource>,
    pub intervals: Vec<KeyInterval>,
    pub include_deleted: bool,
    pub limit: Option<usize>,
    pub batch_rows: usize,
    /// Threads a large scan may be split across, and the flushed size that makes a scan
    /// large.
    pub parallelism: usize,
    pub parallel_min_bytes: u64,
    /// STREAM tables with a TTL: the first key a read may show (older rows have expired).
    pub visible_from: Option<Vec<u8>>,
}

#[derive(Debug)]
pub struct ScanExec {
    store: Arc<Store>,
    schema: SchemaRef,
    request: ScanRequest,
    properties: Arc<PlanProperties>,
}

impl ScanExec {
    pub fn new(store: Arc<Store>, schema: SchemaRef, request: ScanRequest) -> Self {
        let properties = PlanProperties::new(
            EquivalenceProperties::new(schema.clone()),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Incremental,
            Boundedness::Bounded,
        );
        ScanExec { store, schema, request, properties: Arc::new(properties) }
    }
}

impl DisplayAs for ScanExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let names: Vec<&str> = self.schema.fields().iter().map(|f| f.name().as_str()).collect();
        write!(f, "EngineScan: table={}, projection=[{}]", self.request.entry.definition.qualified_name(), names.join(", "))?;
        if self.request.intervals.len() != 1 || self.request.intervals[0] != KeyInterval::all() {
            write!(f, ", key_ranges={}", self.request.intervals.len())?;
        }
        if self.request.include_deleted {
            write!(f, ", include_deleted")?;
        }
        if let Some(limit) = self.request.limit {
            write!(f, ", limit={limit}")?;
        }
        Ok(())
    }
}

impl ExecutionPlan for ScanExec {
    fn name(&self) -> &str {
        "EngineScan"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> DfResult<TreeNodeRecursion>,
    ) -> DfResult<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(self: Arc<Self>, _children: Vec<Arc<dyn ExecutionPlan>>) -> DfResult<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }

    fn execute(&self, _partition: usize, _context: Arc<TaskContext>) -> DfResult<SendableRecordBatchStream> {
        let mut builder = RecordBatchReceiverStreamBuilder::new(self.schema.clone(), 2);
        let tx = builder.tx();
        let store = self.store.clone();
        let schema = self.schema.clone();
        let request = self.request.clone();
        builder.spawn_blocking(move || {
            let emit = |batch: RecordBatch| tx.blocking_send(Ok(batch)).is_ok();
            if let Err(error) = run_scan(&store, &schema, &request, &emit) {
                let _ = tx.blocking_send(Err(error.into_datafusion()));
            }
            Ok(())
        });
        Ok(builder.build())
    }
}

/// Reads the requested rows and hands batches to `emit` (which returns `false` to stop).
pub fn run_scan(
    store: &Store,
    schema: &SchemaRef,
    request: &ScanRequest,
    emit: &(dyn Fn(RecordBatch) -> bool + Sync),
) -> Result<()> {
    let definition = &request.entry.definition;
    let scope_prefix = keys::scope_row_prefix(definition.id, &request.scope);
    let ranges: Vec<(Vec<u8>, Option<Vec<u8>>)> = request
        .intervals
        .iter()
        .map(|i| i.to_byte_range(&scope_prefix))
        .map(|(lower, upper)| match &request.visible_from {
            Some(from) if *from > lower => (from.clone(), upper),
            _ => (lower, upper),
        })
        .collect();
    let limit = request.limit.unwrap_or(usize::MAX);
    if limit == 0 {
        return Ok(());
    }
    // Equalities on a one-column key name whole row keys: read them, do not iterate.
    if request.entry.key_columns.len() == 1 {
        let points: Option<Vec<Vec<u8>>> =
            request.intervals.iter().map(|i| i.as_point().map(|p| keys::row_key(&scope_prefix, p))).collect();
        if let Some(points) = points {
            for batch in read_keys(store, schema, request, &points[..points.len().min(limit)])? {
                if !emit(batch) {
                    break;
                }
            }
            return Ok(());
        }
    }
    // A large unlimited scan of one range is split across threads (one snapshot); batches
    // then arrive in key order within each part only, which SQL never promised anyway.
    if let ([(lower, Some(upper))], None) = (ranges.as_slice(), request.limit)
        && let Some(splits) = store.split_range(lower, upper, request.parallelism, request.parallel_min_bytes)?
    {
        return scan_in_parts(store, schema, request, lower, upper, splits, emit);
    }
    let mut batch = BatchAssembler::new(schema.clone(), request, request.batch_rows)?;
    let mut send = |b: RecordBatch| emit(b);
    let mut stopped = false;
    store.scan_ranges(&ranges, |key, value| {
        if !batch.add(key, value, &mut send)? {
            stopped = true;
            return Ok(false);
        }
        Ok(batch.total < limit)
    })?;
    if !stopped {
        batch.flush(&mut send)?;
    }
    Ok(())
}

/// Scans `[lower, upper)` as consecutive parts cut at `splits`, one thread each.
fn scan_in_parts(
    store: &Store,
    schema: &SchemaRef,
    request: &ScanRequest,
    lower: &[u8],
    upper: &[u8],
    splits: Vec<Vec<u8>>,
    emit: &(dyn Fn(RecordBatch) -> bool + Sync),
) -> Result<()> {
    let mut bounds = Vec::with_capacity(splits.len() + 2);
    bounds.push(lower.to_vec());
    bounds.extend(splits);
    bounds.push(upper.to_vec());
    let mut assemblers = Vec::with_capacity(bounds.len() - 1);
    for _ in 1..bounds.len() {
        assemblers.push(BatchAssembler::new(schema.clone(), request, request.batch_rows)?);
    }
    let parts = bounds.windows(2).zip(assemblers.iter_mut()).map(|(pair, batch)| {
        let visit = move |key: &[u8], value: &[u8]| batch.add(key, value, &mut |b| emit(b));
        (pair[0].clone(), pair[1].clone(), visit)
    });
    store.scan_parallel(parts.collect())?;
    for mut batch in assemblers {
        if !batch.flush(&mut |b| emit(b))? {
            break;
        }
    }
    Ok(())
}

/// Decodes stored rows (whole key, value) into one batch of the table's user columns in
/// its current layout (the live feed's rows).
pub fn decode_user_rows<'r>(entry: &Arc<TableEntry>, rows: impl Iterator<Item = (&'r [u8], &'r [u8])>) -> Result<RecordBatch> {
    let request = ScanRequest {
        entry: entry.clone(),
        scope: RowScope::Shared,
        sources: (0..entry.definition.columns.len()).map(ColumnSource::User).collect(),
        intervals: Vec::new(),
        include_deleted: true,
        limit: None,
        batch_rows: usize::MAX,
        parallelism: 1,
        parallel_min_bytes: u64::MAX,
        visible_from: None,
    };
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
    datafusion::arrow::compute::concat_batches(&schema, &batches)
        .map_err(|e| EngineError::internal(format!("joining decoded rows: {e}")))
}

/// Reads a whole scope (`sources` of each row, deleted rows only if `include_deleted`)
/// from one snapshot, calling `taken` once the snapshot exists (a subscription registers
/// under its scope's lock and releases the lock there).
pub fn read_scope_then(
    store: &Store,
    schema: &SchemaRef,
    request: &ScanRequest,
    taken: impl FnOnce(),
) -> Result<Vec<RecordBatch>> {
    let scope_prefix = keys::scope_row_prefix(request.entry.id(), &request.scope);
    let lower = request.visible_from.clone().unwrap_or_else(|| scope_prefix.clone());
    let ranges = vec![(lower, keys::prefix_upper_bound(&scope_prefix))];
    let mut assembler = BatchAssembler::new(schema.clone(), request, request.batch_rows)?;
    let mut batches = Vec::new();
    let mut collect = |b: RecordBatch| {
        batches.push(b);
        true
    };
    store.scan_ranges_then(&ranges, taken, |key, value| assembler.add(key, value, &mut collect))?;
    assembler.flush(&mut collect)?;
    Ok(batches)
}

/// Reads the rows stored under `row_keys` (whole keys, scope prefix included, in key
/// order), skipping missing rows and, unless the request includes them, deleted ones.
pub fn read_keys(store: &Store, schema: &SchemaRef, request: &ScanRequest, row_keys: &[Vec<u8>]) -> Result<Vec<RecordBatch>> {
    let mut batch = BatchAssembler::new(schema.clone(), request, row_keys.len().max(1))?;
    let mut batches = Vec::new();
    let mut collect = |b: RecordBatch| {
        batches.push(b);
        true
    };
    for (key, value) in row_keys.iter().zip(store.multi_get(row_keys)?) {
        if let Some(value) = value {
            batch.add(key, &value, &mut collect)?;
        }
    }
    batch.flush(&mut collect)?;
    Ok(batches)
}

/// Accumulates decoded rows until a batch is full.
struct BatchAssembler<'a> {
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
    rows: usize,
    total: usize,
    /// Rows per batch (the decoders reserve room for them).
    capacity: usize,
    /// Length of the scope prefix in front of every row key.
    prefix_len: usize,
}

impl<'a> BatchAssembler<'a> {
    fn new(schema: SchemaRef, request: &'a ScanRequest, capacity: usize) -> Result<Self> {
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
    fn add(&mut self, key: &[u8], value: &[u8], emit: &mut dyn FnMut(RecordBatch) -> bool) -> Result<bool> {
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
    fn flush(&mut self, emit: &mut dyn FnMut(RecordBatch) -> bool) -> Result<bool> {
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
        let output_types: Vec<DataType> = self
            .user_outputs
            .iter()
            .map(|(_, index)| entry.definition.columns[*index].data_type.clone())
            .collect();
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

    fn push(&mut self, primary_key: &[u8], value: &[u8], header: crate::storage::row_codec::RowHeader) -> Result<()> {
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

    fn finish(&mut self) -> Result<RecordBatch> {
        let version = self.version.expect("finish is only called with rows");
        let user_columns = self.decoder(version)?.finish()?;
        let mut user_columns = user_columns.into_iter();
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.request.sources.len());
        for source in &self.request.sources {
            columns.push(match source {
                ColumnSource::User(_) => user_columns.next().expect("one decoded column per user output"),
                ColumnSource::System(SystemColumn::Seq) => Arc::new(Int64Array::from(self.seqs.clone())),
                ColumnSource::System(SystemColumn::Updated) => {
                    Arc::new(TimestampMillisecondArray::from(self.updated.clone()))
                }
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

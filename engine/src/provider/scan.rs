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
use std::sync::{Arc, Mutex};

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::Result as DfResult;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::metrics::{ExecutionPlanMetricsSet, MetricBuilder, MetricsSet};
use datafusion::physical_plan::stream::RecordBatchReceiverStreamBuilder;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties};

use crate::error::{EngineError, Result};
use crate::provider::assemble::BatchAssembler;
use crate::provider::key_range::KeyInterval;
use crate::provider::merge::{self, MergeSink};
use crate::provider::prune::PruneCounts;
use crate::provider::request::ScanRequest;
use crate::storage::cold::ColdStore;
use crate::storage::keys;
use crate::storage::{Store, tiers};

#[derive(Debug)]
pub struct ScanExec {
    store: Arc<Store>,
    cold: Arc<ColdStore>,
    schema: SchemaRef,
    request: ScanRequest,
    properties: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
}

impl ScanExec {
    pub fn new(store: Arc<Store>, cold: Arc<ColdStore>, schema: SchemaRef, mut request: ScanRequest) -> Self {
        let metrics = ExecutionPlanMetricsSet::new();
        request.pruned = PruneCounts {
            segments: MetricBuilder::new(&metrics).global_counter("segments_pruned"),
            row_groups: MetricBuilder::new(&metrics).global_counter("row_groups_pruned"),
        };
        let properties = PlanProperties::new(
            EquivalenceProperties::new(schema.clone()),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Incremental,
            Boundedness::Bounded,
        );
        ScanExec { store, cold, schema, request, properties: Arc::new(properties), metrics }
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

    fn apply_expressions(&self, _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> DfResult<TreeNodeRecursion>) -> DfResult<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(self: Arc<Self>, _children: Vec<Arc<dyn ExecutionPlan>>) -> DfResult<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }

    fn execute(&self, _partition: usize, _context: Arc<TaskContext>) -> DfResult<SendableRecordBatchStream> {
        let mut builder = RecordBatchReceiverStreamBuilder::new(self.schema.clone(), 2);
        let tx = builder.tx();
        let store = self.store.clone();
        let cold = self.cold.clone();
        let schema = self.schema.clone();
        let request = self.request.clone();
        builder.spawn_blocking(move || {
            let emit = |batch: RecordBatch| tx.blocking_send(Ok(batch)).is_ok();
            if let Err(error) = run_scan(&store, &cold, &schema, &request, &emit) {
                let _ = tx.blocking_send(Err(error.into_datafusion()));
            }
            Ok(())
        });
        Ok(builder.build())
    }
}

/// Reads the requested rows and hands batches to `emit` (which returns `false` to stop).
/// A scope with cold rows is read merged with its segments ([`merge`]); either way the
/// segment list and the hot snapshot belong together: a flush that published between
/// them makes the read start again.
pub fn run_scan(
    store: &Store,
    cold: &ColdStore,
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
            // Read, then checked: a table altered meanwhile may have rows the plan's
            // definition cannot decode, and that is the error to report.
            let batches = read_keys(store, cold, schema, request, &points[..points.len().min(limit)]);
            request.check_current()?;
            for batch in batches? {
                if !emit(batch) {
                    break;
                }
            }
            return Ok(());
        }
    }
    request.at.note_scan(&scope_prefix, store.last_seq());
    // Once the snapshot exists: a table dropped or altered since planning fails the
    // read; a flush that published since the segment list was taken restarts it (a
    // transaction's view never moves).
    let table_moved: Mutex<Option<EngineError>> = Mutex::new(None);
    loop {
        let generation = cold.generation();
        let unchanged = || match request.check_current() {
            Ok(()) => !request.at.is_now() || cold.generation() == generation,
            Err(error) => {
                *table_moved.lock().unwrap_or_else(|p| p.into_inner()) = Some(error);
                false
            }
        };
        let finished = match request.at.cold_scope(cold, definition.id, &request.scope) {
            Some(segments) => merge::run_merged(store, cold, &segments, schema, request, &ranges, unchanged, MergeSink::Shared(emit))?,
            None => run_hot_scan(store, schema, request, &ranges, unchanged, emit)?,
        };
        if finished {
            return Ok(());
        }
        if let Some(error) = table_moved.lock().unwrap_or_else(|p| p.into_inner()).take() {
            return Err(error);
        }
    }
}

/// Reads hot rows only (a scope without segments). Returns `false`, having read nothing,
/// when `taken` says the view moved.
fn run_hot_scan(
    store: &Store,
    schema: &SchemaRef,
    request: &ScanRequest,
    ranges: &[(Vec<u8>, Option<Vec<u8>>)],
    taken: impl FnOnce() -> bool,
    emit: &(dyn Fn(RecordBatch) -> bool + Sync),
) -> Result<bool> {
    let limit = request.limit.unwrap_or(usize::MAX);
    // A large unlimited scan of one range is split across threads (one snapshot); batches
    // then arrive in key order within each part only, which SQL never promised anyway.
    if let ([(lower, Some(upper))], None) = (ranges, request.limit)
        && let Some(splits) = store.split_range(lower, upper, request.parallelism, request.parallel_min_bytes)?
    {
        return scan_in_parts(store, schema, request, lower, upper, splits, taken, emit);
    }
    let mut batch = BatchAssembler::new(schema.clone(), request, request.batch_rows)?;
    let mut send = |b: RecordBatch| emit(b);
    let mut stopped = false;
    let read = store.scan_ranges_then(&request.at, ranges, taken, |key, value| {
        if !batch.add(key, value, &mut send)? {
            stopped = true;
            return Ok(false);
        }
        Ok(batch.total < limit)
    })?;
    if read && !stopped {
        batch.flush(&mut send)?;
    }
    Ok(read)
}

/// Scans `[lower, upper)` as consecutive parts cut at `splits`, one thread each.
#[allow(clippy::too_many_arguments)]
fn scan_in_parts(
    store: &Store,
    schema: &SchemaRef,
    request: &ScanRequest,
    lower: &[u8],
    upper: &[u8],
    splits: Vec<Vec<u8>>,
    taken: impl FnOnce() -> bool,
    emit: &(dyn Fn(RecordBatch) -> bool + Sync),
) -> Result<bool> {
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
    if !store.scan_parallel(&request.at, parts.collect(), taken)? {
        return Ok(false);
    }
    for mut batch in assemblers {
        if !batch.flush(&mut |b| emit(b))? {
            break;
        }
    }
    Ok(true)
}

/// Reads a whole scope, both tiers (`sources` of each row, deleted rows only if
/// `include_deleted`) from one snapshot, calling `taken` once the snapshot exists (a
/// subscription registers under its scope's lock, which a flush publishes under too, and
/// releases the lock there), and handing each batch to `emit` as it is read (`false`
/// stops the read): memory holds a batch at a time, whatever the scope's size.
pub fn read_scope_then(
    store: &Store,
    cold: &ColdStore,
    schema: &SchemaRef,
    request: &ScanRequest,
    taken: impl FnOnce(),
    emit: &mut dyn FnMut(RecordBatch) -> bool,
) -> Result<()> {
    let scope_prefix = keys::scope_row_prefix(request.entry.id(), &request.scope);
    let lower = request.visible_from.clone().unwrap_or_else(|| scope_prefix.clone());
    let ranges = vec![(lower, keys::prefix_upper_bound(&scope_prefix))];
    let taken = || {
        taken();
        true
    };
    if let Some(segments) = request.at.cold_scope(cold, request.entry.id(), &request.scope) {
        merge::run_merged(store, cold, &segments, schema, request, &ranges, taken, MergeSink::Single(emit))?;
        return Ok(());
    }
    let mut assembler = BatchAssembler::new(schema.clone(), request, request.batch_rows)?;
    let mut stopped = false;
    store.scan_ranges_then(&request.at, &ranges, taken, |key, value| {
        let go_on = assembler.add(key, value, emit)?;
        stopped |= !go_on;
        Ok(go_on)
    })?;
    if !stopped {
        assembler.flush(emit)?;
    }
    Ok(())
}

/// Reads the rows stored under `row_keys` (whole keys, scope prefix included, in key
/// order), skipping missing rows and, unless the request includes them, deleted ones.
/// Cold rows are found like hot ones ([`tiers::read_rows`]).
pub fn read_keys(
    store: &Store,
    cold: &ColdStore,
    schema: &SchemaRef,
    request: &ScanRequest,
    row_keys: &[Vec<u8>],
) -> Result<Vec<RecordBatch>> {
    let mut batch = BatchAssembler::new(schema.clone(), request, row_keys.len().max(1))?;
    let mut batches = Vec::new();
    let mut collect = |b: RecordBatch| {
        batches.push(b);
        true
    };
    let prefix_len = keys::scope_row_prefix(request.entry.id(), &request.scope).len();
    let rows = tiers::read_rows(store, &request.at, cold, request.entry.id(), &request.scope, prefix_len, row_keys)?;
    for (key, value) in row_keys.iter().zip(rows) {
        if let Some(value) = value {
            batch.add(key, &value, &mut collect)?;
        }
    }
    batch.flush(&mut collect)?;
    Ok(batches)
}

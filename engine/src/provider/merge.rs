//! The merged read of one scope that has cold rows: its hot rows and each of its Parquet
//! segments are runs sorted by key, merged into one stream in key order. For a key held
//! by several runs the newest wins (hot first, then segments newest first); a tombstone
//! shadows older versions and is dropped afterwards unless the statement asked for
//! deleted rows. Stretches of one run that no other run interrupts pass through as
//! slices, so a freshly flushed table reads at Parquet speed.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BinaryArray, BooleanArray, new_null_array};
use datafusion::arrow::compute::{self, filter_record_batch};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};

use crate::catalog::{SystemColumn, TableEntry};
use crate::error::{EngineError, Result};
use crate::provider::assemble::BatchAssembler;
use crate::provider::merge_masked::merge_masked;
use crate::provider::merge_parts;
use crate::provider::prune::{self, Planned, covers_everything};
use crate::provider::request::{ColumnSource, ScanRequest, system_column_type};
use crate::storage::Store;
use crate::storage::cold::{ColdScope, ColdStore, SegmentBatches, SegmentMeta};
use crate::storage::cursor::{KeyRanges, RangeCursor};

/// Where a merged read hands its batches.
pub enum MergeSink<'a> {
    /// One consumer on the reading thread (flushes, purges, compactions, a subscription's
    /// first read).
    Single(&'a mut dyn FnMut(RecordBatch) -> bool),
    /// A consumer any thread may hand batches to (a query's scan): a large read that may
    /// come unordered is cut into key parts merged at once ([`merge_parts`]).
    Shared(&'a (dyn Fn(RecordBatch) -> bool + Sync)),
}

impl MergeSink<'_> {
    fn emit(&mut self, batch: RecordBatch) -> bool {
        match self {
            MergeSink::Single(emit) => emit(batch),
            MergeSink::Shared(emit) => emit(batch),
        }
    }
}

/// Reads the scope's rows in `ranges` (whole keys) from hot storage and `segments`,
/// merged, handing batches in the request's layout to `sink` (whose consumer returns
/// `false` to stop). `taken` runs once the hot snapshot exists; when it returns `false`
/// nothing is read and this returns `false`.
#[allow(clippy::too_many_arguments)]
pub fn run_merged(
    store: &Store,
    cold: &ColdStore,
    segments: &ColdScope,
    schema: &SchemaRef,
    request: &ScanRequest,
    ranges: &KeyRanges,
    taken: impl FnOnce() -> bool,
    mut sink: MergeSink<'_>,
) -> Result<bool> {
    let setup = MergeSetup::new(cold, segments, schema, request);
    let prefix = &crate::storage::keys::scope_row_prefix(request.entry.id(), &request.scope);
    let suffixes = suffix_ranges(ranges, prefix);
    let planned = prune::plan_segments(cold, segments, &request.entry, &suffixes, request.pruning.as_deref(), &request.pruned)?;
    let cold_rows: u64 = planned.iter().map(|p| p.segment.rows).sum();
    let unordered = setup.layout.key_at.is_some() && may_come_unordered(request, cold_rows);
    let splits = match sink {
        MergeSink::Shared(_) if unordered => merge_parts::split_keys(cold, segments, &request.entry, &planned, request.parallelism)?,
        _ => Vec::new(),
    };
    let outcome = store.with_cursor(&request.at, ranges, taken, |cursor| {
        if let [segment] = planned.as_slice()
            && !cursor.has_rows()?
        {
            return read_one_segment(cold, segments, segment, schema, request, &suffixes, &mut |b| sink.emit(b));
        }
        if let (MergeSink::Shared(emit), false) = (&sink, splits.is_empty()) {
            return merge_parts::merge_in_parts(&setup, cursor.source(), prefix, ranges, &splits, *emit);
        }
        let runs = setup.runs(cursor, &planned, &suffixes)?;
        setup.merge(runs, unordered, &mut |b| sink.emit(b))
    })?;
    Ok(outcome.is_some())
}

/// `ranges` (whole keys) in segment key space (scope part excluded).
pub(super) fn suffix_ranges(ranges: &KeyRanges, prefix: &[u8]) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
    ranges.iter().map(|(lower, upper)| (suffix_lower(lower, prefix), upper.as_ref().and_then(|u| suffix_upper(u, prefix)))).collect()
}

/// What every run of one merged read is built from: its table, request and layout.
pub(super) struct MergeSetup<'a> {
    pub(super) cold: &'a ColdStore,
    pub(super) segments: &'a ColdScope,
    schema: &'a SchemaRef,
    pub(super) request: &'a ScanRequest,
    layout: MergeLayout,
    /// The request as hot rows are read for the merge: in the merge layout, tombstones
    /// included (they shadow older versions).
    merge_request: ScanRequest,
}

impl<'a> MergeSetup<'a> {
    fn new(cold: &'a ColdStore, segments: &'a ColdScope, schema: &'a SchemaRef, request: &'a ScanRequest) -> Self {
        let layout = MergeLayout::new(request, true, true);
        let merge_request = ScanRequest { sources: layout.sources.clone(), include_deleted: true, ..request.clone() };
        MergeSetup { cold, segments, schema, request, layout, merge_request }
    }

    /// The runs of a merge, in priority order: hot rows from `cursor`, then the `planned`
    /// segments (newest first) over `ranges` (segment key space).
    pub(super) fn runs<'r>(
        &'r self,
        cursor: &'r mut RangeCursor<'_>,
        planned: &[Planned<'_>],
        ranges: &[(Vec<u8>, Option<Vec<u8>>)],
    ) -> Result<Vec<Box<dyn Run + 'r>>> {
        let mut runs: Vec<Box<dyn Run + 'r>> = Vec::with_capacity(planned.len() + 1);
        runs.push(Box::new(HotRun {
            cursor,
            assembler: BatchAssembler::new(self.layout.schema.clone(), &self.merge_request, self.request.batch_rows)?,
            done: false,
        }));
        for planned in planned {
            runs.push(Box::new(SegmentRun::open(
                self.cold,
                self.segments,
                planned.segment,
                self.request,
                &self.layout,
                ranges,
                planned.groups.clone(),
            )?));
        }
        Ok(runs)
    }

    /// Merges `runs` into batches of the request's layout; `unordered`: in no particular
    /// row order ([`merge_masked`]), else in key order.
    pub(super) fn merge(&self, runs: Vec<Box<dyn Run + '_>>, unordered: bool, emit: &mut dyn FnMut(RecordBatch) -> bool) -> Result<()> {
        let mut output = Output::new(&self.layout, self.schema, self.request);
        match self.layout.key_at {
            Some(key_at) if unordered => merge_masked(runs, key_at, &mut output, emit)?,
            _ => merge(runs, &mut output, emit)?,
        }
        output.flush(emit)
    }
}

/// Whether a scan may hand rows over in no particular order (as a split hot scan does):
/// one a query may split, without a limit, over more than a row group of cold rows.
/// Flushes, purges and compactions (one thread) always get key order.
fn may_come_unordered(request: &ScanRequest, cold_rows: u64) -> bool {
    request.limit.is_none() && request.parallelism > 1 && cold_rows > UNORDERED_FROM_ROWS
}

/// Cold rows from which a scan may come unordered: more than one row group's worth.
const UNORDERED_FROM_ROWS: u64 = 64 * 1024;

/// The scope's rows in range are all in one segment: no merge, no keys unless the range
/// needs them, tombstones read only if the segment has any; a segment of several row
/// groups may be read in two halves at once ([`may_come_unordered`]).
fn read_one_segment(
    cold: &ColdStore,
    segments: &ColdScope,
    planned: &Planned<'_>,
    schema: &SchemaRef,
    request: &ScanRequest,
    ranges: &[(Vec<u8>, Option<Vec<u8>>)],
    emit: &mut dyn FnMut(RecordBatch) -> bool,
) -> Result<()> {
    let segment = planned.segment;
    let layout = MergeLayout::new(request, !covers_everything(ranges), !request.include_deleted && segment.deleted_rows > 0);
    let groups = match &planned.groups {
        Some(groups) => groups.clone(),
        None => (0..cold.row_groups(segments, segment)?).collect(),
    };
    let mut runs: Vec<SegmentRun> = if groups.len() >= 2 && may_come_unordered(request, segment.rows) {
        let first: Vec<usize> = groups.iter().step_by(2).copied().collect();
        let second: Vec<usize> = groups.iter().skip(1).step_by(2).copied().collect();
        vec![
            SegmentRun::open(cold, segments, segment, request, &layout, ranges, Some(first))?,
            SegmentRun::open(cold, segments, segment, request, &layout, ranges, Some(second))?,
        ]
    } else {
        vec![SegmentRun::open(cold, segments, segment, request, &layout, ranges, planned.groups.clone())?]
    };
    let mut output = Output::new(&layout, schema, request);
    // Taking turns keeps both halves decoding.
    let mut turn = 0;
    while !runs.is_empty() && !output.stopped {
        turn %= runs.len();
        match runs[turn].next_batch()? {
            Some(batch) => {
                output.push(batch, emit)?;
                turn += 1;
            }
            None => {
                runs.remove(turn);
            }
        }
    }
    output.flush(emit)
}

/// A range's lower bound (a whole key) in segment key space (scope part excluded).
fn suffix_lower(bound: &[u8], prefix: &[u8]) -> Vec<u8> {
    match bound.strip_prefix(prefix) {
        Some(rest) => rest.to_vec(),
        // Below the scope: from its first key. (A bound above the scope matches no key of
        // it; hot storage finds nothing either, and the range filter keeps nothing.)
        None if bound < prefix => Vec::new(),
        None => vec![0xff; bound.len() + 1],
    }
}

/// A range's upper bound (a whole key) in segment key space: `None` when it is past
/// every key of the scope.
fn suffix_upper(bound: &[u8], prefix: &[u8]) -> Option<Vec<u8>> {
    match bound.strip_prefix(prefix) {
        Some(rest) => Some(rest.to_vec()),
        None if bound < prefix => Some(Vec::new()),
        None => None,
    }
}

/// The columns runs produce: the request's, plus the row key and the tombstone flag the
/// merge needs (dropped again on output).
struct MergeLayout {
    sources: Vec<ColumnSource>,
    schema: SchemaRef,
    key_at: Option<usize>,
    deleted_at: Option<usize>,
    /// Positions of the request's columns.
    output: Vec<usize>,
}

impl MergeLayout {
    /// The request's columns, plus the row key and the tombstone flag when asked for.
    fn new(request: &ScanRequest, key: bool, deleted: bool) -> Self {
        let mut sources = request.sources.clone();
        let position = |sources: &mut Vec<ColumnSource>, wanted: ColumnSource| match sources.iter().position(|s| *s == wanted) {
            Some(at) => at,
            None => {
                sources.push(wanted);
                sources.len() - 1
            }
        };
        let key_at = key.then(|| position(&mut sources, ColumnSource::RowKey));
        let deleted_at = deleted.then(|| position(&mut sources, ColumnSource::System(SystemColumn::Deleted)));
        let entry = &request.entry;
        let fields: Vec<Field> = sources
            .iter()
            .map(|source| match source {
                ColumnSource::User(index) => entry.schema.field(*index).clone().with_nullable(true),
                ColumnSource::System(column) => Field::new(column.name(), system_column_type(*column), false),
                ColumnSource::RowKey => Field::new("_row_key", DataType::Binary, false),
            })
            .collect();
        MergeLayout { sources, schema: Arc::new(Schema::new(fields)), key_at, deleted_at, output: (0..request.sources.len()).collect() }
    }
}

/// A sorted run of rows in the merge layout.
pub(super) trait Run {
    fn next_batch(&mut self) -> Result<Option<RecordBatch>>;
}

struct HotRun<'c, 's, 'r> {
    cursor: &'c mut RangeCursor<'s>,
    assembler: BatchAssembler<'r>,
    done: bool,
}

impl Run for HotRun<'_, '_, '_> {
    fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        let mut out = None;
        while out.is_none() && !self.done {
            match self.cursor.next_row()? {
                Some((key, value)) => {
                    self.assembler.add(key, value, &mut |batch| {
                        out = Some(batch);
                        true
                    })?;
                }
                None => {
                    self.done = true;
                    self.assembler.flush(&mut |batch| {
                        out = Some(batch);
                        true
                    })?;
                }
            }
        }
        Ok(out)
    }
}

/// One segment's rows in the merge layout, limited to the scan's key ranges.
struct SegmentRun {
    batches: SegmentBatches,
    /// Per merge column: its position in the read batch, or `None` (a column added after
    /// the segment was written reads as NULL).
    columns: Vec<Option<usize>>,
    schema: SchemaRef,
    ranges: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    filter_ranges: bool,
    key_at: Option<usize>,
    sources: Vec<ColumnSource>,
    entry: Arc<TableEntry>,
}

impl SegmentRun {
    fn open(
        cold: &ColdStore,
        segments: &ColdScope,
        segment: &SegmentMeta,
        request: &ScanRequest,
        layout: &MergeLayout,
        ranges: &[(Vec<u8>, Option<Vec<u8>>)],
        groups: Option<Vec<usize>>,
    ) -> Result<Self> {
        let entry = &request.entry;
        let stored = entry.versions.get(&segment.schema_version).ok_or_else(|| {
            EngineError::internal(format!("segment {} has unknown schema version {}", segment.file, segment.schema_version))
        })?;
        let user = stored.len();
        let file_positions: Vec<Option<usize>> = layout
            .sources
            .iter()
            .map(|source| match source {
                ColumnSource::User(index) => {
                    let id = entry.definition.columns[*index].id;
                    stored.iter().position(|c| c.id == id)
                }
                ColumnSource::System(SystemColumn::Seq) => Some(user),
                ColumnSource::System(SystemColumn::Updated) => Some(user + 1),
                ColumnSource::System(SystemColumn::Deleted) => Some(user + 2),
                ColumnSource::RowKey => Some(user + 3),
            })
            .collect();
        let mut read: Vec<usize> = file_positions.iter().flatten().copied().collect();
        read.sort_unstable();
        read.dedup();
        let columns = file_positions.iter().map(|p| p.map(|p| read.binary_search(&p).expect("read above"))).collect();
        let batches = match groups {
            Some(groups) => cold.stream_row_groups(segments, segment, &read, groups, request.batch_rows)?,
            None => cold.stream_segment(segments, segment, &read, None, request.batch_rows)?,
        };
        let filter_ranges = !covers_everything(ranges);
        Ok(SegmentRun {
            batches,
            columns,
            schema: layout.schema.clone(),
            ranges: ranges.to_vec(),
            filter_ranges,
            key_at: layout.key_at,
            sources: layout.sources.clone(),
            entry: entry.clone(),
        })
    }

    fn in_ranges(&self, key: &[u8]) -> bool {
        self.ranges.iter().any(|(lower, upper)| key >= lower.as_slice() && upper.as_deref().is_none_or(|u| key < u))
    }

    /// Whether every key of a batch (keys ascending) lies in one range: its first and
    /// last do (a part's row groups, a range over whole row groups).
    fn within_one_range(&self, keys: &BinaryArray) -> bool {
        match keys.len() {
            0 => true,
            rows => {
                let (first, last) = (keys.value(0), keys.value(rows - 1));
                self.ranges.iter().any(|(lower, upper)| first >= lower.as_slice() && upper.as_deref().is_none_or(|u| last < u))
            }
        }
    }
}

impl Run for SegmentRun {
    fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        loop {
            let Some(read) = self.batches.next_blocking() else { return Ok(None) };
            let read = read?;
            let rows = read.num_rows();
            let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.columns.len());
            for (index, (position, field)) in self.columns.iter().zip(self.schema.fields()).enumerate() {
                columns.push(match position {
                    Some(at) if read.column(*at).data_type() == field.data_type() => read.column(*at).clone(),
                    Some(at) => compute::cast(read.column(*at), field.data_type())
                        .map_err(|e| EngineError::internal(format!("reading a segment column: {e}")))?,
                    None => match self.sources[index] {
                        ColumnSource::User(column) => self.entry.missing_column(column, rows)?,
                        _ => new_null_array(field.data_type(), rows),
                    },
                });
            }
            let options = RecordBatchOptions::new().with_row_count(Some(rows));
            let mut batch = RecordBatch::try_new_with_options(self.schema.clone(), columns, &options)
                .map_err(|e| EngineError::internal(format!("mapping a segment batch: {e}")))?;
            if let (true, Some(key_at)) = (self.filter_ranges, self.key_at)
                && !self.within_one_range(batch.column(key_at).as_binary::<i32>())
            {
                let keys = batch.column(key_at).as_binary::<i32>().clone();
                let keep: BooleanArray = (0..rows).map(|row| Some(self.in_ranges(keys.value(row)))).collect();
                batch = filter_record_batch(&batch, &keep).map_err(|e| EngineError::internal(format!("filtering a segment: {e}")))?;
            }
            if batch.num_rows() > 0 {
                return Ok(Some(batch));
            }
        }
    }
}

/// A merge head's current keys and position in them.
pub(super) trait Positioned {
    fn keys(&self) -> &BinaryArray;
    fn row(&self) -> usize;

    fn key(&self) -> &[u8] {
        self.keys().value(self.row())
    }
}

/// One step of a merge over `heads` (priority order): the winning head (smallest key,
/// earliest among equal keys) and how many of its rows come before any other head's
/// current key (one when another head holds the same key).
pub(super) fn next_step<H: Positioned>(heads: &[H]) -> (usize, usize) {
    let mut winner = 0;
    for index in 1..heads.len() {
        if heads[index].key() < heads[winner].key() {
            winner = index;
        }
    }
    let mut next: Option<usize> = None;
    for index in (0..heads.len()).filter(|&i| i != winner) {
        if next.is_none_or(|n| heads[index].key() < heads[n].key()) {
            next = Some(index);
        }
    }
    let head = &heads[winner];
    let take = match next {
        // Every row of the winner's batch before the next key of another run.
        Some(next) if head.key() < heads[next].key() => {
            let bound = heads[next].key();
            let (mut low, mut high) = (head.row(), head.keys().len());
            while low < high {
                let mid = (low + high) / 2;
                if head.keys().value(mid) < bound { low = mid + 1 } else { high = mid }
            }
            low - head.row()
        }
        Some(_) => 1,
        None => head.keys().len() - head.row(),
    };
    (winner, take)
}

/// A run's current batch and position in it.
struct Head<'r> {
    run: Box<dyn Run + 'r>,
    batch: RecordBatch,
    keys: BinaryArray,
    row: usize,
}

impl Positioned for Head<'_> {
    fn keys(&self) -> &BinaryArray {
        &self.keys
    }

    fn row(&self) -> usize {
        self.row
    }
}

impl Head<'_> {
    /// Moves to the next row, loading the run's next batch at the end of this one.
    /// Returns `false` when the run is exhausted.
    fn advance(&mut self, rows: usize, key_at: usize) -> Result<bool> {
        self.row += rows;
        if self.row < self.batch.num_rows() {
            return Ok(true);
        }
        match self.run.next_batch()? {
            Some(batch) => {
                self.keys = batch.column(key_at).as_binary::<i32>().clone();
                self.batch = batch;
                self.row = 0;
                Ok(true)
            }
            None => Ok(false),
        }
    }
}

/// Merges `runs` (priority order: the first wins a key) into `output`.
fn merge<'r>(runs: Vec<Box<dyn Run + 'r>>, output: &mut Output<'_>, emit: &mut dyn FnMut(RecordBatch) -> bool) -> Result<()> {
    let key_at = output.layout.key_at.ok_or_else(|| EngineError::internal("a merge without row keys"))?;
    let mut heads: Vec<Head<'r>> = Vec::new();
    for mut run in runs {
        if let Some(batch) = run.next_batch()? {
            let keys = batch.column(key_at).as_binary::<i32>().clone();
            heads.push(Head { run, batch, keys, row: 0 });
        }
    }
    while !heads.is_empty() && !output.stopped {
        let (winner, take) = next_step(&heads);
        let key = heads[winner].key().to_vec();
        output.push(heads[winner].batch.slice(heads[winner].row, take), emit)?;
        // Older versions of the key the winner just gave are shadowed.
        let steps: Vec<usize> = heads
            .iter()
            .enumerate()
            .map(|(index, head)| {
                if index == winner {
                    take
                } else if head.key() == key.as_slice() {
                    1
                } else {
                    0
                }
            })
            .collect();
        for (index, rows) in steps.into_iter().enumerate().rev() {
            if rows > 0 && !heads[index].advance(rows, key_at)? {
                heads.remove(index);
            }
        }
    }
    Ok(())
}

/// Collects merged rows, drops tombstones (unless asked for), and emits batches of the
/// request's layout up to its limit.
pub(super) struct Output<'a> {
    layout: &'a MergeLayout,
    schema: &'a SchemaRef,
    request: &'a ScanRequest,
    pending: Vec<RecordBatch>,
    pending_rows: usize,
    total: usize,
    pub(super) stopped: bool,
}

impl<'a> Output<'a> {
    fn new(layout: &'a MergeLayout, schema: &'a SchemaRef, request: &'a ScanRequest) -> Self {
        Output { layout, schema, request, pending: Vec::new(), pending_rows: 0, total: 0, stopped: false }
    }

    pub(super) fn push(&mut self, slice: RecordBatch, emit: &mut dyn FnMut(RecordBatch) -> bool) -> Result<()> {
        let slice = match (self.request.include_deleted, self.layout.deleted_at) {
            (false, Some(deleted_at)) => Self::without_tombstones(slice, deleted_at)?,
            _ => slice,
        };
        self.take(slice, emit)
    }

    fn without_tombstones(slice: RecordBatch, deleted_at: usize) -> Result<RecordBatch> {
        Ok({
            let deleted = slice.column(deleted_at).as_boolean();
            if deleted.true_count() == 0 {
                slice
            } else {
                let keep = compute::not(deleted).map_err(|e| EngineError::internal(e.to_string()))?;
                filter_record_batch(&slice, &keep).map_err(|e| EngineError::internal(e.to_string()))?
            }
        })
    }

    /// Adds rows to the pending batch, up to the limit.
    fn take(&mut self, slice: RecordBatch, emit: &mut dyn FnMut(RecordBatch) -> bool) -> Result<()> {
        let limit = self.request.limit.unwrap_or(usize::MAX);
        let room = limit - self.total;
        let slice = if slice.num_rows() > room { slice.slice(0, room) } else { slice };
        self.total += slice.num_rows();
        self.pending_rows += slice.num_rows();
        if slice.num_rows() > 0 {
            self.pending.push(slice);
        }
        if self.pending_rows >= self.request.batch_rows || self.total >= limit {
            self.flush(emit)?;
        }
        if self.total >= limit {
            self.stopped = true;
        }
        Ok(())
    }

    pub(super) fn flush(&mut self, emit: &mut dyn FnMut(RecordBatch) -> bool) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        // One whole batch (a run no other interrupts) passes without a copy.
        let joined = if self.pending.len() == 1 {
            self.pending.pop().expect("one batch")
        } else {
            compute::concat_batches(&self.layout.schema, &self.pending)
                .map_err(|e| EngineError::internal(format!("joining merged rows: {e}")))?
        };
        self.pending.clear();
        self.pending_rows = 0;
        let columns: Vec<ArrayRef> = self.layout.output.iter().map(|&i| joined.column(i).clone()).collect();
        let options = RecordBatchOptions::new().with_row_count(Some(joined.num_rows()));
        let batch = RecordBatch::try_new_with_options(self.schema.clone(), columns, &options)
            .map_err(|e| EngineError::internal(format!("assembling a merged batch: {e}")))?;
        if !emit(batch) {
            self.stopped = true;
        }
        Ok(())
    }
}

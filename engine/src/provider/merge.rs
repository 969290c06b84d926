//! The merged read of one scope that has cold rows: its hot rows and each of its Parquet
//! segments are runs sorted by key, merged into one stream in key order. For a key held
//! by several runs the newest wins (hot first, then segments newest first); a tombstone
//! shadows older versions and is dropped afterwards unless the statement asked for
//! deleted rows. Stretches of one run that no other run interrupts pass through as
//! slices, so a freshly flushed table reads at Parquet speed.

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BinaryArray, BooleanArray};
use datafusion::arrow::compute::{self, filter_record_batch};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};

use crate::error::{EngineError, Result};
use crate::provider::assemble::BatchAssembler;
use crate::provider::merge_masked::merge_masked;
use crate::provider::merge_parts;
use crate::provider::prune::{self, Planned, covers_everything};
use crate::provider::request::ScanRequest;
use crate::provider::runs::{HotRun, MergeLayout, Run, SegmentRun};
use crate::storage::Store;
use crate::storage::cold::{ColdScope, ColdStore};
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
            return merge_parts::merge_in_parts(&setup, cursor.source(), prefix, ranges, &planned, &splits, *emit);
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
                output.push(batch, None, emit)?;
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
        output.push(heads[winner].batch.slice(heads[winner].row, take), None, emit)?;
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

    /// Adds the rows of `batch` (merge layout) that `keep` marks (`None`: all), tombstones
    /// left out unless the statement asked for them. Only the request's columns are
    /// copied, never the row key the merge needed.
    pub(super) fn push(&mut self, batch: RecordBatch, keep: Option<BooleanArray>, emit: &mut dyn FnMut(RecordBatch) -> bool) -> Result<()> {
        let failed = |e: datafusion::arrow::error::ArrowError| EngineError::internal(format!("masking merged rows: {e}"));
        let tombstones = match (self.request.include_deleted, self.layout.deleted_at) {
            (false, Some(at)) => Some(batch.column(at).as_boolean()).filter(|deleted| deleted.true_count() > 0),
            _ => None,
        };
        let keep = match (keep, tombstones) {
            (Some(keep), Some(deleted)) => Some(compute::and_not(&keep, deleted).map_err(failed)?),
            (None, Some(deleted)) => Some(compute::not(deleted).map_err(failed)?),
            (keep, None) => keep,
        };
        let columns: Vec<ArrayRef> = self.layout.output.iter().map(|&i| batch.column(i).clone()).collect();
        let options = RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
        let projected = RecordBatch::try_new_with_options(self.schema.clone(), columns, &options)
            .map_err(|e| EngineError::internal(format!("assembling a merged batch: {e}")))?;
        let visible = match keep {
            Some(keep) if keep.true_count() < keep.len() => filter_record_batch(&projected, &keep).map_err(failed)?,
            _ => projected,
        };
        self.take(visible, emit)
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
        let batch = if self.pending.len() == 1 {
            self.pending.pop().expect("one batch")
        } else {
            compute::concat_batches(self.schema, &self.pending).map_err(|e| EngineError::internal(format!("joining merged rows: {e}")))?
        };
        self.pending.clear();
        self.pending_rows = 0;
        if !emit(batch) {
            self.stopped = true;
        }
        Ok(())
    }
}

//! The runs a merged read walks, each sorted by key and in the merge's column layout
//! ([`MergeLayout`]: the request's columns plus the row key and the tombstone flag): the
//! hot rows of a cursor ([`HotRun`]) and one segment's rows ([`SegmentRun`]).

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BinaryArray, BooleanArray, new_null_array};
use datafusion::arrow::compute::{self, filter_record_batch};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};

use crate::catalog::{SystemColumn, TableEntry};
use crate::error::{EngineError, Result};
use crate::provider::assemble::BatchAssembler;
use crate::provider::prune::covers_everything;
use crate::provider::request::{ColumnSource, ScanRequest, system_column_type};
use crate::storage::cold::{ColdScope, ColdStore, SegmentBatches, SegmentKeys, SegmentMeta};
use crate::storage::cursor::RangeCursor;

/// The columns runs produce: the request's, plus the row key and the tombstone flag the
/// merge needs (dropped again on output).
pub(super) struct MergeLayout {
    pub(super) sources: Vec<ColumnSource>,
    pub(super) schema: SchemaRef,
    pub(super) key_at: Option<usize>,
    pub(super) deleted_at: Option<usize>,
    /// Positions of the request's columns.
    pub(super) output: Vec<usize>,
}

impl MergeLayout {
    /// The request's columns, plus the row key and the tombstone flag when asked for.
    pub(super) fn new(request: &ScanRequest, key: bool, deleted: bool) -> Self {
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

/// Hot rows in key order, decoded batch by batch.
pub(super) struct HotRun<'c, 's, 'r> {
    pub(super) cursor: &'c mut RangeCursor<'s>,
    pub(super) assembler: BatchAssembler<'r>,
    pub(super) done: bool,
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
pub(super) struct SegmentRun {
    batches: SegmentBatches,
    /// Where each merge column comes from.
    columns: Vec<ColumnFrom>,
    /// The segment's key index in memory, when the run takes keys and tombstone flags
    /// from it rather than decoding them from the file.
    index: Option<IndexPosition>,
    schema: SchemaRef,
    ranges: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    filter_ranges: bool,
    key_at: Option<usize>,
    sources: Vec<ColumnSource>,
    entry: Arc<TableEntry>,
}

/// Where a merge column of a segment run comes from.
enum ColumnFrom {
    /// That column of the read batch.
    Read(usize),
    /// Not in the segment (added after it was written): the column's backfill or NULL.
    Absent,
    /// The row key, from the key index.
    IndexKey,
    /// The tombstone flag, from the key index.
    IndexDeleted,
}

/// A segment's key index and where the run's next batch starts in it: batches come row
/// group by row group, in the order the run reads its groups, never across two.
struct IndexPosition {
    keys: Arc<SegmentKeys>,
    /// The groups read, in order: first segment row and rows.
    groups: Vec<(usize, usize)>,
    group: usize,
    row: usize,
}

impl IndexPosition {
    /// The segment row of the first of the next `rows` rows read.
    fn take(&mut self, rows: usize) -> Result<usize> {
        let spans = || EngineError::internal("a segment batch does not lie within one row group");
        let (first, count) = *self.groups.get(self.group).ok_or_else(spans)?;
        if self.row + rows > count {
            return Err(spans());
        }
        let start = first + self.row;
        self.row += rows;
        if self.row == count {
            (self.group, self.row) = (self.group + 1, 0);
        }
        Ok(start)
    }
}

impl SegmentRun {
    pub(super) fn open(
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
        let footer = cold.footer_of(segments, segment)?;
        let group_rows: Vec<usize> = footer.metadata().row_groups().iter().map(|g| g.num_rows() as usize).collect();
        let groups = groups.unwrap_or_else(|| (0..group_rows.len()).collect());
        let index = match layout.key_at {
            Some(_) => cold.key_index_for_read(segments, segment, groups.len(), group_rows.len())?,
            None => None,
        };
        let index = index.map(|keys| {
            let starts: Vec<usize> = group_rows.iter().scan(0, |first, rows| Some(std::mem::replace(first, *first + rows))).collect();
            let groups = groups.iter().filter(|&&g| group_rows[g] > 0).map(|&g| (starts[g], group_rows[g])).collect();
            IndexPosition { keys, groups, group: 0, row: 0 }
        });
        let user = stored.len();
        let from_file: Vec<Option<usize>> = layout
            .sources
            .iter()
            .map(|source| match source {
                ColumnSource::User(index) => {
                    let id = entry.definition.columns[*index].id;
                    stored.iter().position(|c| c.id == id)
                }
                ColumnSource::System(SystemColumn::Seq) => Some(user),
                ColumnSource::System(SystemColumn::Updated) => Some(user + 1),
                ColumnSource::System(SystemColumn::Deleted) if index.is_none() => Some(user + 2),
                ColumnSource::RowKey if index.is_none() => Some(user + 3),
                ColumnSource::System(SystemColumn::Deleted) | ColumnSource::RowKey => None,
            })
            .collect();
        let mut read: Vec<usize> = from_file.iter().flatten().copied().collect();
        read.sort_unstable();
        read.dedup();
        let columns = from_file
            .iter()
            .zip(&layout.sources)
            .map(|(position, source)| match (position, source) {
                (Some(position), _) => ColumnFrom::Read(read.binary_search(position).expect("read above")),
                (None, ColumnSource::RowKey) => ColumnFrom::IndexKey,
                (None, ColumnSource::System(SystemColumn::Deleted)) => ColumnFrom::IndexDeleted,
                (None, _) => ColumnFrom::Absent,
            })
            .collect();
        let batches = cold.stream_row_groups(segments, segment, &read, groups, request.batch_rows)?;
        let filter_ranges = !covers_everything(ranges);
        Ok(SegmentRun {
            batches,
            columns,
            index,
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
            let first = match &mut self.index {
                Some(index) => index.take(rows)?,
                None => 0,
            };
            let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.columns.len());
            for (index, (from, field)) in self.columns.iter().zip(self.schema.fields()).enumerate() {
                columns.push(match from {
                    ColumnFrom::Read(at) if read.column(*at).data_type() == field.data_type() => read.column(*at).clone(),
                    ColumnFrom::Read(at) => compute::cast(read.column(*at), field.data_type())
                        .map_err(|e| EngineError::internal(format!("reading a segment column: {e}")))?,
                    ColumnFrom::IndexKey | ColumnFrom::IndexDeleted => {
                        let keys = &self.index.as_ref().expect("columns from the index only with one").keys;
                        match from {
                            ColumnFrom::IndexKey => Arc::new(keys.keys.slice(first, rows)),
                            _ => Arc::new(keys.deleted.slice(first, rows)),
                        }
                    }
                    ColumnFrom::Absent => match self.sources[index] {
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

//! What one scan reads, the vocabulary every part of the read path shares: the request
//! (table, scope, key ranges, pruning, limits) and where each output column comes from.
//! The scan, the merge and the assembler all take a [`ScanRequest`]; none of them is
//! needed to describe one.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, TimeUnit};

use crate::catalog::{SystemColumn, TableEntry};
use crate::error::Result;
use crate::provider::key_range::KeyInterval;
use crate::provider::prune::{PruneCounts, Pruning};
use crate::shared::EngineShared;
use crate::storage::keys::RowScope;
use crate::storage::read_point::ReadPoint;

/// Where an output column of a scan comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnSource {
    /// A user column: index into the table's current definition.
    User(usize),
    System(SystemColumn),
    RowKey,
}

pub fn system_column_type(column: SystemColumn) -> DataType {
    match column {
        SystemColumn::Seq => DataType::Int64,
        SystemColumn::Updated => DataType::Timestamp(TimeUnit::Millisecond, None),
        SystemColumn::Deleted => DataType::Boolean,
    }
}

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
    /// The statement's filters as a test on segment and row-group statistics.
    pub pruning: Option<Arc<Pruning>>,
    /// Where the scan counts what pruning skipped.
    pub pruned: PruneCounts,
    /// The engine whose catalog the read asks, once its snapshot exists (a point read:
    /// once its rows are read), whether `entry` is still the table the statement was
    /// planned against ([`crate::catalog::Catalog::check_current`]). `None`: the caller
    /// holds the table steady itself (a flush, a purge, a write under its lock).
    pub checked_against: Option<Arc<EngineShared>>,
    /// Where the scan reads from: the present, or a transaction's view with its pending
    /// rows on top.
    pub at: ReadPoint,
}

impl ScanRequest {
    /// A read of a whole scope, key ranges and limits aside (flushes, purges, TRUNCATE).
    pub fn whole_scope(
        entry: Arc<TableEntry>,
        scope: RowScope,
        sources: Vec<ColumnSource>,
        include_deleted: bool,
        batch_rows: usize,
    ) -> Self {
        ScanRequest {
            entry,
            scope,
            sources,
            intervals: vec![KeyInterval::all()],
            include_deleted,
            limit: None,
            batch_rows,
            parallelism: 1,
            parallel_min_bytes: u64::MAX,
            visible_from: None,
            pruning: None,
            pruned: PruneCounts::default(),
            checked_against: None,
            at: ReadPoint::now(),
        }
    }

    /// Fails when the table changed since the statement was planned (see
    /// [`ScanRequest::checked_against`]).
    pub fn check_current(&self) -> Result<()> {
        self.checked_against.as_ref().map_or(Ok(()), |shared| shared.catalog.check_current(&self.entry))
    }

    /// Every column of a segment, in its order: the user columns, `_seq`, `_updated`,
    /// `_deleted`, the row key.
    pub fn segment_sources(user_columns: usize) -> Vec<ColumnSource> {
        let mut sources: Vec<ColumnSource> = (0..user_columns).map(ColumnSource::User).collect();
        sources.extend([
            ColumnSource::System(SystemColumn::Seq),
            ColumnSource::System(SystemColumn::Updated),
            ColumnSource::System(SystemColumn::Deleted),
            ColumnSource::RowKey,
        ]);
        sources
    }
}

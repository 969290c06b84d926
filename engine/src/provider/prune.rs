//! Which segments and row groups a scan reads: the ones its key ranges reach, and of
//! those, the ones its filters cannot rule out by their statistics (the manifest's for a
//! whole segment, the Parquet footer's for a row group, `_seq` included).
//!
//! Ruling out by value needs care, because the newest version of a key wins: skipping a
//! newer segment's rows would let an older version of the same key show through. So a
//! segment (or any of its row groups) is skipped for its values only when no older
//! segment the scan still reads may hold any of its keys (segments are weighed oldest
//! first, so a chain of segments a `_seq` bound rules out goes whole); rows shadowed by
//! hot rows or newer segments are fine to skip, the newer version wins anyway. Ruling
//! out by key range is always safe: rows outside the ranges are never shown.

use std::collections::HashSet;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BinaryArray, BooleanArray, UInt64Array};
use datafusion::arrow::compute;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::common::pruning::PruningStatistics;
use datafusion::common::{Column, DFSchema, ScalarValue};
use datafusion::execution::context::ExecutionProps;
use datafusion::logical_expr::expr_rewriter::unnormalize_col;
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::{Expr, utils::conjunction};
use datafusion::physical_expr::create_physical_expr;
use datafusion::physical_optimizer::pruning::{PruningPredicate, PruningPredicateBuilder};
use datafusion::physical_plan::metrics::Count;
use parquet::arrow::arrow_reader::ArrowReaderMetadata;
use parquet::arrow::arrow_reader::statistics::StatisticsConverter;
use parquet::file::metadata::RowGroupMetaData;

use crate::catalog::{SystemColumn, TableEntry};
use crate::error::Result;
use crate::provider::request::ColumnSource;
use crate::storage::cold::manifest::span_reaches;
use crate::storage::cold::{ColdScope, ColdStore, SegmentMeta};

/// A scan's filters as a test on statistics, and the table columns they name.
#[derive(Debug)]
pub struct Pruning {
    predicate: PruningPredicate,
    /// The provider's columns by name, with where each comes from.
    columns: Vec<(String, ColumnSource, DataType)>,
}

impl Pruning {
    /// The test for `filters` over a provider with `schema` whose columns come from
    /// `sources`; `None` when the filters cannot rule anything out.
    pub fn new(filters: &[Expr], schema: &SchemaRef, sources: &[ColumnSource]) -> Option<Arc<Pruning>> {
        // The statement names columns with their table; the test reads them by name.
        let filter = unnormalize_col(conjunction(filters.iter().filter(|f| !f.is_volatile()).cloned())?);
        let df_schema = DFSchema::try_from(schema.as_ref().clone()).ok()?;
        let physical = create_physical_expr(&filter, &df_schema, &ExecutionProps::new(), &PhysicalPlanningContext::default()).ok()?;
        let predicate = PruningPredicateBuilder::new().with_file_schema(schema.clone()).try_build(physical).ok()?;
        if predicate.always_true() {
            return None;
        }
        let columns = schema.fields().iter().zip(sources).map(|(f, s)| (f.name().clone(), *s, f.data_type().clone())).collect();
        Some(Arc::new(Pruning { predicate, columns }))
    }

    fn column(&self, column: &Column) -> Option<(ColumnSource, &DataType)> {
        self.columns.iter().find(|(name, ..)| *name == column.name).map(|(_, source, data_type)| (*source, data_type))
    }
}

/// How many segments and row groups scans skipped (the scan's metrics).
#[derive(Debug, Clone, Default)]
pub struct PruneCounts {
    pub segments: Count,
    pub row_groups: Count,
}

/// A segment a scan reads, and which of its row groups (`None`: all).
pub struct Planned<'s> {
    pub segment: &'s SegmentMeta,
    pub groups: Option<Vec<usize>>,
}

/// The segments of `scope` a scan of `ranges` (segment key space) reads, newest first.
pub fn plan_segments<'s>(
    cold: &ColdStore,
    scope: &'s ColdScope,
    entry: &TableEntry,
    ranges: &[(Vec<u8>, Option<Vec<u8>>)],
    pruning: Option<&Pruning>,
    counts: &PruneCounts,
) -> Result<Vec<Planned<'s>>> {
    // Oldest first, as the manifest lists them.
    let reached: Vec<&SegmentMeta> = scope
        .manifest
        .segments
        .iter()
        .filter(|segment| ranges.iter().any(|(lower, upper)| segment.may_hold_keys(lower, upper.as_deref())))
        .collect();
    let passes: Vec<bool> = match pruning {
        Some(pruning) => {
            pruning.predicate.prune(&SegmentStats { pruning, entry, segments: &reached }).unwrap_or_else(|_| vec![true; reached.len()])
        }
        None => vec![true; reached.len()],
    };
    let whole_scope = covers_everything(ranges);
    let mut planned: Vec<Planned<'s>> = Vec::with_capacity(reached.len());
    for (segment, passes) in reached.into_iter().zip(passes) {
        // Values may rule rows out only where no older version of their keys is read.
        let by_value = if planned.iter().any(|older| key_spans_meet(older.segment, segment)) { None } else { pruning };
        if by_value.is_some() && !passes {
            counts.segments.add(1);
            continue;
        }
        if whole_scope && by_value.is_none() {
            planned.push(Planned { segment, groups: None });
            continue;
        }
        let footer = cold.footer_of(scope, segment)?;
        let groups = footer.metadata().num_row_groups();
        let kept = row_groups(&footer, entry, segment, ranges, whole_scope, by_value);
        counts.row_groups.add(groups - kept.len());
        if kept.is_empty() {
            counts.segments.add(1);
            continue;
        }
        planned.push(Planned { segment, groups: (kept.len() < groups).then_some(kept) });
    }
    planned.reverse();
    Ok(planned)
}

/// Whether `ranges` (segment key space) are the whole scope.
pub(super) fn covers_everything(ranges: &[(Vec<u8>, Option<Vec<u8>>)]) -> bool {
    matches!(ranges, [(lower, None)] if lower.is_empty())
}

/// Whether two segments' key spans overlap.
fn key_spans_meet(a: &SegmentMeta, b: &SegmentMeta) -> bool {
    // Lower-case hex keeps the order of the bytes it spells.
    a.min_key <= b.max_key && b.min_key <= a.max_key
}

/// The smallest key (segment key space) of each row group of a segment, as its footer
/// states it (a bound at or below the group's first key; null where the footer has none):
/// where a read may be cut into key parts.
pub fn group_min_keys(footer: &ArrowReaderMetadata, entry: &TableEntry, segment: &SegmentMeta) -> Option<BinaryArray> {
    let stats = GroupStats { pruning: None, entry, segment, footer };
    let mins = stats.converted(stats.key_position()?, |s, m| s.row_group_mins(m))?;
    mins.as_binary_opt::<i32>().cloned()
}

/// The row groups of a segment its key ranges reach and (with `pruning`) its filters
/// cannot rule out.
fn row_groups(
    footer: &ArrowReaderMetadata,
    entry: &TableEntry,
    segment: &SegmentMeta,
    ranges: &[(Vec<u8>, Option<Vec<u8>>)],
    whole_scope: bool,
    pruning: Option<&Pruning>,
) -> Vec<usize> {
    let groups = footer.metadata().num_row_groups();
    let stats = GroupStats { pruning, entry, segment, footer };
    let mut keep = vec![true; groups];
    if !whole_scope {
        let key = stats.key_position();
        let mins = key.and_then(|at| stats.converted(at, |s, m| s.row_group_mins(m)));
        let maxes = key.and_then(|at| stats.converted(at, |s, m| s.row_group_maxes(m)));
        if let (Some(mins), Some(maxes)) = (mins, maxes) {
            let (mins, maxes) = (mins.as_binary::<i32>(), maxes.as_binary::<i32>());
            for (group, keep) in keep.iter_mut().enumerate() {
                if mins.is_valid(group) && maxes.is_valid(group) {
                    let (min, max) = (mins.value(group), maxes.value(group));
                    *keep = ranges.iter().any(|(lower, upper)| span_reaches(min, max, lower, upper.as_deref()));
                }
            }
        }
    }
    if let Some(pruning) = pruning
        && let Ok(passes) = pruning.predicate.prune(&stats)
    {
        keep.iter_mut().zip(passes).for_each(|(keep, passes)| *keep &= passes);
    }
    (0..groups).filter(|&g| keep[g]).collect()
}

/// Scalar statistics of several segments, from their manifest entries.
struct SegmentStats<'a> {
    pruning: &'a Pruning,
    entry: &'a TableEntry,
    segments: &'a [&'a SegmentMeta],
}

impl SegmentStats<'_> {
    fn bounds(&self, column: &Column, max: bool) -> Option<ArrayRef> {
        let (source, data_type) = self.pruning.column(column)?;
        let values: Vec<Option<ScalarValue>> = match source {
            ColumnSource::System(SystemColumn::Seq) => {
                self.segments.iter().map(|s| Some(ScalarValue::Int64(Some((if max { s.max_seq } else { s.min_seq }) as i64)))).collect()
            }
            ColumnSource::User(index) => {
                let id = self.entry.definition.columns.get(index)?.id;
                self.segments
                    .iter()
                    .map(|s| {
                        let stats = s.columns.iter().find(|c| c.id == id)?;
                        json_scalar(if max { stats.max.as_ref()? } else { stats.min.as_ref()? }, data_type, max)
                    })
                    .collect()
            }
            _ => return None,
        };
        scalars_to_array(values, data_type)
    }
}

impl PruningStatistics for SegmentStats<'_> {
    fn min_values(&self, column: &Column) -> Option<ArrayRef> {
        self.bounds(column, false)
    }

    fn max_values(&self, column: &Column) -> Option<ArrayRef> {
        self.bounds(column, true)
    }

    fn num_containers(&self) -> usize {
        self.segments.len()
    }

    fn null_counts(&self, column: &Column) -> Option<ArrayRef> {
        let counts: Vec<Option<u64>> = match self.pruning.column(column)?.0 {
            ColumnSource::System(SystemColumn::Seq) => self.segments.iter().map(|_| Some(0)).collect(),
            ColumnSource::User(index) => {
                let id = self.entry.definition.columns.get(index)?.id;
                self.segments.iter().map(|s| s.columns.iter().find(|c| c.id == id).map(|c| c.nulls)).collect()
            }
            _ => return None,
        };
        Some(Arc::new(UInt64Array::from(counts)))
    }

    fn row_counts(&self) -> Option<ArrayRef> {
        Some(Arc::new(UInt64Array::from_iter_values(self.segments.iter().map(|s| s.rows))))
    }

    fn contained(&self, _column: &Column, _values: &HashSet<ScalarValue>) -> Option<BooleanArray> {
        None
    }
}

/// A manifest bound (a JSON number, string or boolean; the upper one when `max`) as a
/// value of the column's type; `None` when it does not convert exactly.
fn json_scalar(value: &serde_json::Value, data_type: &DataType, max: bool) -> Option<ScalarValue> {
    let scalar = match value {
        serde_json::Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(v), ..) => ScalarValue::Int64(Some(v)),
            (None, Some(v), _) => ScalarValue::UInt64(Some(v)),
            // Reading a float back from text may land one step off: widen it by a step.
            (None, None, Some(v)) => ScalarValue::Float64(Some(if max { v.next_up() } else { v.next_down() })),
            _ => return None,
        },
        serde_json::Value::String(s) => ScalarValue::Utf8(Some(s.clone())),
        serde_json::Value::Bool(b) => ScalarValue::Boolean(Some(*b)),
        _ => return None,
    };
    if scalar.data_type() == *data_type {
        return Some(scalar);
    }
    // Integer bounds of a date column are days (or ms), of a timestamp its units: a cast
    // of the same width keeps the number.
    let widened = match (data_type, &scalar) {
        (DataType::Date32, ScalarValue::Int64(Some(v))) => ScalarValue::Int32(Some(i32::try_from(*v).ok()?)),
        _ => scalar,
    };
    widened.cast_to(data_type).ok().filter(|s| !s.is_null())
}

fn scalars_to_array(values: Vec<Option<ScalarValue>>, data_type: &DataType) -> Option<ArrayRef> {
    let null = ScalarValue::try_from(data_type).ok()?;
    ScalarValue::iter_to_array(values.into_iter().map(|v| v.unwrap_or_else(|| null.clone()))).ok()
}

/// Row-group statistics of one segment, from its Parquet footer.
struct GroupStats<'a> {
    pruning: Option<&'a Pruning>,
    entry: &'a TableEntry,
    segment: &'a SegmentMeta,
    footer: &'a ArrowReaderMetadata,
}

impl GroupStats<'_> {
    /// The file position of the column a table column is stored in (by column id: a
    /// renamed column keeps its old name in older files), and the table column's type.
    fn stored(&self, column: &Column) -> Option<(usize, DataType)> {
        let (source, data_type) = self.pruning?.column(column)?;
        let user = self.entry.versions.get(&self.segment.schema_version)?.len();
        let position = match source {
            ColumnSource::User(index) => {
                let id = self.entry.definition.columns.get(index)?.id;
                self.entry.versions.get(&self.segment.schema_version)?.iter().position(|c| c.id == id)?
            }
            ColumnSource::System(SystemColumn::Seq) => user,
            ColumnSource::System(SystemColumn::Updated) => user + 1,
            _ => return None,
        };
        Some((position, data_type.clone()))
    }

    /// The file's key column (by position: a user column may be called `_key` too).
    fn key_position(&self) -> Option<usize> {
        Some(self.entry.versions.get(&self.segment.schema_version)?.len() + 3)
    }

    /// Per row group statistics of the file column at `position` (a top-level column).
    fn converted(
        &self,
        position: usize,
        read: impl Fn(&StatisticsConverter<'_>, std::slice::Iter<'_, RowGroupMetaData>) -> parquet::errors::Result<ArrayRef>,
    ) -> Option<ArrayRef> {
        let field = self.footer.schema().fields().get(position)?;
        if field.data_type().is_nested() {
            return None;
        }
        let parquet_schema = self.footer.metadata().file_metadata().schema_descr();
        let leaf = (0..parquet_schema.num_columns()).find(|&leaf| parquet_schema.get_column_root_idx(leaf) == position)?;
        let converter = StatisticsConverter::from_column_index(leaf, field, parquet_schema).ok()?;
        read(&converter, self.footer.metadata().row_groups().iter()).ok()
    }

    fn bounds(&self, column: &Column, max: bool) -> Option<ArrayRef> {
        let (position, data_type) = self.stored(column)?;
        // Parquet's float bounds leave NaN out, which a filter may still match.
        if data_type.is_floating() {
            return None;
        }
        let array = self.converted(position, |s, m| if max { s.row_group_maxes(m) } else { s.row_group_mins(m) })?;
        if array.data_type() == &data_type {
            return Some(array);
        }
        compute::cast(&array, &data_type).ok()
    }
}

impl PruningStatistics for GroupStats<'_> {
    fn min_values(&self, column: &Column) -> Option<ArrayRef> {
        self.bounds(column, false)
    }

    fn max_values(&self, column: &Column) -> Option<ArrayRef> {
        self.bounds(column, true)
    }

    fn num_containers(&self) -> usize {
        self.footer.metadata().num_row_groups()
    }

    fn null_counts(&self, column: &Column) -> Option<ArrayRef> {
        let (position, _) = self.stored(column)?;
        self.converted(position, |s, m| s.row_group_null_counts(m).map(|counts| Arc::new(counts) as ArrayRef))
    }

    fn row_counts(&self) -> Option<ArrayRef> {
        let groups = self.footer.metadata().row_groups();
        Some(Arc::new(UInt64Array::from_iter_values(groups.iter().map(|g| g.num_rows() as u64))))
    }

    fn contained(&self, _column: &Column, _values: &HashSet<ScalarValue>) -> Option<BooleanArray> {
        None
    }
}

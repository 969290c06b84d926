//! One Parquet segment: the file layout, encoding a scope's rows into it, and its
//! statistics for the manifest.
//!
//! A segment holds the user columns of the schema version it was written under (each
//! field carries its column id as the Parquet field id), then the system columns `_seq`,
//! `_updated`, `_deleted`, then `_key`, the row's key in the engine's order-preserving
//! encoding (scope part excluded). Rows are sorted by `_key`, one row per key. Any Parquet
//! reader opens the file; `_key` is the one column only this engine interprets.

use std::io::Write;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BinaryArray, BooleanArray, Int64Array};
use datafusion::arrow::compute;
use datafusion::arrow::datatypes::{
    DataType, Date32Type, Date64Type, Field, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, Schema, SchemaRef,
    TimeUnit, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use datafusion::arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use crate::error::{EngineError, Result, SqlState};
use crate::storage::cold::manifest::{ColumnStats, SegmentMeta, to_hex};

pub const SEQ_COLUMN: &str = "_seq";
pub const UPDATED_COLUMN: &str = "_updated";
pub const DELETED_COLUMN: &str = "_deleted";
pub const KEY_COLUMN: &str = "_key";
/// The columns after the user columns, in this order.
pub const TRAILING_COLUMNS: usize = 4;

/// Rows per Parquet row group: statistics per group let a point read or a key range skip
/// most of a large segment.
const ROW_GROUP_ROWS: usize = 64 * 1024;
/// Rows per data page (the unit a point read decodes).
const PAGE_ROWS: usize = 4 * 1024;

/// A user column of a segment: its id (stable across renames) and its name and type.
#[derive(Debug, Clone)]
pub struct SegmentColumn {
    pub id: u32,
    pub name: String,
    pub data_type: DataType,
}

/// The Arrow schema of a segment with these user columns.
pub fn segment_schema(columns: &[SegmentColumn]) -> SchemaRef {
    let mut fields: Vec<Field> = columns
        .iter()
        .map(|c| {
            let metadata = [("PARQUET:field_id".to_string(), c.id.to_string())].into_iter().collect();
            Field::new(&c.name, c.data_type.clone(), true).with_metadata(metadata)
        })
        .collect();
    fields.push(Field::new(SEQ_COLUMN, DataType::Int64, false));
    fields.push(Field::new(UPDATED_COLUMN, DataType::Timestamp(TimeUnit::Millisecond, None), false));
    fields.push(Field::new(DELETED_COLUMN, DataType::Boolean, false));
    fields.push(Field::new(KEY_COLUMN, DataType::Binary, false));
    Arc::new(Schema::new(fields))
}

/// Builds one segment batch by batch into `sink` (memory, or an upload in parts),
/// gathering the statistics the manifest keeps: memory stays at one row group's encoded
/// columns whatever the segment's size.
pub struct SegmentBuilder<W: Write + Send> {
    writer: ArrowWriter<Counted<W>>,
    schema: SchemaRef,
    user: usize,
    stats: Vec<ColumnBounds>,
    rows: u64,
    deleted_rows: u64,
    min_seq: u64,
    max_seq: u64,
    max_updated: i64,
    oldest_tombstone: Option<i64>,
    first_key: Option<Vec<u8>>,
    last_key: Option<Vec<u8>>,
}

impl<W: Write + Send> SegmentBuilder<W> {
    pub fn new(columns: &[SegmentColumn], sink: W) -> Result<Self> {
        let schema = segment_schema(columns);
        let properties = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
            .set_data_page_row_count_limit(PAGE_ROWS)
            .build();
        let writer = ArrowWriter::try_new(Counted { inner: sink, bytes: 0 }, schema.clone(), Some(properties)).map_err(parquet_error)?;
        Ok(SegmentBuilder {
            writer,
            schema,
            user: columns.len(),
            stats: columns.iter().map(|_| ColumnBounds::default()).collect(),
            rows: 0,
            deleted_rows: 0,
            min_seq: u64::MAX,
            max_seq: 0,
            max_updated: i64::MIN,
            oldest_tombstone: None,
            first_key: None,
            last_key: None,
        })
    }

    /// Adds rows in `segment_schema` layout, after every row added before in `_key` order.
    pub fn add(&mut self, batch: &RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let batch = batch
            .clone()
            .with_schema(self.schema.clone())
            .map_err(|e| EngineError::internal(format!("segment rows do not match the segment layout: {e}")))?;
        let user = self.user;
        for (bounds, array) in self.stats.iter_mut().zip(batch.columns()) {
            bounds.add(array);
        }
        let seqs: &Int64Array = batch.column(user).as_primitive();
        self.min_seq = self.min_seq.min(compute::min(seqs).unwrap_or(i64::MAX) as u64);
        self.max_seq = self.max_seq.max(compute::max(seqs).unwrap_or(0) as u64);
        let updated = batch.column(user + 1).as_primitive::<datafusion::arrow::datatypes::TimestampMillisecondType>();
        self.max_updated = self.max_updated.max(compute::max(updated).unwrap_or(i64::MIN));
        let deleted: &BooleanArray = batch.column(user + 2).as_boolean();
        self.deleted_rows += deleted.true_count() as u64;
        for row in (0..batch.num_rows()).filter(|&row| deleted.value(row)) {
            self.oldest_tombstone = Some(self.oldest_tombstone.map_or(updated.value(row), |t: i64| t.min(updated.value(row))));
        }
        let keys: &BinaryArray = batch.column(user + 3).as_binary();
        if self.first_key.is_none() {
            self.first_key = Some(keys.value(0).to_vec());
        }
        self.last_key = Some(keys.value(keys.len() - 1).to_vec());
        self.rows += batch.num_rows() as u64;
        self.writer.write(&batch).map_err(parquet_error)
    }

    /// Rows added so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// The largest `_seq` added so far (0: none).
    pub fn max_seq(&self) -> u64 {
        self.max_seq
    }

    /// Writes the file's footer and describes it for the manifest (`None` without rows);
    /// returns the sink with every byte written to it.
    pub fn finish(self, columns: &[SegmentColumn], schema_version: u32, file: String) -> Result<(W, Option<SegmentMeta>)> {
        let Counted { inner: sink, bytes } = self.writer.into_inner().map_err(parquet_error)?;
        let (Some(first), Some(last)) = (self.first_key, self.last_key) else { return Ok((sink, None)) };
        let meta = SegmentMeta {
            file,
            bytes,
            rows: self.rows,
            deleted_rows: self.deleted_rows,
            min_seq: self.min_seq,
            max_seq: self.max_seq,
            min_key: to_hex(&first),
            max_key: to_hex(&last),
            schema_version,
            max_updated_millis: self.max_updated,
            oldest_tombstone_millis: self.oldest_tombstone,
            columns: columns.iter().zip(self.stats).map(|(c, b)| b.into_stats(c.id)).collect(),
        };
        Ok((sink, Some(meta)))
    }
}

/// A sink that counts the bytes written through it (the segment's size).
struct Counted<W> {
    inner: W,
    bytes: u64,
}

impl<W: Write> Write for Counted<W> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let written = self.inner.write(bytes)?;
        self.bytes += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

pub fn parquet_error(error: parquet::errors::ParquetError) -> EngineError {
    EngineError::new(SqlState::IO_ERROR, format!("cold storage: {error}"))
}

/// Null count and bounds of one column, gathered batch by batch.
#[derive(Default)]
struct ColumnBounds {
    nulls: u64,
    min: Option<Bound>,
    max: Option<Bound>,
    /// A type without JSON bounds: only nulls are counted.
    unbounded: bool,
}

#[derive(Debug, Clone, PartialEq, PartialOrd)]
enum Bound {
    Int(i128),
    Float(f64),
    Text(String),
    Bool(bool),
}

impl Bound {
    /// Whether `self` orders before `other`. Floats take the total order Arrow's min and
    /// max use (NaN above every number): NaN compares false either way under `<`, so
    /// bounds of several batches would drop the NaN a later batch brought.
    fn below(&self, other: &Bound) -> bool {
        match (self, other) {
            (Bound::Float(a), Bound::Float(b)) => a.total_cmp(b).is_lt(),
            _ => self < other,
        }
    }
}

impl ColumnBounds {
    fn add(&mut self, array: &ArrayRef) {
        self.nulls += array.null_count() as u64;
        if self.unbounded || array.null_count() == array.len() {
            return;
        }
        let Some((low, high)) = array_bounds(array) else {
            self.unbounded = true;
            return;
        };
        if self.min.as_ref().is_none_or(|m| low.below(m)) {
            self.min = Some(low);
        }
        if self.max.as_ref().is_none_or(|m| m.below(&high)) {
            self.max = Some(high);
        }
    }

    fn into_stats(self, id: u32) -> ColumnStats {
        let json = |bound: Option<Bound>| match bound? {
            Bound::Int(v) => i64::try_from(v).map(serde_json::Value::from).or_else(|_| u64::try_from(v).map(serde_json::Value::from)).ok(),
            Bound::Float(v) => serde_json::Number::from_f64(v).map(serde_json::Value::Number),
            Bound::Text(v) => Some(serde_json::Value::String(v)),
            Bound::Bool(v) => Some(serde_json::Value::Bool(v)),
        };
        let bounded = !self.unbounded;
        ColumnStats {
            id,
            nulls: self.nulls,
            min: if bounded { json(self.min) } else { None },
            max: if bounded { json(self.max) } else { None },
        }
    }
}

/// The smallest and largest non-null value of an array of a type with JSON bounds.
fn array_bounds(array: &ArrayRef) -> Option<(Bound, Bound)> {
    macro_rules! ints {
        ($t:ty) => {{
            let a = array.as_primitive::<$t>();
            Some((Bound::Int(compute::min(a)? as i128), Bound::Int(compute::max(a)? as i128)))
        }};
    }
    match array.data_type() {
        DataType::Int8 => ints!(Int8Type),
        DataType::Int16 => ints!(Int16Type),
        DataType::Int32 => ints!(Int32Type),
        DataType::Int64 => ints!(Int64Type),
        DataType::UInt8 => ints!(UInt8Type),
        DataType::UInt16 => ints!(UInt16Type),
        DataType::UInt32 => ints!(UInt32Type),
        DataType::UInt64 => ints!(UInt64Type),
        DataType::Date32 => ints!(Date32Type),
        DataType::Date64 => ints!(Date64Type),
        DataType::Timestamp(..) => {
            let as_ints = compute::cast(array, &DataType::Int64).ok()?;
            let a = as_ints.as_primitive::<Int64Type>();
            Some((Bound::Int(compute::min(a)? as i128), Bound::Int(compute::max(a)? as i128)))
        }
        DataType::Float32 => {
            let a = array.as_primitive::<Float32Type>();
            Some((Bound::Float(compute::min(a)? as f64), Bound::Float(compute::max(a)? as f64)))
        }
        DataType::Float64 => {
            let a = array.as_primitive::<Float64Type>();
            Some((Bound::Float(compute::min(a)?), Bound::Float(compute::max(a)?)))
        }
        DataType::Utf8 => {
            let a = array.as_string::<i32>();
            Some((Bound::Text(compute::min_string(a)?.to_string()), Bound::Text(compute::max_string(a)?.to_string())))
        }
        DataType::LargeUtf8 => {
            let a = array.as_string::<i64>();
            Some((Bound::Text(compute::min_string(a)?.to_string()), Bound::Text(compute::max_string(a)?.to_string())))
        }
        DataType::Utf8View => {
            let a = array.as_string_view();
            Some((Bound::Text(compute::min_string_view(a)?.to_string()), Bound::Text(compute::max_string_view(a)?.to_string())))
        }
        DataType::Boolean => {
            let a = array.as_boolean();
            Some((Bound::Bool(compute::min_boolean(a)?), Bound::Bool(compute::max_boolean(a)?)))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::Float64Array;

    use super::*;

    #[test]
    fn float_bounds_of_several_batches_keep_nan() {
        let mut bounds = ColumnBounds::default();
        bounds.add(&(Arc::new(Float64Array::from(vec![0.5])) as ArrayRef));
        bounds.add(&(Arc::new(Float64Array::from(vec![f64::NAN])) as ArrayRef));
        bounds.add(&(Arc::new(Float64Array::from(vec![-1.0])) as ArrayRef));
        let stats = bounds.into_stats(1);
        // NaN has no JSON form: the maximum is unknown, so no filter prunes on it.
        assert_eq!((stats.min, stats.max), (Some(serde_json::json!(-1.0)), None));
    }
}

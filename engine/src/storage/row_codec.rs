//! The compact typed binary encoding of a stored row (the RocksDB value).
//!
//! ```text
//! [format u8 = 1][flags u8: bit 0 = deleted][schema version u32 LE][_seq u64 LE][_updated i64 LE]
//! [null bitmap: one bit per column of that schema version, 1 = NULL]
//! [values of the non-null columns, in column order]
//! ```
//! Fixed-width types (integers, floats, decimals, dates, times, timestamps, intervals,
//! durations) store their native little-endian bytes; booleans one byte; strings and
//! binaries a LEB128 length and the bytes. Every column of the row is stored, so a soft
//! delete keeps the row's last values and only rewrites the header.

use std::sync::Arc;

use datafusion::arrow::array::NullBufferBuilder;
use datafusion::arrow::array::{
    Array, ArrayData, ArrayRef, AsArray, BinaryBuilder, BinaryViewBuilder, BooleanBuilder, LargeBinaryBuilder, LargeStringBuilder,
    StringBuilder, StringViewBuilder, make_array,
};
use datafusion::arrow::buffer::Buffer;
use datafusion::arrow::datatypes::DataType;

use crate::error::{EngineError, Result};

const FORMAT: u8 = 1;
const HEADER_LEN: usize = 1 + 1 + 4 + 8 + 8;
const DELETED: u8 = 0b1;

/// The system part of a stored row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowHeader {
    pub schema_version: u32,
    pub seq: u64,
    pub updated_millis: i64,
    pub deleted: bool,
}

/// Whether rows of this type can be stored.
pub fn is_storable_type(data_type: &DataType) -> bool {
    use DataType::*;
    matches!(data_type, Boolean | Utf8 | LargeUtf8 | Utf8View | Binary | LargeBinary | BinaryView)
        || (data_type.is_primitive() && data_type.primitive_width().is_some())
}

pub fn decode_header(value: &[u8]) -> Result<RowHeader> {
    if value.len() < HEADER_LEN || value[0] != FORMAT {
        return Err(corrupt());
    }
    Ok(RowHeader {
        deleted: value[1] & DELETED != 0,
        schema_version: u32::from_le_bytes(value[2..6].try_into().unwrap()),
        seq: u64::from_le_bytes(value[6..14].try_into().unwrap()),
        updated_millis: i64::from_le_bytes(value[14..22].try_into().unwrap()),
    })
}

/// Sets the `_seq` of an encoded row in place (the commit assigns it).
pub fn set_seq(value: &mut [u8], seq: u64) -> Result<()> {
    if value.len() < HEADER_LEN || value[0] != FORMAT {
        return Err(corrupt());
    }
    value[6..14].copy_from_slice(&seq.to_le_bytes());
    Ok(())
}

/// Sets the `_updated` of an encoded row in place (a grouped commit stamps its time).
pub fn set_updated_millis(value: &mut [u8], millis: i64) -> Result<()> {
    if value.len() < HEADER_LEN || value[0] != FORMAT {
        return Err(corrupt());
    }
    value[14..22].copy_from_slice(&millis.to_le_bytes());
    Ok(())
}

/// Rewrites the header of an encoded row in place, keeping its values.
pub fn rewrite_header(value: &mut [u8], header: RowHeader) -> Result<()> {
    if value.len() < HEADER_LEN || value[0] != FORMAT {
        return Err(corrupt());
    }
    write_header(&mut value[..HEADER_LEN], header);
    Ok(())
}

fn write_header(out: &mut [u8], header: RowHeader) {
    out[0] = FORMAT;
    out[1] = if header.deleted { DELETED } else { 0 };
    out[2..6].copy_from_slice(&header.schema_version.to_le_bytes());
    out[6..14].copy_from_slice(&header.seq.to_le_bytes());
    out[14..22].copy_from_slice(&header.updated_millis.to_le_bytes());
}

fn corrupt() -> EngineError {
    EngineError::internal("corrupt row encoding")
}

/// Read access to one column of a batch being encoded; built once per column and batch.
pub enum ColumnReader<'a> {
    Fixed { values: Buffer, width: usize, offset: usize, array: &'a dyn Array },
    Boolean(&'a datafusion::arrow::array::BooleanArray),
    Utf8(&'a datafusion::arrow::array::StringArray),
    LargeUtf8(&'a datafusion::arrow::array::LargeStringArray),
    Utf8View(&'a datafusion::arrow::array::StringViewArray),
    Binary(&'a datafusion::arrow::array::BinaryArray),
    LargeBinary(&'a datafusion::arrow::array::LargeBinaryArray),
    BinaryView(&'a datafusion::arrow::array::BinaryViewArray),
}

impl<'a> ColumnReader<'a> {
    pub fn new(array: &'a ArrayRef) -> Result<Self> {
        use DataType::*;
        Ok(match array.data_type() {
            Boolean => ColumnReader::Boolean(array.as_boolean()),
            Utf8 => ColumnReader::Utf8(array.as_string::<i32>()),
            LargeUtf8 => ColumnReader::LargeUtf8(array.as_string::<i64>()),
            Utf8View => ColumnReader::Utf8View(array.as_string_view()),
            Binary => ColumnReader::Binary(array.as_binary::<i32>()),
            LargeBinary => ColumnReader::LargeBinary(array.as_binary::<i64>()),
            BinaryView => ColumnReader::BinaryView(array.as_binary_view()),
            other if is_storable_type(other) => {
                let width = other.primitive_width().ok_or_else(corrupt)?;
                let data = array.to_data();
                let values = data.buffers().first().ok_or_else(corrupt)?.clone();
                ColumnReader::Fixed { values, width, offset: data.offset(), array: array.as_ref() }
            }
            other => {
                return Err(EngineError::not_supported(format!("columns of type {other} cannot be stored")));
            }
        })
    }

    fn is_null(&self, row: usize) -> bool {
        match self {
            ColumnReader::Fixed { array, .. } => array.is_null(row),
            ColumnReader::Boolean(a) => a.is_null(row),
            ColumnReader::Utf8(a) => a.is_null(row),
            ColumnReader::LargeUtf8(a) => a.is_null(row),
            ColumnReader::Utf8View(a) => a.is_null(row),
            ColumnReader::Binary(a) => a.is_null(row),
            ColumnReader::LargeBinary(a) => a.is_null(row),
            ColumnReader::BinaryView(a) => a.is_null(row),
        }
    }

    fn append_value(&self, row: usize, out: &mut Vec<u8>) {
        match self {
            ColumnReader::Fixed { values, width, offset, .. } => {
                let start = (offset + row) * width;
                out.extend_from_slice(&values.as_slice()[start..start + width]);
            }
            ColumnReader::Boolean(a) => out.push(u8::from(a.value(row))),
            ColumnReader::Utf8(a) => append_var(a.value(row).as_bytes(), out),
            ColumnReader::LargeUtf8(a) => append_var(a.value(row).as_bytes(), out),
            ColumnReader::Utf8View(a) => append_var(a.value(row).as_bytes(), out),
            ColumnReader::Binary(a) => append_var(a.value(row), out),
            ColumnReader::LargeBinary(a) => append_var(a.value(row), out),
            ColumnReader::BinaryView(a) => append_var(a.value(row), out),
        }
    }
}

fn append_var(bytes: &[u8], out: &mut Vec<u8>) {
    let mut len = bytes.len() as u64;
    loop {
        let byte = (len & 0x7F) as u8;
        len >>= 7;
        if len == 0 {
            out.push(byte);
            break;
        }
        out.push(byte | 0x80);
    }
    out.extend_from_slice(bytes);
}

/// Appends the encoding of row `row` of `columns` (in schema-version order) to `out`.
pub fn encode_row(header: RowHeader, columns: &[ColumnReader<'_>], row: usize, out: &mut Vec<u8>) {
    let start = out.len();
    out.resize(start + HEADER_LEN, 0);
    write_header(&mut out[start..start + HEADER_LEN], header);
    let bitmap_start = out.len();
    out.resize(bitmap_start + columns.len().div_ceil(8), 0);
    for (index, column) in columns.iter().enumerate() {
        if column.is_null(row) {
            out[bitmap_start + index / 8] |= 1 << (index % 8);
        } else {
            column.append_value(row, out);
        }
    }
}

/// Collects decoded values of one column into an Arrow array.
enum ColumnBuilder {
    Fixed { data_type: DataType, width: usize, values: Vec<u8>, nulls: NullBufferBuilder, len: usize },
    Boolean(BooleanBuilder),
    Utf8(StringBuilder),
    LargeUtf8(LargeStringBuilder),
    Utf8View(StringViewBuilder),
    Binary(BinaryBuilder),
    LargeBinary(LargeBinaryBuilder),
    BinaryView(BinaryViewBuilder),
}

impl ColumnBuilder {
    fn new(data_type: &DataType, capacity: usize) -> Result<Self> {
        use DataType::*;
        Ok(match data_type {
            Boolean => ColumnBuilder::Boolean(BooleanBuilder::with_capacity(capacity)),
            Utf8 => ColumnBuilder::Utf8(StringBuilder::with_capacity(capacity, capacity * 8)),
            LargeUtf8 => ColumnBuilder::LargeUtf8(LargeStringBuilder::with_capacity(capacity, capacity * 8)),
            Utf8View => ColumnBuilder::Utf8View(StringViewBuilder::with_capacity(capacity)),
            Binary => ColumnBuilder::Binary(BinaryBuilder::with_capacity(capacity, capacity * 8)),
            LargeBinary => ColumnBuilder::LargeBinary(LargeBinaryBuilder::with_capacity(capacity, capacity * 8)),
            BinaryView => ColumnBuilder::BinaryView(BinaryViewBuilder::with_capacity(capacity)),
            other if is_storable_type(other) => {
                let width = other.primitive_width().ok_or_else(corrupt)?;
                ColumnBuilder::Fixed {
                    data_type: other.clone(),
                    width,
                    values: Vec::with_capacity(capacity * width),
                    nulls: NullBufferBuilder::new(capacity),
                    len: 0,
                }
            }
            other => return Err(EngineError::not_supported(format!("columns of type {other} cannot be stored"))),
        })
    }

    fn append_null(&mut self) {
        match self {
            ColumnBuilder::Fixed { width, values, nulls, len, .. } => {
                values.resize(values.len() + *width, 0);
                nulls.append_null();
                *len += 1;
            }
            ColumnBuilder::Boolean(b) => b.append_null(),
            ColumnBuilder::Utf8(b) => b.append_null(),
            ColumnBuilder::LargeUtf8(b) => b.append_null(),
            ColumnBuilder::Utf8View(b) => b.append_null(),
            ColumnBuilder::Binary(b) => b.append_null(),
            ColumnBuilder::LargeBinary(b) => b.append_null(),
            ColumnBuilder::BinaryView(b) => b.append_null(),
        }
    }

    /// Appends the value at the front of `input` and advances past it.
    fn append_value(&mut self, input: &mut &[u8]) -> Result<()> {
        match self {
            ColumnBuilder::Fixed { width, values, nulls, len, .. } => {
                let bytes = take(input, *width)?;
                values.extend_from_slice(bytes);
                nulls.append_non_null();
                *len += 1;
            }
            ColumnBuilder::Boolean(b) => b.append_value(take(input, 1)?[0] != 0),
            ColumnBuilder::Utf8(b) => b.append_value(take_str(input)?),
            ColumnBuilder::LargeUtf8(b) => b.append_value(take_str(input)?),
            ColumnBuilder::Utf8View(b) => b.append_value(take_str(input)?),
            ColumnBuilder::Binary(b) => b.append_value(take_var(input)?),
            ColumnBuilder::LargeBinary(b) => b.append_value(take_var(input)?),
            ColumnBuilder::BinaryView(b) => b.append_value(take_var(input)?),
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<ArrayRef> {
        Ok(match self {
            ColumnBuilder::Fixed { data_type, values, nulls, len, .. } => {
                let data = ArrayData::builder(data_type.clone())
                    .len(*len)
                    .add_buffer(Buffer::from_vec(std::mem::take(values)))
                    .nulls(nulls.finish())
                    .build()
                    .map_err(|e| EngineError::internal(format!("decoding rows: {e}")))?;
                *len = 0;
                make_array(data)
            }
            ColumnBuilder::Boolean(b) => Arc::new(b.finish()),
            ColumnBuilder::Utf8(b) => Arc::new(b.finish()),
            ColumnBuilder::LargeUtf8(b) => Arc::new(b.finish()),
            ColumnBuilder::Utf8View(b) => Arc::new(b.finish()),
            ColumnBuilder::Binary(b) => Arc::new(b.finish()),
            ColumnBuilder::LargeBinary(b) => Arc::new(b.finish()),
            ColumnBuilder::BinaryView(b) => Arc::new(b.finish()),
        })
    }
}

/// Skips the value at the front of `input`.
fn skip_value(data_type: &DataType, input: &mut &[u8]) -> Result<()> {
    use DataType::*;
    match data_type {
        Boolean => take(input, 1).map(|_| ()),
        Utf8 | LargeUtf8 | Utf8View | Binary | LargeBinary | BinaryView => take_var(input).map(|_| ()),
        other => take(input, other.primitive_width().ok_or_else(corrupt)?).map(|_| ()),
    }
}

fn take<'a>(input: &mut &'a [u8], n: usize) -> Result<&'a [u8]> {
    if input.len() < n {
        return Err(corrupt());
    }
    let (head, tail) = input.split_at(n);
    *input = tail;
    Ok(head)
}

fn take_var<'a>(input: &mut &'a [u8]) -> Result<&'a [u8]> {
    let mut len: u64 = 0;
    let mut shift = 0;
    loop {
        let byte = take(input, 1)?[0];
        len |= u64::from(byte & 0x7F) << shift;
        if byte & 0x80 == 0 {
            break;
        }
        shift += 7;
        if shift > 63 {
            return Err(corrupt());
        }
    }
    take(input, len as usize)
}

fn take_str<'a>(input: &mut &'a [u8]) -> Result<&'a str> {
    std::str::from_utf8(take_var(input)?).map_err(|_| corrupt())
}

/// Decodes stored rows into Arrow columns.
///
/// `stored_types` are the column types of the schema version the rows were written with;
/// `wanted` lists, for each output column, the index of the stored column it comes from
/// (`None`: the column did not exist in that version and reads as NULL).
pub struct RowDecoder {
    stored_types: Vec<DataType>,
    wanted: Vec<Option<usize>>,
    /// For each stored column, the output columns it feeds.
    targets: Vec<Vec<usize>>,
    builders: Vec<ColumnBuilder>,
    rows: usize,
}

impl RowDecoder {
    pub fn new(stored_types: Vec<DataType>, output_types: &[DataType], wanted: Vec<Option<usize>>, capacity: usize) -> Result<Self> {
        let mut targets = vec![Vec::new(); stored_types.len()];
        for (output, source) in wanted.iter().enumerate() {
            if let Some(source) = source {
                targets[*source].push(output);
            }
        }
        let builders = output_types.iter().map(|t| ColumnBuilder::new(t, capacity)).collect::<Result<Vec<_>>>()?;
        Ok(RowDecoder { stored_types, wanted, targets, builders, rows: 0 })
    }

    /// Decodes one encoded row (header included) into the builders.
    pub fn push(&mut self, value: &[u8]) -> Result<()> {
        let columns = self.stored_types.len();
        let bitmap_len = columns.div_ceil(8);
        if value.len() < HEADER_LEN + bitmap_len {
            return Err(corrupt());
        }
        let bitmap = &value[HEADER_LEN..HEADER_LEN + bitmap_len];
        let mut input = &value[HEADER_LEN + bitmap_len..];
        for stored in 0..columns {
            let is_null = bitmap[stored / 8] & (1 << (stored % 8)) != 0;
            let targets = &self.targets[stored];
            if is_null {
                for &output in targets {
                    self.builders[output].append_null();
                }
                continue;
            }
            match targets.as_slice() {
                [] => skip_value(&self.stored_types[stored], &mut input)?,
                [output] => self.builders[*output].append_value(&mut input)?,
                many => {
                    let before = input;
                    for &output in many {
                        let mut again = before;
                        self.builders[output].append_value(&mut again)?;
                        input = again;
                    }
                }
            }
        }
        for (output, source) in self.wanted.iter().enumerate() {
            if source.is_none() {
                self.builders[output].append_null();
            }
        }
        self.rows += 1;
        Ok(())
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The decoded columns so far; the decoder starts over empty.
    pub fn finish(&mut self) -> Result<Vec<ArrayRef>> {
        self.rows = 0;
        self.builders.iter_mut().map(ColumnBuilder::finish).collect()
    }
}

/// One value (row `row` of `array`) in the row encoding of a one-column row, as hex: how
/// the catalog keeps a typed value in JSON.
pub fn encode_value_hex(array: &ArrayRef, row: usize) -> Result<String> {
    let mut out = Vec::new();
    let header = RowHeader { schema_version: 0, seq: 0, updated_millis: 0, deleted: false };
    encode_row(header, &[ColumnReader::new(array)?], row, &mut out);
    Ok(crate::storage::hex::to_hex(&out))
}

/// The value [`encode_value_hex`] wrote, as a one-row array of `data_type`.
pub fn decode_value_hex(data_type: &DataType, text: &str) -> Result<ArrayRef> {
    let bytes = crate::storage::hex::from_hex(text).ok_or_else(corrupt)?;
    let mut decoder = RowDecoder::new(vec![data_type.clone()], std::slice::from_ref(data_type), vec![Some(0)], 1)?;
    decoder.push(&bytes)?;
    decoder.finish()?.pop().ok_or_else(corrupt)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{BooleanArray, Decimal128Array, Int32Array, StringViewArray, TimestampMillisecondArray};

    #[test]
    fn rows_round_trip_with_nulls_and_every_kind_of_type() {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int32Array::from(vec![Some(1), None, Some(-3)])),
            Arc::new(StringViewArray::from(vec![Some("a"), Some(""), None])),
            Arc::new(BooleanArray::from(vec![None, Some(true), Some(false)])),
            Arc::new(Decimal128Array::from(vec![Some(12345), None, Some(-1)]).with_precision_and_scale(10, 2).unwrap()),
            Arc::new(TimestampMillisecondArray::from(vec![Some(5), Some(6), None])),
        ];
        let readers = columns.iter().map(|c| ColumnReader::new(c).unwrap()).collect::<Vec<_>>();
        let types = columns.iter().map(|c| c.data_type().clone()).collect::<Vec<_>>();
        let mut decoder = RowDecoder::new(types.clone(), &types, (0..5).map(Some).collect(), 3).unwrap();
        for row in 0..3 {
            let header = RowHeader { schema_version: 1, seq: row as u64 + 10, updated_millis: 99, deleted: row == 1 };
            let mut value = Vec::new();
            encode_row(header, &readers, row, &mut value);
            assert_eq!(decode_header(&value).unwrap(), header);
            decoder.push(&value).unwrap();
        }
        let decoded = decoder.finish().unwrap();
        for (original, decoded) in columns.iter().zip(decoded.iter()) {
            assert_eq!(original.as_ref(), decoded.as_ref());
        }
    }

    #[test]
    fn projection_skips_columns_and_missing_columns_read_as_null() {
        let columns: Vec<ArrayRef> = vec![Arc::new(StringViewArray::from(vec!["long text value"])), Arc::new(Int32Array::from(vec![7]))];
        let readers = columns.iter().map(|c| ColumnReader::new(c).unwrap()).collect::<Vec<_>>();
        let mut value = Vec::new();
        encode_row(RowHeader { schema_version: 1, seq: 1, updated_millis: 0, deleted: false }, &readers, 0, &mut value);
        let stored = vec![DataType::Utf8View, DataType::Int32];
        let mut decoder = RowDecoder::new(stored, &[DataType::Int32, DataType::Int64], vec![Some(1), None], 1).unwrap();
        decoder.push(&value).unwrap();
        let out = decoder.finish().unwrap();
        assert_eq!(out[0].as_primitive::<datafusion::arrow::datatypes::Int32Type>().value(0), 7);
        assert!(out[1].is_null(0));
    }

    #[test]
    fn header_rewrite_keeps_values() {
        let columns: Vec<ArrayRef> = vec![Arc::new(Int32Array::from(vec![42]))];
        let readers = columns.iter().map(|c| ColumnReader::new(c).unwrap()).collect::<Vec<_>>();
        let mut value = Vec::new();
        encode_row(RowHeader { schema_version: 1, seq: 1, updated_millis: 0, deleted: false }, &readers, 0, &mut value);
        let tombstone = RowHeader { schema_version: 1, seq: 2, updated_millis: 5, deleted: true };
        rewrite_header(&mut value, tombstone).unwrap();
        assert_eq!(decode_header(&value).unwrap(), tombstone);
        let mut decoder = RowDecoder::new(vec![DataType::Int32], &[DataType::Int32], vec![Some(0)], 1).unwrap();
        decoder.push(&value).unwrap();
        assert_eq!(decoder.finish().unwrap()[0].as_ref(), columns[0].as_ref());
    }

    #[test]
    fn truncated_values_are_errors_not_panics() {
        let mut decoder = RowDecoder::new(vec![DataType::Int64], &[DataType::Int64], vec![Some(0)], 1).unwrap();
        assert!(decoder.push(&[1, 0, 0]).is_err());
        assert!(decode_header(&[9; 30]).is_err());
    }
}

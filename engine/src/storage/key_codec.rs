//! Memcomparable encoding of primary-key values: byte order of the encoding is value order.
//!
//! - signed integers, dates, times, timestamps, durations, decimals: big-endian with the
//!   sign bit flipped;
//! - unsigned integers: big-endian;
//! - floats: IEEE bits, all bits flipped for negatives, sign bit flipped for positives;
//!   `-0.0` is stored as `0.0` and every NaN as one NaN, so values that SQL calls equal
//!   are one key; NaN sorts after every other value (PostgreSQL's rule: NaN equals NaN
//!   and is greater than infinity);
//! - booleans: one byte;
//! - strings and binaries: bytes with `0x00` escaped as `0x00 0xFF`, closed by `0x00 0x00`,
//!   so a shorter value sorts before its extensions and composite keys never run together.
//!
//! Key columns are NOT NULL, so there is no null marker.

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::arrow::datatypes::{Int32Type, Int64Type};
use datafusion::common::ScalarValue;

use crate::error::{EngineError, Result, SqlState};

/// Whether a column of this type may be part of a primary key.
pub fn is_key_type(data_type: &DataType) -> bool {
    use DataType::*;
    matches!(
        data_type,
        Boolean
            | Int8
            | Int16
            | Int32
            | Int64
            | UInt8
            | UInt16
            | UInt32
            | UInt64
            | Float32
            | Float64
            | Utf8
            | LargeUtf8
            | Utf8View
            | Binary
            | LargeBinary
            | BinaryView
            | Date32
            | Date64
            | Time32(_)
            | Time64(_)
            | Timestamp(_, _)
            | Duration(_)
            | Decimal128(_, _)
    )
}

/// Appends the encoding of row `row` of each key column.
pub fn encode_key_row(columns: &[&ArrayRef], row: usize, out: &mut Vec<u8>) -> Result<()> {
    for column in columns {
        // The common key types straight from the array; the rest through ScalarValue
        // (same bytes either way).
        if column.is_valid(row) {
            match column.data_type() {
                DataType::Int64 => {
                    out.extend_from_slice(&flip_sign(column.as_primitive::<Int64Type>().value(row)).to_be_bytes());
                    continue;
                }
                DataType::Int32 => {
                    let biased = (column.as_primitive::<Int32Type>().value(row) as u32) ^ (1 << 31);
                    out.extend_from_slice(&biased.to_be_bytes());
                    continue;
                }
                DataType::Utf8 => {
                    escape_bytes(column.as_string::<i32>().value(row).as_bytes(), out);
                    continue;
                }
                DataType::Utf8View => {
                    escape_bytes(column.as_string_view().value(row).as_bytes(), out);
                    continue;
                }
                _ => {}
            }
        }
        let value = ScalarValue::try_from_array(column.as_ref(), row).map_err(EngineError::from)?;
        encode_scalar(&value, out)?;
    }
    Ok(())
}

/// One representative per SQL value: `0.0` for both zeros, the positive quiet NaN for
/// every NaN.
fn canonical_f64(value: f64) -> f64 {
    if value.is_nan() {
        f64::NAN
    } else if value == 0.0 {
        0.0
    } else {
        value
    }
}

fn canonical_f32(value: f32) -> f32 {
    if value.is_nan() {
        f32::NAN
    } else if value == 0.0 {
        0.0
    } else {
        value
    }
}

/// A signed 64-bit value with its sign bit flipped: unsigned byte order is value order.
fn flip_sign(value: i64) -> u64 {
    (value as u64) ^ (1 << 63)
}

/// Appends the encoding of one key value.
pub fn encode_scalar(value: &ScalarValue, out: &mut Vec<u8>) -> Result<()> {
    use ScalarValue::*;
    // Offset by 2^(bits-1) so the most negative value encodes as all zeros.
    let signed = |v: i64, width: usize, out: &mut Vec<u8>| {
        let biased = (i128::from(v) + (1i128 << (8 * width - 1))) as u64;
        out.extend_from_slice(&biased.to_be_bytes()[8 - width..]);
    };
    match value {
        Boolean(Some(v)) => out.push(u8::from(*v)),
        Int8(Some(v)) => signed(i64::from(*v), 1, out),
        Int16(Some(v)) => signed(i64::from(*v), 2, out),
        Int32(Some(v)) | Date32(Some(v)) | Time32Second(Some(v)) | Time32Millisecond(Some(v)) => signed(i64::from(*v), 4, out),
        Int64(Some(v))
        | Date64(Some(v))
        | Time64Microsecond(Some(v))
        | Time64Nanosecond(Some(v))
        | TimestampSecond(Some(v), _)
        | TimestampMillisecond(Some(v), _)
        | TimestampMicrosecond(Some(v), _)
        | TimestampNanosecond(Some(v), _)
        | DurationSecond(Some(v))
        | DurationMillisecond(Some(v))
        | DurationMicrosecond(Some(v))
        | DurationNanosecond(Some(v)) => signed(*v, 8, out),
        UInt8(Some(v)) => out.push(*v),
        UInt16(Some(v)) => out.extend_from_slice(&v.to_be_bytes()),
        UInt32(Some(v)) => out.extend_from_slice(&v.to_be_bytes()),
        UInt64(Some(v)) => out.extend_from_slice(&v.to_be_bytes()),
        Float32(Some(v)) => {
            let bits = canonical_f32(*v).to_bits();
            let ordered = if bits >> 31 == 1 { !bits } else { bits ^ (1 << 31) };
            out.extend_from_slice(&ordered.to_be_bytes());
        }
        Float64(Some(v)) => {
            let bits = canonical_f64(*v).to_bits();
            let ordered = if bits >> 63 == 1 { !bits } else { bits ^ (1 << 63) };
            out.extend_from_slice(&ordered.to_be_bytes());
        }
        Decimal128(Some(v), _, _) => {
            let flipped = (*v as u128) ^ (1u128 << 127);
            out.extend_from_slice(&flipped.to_be_bytes());
        }
        Utf8(Some(v)) | LargeUtf8(Some(v)) | Utf8View(Some(v)) => escape_bytes(v.as_bytes(), out),
        Binary(Some(v)) | LargeBinary(Some(v)) | BinaryView(Some(v)) => escape_bytes(v, out),
        other if other.is_null() => {
            return Err(EngineError::new(SqlState::NOT_NULL_VIOLATION, "a primary key value may not be NULL"));
        }
        other => {
            return Err(EngineError::not_supported(format!("type {} cannot be part of a primary key", other.data_type())));
        }
    }
    Ok(())
}

fn escape_bytes(bytes: &[u8], out: &mut Vec<u8>) {
    for &b in bytes {
        out.push(b);
        if b == 0 {
            out.push(0xFF);
        }
    }
    out.extend_from_slice(&[0, 0]);
}

/// Decodes one key value of the given type from the front of `input`.
pub fn decode_scalar(data_type: &DataType, input: &mut &[u8]) -> Result<ScalarValue> {
    use DataType::*;
    let corrupt = || EngineError::internal("corrupt primary key encoding");
    let mut take = |n: usize| -> Result<Vec<u8>> {
        if input.len() < n {
            return Err(corrupt());
        }
        let (head, tail) = input.split_at(n);
        *input = tail;
        Ok(head.to_vec())
    };
    let signed = |bytes: Vec<u8>| -> i64 {
        let width = bytes.len();
        let mut raw = [0u8; 8];
        raw[8 - width..].copy_from_slice(&bytes);
        (i128::from(u64::from_be_bytes(raw)) - (1i128 << (8 * width - 1))) as i64
    };
    Ok(match data_type {
        Boolean => ScalarValue::Boolean(Some(take(1)?[0] != 0)),
        Int8 => ScalarValue::Int8(Some(signed(take(1)?) as i8)),
        Int16 => ScalarValue::Int16(Some(signed(take(2)?) as i16)),
        Int32 => ScalarValue::Int32(Some(signed(take(4)?) as i32)),
        Int64 => ScalarValue::Int64(Some(signed(take(8)?))),
        Date32 => ScalarValue::Date32(Some(signed(take(4)?) as i32)),
        Date64 => ScalarValue::Date64(Some(signed(take(8)?))),
        Time32(TimeUnit::Second) => ScalarValue::Time32Second(Some(signed(take(4)?) as i32)),
        Time32(_) => ScalarValue::Time32Millisecond(Some(signed(take(4)?) as i32)),
        Time64(TimeUnit::Microsecond) => ScalarValue::Time64Microsecond(Some(signed(take(8)?))),
        Time64(_) => ScalarValue::Time64Nanosecond(Some(signed(take(8)?))),
        Timestamp(unit, tz) => {
            let v = Some(signed(take(8)?));
            match unit {
                TimeUnit::Second => ScalarValue::TimestampSecond(v, tz.clone()),
                TimeUnit::Millisecond => ScalarValue::TimestampMillisecond(v, tz.clone()),
                TimeUnit::Microsecond => ScalarValue::TimestampMicrosecond(v, tz.clone()),
                TimeUnit::Nanosecond => ScalarValue::TimestampNanosecond(v, tz.clone()),
            }
        }
        Duration(unit) => {
            let v = Some(signed(take(8)?));
            match unit {
                TimeUnit::Second => ScalarValue::DurationSecond(v),
                TimeUnit::Millisecond => ScalarValue::DurationMillisecond(v),
                TimeUnit::Microsecond => ScalarValue::DurationMicrosecond(v),
                TimeUnit::Nanosecond => ScalarValue::DurationNanosecond(v),
            }
        }
        UInt8 => ScalarValue::UInt8(Some(take(1)?[0])),
        UInt16 => ScalarValue::UInt16(Some(u16::from_be_bytes(take(2)?.try_into().unwrap()))),
        UInt32 => ScalarValue::UInt32(Some(u32::from_be_bytes(take(4)?.try_into().unwrap()))),
        UInt64 => ScalarValue::UInt64(Some(u64::from_be_bytes(take(8)?.try_into().unwrap()))),
        Float32 => {
            let ordered = u32::from_be_bytes(take(4)?.try_into().unwrap());
            let bits = if ordered >> 31 == 1 { ordered ^ (1 << 31) } else { !ordered };
            ScalarValue::Float32(Some(f32::from_bits(bits)))
        }
        Float64 => {
            let ordered = u64::from_be_bytes(take(8)?.try_into().unwrap());
            let bits = if ordered >> 63 == 1 { ordered ^ (1 << 63) } else { !ordered };
            ScalarValue::Float64(Some(f64::from_bits(bits)))
        }
        Decimal128(precision, scale) => {
            let flipped = u128::from_be_bytes(take(16)?.try_into().unwrap());
            ScalarValue::Decimal128(Some((flipped ^ (1u128 << 127)) as i128), *precision, *scale)
        }
        Utf8 | LargeUtf8 | Utf8View | Binary | LargeBinary | BinaryView => {
            let bytes = unescape_bytes(input).ok_or_else(corrupt)?;
            match data_type {
                Utf8 | LargeUtf8 | Utf8View => {
                    let text = String::from_utf8(bytes).map_err(|_| corrupt())?;
                    match data_type {
                        Utf8 => ScalarValue::Utf8(Some(text)),
                        LargeUtf8 => ScalarValue::LargeUtf8(Some(text)),
                        _ => ScalarValue::Utf8View(Some(text)),
                    }
                }
                Binary => ScalarValue::Binary(Some(bytes)),
                LargeBinary => ScalarValue::LargeBinary(Some(bytes)),
                _ => ScalarValue::BinaryView(Some(bytes)),
            }
        }
        other => {
            return Err(EngineError::not_supported(format!("type {other} cannot be part of a primary key")));
        }
    })
}

fn unescape_bytes(input: &mut &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        let b = *input.get(i)?;
        if b == 0 {
            let next = *input.get(i + 1)?;
            if next == 0 {
                *input = &input[i + 2..];
                return Some(out);
            }
            out.push(0);
            i += 2;
        } else {
            out.push(b);
            i += 1;
        }
    }
}

/// Decodes a whole encoded key into its values.
pub fn decode_key_values(types: &[DataType], mut input: &[u8]) -> Result<Vec<ScalarValue>> {
    let values = types.iter().map(|t| decode_scalar(t, &mut input)).collect::<Result<Vec<_>>>()?;
    if !input.is_empty() {
        return Err(EngineError::internal("trailing bytes after primary key"));
    }
    Ok(values)
}

/// Encodes an internal row id (tables without a primary key).
pub fn encode_row_id(row_id: u64) -> Vec<u8> {
    row_id.to_be_bytes().to_vec()
}

/// Decodes an internal row id.
pub fn decode_row_id(bytes: &[u8]) -> Option<u64> {
    bytes.try_into().ok().map(u64::from_be_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(value: ScalarValue) -> Vec<u8> {
        let mut out = Vec::new();
        encode_scalar(&value, &mut out).unwrap();
        out
    }

    fn check_order(values: Vec<ScalarValue>) {
        for pair in values.windows(2) {
            assert!(encoded(pair[0].clone()) < encoded(pair[1].clone()), "{:?} < {:?}", pair[0], pair[1]);
        }
        for value in values {
            let bytes = encoded(value.clone());
            let decoded = decode_key_values(&[value.data_type()], &bytes).unwrap();
            assert_eq!(decoded, vec![value]);
        }
    }

    #[test]
    fn integers_sort_by_value() {
        check_order([i64::MIN, -5, -1, 0, 1, 7, i64::MAX].map(|v| ScalarValue::Int64(Some(v))).to_vec());
        check_order([i32::MIN, -300, -1, 0, 1, 300, i32::MAX].map(|v| ScalarValue::Int32(Some(v))).to_vec());
        check_order([i16::MIN, -1, 0, 1, i16::MAX].map(|v| ScalarValue::Int16(Some(v))).to_vec());
        check_order([i8::MIN, -1, 0, 1, i8::MAX].map(|v| ScalarValue::Int8(Some(v))).to_vec());
        check_order([0u64, 1, 256, u64::MAX].map(|v| ScalarValue::UInt64(Some(v))).to_vec());
    }

    #[test]
    fn floats_and_decimals_sort_by_value() {
        check_order([f64::NEG_INFINITY, -2.5, 0.0, 0.5, 3.0, f64::INFINITY].map(|v| ScalarValue::Float64(Some(v))).to_vec());
        check_order([-1.5f32, 0.0, 2.25].map(|v| ScalarValue::Float32(Some(v))).to_vec());
        check_order([-100i128, 0, 5].map(|v| ScalarValue::Decimal128(Some(v), 10, 2)).to_vec());
    }

    #[test]
    fn equal_floats_share_one_key_and_nan_sorts_last() {
        let f64_key = |v: f64| encoded(ScalarValue::Float64(Some(v)));
        let f32_key = |v: f32| encoded(ScalarValue::Float32(Some(v)));
        assert_eq!(f64_key(-0.0), f64_key(0.0));
        assert_eq!(f32_key(-0.0), f32_key(0.0));
        assert_eq!(f64_key(f64::NAN), f64_key(-f64::NAN));
        assert_eq!(f64_key(f64::NAN), f64_key(f64::from_bits(0x7ff0_0000_0000_0001)));
        assert_eq!(f32_key(f32::NAN), f32_key(-f32::NAN));
        assert!(f64_key(f64::NAN) > f64_key(f64::INFINITY));
        assert!(f32_key(f32::NAN) > f32_key(f32::INFINITY));
        let mut row = Vec::new();
        let column: ArrayRef = std::sync::Arc::new(datafusion::arrow::array::Float64Array::from(vec![-0.0]));
        encode_key_row(&[&column], 0, &mut row).unwrap();
        assert_eq!(row, f64_key(0.0));
    }

    #[test]
    fn strings_sort_by_bytes_and_keep_prefix_order() {
        check_order(["", "a", "a\0", "a\0b", "ab", "b"].map(|v| ScalarValue::Utf8(Some(v.into()))).to_vec());
    }

    #[test]
    fn composite_keys_do_not_run_together() {
        let mut ab_c = Vec::new();
        encode_scalar(&ScalarValue::Utf8(Some("ab".into())), &mut ab_c).unwrap();
        encode_scalar(&ScalarValue::Utf8(Some("c".into())), &mut ab_c).unwrap();
        let mut a_bc = Vec::new();
        encode_scalar(&ScalarValue::Utf8(Some("a".into())), &mut a_bc).unwrap();
        encode_scalar(&ScalarValue::Utf8(Some("bc".into())), &mut a_bc).unwrap();
        assert_ne!(ab_c, a_bc);
        assert!(a_bc < ab_c);
    }

    #[test]
    fn array_rows_encode_like_their_scalars() {
        use datafusion::arrow::array::{Int32Array, Int64Array, StringArray, StringViewArray};
        use std::sync::Arc;
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(vec![i64::MIN, -1, 0, i64::MAX])),
            Arc::new(Int32Array::from(vec![i32::MIN, -1, 0, i32::MAX])),
            Arc::new(StringArray::from(vec!["", "a\0b", "z", "é"])),
            Arc::new(StringViewArray::from(vec!["a long string past the inline view limit", "", "\0", "x"])),
        ];
        for column in &columns {
            for row in 0..column.len() {
                let mut from_array = Vec::new();
                encode_key_row(&[column], row, &mut from_array).unwrap();
                let mut from_scalar = Vec::new();
                encode_scalar(&ScalarValue::try_from_array(column.as_ref(), row).unwrap(), &mut from_scalar).unwrap();
                assert_eq!(from_array, from_scalar, "{:?} row {row}", column.data_type());
            }
        }
    }

    #[test]
    fn null_keys_are_rejected() {
        let err = encode_scalar(&ScalarValue::Int32(None), &mut Vec::new()).unwrap_err();
        assert_eq!(err.sql_state(), SqlState::NOT_NULL_VIOLATION);
    }
}

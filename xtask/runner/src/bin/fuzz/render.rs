//! Rows as comparable text. Every result is compared as a sorted multiset of rendered
//! rows. Floats render so that every NaN is `NaN` (whatever its sign or payload) and, in
//! SQL mode, `-0.0` is `0` (SQL equality: `0.0 = -0.0`); strict mode keeps `-0` for
//! stored values, which must come back with the sign they were written with. Dates,
//! timestamps and decimals render as their raw numbers, so the model renders them without
//! a calendar.

use engine::exports::arrow::array::{Array, ArrayRef, AsArray};
use engine::exports::arrow::datatypes::{
    DataType, Date32Type, Decimal128Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, TimeUnit,
    TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType, UInt8Type, UInt16Type, UInt32Type,
    UInt64Type,
};
use engine::exports::arrow::record_batch::RecordBatch;
use engine::exports::arrow::util::display::array_value_to_string;

/// Separates cells of a rendered row (a character no generated value holds).
pub const SEP: char = '\u{1f}';

/// A float as the oracles compare it: NaN as `NaN`, a zero as `0` (`-0` for a negative
/// zero when `strict_zero`), anything else as Rust prints it (shortest round trip).
pub fn float_text<T: std::fmt::Debug + PartialEq + Default>(v: T, strict_zero: bool) -> String {
    #[allow(clippy::eq_op)] // NaN is the one value unequal to itself
    let nan = v != v;
    if nan {
        "NaN".into()
    } else if v == T::default() {
        if strict_zero && format!("{v:?}").starts_with('-') { "-0".into() } else { "0".into() }
    } else {
        format!("{v:?}")
    }
}

/// One cell. `strict_zero` keeps the sign of a float zero.
pub fn cell(column: &ArrayRef, row: usize, strict_zero: bool) -> String {
    if column.is_null(row) {
        return "NULL".into();
    }
    match column.data_type() {
        DataType::Int8 => column.as_primitive::<Int8Type>().value(row).to_string(),
        DataType::Int16 => column.as_primitive::<Int16Type>().value(row).to_string(),
        DataType::Int32 => column.as_primitive::<Int32Type>().value(row).to_string(),
        DataType::Int64 => column.as_primitive::<Int64Type>().value(row).to_string(),
        DataType::UInt8 => column.as_primitive::<UInt8Type>().value(row).to_string(),
        DataType::UInt16 => column.as_primitive::<UInt16Type>().value(row).to_string(),
        DataType::UInt32 => column.as_primitive::<UInt32Type>().value(row).to_string(),
        DataType::UInt64 => column.as_primitive::<UInt64Type>().value(row).to_string(),
        DataType::Float32 => float_text(column.as_primitive::<Float32Type>().value(row), strict_zero),
        DataType::Float64 => float_text(column.as_primitive::<Float64Type>().value(row), strict_zero),
        DataType::Decimal128(_, scale) => format!("{}e-{scale}", column.as_primitive::<Decimal128Type>().value(row)),
        DataType::Boolean => column.as_boolean().value(row).to_string(),
        DataType::Utf8 => column.as_string::<i32>().value(row).to_string(),
        DataType::LargeUtf8 => column.as_string::<i64>().value(row).to_string(),
        DataType::Utf8View => column.as_string_view().value(row).to_string(),
        DataType::Date32 => format!("d{}", column.as_primitive::<Date32Type>().value(row)),
        DataType::Timestamp(unit, _) => {
            let (raw, unit) = match unit {
                TimeUnit::Second => (column.as_primitive::<TimestampSecondType>().value(row), "s"),
                TimeUnit::Millisecond => (column.as_primitive::<TimestampMillisecondType>().value(row), "ms"),
                TimeUnit::Microsecond => (column.as_primitive::<TimestampMicrosecondType>().value(row), "us"),
                TimeUnit::Nanosecond => (column.as_primitive::<TimestampNanosecondType>().value(row), "ns"),
            };
            format!("ts{raw}{unit}")
        }
        _ => array_value_to_string(column, row).unwrap_or_else(|e| format!("<{e}>")),
    }
}

/// Every row, rendered and sorted. `strict` says, per column, whether a float zero keeps
/// its sign (`None`: SQL mode for every column).
pub fn rows(batches: &[RecordBatch], strict: Option<&[bool]>) -> Vec<String> {
    let mut rows = Vec::new();
    for batch in batches {
        for row in 0..batch.num_rows() {
            let mut text = String::new();
            for (index, column) in batch.columns().iter().enumerate() {
                if index > 0 {
                    text.push(SEP);
                }
                let strict_zero = strict.and_then(|s| s.get(index).copied()).unwrap_or(false);
                text.push_str(&cell(column, row, strict_zero));
            }
            rows.push(text);
        }
    }
    rows.sort();
    rows
}

/// A row for people: cells separated by ` | `.
pub fn show(row: &str) -> String {
    row.replace(SEP, " | ")
}

/// A list of rows for people, shortened when long.
pub fn show_rows(rows: &[String]) -> String {
    const MAX: usize = 12;
    let mut shown: Vec<String> = rows.iter().take(MAX).map(|r| format!("[{}]", show(r))).collect();
    if rows.len() > MAX {
        shown.push(format!("... {} more", rows.len() - MAX));
    }
    format!("{} rows: {}", rows.len(), shown.join(" "))
}

/// What one multiset has that the other lacks (both sorted).
pub fn difference(expected: &[String], actual: &[String]) -> (Vec<String>, Vec<String>) {
    let (mut i, mut j) = (0, 0);
    let (mut missing, mut extra) = (Vec::new(), Vec::new());
    while i < expected.len() || j < actual.len() {
        match (expected.get(i), actual.get(j)) {
            (Some(a), Some(b)) if a == b => {
                i += 1;
                j += 1;
            }
            (Some(a), Some(b)) if a < b => {
                missing.push(a.clone());
                i += 1;
            }
            (Some(_), Some(b)) => {
                extra.push(b.clone());
                j += 1;
            }
            (Some(a), None) => {
                missing.push(a.clone());
                i += 1;
            }
            (None, Some(b)) => {
                extra.push(b.clone());
                j += 1;
            }
            (None, None) => break,
        }
    }
    (missing, extra)
}

//! The one place that decides how a value becomes text in a scenario.
//!
//! `NULL` for nulls, `(empty)` for the empty string, `true`/`false` for booleans, floats
//! rounded to 12 decimal places with trailing zeros dropped, timestamps and dates in
//! ISO 8601 (Arrow's display), everything else as Arrow displays it. Column type letters
//! follow DataFusion's sqllogictest convention.

use engine::QueryResult;
use engine::exports::arrow::array::{Array, AsArray};
use engine::exports::arrow::datatypes::{DataType, Float16Type, Float32Type, Float64Type};
use engine::exports::arrow::util::display::{ArrayFormatter, FormatOptions};
use sqllogictest::{ColumnType as SltColumnType, DBOutput};

/// The type letter of a result column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    Boolean,
    DateTime,
    Integer,
    Float,
    Text,
    Timestamp,
    Any,
}

impl SltColumnType for ColumnType {
    fn from_char(value: char) -> Option<Self> {
        Some(match value {
            'B' => ColumnType::Boolean,
            'D' => ColumnType::DateTime,
            'I' => ColumnType::Integer,
            'R' => ColumnType::Float,
            'T' => ColumnType::Text,
            'P' => ColumnType::Timestamp,
            _ => ColumnType::Any,
        })
    }

    fn to_char(&self) -> char {
        match self {
            ColumnType::Boolean => 'B',
            ColumnType::DateTime => 'D',
            ColumnType::Integer => 'I',
            ColumnType::Float => 'R',
            ColumnType::Text => 'T',
            ColumnType::Timestamp => 'P',
            ColumnType::Any => '?',
        }
    }
}

/// Column letters must match, except that `?` on either side matches anything.
// sqllogictest's validator type takes `&Vec`.
#[allow(clippy::ptr_arg)]
pub fn column_types_match(actual: &Vec<ColumnType>, expected: &Vec<ColumnType>) -> bool {
    actual.len() == expected.len() && actual.iter().zip(expected).all(|(a, e)| a == e || *a == ColumnType::Any || *e == ColumnType::Any)
}

pub fn column_type(data_type: &DataType) -> ColumnType {
    use DataType::*;
    match data_type {
        Boolean => ColumnType::Boolean,
        Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32 | UInt64 => ColumnType::Integer,
        Float16 | Float32 | Float64 | Decimal32(_, _) | Decimal64(_, _) | Decimal128(_, _) | Decimal256(_, _) => ColumnType::Float,
        Utf8 | LargeUtf8 | Utf8View => ColumnType::Text,
        Date32 | Date64 | Time32(_) | Time64(_) => ColumnType::DateTime,
        Timestamp(_, _) => ColumnType::Timestamp,
        Dictionary(_, value) => column_type(value),
        _ => ColumnType::Any,
    }
}

/// Renders a float: 12 decimal places, trailing zeros and a trailing dot dropped.
pub fn render_float(value: f64) -> String {
    if value.is_nan() {
        return "NaN".into();
    }
    if value.is_infinite() {
        return if value > 0.0 { "Infinity".into() } else { "-Infinity".into() };
    }
    let text = format!("{value:.12}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" { "0".into() } else { text.to_string() }
}

/// Converts an engine result into what the sqllogictest runner compares. A count is one
/// row of one integer column when a `query` record asked for it (`as_query`), as
/// DataFusion's runner shows DML results, and a statement completion otherwise.
pub fn to_output(result: QueryResult, as_query: bool) -> Result<DBOutput<ColumnType>, String> {
    match result {
        QueryResult::Count { rows: count, .. } if as_query => {
            Ok(DBOutput::Rows { types: vec![ColumnType::Integer], rows: vec![vec![count.to_string()]] })
        }
        QueryResult::Count { rows: count, .. } => Ok(DBOutput::StatementComplete(count)),
        QueryResult::Message(_) | QueryResult::Subscription(_) => Ok(DBOutput::StatementComplete(0)),
        QueryResult::Stream(_) => Err("rows were streamed and not collected".into()),
        QueryResult::Rows { schema, batches } => {
            let types = schema.fields().iter().map(|f| column_type(f.data_type())).collect();
            let mut rows = Vec::new();
            let options = FormatOptions::default().with_null("NULL");
            for batch in &batches {
                let formatters = batch
                    .columns()
                    .iter()
                    .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| e.to_string())?;
                for row in 0..batch.num_rows() {
                    let mut values = Vec::with_capacity(batch.num_columns());
                    for (column, formatter) in batch.columns().iter().zip(&formatters) {
                        values.push(render_cell(column.as_ref(), formatter, row));
                    }
                    rows.push(values);
                }
            }
            Ok(DBOutput::Rows { types, rows })
        }
    }
}

fn render_cell(column: &dyn Array, formatter: &ArrayFormatter<'_>, row: usize) -> String {
    if column.is_null(row) {
        return "NULL".into();
    }
    let text = match column.data_type() {
        DataType::Float64 => render_float(column.as_primitive::<Float64Type>().value(row)),
        DataType::Float32 => render_float(f64::from(column.as_primitive::<Float32Type>().value(row))),
        DataType::Float16 => render_float(f64::from(column.as_primitive::<Float16Type>().value(row))),
        _ => formatter.value(row).to_string(),
    };
    if text.is_empty() { "(empty)".into() } else { text }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_round_to_twelve_places() {
        assert_eq!(render_float(1.0), "1");
        assert_eq!(render_float(0.1 + 0.2), "0.3");
        assert_eq!(render_float(-2.5), "-2.5");
        assert_eq!(render_float(-0.0), "0");
        assert_eq!(render_float(1.0 / 3.0), "0.333333333333");
        assert_eq!(render_float(f64::NAN), "NaN");
        assert_eq!(render_float(f64::NEG_INFINITY), "-Infinity");
    }

    #[test]
    fn question_mark_matches_any_type() {
        assert!(column_types_match(&vec![ColumnType::Integer], &vec![ColumnType::Any]));
        assert!(!column_types_match(&vec![ColumnType::Integer], &vec![ColumnType::Text]));
        assert!(!column_types_match(&vec![ColumnType::Integer], &vec![]));
    }
}

//! Bind parameters as engine values: each value read in the format the client sent it
//! (text, or PostgreSQL's binary encoding of its type), then cast to the type the
//! statement gives the parameter. NULL is a NULL of that type.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Timelike, Utc};
use engine::SqlState;
use engine::exports::arrow::datatypes::DataType;
use engine::exports::datafusion::common::ScalarValue;
use pgwire::api::Type;
use pgwire::api::portal::Format;
use pgwire::api::results::FieldFormat;
use pgwire::error::{PgWireError, PgWireResult};
use postgres_types::FromSql;
use rust_decimal::Decimal;

use crate::errors::server_error;
use crate::types::format_at;

/// The values of a Bind message's parameters: `types` are the statement's PostgreSQL
/// parameter types, `targets` the Arrow types the statement gives them (if it decides).
pub fn decode(
    values: &[Option<bytes::Bytes>],
    format: &Format,
    types: &[Type],
    targets: &[Option<DataType>],
) -> PgWireResult<Vec<ScalarValue>> {
    values
        .iter()
        .enumerate()
        .map(|(index, value)| {
            let pg = types.get(index).cloned().unwrap_or(Type::UNKNOWN);
            let target = targets.get(index).cloned().flatten();
            let value = match value {
                None => return Ok(ScalarValue::try_from(target.as_ref().unwrap_or(&DataType::Utf8)).unwrap_or(ScalarValue::Null)),
                Some(bytes) => match format_at(format, index) {
                    FieldFormat::Text => from_text(bytes, &pg)?,
                    FieldFormat::Binary => from_binary(bytes, &pg)?,
                },
            };
            match target {
                Some(target) if value.data_type() != target => value.cast_to(&target).map_err(|e| invalid(index, e)),
                _ => Ok(value),
            }
        })
        .collect()
}

fn invalid(index: usize, error: impl std::fmt::Display) -> PgWireError {
    server_error(SqlState::INVALID_TEXT_REPRESENTATION, format!("parameter ${}: {error}", index + 1))
}

fn from_text(bytes: &[u8], pg: &Type) -> PgWireResult<ScalarValue> {
    let text = std::str::from_utf8(bytes).map_err(|_| server_error(SqlState::INVALID_TEXT_REPRESENTATION, "a parameter is not UTF-8"))?;
    let bad = |what: &str| server_error(SqlState::INVALID_TEXT_REPRESENTATION, format!("invalid input syntax for type {what}: \"{text}\""));
    Ok(match *pg {
        Type::BOOL => ScalarValue::Boolean(Some(match text.trim().to_ascii_lowercase().as_str() {
            "t" | "true" | "yes" | "y" | "on" | "1" => true,
            "f" | "false" | "no" | "n" | "off" | "0" => false,
            _ => return Err(bad("boolean")),
        })),
        Type::INT2 | Type::INT4 | Type::INT8 => ScalarValue::Int64(Some(text.trim().parse().map_err(|_| bad("integer"))?)),
        Type::FLOAT4 | Type::FLOAT8 => ScalarValue::Float64(Some(text.trim().parse().map_err(|_| bad("double precision"))?)),
        Type::BYTEA => match text.strip_prefix("\\x") {
            Some(hex) => ScalarValue::Binary(Some(decode_hex(hex).ok_or_else(|| bad("bytea"))?)),
            None => ScalarValue::Binary(Some(text.as_bytes().to_vec())),
        },
        // Dates, times, numerics and text: the engine casts the text where it is used.
        _ => ScalarValue::Utf8(Some(text.to_string())),
    })
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len()).step_by(2).map(|at| u8::from_str_radix(hex.get(at..at + 2)?, 16).ok()).collect()
}

fn from_binary(bytes: &[u8], pg: &Type) -> PgWireResult<ScalarValue> {
    fn read<'a, T: FromSql<'a>>(pg: &Type, bytes: &'a [u8]) -> PgWireResult<T> {
        T::from_sql(pg, bytes)
            .map_err(|e| server_error(SqlState::PROTOCOL_VIOLATION, format!("invalid binary parameter of type {pg}: {e}")))
    }
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("a date");
    Ok(match *pg {
        Type::BOOL => ScalarValue::Boolean(Some(read(pg, bytes)?)),
        Type::INT2 => ScalarValue::Int16(Some(read(pg, bytes)?)),
        Type::INT4 => ScalarValue::Int32(Some(read(pg, bytes)?)),
        Type::INT8 => ScalarValue::Int64(Some(read(pg, bytes)?)),
        Type::FLOAT4 => ScalarValue::Float32(Some(read(pg, bytes)?)),
        Type::FLOAT8 => ScalarValue::Float64(Some(read(pg, bytes)?)),
        Type::BYTEA => ScalarValue::Binary(Some(read::<Vec<u8>>(pg, bytes)?)),
        Type::DATE => {
            let date: NaiveDate = read(pg, bytes)?;
            ScalarValue::Date32(Some((date - epoch).num_days() as i32))
        }
        Type::TIME => {
            let time: NaiveTime = read(pg, bytes)?;
            let micros = i64::from(time.num_seconds_from_midnight()) * 1_000_000 + i64::from(time.nanosecond() / 1_000);
            ScalarValue::Time64Microsecond(Some(micros))
        }
        Type::TIMESTAMP => {
            let stamp: NaiveDateTime = read(pg, bytes)?;
            ScalarValue::TimestampMicrosecond(Some(stamp.and_utc().timestamp_micros()), None)
        }
        Type::TIMESTAMPTZ => {
            let stamp: DateTime<Utc> = read(pg, bytes)?;
            ScalarValue::TimestampMicrosecond(Some(stamp.timestamp_micros()), Some("+00:00".into()))
        }
        Type::NUMERIC => {
            let decimal: Decimal = read(pg, bytes)?;
            ScalarValue::Decimal128(Some(decimal.mantissa()), 38, decimal.scale() as i8)
        }
        // Text-like types (text, varchar, name, unknown, json): UTF-8 bytes.
        _ => ScalarValue::Utf8(Some(read::<String>(&Type::TEXT, bytes)?)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_binary_values_become_engine_values() {
        let text = |s: &str, pg: Type| from_text(s.as_bytes(), &pg).unwrap();
        assert_eq!(text("t", Type::BOOL), ScalarValue::Boolean(Some(true)));
        assert_eq!(text(" -42 ", Type::INT4), ScalarValue::Int64(Some(-42)));
        assert_eq!(text("\\x00ff", Type::BYTEA), ScalarValue::Binary(Some(vec![0, 255])));
        assert_eq!(text("2024-01-01", Type::DATE), ScalarValue::Utf8(Some("2024-01-01".into())));
        assert!(from_text(b"maybe", &Type::BOOL).is_err());
        assert_eq!(from_binary(&7i64.to_be_bytes(), &Type::INT8).unwrap(), ScalarValue::Int64(Some(7)));
        assert_eq!(from_binary(&366i32.to_be_bytes(), &Type::DATE).unwrap(), ScalarValue::Date32(Some(10_957 + 366)));
        assert!(from_binary(&[1, 2], &Type::INT8).is_err());
        let decoded = decode(
            &[Some("5".into()), None],
            &Format::UnifiedText,
            &[Type::TEXT, Type::INT8],
            &[Some(DataType::Int64), Some(DataType::Int64)],
        )
        .unwrap();
        assert_eq!(decoded, vec![ScalarValue::Int64(Some(5)), ScalarValue::Int64(None)]);
    }
}

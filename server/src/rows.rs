//! Arrow batches as DataRow messages (a stream of batches, collected or streamed, as
//! one stream of DataRows): each value in its column's PostgreSQL type
//! ([`crate::types`]), text or binary as the client asked. Text follows PostgreSQL's
//! own spelling (`t`/`f`, `\x` bytea, `2024-01-01 12:00:00` timestamps, `Infinity`);
//! types without a PostgreSQL counterpart travel as the engine's text rendering.

use std::sync::Arc;

use engine::SqlState;
use engine::exports::arrow::array::{Array, ArrayRef, AsArray};
use engine::exports::arrow::datatypes::{
    DataType, Date32Type, Date64Type, Decimal128Type, Float16Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type,
    Time32MillisecondType, Time32SecondType, Time64MicrosecondType, Time64NanosecondType, TimeUnit, TimestampMicrosecondType,
    TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use engine::exports::arrow::record_batch::RecordBatch;
use engine::exports::arrow::temporal_conversions::{as_date, as_datetime, as_time};
use engine::exports::arrow::util::display::{ArrayFormatter, FormatOptions};
use futures::stream::{self, BoxStream};
use futures::{Stream, StreamExt};
use pgwire::api::results::{DataRowEncoder, FieldFormat, FieldInfo};
use pgwire::error::PgWireResult;
use pgwire::messages::data::DataRow;
use rust_decimal::Decimal;

use crate::errors::{server_error, wire_error};

/// The DataRows of `batches`, each encoded for `fields` as it arrives.
pub fn data_rows(
    batches: BoxStream<'static, engine::Result<RecordBatch>>,
    fields: Arc<Vec<FieldInfo>>,
) -> impl Stream<Item = PgWireResult<DataRow>> + Send + 'static {
    batches.flat_map(move |batch| {
        let encoded: Vec<PgWireResult<DataRow>> = match batch.map_err(|e| wire_error(&e)).and_then(|batch| encode_batch(&batch, &fields)) {
            Ok(rows) => rows.into_iter().map(Ok).collect(),
            Err(error) => vec![Err(error)],
        };
        stream::iter(encoded)
    })
}

/// Every row of `batch`, encoded for `fields` (the batch's row description).
pub fn encode_batch(batch: &RecordBatch, fields: &Arc<Vec<FieldInfo>>) -> PgWireResult<Vec<DataRow>> {
    let options = FormatOptions::default();
    let formatters = batch
        .columns()
        .iter()
        .map(|column| ArrayFormatter::try_new(column.as_ref(), &options).map_err(|e| server_error(SqlState::INTERNAL_ERROR, e.to_string())))
        .collect::<PgWireResult<Vec<_>>>()?;
    let texts: Vec<bool> = fields.iter().map(|field| field.format() == FieldFormat::Text).collect();
    let mut encoder = DataRowEncoder::new(fields.clone());
    let mut rows = Vec::with_capacity(batch.num_rows());
    for row in 0..batch.num_rows() {
        for ((column, formatter), text) in batch.columns().iter().zip(&formatters).zip(&texts) {
            encode_value(&mut encoder, column, formatter, row, *text)?;
        }
        rows.push(encoder.take_row());
    }
    Ok(rows)
}

/// A timestamp as PostgreSQL writes it in text: `2024-01-01 12:00:00.5`, then `zone`.
fn postgres_timestamp(datetime: &chrono::NaiveDateTime, zone: &str) -> String {
    let mut text = datetime.format("%Y-%m-%d %H:%M:%S%.6f").to_string();
    while text.ends_with('0') && text.contains('.') {
        text.pop();
    }
    if text.ends_with('.') {
        text.pop();
    }
    text + zone
}

fn encode_value(
    encoder: &mut DataRowEncoder,
    column: &ArrayRef,
    formatter: &ArrayFormatter<'_>,
    row: usize,
    text: bool,
) -> PgWireResult<()> {
    if column.is_null(row) {
        return encoder.encode_field(&None::<i16>);
    }
    match column.data_type() {
        DataType::Boolean => encoder.encode_field(&column.as_boolean().value(row)),
        DataType::Int8 => encoder.encode_field(&i16::from(column.as_primitive::<Int8Type>().value(row))),
        DataType::Int16 => encoder.encode_field(&column.as_primitive::<Int16Type>().value(row)),
        DataType::UInt8 => encoder.encode_field(&i16::from(column.as_primitive::<UInt8Type>().value(row))),
        DataType::Int32 => encoder.encode_field(&column.as_primitive::<Int32Type>().value(row)),
        DataType::UInt16 => encoder.encode_field(&i32::from(column.as_primitive::<UInt16Type>().value(row))),
        DataType::Int64 => encoder.encode_field(&column.as_primitive::<Int64Type>().value(row)),
        DataType::UInt32 => encoder.encode_field(&i64::from(column.as_primitive::<UInt32Type>().value(row))),
        DataType::UInt64 => {
            let value = column.as_primitive::<UInt64Type>().value(row);
            let value = i64::try_from(value)
                .map_err(|_| server_error(SqlState::NUMERIC_VALUE_OUT_OF_RANGE, format!("{value} is out of range for type bigint")))?;
            encoder.encode_field(&value)
        }
        DataType::Float16 => encoder.encode_field(&f32::from(column.as_primitive::<Float16Type>().value(row))),
        DataType::Float32 => encoder.encode_field(&column.as_primitive::<Float32Type>().value(row)),
        DataType::Float64 => encoder.encode_field(&column.as_primitive::<Float64Type>().value(row)),
        DataType::Utf8 => encoder.encode_field(&column.as_string::<i32>().value(row)),
        DataType::LargeUtf8 => encoder.encode_field(&column.as_string::<i64>().value(row)),
        DataType::Utf8View => encoder.encode_field(&column.as_string_view().value(row)),
        DataType::Binary => encoder.encode_field(&column.as_binary::<i32>().value(row)),
        DataType::LargeBinary => encoder.encode_field(&column.as_binary::<i64>().value(row)),
        DataType::BinaryView => encoder.encode_field(&column.as_binary_view().value(row)),
        DataType::FixedSizeBinary(_) => encoder.encode_field(&column.as_fixed_size_binary().value(row)),
        DataType::Date32 => encoder.encode_field(&as_date::<Date32Type>(i64::from(column.as_primitive::<Date32Type>().value(row)))),
        DataType::Date64 => encoder.encode_field(&as_date::<Date64Type>(column.as_primitive::<Date64Type>().value(row))),
        DataType::Time32(TimeUnit::Second) => {
            encoder.encode_field(&as_time::<Time32SecondType>(i64::from(column.as_primitive::<Time32SecondType>().value(row))))
        }
        DataType::Time32(_) => {
            encoder.encode_field(&as_time::<Time32MillisecondType>(i64::from(column.as_primitive::<Time32MillisecondType>().value(row))))
        }
        DataType::Time64(TimeUnit::Microsecond) => {
            encoder.encode_field(&as_time::<Time64MicrosecondType>(column.as_primitive::<Time64MicrosecondType>().value(row)))
        }
        DataType::Time64(_) => {
            encoder.encode_field(&as_time::<Time64NanosecondType>(column.as_primitive::<Time64NanosecondType>().value(row)))
        }
        DataType::Timestamp(unit, zone) => {
            let datetime = match unit {
                TimeUnit::Second => as_datetime::<TimestampSecondType>(column.as_primitive::<TimestampSecondType>().value(row)),
                TimeUnit::Millisecond => {
                    as_datetime::<TimestampMillisecondType>(column.as_primitive::<TimestampMillisecondType>().value(row))
                }
                TimeUnit::Microsecond => {
                    as_datetime::<TimestampMicrosecondType>(column.as_primitive::<TimestampMicrosecondType>().value(row))
                }
                TimeUnit::Nanosecond => as_datetime::<TimestampNanosecondType>(column.as_primitive::<TimestampNanosecondType>().value(row)),
            };
            let datetime = datetime.ok_or_else(|| server_error(SqlState::NUMERIC_VALUE_OUT_OF_RANGE, "timestamp out of range"))?;
            match (zone, text) {
                // PostgreSQL's text: microseconds at most, trailing zeros dropped.
                (None, true) => encoder.encode_field(&postgres_timestamp(&datetime, "")),
                (Some(_), true) => encoder.encode_field(&postgres_timestamp(&datetime, "+00")),
                (None, false) => encoder.encode_field(&datetime),
                (Some(_), false) => encoder.encode_field(&datetime.and_utc()),
            }
        }
        DataType::Decimal128(_, scale) => {
            let mantissa = column.as_primitive::<Decimal128Type>().value(row);
            match u32::try_from(*scale).ok().and_then(|scale| Decimal::try_from_i128_with_scale(mantissa, scale).ok()) {
                Some(decimal) => encoder.encode_field(&decimal),
                // Past rust_decimal's 28 digits: the exact text (a text column only).
                None => encoder.encode_field(&formatter.value(row).to_string()),
            }
        }
        _ => encoder.encode_field(&formatter.value(row).to_string()),
    }
}

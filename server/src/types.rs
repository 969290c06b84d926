//! Which PostgreSQL type each Arrow type travels as, and the row description of a schema.
//!
//! | Arrow | PostgreSQL |
//! |---|---|
//! | Boolean | bool |
//! | Int8, Int16, UInt8 | int2 |
//! | Int32, UInt16 | int4 |
//! | Int64, UInt32, UInt64 | int8 (as PostgreSQL's `rank()` and `count()`; a UInt64 above int8's range is an error, 22003) |
//! | Float16, Float32 | float4 |
//! | Float64 | float8 |
//! | Utf8, LargeUtf8, Utf8View | text |
//! | Binary, LargeBinary, BinaryView, FixedSizeBinary | bytea |
//! | Date32, Date64 | date |
//! | Time32, Time64 | time |
//! | Timestamp without a time zone | timestamp |
//! | Timestamp with a time zone | timestamptz |
//! | Decimal128, Decimal256 | numeric |
//! | anything else (intervals, durations, nested types) | text, as the engine renders it |

use std::sync::Arc;

use engine::exports::arrow::datatypes::{DataType, Schema};
use pgwire::api::Type;
use pgwire::api::portal::Format;
use pgwire::api::results::{FieldFormat, FieldInfo};

/// The PostgreSQL type an Arrow type travels as.
pub fn pg_type(data_type: &DataType) -> Type {
    match data_type {
        DataType::Boolean => Type::BOOL,
        DataType::Int8 | DataType::Int16 | DataType::UInt8 => Type::INT2,
        DataType::Int32 | DataType::UInt16 => Type::INT4,
        DataType::Int64 | DataType::UInt32 | DataType::UInt64 => Type::INT8,
        DataType::Float16 | DataType::Float32 => Type::FLOAT4,
        DataType::Float64 => Type::FLOAT8,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Type::TEXT,
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView | DataType::FixedSizeBinary(_) => Type::BYTEA,
        DataType::Date32 | DataType::Date64 => Type::DATE,
        DataType::Time32(_) | DataType::Time64(_) => Type::TIME,
        DataType::Timestamp(_, None) => Type::TIMESTAMP,
        DataType::Timestamp(_, Some(_)) => Type::TIMESTAMPTZ,
        DataType::Decimal128(..) | DataType::Decimal256(..) => Type::NUMERIC,
        _ => Type::TEXT,
    }
}

/// The Arrow type a parameter of PostgreSQL type `pg` is read as when the statement
/// itself decides nothing (`None`: text, which the engine casts where it is used).
pub fn arrow_type(pg: &Type) -> Option<DataType> {
    Some(match *pg {
        Type::BOOL => DataType::Boolean,
        Type::INT2 => DataType::Int16,
        Type::INT4 => DataType::Int32,
        Type::INT8 => DataType::Int64,
        Type::FLOAT4 => DataType::Float32,
        Type::FLOAT8 => DataType::Float64,
        Type::BYTEA => DataType::Binary,
        Type::DATE => DataType::Date32,
        Type::TIME => DataType::Time64(engine::exports::arrow::datatypes::TimeUnit::Microsecond),
        Type::TIMESTAMP => DataType::Timestamp(engine::exports::arrow::datatypes::TimeUnit::Microsecond, None),
        Type::TIMESTAMPTZ => DataType::Timestamp(engine::exports::arrow::datatypes::TimeUnit::Microsecond, Some("+00:00".into())),
        _ => return None,
    })
}

/// The row description of `schema`, each column in the format the client asked for.
pub fn fields(schema: &Schema, format: &Format) -> Arc<Vec<FieldInfo>> {
    Arc::new(
        schema
            .fields()
            .iter()
            .enumerate()
            .map(|(index, field)| FieldInfo::new(field.name().clone(), None, None, pg_type(field.data_type()), format_at(format, index)))
            .collect(),
    )
}

/// The format of column or parameter `index` (a client that sent fewer codes than
/// columns gets text for the rest, never a crash).
pub fn format_at(format: &Format, index: usize) -> FieldFormat {
    match format {
        Format::Individual(codes) => codes.get(index).map_or(FieldFormat::Text, |code| FieldFormat::from(*code)),
        unified => unified.format_for(index),
    }
}

//! Statements the engine executes itself, one file per statement family.

pub mod create_table;
pub mod dml;
pub mod drop_table;
pub mod namespace;
pub mod show;
pub mod simple;

use datafusion::arrow::array::{ArrayRef, BooleanArray, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use std::sync::Arc;

use crate::result::QueryResult;

/// A result of text (and boolean) columns, for SHOW and DESCRIBE.
pub(crate) fn text_rows(columns: &[(&str, Vec<Option<String>>)], flags: &[(&str, Vec<bool>)]) -> QueryResult {
    let mut fields = Vec::new();
    let mut arrays: Vec<ArrayRef> = Vec::new();
    for (name, values) in columns {
        fields.push(Field::new(*name, DataType::Utf8, true));
        arrays.push(Arc::new(StringArray::from(values.clone())));
    }
    for (name, values) in flags {
        fields.push(Field::new(*name, DataType::Boolean, false));
        arrays.push(Arc::new(BooleanArray::from(values.clone())));
    }
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(schema.clone(), arrays).expect("columns match their fields");
    QueryResult::Rows { schema, batches: vec![batch] }
}

//! `system.columns`: one row per user column of every table, and per column of every view
//! (as the view's query returned them when it was created).

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, BooleanArray, Int64Array, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;

use crate::shared::EngineShared;

pub fn batch(shared: &EngineShared) -> RecordBatch {
    let mut namespace = Vec::new();
    let mut table = Vec::new();
    let mut column = Vec::new();
    let mut position = Vec::new();
    let mut data_type = Vec::new();
    let mut nullable = Vec::new();
    let mut primary_key = Vec::new();
    let mut default = Vec::new();
    for entry in shared.catalog.tables() {
        let d = &entry.definition;
        for (index, c) in d.columns.iter().enumerate() {
            namespace.push(d.namespace.clone());
            table.push(d.name.clone());
            column.push(c.name.clone());
            position.push(index as i64 + 1);
            data_type.push(c.data_type.to_string());
            nullable.push(c.nullable);
            primary_key.push(entry.key_columns.contains(&index));
            default.push(c.default_sql.clone());
        }
    }
    for view in shared.catalog.views() {
        for (index, c) in view.columns.iter().enumerate() {
            namespace.push(view.namespace.clone());
            table.push(view.name.clone());
            column.push(c.name.clone());
            position.push(index as i64 + 1);
            data_type.push(c.data_type.clone());
            nullable.push(c.nullable);
            primary_key.push(false);
            default.push(None);
        }
    }
    let schema = Schema::new(vec![
        Field::new("namespace_id", DataType::Utf8, false),
        Field::new("table_name", DataType::Utf8, false),
        Field::new("column_name", DataType::Utf8, false),
        Field::new("ordinal_position", DataType::Int64, false),
        Field::new("data_type", DataType::Utf8, false),
        Field::new("is_nullable", DataType::Boolean, false),
        Field::new("is_primary_key", DataType::Boolean, false),
        Field::new("column_default", DataType::Utf8, true),
    ]);
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(namespace)),
        Arc::new(StringArray::from(table)),
        Arc::new(StringArray::from(column)),
        Arc::new(Int64Array::from(position)),
        Arc::new(StringArray::from(data_type)),
        Arc::new(BooleanArray::from(nullable)),
        Arc::new(BooleanArray::from(primary_key)),
        Arc::new(StringArray::from(default)),
    ];
    RecordBatch::try_new(Arc::new(schema), columns).expect("system.columns batch matches its schema")
}

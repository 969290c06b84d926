//! `system.columns`: one row per user column of every table, and per column of every view
//! (as the view's query returned them when it was created).

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, BooleanArray, Int64Array, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;

use crate::shared::EngineShared;

/// One row of `system.columns`.
struct ColumnRow<'a> {
    namespace: &'a str,
    table: &'a str,
    column: &'a str,
    position: i64,
    data_type: String,
    nullable: bool,
    primary_key: bool,
    default: Option<&'a str>,
}

/// `listed`: whether the reader may see a table or view.
pub fn batch(shared: &EngineShared, listed: &dyn Fn(&str, &str) -> bool) -> RecordBatch {
    let mut tables = shared.catalog.tables();
    tables.retain(|t| listed(&t.definition.namespace, &t.definition.name));
    let mut views = shared.catalog.views();
    views.retain(|v| listed(&v.namespace, &v.name));
    let mut rows = Vec::new();
    for entry in &tables {
        let d = &entry.definition;
        rows.extend(d.columns.iter().enumerate().map(|(index, c)| ColumnRow {
            namespace: &d.namespace,
            table: &d.name,
            column: &c.name,
            position: index as i64 + 1,
            data_type: c.data_type.to_string(),
            nullable: c.nullable,
            primary_key: entry.key_columns.contains(&index),
            default: c.default_sql.as_deref(),
        }));
    }
    for view in &views {
        rows.extend(view.columns.iter().enumerate().map(|(index, c)| ColumnRow {
            namespace: &view.namespace,
            table: &view.name,
            column: &c.name,
            position: index as i64 + 1,
            data_type: c.data_type.clone(),
            nullable: c.nullable,
            primary_key: false,
            default: None,
        }));
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
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.namespace))),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.table))),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.column))),
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.position))),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.data_type.as_str()))),
        Arc::new(BooleanArray::from_iter(rows.iter().map(|r| Some(r.nullable)))),
        Arc::new(BooleanArray::from_iter(rows.iter().map(|r| Some(r.primary_key)))),
        Arc::new(StringArray::from_iter(rows.iter().map(|r| r.default))),
    ];
    RecordBatch::try_new(Arc::new(schema), columns).expect("system.columns batch matches its schema")
}

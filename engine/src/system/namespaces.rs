//! `system.namespaces`: name, created_at, table_count.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Int64Array, StringArray, TimestampMillisecondArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;

use crate::shared::EngineShared;

/// `listed`: whether the reader may see a table (only those are counted).
pub fn batch(shared: &EngineShared, listed: &dyn Fn(&str, &str) -> bool) -> RecordBatch {
    let namespaces = shared.catalog.namespaces();
    let tables = shared.catalog.tables();
    let count = |ns: &str| tables.iter().filter(|t| t.definition.namespace == ns && listed(ns, &t.definition.name)).count() as i64;
    let schema = Schema::new(vec![
        Field::new("name", DataType::Utf8, false),
        Field::new("created_at", DataType::Timestamp(TimeUnit::Millisecond, None), false),
        Field::new("table_count", DataType::Int64, false),
    ]);
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(namespaces.iter().map(|n| n.name.as_str()))),
        Arc::new(TimestampMillisecondArray::from_iter_values(namespaces.iter().map(|n| n.created_at_millis))),
        Arc::new(Int64Array::from_iter_values(namespaces.iter().map(|n| count(&n.name)))),
    ];
    RecordBatch::try_new(Arc::new(schema), columns).expect("system.namespaces batch matches its schema")
}

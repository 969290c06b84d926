//! `system.users`: user_id, username, role, created_at (dba and system only). The
//! password hash is not a column, and nothing here reads it.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Int64Array, StringArray, TimestampMillisecondArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;

use crate::shared::EngineShared;

pub fn batch(shared: &EngineShared) -> RecordBatch {
    let mut users = shared.catalog.users();
    users.sort_by_key(|u| u.id);
    let schema = Schema::new(vec![
        Field::new("user_id", DataType::Int64, false),
        Field::new("username", DataType::Utf8, false),
        Field::new("role", DataType::Utf8, false),
        Field::new("created_at", DataType::Timestamp(TimeUnit::Millisecond, None), false),
    ]);
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(users.iter().map(|u| u.id as i64))),
        Arc::new(StringArray::from_iter_values(users.iter().map(|u| u.name.as_str()))),
        Arc::new(StringArray::from_iter_values(users.iter().map(|u| u.role.as_str()))),
        Arc::new(TimestampMillisecondArray::from_iter_values(users.iter().map(|u| u.created_at_millis))),
    ];
    RecordBatch::try_new(Arc::new(schema), columns).expect("system.users batch matches its schema")
}

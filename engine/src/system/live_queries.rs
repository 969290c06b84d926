//! `system.live_queries`: open subscriptions. A user sees its own; dba and system see all.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Int64Array, StringArray, TimestampMillisecondArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;

use crate::permissions::{SessionUser, sees_all_objects};
use crate::shared::EngineShared;

pub fn batch(shared: &EngineShared, user: &SessionUser) -> RecordBatch {
    let live: Vec<_> = shared.live.list().into_iter().filter(|q| sees_all_objects(user.role) || q.about.user_id == user.id).collect();
    let schema = Schema::new(vec![
        Field::new("live_id", DataType::Utf8, false),
        Field::new("user_id", DataType::Int64, false),
        Field::new("namespace_id", DataType::Utf8, false),
        Field::new("table_name", DataType::Utf8, false),
        Field::new("query", DataType::Utf8, false),
        Field::new("created_at", DataType::Timestamp(TimeUnit::Millisecond, None), false),
        Field::new("changes", DataType::Int64, false),
        Field::new("username", DataType::Utf8, false),
    ]);
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(live.iter().map(|q| q.live_id.as_str()))),
        Arc::new(Int64Array::from_iter_values(live.iter().map(|q| q.about.user_id as i64))),
        Arc::new(StringArray::from_iter_values(live.iter().map(|q| q.about.namespace.as_str()))),
        Arc::new(StringArray::from_iter_values(live.iter().map(|q| q.about.table.as_str()))),
        Arc::new(StringArray::from_iter_values(live.iter().map(|q| q.about.query.as_str()))),
        Arc::new(TimestampMillisecondArray::from_iter_values(live.iter().map(|q| q.about.created_at))),
        Arc::new(Int64Array::from_iter_values(live.iter().map(|q| q.changes as i64))),
        Arc::new(StringArray::from_iter_values(live.iter().map(|q| q.about.user_name.as_str()))),
    ];
    RecordBatch::try_new(Arc::new(schema), columns).expect("system.live_queries batch matches its schema")
}

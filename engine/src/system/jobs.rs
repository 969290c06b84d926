//! `system.jobs`: the jobs the engine ran (dba and system only), oldest first.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Int64Array, StringArray, TimestampMillisecondArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;

use crate::shared::EngineShared;

pub fn batch(shared: &EngineShared) -> RecordBatch {
    let jobs = shared.jobs.list();
    let time = || DataType::Timestamp(TimeUnit::Millisecond, None);
    let schema = Schema::new(vec![
        Field::new("job_id", DataType::Int64, false),
        Field::new("job_type", DataType::Utf8, false),
        Field::new("namespace_id", DataType::Utf8, true),
        Field::new("table_name", DataType::Utf8, true),
        Field::new("status", DataType::Utf8, false),
        Field::new("created_at", time(), false),
        Field::new("started_at", time(), true),
        Field::new("completed_at", time(), true),
        Field::new("rows_affected", DataType::Int64, false),
        Field::new("error_message", DataType::Utf8, true),
    ]);
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(jobs.iter().map(|j| j.job_id as i64))),
        Arc::new(StringArray::from_iter_values(jobs.iter().map(|j| j.job_type))),
        Arc::new(StringArray::from_iter(jobs.iter().map(|j| j.namespace.as_deref()))),
        Arc::new(StringArray::from_iter(jobs.iter().map(|j| j.table.as_deref()))),
        Arc::new(StringArray::from_iter_values(jobs.iter().map(|j| j.status.as_str()))),
        Arc::new(TimestampMillisecondArray::from_iter_values(jobs.iter().map(|j| j.created_at))),
        Arc::new(TimestampMillisecondArray::from_iter(jobs.iter().map(|j| j.started_at))),
        Arc::new(TimestampMillisecondArray::from_iter(jobs.iter().map(|j| j.completed_at))),
        Arc::new(Int64Array::from_iter_values(jobs.iter().map(|j| j.rows_affected as i64))),
        Arc::new(StringArray::from_iter(jobs.iter().map(|j| j.error_message.as_deref()))),
    ];
    RecordBatch::try_new(Arc::new(schema), columns).expect("system.jobs batch matches its schema")
}

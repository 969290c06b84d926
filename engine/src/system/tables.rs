//! `system.tables`: one row per table and view, including the system tables themselves.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Int64Array, StringArray, TimestampMillisecondArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;

use crate::catalog::{SYSTEM_NAMESPACE, SystemTable};
use crate::permissions::SessionUser;
use crate::resolver;
use crate::shared::EngineShared;

/// `system.tables.table_type` of a view.
const VIEW_TYPE: &str = "view";

struct Row {
    namespace: String,
    name: String,
    table_type: &'static str,
    access_level: Option<String>,
    flush_policy: Option<String>,
    ttl_seconds: Option<i64>,
    schema_version: i64,
    created_at: Option<i64>,
    primary_key: Option<String>,
    options: Option<String>,
    /// The newest `_seq` of a tombstone the retention purge removed (any scope); resuming
    /// a subscription from before it is refused.
    retention_horizon_seq: Option<i64>,
}

/// `listed`: whether the reader may see a table or view.
pub fn batch(shared: &EngineShared, user: &SessionUser, listed: &dyn Fn(&str, &str) -> bool) -> RecordBatch {
    let mut rows: Vec<Row> = shared
        .catalog
        .tables()
        .iter()
        .filter(|entry| listed(&entry.definition.namespace, &entry.definition.name))
        .map(|entry| {
            let d = &entry.definition;
            let mut extra = Vec::new();
            if let Some(hours) = d.options.deleted_retention_hours {
                extra.push(format!("DELETED_RETENTION_HOURS={hours}"));
            }
            if let Some(max_rows) = d.options.max_rows {
                extra.push(format!("MAX_ROWS={max_rows}"));
            }
            if let Some(ephemeral) = d.options.ephemeral {
                extra.push(format!("EPHEMERAL={}", ephemeral.to_string().to_uppercase()));
            }
            Row {
                namespace: d.namespace.clone(),
                name: d.name.clone(),
                table_type: d.kind.as_str(),
                access_level: d.options.access_level.map(|a| a.as_str().to_string()),
                flush_policy: d.options.flush_policy.map(|f| f.to_string()),
                ttl_seconds: d.options.ttl_seconds.map(|t| t as i64),
                schema_version: i64::from(d.schema_version),
                created_at: Some(d.created_at_millis),
                primary_key: (!entry.key_columns.is_empty()).then(|| entry.key_names().join(", ")),
                options: (!extra.is_empty()).then(|| extra.join(", ")),
                retention_horizon_seq: match shared.cold.table_horizon(entry.id()) {
                    0 => None,
                    seq => Some(i64::try_from(seq).unwrap_or(i64::MAX)),
                },
            }
        })
        .collect();
    rows.extend(shared.catalog.views().iter().filter(|view| listed(&view.namespace, &view.name)).map(|view| Row {
        namespace: view.namespace.clone(),
        name: view.name.clone(),
        table_type: VIEW_TYPE,
        access_level: None,
        flush_policy: None,
        ttl_seconds: None,
        schema_version: 1,
        created_at: Some(view.created_at_millis),
        primary_key: None,
        options: None,
        retention_horizon_seq: None,
    }));
    rows.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    rows.extend(resolver::listed_system_tables(user).map(|table| Row {
        namespace: SYSTEM_NAMESPACE.into(),
        name: table.name().to_string(),
        table_type: SystemTable::TABLE_TYPE,
        access_level: None,
        flush_policy: None,
        ttl_seconds: None,
        schema_version: 1,
        created_at: None,
        primary_key: None,
        options: None,
        retention_horizon_seq: None,
    }));
    let schema = Schema::new(vec![
        Field::new("namespace_id", DataType::Utf8, false),
        Field::new("table_name", DataType::Utf8, false),
        Field::new("table_type", DataType::Utf8, false),
        Field::new("access_level", DataType::Utf8, true),
        Field::new("flush_policy", DataType::Utf8, true),
        Field::new("ttl_seconds", DataType::Int64, true),
        Field::new("schema_version", DataType::Int64, false),
        Field::new("created_at", DataType::Timestamp(TimeUnit::Millisecond, None), true),
        Field::new("primary_key", DataType::Utf8, true),
        Field::new("options", DataType::Utf8, true),
        Field::new("retention_horizon_seq", DataType::Int64, true),
    ]);
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.namespace.as_str()))),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.name.as_str()))),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.table_type))),
        Arc::new(StringArray::from_iter(rows.iter().map(|r| r.access_level.as_deref()))),
        Arc::new(StringArray::from_iter(rows.iter().map(|r| r.flush_policy.as_deref()))),
        Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.ttl_seconds))),
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.schema_version))),
        Arc::new(TimestampMillisecondArray::from_iter(rows.iter().map(|r| r.created_at))),
        Arc::new(StringArray::from_iter(rows.iter().map(|r| r.primary_key.as_deref()))),
        Arc::new(StringArray::from_iter(rows.iter().map(|r| r.options.as_deref()))),
        Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.retention_horizon_seq))),
    ];
    RecordBatch::try_new(Arc::new(schema), columns).expect("system.tables batch matches its schema")
}

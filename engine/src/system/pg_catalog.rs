//! `pg_catalog`: the PostgreSQL catalog tables psql's listings read (`\dt`, `\dn`, `\l`),
//! built like the system tables, for the reader (only what it may list, by the same rule
//! as `system.tables`). A PostgreSQL database is one of the engine's namespaces (as the
//! server's startup `database` is), and so is a schema: `pg_namespace` and `pg_database`
//! both list the namespaces. Object ids are made up, stable while the catalog does not
//! change: a namespace's by its place in name order, a table's or view's from the
//! engine's table id (views after tables). The engine's objects have no owner: every one
//! says root's id, 10, which `pg_get_userbyid` names.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Int32Array, Int64Array, ListArray, StringArray, new_null_array};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;

use crate::shared::EngineShared;

/// The schema name psql qualifies its catalog tables with.
pub const PG_CATALOG: &str = "pg_catalog";

/// Root's object id, the owner every object reports.
pub const ROOT_OID: i64 = 10;

/// The tables of `pg_catalog`.
pub const TABLES: [&str; 4] = ["pg_namespace", "pg_class", "pg_am", "pg_database"];

/// PostgreSQL's id of the UTF8 encoding.
const UTF8_ENCODING: i32 = 6;

const FIRST_NAMESPACE_OID: i64 = 16_384;
const FIRST_RELATION_OID: i64 = 1_000_000;

/// The rows of `pg_catalog.name` for a reader who may list what `listed` says; `None`
/// for a name that is not one of [`TABLES`].
pub fn batch(shared: &EngineShared, listed: &dyn Fn(&str, &str) -> bool, name: &str) -> Option<RecordBatch> {
    let namespaces: Vec<String> = shared.catalog.namespaces().into_iter().map(|n| n.name).collect();
    let namespace_oid = |name: &str| namespaces.iter().position(|n| n == name).map(|i| FIRST_NAMESPACE_OID + i as i64);
    let int64 = |name: &str| Field::new(name, DataType::Int64, false);
    let text = |name: &str| Field::new(name, DataType::Utf8, true);
    let (fields, columns): (Vec<Field>, Vec<ArrayRef>) = match name {
        "pg_namespace" => (
            vec![int64("oid"), text("nspname"), int64("nspowner")],
            vec![
                Arc::new(Int64Array::from_iter_values((0..namespaces.len() as i64).map(|i| FIRST_NAMESPACE_OID + i))),
                Arc::new(StringArray::from_iter_values(&namespaces)),
                Arc::new(Int64Array::from_iter_values(namespaces.iter().map(|_| ROOT_OID))),
            ],
        ),
        "pg_class" => {
            let mut rows: Vec<(i64, String, i64, &str)> = Vec::new();
            for table in shared.catalog.tables() {
                let (namespace, table_name) = (&table.definition.namespace, &table.definition.name);
                if let Some(oid) = namespace_oid(namespace).filter(|_| listed(namespace, table_name)) {
                    rows.push((FIRST_RELATION_OID + table.id() as i64, table_name.clone(), oid, "r"));
                }
            }
            let first_view = rows.iter().map(|r| r.0 + 1).max().unwrap_or(FIRST_RELATION_OID);
            for (index, view) in shared.catalog.views().iter().enumerate() {
                if let Some(oid) = namespace_oid(&view.namespace).filter(|_| listed(&view.namespace, &view.name)) {
                    rows.push((first_view + index as i64, view.name.clone(), oid, "v"));
                }
            }
            (
                vec![int64("oid"), text("relname"), int64("relnamespace"), text("relkind"), int64("relowner"), int64("relam")],
                vec![
                    Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))),
                    Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.1.as_str()))),
                    Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.2))),
                    Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.3))),
                    Arc::new(Int64Array::from_iter_values(rows.iter().map(|_| ROOT_OID))),
                    Arc::new(Int64Array::from_iter_values(rows.iter().map(|_| 0))),
                ],
            )
        }
        "pg_am" => (
            vec![int64("oid"), text("amname")],
            vec![Arc::new(Int64Array::from_iter_values([2])), Arc::new(StringArray::from_iter_values(["engine"]))],
        ),
        "pg_database" => {
            let count = namespaces.len();
            let acl = Field::new("datacl", DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true))), true);
            (
                vec![
                    int64("oid"),
                    text("datname"),
                    int64("datdba"),
                    Field::new("encoding", DataType::Int32, false),
                    text("datcollate"),
                    text("datctype"),
                    text("daticulocale"),
                    text("datlocprovider"),
                    acl.clone(),
                ],
                vec![
                    Arc::new(Int64Array::from_iter_values((0..count as i64).map(|i| FIRST_NAMESPACE_OID + i))),
                    Arc::new(StringArray::from_iter_values(&namespaces)),
                    Arc::new(Int64Array::from_iter_values(namespaces.iter().map(|_| ROOT_OID))),
                    Arc::new(Int32Array::from_iter_values(namespaces.iter().map(|_| UTF8_ENCODING))),
                    Arc::new(StringArray::from_iter_values(namespaces.iter().map(|_| "C"))),
                    Arc::new(StringArray::from_iter_values(namespaces.iter().map(|_| "C"))),
                    new_null_array(&DataType::Utf8, count),
                    Arc::new(StringArray::from_iter_values(namespaces.iter().map(|_| "c"))),
                    Arc::new(ListArray::new_null(Arc::new(Field::new_list_field(DataType::Utf8, true)), count)),
                ],
            )
        }
        _ => return None,
    };
    Some(RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).expect("pg_catalog batch matches its schema"))
}

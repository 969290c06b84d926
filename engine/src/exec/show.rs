//! SHOW NAMESPACES, SHOW TABLES and DESCRIBE.

use datafusion::arrow::datatypes::SchemaRef;

use crate::catalog::{CatalogObject, SYSTEM_NAMESPACE};
use crate::error::{EngineError, Result};
use crate::exec::context::ExecContext;
use crate::exec::text_rows;
use crate::permissions::TableAction;
use crate::resolver::{Resolved, listed_system_tables, may_list, resolve};
use crate::result::QueryResult;
use crate::sql::ObjectRef;
use crate::system::system_table_batch;

pub fn namespaces(ctx: &ExecContext) -> Result<QueryResult> {
    let mut names: Vec<Option<String>> = ctx.shared.catalog.namespaces().into_iter().map(|n| Some(n.name)).collect();
    names.push(Some(SYSTEM_NAMESPACE.into()));
    names.sort();
    Ok(text_rows(&[("namespace", names)], &[]))
}

pub fn tables(ctx: &ExecContext, namespace: Option<String>) -> Result<QueryResult> {
    let namespace = namespace.unwrap_or_else(|| ctx.current_namespace());
    let (names, kinds): (Vec<Option<String>>, Vec<Option<String>>) = if namespace == SYSTEM_NAMESPACE {
        listed_system_tables(&ctx.user).map(|t| (Some(t.name().to_string()), Some("system".to_string()))).unzip()
    } else {
        if !ctx.shared.catalog.namespace_exists(&namespace) {
            return Err(EngineError::undefined_namespace(&namespace));
        }
        ctx.shared
            .catalog
            .object_names_in(&namespace)
            .into_iter()
            .filter(|name| may_list(&ctx.shared, &ctx.user, &namespace, name))
            .filter_map(|name| {
                let kind = match ctx.shared.catalog.object(&namespace, &name)? {
                    CatalogObject::Table(entry) => entry.kind().as_str(),
                    CatalogObject::View(_) => "view",
                };
                Some((Some(name), Some(kind.to_string())))
            })
            .unzip()
    };
    let namespaces = vec![Some(namespace); names.len()];
    Ok(text_rows(&[("namespace", namespaces), ("table_name", names), ("table_type", kinds)], &[]))
}

pub fn describe(ctx: &ExecContext, reference: &ObjectRef) -> Result<QueryResult> {
    let (namespace, name) = ctx.qualify(reference);
    if namespace != SYSTEM_NAMESPACE && !ctx.shared.catalog.namespace_exists(&namespace) {
        return Err(EngineError::undefined_namespace(&namespace));
    }
    let missing = || EngineError::undefined_table(format!("{namespace}.{name}"));
    match resolve(&ctx.shared, &ctx.user, &namespace, &name, TableAction::Read)?.ok_or_else(missing)? {
        Resolved::System(table) => {
            let batch = system_table_batch(&ctx.shared, &ctx.user, table);
            Ok(describe_schema(&batch.schema()))
        }
        Resolved::View(view) => Ok(text_rows(
            &[
                ("column_name", view.columns.iter().map(|c| Some(c.name.clone())).collect()),
                ("data_type", view.columns.iter().map(|c| Some(c.data_type.clone())).collect()),
                ("column_default", vec![None; view.columns.len()]),
            ],
            &[("is_nullable", view.columns.iter().map(|c| c.nullable).collect()), ("is_primary_key", vec![false; view.columns.len()])],
        )),
        Resolved::Table(table) => {
            let entry = table.entry;
            let columns = &entry.definition.columns;
            Ok(text_rows(
                &[
                    ("column_name", columns.iter().map(|c| Some(c.name.clone())).collect()),
                    ("data_type", columns.iter().map(|c| Some(c.data_type.to_string())).collect()),
                    ("column_default", columns.iter().map(|c| c.default_sql.clone()).collect()),
                ],
                &[
                    ("is_nullable", columns.iter().map(|c| c.nullable).collect()),
                    ("is_primary_key", (0..columns.len()).map(|i| entry.key_columns.contains(&i)).collect()),
                ],
            ))
        }
    }
}

fn describe_schema(schema: &SchemaRef) -> QueryResult {
    let fields = schema.fields();
    text_rows(
        &[
            ("column_name", fields.iter().map(|f| Some(f.name().clone())).collect()),
            ("data_type", fields.iter().map(|f| Some(f.data_type().to_string())).collect()),
            ("column_default", vec![None; fields.len()]),
        ],
        &[("is_nullable", fields.iter().map(|f| f.is_nullable()).collect()), ("is_primary_key", vec![false; fields.len()])],
    )
}

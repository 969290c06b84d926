//! CREATE [OR REPLACE] VIEW [IF NOT EXISTS] and DROP VIEW [IF EXISTS] (README.md#the-table-model-in-brief).
//!
//! CREATE VIEW plans the query once as the creating user, to check it and to record its
//! columns, and stores its SQL text with the settings that change how it plans. Each
//! statement that reads the view plans that text again as the querying user (see the
//! session's catalog), so a view over a USER table shows each user its own rows.

use std::collections::HashSet;

use datafusion::sql::sqlparser::ast::{CreateTableOptions, CreateView, Statement};

use crate::catalog::{CatalogObject, SystemColumn, ViewColumn, ViewDefinition};
use crate::error::{EngineError, Result, SqlState};
use crate::exec::context::ExecContext;
use crate::exec::drop_table::{Dropping, drop_objects, resolve_named};
use crate::exec::{catalog_work, query};
use crate::permissions::check_ddl;
use crate::resolver::check_ddl_in;
use crate::result::QueryResult;
use crate::sql::ObjectRef;
use crate::sql::parser::{ident_name, object_ref};

pub async fn create(ctx: &ExecContext, statement: CreateView, mentions: Vec<SystemColumn>) -> Result<QueryResult> {
    let (namespace, name) = ctx.qualify(&object_ref(&statement.name)?);
    check_ddl_in(&ctx.user, &namespace, "CREATE VIEW")?;
    if statement.materialized || statement.temporary || statement.or_alter || statement.to.is_some() {
        return Err(EngineError::not_supported(
            "materialized, temporary and CREATE OR ALTER views are not supported; use CREATE [OR REPLACE] VIEW",
        ));
    }
    if !matches!(statement.options, CreateTableOptions::None) {
        return Err(EngineError::not_supported("views take no options"));
    }
    if statement.or_replace && statement.if_not_exists {
        return Err(EngineError::syntax("CREATE OR REPLACE VIEW and IF NOT EXISTS cannot be used together"));
    }
    if !ctx.shared.catalog.namespace_exists(&namespace) {
        return Err(EngineError::undefined_namespace(&namespace));
    }
    if name.is_empty() || name.contains('\0') {
        return Err(EngineError::invalid_parameter("a view name may not be empty or contain a zero byte"));
    }
    let query_sql = statement.query.to_string();
    // Planned where it will be read: unqualified names resolve in the view's namespace.
    let current = ctx.current_namespace();
    ctx.set_current_namespace(&namespace);
    let planned = query::plan_view_query(ctx, Statement::Query(statement.query), mentions, (namespace.clone(), name.clone())).await;
    ctx.set_current_namespace(&current);
    let (plan, reads) = planned?;
    let column_names: Vec<String> = statement.columns.iter().map(|c| ident_name(&c.name)).collect();
    let fields = plan.schema().fields().clone();
    if !column_names.is_empty() && column_names.len() != fields.len() {
        return Err(EngineError::syntax(format!(
            "view {namespace}.{name} names {} columns but its query returns {}",
            column_names.len(),
            fields.len()
        )));
    }
    let mut columns = Vec::with_capacity(fields.len());
    let mut seen = HashSet::new();
    for (index, field) in fields.iter().enumerate() {
        let column_name = column_names.get(index).cloned().unwrap_or_else(|| field.name().clone());
        if !seen.insert(column_name.clone()) {
            return Err(EngineError::new(
                SqlState::DUPLICATE_COLUMN,
                format!("column {column_name} is specified more than once in view {namespace}.{name}"),
            ));
        }
        columns.push(ViewColumn { name: column_name, data_type: field.data_type().to_string(), nullable: field.is_nullable() });
    }
    let view = ViewDefinition {
        namespace,
        name,
        query_sql,
        column_names,
        columns,
        planning_options: ctx.planning_options(),
        reads: Some(reads),
        created_at_millis: ctx.shared.now_millis(),
    };
    let shared = ctx.shared.clone();
    let ddl = shared.catalog.lock_ddl().await;
    if !shared.catalog.namespace_exists(&view.namespace) {
        return Err(EngineError::undefined_namespace(&view.namespace));
    }
    match shared.catalog.object(&view.namespace, &view.name) {
        Some(CatalogObject::Table(_)) if statement.or_replace => {
            return Err(EngineError::new(SqlState::WRONG_OBJECT_TYPE, format!("{} is a table, not a view", view.qualified_name())));
        }
        Some(_) if statement.if_not_exists => return Ok(QueryResult::Message("CREATE VIEW".into())),
        Some(CatalogObject::View(_)) if statement.or_replace => {}
        Some(existing) => {
            return Err(EngineError::new(
                SqlState::DUPLICATE_TABLE,
                format!("{} {} already exists", existing.noun(), view.qualified_name()),
            ));
        }
        None => {}
    }
    catalog_work(ddl, move |ddl| shared.catalog.put_view(ddl, view)).await?;
    Ok(QueryResult::Message("CREATE VIEW".into()))
}

pub async fn drop(ctx: &ExecContext, views: &[ObjectRef], if_exists: bool) -> Result<QueryResult> {
    check_ddl(ctx.user.role, "DROP VIEW")?;
    drop_objects(&ctx.shared, || resolve_named(ctx, views, if_exists, Dropping::View)).await?;
    Ok(QueryResult::Message("DROP VIEW".into()))
}

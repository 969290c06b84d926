//! CREATE NAMESPACE, DROP NAMESPACE and USE.

use crate::catalog::{DEFAULT_NAMESPACE, INFORMATION_SCHEMA, SYSTEM_NAMESPACE};
use crate::error::{EngineError, Result, SqlState};
use crate::exec::catalog_work;
use crate::exec::context::ExecContext;
use crate::exec::drop_table::{DropSet, drop_objects};
use crate::permissions::check_ddl;
use crate::result::QueryResult;

pub async fn create(ctx: &ExecContext, name: &str, if_not_exists: bool) -> Result<QueryResult> {
    check_ddl(ctx.user.role, "CREATE NAMESPACE")?;
    let ddl = ctx.shared.catalog.lock_ddl().await;
    let (shared, name, now) = (ctx.shared.clone(), name.to_string(), ctx.shared.now_millis());
    catalog_work(ddl, move |ddl| shared.catalog.create_namespace(ddl, &name, if_not_exists, now)).await?;
    Ok(QueryResult::Message("CREATE NAMESPACE".into()))
}

pub async fn drop(ctx: &ExecContext, name: &str, if_exists: bool, cascade: bool) -> Result<QueryResult> {
    check_ddl(ctx.user.role, "DROP NAMESPACE")?;
    if name == SYSTEM_NAMESPACE || name == INFORMATION_SCHEMA || name == DEFAULT_NAMESPACE {
        return Err(EngineError::new(SqlState::RESERVED_NAME, format!("namespace {name} cannot be dropped")));
    }
    let catalog = &ctx.shared.catalog;
    drop_objects(&ctx.shared, || {
        if !catalog.namespace_exists(name) {
            if if_exists {
                return Ok(DropSet::default());
            }
            return Err(EngineError::undefined_namespace(name));
        }
        let tables = catalog.tables_in(name);
        let views = catalog.views_in(name);
        let empty = tables.is_empty() && views.is_empty();
        if !cascade && !empty {
            let names: Vec<&str> = tables.iter().map(|t| t.definition.name.as_str()).chain(views.iter().map(|v| v.name.as_str())).collect();
            return Err(EngineError::new(
                SqlState::DEPENDENT_OBJECTS_STILL_EXIST,
                format!("namespace {name} still holds tables or views ({}); use DROP NAMESPACE {name} CASCADE", names.join(", ")),
            ));
        }
        Ok(DropSet { tables, views, namespace: Some(name.to_string()) })
    })
    .await?;
    Ok(QueryResult::Message("DROP NAMESPACE".into()))
}

pub fn use_namespace(ctx: &ExecContext, name: &str) -> Result<QueryResult> {
    if name != SYSTEM_NAMESPACE && !ctx.shared.catalog.namespace_exists(name) {
        return Err(EngineError::undefined_namespace(name));
    }
    ctx.set_current_namespace(name);
    Ok(QueryResult::Message("USE".into()))
}

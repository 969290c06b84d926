//! ALTER TABLE: `SET ACCESS_LEVEL` (SHARED tables). Each change is a new schema version
//! of the table, stored under the table's exclusive write lock, so no statement writes
//! the table half under the old rules and half under the new; a writer planned before the
//! change gets 40001 and runs again under the new rules.

use crate::catalog::{AccessLevel, CatalogObject, TableDefinition, TableKind};
use crate::error::{EngineError, Result, SqlState};
use crate::exec::catalog_work;
use crate::exec::context::ExecContext;
use crate::resolver::resolve_for_ddl;
use crate::result::QueryResult;
use crate::sql::ObjectRef;

pub async fn set_access_level(ctx: &ExecContext, reference: &ObjectRef, access_level: AccessLevel) -> Result<QueryResult> {
    let (namespace, name) = ctx.qualify(reference);
    let statement = "ALTER TABLE";
    let entry = match resolve_for_ddl(&ctx.shared, &ctx.user, &namespace, &name, statement)? {
        Some(CatalogObject::Table(entry)) => entry,
        Some(CatalogObject::View(view)) => {
            return Err(EngineError::new(
                SqlState::WRONG_OBJECT_TYPE,
                format!("{} is a view; ALTER TABLE changes tables", view.qualified_name()),
            ));
        }
        None if !ctx.shared.catalog.namespace_exists(&namespace) => return Err(EngineError::undefined_namespace(&namespace)),
        None => return Err(EngineError::undefined_table(format!("{namespace}.{name}"))),
    };
    if entry.kind() != TableKind::Shared {
        return Err(EngineError::invalid_parameter(format!(
            "option ACCESS_LEVEL applies to SHARED tables only; {} is a {} table",
            entry.definition.qualified_name(),
            entry.kind().as_str().to_uppercase()
        )));
    }
    let shared = ctx.shared.clone();
    let table_lock = shared.locks.lock_table(entry.id()).await;
    let ddl = shared.catalog.lock_ddl().await;
    let Some(current) = shared.catalog.table(&namespace, &name).filter(|t| t.id() == entry.id()) else {
        return Err(EngineError::undefined_table(format!("{namespace}.{name}")));
    };
    let mut definition: TableDefinition = current.definition.clone();
    definition.options.access_level = Some(access_level);
    definition.schema_version += 1;
    catalog_work(ddl, move |ddl| shared.catalog.add_table_version(ddl, &table_lock, definition)).await?;
    Ok(QueryResult::Message("ALTER TABLE".into()))
}

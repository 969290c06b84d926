//! CREATE NAMESPACE, DROP NAMESPACE and USE.

use crate::catalog::{DEFAULT_NAMESPACE, INFORMATION_SCHEMA, SYSTEM_NAMESPACE};
use crate::error::{EngineError, Result, SqlState};
use crate::exec::drop_table::drop_entry;
use crate::permissions::check_ddl;
use crate::result::QueryResult;
use crate::session::Session;

pub async fn create(session: &Session, name: &str, if_not_exists: bool) -> Result<QueryResult> {
    check_ddl(session.user.role, "CREATE NAMESPACE")?;
    let shared = &session.shared;
    let guard = shared.store.lock_writes().await;
    shared.catalog.create_namespace(&guard, name, if_not_exists, shared.now_millis())?;
    Ok(QueryResult::Message("CREATE NAMESPACE".into()))
}

pub async fn drop(session: &Session, name: &str, if_exists: bool, cascade: bool) -> Result<QueryResult> {
    check_ddl(session.user.role, "DROP NAMESPACE")?;
    if name == SYSTEM_NAMESPACE || name == INFORMATION_SCHEMA || name == DEFAULT_NAMESPACE {
        return Err(EngineError::new(SqlState::RESERVED_NAME, format!("namespace {name} cannot be dropped")));
    }
    let shared = &session.shared;
    let guard = shared.store.lock_writes().await;
    if !shared.catalog.namespace_exists(name) {
        if if_exists {
            return Ok(QueryResult::Message("DROP NAMESPACE".into()));
        }
        return Err(EngineError::undefined_namespace(name));
    }
    let tables = shared.catalog.tables_in(name);
    if !tables.is_empty() && !cascade {
        let names: Vec<&str> = tables.iter().map(|t| t.definition.name.as_str()).collect();
        return Err(EngineError::new(
            SqlState::DEPENDENT_OBJECTS_STILL_EXIST,
            format!("namespace {name} still holds tables ({}); use DROP NAMESPACE {name} CASCADE", names.join(", ")),
        ));
    }
    for table in &tables {
        drop_entry(shared, &guard, table)?;
    }
    shared.catalog.drop_namespace_record(&guard, name)?;
    Ok(QueryResult::Message("DROP NAMESPACE".into()))
}

pub fn use_namespace(session: &Session, name: &str) -> Result<QueryResult> {
    if name != SYSTEM_NAMESPACE && !session.shared.catalog.namespace_exists(name) {
        return Err(EngineError::undefined_namespace(name));
    }
    session.set_current_namespace(name);
    Ok(QueryResult::Message("USE".into()))
}

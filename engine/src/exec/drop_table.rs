//! DROP TABLE: removes a table and everything it owns before returning (SPEC.md section 8).

use std::sync::Arc;

use crate::catalog::{SYSTEM_NAMESPACE, TableEntry};
use crate::engine::EngineShared;
use crate::error::{EngineError, Result, SqlState};
use crate::permissions::check_ddl;
use crate::result::QueryResult;
use crate::session::Session;
use crate::sql::ObjectRef;
use crate::storage::WriteGuard;

pub async fn execute(session: &Session, tables: &[ObjectRef], if_exists: bool) -> Result<QueryResult> {
    check_ddl(session.user.role, "DROP TABLE")?;
    let shared = &session.shared;
    let guard = shared.store.lock_writes().await;
    // Resolve every name first so a missing one drops nothing.
    let mut entries = Vec::new();
    for reference in tables {
        let (namespace, name) = session.resolve(reference);
        if namespace == SYSTEM_NAMESPACE {
            return Err(EngineError::new(SqlState::INSUFFICIENT_PRIVILEGE, format!("system table {namespace}.{name} cannot be dropped")));
        }
        if !shared.catalog.namespace_exists(&namespace) {
            if if_exists {
                continue;
            }
            return Err(EngineError::undefined_namespace(&namespace));
        }
        match shared.catalog.table(&namespace, &name) {
            Some(entry) => entries.push(entry),
            None if if_exists => {}
            None => return Err(EngineError::undefined_table(format!("{namespace}.{name}"))),
        }
    }
    for entry in &entries {
        drop_entry(shared, &guard, entry)?;
    }
    Ok(QueryResult::Message("DROP TABLE".into()))
}

/// Drops one table: catalog entry, every schema version and every hot row of every user.
/// (Cold files, jobs and subscriptions join this list when those features arrive.)
pub fn drop_entry(shared: &Arc<EngineShared>, guard: &WriteGuard<'_>, entry: &TableEntry) -> Result<()> {
    shared.catalog.drop_table(guard, entry)
}

//! FLUSH TABLE, FLUSH ALL TABLES, and the flush of one table that they and the flush
//! policies' job share: every scope with hot rows becomes a new Parquet segment
//! ([`crate::provider::flush`]), recorded as one `flush` job in `system.jobs`.
//!
//! Flushes run one at a time per engine (a flush statement and the policy job never
//! interleave on one scope). FLUSH is maintenance: it needs the DDL roles (dba, system).
//! STREAM tables are never flushed: FLUSH TABLE on one is 0A000, FLUSH ALL TABLES skips them.
//! A view holds no rows: FLUSH TABLE on one is 42809, as a write to it is.

use std::sync::Arc;

use crate::catalog::{CatalogObject, RowOwner, TableEntry, TableKind};
use crate::error::{EngineError, Result, SqlState};
use crate::exec::context::ExecContext;
use crate::exec::jobs::JobKind;
use crate::permissions::check_ddl;
use crate::provider::flush::flush_scope;
use crate::result::{CountedCommand, QueryResult};
use crate::shared::EngineShared;
use crate::sql::ObjectRef;
use crate::sql::flush::FlushTarget;
use crate::storage::{RowScope, off_async};

/// Runs a FLUSH statement; the count is the rows moved to cold storage.
pub async fn execute(ctx: &ExecContext, target: &FlushTarget) -> Result<QueryResult> {
    check_ddl(ctx.user.role, "FLUSH")?;
    let tables = match target {
        FlushTarget::Table(reference) => vec![flush_target(ctx, reference)?],
        FlushTarget::All { namespace } => {
            if let Some(namespace) = namespace
                && !ctx.shared.catalog.namespace_exists(namespace)
            {
                return Err(EngineError::undefined_namespace(namespace));
            }
            flushable_tables(&ctx.shared, namespace.as_deref())
        }
    };
    let mut rows = 0;
    for table in tables {
        rows += flush_table(&ctx.shared, &table).await?;
    }
    Ok(QueryResult::Count { command: CountedCommand::Flush, rows })
}

/// The table FLUSH TABLE names: a SHARED or USER table. A view is 42809 (wrong_object_type,
/// as writes to a view are), a STREAM table 0A000.
fn flush_target(ctx: &ExecContext, reference: &ObjectRef) -> Result<Arc<TableEntry>> {
    let (namespace, name) = ctx.qualify(reference);
    if !ctx.shared.catalog.namespace_exists(&namespace) {
        return Err(EngineError::undefined_namespace(&namespace));
    }
    let entry = match ctx.shared.catalog.object(&namespace, &name) {
        Some(CatalogObject::Table(entry)) => entry,
        Some(CatalogObject::View(view)) => {
            return Err(EngineError::new(
                SqlState::WRONG_OBJECT_TYPE,
                format!("{} is a view; FLUSH TABLE flushes tables (a view stores no rows)", view.qualified_name()),
            ));
        }
        None => return Err(EngineError::undefined_table(format!("{namespace}.{name}"))),
    };
    if !entry.kind().rules().flushed {
        return Err(EngineError::not_supported(format!(
            "{} table {namespace}.{name} is never flushed: its rows stay in hot storage until they expire",
            entry.kind().as_str().to_uppercase()
        )));
    }
    Ok(entry)
}

/// Every SHARED and USER table (of `namespace`), by name.
pub fn flushable_tables(shared: &EngineShared, namespace: Option<&str>) -> Vec<Arc<TableEntry>> {
    let mut tables: Vec<Arc<TableEntry>> = shared
        .catalog
        .tables()
        .into_iter()
        .filter(|t| t.kind().rules().flushed && namespace.is_none_or(|ns| t.definition.namespace == ns))
        .collect();
    tables.sort_by_key(|t| t.definition.qualified_name());
    tables
}

/// Flushes every scope of `table` that has hot rows, as one job. Returns the rows moved;
/// a table without hot rows records no job.
pub async fn flush_table(shared: &Arc<EngineShared>, table: &Arc<TableEntry>) -> Result<u64> {
    let _one_at_a_time = shared.segment_writes.lock().await;
    let (work_shared, table_id, kind) = (shared.clone(), table.id(), table.kind());
    let scopes = off_async(move || hot_scopes(&work_shared, table_id, kind)).await?;
    if scopes.is_empty() {
        return Ok(0);
    }
    let definition = &table.definition;
    let job = shared.jobs.start(JobKind::Flush.name(), Some(&definition.namespace), Some(&definition.name), shared.now_millis());
    let mut outcome = Ok(0);
    for scope in scopes {
        match flush_scope(shared, table, scope).await {
            Ok(rows) => outcome = outcome.map(|total| total + rows),
            Err(error) => {
                outcome = Err(error);
                break;
            }
        }
    }
    shared.jobs.finish(job, shared.now_millis(), outcome.as_ref().map(|n| *n).map_err(|e| e.to_string()));
    shared.flushed_at(table.id(), shared.now_millis());
    outcome
}

/// The scopes of a table that hold hot rows.
fn hot_scopes(shared: &EngineShared, table_id: u64, kind: TableKind) -> Result<Vec<RowScope>> {
    if !kind.rules().flushed {
        return Ok(Vec::new());
    }
    Ok(match kind.rules().rows {
        RowOwner::Everyone => {
            let prefix = crate::storage::keys::scope_row_prefix(table_id, &RowScope::Shared);
            if shared.store.prefix_is_empty(&prefix)? { Vec::new() } else { vec![RowScope::Shared] }
        }
        RowOwner::EachUser => shared.store.users_with_rows(table_id)?.into_iter().map(|(user, _)| RowScope::User(user)).collect(),
    })
}

//! DROP TABLE, and the one way anything is dropped (DROP TABLE, DROP VIEW, DROP NAMESPACE
//! CASCADE): everything a statement drops goes in one atomic commit (README.md#the-table-model-in-brief).
//!
//! The tables' exclusive write locks are taken first, in table-id order, waiting for the
//! writers already in those tables; then the catalog's DDL lock, under which the names
//! are resolved again (a concurrent DDL statement that changed them sends the drop back
//! to the start). Nobody waits for a table lock while holding the DDL lock, so DDL never
//! stalls behind a long UPDATE of an unrelated table. The catalog records and every row go
//! in one batch, and the tables leave the catalog before their locks are released, so a
//! writer that was waiting finds its table gone and writes nothing. The dropped ranges are
//! compacted last, off the async workers and without any lock, before the statement
//! returns. Subscriptions on a dropped table end with a final event, and the tables' cold
//! folders (segments and manifests) are deleted.

use std::sync::Arc;

use crate::catalog::{CatalogObject, TableEntry, ViewDefinition};
use crate::error::{EngineError, Result, SqlState};
use crate::exec::catalog_work;
use crate::exec::context::ExecContext;
use crate::permissions::check_ddl;
use crate::resolver::resolve_for_ddl;
use crate::result::QueryResult;
use crate::shared::EngineShared;
use crate::sql::ObjectRef;
use crate::storage::{TableId, keys, off_async};

/// What one statement drops.
#[derive(Debug, Default)]
pub struct DropSet {
    pub tables: Vec<Arc<TableEntry>>,
    pub views: Vec<Arc<ViewDefinition>>,
    pub namespace: Option<String>,
}

impl DropSet {
    fn table_ids(&self) -> Vec<TableId> {
        let mut ids: Vec<TableId> = self.tables.iter().map(|t| t.id()).collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    fn same_as(&self, other: &DropSet) -> bool {
        let views = |set: &DropSet| set.views.iter().map(|v| v.qualified_name()).collect::<Vec<_>>();
        self.table_ids() == other.table_ids() && views(self) == views(other) && self.namespace == other.namespace
    }
}

pub async fn execute(ctx: &ExecContext, tables: &[ObjectRef], if_exists: bool) -> Result<QueryResult> {
    check_ddl(ctx.user.role, "DROP TABLE")?;
    drop_objects(&ctx.shared, || resolve_named(ctx, tables, if_exists, Dropping::Table)).await?;
    Ok(QueryResult::Message("DROP TABLE".into()))
}

/// What a DROP statement names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dropping {
    Table,
    View,
}

/// Resolves every name of a DROP TABLE or DROP VIEW before anything is dropped, so a
/// missing one (without IF EXISTS) or one of the other kind drops nothing.
pub fn resolve_named(ctx: &ExecContext, references: &[ObjectRef], if_exists: bool, dropping: Dropping) -> Result<DropSet> {
    let statement = match dropping {
        Dropping::Table => "DROP TABLE",
        Dropping::View => "DROP VIEW",
    };
    let mut set = DropSet::default();
    for reference in references {
        let (namespace, name) = ctx.qualify(reference);
        let object = resolve_for_ddl(&ctx.shared, &ctx.user, &namespace, &name, statement)?;
        if !ctx.shared.catalog.namespace_exists(&namespace) {
            if if_exists {
                continue;
            }
            return Err(EngineError::undefined_namespace(&namespace));
        }
        match (object, dropping) {
            (Some(CatalogObject::Table(entry)), Dropping::Table) => {
                if !set.tables.iter().any(|t| t.id() == entry.id()) {
                    set.tables.push(entry);
                }
            }
            (Some(CatalogObject::View(view)), Dropping::View) => {
                if !set.views.iter().any(|v| v.qualified_name() == view.qualified_name()) {
                    set.views.push(view);
                }
            }
            (Some(other), _) => {
                let instead = match dropping {
                    Dropping::Table => "DROP VIEW",
                    Dropping::View => "DROP TABLE",
                };
                return Err(EngineError::new(
                    SqlState::WRONG_OBJECT_TYPE,
                    format!("{namespace}.{name} is a {}; use {instead}", other.noun()),
                ));
            }
            (None, _) if if_exists => {}
            (None, Dropping::Table) => return Err(EngineError::undefined_table(format!("{namespace}.{name}"))),
            (None, Dropping::View) => {
                return Err(EngineError::new(SqlState::UNDEFINED_TABLE, format!("view {namespace}.{name} does not exist")));
            }
        }
    }
    Ok(set)
}

/// Drops what `resolve` names, in one commit (see the module doc). `resolve` runs once
/// before any lock and again under the DDL lock; when the two differ (a concurrent DDL
/// statement changed the names), the drop starts over.
pub async fn drop_objects(shared: &Arc<EngineShared>, resolve: impl Fn() -> Result<DropSet>) -> Result<()> {
    loop {
        let planned = resolve()?;
        if planned.tables.is_empty() && planned.views.is_empty() && planned.namespace.is_none() {
            return Ok(());
        }
        let mut table_locks = Vec::new();
        for table_id in planned.table_ids() {
            table_locks.push(shared.locks.lock_table(table_id).await);
        }
        let ddl = shared.catalog.lock_ddl().await;
        let set = resolve()?;
        if !set.same_as(&planned) {
            continue;
        }
        let DropSet { tables, views, namespace } = set;
        let dropped: Vec<TableId> = tables.iter().map(|t| t.id()).collect();
        let names: Vec<(TableId, String)> = tables.iter().map(|t| (t.id(), t.definition.qualified_name())).collect();
        let locked: Vec<_> = tables
            .into_iter()
            .map(|entry| {
                let at = table_locks.iter().position(|lock| lock.table_id() == entry.id()).expect("locked above");
                (entry, table_locks.swap_remove(at))
            })
            .collect();
        let owned = shared.clone();
        let (ddl, ()) = catalog_work(ddl, move |ddl| owned.catalog.drop_objects(ddl, &locked, &views, namespace.as_deref())).await?;
        drop(ddl);
        end_subscriptions(shared, &names).await;
        // Cold files go after the catalog commit: a crash in between leaves folders of a
        // table that no longer exists, which the next open deletes.
        for table_id in &dropped {
            shared.store.forget_scopes(&keys::table_row_prefix(*table_id));
            shared.forget_table(*table_id);
            shared.cold.remove_table(*table_id).await;
        }
        return compact_dropped(shared, dropped).await;
    }
}

/// Ends the subscriptions on dropped tables with a final event, after the changes
/// committed before the drop have been delivered.
async fn end_subscriptions(shared: &Arc<EngineShared>, tables: &[(TableId, String)]) {
    if tables.iter().all(|(id, _)| !shared.live.watches_table(*id)) {
        return;
    }
    shared.live.settle_where(|feed| tables.iter().any(|(id, _)| *id == feed.table_id)).await;
    for (table_id, name) in tables {
        shared.live.end_where(|_, feed| feed.table_id == *table_id, &format!("table {name} was dropped"));
    }
}

/// Compacts the ranges of dropped tables, so no byte of them stays in the files.
async fn compact_dropped(shared: &Arc<EngineShared>, tables: Vec<TableId>) -> Result<()> {
    if tables.is_empty() {
        return Ok(());
    }
    let store = shared.store.clone();
    off_async(move || {
        for table_id in tables {
            store.compact_prefix(&keys::table_row_prefix(table_id));
            store.compact_prefix(&keys::table_definition_prefix(table_id));
        }
        Ok(())
    })
    .await
}

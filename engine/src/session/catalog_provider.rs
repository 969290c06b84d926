//! DataFusion's view of the engine catalog for one session: namespaces as schemas, the
//! `system` schema, and for each table reference of the statement being planned, what the
//! resolver decides (the table, its row scope, the permission) turned into a provider:
//! an [`EngineTableProvider`] built for that statement, a system-table snapshot, or a
//! view planned as this session's user.
//!
//! A session registers two of these: the engine's catalog, where every reference is read
//! unless the statement's scope names it as its DML target, and the catalog of INSERT
//! targets (see `exec::query`), where every reference is the written target. The second
//! lists nothing, so `information_schema` shows each table once.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::{CatalogProvider, SchemaProvider};
use datafusion::common::Result as DfResult;
use datafusion::datasource::{TableProvider, TableType};

use crate::catalog::{CATALOG_NAME, CatalogObject, INSERT_TARGET_CATALOG, SYSTEM_NAMESPACE, SystemColumn, SystemTable, TableEntry};
use crate::error::EngineError;
use crate::exec::ExecContext;
use crate::permissions::{SessionUser, TableAction};
use crate::provider::statement::{self, DmlKind, DmlTarget, NotesCell, StatementNotes};
use crate::provider::{EngineTableProvider, Exposure};
use crate::resolver::{Resolved, ResolvedTable, listed_system_tables, may_list, resolve};
use crate::session::views;
use crate::shared::EngineShared;
use crate::storage::RowScope;
use crate::system::pg_catalog::{PG_CATALOG, TABLES as PG_CATALOG_TABLES};

/// Which references a catalog serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CatalogRole {
    /// Tables read by the statement (and its UPDATE/DELETE/TRUNCATE target, by name).
    Engine,
    /// The INSERT target of a statement that names system columns.
    InsertTarget,
}

/// What one session's catalogs share.
#[derive(Debug, Clone)]
pub struct CatalogContext {
    pub shared: Arc<EngineShared>,
    pub user: SessionUser,
    pub notes: NotesCell,
    /// The views being planned around this catalog, innermost last (a view that reaches
    /// itself is an error, not an endless plan).
    pub views: Vec<(String, String)>,
}

/// Registers a session's two catalogs (the engine's and the INSERT targets') on `ctx`.
pub fn register_catalogs(ctx: &ExecContext, views: Vec<(String, String)>) {
    let context = Arc::new(CatalogContext { shared: ctx.shared.clone(), user: ctx.user.clone(), notes: ctx.notes.clone(), views });
    for (name, role) in [(CATALOG_NAME, CatalogRole::Engine), (INSERT_TARGET_CATALOG, CatalogRole::InsertTarget)] {
        ctx.datafusion.register_catalog(name, Arc::new(SessionCatalog::new(context.clone(), role)));
    }
}

#[derive(Debug)]
pub struct SessionCatalog {
    context: Arc<CatalogContext>,
    role: CatalogRole,
}

impl SessionCatalog {
    pub fn new(context: Arc<CatalogContext>, role: CatalogRole) -> Self {
        SessionCatalog { context, role }
    }
}

impl CatalogProvider for SessionCatalog {
    fn schema_names(&self) -> Vec<String> {
        if self.role == CatalogRole::InsertTarget {
            return Vec::new();
        }
        let mut names: Vec<String> = self.context.shared.catalog.namespaces().into_iter().map(|n| n.name).collect();
        names.push(SYSTEM_NAMESPACE.to_string());
        names
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        if name == PG_CATALOG && self.role == CatalogRole::Engine {
            return Some(Arc::new(PgCatalogSchema { context: self.context.clone() }));
        }
        let exists = name == SYSTEM_NAMESPACE || self.context.shared.catalog.namespace_exists(name);
        exists.then(|| {
            Arc::new(NamespaceSchema { context: self.context.clone(), role: self.role, namespace: name.to_string() })
                as Arc<dyn SchemaProvider>
        })
    }

    fn register_schema(&self, name: &str, _schema: Arc<dyn SchemaProvider>) -> DfResult<Option<Arc<dyn SchemaProvider>>> {
        Err(EngineError::not_supported(format!("use CREATE NAMESPACE {name} to create a namespace")).into())
    }
}

#[derive(Debug)]
struct NamespaceSchema {
    context: Arc<CatalogContext>,
    role: CatalogRole,
    namespace: String,
}

impl NamespaceSchema {
    /// What the statement does with this reference: `None` when this catalog does not
    /// serve it; otherwise the action, and how it is written (`None`: only read).
    fn use_of(&self, name: &str, statement: &StatementNotes) -> Option<(TableAction, Option<DmlKind>)> {
        let is = |target: &DmlTarget| target.namespace == self.namespace && target.table == name;
        match self.role {
            CatalogRole::InsertTarget => match &statement.insert_target {
                Some(target) if is(target) => Some((TableAction::Write, Some(DmlKind::Insert))),
                _ => None,
            },
            CatalogRole::Engine => match &statement.target {
                Some(target) if is(target) => Some((TableAction::Write, Some(target.kind))),
                _ => Some((TableAction::Read, None)),
            },
        }
    }
}

/// Builds the provider a statement sees for a table: `target` is how the statement writes
/// it, `None` when it only reads it.
fn provider_for(
    shared: &Arc<EngineShared>,
    statement: &StatementNotes,
    entry: Arc<TableEntry>,
    scope: RowScope,
    target: Option<DmlKind>,
) -> EngineTableProvider {
    let exposure = match target {
        // INSERT (and TRUNCATE) targets see exactly the user columns, so the insert
        // planner fills those.
        Some(DmlKind::Insert | DmlKind::Truncate) => Exposure { relax_not_null: true, ..Exposure::default() },
        _ => Exposure {
            system_columns: entry.kind().system_columns().iter().copied().filter(|c| statement.mentions.contains(c)).collect(),
            mentions_deleted: statement.mentions.contains(&SystemColumn::Deleted),
            row_key: target == Some(DmlKind::UpdateOrDelete),
            relax_not_null: false,
        },
    };
    EngineTableProvider::new(shared.clone(), entry, scope, exposure, target).within(statement.transaction.clone(), statement.at.clone())
}

#[async_trait]
impl SchemaProvider for NamespaceSchema {
    fn table_names(&self) -> Vec<String> {
        if self.role == CatalogRole::InsertTarget {
            return Vec::new();
        }
        let user = &self.context.user;
        if self.namespace == SYSTEM_NAMESPACE {
            return listed_system_tables(user).map(|table| table.name().to_string()).collect();
        }
        let mut names = self.context.shared.catalog.object_names_in(&self.namespace);
        names.retain(|name| may_list(&self.context.shared, user, &self.namespace, name));
        names
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        let context = &self.context;
        let notes = statement::current(&context.notes);
        let Some((action, target)) = self.use_of(name, &notes) else { return Ok(None) };
        statement::record_read(&notes, &self.namespace, name);
        let resolved = resolve(&context.shared, &context.user, &self.namespace, name, action)?;
        Ok(match resolved {
            None => None,
            Some(Resolved::Table(ResolvedTable { entry, scope })) => {
                Some(Arc::new(provider_for(&context.shared, &notes, entry, scope, target)))
            }
            Some(Resolved::System(table)) => Some(crate::system::table_provider(&context.shared, &context.user, table)?),
            Some(Resolved::View(view)) => Some(views::view_provider(context, &view, notes.defining_view.as_ref()).await?),
        })
    }

    fn register_table(&self, name: String, _table: Arc<dyn TableProvider>) -> DfResult<Option<Arc<dyn TableProvider>>> {
        Err(EngineError::not_supported(format!("cannot register {name}: use CREATE TABLE or CREATE VIEW")).into())
    }

    fn deregister_table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        Err(EngineError::not_supported(format!("use DROP TABLE or DROP VIEW to drop {name}")).into())
    }

    /// Answered from the catalog, without building a provider (which, for a view, would
    /// plan its query).
    async fn table_type(&self, name: &str) -> DfResult<Option<TableType>> {
        if self.namespace == SYSTEM_NAMESPACE {
            return Ok(SystemTable::named(name).map(|_| TableType::View));
        }
        Ok(self.context.shared.catalog.object(&self.namespace, name).map(|object| match object {
            CatalogObject::Table(_) => TableType::Base,
            CatalogObject::View(_) => TableType::View,
        }))
    }

    fn table_exist(&self, name: &str) -> bool {
        if self.namespace == SYSTEM_NAMESPACE {
            return SystemTable::named(name).is_some();
        }
        self.context.shared.catalog.object(&self.namespace, name).is_some()
    }
}

/// `pg_catalog` (psql's listings): read-only snapshots, built for the session's user.
#[derive(Debug)]
struct PgCatalogSchema {
    context: Arc<CatalogContext>,
}

#[async_trait]
impl SchemaProvider for PgCatalogSchema {
    fn table_names(&self) -> Vec<String> {
        PG_CATALOG_TABLES.iter().map(|name| name.to_string()).collect()
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        crate::system::pg_catalog_provider(&self.context.shared, &self.context.user, name)
    }

    fn table_exist(&self, name: &str) -> bool {
        PG_CATALOG_TABLES.contains(&name)
    }
}

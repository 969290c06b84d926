//! The one way from a table reference to a table: every path that touches a table (the
//! planned path through the session's catalog provider, the simple-statement path, the
//! engine's own statements) resolves it here, and gets back the object, the rows the
//! statement may see and change (its row scope) and the permission decision, made once.
//!
//! Rules that live here and nowhere else: the `system` namespace is read-only; views are
//! read, never written; a SHARED table's rows are one scope, a USER or STREAM table's rows
//! are the effective user's scope; the role checks of [`crate::permissions`] apply to
//! every reference.

use std::sync::Arc;

use crate::catalog::{
    AccessLevel, CatalogObject, INFORMATION_SCHEMA, RowOwner, SYSTEM_NAMESPACE, SystemTable, TableEntry, TableKind, ViewDefinition,
};
use crate::error::{EngineError, Result, SqlState};
use crate::permissions::{self, SessionUser, TableAction};
use crate::shared::EngineShared;
use crate::storage::RowScope;

/// What a reference resolved to.
#[derive(Debug, Clone)]
pub enum Resolved {
    /// An engine table, and the rows this statement may see and change.
    Table(ResolvedTable),
    View(Arc<ViewDefinition>),
    /// A read-only system table, by name.
    System(SystemTable),
}

#[derive(Debug, Clone)]
pub struct ResolvedTable {
    pub entry: Arc<TableEntry>,
    pub scope: RowScope,
}

/// The rows of a table of `kind` that `user` reaches.
pub fn row_scope(kind: TableKind, user: &SessionUser) -> RowScope {
    match kind.rules().rows {
        RowOwner::Everyone => RowScope::Shared,
        RowOwner::EachUser => RowScope::User(user.id),
    }
}

/// Resolves `namespace.name` for `action` as `user`. `Ok(None)`: no such object (the
/// caller reports it the way its path reports a missing table); `Err`: the object exists
/// but this statement may not do that with it, or the namespace is read-only.
pub fn resolve(shared: &EngineShared, user: &SessionUser, namespace: &str, name: &str, action: TableAction) -> Result<Option<Resolved>> {
    if namespace == SYSTEM_NAMESPACE {
        if action == TableAction::Write {
            return Err(permissions::read_only());
        }
        let Some(table) = SystemTable::named(name) else { return Ok(None) };
        permissions::check_system_table(user.role, table)?;
        return Ok(Some(Resolved::System(table)));
    }
    if namespace == INFORMATION_SCHEMA {
        return Ok(None);
    }
    match shared.catalog.object(namespace, name) {
        Some(CatalogObject::Table(entry)) => {
            let access_level = entry.definition.options.access_level.unwrap_or(AccessLevel::Private);
            permissions::check_table(user.role, entry.kind(), access_level, action, &entry.definition.qualified_name())?;
            let scope = row_scope(entry.kind(), user);
            Ok(Some(Resolved::Table(ResolvedTable { entry, scope })))
        }
        Some(CatalogObject::View(view)) => match action {
            TableAction::Read if permissions::sees_all_objects(user.role) || view_readable(shared, user, &view, 0) => {
                Ok(Some(Resolved::View(view)))
            }
            TableAction::Read => Err(EngineError::new(
                SqlState::INSUFFICIENT_PRIVILEGE,
                format!(
                    "permission denied: reading view {} needs read access to every table it reads, you have role {}",
                    view.qualified_name(),
                    user.role.as_str()
                ),
            )),
            TableAction::Write => Err(EngineError::new(
                SqlState::WRONG_OBJECT_TYPE,
                format!("cannot write to view {}: views are read-only", view.qualified_name()),
            )),
        },
        None => Ok(None),
    }
}

/// Whether `user` may read the table or view `namespace.name` at all, for listings
/// (`system.tables`, `system.columns`, `information_schema`, `SHOW TABLES`): dba and
/// system see everything; other roles see the tables they may read, and the views whose
/// every table they may read.
pub fn may_list(shared: &EngineShared, user: &SessionUser, namespace: &str, name: &str) -> bool {
    permissions::sees_all_objects(user.role) || readable(shared, user, namespace, name, 0)
}

/// The system tables `user` sees in listings, in display order.
pub fn listed_system_tables(user: &SessionUser) -> impl Iterator<Item = SystemTable> + '_ {
    SystemTable::ALL.into_iter().filter(|table| permissions::check_system_table(user.role, *table).is_ok())
}

/// Whether `user` may read `namespace.name`; a view, when it may read everything the view
/// reads (`depth`: views followed so far).
fn readable(shared: &EngineShared, user: &SessionUser, namespace: &str, name: &str, depth: usize) -> bool {
    if namespace == SYSTEM_NAMESPACE {
        return SystemTable::named(name).is_some_and(|table| permissions::check_system_table(user.role, table).is_ok());
    }
    match shared.catalog.object(namespace, name) {
        Some(CatalogObject::Table(entry)) => may_read(user, &entry),
        Some(CatalogObject::View(view)) => view_readable(shared, user, &view, depth),
        None => false,
    }
}

fn may_read(user: &SessionUser, entry: &TableEntry) -> bool {
    let access_level = entry.definition.options.access_level.unwrap_or(AccessLevel::Private);
    permissions::check_table(user.role, entry.kind(), access_level, TableAction::Read, "").is_ok()
}

/// A view is readable by a user who may read every object it reads (as recorded when it
/// was created); a view without that record is for dba and system only.
fn view_readable(shared: &EngineShared, user: &SessionUser, view: &ViewDefinition, depth: usize) -> bool {
    if depth > 32 {
        return false;
    }
    let Some(reads) = &view.reads else { return false };
    reads.iter().all(|(namespace, name)| readable(shared, user, namespace, name, depth + 1))
}

/// Checks that `user` may run DDL (`what`) on objects of `namespace`: a role of dba or
/// system, and never in the read-only `system` namespace.
pub fn check_ddl_in(user: &SessionUser, namespace: &str, what: &str) -> Result<()> {
    permissions::check_ddl(user.role, what)?;
    if namespace == SYSTEM_NAMESPACE || namespace == INFORMATION_SCHEMA {
        return Err(permissions::read_only());
    }
    Ok(())
}

/// Resolves the target of DDL on an existing table or view (DROP, later ALTER): the DDL
/// role check, the namespace check, and the object; `Ok(None)` when it does not exist.
pub fn resolve_for_ddl(
    shared: &EngineShared,
    user: &SessionUser,
    namespace: &str,
    name: &str,
    what: &str,
) -> Result<Option<CatalogObject>> {
    check_ddl_in(user, namespace, what)?;
    Ok(shared.catalog.object(namespace, name))
}

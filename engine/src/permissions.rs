//! Who may do what: the one place that decides permissions, from a user's role and a
//! table's kind and access level (README.md#users-roles-and-permissions). Table references reach
//! these decisions through [`crate::resolver`], the one way to a table.

use crate::catalog::{AccessLevel, ROOT_USER, RowOwner, SystemTable, TableKind, UserRecord};
use crate::error::{EngineError, Result, SqlState};
use crate::storage::{ROOT_USER_ID, UserId};

pub use crate::catalog::Role;

/// The user a session acts as: its effective user (the `EXECUTE AS` target inside one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionUser {
    pub id: UserId,
    pub name: String,
    pub role: Role,
}

impl SessionUser {
    pub fn root() -> Self {
        SessionUser { id: ROOT_USER_ID, name: ROOT_USER.into(), role: Role::System }
    }

    pub fn of(record: &UserRecord) -> Self {
        SessionUser { id: record.id, name: record.name.clone(), role: record.role }
    }
}

/// What a statement does with a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableAction {
    /// SELECT, and the reads of any statement.
    Read,
    /// INSERT, UPDATE, DELETE, TRUNCATE.
    Write,
}

/// DDL on namespaces, tables and users needs dba or system.
pub fn check_ddl(role: Role, what: &str) -> Result<()> {
    if role >= Role::Dba { Ok(()) } else { Err(denied(format!("{what} needs role dba or system, you have role {}", role.as_str()))) }
}

/// Whether `role` may read or write rows of a table of this kind and access level. USER
/// and STREAM tables are open to every role: each user reaches only its own rows (the
/// row scope the resolver picks). SHARED tables follow their access level.
pub fn check_table(role: Role, kind: TableKind, access_level: AccessLevel, action: TableAction, table: &str) -> Result<()> {
    let needed = match (kind.rules().rows, access_level, action) {
        (RowOwner::EachUser, _, _) => Role::User,
        (RowOwner::Everyone, AccessLevel::Public, TableAction::Read) => Role::User,
        (RowOwner::Everyone, AccessLevel::Public | AccessLevel::Private, _) => Role::Service,
        (RowOwner::Everyone, AccessLevel::Restricted, _) => Role::Dba,
    };
    if role >= needed {
        return Ok(());
    }
    let verb = match action {
        TableAction::Read => "reading",
        TableAction::Write => "writing",
    };
    Err(denied(format!(
        "{verb} table {table} ({} {}) needs role {} or above, you have role {}",
        access_level.as_str(),
        kind.as_str(),
        needed.as_str(),
        role.as_str()
    )))
}

/// Whether `actor` may create, drop or change the role of a user whose role is (or
/// becomes) `target`: dba manages dba, service and user; only system grants or takes
/// role system.
pub fn check_manage_user(actor: Role, target: Role, what: &str) -> Result<()> {
    let needed = if target == Role::System { Role::System } else { Role::Dba };
    if actor >= needed {
        return Ok(());
    }
    Err(denied(format!(
        "{what} of a user with role {} needs role {}{}, you have role {}",
        target.as_str(),
        needed.as_str(),
        if needed == Role::System { "" } else { " or system" },
        actor.as_str()
    )))
}

/// Whether `actor` may run a statement as a user of role `target` (`EXECUTE AS USER`):
/// service acts as user or service, dba as dba, service or user, system as anyone; role
/// user never.
pub fn check_execute_as(actor: Role, target: Role, target_name: &str) -> Result<()> {
    let allowed = match actor {
        Role::User => false,
        Role::Service => target <= Role::Service,
        Role::Dba => target <= Role::Dba,
        Role::System => true,
    };
    if allowed {
        return Ok(());
    }
    Err(denied(format!("EXECUTE AS USER {target_name} (role {}) is not allowed for role {}", target.as_str(), actor.as_str())))
}

/// Who reads a system table: each says the weakest role that may
/// ([`SystemTable::readers_from`]).
pub fn check_system_table(role: Role, table: SystemTable) -> Result<()> {
    let weakest = table.readers_from();
    if role < weakest {
        return Err(denied(format!("reading system.{table} needs role {} or above, you have role {}", weakest.as_str(), role.as_str())));
    }
    Ok(())
}

/// Whether a role sees every object in listings (`system.tables`, `system.columns`,
/// `information_schema`); lower roles see only the tables they may read.
pub fn sees_all_objects(role: Role) -> bool {
    role >= Role::Dba
}

/// The error for any write to the system namespace.
pub fn read_only() -> EngineError {
    EngineError::new(SqlState::INSUFFICIENT_PRIVILEGE, "system tables are read-only")
}

fn denied(message: String) -> EngineError {
    EngineError::new(SqlState::INSUFFICIENT_PRIVILEGE, format!("permission denied: {message}"))
}

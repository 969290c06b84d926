//! Who may do what: the one place that decides permissions, from a user's role and a
//! table's kind and access level (SPEC.md sections 5, 6 and 10). Table references reach
//! these decisions through [`crate::resolver`], the one way to a table.

use crate::catalog::{AccessLevel, TableKind};
use crate::error::{EngineError, Result, SqlState};

/// A user's role (SPEC.md section 10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    User,
    Service,
    Dba,
    System,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Service => "service",
            Role::Dba => "dba",
            Role::System => "system",
        }
    }
}

/// The user a session acts as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionUser {
    pub name: String,
    pub role: Role,
}

impl SessionUser {
    pub fn root() -> Self {
        SessionUser { name: "root".into(), role: Role::System }
    }

    /// Finds a user by name. Until users and roles arrive, only `root` exists.
    pub fn lookup(name: &str) -> Result<SessionUser> {
        if name == "root" {
            Ok(SessionUser::root())
        } else {
            Err(EngineError::new(SqlState::UNDEFINED_OBJECT, format!("user {name} does not exist")))
        }
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
    if role >= Role::Dba {
        Ok(())
    } else {
        Err(denied(format!("{what} needs role dba or system, you have role {}", role.as_str())))
    }
}

/// Whether `role` may read or write rows of a table of this kind and access level. USER
/// and STREAM tables are open to every role: each user reaches only its own rows (the
/// row scope the resolver picks). SHARED tables follow their access level.
pub fn check_table(role: Role, kind: TableKind, access_level: AccessLevel, action: TableAction, table: &str) -> Result<()> {
    let needed = match (kind, access_level, action) {
        (TableKind::User | TableKind::Stream, _, _) => Role::User,
        (TableKind::System, _, TableAction::Read) => Role::User,
        (TableKind::System, _, TableAction::Write) => return Err(read_only()),
        (TableKind::Shared, AccessLevel::Public, TableAction::Read) => Role::User,
        (TableKind::Shared, AccessLevel::Public | AccessLevel::Private, _) => Role::Service,
        (TableKind::Shared, AccessLevel::Restricted, _) => Role::Dba,
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

/// The error for any write to the system namespace.
pub fn read_only() -> EngineError {
    EngineError::new(SqlState::INSUFFICIENT_PRIVILEGE, "system tables are read-only")
}

fn denied(message: String) -> EngineError {
    EngineError::new(SqlState::INSUFFICIENT_PRIVILEGE, format!("permission denied: {message}"))
}

//! Who may do what: the one place that decides permissions.

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

/// DDL on namespaces, tables and users needs dba or system.
pub fn check_ddl(role: Role, what: &str) -> Result<()> {
    if role >= Role::Dba {
        Ok(())
    } else {
        Err(EngineError::new(
            SqlState::INSUFFICIENT_PRIVILEGE,
            format!("permission denied: {what} needs role dba or system, you have role {}", role.as_str()),
        ))
    }
}

//! What the catalog stores about users: name, never-reused id, role, password hash
//! (argon2id PHC string, see [`crate::passwords`]) and creation time.

use serde::{Deserialize, Serialize};

use crate::error::{EngineError, Result, SqlState};
use crate::passwords::{PasswordHash, ScramVerifier};
use crate::storage::UserId;

/// The user that exists from the start, with role system.
pub const ROOT_USER: &str = "root";

/// A user's role (README.md#users-roles-and-permissions), weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Service,
    Dba,
    System,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::User, Role::Service, Role::Dba, Role::System];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Service => "service",
            Role::Dba => "dba",
            Role::System => "system",
        }
    }

    /// Parses a role name (any case).
    pub fn parse(text: &str) -> Result<Role> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(text))
            .ok_or_else(|| EngineError::invalid_parameter(format!("unknown role {text}: use user, service, dba or system")))
    }
}

/// A user as stored. `Debug` never shows the hash ([`PasswordHash`] redacts itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    pub id: UserId,
    pub name: String,
    pub role: Role,
    /// `None` for root, whose password is the engine configuration's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_hash: Option<PasswordHash>,
    /// The SCRAM-SHA-256 verifier of the same password (wire logins); users whose
    /// password was set before verifiers were kept have none until it is set again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scram: Option<ScramVerifier>,
    pub created_at_millis: i64,
}

/// User names are case-sensitive strings: not empty, at most 128 bytes, no control
/// characters.
pub fn check_user_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > 128 || name.chars().any(char::is_control) {
        return Err(EngineError::new(
            SqlState::INVALID_PARAMETER_VALUE,
            "a user name must be 1 to 128 bytes long without control characters",
        ));
    }
    Ok(())
}

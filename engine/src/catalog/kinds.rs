//! The kinds of table and the access levels, as types rather than strings.

use serde::{Deserialize, Serialize};

use crate::error::{EngineError, Result};

/// What kind of table a table is (README.md#the-table-model-in-brief).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TableKind {
    /// One set of rows for everyone.
    Shared,
    /// Rows belong to users; every statement sees only its user's rows.
    User,
    /// Append-only events with a TTL.
    Stream,
    /// Read-only tables derived from live state (`system.*`).
    System,
}

impl TableKind {
    /// Parses the keyword of `CREATE <KIND> TABLE` or the value of `TYPE = '...'`.
    pub fn parse(text: &str) -> Result<TableKind> {
        match text.to_ascii_uppercase().as_str() {
            "SHARED" => Ok(TableKind::Shared),
            "USER" => Ok(TableKind::User),
            "STREAM" => Ok(TableKind::Stream),
            _ => Err(EngineError::invalid_parameter(format!("invalid table TYPE '{text}': expected 'SHARED', 'USER' or 'STREAM'"))),
        }
    }

    /// The lower-case name used in `system.tables.table_type`.
    pub fn as_str(self) -> &'static str {
        match self {
            TableKind::Shared => "shared",
            TableKind::User => "user",
            TableKind::Stream => "stream",
            TableKind::System => "system",
        }
    }

    /// The system columns rows of this kind carry, in the order they are exposed.
    pub fn system_columns(self) -> &'static [SystemColumn] {
        match self {
            TableKind::Shared | TableKind::User => &[SystemColumn::Seq, SystemColumn::Updated, SystemColumn::Deleted],
            TableKind::Stream => &[SystemColumn::Seq],
            TableKind::System => &[],
        }
    }
}

/// The columns the engine maintains on every row (README.md#the-table-model-in-brief).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SystemColumn {
    Seq,
    Updated,
    Deleted,
}

impl SystemColumn {
    pub const ALL: [SystemColumn; 3] = [SystemColumn::Seq, SystemColumn::Updated, SystemColumn::Deleted];

    pub fn name(self) -> &'static str {
        match self {
            SystemColumn::Seq => "_seq",
            SystemColumn::Updated => "_updated",
            SystemColumn::Deleted => "_deleted",
        }
    }

    pub fn from_name(name: &str) -> Option<SystemColumn> {
        SystemColumn::ALL.into_iter().find(|c| c.name() == name)
    }
}

/// Name of the internal column that carries a row's storage key through UPDATE and DELETE
/// plans. Users never see it: it exists only on the target of such a statement.
pub const ROW_KEY_COLUMN: &str = "__row_key";

/// Who may read and write a SHARED table (README.md#users-roles-and-permissions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum AccessLevel {
    Public,
    Private,
    Restricted,
}

impl AccessLevel {
    pub fn parse(text: &str) -> Result<AccessLevel> {
        match text.to_ascii_uppercase().as_str() {
            "PUBLIC" => Ok(AccessLevel::Public),
            "PRIVATE" => Ok(AccessLevel::Private),
            "RESTRICTED" => Ok(AccessLevel::Restricted),
            _ => {
                Err(EngineError::invalid_parameter(format!("invalid ACCESS_LEVEL '{text}': expected 'PUBLIC', 'PRIVATE' or 'RESTRICTED'")))
            }
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AccessLevel::Public => "PUBLIC",
            AccessLevel::Private => "PRIVATE",
            AccessLevel::Restricted => "RESTRICTED",
        }
    }
}

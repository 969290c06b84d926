//! The kinds of table and the access levels, as types rather than strings. Each kind has
//! one description of its behaviour ([`KindRules`]) that the catalog, permissions, jobs
//! and providers ask, so a new kind is one new description plus the match arms the
//! compiler asks for.

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
}

/// Whose rows a table holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowOwner {
    /// One set of rows for everyone.
    Everyone,
    /// Each user's own rows; a statement reaches only its user's.
    EachUser,
}

/// How a kind of table behaves.
#[derive(Debug)]
pub struct KindRules {
    pub rows: RowOwner,
    /// The system columns its rows carry, in the order they are exposed.
    pub system_columns: &'static [SystemColumn],
    /// Events keyed by arrival: no PRIMARY KEY, UPDATE and DELETE refused, rows that
    /// expire (TTL_SECONDS), are capped (MAX_ROWS) or are kept only while watched
    /// (EPHEMERAL); never flushed.
    pub append_only: bool,
    /// Hot rows move to Parquet segments: FLUSH, flush policies, the retention purge and
    /// compaction apply.
    pub flushed: bool,
    /// Has an ACCESS_LEVEL (PRIVATE unless given), which ALTER TABLE may change.
    pub access_level: bool,
    /// The `WITH` options it takes besides TYPE.
    pub options: &'static [&'static str],
}

const SHARED_RULES: KindRules = KindRules {
    rows: RowOwner::Everyone,
    system_columns: &[SystemColumn::Seq, SystemColumn::Updated, SystemColumn::Deleted],
    append_only: false,
    flushed: true,
    access_level: true,
    options: &["FLUSH_POLICY", "DELETED_RETENTION_HOURS", "ACCESS_LEVEL"],
};

const USER_RULES: KindRules = KindRules {
    rows: RowOwner::EachUser,
    system_columns: &[SystemColumn::Seq, SystemColumn::Updated, SystemColumn::Deleted],
    append_only: false,
    flushed: true,
    access_level: false,
    options: &["FLUSH_POLICY", "DELETED_RETENTION_HOURS"],
};

const STREAM_RULES: KindRules = KindRules {
    rows: RowOwner::EachUser,
    system_columns: &[SystemColumn::Seq],
    append_only: true,
    flushed: false,
    access_level: false,
    options: &["TTL_SECONDS", "MAX_ROWS", "EPHEMERAL"],
};

impl TableKind {
    pub const ALL: [TableKind; 3] = [TableKind::Shared, TableKind::User, TableKind::Stream];

    /// How tables of this kind behave.
    pub fn rules(self) -> &'static KindRules {
        match self {
            TableKind::Shared => &SHARED_RULES,
            TableKind::User => &USER_RULES,
            TableKind::Stream => &STREAM_RULES,
        }
    }

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
        }
    }

    /// The system columns rows of this kind carry, in the order they are exposed.
    pub fn system_columns(self) -> &'static [SystemColumn] {
        self.rules().system_columns
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

//! One error type for the whole engine, split by blame, each carrying a stable SQLSTATE.
//!
//! Errors raised by the engine's own logic carry the SQLSTATE chosen where they are raised.
//! Errors that come out of DataFusion keep DataFusion's message text unchanged and get a
//! SQLSTATE derived from their kind ([`EngineError::from_datafusion`], classified in
//! `datafusion_errors`). Errors raised inside
//! an execution plan travel through DataFusion as `DataFusionError::External` and are
//! unwrapped back into the original [`EngineError`], so their SQLSTATE survives.

mod datafusion_errors;

use std::fmt;

use datafusion::error::DataFusionError;

use datafusion_errors::{classify_datafusion_error, find_engine_error};

/// A PostgreSQL-compatible SQLSTATE code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SqlState(&'static str);

impl SqlState {
    pub const UNDEFINED_TABLE: SqlState = SqlState("42P01");
    pub const DUPLICATE_TABLE: SqlState = SqlState("42P07");
    pub const UNDEFINED_NAMESPACE: SqlState = SqlState("3F000");
    pub const DUPLICATE_NAMESPACE: SqlState = SqlState("42P06");
    pub const DEPENDENT_OBJECTS_STILL_EXIST: SqlState = SqlState("2BP01");
    pub const UNIQUE_VIOLATION: SqlState = SqlState("23505");
    pub const NOT_NULL_VIOLATION: SqlState = SqlState("23502");
    pub const INSUFFICIENT_PRIVILEGE: SqlState = SqlState("42501");
    pub const FEATURE_NOT_SUPPORTED: SqlState = SqlState("0A000");
    pub const SYNTAX_ERROR: SqlState = SqlState("42601");
    pub const UNDEFINED_COLUMN: SqlState = SqlState("42703");
    pub const DUPLICATE_COLUMN: SqlState = SqlState("42701");
    pub const UNDEFINED_FUNCTION: SqlState = SqlState("42883");
    pub const INVALID_PARAMETER_VALUE: SqlState = SqlState("22023");
    pub const DATA_EXCEPTION: SqlState = SqlState("22000");
    pub const DIVISION_BY_ZERO: SqlState = SqlState("22012");
    pub const NUMERIC_VALUE_OUT_OF_RANGE: SqlState = SqlState("22003");
    pub const INVALID_TEXT_REPRESENTATION: SqlState = SqlState("22P02");
    pub const DATATYPE_MISMATCH: SqlState = SqlState("42804");
    pub const RESERVED_NAME: SqlState = SqlState("42939");
    pub const READ_ONLY: SqlState = SqlState("25006");
    pub const ACTIVE_SQL_TRANSACTION: SqlState = SqlState("25001");
    pub const NO_ACTIVE_SQL_TRANSACTION: SqlState = SqlState("25P01");
    pub const IN_FAILED_SQL_TRANSACTION: SqlState = SqlState("25P02");
    pub const IDLE_IN_TRANSACTION_TIMEOUT: SqlState = SqlState("25P03");
    pub const INVALID_SAVEPOINT: SqlState = SqlState("3B001");
    pub const INVALID_PASSWORD: SqlState = SqlState("28P01");
    pub const INVALID_AUTHORIZATION: SqlState = SqlState("28000");
    pub const OBJECT_IN_USE: SqlState = SqlState("55006");
    pub const DUPLICATE_USER: SqlState = SqlState("42710");
    pub const UNDEFINED_OBJECT: SqlState = SqlState("42704");
    pub const IO_ERROR: SqlState = SqlState("58030");
    pub const INTERNAL_ERROR: SqlState = SqlState("XX000");
    pub const DATA_CORRUPTED: SqlState = SqlState("XX001");
    pub const SERIALIZATION_FAILURE: SqlState = SqlState("40001");
    pub const WRONG_OBJECT_TYPE: SqlState = SqlState("42809");
    pub const OBJECT_NOT_IN_PREREQUISITE_STATE: SqlState = SqlState("55000");
    /// A subscription resumes from before the retention horizon (PostgreSQL's
    /// `snapshot_too_old`).
    pub const SNAPSHOT_TOO_OLD: SqlState = SqlState("72000");
    pub const INVALID_OBJECT_DEFINITION: SqlState = SqlState("42P17");
    /// A `$n` parameter with no value.
    pub const UNDEFINED_PARAMETER: SqlState = SqlState("42P02");
    pub const DUPLICATE_PREPARED_STATEMENT: SqlState = SqlState("42P05");
    /// PostgreSQL's `invalid_sql_statement_name`: no prepared statement of that name.
    pub const UNDEFINED_PREPARED_STATEMENT: SqlState = SqlState("26000");
    pub const PROTOCOL_VIOLATION: SqlState = SqlState("08P01");
    pub const TOO_MANY_CONNECTIONS: SqlState = SqlState("53300");
    /// A connection names a database (the engine: a namespace) that does not exist.
    pub const INVALID_CATALOG_NAME: SqlState = SqlState("3D000");
    pub const ADMIN_SHUTDOWN: SqlState = SqlState("57P01");
    pub const QUERY_CANCELED: SqlState = SqlState("57014");

    /// The five-character code.
    pub fn code(self) -> &'static str {
        self.0
    }
}

impl fmt::Display for SqlState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// Who is to blame for an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorOrigin {
    /// Raised by the engine's own checks (catalog, constraints, storage).
    Engine,
    /// Raised by DataFusion while parsing, planning or executing; the message is DataFusion's.
    DataFusion,
}

/// An error with a SQLSTATE, a message that names the object, and its origin.
#[derive(Debug, Clone)]
pub struct EngineError {
    state: SqlState,
    message: String,
    origin: ErrorOrigin,
}

pub type Result<T, E = EngineError> = std::result::Result<T, E>;

impl EngineError {
    pub fn new(state: SqlState, message: impl Into<String>) -> Self {
        EngineError { state, message: message.into(), origin: ErrorOrigin::Engine }
    }

    pub fn sql_state(&self) -> SqlState {
        self.state
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn origin(&self) -> ErrorOrigin {
        self.origin
    }

    pub fn undefined_table(name: impl fmt::Display) -> Self {
        Self::new(SqlState::UNDEFINED_TABLE, format!("table {name} does not exist"))
    }

    pub fn undefined_namespace(name: impl fmt::Display) -> Self {
        Self::new(SqlState::UNDEFINED_NAMESPACE, format!("namespace {name} does not exist"))
    }

    pub fn not_supported(message: impl Into<String>) -> Self {
        Self::new(SqlState::FEATURE_NOT_SUPPORTED, message)
    }

    pub fn syntax(message: impl Into<String>) -> Self {
        Self::new(SqlState::SYNTAX_ERROR, message)
    }

    pub fn invalid_parameter(message: impl Into<String>) -> Self {
        Self::new(SqlState::INVALID_PARAMETER_VALUE, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(SqlState::INTERNAL_ERROR, message)
    }

    /// Converts a DataFusion error. An [`EngineError`] wrapped inside (raised by one of the
    /// engine's execution plans) is returned as it was; anything else keeps DataFusion's
    /// message and gets a SQLSTATE from its kind.
    pub fn from_datafusion(error: DataFusionError) -> Self {
        if let Some(inner) = find_engine_error(&error) {
            return inner.clone();
        }
        let state = classify_datafusion_error(&error);
        EngineError { state, message: error.to_string(), origin: ErrorOrigin::DataFusion }
    }

    /// Wraps this error so it can travel through DataFusion's APIs.
    pub fn into_datafusion(self) -> DataFusionError {
        DataFusionError::External(Box::new(self))
    }
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for EngineError {}

impl From<DataFusionError> for EngineError {
    fn from(error: DataFusionError) -> Self {
        EngineError::from_datafusion(error)
    }
}

impl From<std::io::Error> for EngineError {
    fn from(error: std::io::Error) -> Self {
        EngineError::new(SqlState::IO_ERROR, format!("i/o error: {error}"))
    }
}

impl From<EngineError> for DataFusionError {
    fn from(error: EngineError) -> Self {
        error.into_datafusion()
    }
}

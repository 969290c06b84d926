//! Engine errors as PostgreSQL ErrorResponses: the engine's SQLSTATE and message, severity
//! ERROR.

use engine::{EngineError, SqlState};
use pgwire::error::{ErrorInfo, PgWireError};

/// The wire error of an engine error.
pub fn wire_error(error: &EngineError) -> PgWireError {
    PgWireError::UserError(Box::new(error_info(error.sql_state(), &error.to_string())))
}

/// An ErrorResponse's fields for `state` and `message`.
pub fn error_info(state: SqlState, message: &str) -> ErrorInfo {
    ErrorInfo::new("ERROR".to_string(), state.code().to_string(), message.to_string())
}

/// A wire error of the server's own (`state`, `message`).
pub fn server_error(state: SqlState, message: impl Into<String>) -> PgWireError {
    PgWireError::UserError(Box::new(error_info(state, &message.into())))
}

//! Engine errors as PostgreSQL ErrorResponses: the engine's SQLSTATE and message, severity
//! ERROR, and routine `datafusion` when DataFusion raised the error.

use engine::{EngineError, ErrorOrigin, SqlState};
use pgwire::error::{ErrorInfo, PgWireError};

/// The ErrorResponse `routine` of errors DataFusion raised (the engine's own carry none),
/// for clients that tell the two apart (the harness's `--wire` runs).
pub const DATAFUSION_ROUTINE: &str = "datafusion";

/// The wire error of an engine error.
pub fn wire_error(error: &EngineError) -> PgWireError {
    let mut info = error_info(error.sql_state(), &error.to_string());
    if error.origin() == ErrorOrigin::DataFusion {
        info.routine = Some(DATAFUSION_ROUTINE.to_string());
    }
    PgWireError::UserError(Box::new(info))
}

/// An ErrorResponse's fields for `state` and `message`.
pub fn error_info(state: SqlState, message: &str) -> ErrorInfo {
    ErrorInfo::new("ERROR".to_string(), state.code().to_string(), message.to_string())
}

/// A wire error of the server's own (`state`, `message`).
pub fn server_error(state: SqlState, message: impl Into<String>) -> PgWireError {
    PgWireError::UserError(Box::new(error_info(state, &message.into())))
}

//! The SQLSTATE of an error DataFusion raised. By the error's variant wherever DataFusion
//! gives one (a syntax error, a missing column, a division by zero or overflow in Arrow, a
//! feature it does not implement); for the two variants that carry only text, planning and
//! execution errors, by [`MESSAGE_CLASSES`]: a small table of message fragments, each row
//! with a message DataFusion really gives, checked by the tests below and by a scenario per
//! class in `slt/errors/sqlstate.slt`, so a DataFusion upgrade that rewords a message
//! fails a test instead of silently changing a code. An error of the engine's own that
//! travelled through DataFusion is found and returned as it was ([`find_engine_error`]).

use datafusion::arrow::error::ArrowError;
use datafusion::common::SchemaError;
use datafusion::error::DataFusionError;

use super::{EngineError, SqlState};

/// The DataFusion variants whose kind only their message tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TextVariant {
    Plan,
    Execution,
}

/// One row of [`MESSAGE_CLASSES`]: a message of `variant` holding every one of
/// `fragments` gets `state`; `example` is a message DataFusion gives.
struct MessageClass {
    variant: TextVariant,
    fragments: &'static [&'static str],
    state: SqlState,
    #[cfg_attr(not(test), allow(dead_code))]
    example: &'static str,
}

/// What only the message distinguishes; the first row that matches wins. A planning error
/// no row names is a syntax error (42601), an execution error a data exception (22000).
const MESSAGE_CLASSES: &[MessageClass] = &[
    MessageClass {
        variant: TextVariant::Plan,
        fragments: &["table '", "' not found"],
        state: SqlState::UNDEFINED_TABLE,
        example: "table 'engine.default.missing' not found",
    },
    MessageClass {
        variant: TextVariant::Plan,
        fragments: &["Invalid function '"],
        state: SqlState::UNDEFINED_FUNCTION,
        example: "Invalid function 'no_such_function'.\nDid you mean 'to_char'?",
    },
    MessageClass {
        variant: TextVariant::Plan,
        fragments: &["unction '", "' not found"],
        state: SqlState::UNDEFINED_FUNCTION,
        example: "table function 'no_such_source' not found",
    },
    MessageClass {
        variant: TextVariant::Plan,
        fragments: &["Cannot infer common"],
        state: SqlState::DATATYPE_MISMATCH,
        example: "Cannot infer common argument type for comparison operation Int32 != Boolean",
    },
    MessageClass {
        variant: TextVariant::Plan,
        fragments: &["Failed to coerce"],
        state: SqlState::DATATYPE_MISMATCH,
        example: "Failed to coerce types Date32 and Decimal128(10, 2) in BETWEEN expression",
    },
    MessageClass {
        variant: TextVariant::Plan,
        fragments: &["Cannot automatically convert"],
        state: SqlState::DATATYPE_MISMATCH,
        example: "Cannot automatically convert Utf8 to Boolean",
    },
    MessageClass {
        variant: TextVariant::Plan,
        fragments: &["Cannot find a common type"],
        state: SqlState::DATATYPE_MISMATCH,
        example: "Cannot find a common type for arguments to coalesce",
    },
    MessageClass {
        variant: TextVariant::Plan,
        fragments: &["Cannot coerce arithmetic expression"],
        state: SqlState::DATATYPE_MISMATCH,
        example: "Cannot coerce arithmetic expression Utf8 + Int64 to valid types",
    },
    MessageClass {
        variant: TextVariant::Plan,
        fragments: &["No function matches"],
        state: SqlState::DATATYPE_MISMATCH,
        example: "No function matches the given name and argument types 'abs(Boolean)'. You might need to add explicit type casts.",
    },
    MessageClass {
        variant: TextVariant::Plan,
        fragments: &["non-boolean predicate"],
        state: SqlState::DATATYPE_MISMATCH,
        example: "Cannot create filter with non-boolean predicate 't.id' returning Int32",
    },
    MessageClass {
        variant: TextVariant::Plan,
        fragments: &["Incompatible inputs for Union"],
        state: SqlState::DATATYPE_MISMATCH,
        example: "Incompatible inputs for Union: Previous inputs were of type Int32, but got incompatible type Boolean on column 'b'",
    },
    MessageClass {
        variant: TextVariant::Plan,
        fragments: &["operator", "only supports", "types"],
        state: SqlState::DATATYPE_MISMATCH,
        example: "Unary operator '-' only supports signed numeric, interval and timestamp types",
    },
    MessageClass {
        variant: TextVariant::Plan,
        fragments: &["does not support", "type"],
        state: SqlState::DATATYPE_MISMATCH,
        example: "Avg does not support inputs of type Utf8.",
    },
    MessageClass {
        variant: TextVariant::Execution,
        fragments: &["Divide by zero"],
        state: SqlState::DIVISION_BY_ZERO,
        example: "Divide by zero error",
    },
    MessageClass {
        variant: TextVariant::Execution,
        fragments: &["verflow"],
        state: SqlState::NUMERIC_VALUE_OUT_OF_RANGE,
        example: "Arithmetic Overflow in AddAssign",
    },
];

/// The SQLSTATE of a planning or execution error, from its message.
fn classify_message(variant: TextVariant, message: &str) -> SqlState {
    let found =
        MESSAGE_CLASSES.iter().find(|class| class.variant == variant && class.fragments.iter().all(|fragment| message.contains(fragment)));
    match (found, variant) {
        (Some(class), _) => class.state,
        (None, TextVariant::Plan) => SqlState::SYNTAX_ERROR,
        (None, TextVariant::Execution) => SqlState::DATA_EXCEPTION,
    }
}

/// The engine's own error inside a DataFusion error, raised by one of the engine's plans.
pub(super) fn find_engine_error(error: &DataFusionError) -> Option<&EngineError> {
    match error {
        DataFusionError::External(inner) => {
            inner.downcast_ref::<EngineError>().or_else(|| inner.downcast_ref::<DataFusionError>().and_then(find_engine_error))
        }
        DataFusionError::Context(_, inner) => find_engine_error(inner),
        DataFusionError::Shared(inner) => find_engine_error(inner),
        DataFusionError::Diagnostic(_, inner) => find_engine_error(inner),
        DataFusionError::Collection(errors) => errors.iter().find_map(find_engine_error),
        DataFusionError::ArrowError(inner, _) => match inner.as_ref() {
            ArrowError::ExternalError(e) => {
                e.downcast_ref::<EngineError>().or_else(|| e.downcast_ref::<DataFusionError>().and_then(find_engine_error))
            }
            _ => None,
        },
        _ => None,
    }
}

/// The SQLSTATE of an error DataFusion raised (see the module documentation).
pub(super) fn classify_datafusion_error(error: &DataFusionError) -> SqlState {
    match error {
        DataFusionError::SQL(_, _) => SqlState::SYNTAX_ERROR,
        DataFusionError::NotImplemented(_) => SqlState::FEATURE_NOT_SUPPORTED,
        DataFusionError::SchemaError(schema_error, _) => match schema_error.as_ref() {
            SchemaError::FieldNotFound { .. } => SqlState::UNDEFINED_COLUMN,
            SchemaError::DuplicateQualifiedField { .. } | SchemaError::DuplicateUnqualifiedField { .. } => SqlState::DUPLICATE_COLUMN,
            _ => SqlState::SYNTAX_ERROR,
        },
        DataFusionError::ArrowError(arrow_error, _) => match arrow_error.as_ref() {
            ArrowError::DivideByZero => SqlState::DIVISION_BY_ZERO,
            ArrowError::ArithmeticOverflow(_) => SqlState::NUMERIC_VALUE_OUT_OF_RANGE,
            // A value that does not fit the target type (Arrow's variant is shared with
            // text that does not parse; this prefix is the only difference).
            ArrowError::CastError(message) if message.starts_with("Can't cast value") => SqlState::NUMERIC_VALUE_OUT_OF_RANGE,
            ArrowError::CastError(_) | ArrowError::ParseError(_) => SqlState::INVALID_TEXT_REPRESENTATION,
            _ => SqlState::DATA_EXCEPTION,
        },
        DataFusionError::Plan(message) => classify_message(TextVariant::Plan, message),
        DataFusionError::Execution(message) => classify_message(TextVariant::Execution, message),
        DataFusionError::Context(_, inner) | DataFusionError::Diagnostic(_, inner) => classify_datafusion_error(inner),
        DataFusionError::Shared(inner) => classify_datafusion_error(inner),
        DataFusionError::Collection(errors) => errors.first().map(classify_datafusion_error).unwrap_or(SqlState::INTERNAL_ERROR),
        _ => SqlState::INTERNAL_ERROR,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_example_gets_its_rows_state_and_no_earlier_row_takes_it() {
        for (at, class) in MESSAGE_CLASSES.iter().enumerate() {
            assert_eq!(classify_message(class.variant, class.example), class.state, "row {at}: {}", class.example);
            let first =
                MESSAGE_CLASSES.iter().position(|c| c.variant == class.variant && c.fragments.iter().all(|f| class.example.contains(f)));
            assert_eq!(first, Some(at), "row {at}'s example is taken by an earlier row: {}", class.example);
        }
    }

    #[test]
    fn unnamed_messages_fall_to_their_variants_default() {
        assert_eq!(classify_message(TextVariant::Plan, "a message no row names"), SqlState::SYNTAX_ERROR);
        assert_eq!(classify_message(TextVariant::Execution, "a message no row names"), SqlState::DATA_EXCEPTION);
        // A table name holding "type" is not a type error.
        assert_eq!(classify_message(TextVariant::Plan, "Projection references non-aggregate values: types.x"), SqlState::SYNTAX_ERROR);
    }

    #[test]
    fn variants_decide_where_they_can() {
        let divide = DataFusionError::ArrowError(Box::new(ArrowError::DivideByZero), None);
        assert_eq!(classify_datafusion_error(&divide), SqlState::DIVISION_BY_ZERO);
        let wrapped = DataFusionError::Context("while planning".into(), Box::new(DataFusionError::NotImplemented("x".into())));
        assert_eq!(classify_datafusion_error(&wrapped), SqlState::FEATURE_NOT_SUPPORTED);
        let own = EngineError::new(SqlState::UNIQUE_VIOLATION, "duplicate key");
        let travelled = DataFusionError::Context("c".into(), Box::new(own.clone().into_datafusion()));
        assert_eq!(find_engine_error(&travelled).map(|e| e.sql_state()), Some(SqlState::UNIQUE_VIOLATION));
    }
}

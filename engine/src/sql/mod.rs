//! The SQL front end: splits input into statements, recognises the engine's own statements
//! ([`parser`]), and rewrites DataFusion statements so system columns stay out of `*`
//! ([`system_columns`]).

pub mod parser;
pub mod system_columns;

pub use parser::{EngineStatement, ObjectRef, parse_statements};

//! The SQL front end: splits input into statements, recognises the engine's own statements
//! ([`parser`], with the token cursor [`words`], `SUBSCRIBE TO` in [`subscribe`] and `FLUSH` in
//! [`flush`], ALTER TABLE's column changes in [`alter`]), recognises the simple statements the engine runs without the planner
//! ([`simple`]), recognises transaction control ([`transaction`]), splits scripts into statement texts and binds `$n` parameters ([`script`]), and rewrites DataFusion statements so system columns stay out of `*`
//! ([`system_columns`]).

pub mod alter;
pub mod flush;
pub mod parser;
pub mod script;
pub mod simple;
pub mod subscribe;
pub mod system_columns;
pub mod transaction;
pub mod words;

pub use parser::{EngineStatement, ObjectRef, parse_statements};

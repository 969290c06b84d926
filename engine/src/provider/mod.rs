//! DataFusion's view of engine tables: the logical side ([`table`]), the physical scan
//! ([`scan`]), the write paths ([`writer`], [`write_exec`]), key-range pushdown
//! ([`key_range`]), and what the statement being planned asks of providers ([`scope`]).

pub mod key_range;
pub mod scan;
pub mod scope;
pub mod table;
pub mod write_exec;
pub mod writer;

pub use table::{ColumnSource, EngineTableProvider, Exposure};

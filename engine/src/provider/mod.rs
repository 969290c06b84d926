//! DataFusion's view of engine tables: the logical side ([`table`]), the physical scan
//! ([`scan`], rows to batches in [`assemble`], hot and cold merged in [`merge`]),
//! moving hot rows to Parquet ([`flush`]) and purging expired tombstones ([`compact`]), STREAM rules ([`stream_rules`]), the live feed's
//! change batches ([`change_feed`]), the write paths ([`writer`], [`write_exec`]), key-range pushdown
//! ([`key_range`]), and what the statement being planned asks of providers ([`scope`]).

pub mod assemble;
pub mod change_feed;
pub mod compact;
pub mod flush;
pub mod key_range;
pub mod merge;
mod merge_masked;
pub mod prune;
pub mod scan;
pub mod statement;
pub mod stream_rules;
pub mod table;
pub mod write_exec;
pub mod writer;

pub use table::{ColumnSource, EngineTableProvider, Exposure};

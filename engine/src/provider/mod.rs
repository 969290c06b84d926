//! DataFusion's view of engine tables, in levels that point one way (the README's
//! provider table is the list; `tests/tidy.rs` checks it): the logical side ([`table`],
//! [`statement`]) plans the physical scan ([`scan`]) and the write paths ([`writer`],
//! [`write_exec`]), beside flushes ([`flush`]), purges and compactions ([`compact`]) and
//! the live feed's change batches ([`change_feed`]); those read through the merge of hot
//! and cold rows ([`merge`]), which turns stored rows into batches through [`assemble`];
//! every level speaks the vocabulary of [`request`] (what one scan reads), [`key_range`],
//! [`prune`] and [`stream_rules`].

pub mod assemble;
pub mod change_feed;
pub mod compact;
pub mod flush;
pub mod key_range;
pub mod merge;
mod merge_masked;
mod merge_parts;
pub mod prune;
pub mod request;
mod runs;
pub mod scan;
pub mod statement;
pub mod stream_rules;
pub mod table;
pub mod transaction;
pub mod txn_commit;
pub mod write_exec;
pub mod writer;

pub use table::{EngineTableProvider, Exposure};

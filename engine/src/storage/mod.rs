//! Storage: RocksDB (hot), Parquet in an object store (cold), and the encodings of what
//! is stored in them.
//!
//! - [`keys`]: the key layout of the whole keyspace (the only module that builds keys);
//! - [`hex`]: bytes as hex text in JSON;
//! - [`key_walks`]: counting and finding keys in a range without reading rows;
//! - [`key_codec`]: order-preserving encoding of primary-key values;
//! - [`row_codec`]: the compact typed encoding of row values;
//! - [`change_set`]: a statement's changes as one unit for the commit section;
//! - [`store`]: the RocksDB handle, the counters and the commit section (`_seq` order is
//!   commit order);
//! - [`cold`]: Parquet segments and manifests in an object store (the cold tier);
//! - [`cursor`]: hot rows pulled one at a time from a snapshot (merges with cold rows);
//! - [`tiers`]: rows by key across hot and cold (the shared point reader);
//! - [`snapshot`], [`pending`], [`read_point`]: a transaction's view (one hot snapshot
//!   held across statements, with the segment lists that belong to it) and its pending
//!   writes, and where each read reads from;
//! - [`locks`]: the per-table, per-scope write locks, and running storage work off the
//!   async workers.

pub mod change_set;
pub mod cold;
pub mod cursor;
pub mod hex;
pub mod key_codec;
pub mod key_walks;
pub mod keys;
pub mod locks;
pub mod pending;
pub mod read_point;
pub mod row_codec;
pub mod snapshot;
pub mod store;
pub mod tiers;

pub use keys::{RowScope, TableId, UserId};
pub use locks::{QueueWait, ScopeWriteGuard, TableWriteGuard, WriteLocks, off_async};
pub use read_point::{ReadPoint, TxnView};
pub use store::{ChangeSet, Committed, CommittedRow, Counter, ROOT_USER_ID, Store};

//! Hot storage: RocksDB and the encodings of what is stored in it.
//!
//! - [`keys`]: the key layout of the whole keyspace (the only module that builds keys);
//! - [`key_codec`]: order-preserving encoding of primary-key values;
//! - [`row_codec`]: the compact typed encoding of row values;
//! - [`change_set`]: a statement's changes as one unit for the commit section;
//! - [`store`]: the RocksDB handle, the counters and the commit section (`_seq` order is
//!   commit order);
//! - [`locks`]: the per-table, per-scope write locks, and running storage work off the
//!   async workers.

pub mod change_set;
pub mod key_codec;
pub mod keys;
pub mod locks;
pub mod row_codec;
pub mod store;

pub use keys::{RowScope, TableId, UserId};
pub use locks::{ScopeWriteGuard, TableWriteGuard, WriteLocks, off_async};
pub use store::{ChangeSet, Committed, CommittedRow, Counter, ROOT_USER_ID, Store};

//! Hot storage: RocksDB and the encodings of what is stored in it.
//!
//! - [`keys`]: the key layout of the whole keyspace (the only module that builds keys);
//! - [`key_codec`]: order-preserving encoding of primary-key values;
//! - [`row_codec`]: the compact typed encoding of row values;
//! - [`store`]: the RocksDB handle, the write lock and atomic commits.

pub mod key_codec;
pub mod keys;
pub mod row_codec;
pub mod store;

pub use keys::{RowScope, TableId};
pub use store::{ChangeSet, Store, WriteGuard};

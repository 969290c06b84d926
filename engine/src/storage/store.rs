//! The RocksDB handle and the engine's write discipline.
//!
//! Architecture invariant: nothing outside `storage/` imports `rocksdb`. Writers take the
//! engine-wide write lock ([`Store::lock_writes`]) for the whole statement, allocate `_seq`
//! values under it, and commit every change of the statement in one atomic write batch
//! that also records the new `_seq` high-water mark. A statement that fails before its
//! commit leaves nothing behind.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rocksdb::{DB, Options, ReadOptions, WriteBatch};

use crate::error::Result;
use crate::storage::keys;

/// The key under which the last allocated `_seq` is kept.
const SEQ_META: &str = "seq";

pub struct Store {
    db: DB,
    path: PathBuf,
    last_seq: AtomicU64,
    write_lock: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

/// Proof that the caller holds the engine-wide write lock.
pub struct WriteGuard<'a> {
    _guard: tokio::sync::MutexGuard<'a, ()>,
}

/// The changes of one statement, committed atomically.
#[derive(Default)]
pub struct ChangeSet {
    batch: WriteBatch,
    last_seq: Option<u64>,
    len: usize,
}

impl ChangeSet {
    pub fn put(&mut self, key: &[u8], value: &[u8]) {
        self.batch.put(key, value);
        self.len += 1;
    }

    pub fn delete(&mut self, key: &[u8]) {
        self.batch.delete(key);
        self.len += 1;
    }

    /// Deletes every key that starts with `prefix`.
    pub fn delete_prefix(&mut self, prefix: &[u8]) {
        match keys::prefix_upper_bound(prefix) {
            Some(upper) => self.batch.delete_range(prefix, upper.as_slice()),
            None => self.batch.delete_range(prefix, [0xFFu8; 64].as_slice()),
        }
        self.len += 1;
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Store {
    pub fn open(path: &Path) -> Result<Store> {
        std::fs::create_dir_all(path)?;
        let db = DB::open(&rocksdb_options(), path)?;
        let last_seq = match db.get(keys::meta_key(SEQ_META))? {
            Some(bytes) => u64::from_be_bytes(bytes.as_slice().try_into().unwrap_or([0; 8])),
            None => 0,
        };
        Ok(Store { db, path: path.to_path_buf(), last_seq: AtomicU64::new(last_seq), write_lock: tokio::sync::Mutex::new(()) })
    }

    /// Takes the engine-wide write lock; writers hold it for their whole statement.
    pub async fn lock_writes(&self) -> WriteGuard<'_> {
        WriteGuard { _guard: self.write_lock.lock().await }
    }

    /// Allocates the next `_seq`; only under the write lock, so values are committed in
    /// increasing order.
    pub fn next_seq(&self, _guard: &WriteGuard<'_>, changes: &mut ChangeSet) -> u64 {
        let seq = self.last_seq.fetch_add(1, Ordering::SeqCst) + 1;
        changes.last_seq = Some(seq);
        seq
    }

    /// The last `_seq` handed out.
    pub fn last_seq(&self) -> u64 {
        self.last_seq.load(Ordering::SeqCst)
    }

    /// Commits a statement's changes atomically.
    pub fn commit(&self, _guard: &WriteGuard<'_>, mut changes: ChangeSet) -> Result<()> {
        if let Some(seq) = changes.last_seq {
            changes.batch.put(keys::meta_key(SEQ_META), seq.to_be_bytes());
        }
        self.db.write(changes.batch)?;
        Ok(())
    }

    /// Rolls back `_seq` values allocated by a statement that did not commit, so a failed
    /// statement leaves no gap (only valid under the same write lock).
    pub fn abandon(&self, _guard: &WriteGuard<'_>, changes: ChangeSet, seq_before: u64) {
        drop(changes);
        self.last_seq.store(seq_before, Ordering::SeqCst);
    }

    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.db.get(key)?)
    }

    /// Reads many keys in one call.
    pub fn multi_get(&self, keys: &[Vec<u8>]) -> Result<Vec<Option<Vec<u8>>>> {
        self.db
            .multi_get(keys)
            .into_iter()
            .map(|r| r.map_err(Into::into))
            .collect()
    }

    /// Calls `visit` for each key in `[lower, upper)` in key order, on a consistent
    /// snapshot, until it returns `false`.
    pub fn scan_range(
        &self,
        lower: &[u8],
        upper: Option<&[u8]>,
        mut visit: impl FnMut(&[u8], &[u8]) -> Result<bool>,
    ) -> Result<()> {
        let mut read = ReadOptions::default();
        read.set_iterate_lower_bound(lower.to_vec());
        if let Some(upper) = upper {
            read.set_iterate_upper_bound(upper.to_vec());
        }
        let mut iter = self.db.raw_iterator_opt(read);
        iter.seek(lower);
        visit_all(&mut iter, &mut visit)?;
        Ok(())
    }

    /// Calls `visit` for several ranges on one consistent snapshot.
    pub fn scan_ranges(
        &self,
        ranges: &[(Vec<u8>, Option<Vec<u8>>)],
        mut visit: impl FnMut(&[u8], &[u8]) -> Result<bool>,
    ) -> Result<()> {
        let snapshot = self.db.snapshot();
        for (lower, upper) in ranges {
            let mut read = ReadOptions::default();
            read.set_iterate_lower_bound(lower.clone());
            if let Some(upper) = upper {
                read.set_iterate_upper_bound(upper.clone());
            }
            let mut iter = snapshot.raw_iterator_opt(read);
            iter.seek(lower);
            if !visit_all(&mut iter, &mut visit)? {
                return Ok(());
            }
        }
        Ok(())
    }

    /// Every key and value that starts with `prefix`.
    pub fn scan_prefix(&self, prefix: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut out = Vec::new();
        let upper = keys::prefix_upper_bound(prefix);
        self.scan_range(prefix, upper.as_deref(), |k, v| {
            out.push((k.to_vec(), v.to_vec()));
            Ok(true)
        })?;
        Ok(out)
    }

    /// Physically removes deleted ranges under `prefix` from the files on disk.
    pub fn compact_prefix(&self, prefix: &[u8]) {
        let upper = keys::prefix_upper_bound(prefix);
        self.db.compact_range(Some(prefix), upper.as_deref());
    }

    /// Flushes memtables to disk (used before listing files).
    pub fn flush(&self) -> Result<()> {
        Ok(self.db.flush()?)
    }
}

/// Walks `iter` from its position, without copying keys or values, until it ends or
/// `visit` returns `false` (then returns `false`).
fn visit_all<D: rocksdb::DBAccess>(
    iter: &mut rocksdb::DBRawIteratorWithThreadMode<'_, D>,
    visit: &mut impl FnMut(&[u8], &[u8]) -> Result<bool>,
) -> Result<bool> {
    while let (Some(key), Some(value)) = (iter.key(), iter.value()) {
        if !visit(key, value)? {
            return Ok(false);
        }
        iter.next();
    }
    iter.status()?;
    Ok(true)
}

/// The RocksDB options of hot storage (also used by the benchmark's raw-RocksDB floor):
/// LZ4 blocks, a bloom filter per file so lookups of absent keys (every uniqueness check
/// of an INSERT) skip files, and a shared block cache.
pub fn rocksdb_options() -> Options {
    let mut options = Options::default();
    options.create_if_missing(true);
    options.set_compression_type(rocksdb::DBCompressionType::Lz4);
    let mut table = rocksdb::BlockBasedOptions::default();
    table.set_bloom_filter(10.0, false);
    table.set_block_cache(&rocksdb::Cache::new_lru_cache(BLOCK_CACHE_BYTES));
    options.set_block_based_table_factory(&table);
    options
}

/// The block cache of one engine.
const BLOCK_CACHE_BYTES: usize = 64 << 20;

impl Store {
    /// Commits a change while the engine is being opened (no other writer can exist yet).
    pub fn commit_unlocked_bootstrap(&self, changes: ChangeSet) -> Result<()> {
        self.db.write(changes.batch)?;
        Ok(())
    }

    /// Every key and value in the store, in key order (storage snapshots and tests).
    pub fn dump(&self) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.scan_prefix(&[])
    }
}

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
    /// Opens (or creates) hot storage at `path` with a block cache of `cache_bytes`.
    pub fn open(path: &Path, cache_bytes: usize) -> Result<Store> {
        std::fs::create_dir_all(path)?;
        let db = DB::open(&rocksdb_options(cache_bytes), path)?;
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
    pub fn multi_get<K: AsRef<[u8]>>(&self, keys: &[K]) -> Result<Vec<Option<Vec<u8>>>> {
        self.db
            .multi_get(keys)
            .into_iter()
            .map(|r| r.map_err(Into::into))
            .collect()
    }

    /// Whether no key at all (live or deleted row) lies in `[first, last]`: one seek,
    /// where looking up each key of a large batch would search the memtable once per key.
    pub fn range_is_empty(&self, first: &[u8], last: &[u8]) -> Result<bool> {
        // The smallest key after `last` is `last` followed by a zero byte.
        let mut iter = self.db.raw_iterator_opt(bounded(first, Some(&[last, &[0]].concat())));
        iter.seek(first);
        let empty = !iter.valid();
        iter.status()?;
        Ok(empty)
    }

    /// Calls `visit` for each key in `[lower, upper)` in key order, on a consistent
    /// snapshot, until it returns `false`.
    pub fn scan_range(
        &self,
        lower: &[u8],
        upper: Option<&[u8]>,
        mut visit: impl FnMut(&[u8], &[u8]) -> Result<bool>,
    ) -> Result<()> {
        let mut iter = self.db.raw_iterator_opt(bounded(lower, upper));
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
            let mut iter = snapshot.raw_iterator_opt(bounded(lower, upper.as_deref()));
            iter.seek(lower);
            if !visit_all(&mut iter, &mut visit)? {
                return Ok(());
            }
        }
        Ok(())
    }

    /// Splits `[lower, upper)` into up to `parts` ranges for a parallel scan, when the
    /// range holds at least `min_bytes` of flushed data (smaller ranges, and data still
    /// only in memtables, are not worth the threads). Split keys
    /// interpolate between the first and last key of the range, so parts are even when
    /// keys are spread evenly (such as increasing integer keys).
    pub fn split_range(&self, lower: &[u8], upper: &[u8], parts: usize, min_bytes: u64) -> Result<Option<Vec<Vec<u8>>>> {
        if parts < 2 {
            return Ok(None);
        }
        let size = self.db.get_approximate_sizes(&[rocksdb::Range::new(lower, upper)]);
        if size.first().copied().unwrap_or(0) < min_bytes {
            return Ok(None);
        }
        let mut iter = self.db.raw_iterator_opt(bounded(lower, Some(upper)));
        iter.seek(lower);
        let Some(first) = iter.key().map(<[u8]>::to_vec) else { return Ok(None) };
        iter.seek_for_prev(upper);
        let Some(last) = iter.key().map(<[u8]>::to_vec) else { return Ok(None) };
        iter.status()?;
        let splits = interpolate_keys(&first, &last, parts);
        Ok((!splits.is_empty()).then_some(splits))
    }

    /// Runs one visitor per range `[lower, upper)`, each on its own thread, all on one
    /// snapshot, and returns when every range is done (or has been stopped).
    pub fn scan_parallel<V>(&self, parts: Vec<(Vec<u8>, Vec<u8>, V)>) -> Result<()>
    where
        V: FnMut(&[u8], &[u8]) -> Result<bool> + Send,
    {
        let snapshot = self.db.snapshot();
        let outcomes: Vec<Result<bool>> = std::thread::scope(|scope| {
            let handles: Vec<_> = parts
                .into_iter()
                .map(|(lower, upper, mut visit)| {
                    let snapshot = &snapshot;
                    scope.spawn(move || {
                        let mut iter = snapshot.raw_iterator_opt(bounded(&lower, Some(&upper)));
                        iter.seek(&lower);
                        visit_all(&mut iter, &mut visit)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("a scan thread panicked")).collect()
        });
        for outcome in outcomes {
            outcome?;
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

/// Read options confining an iterator to `[lower, upper)` (`None`: no upper bound).
fn bounded(lower: &[u8], upper: Option<&[u8]>) -> ReadOptions {
    let mut read = ReadOptions::default();
    read.set_iterate_lower_bound(lower.to_vec());
    if let Some(upper) = upper {
        read.set_iterate_upper_bound(upper.to_vec());
    }
    read
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

/// `parts - 1` keys strictly between `first` and `last`, evenly spaced in the eight bytes
/// after their common prefix (read as a big-endian number); none if they are too close.
fn interpolate_keys(first: &[u8], last: &[u8], parts: usize) -> Vec<Vec<u8>> {
    let common = first.iter().zip(last).take_while(|(a, b)| a == b).count();
    let window = |key: &[u8]| {
        let mut bytes = [0u8; 8];
        for (slot, byte) in bytes.iter_mut().zip(&key[common..]) {
            *slot = *byte;
        }
        u64::from_be_bytes(bytes)
    };
    let (low, high) = (window(first), window(last));
    let step = (high - low) / parts as u64;
    if step == 0 {
        return Vec::new();
    }
    (1..parts as u64)
        .map(|i| [&first[..common], &(low + step * i).to_be_bytes()].concat())
        .filter(|split| split.as_slice() > first && split.as_slice() <= last)
        .collect()
}

/// The RocksDB options of hot storage (also used by the benchmark's raw-RocksDB floor):
/// LZ4 blocks, a bloom filter per file so lookups of absent keys (every uniqueness check
/// of an INSERT) skip files, and a block cache of `cache_bytes` (decompressed blocks: a
/// table that fits is scanned without decompressing).
pub fn rocksdb_options(cache_bytes: usize) -> Options {
    let mut options = Options::default();
    options.create_if_missing(true);
    options.set_compression_type(rocksdb::DBCompressionType::Lz4);
    let mut table = rocksdb::BlockBasedOptions::default();
    table.set_bloom_filter(10.0, false);
    table.set_block_cache(&rocksdb::Cache::new_lru_cache(cache_bytes));
    options.set_block_based_table_factory(&table);
    options
}

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

#[cfg(test)]
mod tests {
    use super::interpolate_keys;

    #[test]
    fn split_keys_fall_strictly_inside_the_range_in_order() {
        let first = [1u8, 2, 0, 0, 0, 0, 0, 0, 0, 10];
        let last = [1u8, 2, 0, 0, 0, 0, 0, 0, 0, 200];
        let splits = interpolate_keys(&first, &last, 4);
        assert_eq!(splits.len(), 3);
        let mut previous = first.to_vec();
        for split in &splits {
            assert!(*split > previous && split.as_slice() < last.as_slice(), "{split:?}");
            previous = split.clone();
        }
        // A key that is a prefix of the other, and keys too close to split.
        assert_eq!(interpolate_keys(b"ab", b"abc", 2).len(), 1);
        assert!(interpolate_keys(&[5, 1], &[5, 1, 0], 2).iter().all(|s| s.as_slice() > [5u8, 1].as_slice()));
        assert!(interpolate_keys(&[7, 1], &[7, 1, 0, 0, 0, 0, 0, 0, 0, 1], 2).is_empty());
        assert_eq!(interpolate_keys(&[7, 0, 0, 0, 0, 0, 0, 0, 1], &[7, 0, 0, 0, 0, 0, 0, 0, 2], 2).len(), 1);
    }
}

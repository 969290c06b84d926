//! The RocksDB handle, the engine's counters and its commit section.
//!
//! Architecture invariant: nothing outside `storage/` imports `rocksdb`. A statement
//! validates under its table's write lock ([`super::locks`]) and then hands its changes to
//! [`Store::commit`], whose short commit section assigns the `_seq` values of the
//! statement's rows and writes them in one atomic batch together with the new `_seq`
//! high-water mark. Because `_seq` values are assigned and written inside one section,
//! `_seq` order is commit order: once a reader sees `_seq` N, every smaller `_seq` is
//! committed. A statement that fails before its commit leaves nothing behind and consumes
//! no `_seq`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use rocksdb::{DB, Options, WriteBatch};

use crate::error::{EngineError, Result, SqlState};
use crate::storage::change_set::Change;
pub use crate::storage::change_set::{ChangeSet, Committed, CommittedRow};
use crate::storage::keys;
use crate::storage::row_codec::set_seq;

mod claim;
mod reads;
mod upgrade;

pub(in crate::storage) use reads::{bounded, pending_in};

impl From<rocksdb::Error> for EngineError {
    fn from(error: rocksdb::Error) -> Self {
        EngineError::new(SqlState::IO_ERROR, format!("storage error: {error}"))
    }
}

/// The engine's persistent counters. Each is written when the data directory is created
/// and advanced in the same atomic batch as the change that uses it; a missing or corrupt
/// counter stops the open, since reading it as zero would hand out used ids again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    /// The last `_seq` assigned.
    Seq,
    /// The last internal row id handed out (rows of tables without a primary key).
    RowId,
    /// The id the next table gets.
    NextTableId,
    /// The id the next user gets (`root` is [`ROOT_USER_ID`]).
    NextUserId,
    /// The number the next cold-storage file gets: no file name is ever written twice.
    NextFile,
}

/// The user id of `root`, which exists from the start.
pub const ROOT_USER_ID: u64 = 1;

impl Counter {
    const ALL: [Counter; 5] = [Counter::Seq, Counter::RowId, Counter::NextTableId, Counter::NextUserId, Counter::NextFile];

    pub(super) fn name(self) -> &'static str {
        match self {
            Counter::Seq => "seq",
            Counter::RowId => "row_id",
            Counter::NextTableId => "next_table_id",
            Counter::NextUserId => "next_user_id",
            Counter::NextFile => "next_file",
        }
    }

    fn initial(self) -> u64 {
        match self {
            Counter::Seq | Counter::RowId => 0,
            Counter::NextTableId | Counter::NextFile => 1,
            Counter::NextUserId => ROOT_USER_ID + 1,
        }
    }
}

/// The meta key holding the layout version of the data directory.
const FORMAT_META: &str = "format";
/// Version 1: the first release (no format key; counters written on first use; internal
/// row ids were `_seq` values). Version 2: every counter written at creation. Version 3:
/// users (the user-id counter; USER-table rows scoped by user id). Version 4: the
/// cold-storage file counter.
const FORMAT_VERSION: u64 = 4;

pub struct Store {
    db: DB,
    path: PathBuf,
    last_seq: AtomicU64,
    last_row_id: AtomicU64,
    /// Held while `_seq` values are assigned and their batch is written.
    commit_section: Mutex<()>,
    /// Row counts of scopes that need them (STREAM tables with MAX_ROWS), by scope
    /// prefix: counted once, then set by each commit that changes the scope, all under
    /// the scope's write lock.
    row_counts: Mutex<HashMap<Vec<u8>, u64>>,
    /// The arrival time of the newest row of STREAM scopes, by scope prefix (kept like
    /// `row_counts`), so an insert need not look it up.
    last_arrivals: Mutex<HashMap<Vec<u8>, i64>>,
    /// The last `_seq` committed into each scope (by prefix) since the store opened
    /// ([`ChangeSet::changes_scope`]): what a SERIALIZABLE commit checks its scans against.
    scope_stamps: Mutex<HashMap<Vec<u8>, u64>>,
    /// Writes made since the store opened, and the write that fails on purpose (fault
    /// injection for tests; 0: none).
    writes: AtomicU64,
    failing_write: AtomicU64,
    /// This process's claim on the directory; the last field, so it is released after the
    /// database (the first field) has closed.
    _claim: claim::DirClaim,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// The RocksDB handle, for the other modules of `storage/`.
    pub(super) fn db(&self) -> &DB {
        &self.db
    }

    /// Opens (or creates) hot storage at `path` with a block cache of `cache_bytes`. A new
    /// directory gets its counters; an existing one must have all of them intact.
    pub fn open(path: &Path, cache_bytes: usize, release_wait: std::time::Duration) -> Result<Store> {
        std::fs::create_dir_all(path)?;
        let claim = claim::DirClaim::acquire(path, release_wait)?;
        let db = DB::open(&rocksdb_options(cache_bytes), path)?;
        let store = Store {
            db,
            path: path.to_path_buf(),
            last_seq: AtomicU64::new(0),
            last_row_id: AtomicU64::new(0),
            commit_section: Mutex::new(()),
            row_counts: Mutex::new(HashMap::new()),
            last_arrivals: Mutex::new(HashMap::new()),
            scope_stamps: Mutex::new(HashMap::new()),
            writes: AtomicU64::new(0),
            failing_write: AtomicU64::new(0),
            _claim: claim,
        };
        if store.is_empty()? {
            let mut batch = WriteBatch::default();
            for counter in Counter::ALL {
                batch.put(keys::meta_key(counter.name()), counter.initial().to_be_bytes());
            }
            batch.put(keys::meta_key(FORMAT_META), FORMAT_VERSION.to_be_bytes());
            store.db.write(batch)?;
        }
        store.upgrade()?;
        store.last_seq.store(store.counter(Counter::Seq)?, Ordering::SeqCst);
        store.last_row_id.store(store.counter(Counter::RowId)?, Ordering::SeqCst);
        Ok(store)
    }

    fn is_empty(&self) -> Result<bool> {
        let mut iter = self.db.raw_iterator();
        iter.seek_to_first();
        iter.status()?;
        Ok(!iter.valid())
    }

    /// The stored value of a counter; a missing or corrupt counter is an error that stops
    /// the open (a zero would hand out used ids again).
    pub fn counter(&self, counter: Counter) -> Result<u64> {
        let damaged = |what: &str| {
            EngineError::new(
                SqlState::DATA_CORRUPTED,
                format!(
                    "the data directory {} is damaged: its {} counter is {what}; restore it from a backup",
                    self.path.display(),
                    counter.name()
                ),
            )
        };
        match self.db.get(keys::meta_key(counter.name()))? {
            Some(bytes) => bytes.as_slice().try_into().map(u64::from_be_bytes).map_err(|_| damaged("corrupt")),
            None => Err(damaged("missing")),
        }
    }

    /// Hands out the next cold-storage file number, written (and synced) before it is
    /// returned, so a crash or a power loss never hands it out again.
    pub fn allocate_file_number(&self) -> Result<u64> {
        let _section = self.commit_section.lock().unwrap_or_else(|p| p.into_inner());
        let number = self.counter(Counter::NextFile)?;
        self.write_counter_synced(Counter::NextFile, number + 1)?;
        Ok(number)
    }

    /// Raises the file counter above `used` (the highest number found in cold storage
    /// when it opened): a counter that lost a write never meets a file that exists.
    pub fn reserve_file_numbers_through(&self, used: u64) -> Result<()> {
        let _section = self.commit_section.lock().unwrap_or_else(|p| p.into_inner());
        if self.counter(Counter::NextFile)? <= used {
            self.write_counter_synced(Counter::NextFile, used + 1)?;
        }
        Ok(())
    }

    fn write_counter_synced(&self, counter: Counter, value: u64) -> Result<()> {
        let mut batch = WriteBatch::default();
        batch.put(keys::meta_key(counter.name()), value.to_be_bytes());
        let mut options = rocksdb::WriteOptions::default();
        options.set_sync(true);
        self.write_batch(batch, &options)
    }

    /// Every write of the running engine goes through here (the fault-injection point).
    fn write_batch(&self, batch: WriteBatch, options: &rocksdb::WriteOptions) -> Result<()> {
        let number = self.writes.fetch_add(1, Ordering::SeqCst) + 1;
        if self.failing_write.load(Ordering::SeqCst) == number {
            return Err(EngineError::new(SqlState::IO_ERROR, format!("storage error: write {number} failed (injected fault)")));
        }
        self.db.write_opt(batch, options)?;
        Ok(())
    }

    /// Testing: makes the `n`th write from now fail with an I/O error, as a full disk
    /// would (0 disarms). Each write is one atomic batch, so a failed one leaves storage
    /// as it was.
    pub fn fail_write(&self, n: u64) {
        let target = if n == 0 { 0 } else { self.writes.load(Ordering::SeqCst) + n };
        self.failing_write.store(target, Ordering::SeqCst);
    }

    /// Writes made since the store opened (testing: how many a statement makes).
    pub fn writes(&self) -> u64 {
        self.writes.load(Ordering::SeqCst)
    }

    /// The identity RocksDB gave this database when it was created (its `IDENTITY`
    /// file): what the cold-storage root's marker names.
    pub fn identity(&self) -> Result<String> {
        let path = self.path.join("IDENTITY");
        let text =
            std::fs::read_to_string(&path).map_err(|e| EngineError::new(SqlState::IO_ERROR, format!("reading {}: {e}", path.display())))?;
        let identity = text.trim();
        if identity.is_empty() {
            return Err(EngineError::new(SqlState::DATA_CORRUPTED, format!("{} is empty", path.display())));
        }
        Ok(identity.to_string())
    }

    /// Hands out `count` internal row ids; returns the first. Ids are never reused: the
    /// commit of a change set that [uses them](ChangeSet::uses_row_ids) persists the counter.
    pub fn allocate_row_ids(&self, count: u64) -> u64 {
        self.last_row_id.fetch_add(count, Ordering::SeqCst) + 1
    }

    /// Commits a statement's changes atomically: assigns the `_seq` values of its rows and
    /// writes everything in one batch, inside the commit section.
    pub fn commit(&self, changes: ChangeSet) -> Result<Committed> {
        self.commit_checked(changes, || Ok(()))
    }

    /// [`Store::commit`], running `check` first inside the commit section: no other commit
    /// happens between a transaction's check that nothing it depends on changed and its own
    /// write. When `check` fails nothing is written.
    pub fn commit_checked(&self, changes: ChangeSet, check: impl FnOnce() -> Result<()>) -> Result<Committed> {
        let ChangeSet { mut rows, changes, counters, uses_row_ids, keep_rows, previous, row_counts, last_arrivals, scopes } = changes;
        let _section = self.commit_section.lock().unwrap_or_else(|p| p.into_inner());
        check()?;
        let before = self.last_seq.load(Ordering::SeqCst);
        let mut batch = WriteBatch::default();
        let changes_something = !rows.is_empty() || !changes.is_empty();
        // Deletions first: a range a statement clears (a STREAM table's oldest rows) never
        // takes the rows the same statement writes.
        for change in changes {
            match change {
                Change::Put(key, value) => batch.put(key, value),
                Change::Delete(key) => batch.delete(key),
                Change::DeleteRange(from, to) => batch.delete_range(from, to),
            }
        }
        let mut seq = before;
        for (key, value) in &mut rows {
            seq += 1;
            set_seq(value, seq)?;
            batch.put(&key, &value);
        }
        // A commit that changes scopes without writing a row (a STREAM TRUNCATE removes
        // rows outright) still takes a `_seq`, held by no row: the scopes' stamps must be
        // newer than every view taken before it, or a SERIALIZABLE reader of the scope
        // would not see that it changed.
        if seq == before && changes_something && !scopes.is_empty() {
            seq += 1;
        }
        if seq != before {
            batch.put(keys::meta_key(Counter::Seq.name()), seq.to_be_bytes());
        }
        if uses_row_ids {
            let last_row_id = self.last_row_id.load(Ordering::SeqCst);
            batch.put(keys::meta_key(Counter::RowId.name()), last_row_id.to_be_bytes());
        }
        for (counter, value) in counters {
            batch.put(keys::meta_key(counter.name()), value.to_be_bytes());
        }
        self.write_batch(batch, &rocksdb::WriteOptions::default())?;
        self.last_seq.store(seq, Ordering::SeqCst);
        if !scopes.is_empty() && seq != before {
            let mut stamps = self.scope_stamps.lock().unwrap_or_else(|p| p.into_inner());
            for prefix in scopes {
                stamps.insert(prefix, seq);
            }
        }
        if !last_arrivals.is_empty() {
            self.last_arrivals.lock().unwrap_or_else(|p| p.into_inner()).extend(last_arrivals);
        }
        if !row_counts.is_empty() {
            let mut known = self.row_counts.lock().unwrap_or_else(|p| p.into_inner());
            for (prefix, count) in row_counts {
                match count {
                    Some(count) => known.insert(prefix, count),
                    None => known.remove(&prefix),
                };
            }
        }
        let rows = if keep_rows {
            let mut previous = previous.into_iter();
            rows.into_iter().map(|(key, value)| CommittedRow { key, value, previous: previous.next().flatten() }).collect()
        } else {
            Vec::new()
        };
        Ok(Committed { first_seq: before + 1, last_seq: seq, rows })
    }

    /// The last `_seq` committed.
    pub fn last_seq(&self) -> u64 {
        self.last_seq.load(Ordering::SeqCst)
    }

    /// Whether a commit after `_seq` `since` changed rows of the scope under `prefix`
    /// (known since the store opened, which is all a transaction needs: none outlives it).
    pub fn scope_changed_since(&self, prefix: &[u8], since: u64) -> bool {
        self.scope_stamps.lock().unwrap_or_else(|p| p.into_inner()).get(prefix).is_some_and(|&seq| seq > since)
    }

    /// The row count of the scope under `prefix`, if a commit recorded it
    /// ([`ChangeSet::set_row_count_after`]).
    pub fn cached_row_count(&self, prefix: &[u8]) -> Option<u64> {
        self.row_counts.lock().unwrap_or_else(|p| p.into_inner()).get(prefix).copied()
    }

    /// Forgets what is kept in memory about the scopes under `prefix` (a dropped table's
    /// or user's): memory follows the tables that exist.
    pub fn forget_scopes(&self, prefix: &[u8]) {
        self.row_counts.lock().unwrap_or_else(|p| p.into_inner()).retain(|scope, _| !scope.starts_with(prefix));
        self.last_arrivals.lock().unwrap_or_else(|p| p.into_inner()).retain(|scope, _| !scope.starts_with(prefix));
        self.scope_stamps.lock().unwrap_or_else(|p| p.into_inner()).retain(|scope, _| !scope.starts_with(prefix));
    }

    /// The arrival time of the newest row of the STREAM scope under `prefix`, if a
    /// commit recorded it ([`ChangeSet::set_last_arrival_after`]).
    pub fn cached_last_arrival(&self, prefix: &[u8]) -> Option<i64> {
        self.last_arrivals.lock().unwrap_or_else(|p| p.into_inner()).get(prefix).copied()
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
    /// Every key and value in the store, in key order (storage snapshots and tests).
    pub fn dump(&self) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.scan_prefix(&[])
    }
}

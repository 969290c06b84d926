//! How an engine is configured: where its data lives (hot and cold), and its clock and id
//! source.

use std::path::PathBuf;
use std::sync::Arc;

use crate::clock::{Clock, ManualClock, SystemClock};
use crate::ids::{IdSource, RandomIds, SequentialIds};
use crate::passwords::{PasswordCost, Secret};

/// Everything [`crate::Engine::open`] needs.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// The data directory: RocksDB under `hot/`, Parquet under `storage/`.
    pub data_dir: PathBuf,
    pub clock: Arc<dyn Clock>,
    pub ids: Arc<dyn IdSource>,
    /// Rows per Arrow batch produced by table scans.
    pub scan_batch_rows: usize,
    /// DataFusion's parallelism per query; `None` uses one partition per core.
    pub target_partitions: Option<usize>,
    /// Run simple statements (literal INSERT ... VALUES, SELECT and DELETE by whole primary
    /// key) without DataFusion's planner. Results are the same either way; off is for
    /// comparing the two paths.
    pub simple_statements: bool,
    /// The most memory RocksDB's block cache (decompressed blocks) may hold.
    pub block_cache_bytes: usize,
    /// A full scan of a key range holding at least this many flushed (on-disk) bytes is
    /// split across DataFusion's target partitions' worth of threads.
    pub parallel_scan_min_bytes: u64,
    /// `root`'s password. `None`: root has no password and only trusted in-process
    /// sessions ([`crate::Engine::session`]) act as root.
    pub root_password: Option<Secret>,
    /// The argon2id cost of new password hashes.
    pub password_cost: PasswordCost,
    /// Events a subscription holds for its subscriber; one more ends it with an error
    /// event (it resumes with `from_seq`).
    pub subscriber_buffer_events: usize,
    /// Changed rows waiting for the live dispatcher before the feeds that overflow it end
    /// their subscriptions the same way.
    pub live_inbox_rows: usize,
    /// How often the background job runner looks for due work (STREAM eviction).
    /// `None`: no background runner; jobs run only through [`crate::Engine::run_jobs`]
    /// (tests and scenarios, with a manual clock).
    pub job_interval: Option<std::time::Duration>,
    /// Where cold storage (Parquet segments and manifests) lives.
    pub cold_storage: ColdStorage,
    /// The most memory decoded Parquet row groups kept for point reads of flushed rows
    /// may take; the segments' key indexes (what uniqueness checks and point reads search)
    /// may take as much again, the least recently loaded going first (one index larger
    /// than that on its own is kept alone).
    pub cold_cache_bytes: usize,
    /// A scope with more segments than this is merged into one by the compaction job.
    pub compact_segments_over: usize,
    /// Called as a flush passes each step (crash tests stop the process there).
    pub flush_observer: Option<FlushObserver>,
}

/// The steps of a flush, in order (see `provider::flush`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushStep {
    /// The segment file is written; no manifest names it yet.
    SegmentWritten,
    /// The manifest naming it is written; the hot copies are still there.
    ManifestWritten,
    /// The hot copies are deleted.
    HotRowsRemoved,
}

/// A callback for each [`FlushStep`].
#[derive(Clone)]
pub struct FlushObserver(pub std::sync::Arc<dyn Fn(FlushStep) + Send + Sync>);

impl std::fmt::Debug for FlushObserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FlushObserver")
    }
}

/// Where an engine keeps its cold storage.
#[derive(Debug, Clone, Default)]
pub enum ColdStorage {
    /// `<data_dir>/storage` on the local file system.
    #[default]
    DataDir,
    /// An `object_store` URL: `file:///path`, `memory:///` (gone when the engine closes),
    /// or `s3://`, `gs://`, `az://` in a build with that store enabled.
    Url(String),
    /// A store the embedding application built (tests share one in-memory store across
    /// reopenings), with the folder inside it.
    Store(std::sync::Arc<dyn object_store::ObjectStore>, String),
}

/// The default [`EngineConfig::subscriber_buffer_events`].
pub const DEFAULT_SUBSCRIBER_BUFFER_EVENTS: usize = 10_000;
/// The default [`EngineConfig::live_inbox_rows`].
pub const DEFAULT_LIVE_INBOX_ROWS: usize = 1_000_000;

/// The default block cache: room for a few million typical rows.
pub const DEFAULT_BLOCK_CACHE_BYTES: usize = 256 << 20;

/// The default segment count above which the compaction job merges a scope's segments.
pub const DEFAULT_COMPACT_SEGMENTS_OVER: usize = 8;

impl EngineConfig {
    /// Production configuration: system clock, random ids.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        EngineConfig {
            data_dir: data_dir.into(),
            clock: Arc::new(SystemClock),
            ids: Arc::new(RandomIds),
            scan_batch_rows: 8192,
            target_partitions: None,
            simple_statements: true,
            block_cache_bytes: DEFAULT_BLOCK_CACHE_BYTES,
            parallel_scan_min_bytes: 4 << 20,
            root_password: None,
            password_cost: PasswordCost::RECOMMENDED,
            subscriber_buffer_events: DEFAULT_SUBSCRIBER_BUFFER_EVENTS,
            live_inbox_rows: DEFAULT_LIVE_INBOX_ROWS,
            job_interval: Some(std::time::Duration::from_secs(1)),
            cold_storage: ColdStorage::DataDir,
            cold_cache_bytes: DEFAULT_BLOCK_CACHE_BYTES,
            compact_segments_over: DEFAULT_COMPACT_SEGMENTS_OVER,
            flush_observer: None,
        }
    }

    /// Sets root's password (see [`EngineConfig::root_password`]).
    pub fn with_root_password(mut self, password: impl Into<String>) -> Self {
        self.root_password = Some(Secret::new(password));
        self
    }

    /// Test configuration: the given manual clock, sequential ids, the cheapest password
    /// hashing and a fixed query parallelism, so every value the engine generates, and
    /// every plan, is the same on every run and machine.
    pub fn for_tests(data_dir: impl Into<PathBuf>, clock: Arc<ManualClock>) -> Self {
        EngineConfig {
            data_dir: data_dir.into(),
            clock,
            ids: Arc::new(SequentialIds::default()),
            scan_batch_rows: 8192,
            target_partitions: Some(2),
            simple_statements: true,
            block_cache_bytes: DEFAULT_BLOCK_CACHE_BYTES,
            parallel_scan_min_bytes: 4 << 20,
            root_password: None,
            password_cost: PasswordCost::TESTING,
            subscriber_buffer_events: DEFAULT_SUBSCRIBER_BUFFER_EVENTS,
            live_inbox_rows: DEFAULT_LIVE_INBOX_ROWS,
            job_interval: None,
            cold_storage: ColdStorage::DataDir,
            cold_cache_bytes: DEFAULT_BLOCK_CACHE_BYTES,
            compact_segments_over: DEFAULT_COMPACT_SEGMENTS_OVER,
            flush_observer: None,
        }
    }
}

//! How an engine is configured: where its data lives (hot and cold), and its clock and id
//! source. [`EngineConfig::validate`] refuses settings the engine cannot run with (a zero
//! batch size, buffer or interval), with 22023 naming the field.

use std::path::PathBuf;
use std::sync::Arc;

use crate::clock::{Clock, ManualClock, SystemClock};
use crate::error::{EngineError, Result};
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
    /// How long [`crate::Engine::open`] waits for another engine of this process on the
    /// same data directory to let go of it (a dropped engine closes its database when its
    /// last session or running statement is done); after that, 55006.
    pub release_wait: std::time::Duration,
    /// How long a transaction block may sit idle (no statement running) before the job
    /// runner ends it, releasing the storage its view pins; its session's next statement
    /// gets 25P03. `None`: blocks wait for ever (PostgreSQL's
    /// `idle_in_transaction_session_timeout = 0`).
    pub idle_in_transaction_timeout: Option<std::time::Duration>,
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
            release_wait: DEFAULT_RELEASE_WAIT,
            idle_in_transaction_timeout: Some(DEFAULT_IDLE_IN_TRANSACTION_TIMEOUT),
        }
    }

    /// Checks the settings [`crate::Engine::open`] relies on, with 22023
    /// (invalid_parameter_value) naming the first field that is wrong: every count that
    /// sizes a batch, a buffer or a threshold is at least 1, an explicit query parallelism
    /// is at least 1 (`None` is one partition per core), the background job runner's
    /// interval is not zero (the runner would spin), and the password cost is one argon2
    /// accepts (otherwise every CREATE USER would fail). Zero cache sizes (no cache) and a
    /// zero `parallel_scan_min_bytes` (split every full scan) are valid.
    pub fn validate(&self) -> Result<()> {
        let counts = [
            ("scan_batch_rows", self.scan_batch_rows),
            ("subscriber_buffer_events", self.subscriber_buffer_events),
            ("live_inbox_rows", self.live_inbox_rows),
            ("compact_segments_over", self.compact_segments_over),
        ];
        if let Some((field, _)) = counts.iter().find(|(_, value)| *value == 0) {
            return Err(invalid_setting(field, "must be at least 1"));
        }
        if self.target_partitions == Some(0) {
            return Err(invalid_setting("target_partitions", "must be at least 1 (None: one partition per core)"));
        }
        if self.idle_in_transaction_timeout.is_some_and(|timeout| timeout.is_zero()) {
            return Err(invalid_setting("idle_in_transaction_timeout", "must not be zero (None: no timeout)"));
        }
        if self.job_interval.is_some_and(|interval| interval.is_zero()) {
            return Err(invalid_setting("job_interval", "must not be zero (None: no background job runner)"));
        }
        let cost = self.password_cost;
        argon2::Params::new(cost.memory_kib, cost.iterations, cost.parallelism, None)
            .map_err(|e| invalid_setting("password_cost", &format!("is not a valid argon2id cost: {e}")))?;
        Ok(())
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
            release_wait: DEFAULT_RELEASE_WAIT,
            idle_in_transaction_timeout: Some(DEFAULT_IDLE_IN_TRANSACTION_TIMEOUT),
        }
    }
}

/// How long a transaction block may sit idle before it is ended.
pub const DEFAULT_IDLE_IN_TRANSACTION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// How long an open waits for a dropped engine of this process to let go of the directory.
pub const DEFAULT_RELEASE_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// The error for a setting [`EngineConfig::validate`] refuses.
fn invalid_setting(field: &str, why: &str) -> EngineError {
    EngineError::invalid_parameter(format!("invalid engine configuration: EngineConfig::{field} {why}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::SqlState;

    fn base() -> EngineConfig {
        EngineConfig::for_tests("/nonexistent/engine-config-test", Arc::new(ManualClock::default()))
    }

    fn assert_refused(config: EngineConfig, field: &str) {
        let err = config.validate().expect_err(field);
        assert_eq!(err.sql_state(), SqlState::INVALID_PARAMETER_VALUE, "{field}: {err}");
        assert!(err.message().contains(field), "{field}: {err}");
    }

    #[test]
    fn the_shipped_configurations_are_valid() {
        assert!(EngineConfig::new("/nonexistent/engine-config-test").validate().is_ok());
        assert!(base().validate().is_ok());
        let zero_caches = EngineConfig { block_cache_bytes: 0, cold_cache_bytes: 0, parallel_scan_min_bytes: 0, ..base() };
        assert!(zero_caches.validate().is_ok());
    }

    #[test]
    fn zero_sizes_and_intervals_are_refused_by_name() {
        assert_refused(EngineConfig { scan_batch_rows: 0, ..base() }, "scan_batch_rows");
        assert_refused(EngineConfig { subscriber_buffer_events: 0, ..base() }, "subscriber_buffer_events");
        assert_refused(EngineConfig { live_inbox_rows: 0, ..base() }, "live_inbox_rows");
        assert_refused(EngineConfig { compact_segments_over: 0, ..base() }, "compact_segments_over");
        assert_refused(EngineConfig { target_partitions: Some(0), ..base() }, "target_partitions");
        assert_refused(EngineConfig { job_interval: Some(std::time::Duration::ZERO), ..base() }, "job_interval");
        let no_cost = PasswordCost { memory_kib: 0, iterations: 0, parallelism: 0 };
        assert_refused(EngineConfig { password_cost: no_cost, ..base() }, "password_cost");
    }
}

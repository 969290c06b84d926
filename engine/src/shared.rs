//! The state every session of one engine shares: configuration, hot and cold storage, the catalog,
//! the write locks, the engine's SQL functions, root's password hash, the live hub and the
//! job log. It sits below providers, executors and
//! sessions, which all receive it; it knows nothing of them.

use std::sync::Arc;

use datafusion::prelude::SessionConfig;

use crate::catalog::{CATALOG_NAME, Catalog, DEFAULT_NAMESPACE};
use crate::config::EngineConfig;
use crate::functions::FunctionContext;
use crate::job_log::JobLog;
use crate::live::LiveHub;
use crate::passwords::PasswordHash;
use crate::storage::cold::ColdStore;
use crate::storage::{Store, WriteLocks};

#[derive(Debug)]
pub struct EngineShared {
    pub config: EngineConfig,
    pub store: Arc<Store>,
    /// Cold storage: Parquet segments and manifests.
    pub cold: Arc<ColdStore>,
    pub catalog: Catalog,
    pub functions: Arc<FunctionContext>,
    pub locks: WriteLocks,
    /// Root's password from the configuration, hashed when the engine opened (`None`:
    /// root opens trusted sessions only).
    pub root_password: Option<PasswordHash>,
    /// What passwords of unknown users are checked against (made on first use).
    pub decoy_password: std::sync::OnceLock<PasswordHash>,
    /// Open subscriptions and the change feed.
    pub live: Arc<LiveHub>,
    /// Jobs that ran (`system.jobs`).
    pub jobs: JobLog,
    /// Held by every flush, retention purge and compaction: the work that writes a table
    /// scope's segments and manifests goes one at a time.
    pub segment_writes: tokio::sync::Mutex<()>,
    /// When each table was last flushed (engine clock), for `interval:S` flush policies.
    pub flush_times: std::sync::Mutex<std::collections::HashMap<u64, i64>>,
}

impl EngineShared {
    pub fn now_millis(&self) -> i64 {
        self.config.clock.now_millis()
    }

    /// When `table` was last flushed; a table not seen before counts from `now`.
    pub fn last_flush_millis(&self, table: u64, now: i64) -> i64 {
        *self.flush_times.lock().unwrap_or_else(|p| p.into_inner()).entry(table).or_insert(now)
    }

    /// Tells the configured observer a flush reached `step`.
    pub fn observe_flush(&self, step: crate::config::FlushStep) {
        if let Some(observer) = &self.config.flush_observer {
            (observer.0)(step);
        }
    }

    /// Forgets a dropped table's flush time.
    pub fn forget_table(&self, table: u64) {
        self.flush_times.lock().unwrap_or_else(|p| p.into_inner()).remove(&table);
    }

    /// Records a flush of `table` at `now`.
    pub fn flushed_at(&self, table: u64, now: i64) {
        self.flush_times.lock().unwrap_or_else(|p| p.into_inner()).insert(table, now);
    }

    /// The DataFusion configuration every session starts from.
    pub fn session_config(&self) -> SessionConfig {
        let config = match self.config.target_partitions {
            Some(partitions) => SessionConfig::new().with_target_partitions(partitions),
            None => SessionConfig::new(),
        };
        config
            .with_information_schema(true)
            .with_default_catalog_and_schema(CATALOG_NAME, DEFAULT_NAMESPACE)
            .with_create_default_catalog_and_schema(false)
    }
}

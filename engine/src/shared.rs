//! The state every session of one engine shares: configuration, hot and cold storage, the catalog,
//! the write locks, the engine's SQL functions, root's password hash, the live hub and the
//! job log. It sits below providers, executors and
//! sessions, which all receive it; it knows nothing of them.

use std::sync::{Arc, Mutex, Weak};

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
    /// Root's SCRAM verifier (wire logins), from the same configured password.
    pub root_scram: Option<crate::passwords::ScramVerifier>,
    /// The key decoy SCRAM credentials of unknown users derive from (random per open).
    pub scram_decoy_secret: [u8; 16],
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
    /// Open transaction blocks, for the idle timeout.
    pub blocks: OpenBlocks,
}

/// A transaction block as the idle timeout sees it (blocks themselves live in the
/// provider layer, above this one).
pub trait IdleBlock: Send {
    /// The engine clock when its last statement ended; `None` while one runs.
    fn idle_since(&self) -> Option<i64>;
    /// Ends the block: drops its view (and the files it pins) and its pending rows; its
    /// session's next statement learns why.
    fn expire(&mut self);
}

/// The open transaction blocks of every session (weakly: a block ends with its session).
#[derive(Default)]
pub struct OpenBlocks(Mutex<Vec<Weak<Mutex<dyn IdleBlock>>>>);

impl std::fmt::Debug for OpenBlocks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenBlocks").finish_non_exhaustive()
    }
}

impl OpenBlocks {
    pub fn register(&self, block: Weak<Mutex<dyn IdleBlock>>) {
        let mut blocks = self.0.lock().unwrap_or_else(|p| p.into_inner());
        blocks.retain(|b| b.strong_count() > 0);
        blocks.push(block);
    }

    /// Ends every block idle for at least `timeout_millis` at `now`; returns how many.
    pub fn expire_idle(&self, now: i64, timeout_millis: i64) -> usize {
        let live: Vec<Arc<Mutex<dyn IdleBlock>>> = {
            let mut blocks = self.0.lock().unwrap_or_else(|p| p.into_inner());
            blocks.retain(|b| b.strong_count() > 0);
            blocks.iter().filter_map(Weak::upgrade).collect()
        };
        let mut ended = 0;
        for block in live {
            let mut block = block.lock().unwrap_or_else(|p| p.into_inner());
            if block.idle_since().is_some_and(|since| now.saturating_sub(since) >= timeout_millis) {
                block.expire();
                ended += 1;
            }
        }
        ended
    }
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

//! The embedding API: [`Engine::open`] opens a data directory and hands out sessions.

use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::catalog::{Catalog, EntryPlanner};
use crate::config::EngineConfig;
use crate::error::{EngineError, Result};
use crate::exec::{jobs, users};
use crate::functions::FunctionContext;
use crate::ids::SnowflakeGenerator;
use crate::job_log::JobLog;
use crate::live::LiveHub;
use crate::live::hub::HubLimits;
use crate::passwords::{self, ScramCredentials, ScramVerifier, Secret};
use crate::permissions::SessionUser;
use crate::session::Session;
use crate::shared::EngineShared;
use crate::storage::cold::ColdStore;
use crate::storage::keys::{DecodedKey, decode_key};
use crate::storage::{RowScope, Store, WriteLocks};

/// An open engine. Cheap to clone; sessions may be used from many threads at once. When
/// the last clone is dropped, the background job runner stops and every subscription
/// ends with a final event; sessions still open keep working on storage.
#[derive(Clone, Debug)]
pub struct Engine {
    shared: Arc<EngineShared>,
    _running: Arc<Running>,
}

/// The engine's threads, stopped when the last [`Engine`] clone goes.
struct Running {
    shared: Arc<EngineShared>,
    jobs: Option<JobRunner>,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running").field("background_jobs", &self.jobs.is_some()).finish()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(JobRunner { handle, stop }) = self.jobs.take() {
            *stop.0.lock().unwrap_or_else(|p| p.into_inner()) = true;
            stop.1.notify_all();
            let _ = handle.join();
        }
        self.shared.live.close("the engine closed");
    }
}

/// The background job thread and its stop flag.
struct JobRunner {
    handle: JoinHandle<()>,
    stop: Arc<(Mutex<bool>, Condvar)>,
}

/// Runs due jobs every `interval` until told to stop.
fn start_job_runner(shared: Arc<EngineShared>, interval: Duration) -> JobRunner {
    let stop = Arc::new((Mutex::new(false), Condvar::new()));
    let signal = stop.clone();
    let handle = std::thread::Builder::new()
        .name("engine-jobs".into())
        .spawn(move || {
            let (stopped, wake) = &*signal;
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            let mut guard = stopped.lock().unwrap_or_else(|p| p.into_inner());
            while !*guard {
                let (next, _) = wake.wait_timeout(guard, interval).unwrap_or_else(|p| p.into_inner());
                guard = next;
                if *guard {
                    break;
                }
                drop(guard);
                // A failed job is recorded in system.jobs; the runner goes on.
                let _ = runtime.block_on(jobs::run_due(&shared));
                guard = stopped.lock().unwrap_or_else(|p| p.into_inner());
            }
        })
        .expect("the job runner thread starts");
    JobRunner { handle, stop }
}

impl Engine {
    /// Opens (or creates) the engine on `config.data_dir`.
    pub fn open(config: EngineConfig) -> Result<Engine> {
        config.validate()?;
        let store = Arc::new(Store::open(&config.data_dir.join("hot"), config.block_cache_bytes, config.release_wait)?);
        let functions = Arc::new(FunctionContext {
            clock: config.clock.clone(),
            ids: config.ids.clone(),
            snowflakes: SnowflakeGenerator::resume(0, config.clock.as_ref()),
        });
        let catalog = Catalog::load(store.clone(), EntryPlanner::new(functions.clone()), config.clock.now_millis())?;
        let cold = Arc::new(ColdStore::open_configured(&config)?);
        cold.claim_root(&store.identity()?)?;
        store.reserve_file_numbers_through(cold.highest_file_number())?;
        // Folders of tables and users dropped during a crash, and files written by a flush that
        // crashed before its manifest, are deleted before anything reads cold storage.
        let live_tables: std::collections::HashSet<u64> = catalog.tables().iter().map(|t| t.id()).collect();
        cold.collect_garbage(|table, scope| {
            live_tables.contains(&table)
                && match scope {
                    RowScope::Shared => true,
                    RowScope::User(user) => catalog.user_id_exists(*user),
                }
        })?;
        let locks = WriteLocks::default();
        let root_password = match &config.root_password {
            Some(password) => Some(passwords::hash_password(password.expose(), config.password_cost, config.ids.as_ref())?),
            None => None,
        };
        let root_scram = config.root_password.as_ref().map(|password| ScramVerifier::new(password.expose(), config.ids.as_ref()));
        let scram_decoy_secret = config.ids.next_u128().to_be_bytes();
        let live =
            LiveHub::start(HubLimits { subscriber_buffer_events: config.subscriber_buffer_events, inbox_rows: config.live_inbox_rows });
        let job_interval = config.job_interval;
        let shared = Arc::new(EngineShared {
            config,
            store,
            cold,
            catalog,
            functions,
            locks,
            root_password,
            root_scram,
            scram_decoy_secret,
            decoy_password: Default::default(),
            live,
            jobs: JobLog::default(),
            segment_writes: tokio::sync::Mutex::new(()),
            flush_times: Default::default(),
            blocks: Default::default(),
        });
        let jobs = job_interval.map(|interval| start_job_runner(shared.clone(), interval));
        Ok(Engine { shared: shared.clone(), _running: Arc::new(Running { shared, jobs }) })
    }

    /// Runs every engine job that has work now (STREAM eviction), to completion, and
    /// returns how many ran. The background runner does the same periodically; with a
    /// manual clock (tests), this is how jobs run.
    pub async fn run_jobs(&self) -> Result<usize> {
        jobs::run_due(&self.shared).await
    }

    /// A session for `user` after checking its password. A wrong password and an unknown
    /// user give the same error (28P01). Root logs in with the configured root password.
    pub fn login(&self, user: &str, password: &str) -> Result<Session> {
        let user = users::authenticate(&self.shared, user, password)?;
        Ok(Session::new(self.shared.clone(), user))
    }

    /// [`Engine::login`] for async callers (a server's connection task): the password
    /// check, argon2 at the configured cost (tens of milliseconds at the recommended one),
    /// runs on tokio's blocking pool, so the async worker awaiting it keeps serving other
    /// tasks. Outside a tokio runtime it runs in place. Dropping the future opens no
    /// session (a check already running finishes on its own thread).
    pub async fn login_async(&self, user: &str, password: &str) -> Result<Session> {
        let shared = self.shared.clone();
        let (name, password) = (user.to_string(), Secret::new(password));
        let check = move || users::authenticate(&shared, &name, password.expose());
        let user = match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn_blocking(check).await.map_err(|e| EngineError::internal(format!("the password check stopped: {e}")))??
            }
            Err(_) => check()?,
        };
        Ok(Session::new(self.shared.clone(), user))
    }

    /// The SCRAM-SHA-256 credentials a wire login of `user` is checked against (a
    /// server's password exchange): the user's verifier, or decoy credentials no proof
    /// matches, the same for every attempt, for a user that does not exist or has no
    /// password (the client then gets the same 28P01 as for a wrong password).
    pub fn scram_credentials(&self, user: &str) -> ScramCredentials {
        users::scram_credentials(&self.shared, user)
    }

    /// A trusted in-process session for `user`, who the embedding application has
    /// authenticated itself (no password is checked). 42704 when there is no such user.
    pub fn session(&self, user: &str) -> Result<Session> {
        let user = users::trusted(&self.shared, user)?;
        Ok(Session::new(self.shared.clone(), user))
    }

    /// A session as `root` (role system).
    pub fn root_session(&self) -> Session {
        Session::new(self.shared.clone(), SessionUser::root())
    }

    /// Every key and value in hot storage, in key order (for storage snapshots). User
    /// records are replaced by a placeholder: no listing shows a password hash.
    pub fn dump_storage(&self) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut entries = self.shared.store.dump()?;
        for (key, value) in &mut entries {
            if matches!(decode_key(key), DecodedKey::User(_)) {
                *value = b"<user record>".to_vec();
            }
        }
        Ok(entries)
    }

    /// The engine's shared state (for storage snapshots and embedding tools).
    pub fn shared(&self) -> &Arc<EngineShared> {
        &self.shared
    }

    /// Every stored key and value, decoded, one line each (storage snapshots, cleanup tests).
    pub fn describe_storage(&self) -> Result<Vec<String>> {
        crate::inspect::describe_storage(&self.shared)
    }

    /// The data directory this engine runs on.
    pub fn data_dir(&self) -> &std::path::Path {
        &self.shared.config.data_dir
    }

    /// Flushes RocksDB's memtables so every acknowledged write is in its files.
    pub fn flush_hot_storage(&self) -> Result<()> {
        self.shared.store.flush()
    }
}

//! Engine jobs: work that runs without a statement, each recorded in `system.jobs`.
//!
//! [`JobKind`] is the one registry: every kind of job, in the order a run takes them, and
//! the name `system.jobs` gives it. Each kind lives in a file of its own that says when it
//! has work, which locks it takes, and what it reports into the job log:
//! - [`stream_eviction`]: STREAM rows past their TTL, and EPHEMERAL rows nobody watches;
//! - [`flush_policy`]: tables whose `FLUSH_POLICY` is due are flushed;
//! - [`retention`]: tombstones past `DELETED_RETENTION_HOURS` are purged for good;
//! - [`compaction`]: scopes with too many segments are merged into one;
//! - [`transaction_timeout`]: transaction blocks idle past the timeout are ended (their
//!   views pin files);
//! - [`file_cleanup`]: segment files purges and compactions retired, deleted once no
//!   reader holds them (last: the run's own rewrites hold none by then).
//!
//! [`run_due`] runs every kind that has work now, to completion: the engine's background
//! runner calls it every `EngineConfig::job_interval`, tests and scenarios call it through
//! `Engine::run_jobs` with a manual clock, so nothing waits on real time. One job's failure
//! (recorded in `system.jobs`) stops none of the others.

pub mod compaction;
pub mod file_cleanup;
pub mod flush_policy;
pub mod retention;
pub(crate) mod scope_rewrite;
pub mod stream_eviction;
pub mod transaction_timeout;

use std::sync::Arc;

use crate::error::{EngineError, Result};
use crate::shared::EngineShared;

/// Every kind of job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    StreamEviction,
    /// A flush, by a flush policy (FLUSH TABLE records the same kind).
    Flush,
    RetentionPurge,
    Compaction,
    TransactionTimeout,
    FileCleanup,
}

impl JobKind {
    /// Every kind, in the order a run takes them.
    pub const ALL: [JobKind; 6] = [
        JobKind::StreamEviction,
        JobKind::Flush,
        JobKind::RetentionPurge,
        JobKind::Compaction,
        JobKind::TransactionTimeout,
        JobKind::FileCleanup,
    ];

    /// Its name in `system.jobs.job_type`.
    pub fn name(self) -> &'static str {
        match self {
            JobKind::StreamEviction => "stream_eviction",
            JobKind::Flush => "flush",
            JobKind::RetentionPurge => "retention_purge",
            JobKind::Compaction => "compaction",
            JobKind::TransactionTimeout => "transaction_timeout",
            JobKind::FileCleanup => "file_cleanup",
        }
    }

    /// Runs the jobs of this kind that have work now. Returns how many ran.
    async fn run_due(self, shared: &Arc<EngineShared>) -> Result<usize> {
        match self {
            JobKind::StreamEviction => stream_eviction::run_due(shared).await,
            JobKind::Flush => flush_policy::run_due(shared).await,
            JobKind::RetentionPurge => retention::run_due(shared).await,
            JobKind::Compaction => compaction::run_due(shared).await,
            JobKind::TransactionTimeout => transaction_timeout::run_due(shared).await,
            JobKind::FileCleanup => file_cleanup::run_due(shared).await,
        }
    }
}

/// Runs every job that has work now. Returns how many ran; the first error, after all of
/// them ran.
pub async fn run_due(shared: &Arc<EngineShared>) -> Result<usize> {
    let mut tally = JobTally::default();
    for kind in JobKind::ALL {
        tally.add(kind.run_due(shared).await);
    }
    tally.finish()
}

/// Counts the jobs that ran and keeps the first error: one job's failure (recorded in
/// `system.jobs`) does not stop the others.
#[derive(Default)]
pub(crate) struct JobTally {
    ran: usize,
    first_error: Option<EngineError>,
}

impl JobTally {
    /// Counts `done` jobs of a successful outcome, or keeps its error.
    pub(crate) fn add(&mut self, outcome: Result<usize>) {
        match outcome {
            Ok(done) => self.ran += done,
            Err(error) => {
                self.first_error.get_or_insert(error);
            }
        }
    }

    pub(crate) fn finish(self) -> Result<usize> {
        match self.first_error {
            Some(error) => Err(error),
            None => Ok(self.ran),
        }
    }
}

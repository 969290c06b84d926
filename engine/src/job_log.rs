//! The record of engine jobs (work that runs without a statement: STREAM eviction now,
//! flushes and purges later), which `system.jobs` shows.
//!
//! The log is in memory and keeps the most recent [`JOBS_KEPT`] jobs: a job's effect is
//! in storage, and its record is for watching the engine work. A restart starts an empty
//! log (every job is safe to run again).

use std::collections::VecDeque;
use std::sync::Mutex;

/// How many finished jobs the log keeps.
pub const JOBS_KEPT: usize = 1_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStatus {
    Running,
    Completed,
    Failed,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Running => "running",
            JobStatus::Completed => "completed",
            JobStatus::Failed => "failed",
        }
    }
}

/// One job, as `system.jobs` shows it.
#[derive(Debug, Clone)]
pub struct JobRecord {
    pub job_id: u64,
    /// What it does (`stream_eviction`, ...).
    pub job_type: &'static str,
    pub namespace: Option<String>,
    pub table: Option<String>,
    pub status: JobStatus,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub completed_at: Option<i64>,
    pub rows_affected: u64,
    pub error_message: Option<String>,
}

#[derive(Debug, Default)]
pub struct JobLog {
    state: Mutex<LogState>,
}

#[derive(Debug, Default)]
struct LogState {
    records: VecDeque<JobRecord>,
    last_id: u64,
}

impl JobLog {
    fn lock(&self) -> std::sync::MutexGuard<'_, LogState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a job that starts now; returns its id.
    pub fn start(&self, job_type: &'static str, namespace: Option<&str>, table: Option<&str>, now: i64) -> u64 {
        let mut state = self.lock();
        state.last_id += 1;
        let job_id = state.last_id;
        state.records.push_back(JobRecord {
            job_id,
            job_type,
            namespace: namespace.map(str::to_string),
            table: table.map(str::to_string),
            status: JobStatus::Running,
            created_at: now,
            started_at: Some(now),
            completed_at: None,
            rows_affected: 0,
            error_message: None,
        });
        while state.records.len() > JOBS_KEPT {
            state.records.pop_front();
        }
        job_id
    }

    /// Records how a job ended: the rows it affected, or its error.
    pub fn finish(&self, job_id: u64, now: i64, outcome: Result<u64, String>) {
        let mut state = self.lock();
        if let Some(record) = state.records.iter_mut().find(|r| r.job_id == job_id) {
            record.completed_at = Some(now);
            match outcome {
                Ok(rows) => {
                    record.status = JobStatus::Completed;
                    record.rows_affected = rows;
                }
                Err(message) => {
                    record.status = JobStatus::Failed;
                    record.error_message = Some(message);
                }
            }
        }
    }

    /// Every kept job, oldest first.
    pub fn list(&self) -> Vec<JobRecord> {
        self.lock().records.iter().cloned().collect()
    }
}

//! Where the engine reads the time: the system clock in production, a manual clock in tests.
//!
//! Every timestamp the engine writes (`_updated`, `created_at`, `NOW()`, snowflake ids)
//! comes from the configured [`Clock`], so a test that uses [`ManualClock`] gets the same
//! values on every run and advances time explicitly instead of sleeping.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A source of wall-clock time in milliseconds since the Unix epoch.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now_millis(&self) -> i64;
}

/// The operating system's clock.
#[derive(Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_millis(&self) -> i64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
    }
}

/// A clock that only moves when told to.
#[derive(Debug)]
pub struct ManualClock {
    millis: AtomicI64,
}

impl ManualClock {
    /// 2024-01-01T00:00:00Z, the start of every test clock.
    pub const DEFAULT_START_MILLIS: i64 = 1_704_067_200_000;

    pub fn new(start_millis: i64) -> Self {
        ManualClock { millis: AtomicI64::new(start_millis) }
    }

    pub fn advance_millis(&self, millis: i64) {
        self.millis.fetch_add(millis, Ordering::SeqCst);
    }

    pub fn set_millis(&self, millis: i64) {
        self.millis.store(millis, Ordering::SeqCst);
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        ManualClock::new(Self::DEFAULT_START_MILLIS)
    }
}

impl Clock for ManualClock {
    fn now_millis(&self) -> i64 {
        self.millis.load(Ordering::SeqCst)
    }
}

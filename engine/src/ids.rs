//! Where the engine gets unique ids: snowflake ids (`SNOWFLAKE_ID()`) and UUIDs (`UUID()`).
//!
//! Snowflake ids are derived from the configured clock and are strictly increasing within an
//! engine. UUIDs come from an [`IdSource`]: random in production, a counter in tests, so
//! test runs are reproducible.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::clock::Clock;

/// A source of 128-bit random material for UUIDs.
pub trait IdSource: Send + Sync + std::fmt::Debug {
    fn next_u128(&self) -> u128;
}

/// Random ids from the operating system's generator.
#[derive(Debug, Default)]
pub struct RandomIds;

impl IdSource for RandomIds {
    fn next_u128(&self) -> u128 {
        uuid::Uuid::new_v4().as_u128()
    }
}

/// Deterministic ids: 1, 2, 3, ... (mixed so they look like UUIDs).
#[derive(Debug, Default)]
pub struct SequentialIds {
    next: AtomicU64,
}

impl IdSource for SequentialIds {
    fn next_u128(&self) -> u128 {
        let n = self.next.fetch_add(1, Ordering::SeqCst) + 1;
        n as u128
    }
}

/// Formats 128 bits as a version-4 style UUID string.
pub fn format_uuid(bits: u128) -> String {
    uuid::Builder::from_random_bytes(bits.to_be_bytes()).into_uuid().hyphenated().to_string()
}

/// Milliseconds of the snowflake epoch (2020-01-01T00:00:00Z).
const SNOWFLAKE_EPOCH_MILLIS: i64 = 1_577_836_800_000;
const SEQUENCE_BITS: u32 = 12;
const NODE_BITS: u32 = 10;

/// Generates 64-bit snowflake ids: 41 bits of milliseconds since 2020, 10 bits of node,
/// 12 bits of sequence. Ids are strictly increasing even when the clock stands still or
/// steps back (the sequence then borrows from the next millisecond).
#[derive(Debug)]
pub struct SnowflakeGenerator {
    node: u64,
    last: Mutex<i64>,
}

impl SnowflakeGenerator {
    pub fn new(node: u16) -> Self {
        SnowflakeGenerator { node: u64::from(node) & ((1 << NODE_BITS) - 1), last: Mutex::new(0) }
    }

    /// A generator for an engine being opened: ids start after every id the current
    /// millisecond could have produced before, so a restart never repeats an id even
    /// when the clock has not moved (a test clock) or the process restarts quickly.
    pub fn resume(node: u16, clock: &dyn Clock) -> Self {
        let generator = SnowflakeGenerator::new(node);
        let millis = (clock.now_millis() - SNOWFLAKE_EPOCH_MILLIS).max(0);
        *generator.last.lock().unwrap_or_else(|p| p.into_inner()) = ((millis + 1) << (NODE_BITS + SEQUENCE_BITS)) - 1;
        generator
    }

    pub fn next_id(&self, clock: &dyn Clock) -> i64 {
        let millis = (clock.now_millis() - SNOWFLAKE_EPOCH_MILLIS).max(0);
        let candidate = (millis << (NODE_BITS + SEQUENCE_BITS)) | ((self.node as i64) << SEQUENCE_BITS);
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let next = if candidate > *last { candidate } else { *last + 1 };
        *last = next;
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    #[test]
    fn snowflake_ids_increase_when_the_clock_stands_still() {
        let clock = ManualClock::default();
        let generator = SnowflakeGenerator::new(0);
        let a = generator.next_id(&clock);
        let b = generator.next_id(&clock);
        clock.advance_millis(1);
        let c = generator.next_id(&clock);
        assert!(a < b && b < c);
    }

    #[test]
    fn a_resumed_generator_never_repeats_an_id() {
        let clock = ManualClock::default();
        let before = SnowflakeGenerator::new(0).next_id(&clock);
        let after = SnowflakeGenerator::resume(0, &clock).next_id(&clock);
        assert!(after > before);
    }

    #[test]
    fn sequential_uuids_are_well_formed_and_distinct() {
        let ids = SequentialIds::default();
        let a = format_uuid(ids.next_u128());
        let b = format_uuid(ids.next_u128());
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
    }
}

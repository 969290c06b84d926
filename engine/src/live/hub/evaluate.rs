//! Each subscription's evaluator: the dispatcher hands it runs of changes, and it
//! evaluates its predicate over them in order, on a pooled thread of its own, so an
//! expensive predicate delays only its own subscription (see the hub's documentation).

use std::collections::VecDeque;
use std::sync::Arc;

use crate::live::change::ChangeBatch;
use crate::live::event::LiveEvent;
use crate::live::hub::{Entry, LiveHub};

/// A subscription's runs waiting for its evaluator.
#[derive(Default)]
pub(super) struct PendingRuns {
    /// Each run with the first publish ticket of the dispatch that made it.
    runs: VecDeque<(u64, Arc<ChangeBatch>)>,
    /// Rows of `runs`.
    rows: usize,
    /// The first ticket of the run being evaluated now.
    current: Option<u64>,
    /// Whether an evaluator is at work (it takes runs until none is left).
    running: bool,
}

impl PendingRuns {
    /// Whether a change published with ticket `ticket` or earlier may still be waiting.
    pub(super) fn holds_through(&self, ticket: u64) -> bool {
        self.current.is_some_and(|first| first <= ticket) || self.runs.front().is_some_and(|(first, _)| *first <= ticket)
    }
}

impl LiveHub {
    /// Queues a run for one subscription's evaluator, starting it when idle. A
    /// subscription whose unevaluated rows would pass its buffer falls behind alone.
    pub(super) fn hand_over(self: &Arc<Self>, entry: &Arc<Entry>, run: Arc<ChangeBatch>, ticket: u64) {
        let mut pending = entry.pending.lock().unwrap_or_else(|p| p.into_inner());
        if pending.rows > 0 && pending.rows + run.len() > self.limits.subscriber_buffer_events {
            drop(pending);
            if self.unregister(&entry.live_id).is_some() {
                entry.queue.fell_behind("the subscriber fell behind: its changes could not be evaluated as fast as they came");
            }
            return;
        }
        pending.rows += run.len();
        pending.runs.push_back((ticket, run));
        if pending.running {
            return;
        }
        pending.running = true;
        drop(pending);
        let spawned = match self.evaluators.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            Some(pool) => {
                let (hub, entry) = (self.clone(), entry.clone());
                pool.spawn_blocking(move || hub.evaluate(&entry));
                true
            }
            None => false,
        };
        if !spawned {
            // No pool (it could not start, or the hub is closing): evaluate here.
            self.evaluate(entry);
        }
    }

    /// One subscription's evaluator: takes its runs in order until none is left.
    fn evaluate(&self, entry: &Arc<Entry>) {
        loop {
            let run = {
                let mut pending = entry.pending.lock().unwrap_or_else(|p| p.into_inner());
                match pending.runs.pop_front() {
                    Some((ticket, run)) => {
                        pending.rows -= run.len();
                        pending.current = Some(ticket);
                        run
                    }
                    None => {
                        pending.running = false;
                        break;
                    }
                }
            };
            // A bug in evaluating a predicate ends this subscription, never the others.
            let delivered = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.deliver(entry, &run)));
            if delivered.is_err() && self.unregister(&entry.live_id).is_some() {
                entry.queue.fell_behind("delivering a change failed inside the engine");
            }
            entry.pending.lock().unwrap_or_else(|p| p.into_inner()).current = None;
            self.evaluated.send_modify(|n| *n += 1);
        }
        self.evaluated.send_modify(|n| *n += 1);
    }

    /// Evaluates one run with a subscription's predicate and queues the events.
    fn deliver(&self, entry: &Arc<Entry>, run: &ChangeBatch) {
        let registration = &entry.registration;
        if run.new_rows.schema().fields() != entry.shape.fields() {
            // Rows of a shape the predicate was not planned for: the table was altered.
            if self.unregister(&entry.live_id).is_some() {
                let table = format!("{}.{}", registration.about.namespace, registration.about.table);
                entry.queue.finish(LiveEvent::end(format!("table {table} changed (ALTER TABLE); subscribe again")));
            }
            return;
        }
        let mut events = Vec::new();
        match run.events(registration.filter.as_ref(), registration.start_seq, &mut events) {
            Ok(()) => {
                if !entry.queue.push_rows(events) {
                    self.unregister(&entry.live_id);
                }
            }
            Err(error) => {
                if self.unregister(&entry.live_id).is_some() {
                    entry.queue.finish_with(|resume| {
                        LiveEvent::error(
                            error.sql_state().code(),
                            resume,
                            format!(
                                "evaluating the subscription's predicate failed: {}; subscribe again with from_seq = {resume}",
                                error.message()
                            ),
                        )
                    });
                }
            }
        }
    }
}

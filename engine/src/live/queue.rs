//! One subscription's bounded event queue: the dispatcher appends without ever waiting,
//! the subscriber takes events in order, and a full queue ends the subscription.

use std::collections::VecDeque;
use std::sync::Mutex;

use tokio::sync::Notify;

use crate::live::event::LiveEvent;

/// The SQLSTATE of the error event that ends a subscriber who fell behind (PostgreSQL's
/// "configuration limit exceeded": the queue's capacity is configuration).
pub const FELL_BEHIND: &str = "53400";

#[derive(Debug)]
pub struct EventQueue {
    state: Mutex<QueueState>,
    notify: Notify,
    capacity: usize,
}

#[derive(Debug)]
struct QueueState {
    events: VecDeque<LiveEvent>,
    /// A final event is queued (or was taken): nothing more is added.
    ended: bool,
    /// The `_seq` of the last row event queued (where a subscriber resumes).
    last_seq: u64,
    /// Row events queued so far.
    changes: u64,
}

impl EventQueue {
    /// An empty queue of a subscription whose initial rows end at `_seq` `start_seq`.
    pub fn new(capacity: usize, start_seq: u64) -> Self {
        EventQueue {
            state: Mutex::new(QueueState { events: VecDeque::new(), ended: false, last_seq: start_seq, changes: 0 }),
            notify: Notify::new(),
            capacity: capacity.max(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends row events. Those that do not fit end the queue with an error event that
    /// names the last `_seq` queued. Returns `false` when the queue has ended.
    pub fn push_rows(&self, events: Vec<LiveEvent>) -> bool {
        if events.is_empty() {
            return !self.is_ended();
        }
        let mut state = self.lock();
        if state.ended {
            return false;
        }
        for event in events {
            if state.events.len() >= self.capacity {
                let resume = state.last_seq;
                state.events.push_back(LiveEvent::error(
                    FELL_BEHIND,
                    resume,
                    format!(
                        "the subscriber fell behind: its buffer of {} events is full; subscribe again with from_seq = {resume}",
                        self.capacity
                    ),
                ));
                state.ended = true;
                break;
            }
            if let Some(seq) = event.seq {
                state.last_seq = seq;
            }
            state.changes += 1;
            state.events.push_back(event);
        }
        let ended = state.ended;
        drop(state);
        self.notify.notify_one();
        !ended
    }

    /// Ends the queue with `event` (an end or error event) unless it has ended already.
    /// The event goes after everything queued. Returns whether this call ended it.
    pub fn finish(&self, event: LiveEvent) -> bool {
        self.finish_with(|_| event)
    }

    /// Ends the queue because the feed lost changes for it: an error event that says
    /// where to resume.
    pub fn fell_behind(&self, why: &str) -> bool {
        self.finish_with(|resume| LiveEvent::error(FELL_BEHIND, resume, format!("{why}; subscribe again with from_seq = {resume}")))
    }

    /// Ends the queue with the event `make` builds from the last `_seq` queued, read under
    /// the same lock that ends it (no row event can slip in between).
    pub fn finish_with(&self, make: impl FnOnce(u64) -> LiveEvent) -> bool {
        let mut state = self.lock();
        if state.ended {
            return false;
        }
        let event = make(state.last_seq);
        state.ended = true;
        state.events.push_back(event);
        drop(state);
        self.notify.notify_one();
        true
    }

    /// The next event, if one is queued.
    pub fn pop(&self) -> Option<LiveEvent> {
        self.lock().events.pop_front()
    }

    /// Every queued event.
    pub fn drain(&self) -> Vec<LiveEvent> {
        self.lock().events.drain(..).collect()
    }

    /// Waits for the next event; `None` once the final event has been taken.
    pub async fn next(&self) -> Option<LiveEvent> {
        loop {
            let notified = self.notify.notified();
            {
                let mut state = self.lock();
                if let Some(event) = state.events.pop_front() {
                    return Some(event);
                }
                if state.ended {
                    return None;
                }
            }
            notified.await;
        }
    }

    pub fn is_ended(&self) -> bool {
        self.lock().ended
    }

    /// The `_seq` of the last row event queued (the start of the subscription before any).
    pub fn last_seq(&self) -> u64 {
        self.lock().last_seq
    }

    /// Row events queued so far.
    pub fn changes(&self) -> u64 {
        self.lock().changes
    }

    /// Events waiting to be taken.
    pub fn len(&self) -> usize {
        self.lock().events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

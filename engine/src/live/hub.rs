//! The registry of open subscriptions, the writers' inbox, the dispatcher thread and each
//! subscription's evaluator.
//!
//! The dispatcher decodes what writers committed and joins runs of one feed and row shape;
//! it never evaluates a predicate. It hands each run to every subscription of the feed
//! (a pointer, no copy), and each subscription's runs are evaluated by its own evaluator
//! (a thread from a pool, one at a time per subscription, in order). A subscription whose
//! predicate cannot keep up falls behind alone: past its buffer it is ended with an error
//! event naming the `_seq` to resume from, and the others keep receiving. A run whose
//! row shape is not the one a subscription's predicate was planned for (an ALTER TABLE
//! committed, its subscriptions not ended yet) is never evaluated by it: the subscription
//! ends as the ALTER would end it.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::thread::JoinHandle;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::physical_expr::PhysicalExpr;
use tokio::sync::watch;

use crate::live::change::{ChangeBatch, FeedKey};
use crate::live::event::LiveEvent;
use crate::live::queue::EventQueue;

mod evaluate;
use evaluate::PendingRuns;

/// Who opened a subscription, on what, and how.
#[derive(Debug, Clone)]
pub struct SubscriptionAbout {
    pub user_id: u64,
    pub user_name: String,
    pub namespace: String,
    pub table: String,
    /// The statement (or API call) that opened it.
    pub query: String,
    pub created_at: i64,
}

/// What `system.live_queries` shows of a subscription.
#[derive(Debug, Clone)]
pub struct LiveQueryInfo {
    pub live_id: String,
    pub about: SubscriptionAbout,
    /// Change events delivered to its queue so far.
    pub changes: u64,
}

/// A subscription about to be opened.
pub struct Registration {
    pub about: SubscriptionAbout,
    pub feed: FeedKey,
    pub filter: Option<Arc<dyn PhysicalExpr>>,
    /// The `_seq` high-water mark when it was registered: it receives the changes after.
    pub start_seq: u64,
}

struct Entry {
    /// The N of `lq-N` (the order subscriptions were opened in).
    number: u64,
    live_id: String,
    registration: Registration,
    /// The row shape the predicate was planned for.
    shape: SchemaRef,
    queue: EventQueue,
    /// Runs handed over by the dispatcher, not yet evaluated.
    pending: Mutex<PendingRuns>,
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription").field("live_id", &self.live_id).finish()
    }
}

#[derive(Default)]
struct Registry {
    by_id: HashMap<String, Arc<Entry>>,
    by_feed: HashMap<FeedKey, Vec<Arc<Entry>>>,
    /// Open subscriptions per table id.
    by_table: HashMap<u64, usize>,
}

/// Builds a feed's change batch from what a writer committed; runs on the dispatcher
/// thread, so decoding rows costs the writer nothing.
pub type MakeChanges = Box<dyn FnOnce() -> crate::error::Result<ChangeBatch> + Send>;

/// A commit waiting in the inbox.
struct Pending {
    ticket: u64,
    feed: FeedKey,
    make: MakeChanges,
}

#[derive(Default)]
struct Inbox {
    items: VecDeque<Pending>,
    rows: usize,
    closed: bool,
    dispatcher_waiting: bool,
}

/// Limits of the hub (from the engine's configuration).
#[derive(Debug, Clone, Copy)]
pub struct HubLimits {
    /// Events a subscription's queue holds before the subscriber is ended.
    pub subscriber_buffer_events: usize,
    /// Changed rows the inbox holds before changes of a feed are dropped (and its
    /// subscriptions ended).
    pub inbox_rows: usize,
}

pub struct LiveHub {
    limits: HubLimits,
    registry: RwLock<Registry>,
    open: AtomicUsize,
    inbox: Mutex<Inbox>,
    wake: Condvar,
    published: AtomicU64,
    dispatched: watch::Sender<u64>,
    /// Bumped whenever an evaluator finishes a run (what `settle` waits on).
    evaluated: watch::Sender<u64>,
    next_id: AtomicU64,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// The pool evaluators run on (its blocking threads, kept a while for reuse).
    evaluators: Mutex<Option<tokio::runtime::Runtime>>,
}

impl std::fmt::Debug for LiveHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveHub").field("open", &self.open.load(Ordering::Relaxed)).finish()
    }
}

impl LiveHub {
    /// A hub with its dispatcher thread running.
    pub fn start(limits: HubLimits) -> Arc<LiveHub> {
        let hub = Arc::new(LiveHub {
            limits,
            registry: RwLock::new(Registry::default()),
            open: AtomicUsize::new(0),
            inbox: Mutex::new(Inbox::default()),
            wake: Condvar::new(),
            published: AtomicU64::new(0),
            dispatched: watch::Sender::new(0),
            evaluated: watch::Sender::new(0),
            next_id: AtomicU64::new(0),
            thread: Mutex::new(None),
            evaluators: Mutex::new(
                tokio::runtime::Builder::new_current_thread().max_blocking_threads(256).thread_name("live-evaluate").build().ok(),
            ),
        });
        let worker = hub.clone();
        let handle = std::thread::Builder::new()
            .name("live-dispatch".into())
            .spawn(move || worker.dispatch_loop())
            .expect("the dispatcher thread starts");
        *hub.thread.lock().unwrap_or_else(|p| p.into_inner()) = Some(handle);
        hub
    }

    fn registry(&self) -> std::sync::RwLockReadGuard<'_, Registry> {
        self.registry.read().unwrap_or_else(|p| p.into_inner())
    }

    fn registry_mut(&self) -> std::sync::RwLockWriteGuard<'_, Registry> {
        self.registry.write().unwrap_or_else(|p| p.into_inner())
    }

    fn inbox(&self) -> std::sync::MutexGuard<'_, Inbox> {
        self.inbox.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether any subscription watches `feed` (writers publish only then). Writers ask
    /// under the feed's write lock, the lock subscriptions register under.
    pub fn watches(&self, feed: FeedKey) -> bool {
        self.open.load(Ordering::Acquire) > 0 && self.registry().by_feed.contains_key(&feed)
    }

    /// Whether any subscription, of any user, is open on the table.
    pub fn watches_table(&self, table_id: u64) -> bool {
        self.open.load(Ordering::Acquire) > 0 && self.registry().by_table.contains_key(&table_id)
    }

    /// Opens a subscription (call under the feed's write lock, with the high-water mark
    /// read under it); its initial rows are given with [`Subscription::with_initial`].
    pub fn register(self: &Arc<Self>, registration: Registration, schema: SchemaRef) -> Subscription {
        let number = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let live_id = format!("lq-{number}");
        let queue = EventQueue::new(self.limits.subscriber_buffer_events, registration.start_seq);
        let entry =
            Arc::new(Entry { number, live_id: live_id.clone(), registration, shape: schema.clone(), queue, pending: Mutex::default() });
        let mut registry = self.registry_mut();
        // `close` marks the inbox closed before it ends what the registry holds, so a
        // registration that sees it open under the registry lock is ended by `close`.
        if self.inbox().closed {
            drop(registry);
            entry.queue.finish(LiveEvent::end("the engine is closing"));
        } else {
            registry.by_id.insert(live_id, entry.clone());
            registry.by_feed.entry(entry.registration.feed).or_default().push(entry.clone());
            *registry.by_table.entry(entry.registration.feed.table_id).or_default() += 1;
            self.open.fetch_add(1, Ordering::AcqRel);
            drop(registry);
        }
        Subscription { hub: self.clone(), entry, initial: VecDeque::new(), schema }
    }

    /// Removes a subscription from the registry (it gets no more events).
    fn unregister(&self, live_id: &str) -> Option<Arc<Entry>> {
        let mut registry = self.registry_mut();
        let entry = registry.by_id.remove(live_id)?;
        let feed = entry.registration.feed;
        if let Some(list) = registry.by_feed.get_mut(&feed) {
            list.retain(|e| e.live_id != live_id);
            if list.is_empty() {
                registry.by_feed.remove(&feed);
            }
        }
        if let Some(count) = registry.by_table.get_mut(&feed.table_id) {
            *count -= 1;
            if *count == 0 {
                registry.by_table.remove(&feed.table_id);
            }
        }
        self.open.fetch_sub(1, Ordering::AcqRel);
        Some(entry)
    }

    /// Ends one subscription with `event`. Returns what it was, if it was open.
    pub fn end(&self, live_id: &str, event: LiveEvent) -> Option<LiveQueryInfo> {
        let entry = self.unregister(live_id)?;
        entry.queue.finish(event);
        Some(info(&entry))
    }

    /// Ends every subscription that matches `which` with an end event saying `why`.
    pub fn end_where(&self, which: impl Fn(&LiveQueryInfo, FeedKey) -> bool, why: &str) -> usize {
        let ids: Vec<String> =
            self.registry().by_id.values().filter(|e| which(&info(e), e.registration.feed)).map(|e| e.live_id.clone()).collect();
        ids.iter().filter(|id| self.end(id, LiveEvent::end(why)).is_some()).count()
    }

    /// The open subscriptions, in the order they were opened.
    pub fn list(&self) -> Vec<LiveQueryInfo> {
        let mut all: Vec<Arc<Entry>> = self.registry().by_id.values().cloned().collect();
        all.sort_by_key(|e| e.number);
        all.iter().map(|e| info(e)).collect()
    }

    /// Hands a commit of `rows` rows of `feed` to the dispatcher, which builds its change
    /// batch with `make`. Never waits: when the inbox is full, the feed's subscriptions
    /// are ended instead (they resume from their last `_seq`).
    pub fn publish(&self, feed: FeedKey, rows: usize, make: MakeChanges) {
        if rows == 0 {
            return;
        }
        let mut inbox = self.inbox();
        if inbox.closed {
            return;
        }
        if !inbox.items.is_empty() && inbox.rows + rows > self.limits.inbox_rows {
            drop(inbox);
            self.fail_feed(feed, "the engine fell behind delivering this table's changes");
            return;
        }
        let ticket = self.published.fetch_add(1, Ordering::AcqRel) + 1;
        inbox.items.push_back(Pending { ticket, feed, make });
        inbox.rows += rows;
        let wake = inbox.dispatcher_waiting;
        drop(inbox);
        if wake {
            self.wake.notify_one();
        }
    }

    /// Ends the subscriptions of `feed` with an error event: a change of theirs could not
    /// be delivered (they resume from their last `_seq`).
    pub fn fail_feed(&self, feed: FeedKey, why: &str) {
        let ids: Vec<String> =
            self.registry().by_feed.get(&feed).map(|l| l.iter().map(|e| e.live_id.clone()).collect()).unwrap_or_default();
        for id in ids {
            if let Some(entry) = self.unregister(&id) {
                entry.queue.fell_behind(why);
            }
        }
    }

    /// Waits until every change published before the call has been delivered to the
    /// subscription queues (tests and scenarios use it to read "everything so far").
    pub async fn settle(&self) {
        self.settle_where(|_| true).await
    }

    /// Like [`LiveHub::settle`], for the subscriptions of the feeds `which` names only
    /// (a slow subscriber of another table delays nothing here).
    pub async fn settle_where(&self, which: impl Fn(FeedKey) -> bool) {
        let target = self.published.load(Ordering::Acquire);
        let mut seen = self.dispatched.subscribe();
        let _ = seen.wait_for(|done| *done >= target).await;
        let mut progress = self.evaluated.subscribe();
        loop {
            progress.borrow_and_update();
            let waiting: Vec<Arc<Entry>> = self.registry().by_id.values().filter(|e| which(e.registration.feed)).cloned().collect();
            if !waiting.iter().any(|e| e.pending.lock().unwrap_or_else(|p| p.into_inner()).holds_through(target)) {
                return;
            }
            if progress.changed().await.is_err() {
                return;
            }
        }
    }

    /// Stops the dispatcher after it delivered what is queued (and the evaluators what
    /// they were handed), and ends every subscription with an end event saying `why`.
    pub fn close(&self, why: &str) {
        {
            let mut inbox = self.inbox();
            inbox.closed = true;
        }
        self.wake.notify_all();
        if let Some(handle) = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = handle.join();
            // What was committed before the close reaches every queue before its end event
            // (the evaluators finish the runs they were handed; nothing new comes).
            futures::executor::block_on(self.settle());
        }
        self.end_where(|_, _| true, why);
        self.dispatched.send_replace(self.published.load(Ordering::Acquire));
    }

    fn dispatch_loop(self: &Arc<Self>) {
        let mut first_ticket = 1;
        loop {
            let items: Vec<Pending> = {
                let mut inbox = self.inbox();
                while inbox.items.is_empty() && !inbox.closed {
                    inbox.dispatcher_waiting = true;
                    inbox = self.wake.wait(inbox).unwrap_or_else(|p| p.into_inner());
                    inbox.dispatcher_waiting = false;
                }
                if inbox.items.is_empty() {
                    return;
                }
                inbox.rows = 0;
                inbox.items.drain(..).collect()
            };
            let last_ticket = items.last().map(|p| p.ticket).unwrap_or(0);
            let run_ticket = first_ticket;
            first_ticket = last_ticket + 1;
            let feeds: Vec<FeedKey> = items.iter().map(|p| p.feed).collect();
            // A bug in decoding or evaluating a predicate must not stop delivery for
            // everyone (and leave `settle` waiting forever): the feeds of the run end.
            let run = || {
                let mut batches = Vec::with_capacity(items.len());
                for pending in items {
                    match (pending.make)() {
                        Ok(batch) if !batch.is_empty() => batches.push(Arc::new(batch)),
                        Ok(_) => {}
                        Err(error) => self.fail_feed(pending.feed, &format!("a change could not be delivered ({})", error.message())),
                    }
                }
                self.dispatch(batches, run_ticket);
            };
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)).is_err() {
                for feed in feeds {
                    self.fail_feed(feed, "delivering a change failed inside the engine");
                }
            }
            self.dispatched.send_replace(last_ticket);
        }
    }

    /// Hands queued change sets to their subscriptions: per feed (in order), runs of one
    /// row shape are joined, and each subscription's evaluator evaluates its predicate
    /// once over the run. `ticket`: the first publish ticket among them.
    fn dispatch(self: &Arc<Self>, items: Vec<Arc<ChangeBatch>>, ticket: u64) {
        let mut runs: Vec<Vec<Arc<ChangeBatch>>> = Vec::new();
        let mut open_run: HashMap<FeedKey, usize> = HashMap::new();
        for item in items {
            match open_run.get(&item.feed) {
                Some(&at) if runs[at][0].new_rows.schema() == item.new_rows.schema() => runs[at].push(item),
                _ => {
                    open_run.insert(item.feed, runs.len());
                    runs.push(vec![item]);
                }
            }
        }
        for run in runs {
            let Some(subscribers) = self.registry().by_feed.get(&run[0].feed).cloned() else { continue };
            let joined = match ChangeBatch::concat(&run) {
                Ok(joined) => joined,
                Err(error) => {
                    for entry in subscribers {
                        self.end(&entry.live_id, LiveEvent::error(error.sql_state().code(), 0, error.message().to_string()));
                    }
                    continue;
                }
            };
            for entry in subscribers {
                self.hand_over(&entry, joined.clone(), ticket);
            }
        }
    }
}

impl Drop for LiveHub {
    fn drop(&mut self) {
        // The pool may be dropped from inside an async context: never block there.
        if let Some(pool) = self.evaluators.lock().unwrap_or_else(|p| p.into_inner()).take() {
            pool.shutdown_background();
        }
    }
}

fn info(entry: &Entry) -> LiveQueryInfo {
    LiveQueryInfo { live_id: entry.live_id.clone(), about: entry.registration.about.clone(), changes: entry.queue.changes() }
}

/// An open subscription: its initial rows, then its events, in order. Dropping it closes
/// it.
pub struct Subscription {
    hub: Arc<LiveHub>,
    entry: Arc<Entry>,
    initial: VecDeque<LiveEvent>,
    schema: SchemaRef,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription").field("live_id", &self.entry.live_id).finish()
    }
}

impl Subscription {
    /// Sets the events it starts with (its initial rows).
    pub fn with_initial(mut self, events: Vec<LiveEvent>) -> Self {
        self.initial = events.into();
        self
    }

    /// The id `KILL LIVE QUERY` and `system.live_queries` use.
    pub fn id(&self) -> &str {
        &self.entry.live_id
    }

    /// The columns of every event's rows (the table's user columns).
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// The `_seq` high-water mark when it opened: changes after it arrive as events.
    pub fn start_seq(&self) -> u64 {
        self.entry.registration.start_seq
    }

    /// The next event, waiting for one; `None` after the final event.
    pub async fn next(&mut self) -> Option<LiveEvent> {
        if let Some(event) = self.initial.pop_front() {
            return Some(event);
        }
        self.entry.queue.next().await
    }

    /// The next event if one is ready.
    pub fn try_next(&mut self) -> Option<LiveEvent> {
        self.initial.pop_front().or_else(|| self.entry.queue.pop())
    }

    /// Every event for the changes committed before this call, without waiting for later
    /// ones (the dispatcher is given time to deliver those first).
    pub async fn received(&mut self) -> Vec<LiveEvent> {
        self.hub.settle().await;
        let mut events: Vec<LiveEvent> = self.initial.drain(..).collect();
        events.extend(self.entry.queue.drain());
        events
    }

    /// Whether the final event has been queued (it may not have been taken yet).
    pub fn is_ended(&self) -> bool {
        self.entry.queue.is_ended()
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.hub.unregister(&self.entry.live_id);
    }
}

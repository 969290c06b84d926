//! Live subscriptions: the change feed of every table, pushed to subscribers.
//!
//! Writers publish each committed change set of a watched table scope to the [`LiveHub`]
//! ([`hub`]) and go on: publishing is a push onto an in-memory inbox, never a wait for a
//! subscriber. The hub's dispatcher thread decodes the changed rows and hands each run
//! of queued changes to every subscription of its feed; each subscription's own evaluator
//! evaluates its predicate ([`change`]) once over the run and appends the resulting events
//! to the subscription's bounded queue ([`queue`]), so an expensive predicate delays only
//! its own subscription. A subscriber that lets its queue (or its unevaluated changes)
//! fill up is ended alone with an error event that says where to resume; a dispatcher
//! that falls behind by more than its inbox holds ends the subscriptions of the feed it
//! cannot queue, the same way. Memory therefore stays bounded whatever subscribers do.
//!
//! A subscription sees one feed: one table's rows of one scope (SHARED rows, or one
//! user's rows of a USER or STREAM table). Writers of a scope commit and publish under
//! that scope's write lock, so a feed's changes reach the inbox in `_seq` order, and the
//! dispatcher keeps that order. A subscription is registered under the same lock, with
//! the `_seq` high-water mark at that moment: its initial rows are read from a snapshot
//! taken there, and it receives exactly the changes after it.

pub mod change;
pub mod event;
pub mod hub;
pub mod queue;
pub mod rows;

pub use change::{ChangeBatch, FeedKey};
pub use event::{EventKind, LiveEvent};
pub use hub::{LiveHub, LiveQueryInfo, Registration, Subscription, SubscriptionAbout};

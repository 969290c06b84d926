//! Subscriptions in the isolation run: every principal subscribes to every table of the
//! world it may read, and is refused (42501) the others. Whatever a subscription receives
//! is checked like any output: no value of another user, nor of a SHARED table above the
//! principal's role. For the keyed USER tables, the rows a subscriber holds after applying
//! its events must be the rows its owner reads.

use std::collections::BTreeMap;

use engine::ObjectRef;
use engine::{EventKind, Session, SubscribeRequest, Subscription};

use crate::check::{Outcome, leaks, rows_of};
use crate::world::{PRINCIPALS, Principal, Role, SCRATCH, TABLES};

pub struct Watcher {
    principal: Principal,
    table: &'static str,
    subscription: Subscription,
    /// Keyed USER tables: the rows the events say the subscriber has, by their id.
    state: Option<BTreeMap<String, String>>,
}

/// Every table of the world with the weakest role that reads it, and whether it is a
/// keyed USER table.
fn tables() -> Vec<(&'static str, Role, bool)> {
    TABLES
        .iter()
        .map(|t| (t.name, t.readers, t.per_user && t.columns.contains("PRIMARY KEY")))
        .chain(SCRATCH.iter().map(|s| (s.0, s.2, false)))
        .collect()
}

/// Opens every subscription; returns them and the failures (a refusal that should not
/// be, or an opening that should be refused).
pub async fn open_all(sessions: &mut BTreeMap<&'static str, Session>) -> (Vec<Watcher>, Vec<String>) {
    let mut watchers = Vec::new();
    let mut failures = Vec::new();
    for principal in PRINCIPALS {
        let session = sessions.get_mut(principal.name).expect("a session per principal");
        for (table, readers, keyed) in tables() {
            let request = SubscribeRequest {
                table: ObjectRef { namespace: None, name: table.into() },
                predicate: None,
                from_seq: None,
                last_rows: None,
            };
            match (session.subscribe(request).await, principal.role >= readers) {
                (Ok(subscription), true) => watchers.push(Watcher { principal, table, subscription, state: keyed.then(BTreeMap::new) }),
                (Err(error), false) if error.sql_state().code() == "42501" => {}
                (outcome, may) => failures.push(format!(
                    "SUBSCRIBE TO {table} as {} (may read: {may}): {:?}",
                    principal.name,
                    outcome.map(|s| s.id().to_string())
                )),
            }
        }
    }
    (watchers, failures)
}

/// Takes every event received so far; returns the failures: leaks, final events, and
/// keyed tables whose events do not add up to the rows their owner reads.
pub async fn drain(watchers: &mut [Watcher], sessions: &mut BTreeMap<&'static str, Session>) -> Vec<String> {
    let mut failures = Vec::new();
    for watcher in watchers.iter_mut() {
        let who = format!("{}'s subscription to {}", watcher.principal.name, watcher.table);
        for event in watcher.subscription.received().await {
            if event.is_final() {
                failures.push(format!("{who} ended: {:?}", event.message));
                continue;
            }
            let row = event.row.as_ref().map(|r| rows_of(std::slice::from_ref(r)).concat()).unwrap_or_default();
            let old = event.old_row.as_ref().map(|r| rows_of(std::slice::from_ref(r)).concat()).unwrap_or_default();
            for text in [&row, &old] {
                if let Some(leak) = leaks(text, watcher.principal) {
                    failures.push(format!("{who} received {leak}: {text}"));
                }
            }
            if let Some(state) = &mut watcher.state {
                let id = row.split('|').next().unwrap_or_default().to_string();
                match event.kind {
                    EventKind::Delete => state.remove(&id),
                    _ => state.insert(id, row),
                };
            }
        }
        if let Some(state) = &watcher.state {
            let session = sessions.get_mut(watcher.principal.name).expect("a session per principal");
            let now = Outcome::of_engine(session.execute(&format!("SELECT * FROM {}", watcher.table)).await);
            let held: Vec<String> = state.values().cloned().collect::<std::collections::BTreeSet<_>>().into_iter().collect();
            let expected = match now {
                Outcome::Rows(mut rows) => {
                    rows.sort();
                    rows
                }
                other => {
                    failures.push(format!("{who}: reading the table failed: {}", other.text()));
                    continue;
                }
            };
            if held != expected {
                failures.push(format!("{who}: its events add up to {held:?}, the table holds {expected:?}"));
            }
        }
    }
    failures
}

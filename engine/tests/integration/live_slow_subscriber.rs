//! One slow subscriber stalls no one: a subscription whose predicate is expensive falls
//! behind alone (and is ended alone, with where to resume), while a subscription of
//! another table keeps receiving every change. Before, one dispatcher thread evaluated
//! every predicate: the expensive one held up every feed until the inbox overflowed and
//! ended them all.

use crate::common;

use common::{TestEngine, run_all};
use engine::{EventKind, QueryResult, Subscription};

async fn subscribe(session: &mut engine::Session, sql: &str) -> Subscription {
    match session.execute(sql).await.expect("subscribe") {
        QueryResult::Subscription(subscription) => *subscription,
        _ => panic!("not a subscription"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expensive_predicate_delays_only_its_own_subscription() {
    let test = TestEngine::with_config(|config| {
        config.live_inbox_rows = 200;
        config.subscriber_buffer_events = 100;
    });
    let mut session = test.session();
    run_all(&mut session, &["CREATE TABLE slow (id INT PRIMARY KEY, body TEXT)", "CREATE TABLE fast (id INT PRIMARY KEY, body TEXT)"])
        .await;
    // Builds megabytes of text per row: a predicate no dispatcher should wait for.
    let mut slow = subscribe(&mut session, "SUBSCRIBE TO slow WHERE length(repeat(body, 2000000)) > 0").await;
    let mut fast = subscribe(&mut session, "SUBSCRIBE TO fast").await;
    let shared = test.engine.shared().clone();
    let fast_id = shared.catalog.table("default", "fast").expect("fast").id();
    let mut fast_rows = 0;
    for round in 0..40 {
        let rows = |table: &str| {
            let values: Vec<String> = (0..10).map(|i| format!("({}, '{table}')", round * 10 + i)).collect();
            format!("INSERT INTO {table} VALUES {}", values.join(", "))
        };
        session.execute(&rows("slow")).await.expect("insert slow");
        session.execute(&rows("fast")).await.expect("insert fast");
        // Waits for the fast table's subscription only.
        shared.live.settle_where(|feed| feed.table_id == fast_id).await;
        while let Some(event) = fast.try_next() {
            assert_eq!(event.kind, EventKind::Insert, "{event:?}");
            fast_rows += 1;
        }
    }
    assert_eq!(fast_rows, 400, "the fast subscription received every insert");
    assert!(!fast.is_ended());
    // The slow one either kept up or was ended alone, after a prefix of the inserts,
    // saying where to resume.
    let events = slow.received().await;
    let inserts = events.iter().filter(|e| e.kind == EventKind::Insert).count();
    match events.last() {
        Some(last) if last.kind == EventKind::Error => {
            assert_eq!(last.sql_state, Some("53400"), "{last:?}");
            assert!(inserts < 400);
        }
        _ => assert_eq!(inserts, 400),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_predicate_never_sees_rows_of_a_new_shape() {
    let test = TestEngine::new();
    let mut session = test.session();
    run_all(&mut session, &["CREATE TABLE t (id INT PRIMARY KEY, a INT, b INT)", "INSERT INTO t VALUES (1, 1, 1)"]).await;
    let mut watcher = subscribe(&mut session, "SUBSCRIBE TO t WHERE b > 0").await;
    run_all(&mut session, &["ALTER TABLE t DROP COLUMN a", "INSERT INTO t VALUES (2, 5)"]).await;
    let events = watcher.received().await;
    let kinds: Vec<EventKind> = events.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, [EventKind::Initial, EventKind::End], "{events:?}");
    let message = events.last().and_then(|e| e.message.clone()).unwrap_or_default();
    assert!(message.contains("changed (ALTER TABLE)"), "{message}");
}

//! Live subscriptions through the embedding API: a snapshot of the event stream of a
//! mixed workload on all three table kinds, a subscriber whose buffer fills, a dispatcher
//! inbox that overflows, EPHEMERAL rows dropped once the last subscription ends, and the
//! storage layout of STREAM rows.

use crate::common;

use std::fmt::Write;

use common::{TestEngine, run_all};
use engine::ObjectRef;
use engine::exports::arrow::record_batch::RecordBatch;
use engine::exports::arrow::util::display::{ArrayFormatter, FormatOptions};
use engine::{EventKind, LiveEvent, SubscribeRequest, Subscription};

fn request(table: &str, predicate: Option<&str>) -> SubscribeRequest {
    SubscribeRequest {
        table: ObjectRef { namespace: None, name: table.into() },
        predicate: predicate.map(str::to_string),
        from_seq: None,
        last_rows: None,
    }
}

fn render_row(batch: &RecordBatch) -> String {
    let options = FormatOptions::default().with_null("NULL");
    batch
        .columns()
        .iter()
        .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).map(|f| f.value(0).to_string()).unwrap_or_default())
        .collect::<Vec<_>>()
        .join(", ")
}

fn render_event(event: &LiveEvent) -> String {
    let mut line = format!("{:<8}", event.kind.as_str());
    if let Some(seq) = event.seq {
        write!(line, " _seq={seq}").unwrap();
    }
    if let Some(row) = &event.row {
        write!(line, " ({})", render_row(row)).unwrap();
    }
    if let Some(old) = &event.old_row {
        write!(line, " was ({})", render_row(old)).unwrap();
    }
    if let Some(state) = event.sql_state {
        write!(line, " [{state}]").unwrap();
    }
    if let Some(message) = &event.message {
        write!(line, " {message}").unwrap();
    }
    line
}

async fn received(name: &str, subscription: &mut Subscription, out: &mut String) {
    for event in subscription.received().await {
        writeln!(out, "{name}: {}", render_event(&event)).unwrap();
    }
}

#[tokio::test]
async fn event_stream_of_a_mixed_workload() {
    let test = TestEngine::new();
    let mut root = test.session();
    run_all(
        &mut root,
        &[
            "CREATE USER alice WITH PASSWORD 'a' ROLE user",
            "CREATE TABLE stock (sku TEXT PRIMARY KEY, qty INT, price DOUBLE) WITH (ACCESS_LEVEL = 'PUBLIC')",
            "CREATE USER TABLE cart (sku TEXT PRIMARY KEY, n INT)",
            "CREATE STREAM TABLE clicks (sku TEXT, at_ms BIGINT) WITH (TTL_SECONDS = 60, MAX_ROWS = 3)",
            "INSERT INTO stock VALUES ('a', 10, 1.5), ('b', 0, 2.0)",
        ],
    )
    .await;
    let mut alice = test.engine.session("alice").unwrap();
    let mut low = alice.subscribe(request("stock", Some("qty < 5"))).await.unwrap();
    let mut cart = alice.subscribe(request("cart", None)).await.unwrap();
    let mut clicks = alice.subscribe(request("clicks", Some("sku <> 'ignored'"))).await.unwrap();
    let mut out = String::new();
    received("stock", &mut low, &mut out).await;
    let steps = [
        (true, "UPDATE stock SET qty = 3 WHERE sku = 'a'"),
        (false, "INSERT INTO cart VALUES ('a', 1), ('b', 2)"),
        (false, "INSERT INTO clicks VALUES ('a', 1), ('ignored', 2), ('b', 3)"),
        (true, "UPDATE stock SET qty = qty + 10"),
        (false, "UPDATE cart SET n = n * 10 WHERE sku = 'a'"),
        (false, "DELETE FROM cart WHERE sku = 'b'"),
        (true, "INSERT INTO stock VALUES ('c', 1, NULL)"),
        (false, "INSERT INTO clicks VALUES ('c', 4), ('d', 5)"),
        (false, "TRUNCATE cart"),
        (true, "DELETE FROM stock WHERE price IS NULL"),
    ];
    for (as_root, sql) in steps {
        let session = if as_root { &mut root } else { &mut alice };
        session.execute(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
        writeln!(out, "== {sql}").unwrap();
        received("stock", &mut low, &mut out).await;
        received("cart", &mut cart, &mut out).await;
        received("clicks", &mut clicks, &mut out).await;
    }
    run_all(&mut root, &["DROP TABLE clicks"]).await;
    writeln!(out, "== DROP TABLE clicks").unwrap();
    received("clicks", &mut clicks, &mut out).await;
    let resumed = SubscribeRequest { from_seq: Some(4), ..request("stock", Some("qty < 5")) };
    let mut resumed = alice.subscribe(resumed).await.unwrap();
    writeln!(out, "== SUBSCRIBE TO stock WHERE qty < 5 OPTIONS (from_seq = 4)").unwrap();
    received("stock", &mut resumed, &mut out).await;
    snapshot!("live_events", out);
}

#[tokio::test]
async fn a_subscriber_that_falls_behind_is_ended_with_where_to_resume() {
    let test = TestEngine::with_config(|config| config.subscriber_buffer_events = 4);
    let mut session = test.session();
    run_all(&mut session, &["CREATE TABLE t (id INT PRIMARY KEY)", "INSERT INTO t VALUES (0)"]).await;
    let mut subscription = session.subscribe(request("t", None)).await.unwrap();
    for id in 1..=6 {
        session.execute(&format!("INSERT INTO t VALUES ({id})")).await.unwrap();
    }
    let events = subscription.received().await;
    let kinds: Vec<EventKind> = events.iter().map(|e| e.kind).collect();
    use EventKind::*;
    // The initial rows, the inserts its evaluator got through before the unevaluated ones
    // passed the buffer (how many depends on when its thread ran: at most the buffer's
    // worth), and the error.
    let inserts = kinds.len() - 2;
    assert!(inserts <= 4, "{kinds:?}");
    assert_eq!(kinds, [vec![Initial], vec![Insert; inserts], vec![Error]].concat());
    let error = events.last().unwrap();
    assert_eq!(error.sql_state, Some("53400"));
    // Row 0 has _seq 1, row n has _seq n + 1.
    let last_delivered = 1 + inserts as u64;
    assert_eq!(error.seq, Some(last_delivered), "the last _seq queued");
    assert!(subscription.next().await.is_none(), "nothing after the final event");
    // The writer was never held up, and a resume from there sees the rest exactly once.
    let mut resumed = session.subscribe(SubscribeRequest { from_seq: error.seq, ..request("t", None) }).await.unwrap();
    let seqs: Vec<Option<u64>> = resumed.received().await.iter().map(|e| e.seq).collect();
    let rest: Vec<Option<u64>> = (last_delivered + 1..=7).map(Some).collect();
    assert_eq!(seqs, rest);
}

#[tokio::test]
async fn an_overflowing_inbox_ends_the_feeds_it_cannot_queue() {
    let test = TestEngine::with_config(|config| config.live_inbox_rows = 10);
    let mut session = test.session();
    run_all(&mut session, &["CREATE TABLE t (id INT PRIMARY KEY)"]).await;
    let mut subscription = session.subscribe(request("t", None)).await.unwrap();
    // Many commits at once: whatever the dispatcher has not taken yet counts against the
    // inbox. The subscription either receives every insert, or ends with an error event
    // after a prefix of them; never a gap.
    let values: Vec<String> = (0..200).map(|i| format!("({i})")).collect();
    for chunk in values.chunks(7) {
        session.execute(&format!("INSERT INTO t VALUES {}", chunk.join(", "))).await.unwrap();
    }
    let events = subscription.received().await;
    let rows: Vec<u64> = events.iter().filter(|e| e.kind == EventKind::Insert).map(|e| e.seq.unwrap()).collect();
    assert_eq!(rows, (1..=rows.len() as u64).collect::<Vec<_>>(), "a prefix of the inserts, in order");
    match events.last() {
        Some(last) if last.kind == EventKind::Error => assert_eq!(last.seq, Some(rows.len() as u64)),
        _ => assert_eq!(rows.len(), 200),
    }
}

#[tokio::test]
async fn ephemeral_rows_go_once_the_last_subscription_ends() {
    let test = TestEngine::new();
    let mut session = test.session();
    run_all(&mut session, &["CREATE STREAM TABLE pings (n INT) WITH (EPHEMERAL = TRUE)"]).await;
    let subscription = session.subscribe(request("pings", None)).await.unwrap();
    run_all(&mut session, &["INSERT INTO pings VALUES (1), (2)"]).await;
    let count = |result: engine::QueryResult| common::render(&result);
    assert!(count(session.execute("SELECT count(*) FROM pings").await.unwrap()).contains("| 2 "));
    // While someone subscribes, the eviction job leaves them.
    assert_eq!(test.engine.run_jobs().await.unwrap(), 0);
    drop(subscription);
    // The purge takes rows that arrived before it found no subscription.
    test.clock.advance_millis(1);
    assert_eq!(test.engine.run_jobs().await.unwrap(), 1);
    assert!(count(session.execute("SELECT count(*) FROM pings").await.unwrap()).contains("| 0 "));
    let jobs = count(session.execute("SELECT job_type, table_name, status, rows_affected FROM system.jobs").await.unwrap());
    assert!(jobs.contains("stream_eviction") && jobs.contains("| 2 "), "{jobs}");
}

#[tokio::test]
async fn stream_rows_are_keyed_by_arrival_and_evicted_by_range() {
    let test = TestEngine::new();
    let mut session = test.session();
    run_all(
        &mut session,
        &[
            "CREATE USER alice WITH PASSWORD 'a' ROLE user",
            "CREATE STREAM TABLE s (v TEXT) WITH (TTL_SECONDS = 1)",
            "INSERT INTO s VALUES ('first')",
        ],
    )
    .await;
    test.clock.advance_millis(500);
    let mut alice = test.engine.session("alice").unwrap();
    run_all(&mut alice, &["INSERT INTO s VALUES ('second'), ('third')"]).await;
    test.clock.advance_millis(600);
    let mut out = String::from("== after inserts at 0 ms (root) and 500 ms (alice), clock at 1100 ms\n");
    for line in test.engine.describe_storage().unwrap().into_iter().filter(|l| l.starts_with("row")) {
        writeln!(out, "{line}").unwrap();
    }
    test.engine.run_jobs().await.unwrap();
    out.push_str("== after the eviction job\n");
    for line in test.engine.describe_storage().unwrap().into_iter().filter(|l| l.starts_with("row")) {
        writeln!(out, "{line}").unwrap();
    }
    snapshot!("stream_storage", out);
}

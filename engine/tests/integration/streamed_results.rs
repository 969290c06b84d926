//! Streamed results: `Session::run` returns a query's rows as a stream whose schema is
//! known before the first batch; rows are produced as they are read; an error while
//! reading fails the transaction block the query ran in; a stream dropped half-read
//! leaves the session usable; EXECUTE AS gives its rows collected.

use futures::StreamExt;

use crate::common;

use common::{TestEngine, run_all};
use engine::{QueryResult, Session, SqlState};

async fn stream(session: &mut Session, sql: &str) -> engine::RowStream {
    let statement = session.prepare(sql).unwrap().expect("a statement");
    match session.run(&statement, &[]).await.unwrap_or_else(|e| panic!("{sql}: {e}")) {
        QueryResult::Stream(rows) => rows,
        other => panic!("{sql}: {other:?}"),
    }
}

async fn filled(test: &TestEngine, rows: u64) -> Session {
    let mut session = test.session();
    run_all(&mut session, &["CREATE TABLE t (id BIGINT PRIMARY KEY, v BIGINT)"]).await;
    let values: Vec<String> = (0..rows).map(|i| format!("({i}, {})", i % 7)).collect();
    for chunk in values.chunks(5_000) {
        session.execute(&format!("INSERT INTO t VALUES {}", chunk.join(", "))).await.unwrap();
    }
    session
}

#[tokio::test]
async fn rows_arrive_in_batches_after_the_schema() {
    let test = TestEngine::new();
    let mut session = filled(&test, 30_000).await;
    let mut rows = stream(&mut session, "SELECT id, v FROM t").await;
    let names: Vec<String> = rows.schema().fields().iter().map(|f| f.name().clone()).collect();
    assert_eq!(names, ["id", "v"]);
    let (mut batches, mut total) = (0, 0);
    while let Some(batch) = rows.next().await {
        batches += 1;
        total += batch.unwrap().num_rows();
    }
    assert_eq!(total, 30_000);
    assert!(batches > 1, "30,000 rows came in one batch");
}

#[tokio::test]
async fn a_stream_dropped_half_read_leaves_the_session_usable() {
    let test = TestEngine::new();
    let mut session = filled(&test, 20_000).await;
    let mut rows = stream(&mut session, "SELECT id FROM t").await;
    assert!(rows.next().await.expect("a batch").is_ok());
    drop(rows);
    session.execute("INSERT INTO t VALUES (-1, 0)").await.unwrap();
    let count = session.execute("SELECT count(*) FROM t").await.unwrap();
    assert_eq!(common::render(&count).lines().nth(3), Some("| 20001    |"));
}

#[tokio::test]
async fn an_error_while_reading_fails_the_block() {
    let test = TestEngine::new();
    let mut session = filled(&test, 100).await;
    session.execute("BEGIN").await.unwrap();
    session.execute("INSERT INTO t VALUES (1000, 1)").await.unwrap();
    // Division by zero happens while rows are produced, after the statement started.
    let mut rows = stream(&mut session, "SELECT 10 / (id - 50) FROM t").await;
    assert!(session.in_transaction() && !session.transaction_failed());
    let mut failed = None;
    while let Some(batch) = rows.next().await {
        if let Err(error) = batch {
            failed = Some(error);
        }
    }
    assert!(failed.is_some(), "division by zero was not reported");
    assert!(session.transaction_failed());
    let error = session.execute("SELECT 1").await.unwrap_err();
    assert_eq!(error.sql_state(), SqlState::IN_FAILED_SQL_TRANSACTION);
    session.execute("ROLLBACK").await.unwrap();
    let count = session.execute("SELECT count(*) FROM t WHERE id = 1000").await.unwrap();
    assert_eq!(common::render(&count).lines().nth(3), Some("| 0        |"));
}

#[tokio::test]
async fn a_stream_reads_as_the_user_and_instant_of_its_statement() {
    let test = TestEngine::new();
    run_all(&mut test.session(), &["CREATE USER alice"]).await;
    let mut session = test.engine.session("alice").unwrap();
    session.execute("BEGIN").await.unwrap();
    let rows = stream(&mut session, "SELECT CURRENT_USER AS who, NOW() AS at").await;
    test.clock.advance_millis(60_000);
    let batches = rows.collect_batches().await.unwrap();
    let streamed = engine::exports::arrow::util::pretty::pretty_format_batches(&batches).unwrap().to_string();
    let collected = common::render(&session.execute("SELECT 'alice' AS who, NOW() AS at").await.unwrap());
    assert_eq!(streamed, collected, "the stream read as alice at the block's instant");
    session.execute("COMMIT").await.unwrap();
}

#[tokio::test]
async fn execute_as_reads_its_rows_as_its_user() {
    let test = TestEngine::new();
    let mut session = test.session();
    run_all(&mut session, &["CREATE USER alice"]).await;
    let statement = session.prepare("EXECUTE AS USER alice (SELECT CURRENT_USER AS who)").unwrap().expect("a statement");
    // Collected while the statement still runs as alice (see users/execute_as_listing.slt).
    let result = session.run(&statement, &[]).await.unwrap();
    assert!(matches!(result, QueryResult::Rows { .. }), "{result:?}");
    assert!(common::render(&result).contains("alice"));
}

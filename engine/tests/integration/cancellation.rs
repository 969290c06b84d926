//! Dropping a statement's future (a server's CancelRequest, a client gone) cancels it
//! cleanly: a statement dropped while it waits for its table's write lock writes nothing,
//! nothing it held stays held, and the session (inside a transaction block too) goes on.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Waker};

use crate::common;

use common::{TestEngine, run_all};
use engine::exports::arrow::array::{Array, AsArray};
use engine::exports::arrow::datatypes::Int64Type;
use engine::storage::ScopeWriteGuard;
use engine::storage::keys::RowScope;
use engine::{QueryResult, Session};

/// Polls `future` once; `true` when it finished then.
fn poll_once<F: Future>(future: F) -> bool {
    let mut future = pin!(future);
    future.as_mut().poll(&mut Context::from_waker(Waker::noop())).is_ready()
}

/// The first column of the first row, a BIGINT (or NULL as -1).
async fn number(session: &mut Session, sql: &str) -> i64 {
    let QueryResult::Rows { batches, .. } = session.execute(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}")) else {
        panic!("{sql}: no rows")
    };
    let column = batches[0].column(0).as_primitive::<Int64Type>();
    if column.is_null(0) { -1 } else { column.value(0) }
}

/// A session of `test` with table `t` holding the row (1, 1).
async fn one_row_table(test: &TestEngine) -> Session {
    let mut session = test.session();
    run_all(&mut session, &["CREATE TABLE t (id BIGINT PRIMARY KEY, v BIGINT)", "INSERT INTO t VALUES (1, 1)"]).await;
    session
}

/// Holds the write lock of table `t`'s rows, as a statement that writes them does.
async fn hold_write_lock(test: &TestEngine) -> ScopeWriteGuard {
    let table = test.engine.shared().catalog.table("default", "t").expect("table").id();
    test.engine.shared().locks.lock_scope(table, &RowScope::Shared).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statements_dropped_while_waiting_for_the_lock_write_nothing() {
    let test = TestEngine::new();
    one_row_table(&test).await;
    for sql in [
        "INSERT INTO t VALUES (2, 2)",
        "INSERT INTO t SELECT id + 10, v FROM t",
        "UPDATE t SET v = 5 WHERE id = 1",
        "UPDATE t SET v = v + 1",
        "DELETE FROM t WHERE id = 1",
        "TRUNCATE TABLE t",
    ] {
        let held = hold_write_lock(&test).await;
        let mut other = test.session();
        assert!(!poll_once(other.execute(sql)), "{sql} did not wait for the lock");
        drop(held);
        // Nothing of it was written, and the lock it queued for is free again.
        assert_eq!(number(&mut other, "SELECT count(*) FROM t").await, 1, "{sql}");
        assert_eq!(number(&mut other, "SELECT sum(v) FROM t").await, 1, "{sql}");
        run_all(&mut other, &["UPDATE t SET v = 1 WHERE id = 1"]).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_dropped_inside_a_block_leaves_the_block_usable() {
    let test = TestEngine::new();
    let mut session = one_row_table(&test).await;
    for sql in ["INSERT INTO t VALUES (2, 2)", "UPDATE t SET v = v + 1", "DELETE FROM t WHERE id = 1"] {
        run_all(&mut session, &["BEGIN", "INSERT INTO t VALUES (3, 3)"]).await;
        let held = hold_write_lock(&test).await;
        assert!(!poll_once(session.execute(sql)), "{sql} did not wait for the lock");
        drop(held);
        // The block goes on: its own row is there, the dropped statement's effect is not,
        // and the block commits what it did.
        assert_eq!(number(&mut session, "SELECT count(*) FROM t WHERE id = 3").await, 1, "{sql}");
        assert_eq!(number(&mut session, "SELECT sum(v) FROM t WHERE id <> 3").await, 1, "{sql}");
        run_all(&mut session, &["COMMIT"]).await;
        assert_eq!(number(&mut session, "SELECT count(*) FROM t WHERE id = 3").await, 1, "{sql}");
        run_all(&mut session, &["DELETE FROM t", "INSERT INTO t VALUES (1, 1)"]).await;
    }
}

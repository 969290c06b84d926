//! Many sessions on many threads against one engine: every write lands exactly once,
//! `_seq` values are unique, and readers never see a half-applied statement.

mod common;

use std::sync::Arc;

use common::{TestEngine, run_all};
use engine::QueryResult;
use engine::exports::arrow::array::{AsArray, Int64Array};
use engine::exports::arrow::datatypes::Int64Type;

fn single_i64(result: &QueryResult) -> i64 {
    match result {
        QueryResult::Rows { batches, .. } => batches[0].column(0).as_primitive::<Int64Type>().value(0),
        other => panic!("expected rows, got {other:?}"),
    }
}

#[test]
fn sessions_on_many_threads_write_and_read_consistently() {
    let test = Arc::new(TestEngine::new());
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_all().build().unwrap();
    runtime.block_on(async {
        let mut session = test.session();
        run_all(&mut session, &["CREATE TABLE t (id BIGINT PRIMARY KEY, writer INT)"]).await;
    });
    let writers = 4;
    let rows_per_writer = 50;
    let mut handles = Vec::new();
    for writer in 0..writers {
        let test = test.clone();
        handles.push(std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async move {
                let mut session = test.session();
                for i in 0..rows_per_writer {
                    let id = writer * 1000 + i;
                    // Two rows per statement: a reader must never see one without the other.
                    session
                        .execute(&format!("INSERT INTO t VALUES ({id}, {writer}), ({}, {writer})", id + 500))
                        .await
                        .unwrap();
                }
            })
        }));
    }
    let reader = {
        let test = test.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async move {
                let mut session = test.session();
                for _ in 0..50 {
                    let count = single_i64(&session.execute("SELECT COUNT(*) FROM t").await.unwrap());
                    assert_eq!(count % 2, 0, "a statement was seen half-applied");
                }
            })
        })
    };
    for handle in handles {
        handle.join().unwrap();
    }
    reader.join().unwrap();
    runtime.block_on(async {
        let mut session = test.session();
        let total = single_i64(&session.execute("SELECT COUNT(*) FROM t").await.unwrap());
        assert_eq!(total, (writers * rows_per_writer * 2) as i64);
        let distinct = single_i64(&session.execute("SELECT COUNT(DISTINCT _seq) FROM t").await.unwrap());
        assert_eq!(distinct, total);
        let max = session.execute("SELECT MAX(_seq) FROM t").await.unwrap();
        let QueryResult::Rows { batches, .. } = max else { panic!() };
        let max: &Int64Array = batches[0].column(0).as_primitive();
        assert_eq!(max.value(0), total);
    });
}

//! Many sessions on many threads against one engine: every write lands exactly once,
//! `_seq` values are unique and committed in order, readers never see a half-applied
//! statement, and a DROP TABLE racing writers leaves no row behind.

use crate::common;

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
                    session.execute(&format!("INSERT INTO t VALUES ({id}, {writer}), ({}, {writer})", id + 500)).await.unwrap();
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

/// Runs `work` on its own thread with a current-thread runtime.
fn on_thread<T: Send + 'static>(work: impl std::future::Future<Output = T> + Send + 'static) -> std::thread::JoinHandle<T> {
    std::thread::spawn(move || tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(work))
}

#[test]
fn drop_table_racing_inserts_leaves_no_orphan_rows() {
    let test = Arc::new(TestEngine::new());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    for round in 0..10 {
        runtime.block_on(async {
            let mut session = test.session();
            run_all(&mut session, &["CREATE TABLE race (id BIGINT PRIMARY KEY, v INT)"]).await;
        });
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let writers: Vec<_> = (0..3)
            .map(|writer| {
                let (test, started) = (test.clone(), started_tx.clone());
                on_thread(async move {
                    let mut session = test.session();
                    // Both paths: simple literal INSERTs and planned INSERT ... SELECT.
                    for i in 0..10_000i64 {
                        let id = writer * 100_000 + i;
                        let sql = if i % 2 == 0 {
                            format!("INSERT INTO race VALUES ({id}, {writer}), ({}, {writer})", id + 50_000)
                        } else {
                            format!("INSERT INTO race SELECT {id}, {writer} UNION ALL SELECT {}, {writer}", id + 50_000)
                        };
                        match session.execute(&sql).await {
                            // Each writer reports its first commit once.
                            Ok(_) if i == 0 => started.send(()).unwrap(),
                            Ok(_) => {}
                            Err(error) => {
                                assert_eq!(error.sql_state().code(), "42P01", "{error}");
                                return i;
                            }
                        }
                    }
                    panic!("writer {writer} never saw the table go");
                })
            })
            .collect();
        // Drop once every writer has committed something (one report from each).
        for _ in 0..3 {
            started_rx.recv().unwrap();
        }
        runtime.block_on(async {
            let mut session = test.session();
            run_all(&mut session, &["DROP TABLE race"]).await;
        });
        for writer in writers {
            assert!(writer.join().unwrap() > 0);
        }
        let storage = test.engine.describe_storage().unwrap();
        let leftovers: Vec<&String> = storage.iter().filter(|line| line.starts_with("row ")).collect();
        assert!(leftovers.is_empty(), "round {round}: rows left after DROP TABLE: {:?}", &leftovers[..leftovers.len().min(5)]);
    }
}

#[test]
fn seq_order_is_commit_order_across_tables() {
    let test = Arc::new(TestEngine::new());
    let tables = 4;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let mut session = test.session();
        for table in 0..tables {
            run_all(&mut session, &[&format!("CREATE TABLE t{table} (id BIGINT PRIMARY KEY)")]).await;
        }
    });
    let writers: Vec<_> = (0..tables)
        .map(|table| {
            let test = test.clone();
            on_thread(async move {
                let mut session = test.session();
                for i in 0..300 {
                    session.execute(&format!("INSERT INTO t{table} VALUES ({}), ({})", 2 * i, 2 * i + 1)).await.unwrap();
                }
            })
        })
        .collect();
    // Each listing of storage is one RocksDB snapshot: whenever it holds `_seq` N, it
    // holds every smaller `_seq` too (no commit is visible before an earlier one).
    let mut checks = 0;
    while writers.iter().any(|w| !w.is_finished()) || checks == 0 {
        let seqs = committed_seqs(&test.engine);
        let max = seqs.last().copied().unwrap_or(0);
        assert_eq!(seqs.len() as u64, max, "a listing with _seq up to {max} misses some");
        checks += 1;
    }
    for writer in writers {
        writer.join().unwrap();
    }
    assert_eq!(committed_seqs(&test.engine).len(), tables * 600);
}

/// The `_seq` of every stored row, sorted.
fn committed_seqs(engine: &engine::Engine) -> Vec<u64> {
    let mut seqs: Vec<u64> = engine
        .describe_storage()
        .unwrap()
        .iter()
        .filter(|line| line.starts_with("row "))
        .map(|line| line.split(" seq=").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap())
        .collect();
    seqs.sort();
    seqs
}

/// INSERTs queued on one table's lock commit together (group commit); those that claim a
/// key an earlier statement of the same group or of storage holds fail alone, with 23505,
/// and the others of their group commit whole.
#[test]
fn inserts_racing_for_the_same_keys_commit_each_key_once() {
    let test = Arc::new(TestEngine::new());
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        let mut session = test.session();
        run_all(&mut session, &["CREATE TABLE claims (id BIGINT PRIMARY KEY, writer BIGINT, statement BIGINT)"]).await;
    });
    let writers = 8i64;
    let statements = 60i64;
    let tasks: Vec<_> = (0..writers)
        .map(|writer| {
            let mut session = test.session();
            runtime.spawn(async move {
                let mut won = Vec::new();
                for statement in 0..statements {
                    // Writers of one parity claim the same keys; the two parities overlap
                    // by one key per statement.
                    let key = 2 * statement + writer % 2;
                    let sql = format!("INSERT INTO claims VALUES ({key}, {writer}, {statement}), ({}, {writer}, {statement})", key + 1);
                    match session.execute(&sql).await {
                        Ok(_) => won.push(statement),
                        Err(error) => assert_eq!(error.sql_state().code(), "23505", "{error}"),
                    }
                }
                (writer, won)
            })
        })
        .collect();
    let outcomes: Vec<(i64, Vec<i64>)> =
        runtime.block_on(async { futures::future::join_all(tasks).await.into_iter().map(Result::unwrap).collect() });
    runtime.block_on(async {
        let mut session = test.session();
        let total = single_i64(&session.execute("SELECT COUNT(*) FROM claims").await.unwrap());
        let committed: i64 = outcomes.iter().map(|(_, won)| won.len() as i64).sum();
        assert_eq!(total, committed * 2, "every committed statement's two rows, nothing else");
        for (writer, won) in &outcomes {
            for statement in won {
                let key = 2 * statement + writer % 2;
                let rows = single_i64(
                    &session
                        .execute(&format!(
                            "SELECT COUNT(*) FROM claims WHERE id IN ({key}, {}) AND writer = {writer} AND statement = {statement}",
                            key + 1
                        ))
                        .await
                        .unwrap(),
                );
                assert_eq!(rows, 2, "writer {writer}'s statement {statement} committed, so both its rows are there");
            }
        }
        let distinct = single_i64(&session.execute("SELECT COUNT(DISTINCT _seq) FROM claims").await.unwrap());
        assert_eq!(distinct, total);
    });
    assert_eq!(test.engine.shared().locks.tables_in_use(), 0, "every lock, and its queue, is forgotten");
}

//! Purges and compactions of one scope, many in a row: no file name is ever written twice
//! (the live segment is never overwritten or deleted), and a read that holds a segment
//! list across a rewrite and a clock jump, or across DROP TABLE, still completes with the
//! right rows: retired and dropped files go only when no reader holds them.

use crate::common;

use std::collections::HashSet;
use std::sync::mpsc;

use common::{TestEngine, render, run_all};
use engine::exports::arrow::array::{AsArray, RecordBatch};
use engine::exports::arrow::datatypes::Int32Type;
use engine::provider::flush::segment_columns;
use engine::provider::request::ScanRequest;
use engine::provider::scan::read_scope_then;
use engine::storage::RowScope;
use engine::storage::cold::segment::segment_schema;

const HOUR_MILLIS: i64 = 3_600_000;

/// The files the table's manifests list now.
fn listed_files(test: &TestEngine) -> HashSet<String> {
    let shared = test.engine.shared();
    let entry = shared.catalog.table("default", "t").expect("table t");
    shared.cold.table_scopes(entry.id()).iter().flat_map(|s| s.manifest.segments.iter().map(|m| m.file.clone())).collect()
}

/// The files listed now; each one `previous` did not list must be a name never listed
/// before.
fn record_listed(test: &TestEngine, previous: &HashSet<String>, ever_listed: &mut HashSet<String>, what: &str) -> HashSet<String> {
    let listed = listed_files(test);
    assert!(!listed.is_empty(), "{what}: the scope has a segment");
    for file in listed.difference(previous) {
        assert!(ever_listed.insert(file.clone()), "{what}: {file} was written before");
    }
    listed
}

const ALL_VERSIONS: &str = "SELECT id, v, _deleted FROM t WHERE _deleted OR NOT _deleted ORDER BY id";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_compactions_and_five_purges_in_a_row_never_reuse_a_name() {
    let mut test = TestEngine::with_config(|config| config.compact_segments_over = 1);
    let mut ever_listed: HashSet<String> = HashSet::new();
    {
        let mut session = test.session();
        let rows: Vec<String> = (1..=10).map(|id| format!("({id}, {id})")).collect();
        run_all(
            &mut session,
            &[
                "CREATE TABLE t (id INT PRIMARY KEY, v INT) WITH (DELETED_RETENTION_HOURS = 1)",
                &format!("INSERT INTO t VALUES {}", rows.join(", ")),
                "FLUSH TABLE t",
            ],
        )
        .await;
    }
    let mut previous = record_listed(&test, &HashSet::new(), &mut ever_listed, "first flush");
    for round in 1..=5 {
        let mut session = test.session();
        run_all(
            &mut session,
            &[
                &format!("UPDATE t SET v = v + 100 WHERE id = {round}"),
                "FLUSH TABLE t",
                &format!("UPDATE t SET v = v + 1000 WHERE id = {round}"),
                "FLUSH TABLE t",
            ],
        )
        .await;
        test.engine.run_jobs().await.expect("compaction");
        previous = record_listed(&test, &previous, &mut ever_listed, &format!("compaction {round}"));
        assert_eq!(previous.len(), 1, "round {round}: compacted into one segment");
        test.clock.advance_millis(2 * 60_000);
        test.engine.run_jobs().await.expect("cleanup");
    }
    // Five purges, each expiring one tombstone (deletes one second apart).
    for id in 6..=10 {
        let mut session = test.session();
        run_all(&mut session, &[&format!("DELETE FROM t WHERE id = {id}")]).await;
        test.clock.advance_millis(1_000);
    }
    test.clock.advance_millis(HOUR_MILLIS - 5_000);
    for purge in 1..=5 {
        test.clock.advance_millis(1_000);
        test.engine.run_jobs().await.expect("purge");
        previous = record_listed(&test, &previous, &mut ever_listed, &format!("purge {purge}"));
        let mut session = test.session();
        assert_eq!(count(&mut session, "SELECT count(*) FROM t WHERE _deleted").await, 5 - purge, "purge {purge}");
        assert_eq!(count(&mut session, "SELECT count(*) FROM t").await, 5);
    }
    let expected = {
        let mut session = test.session();
        render(&session.execute(ALL_VERSIONS).await.unwrap())
    };
    {
        let mut session = test.session();
        assert_eq!(count(&mut session, "SELECT count(*) FROM t WHERE id <= 5 AND v = id + 1100").await, 5);
        assert_eq!(count(&mut session, "SELECT count(*) FROM t WHERE (_deleted OR NOT _deleted) AND id >= 6").await, 0);
    }
    test = test.restart();
    let mut session = test.session();
    assert_eq!(render(&session.execute(ALL_VERSIONS).await.unwrap()), expected);
    assert_eq!(count(&mut session, "SELECT count(*) FROM system.jobs WHERE status = 'failed'").await, 0);
}

/// The one number a `SELECT count(*) ...` returns.
async fn count(session: &mut engine::Session, sql: &str) -> i64 {
    match session.execute(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}")) {
        engine::QueryResult::Rows { batches, .. } => {
            batches[0].column(0).as_primitive::<engine::exports::arrow::datatypes::Int64Type>().value(0)
        }
        other => panic!("{sql}: {}", render(&other)),
    }
}

/// A table `t` of 300 rows in two segments (ids 1..=150 updated to `v = 2 * id` in the
/// second), and a read of it started on another thread and paused after its first batch.
/// Returns the reader (the rows it read, once resumed) and the channel that resumes it.
async fn paused_read(test: &TestEngine) -> (std::thread::JoinHandle<engine::Result<Vec<RecordBatch>>>, mpsc::Sender<()>) {
    {
        let mut session = test.session();
        let rows: Vec<String> = (1..=300).map(|id| format!("({id}, {id})")).collect();
        run_all(
            &mut session,
            &[
                "CREATE TABLE t (id INT PRIMARY KEY, v INT)",
                &format!("INSERT INTO t VALUES {}", rows.join(", ")),
                "FLUSH TABLE t",
                "UPDATE t SET v = v * 2 WHERE id <= 150",
                "FLUSH TABLE t",
            ],
        )
        .await;
    }
    let shared = test.engine.shared().clone();
    let entry = shared.catalog.table("default", "t").expect("table t");
    let (to_main, paused) = mpsc::channel::<()>();
    let (resume, from_main) = mpsc::channel::<()>();
    let reader = std::thread::spawn(move || {
        let columns = segment_columns(&entry);
        let schema = segment_schema(&columns);
        let request = ScanRequest::whole_scope(entry.clone(), RowScope::Shared, ScanRequest::segment_sources(columns.len()), false, 16);
        let mut batches: Vec<RecordBatch> = Vec::new();
        let outcome = read_scope_then(&shared.store, &shared.cold, &schema, &request, || {}, &mut |batch| {
            if batches.is_empty() {
                to_main.send(()).expect("main waits");
                from_main.recv().expect("main resumes the read");
            }
            batches.push(batch);
            true
        });
        outcome.map(|()| batches)
    });
    paused.recv().expect("the read started");
    (reader, resume)
}

/// The read's rows are the table's 300, with their values.
fn assert_whole_table(batches: &[RecordBatch]) {
    let mut rows = 0;
    let mut sum: i64 = 0;
    for batch in batches {
        rows += batch.num_rows();
        let values = batch.column(1).as_primitive::<Int32Type>();
        sum += values.iter().flatten().map(i64::from).sum::<i64>();
    }
    assert_eq!(rows, 300);
    // ids 1..=150 doubled, 151..=300 as inserted.
    let expected: i64 = (1..=150).map(|i| 2 * i).sum::<i64>() + (151..=300).sum::<i64>();
    assert_eq!(sum, expected);
}

fn parquet_files(test: &TestEngine) -> Vec<String> {
    let objects = test.engine.shared().cold.list_all().expect("listing");
    objects.iter().map(|p| p.to_string()).filter(|p| p.ends_with(".parquet")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_held_open_across_a_compaction_and_an_hour_completes() {
    let test = TestEngine::with_config(|config| config.compact_segments_over = 1);
    let (reader, resume) = paused_read(&test).await;
    // The compaction retires both segments the read is reading; an hour passes.
    assert_eq!(test.engine.run_jobs().await.expect("compaction"), 1);
    test.clock.advance_millis(HOUR_MILLIS);
    test.engine.run_jobs().await.expect("cleanup while the read holds the files");
    resume.send(()).expect("the reader waits");
    assert_whole_table(&reader.join().expect("reader thread").expect("the held-open read completes"));
    // The read is over: the next run deletes the retired files.
    test.engine.run_jobs().await.expect("cleanup");
    assert_eq!(test.engine.shared().cold.retired_files(), 0);
    assert_eq!(parquet_files(&test).len(), 1);
}

/// Found by the concurrency check: DROP TABLE deleted the files of a read that started
/// before it, which then failed with 58030. Here a compaction first retires the files
/// the read holds, so they are no longer the table's current ones when it is dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_held_open_across_a_compaction_and_drop_table_completes() {
    let test = TestEngine::with_config(|config| config.compact_segments_over = 1);
    let (reader, resume) = paused_read(&test).await;
    assert_eq!(test.engine.run_jobs().await.expect("compaction"), 1);
    run_all(&mut test.session(), &["DROP TABLE t"]).await;
    test.engine.run_jobs().await.expect("cleanup while the read holds the files");
    assert_eq!(parquet_files(&test).len(), 3, "the two files read and the compacted one wait for the read");
    resume.send(()).expect("the reader waits");
    assert_whole_table(&reader.join().expect("reader thread").expect("the held-open read completes"));
    // The read is over: the next job run deletes what the drop left.
    test.engine.run_jobs().await.expect("cleanup");
    assert_eq!(test.engine.shared().cold.retired_files(), 0);
    assert_eq!(parquet_files(&test), Vec::<String>::new());
}

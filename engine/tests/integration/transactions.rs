//! Transaction blocks and storage: a block's view pins the segment files it may read, so
//! a compaction during the block changes nothing it reads, and the files go once the block
//! ends: at COMMIT, or when the idle-in-transaction timeout ends a forgotten block.

use engine::QueryResult;
use engine::exports::arrow::util::display::array_value_to_string;

use crate::common::{TestEngine, run_all};

const MINUTE_MILLIS: i64 = 60 * 1000;

/// The one value a one-row, one-column result holds.
fn value(result: &QueryResult) -> String {
    let QueryResult::Rows { batches, .. } = result else { panic!("not rows") };
    let batch = batches.iter().find(|b| b.num_rows() > 0).expect("a row");
    array_value_to_string(batch.column(0), 0).expect("printable")
}

fn parquet_files(test: &TestEngine) -> usize {
    let objects = test.engine.shared().cold.list_all().expect("listing");
    objects.iter().filter(|p| p.to_string().ends_with(".parquet")).count()
}

/// A table in two segments, and a block that has read it (its view holds both).
async fn two_segments_and_a_reading_block(test: &TestEngine) -> engine::Session {
    let mut root = test.session();
    run_all(
        &mut root,
        &[
            "CREATE TABLE t (id INT PRIMARY KEY, v INT)",
            "INSERT INTO t VALUES (1, 10), (2, 20)",
            "FLUSH TABLE t",
            "UPDATE t SET v = 21 WHERE id = 2",
            "FLUSH TABLE t",
        ],
    )
    .await;
    let mut block = test.session();
    run_all(&mut block, &["BEGIN ISOLATION LEVEL REPEATABLE READ"]).await;
    assert_eq!(value(&block.execute("SELECT sum(v) FROM t").await.unwrap()), "31");
    block
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compaction_during_a_block_changes_nothing_it_reads_and_its_files_go_at_commit() {
    let test = TestEngine::with_config(|config| config.compact_segments_over = 1);
    let mut block = two_segments_and_a_reading_block(&test).await;
    // Another session changes a row and the compaction merges everything into one file.
    run_all(&mut test.session(), &["UPDATE t SET v = 100 WHERE id = 1", "FLUSH TABLE t"]).await;
    assert!(test.engine.run_jobs().await.expect("compaction") >= 1);
    assert_eq!(parquet_files(&test), 3, "the block's two files (the third flush's went: nothing holds it) and the compacted one");
    assert_eq!(value(&block.execute("SELECT sum(v) FROM t").await.unwrap()), "31", "the block still reads its view");
    run_all(&mut block, &["COMMIT"]).await;
    test.engine.run_jobs().await.expect("cleanup");
    assert_eq!(parquet_files(&test), 1);
    assert_eq!(value(&block.execute("SELECT sum(v) FROM t").await.unwrap()), "121");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_idle_timeout_ends_a_forgotten_block_and_releases_its_files() {
    let test = TestEngine::with_config(|config| config.compact_segments_over = 1);
    let mut block = two_segments_and_a_reading_block(&test).await;
    assert!(test.engine.run_jobs().await.expect("compaction") >= 1);
    assert_eq!(parquet_files(&test), 3, "the block holds the two files the compaction retired");
    test.clock.advance_millis(14 * MINUTE_MILLIS);
    test.engine.run_jobs().await.expect("jobs");
    assert_eq!(parquet_files(&test), 3, "not idle long enough yet");
    test.clock.advance_millis(MINUTE_MILLIS);
    test.engine.run_jobs().await.expect("timeout and cleanup");
    assert_eq!(parquet_files(&test), 1, "the ended block pins nothing");
    let error = block.execute("SELECT sum(v) FROM t").await.unwrap_err();
    assert_eq!(error.sql_state().code(), "25P03");
    assert_eq!(value(&block.execute("SELECT sum(v) FROM t").await.unwrap()), "31");
}

//! Transaction blocks and storage: a block's view pins the segment files it may read, so
//! a compaction during the block changes nothing it reads, and the files go once the block
//! ends: at COMMIT, or when the idle-in-transaction timeout ends a forgotten block. And
//! blocks under real concurrency: invariants that only a serializable history keeps
//! (transfers beside readers, write skew), whatever the interleaving.

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

/// Runs `steps` (one block's statements, the last `COMMIT`) until a try commits; a 40001
/// anywhere rolls back and tries again. Returns how many tries failed.
async fn until_committed(session: &mut engine::Session, steps: &[String]) -> u64 {
    let mut failed = 0;
    'retry: loop {
        for step in steps {
            if let Err(error) = session.execute(step).await {
                assert_eq!(error.sql_state().code(), "40001", "{step}: {error}");
                session.execute("ROLLBACK").await.unwrap();
                failed += 1;
                continue 'retry;
            }
        }
        return failed;
    }
}

/// Concurrent transfers at SERIALIZABLE, retried on 40001, beside readers that sum the
/// balances in blocks and a task that flushes and runs jobs: every sum a reader sees is
/// the total (no read skew), and so is the end state (no lost update).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_transfers_keep_every_sum_a_reader_sees() {
    let test = TestEngine::new();
    let rows: Vec<String> = (0..20).map(|id| format!("({id}, 100)")).collect();
    run_all(
        &mut test.session(),
        &["CREATE TABLE accounts (id BIGINT PRIMARY KEY, balance BIGINT)", &format!("INSERT INTO accounts VALUES {}", rows.join(", "))],
    )
    .await;
    let mut tasks = Vec::new();
    for writer in 0..4u64 {
        let mut session = test.session();
        tasks.push(tokio::spawn(async move {
            let mut state = writer * 7919 + 1;
            for _ in 0..60 {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let from = (state >> 33) % 20;
                let to = (from + 1 + (state >> 13) % 19) % 20;
                let steps = [
                    "BEGIN".to_string(),
                    format!("UPDATE accounts SET balance = balance - 7 WHERE id = {from}"),
                    format!("UPDATE accounts SET balance = balance + 7 WHERE id = {to}"),
                    "COMMIT".to_string(),
                ];
                until_committed(&mut session, &steps).await;
            }
        }));
    }
    for isolation in ["SERIALIZABLE", "REPEATABLE READ"] {
        let mut session = test.session();
        tasks.push(tokio::spawn(async move {
            for _ in 0..40 {
                session.execute(&format!("BEGIN ISOLATION LEVEL {isolation}")).await.unwrap();
                let first = value(&session.execute("SELECT sum(balance) FROM accounts").await.unwrap());
                let again = value(&session.execute("SELECT sum(balance) FROM accounts WHERE id >= 0").await.unwrap());
                session.execute("COMMIT").await.unwrap();
                assert_eq!((first.as_str(), again.as_str()), ("2000", "2000"), "a block at {isolation} saw a partial transfer");
            }
        }));
    }
    let engine = test.engine.clone();
    let mut flusher = test.session();
    tasks.push(tokio::spawn(async move {
        for _ in 0..10 {
            flusher.execute("FLUSH TABLE accounts").await.unwrap();
            engine.run_jobs().await.unwrap();
        }
    }));
    for task in tasks {
        task.await.expect("a task failed");
    }
    assert_eq!(value(&test.session().execute("SELECT sum(balance) FROM accounts").await.unwrap()), "2000");
}

/// Write skew under real concurrency: each block takes its doctor off call only if at
/// least two are on call. At SERIALIZABLE at least one doctor stays on call whatever the
/// interleaving.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn write_skew_never_commits_at_serializable_under_concurrency() {
    for round in 0..5 {
        let test = TestEngine::new();
        run_all(
            &mut test.session(),
            &[
                "CREATE TABLE doctors (id BIGINT PRIMARY KEY, on_call BOOLEAN)",
                "INSERT INTO doctors VALUES (0, true), (1, true), (2, true), (3, true)",
            ],
        )
        .await;
        let mut tasks = Vec::new();
        for doctor in 0..4 {
            let mut session = test.session();
            tasks.push(tokio::spawn(async move {
                loop {
                    session.execute("BEGIN ISOLATION LEVEL SERIALIZABLE").await.unwrap();
                    let on_call: i64 =
                        value(&session.execute("SELECT count(*) FROM doctors WHERE on_call").await.unwrap()).parse().unwrap();
                    if on_call >= 2 {
                        session.execute(&format!("UPDATE doctors SET on_call = false WHERE id = {doctor}")).await.unwrap();
                    }
                    match session.execute("COMMIT").await {
                        Ok(_) => return,
                        Err(error) => assert_eq!(error.sql_state().code(), "40001", "{error}"),
                    }
                }
            }));
        }
        for task in tasks {
            task.await.expect("a doctor's task failed");
        }
        let left = value(&test.session().execute("SELECT count(*) FROM doctors WHERE on_call").await.unwrap());
        assert_ne!(left, "0", "round {round}: every doctor went off call");
    }
}

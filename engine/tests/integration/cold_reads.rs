//! Reads of flushed rows beyond the basics. Scans skip the segments and row groups their
//! filters rule out (counted in the scan's metrics, which EXPLAIN ANALYZE prints), and
//! skipping never changes a result: a newer version of a key that fails the filter still
//! hides an older one that passes. Large scans merge hot rows over cold ones out of key
//! order, with the same rows; rewrites of a large segment keep it in key order.

use crate::common;

use common::{TestEngine, render, run_all};
use engine::exports::datafusion::arrow::util::display::array_value_to_string;
use engine::{QueryResult, Session};

/// The scan's pruning counters in `EXPLAIN ANALYZE sql`.
async fn pruned(session: &mut Session, sql: &str) -> (u64, u64) {
    let plan = render(&session.execute(&format!("EXPLAIN ANALYZE {sql}")).await.unwrap_or_else(|e| panic!("{sql}: {e}")));
    let line = plan.lines().find(|l| l.contains("EngineScan")).unwrap_or_else(|| panic!("no scan in {plan}"));
    let counter = |name: &str| -> u64 {
        let at = line.find(&format!("{name}=")).unwrap_or_else(|| panic!("no {name} in {line}"));
        line[at + name.len() + 1..].chars().take_while(char::is_ascii_digit).collect::<String>().parse().expect("a count")
    };
    (counter("segments_pruned"), counter("row_groups_pruned"))
}

/// The rows of `sql`, each as its cells joined by commas.
async fn rows(session: &mut Session, sql: &str) -> Vec<String> {
    let QueryResult::Rows { batches, .. } = session.execute(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}")) else {
        panic!("{sql} returned no rows")
    };
    let mut rows = Vec::new();
    for batch in &batches {
        for row in 0..batch.num_rows() {
            let cells: Vec<String> = batch.columns().iter().map(|c| array_value_to_string(c, row).expect("printable")).collect();
            rows.push(cells.join(","));
        }
    }
    rows
}

#[tokio::test]
async fn value_filters_skip_segments_but_never_expose_older_versions() {
    let test = TestEngine::new();
    let mut session = test.session();
    run_all(&mut session, &["CREATE TABLE t (id INT PRIMARY KEY, v INT)"]).await;
    // Four segments with disjoint keys and values: v = id in 1..10, 11..20, 21..30, 31..40.
    for part in 0..4 {
        let values: Vec<String> = (1..=10).map(|i| part * 10 + i).map(|i| format!("({i}, {i})")).collect();
        run_all(&mut session, &[&format!("INSERT INTO t VALUES {}", values.join(", ")), "FLUSH TABLE t"]).await;
    }
    assert_eq!(pruned(&mut session, "SELECT id FROM t WHERE v > 35").await, (3, 0));
    assert_eq!(pruned(&mut session, "SELECT id FROM t WHERE v BETWEEN 12 AND 18").await, (3, 0));

    // Key 1 moves into a newer segment with a value the filter wants; key 39 into one with
    // a value it does not: the newer version decides, whatever the older one says.
    run_all(&mut session, &["UPDATE t SET v = 100 WHERE id = 1", "FLUSH TABLE t", "UPDATE t SET v = 0 WHERE id = 39", "FLUSH TABLE t"])
        .await;
    assert_eq!(rows(&mut session, "SELECT id, v FROM t WHERE v > 35 ORDER BY id").await, ["1,100", "36,36", "37,37", "38,38", "40,40"]);
    // Segments 1-3 go; the one holding key 39's new version cannot (segment 4 is read).
    assert_eq!(pruned(&mut session, "SELECT id FROM t WHERE v > 35").await, (3, 0));
    // An older segment that passes keeps every newer one over its keys in the read.
    run_all(&mut session, &["UPDATE t SET v = 50 WHERE id = 5", "FLUSH TABLE t"]).await;
    assert_eq!(rows(&mut session, "SELECT count(*) FROM t WHERE v < 11").await, ["9"]);
    assert_eq!(rows(&mut session, "SELECT id FROM t WHERE v = 50").await, ["5"]);

    // `_seq` bounds: every segment older than the last flush goes, as a chain.
    let bound = rows(&mut session, "SELECT max(_seq) - 1 FROM t").await.remove(0);
    let newest = format!("SELECT id FROM t WHERE _seq > {bound}");
    assert_eq!(rows(&mut session, &newest).await, ["5"]);
    assert_eq!(pruned(&mut session, &newest).await, (6, 0));

    // Parquet's float bounds leave NaN out; a filter NaN passes still finds it.
    run_all(
        &mut session,
        &["CREATE TABLE f (id INT PRIMARY KEY, x DOUBLE)", "INSERT INTO f VALUES (1, 1.0), (2, CAST('NaN' AS DOUBLE))", "FLUSH TABLE f"],
    )
    .await;
    assert_eq!(rows(&mut session, "SELECT id FROM f WHERE x > 2").await, ["2"]);

    // Hot rows over pruned segments still win.
    run_all(&mut session, &["UPDATE t SET v = 7 WHERE id = 40"]).await;
    assert_eq!(rows(&mut session, "SELECT id FROM t WHERE v > 37 ORDER BY id").await, ["1", "5", "38"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_segments_prune_row_groups_merge_unordered_and_stay_sorted() {
    large_segments(TestEngine::new()).await;
}

/// With a cold cache too small for a segment's key index, merges decode row keys from
/// the file instead of taking them from the index: the same rows come out. (A table
/// without a primary key: its INSERTs look up no key in the segment, and nothing here
/// reads single rows, which without a cache decode a row group each.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merges_without_a_cached_key_index_read_every_row_once() {
    let test = TestEngine::with_config(|config| config.cold_cache_bytes = 1 << 20);
    let mut session = test.session();
    run_all(&mut session, &["CREATE TABLE big (id BIGINT, v BIGINT)"]).await;
    for start in (0..165_000).step_by(15_000) {
        let values: Vec<String> = (start..start + 15_000).map(|i| format!("({i}, {i})")).collect();
        session.execute(&format!("INSERT INTO big VALUES {}", values.join(", "))).await.expect("insert");
        if start == 135_000 {
            run_all(&mut session, &["FLUSH TABLE big"]).await;
        }
    }
    let sum: i64 = (0..165_000).sum();
    let whole = "SELECT count(*), sum(v), count(DISTINCT id) FROM big";
    assert_eq!(rows(&mut session, whole).await, [format!("165000,{sum},165000")]);
    run_all(&mut session, &["FLUSH TABLE big"]).await;
    assert_eq!(rows(&mut session, whole).await, [format!("165000,{sum},165000")]);
    assert_eq!(
        rows(&mut session, "SELECT count(*), sum(v) FROM big WHERE id >= 140000").await,
        [format!("25000,{}", (140_000..165_000).sum::<i64>())]
    );
}

async fn large_segments(test: TestEngine) {
    let mut session = test.session();
    run_all(&mut session, &["CREATE TABLE big (id BIGINT PRIMARY KEY, v BIGINT) WITH (DELETED_RETENTION_HOURS = 1)"]).await;
    // 150,000 rows with v = id: row groups of 65,536 rows hold ids 0.., 65,536.. and
    // 131,072..; id 7 is deleted before the flush, so the one segment holds a tombstone.
    for start in (0..150_000).step_by(10_000) {
        let values: Vec<String> = (start..start + 10_000).map(|i| format!("({i}, {i})")).collect();
        session.execute(&format!("INSERT INTO big VALUES {}", values.join(", "))).await.expect("insert");
    }
    run_all(&mut session, &["DELETE FROM big WHERE id = 7", "FLUSH TABLE big"]).await;
    let total: i64 = (0..150_000).sum::<i64>() - 7;

    let by_key = "SELECT count(*) FROM big WHERE id BETWEEN 140000 AND 140009";
    assert_eq!(rows(&mut session, by_key).await, ["10"]);
    assert_eq!(pruned(&mut session, by_key).await, (0, 2));
    let by_value = "SELECT count(*) FROM big WHERE v >= 70000 AND v < 70010";
    assert_eq!(rows(&mut session, by_value).await, ["10"]);
    assert_eq!(pruned(&mut session, by_value).await, (0, 2));
    let nothing = "SELECT count(*) FROM big WHERE v > 1000000";
    assert_eq!(rows(&mut session, nothing).await, ["0"]);
    assert_eq!(pruned(&mut session, nothing).await, (1, 0));

    // The purge rewrites the segment without the tombstone, in key order: point reads
    // and key ranges (which trust that order) find every row.
    test.clock.advance_millis(2 * 3_600_000);
    test.engine.run_jobs().await.expect("jobs");
    assert_eq!(rows(&mut session, "SELECT count(*) FROM big WHERE _deleted OR NOT _deleted").await, ["149999"]);
    for id in [0, 65_535, 65_536, 70_004, 131_072, 149_998] {
        assert_eq!(rows(&mut session, &format!("SELECT v FROM big WHERE id = {id}")).await, [id.to_string()], "key {id}");
    }
    assert_eq!(rows(&mut session, "SELECT count(*) FROM big WHERE id BETWEEN 65000 AND 66000").await, ["1001"]);

    // Every tenth row updated (hot, over the segment), a few deleted: the unordered merge
    // shows each key once, at its newest version.
    run_all(&mut session, &["UPDATE big SET v = v + 1 WHERE id % 10 = 0", "DELETE FROM big WHERE id IN (3, 70005, 149999)"]).await;
    let updated = total + 15_000 - 3 - 70_005 - 149_999;
    let whole = "SELECT count(*), sum(v), count(DISTINCT id) FROM big";
    assert_eq!(rows(&mut session, whole).await, [format!("149996,{updated},149996")]);
    assert_eq!(rows(&mut session, "SELECT count(*) FROM big WHERE _deleted").await, ["3"]);
    // The merge is cut into two key parts at the second row group (id 65,536), read at
    // once: a key range across the cut, and a transaction's pending rows on either side,
    // come out once each.
    let across: Vec<i64> = (60_000..=70_010).filter(|&i| i != 70_005).map(|i| if i % 10 == 0 { i + 1 } else { i }).collect();
    let across_sql = "SELECT count(*), sum(v) FROM big WHERE id BETWEEN 60000 AND 70010";
    assert_eq!(rows(&mut session, across_sql).await, [format!("{},{}", across.len(), across.iter().sum::<i64>())]);
    run_all(&mut session, &["BEGIN", "UPDATE big SET v = 0 WHERE id IN (65535, 65536)", "INSERT INTO big VALUES (200000, 5)"]).await;
    let in_block = updated - 65_535 - 65_536 + 5;
    assert_eq!(rows(&mut session, whole).await, [format!("149997,{in_block},149997")]);
    run_all(&mut session, &["ROLLBACK"]).await;
    // A newer segment over the same keys turns value pruning off for itself; key pruning
    // stays.
    run_all(&mut session, &["FLUSH TABLE big"]).await;
    assert_eq!(rows(&mut session, whole).await, [format!("149996,{updated},149996")]);
    assert_eq!(rows(&mut session, by_value).await, ["9"]);
    assert_eq!(rows(&mut session, by_key).await, ["10"]);

    for id in [0, 65_535, 70_004, 70_005, 131_072, 149_990] {
        let expected = if id == 70_005 { Vec::new() } else { vec![(if id % 10 == 0 { id + 1 } else { id }).to_string()] };
        assert_eq!(rows(&mut session, &format!("SELECT v FROM big WHERE id = {id}")).await, expected, "key {id}");
    }
    assert_eq!(rows(&mut session, by_key).await, ["10"]);
}

//! A full scan of a large flushed range is split across threads on one snapshot. The
//! split must change nothing but speed: every row once, deleted rows still hidden, the
//! same aggregates and rows as one thread reading the same data.

use crate::common;

use common::{TestEngine, render, run_all};
use engine::QueryResult;
use engine::storage::keys::{RowScope, prefix_upper_bound, scope_row_prefix};

const ROWS: i64 = 20_000;

async fn load(engine: &TestEngine) {
    let mut session = engine.session();
    run_all(&mut session, &["CREATE TABLE t (id BIGINT PRIMARY KEY, grp INT, name TEXT)"]).await;
    for start in (0..ROWS).step_by(1000) {
        let rows: Vec<String> = (start..start + 1000).map(|i| format!("({i}, {}, 'name-{i}')", i % 7)).collect();
        session.execute(&format!("INSERT INTO t VALUES {}", rows.join(", "))).await.expect("insert");
    }
    run_all(&mut session, &["DELETE FROM t WHERE id = 5", "UPDATE t SET grp = 100 WHERE id = 19999"]).await;
    engine.engine.flush_hot_storage().expect("flush");
}

async fn query(engine: &TestEngine, sql: &str) -> String {
    let mut session = engine.session();
    let result: QueryResult = session.execute(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    render(&result)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_scans_return_what_one_thread_returns() {
    let split = TestEngine::with_config(|config| {
        config.parallel_scan_min_bytes = 1;
        config.scan_batch_rows = 1024;
    });
    let single = TestEngine::with_config(|config| {
        config.parallel_scan_min_bytes = u64::MAX;
        config.scan_batch_rows = 1024;
    });
    load(&split).await;
    load(&single).await;

    // The table's range really is split on the first engine.
    let entry = split.engine.shared().catalog.table("default", "t").expect("table");
    let prefix = scope_row_prefix(entry.id(), &RowScope::Shared);
    let upper = prefix_upper_bound(&prefix).expect("bounded");
    let parts = split.engine.shared().store.split_range(&prefix, &upper, 2, 1).expect("split");
    assert!(parts.is_some_and(|p| p.len() == 1));

    for sql in [
        "SELECT count(*), sum(id), min(id), max(id), count(DISTINCT name) FROM t",
        "SELECT grp, count(*), sum(id) FROM t GROUP BY grp ORDER BY grp",
        "SELECT * FROM t ORDER BY id",
        "SELECT count(*) FROM t WHERE _deleted",
    ] {
        assert_eq!(query(&split, sql).await, query(&single, sql).await, "{sql}");
    }
}

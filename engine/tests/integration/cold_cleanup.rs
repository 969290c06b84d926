//! A retired segment file that cannot be deleted stops nothing: the failure is recorded
//! once in `system.jobs` (`file_cleanup`), the file stays queued and is deleted once the
//! store lets it, and every retention purge goes on meanwhile.

use crate::common;
use crate::faults;

use std::sync::Arc;

use common::{TestEngine, render, run_all};
use engine::ColdStorage;
use engine::exports::object_store::memory::InMemory;
use faults::FaultyStore;

const HOUR_MILLIS: i64 = 3_600_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undeletable_retired_file_stops_no_purge() {
    let store = Arc::new(FaultyStore::new(Arc::new(InMemory::new())));
    let configured = store.clone();
    let test = TestEngine::with_config(move |config| config.cold_storage = ColdStorage::Store(configured, "cold".into()));
    let mut session = test.session();
    run_all(
        &mut session,
        &[
            "CREATE TABLE a (id INT PRIMARY KEY) WITH (DELETED_RETENTION_HOURS = 1)",
            "CREATE TABLE b (id INT PRIMARY KEY) WITH (DELETED_RETENTION_HOURS = 1)",
            "INSERT INTO a VALUES (1), (2), (3), (4)",
            "INSERT INTO b VALUES (1), (2), (3), (4)",
            "FLUSH ALL TABLES",
            "DELETE FROM a WHERE id = 1",
            "DELETE FROM b WHERE id = 1",
        ],
    )
    .await;
    // Table a's files (folder `t1`) cannot be deleted from now on.
    store.refuse_deletes_of(Some("cold/t1/"));
    test.clock.advance_millis(HOUR_MILLIS + 1);
    test.engine.run_jobs().await.expect("the purges run");
    let deleted = "SELECT id FROM {} WHERE _deleted";
    for table in ["a", "b"] {
        assert_eq!(session.execute(&deleted.replace("{}", table)).await.unwrap().row_count(), 0, "{table} purged");
    }
    let failed = "SELECT job_type, error_message FROM system.jobs WHERE status = 'failed'";
    let shown = render(&session.execute(failed).await.unwrap());
    assert!(shown.contains("file_cleanup") && shown.contains("cold/t1/"), "{shown}");
    // A second round: both tables are purged again, the stuck file is not reported again.
    run_all(&mut session, &["DELETE FROM a WHERE id = 2", "DELETE FROM b WHERE id = 2"]).await;
    test.clock.advance_millis(2 * HOUR_MILLIS);
    test.engine.run_jobs().await.expect("the purges run again");
    for table in ["a", "b"] {
        assert_eq!(session.execute(&deleted.replace("{}", table)).await.unwrap().row_count(), 0, "{table} purged again");
        assert_eq!(session.execute(&format!("SELECT id FROM {table}")).await.unwrap().row_count(), 2);
    }
    let purges = "SELECT table_name FROM system.jobs WHERE job_type = 'retention_purge' AND status = 'completed'";
    assert_eq!(session.execute(purges).await.unwrap().row_count(), 4, "two purges of each table");
    let failures = session.execute(failed).await.unwrap().row_count();
    assert!(failures >= 1, "the failures are recorded");
    assert!(test.engine.shared().cold.retired_files() > 0, "the stuck files wait");
    // The store lets go: the next run deletes them, and records nothing new.
    store.refuse_deletes_of(None);
    test.engine.run_jobs().await.expect("cleanup");
    assert_eq!(test.engine.shared().cold.retired_files(), 0);
    assert_eq!(session.execute(failed).await.unwrap().row_count(), failures);
}

//! An acknowledged write survives a crash of the process: a child process writes, reports
//! success, and aborts without any shutdown; the parent reopens the data directory.

use std::process::Command;
use std::sync::Arc;

use engine::{Engine, EngineConfig, ManualClock};

const CHILD_DIR: &str = "ENGINE_CRASH_TEST_DIR";

fn open(dir: &str) -> Engine {
    Engine::open(EngineConfig::for_tests(dir, Arc::new(ManualClock::default()))).expect("open engine")
}

#[test]
fn acknowledged_writes_survive_a_crash() {
    if let Ok(dir) = std::env::var(CHILD_DIR) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let engine = open(&dir);
            let mut session = engine.root_session();
            session.execute("CREATE TABLE t (id INT PRIMARY KEY, v TEXT)").await.unwrap();
            session.execute("INSERT INTO t VALUES (1, 'a'), (2, 'b')").await.unwrap();
            session.execute("DELETE FROM t WHERE id = 2").await.unwrap();
            println!("acknowledged");
        });
        std::process::abort();
    }

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data").display().to_string();
    let child = Command::new(std::env::current_exe().unwrap())
        .args(["crash::acknowledged_writes_survive_a_crash", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_DIR, &data)
        .output()
        .expect("child test process");
    let stdout = String::from_utf8_lossy(&child.stdout);
    assert!(stdout.contains("acknowledged"), "child did not finish its writes: {stdout}");
    assert!(!child.status.success(), "the child must crash, not exit cleanly");

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let engine = open(&data);
        let mut session = engine.root_session();
        let live = session.execute("SELECT id FROM t").await.unwrap();
        assert_eq!(live.row_count(), 1);
        let all = session.execute("SELECT id FROM t WHERE _deleted OR NOT _deleted").await.unwrap();
        assert_eq!(all.row_count(), 2);
        let seq = session.execute("INSERT INTO t VALUES (3, 'c')").await.unwrap();
        assert!(matches!(seq, engine::QueryResult::Count { rows: 1, .. }));
        let next = session.execute("SELECT _seq FROM t WHERE id = 3").await.unwrap();
        let engine::QueryResult::Rows { batches, .. } = next else { panic!("rows expected") };
        use engine::exports::arrow::array::AsArray;
        use engine::exports::arrow::datatypes::Int64Type;
        assert_eq!(batches[0].column(0).as_primitive::<Int64Type>().value(0), 4, "_seq continues after the crash");
    });
}

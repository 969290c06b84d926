//! Reopening a data directory in the same process while a dropped engine still holds it
//! (found by the fuzzer, whose restarts met RocksDB's lock now and then: a statement of
//! the dropped engine was still finishing on a blocking thread). The open waits for the
//! release; held past `release_wait`, it fails with 55006, never with RocksDB's lock.

use crate::common;

use std::time::Duration;

use common::{TestEngine, render, run_all};
use engine::{Engine, EngineConfig};

#[tokio::test]
async fn an_open_waits_for_a_dropped_engine_to_let_go_of_the_directory() {
    let test = TestEngine::new();
    let mut session = test.session();
    run_all(&mut session, &["CREATE TABLE t (id INT PRIMARY KEY)", "INSERT INTO t VALUES (1)"]).await;
    let TestEngine { engine, clock, dir } = test;
    let data_dir = engine.data_dir().to_path_buf();
    drop(engine);
    // The session still holds the dropped engine's storage.
    let config = |wait: Duration| EngineConfig { release_wait: wait, ..EngineConfig::for_tests(data_dir.clone(), clock.clone()) };
    let refused = Engine::open(config(Duration::from_millis(20))).expect_err("the directory is still held");
    assert_eq!(refused.sql_state().code(), "55006", "{refused}");
    assert!(refused.to_string().contains("still open in this process"), "{refused}");
    // Released on another thread while an open waits (or before it starts: either way
    // the open succeeds).
    let release = std::thread::spawn(move || drop(session));
    let engine = Engine::open(config(Duration::from_secs(60))).expect("open once released");
    release.join().unwrap();
    let test = TestEngine { engine, clock, dir };
    let rows = test.session().execute("SELECT id FROM t").await.expect("read");
    assert!(render(&rows).contains("| 1  |"), "{}", render(&rows));
}

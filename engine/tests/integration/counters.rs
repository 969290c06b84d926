//! The engine's persistent counters (`_seq`, internal row ids, table ids) are checked when
//! a data directory opens: a missing or corrupt counter stops the open with a clear error
//! instead of being read as zero, which would hand out used ids again.

use crate::common;

use common::{TestEngine, run_all};
use engine::storage::keys::meta_key;
use engine::storage::{ChangeSet, Store};
use std::path::PathBuf;
use std::sync::Arc;

use engine::{Engine, EngineConfig, ManualClock};

/// Writes some rows, closes the engine, then applies `alter` to its storage directly.
/// Returns the data directory (kept alive), its path and the clock.
async fn closed_and_altered(alter: impl FnOnce(&mut ChangeSet)) -> (tempfile::TempDir, PathBuf, Arc<ManualClock>) {
    let test = TestEngine::new();
    let mut session = test.session();
    run_all(&mut session, &["CREATE TABLE t (id INT PRIMARY KEY)", "INSERT INTO t VALUES (1), (2)", "CREATE TABLE k (v INT)"]).await;
    drop(session);
    let path = test.engine.data_dir().to_path_buf();
    let TestEngine { engine, clock, dir } = test;
    drop(engine);
    let store = Store::open(&path.join("hot"), 1 << 20, engine::config::DEFAULT_RELEASE_WAIT).unwrap();
    let mut changes = ChangeSet::default();
    alter(&mut changes);
    store.commit(changes).unwrap();
    (dir, path, clock)
}

/// [`closed_and_altered`], then the error opening the directory gives.
async fn damaged(damage: impl FnOnce(&mut ChangeSet)) -> (tempfile::TempDir, engine::EngineError) {
    let (dir, path, clock) = closed_and_altered(damage).await;
    let error = Engine::open(EngineConfig::for_tests(&path, clock)).expect_err("a damaged directory must not open");
    (dir, error)
}

#[tokio::test]
async fn a_missing_or_corrupt_counter_stops_the_open() {
    for (counter, corrupt) in [("seq", false), ("seq", true), ("next_table_id", false), ("next_table_id", true), ("row_id", false)] {
        let (_dir, error) = damaged(|changes| {
            if corrupt {
                changes.put(&meta_key(counter), &[1, 2, 3]);
            } else {
                changes.delete(&meta_key(counter));
            }
        })
        .await;
        assert_eq!(error.sql_state().code(), "XX001", "{counter}: {error}");
        let what = if corrupt { "corrupt" } else { "missing" };
        assert!(error.message().contains(&format!("{counter} counter is {what}")), "{error}");
    }
}

#[tokio::test]
async fn a_table_id_counter_behind_the_catalog_stops_the_open() {
    let (_dir, error) = damaged(|changes| changes.put(&meta_key("next_table_id"), &1u64.to_be_bytes())).await;
    assert_eq!(error.sql_state().code(), "XX001", "{error}");
    assert!(error.message().contains("table #1 exists"), "{error}");
}

#[tokio::test]
async fn a_directory_of_the_first_format_is_upgraded() {
    // The first format had no format marker and no row-id counter.
    let (_dir, path, clock) = closed_and_altered(|changes| {
        changes.delete(&meta_key("format"));
        changes.delete(&meta_key("row_id"));
    })
    .await;
    let engine = Engine::open(EngineConfig::for_tests(&path, clock)).expect("an earlier format opens");
    let mut session = engine.root_session();
    run_all(&mut session, &["INSERT INTO k VALUES (3)"]).await;
    let storage = engine.describe_storage().unwrap();
    // Row ids continue after the last `_seq` (the first format's row ids).
    assert!(storage.iter().any(|l| l.starts_with("row default.k (row-id 3)")), "{storage:#?}");
}

#[tokio::test]
async fn a_fresh_directory_gets_its_counters_and_ids_continue_after_a_restart() {
    let test = TestEngine::new();
    let mut session = test.session();
    run_all(&mut session, &["CREATE TABLE k (v INT)", "INSERT INTO k VALUES (1), (2)"]).await;
    drop(session);
    let test = test.restart();
    let mut session = test.session();
    run_all(&mut session, &["INSERT INTO k VALUES (3)", "CREATE TABLE other (v INT)"]).await;
    let storage = test.engine.describe_storage().unwrap();
    let row_ids: Vec<&String> = storage.iter().filter(|l| l.starts_with("row default.k")).collect();
    assert_eq!(row_ids.len(), 3, "{storage:#?}");
    assert!(row_ids[2].contains("row-id 3"), "{storage:#?}");
    assert!(storage.iter().any(|l| l.starts_with("table-name default.other -> #2")), "{storage:#?}");
}

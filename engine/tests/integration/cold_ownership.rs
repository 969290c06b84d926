//! Cold storage deletes only what the engine wrote: objects of others under its root stay
//! through flushes, drops and the garbage collection at open; a root another engine owns
//! is refused; staging files of interrupted local writes go at open; folders are named by
//! ids, so tables whose names differ only in case never share one.

use crate::common;

use std::sync::Arc;

use common::{TestEngine, run_all};
use engine::ColdStorage;
use engine::exports::object_store::memory::InMemory;
use engine::exports::object_store::path::Path;
use engine::exports::object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use futures::TryStreamExt;

async fn names(store: &InMemory) -> Vec<String> {
    let mut listed: Vec<String> = store.list(None).map_ok(|m| m.location.to_string()).try_collect().await.expect("list");
    listed.sort();
    listed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_objects_under_the_root_survive_and_a_second_engine_is_refused() {
    let store = Arc::new(InMemory::new());
    let foreign = ["cold/notes.txt", "cold/other/data.parquet", "cold/other/manifest.json", "cold/t99x/1-n00000000000000000001.parquet"];
    for name in foreign {
        store.put(&Path::from(name), PutPayload::from_static(b"not the engine's")).await.expect("put");
    }
    let configure =
        |store: Arc<InMemory>| move |config: &mut engine::EngineConfig| config.cold_storage = ColdStorage::Store(store, "cold".into());
    let test = TestEngine::with_config(configure(store.clone()));
    {
        let mut session = test.session();
        run_all(
            &mut session,
            &[
                "CREATE TABLE \"T\" (id INT PRIMARY KEY)",
                "CREATE TABLE t (id INT PRIMARY KEY)",
                "INSERT INTO \"T\" VALUES (1)",
                "INSERT INTO t VALUES (2)",
                "FLUSH ALL TABLES",
            ],
        )
        .await;
    }
    // A second engine (another hot store) on the same root is refused.
    let other = tempfile::tempdir().expect("temporary directory");
    let mut config = engine::EngineConfig::for_tests(other.path().join("data"), test.clock.clone());
    config.cold_storage = ColdStorage::Store(store.clone(), "cold".into());
    let refused = engine::Engine::open(config).expect_err("a root of another engine");
    assert_eq!(refused.sql_state().code(), "55000", "{refused}");
    // Restart (garbage collection at open), then drop both tables.
    let test = test.restart_with(configure(store.clone()));
    let mut session = test.session();
    assert_eq!(session.execute("SELECT id FROM \"T\"").await.unwrap().row_count(), 1);
    assert_eq!(session.execute("SELECT id FROM t").await.unwrap().row_count(), 1);
    run_all(&mut session, &["DROP TABLE \"T\"", "DROP TABLE t"]).await;
    drop(session);
    let test = test.restart_with(configure(store.clone()));
    drop(test);
    let mut expected: Vec<String> = foreign.iter().map(|s| s.to_string()).collect();
    expected.push("cold/engine.json".into());
    expected.sort();
    assert_eq!(names(&store).await, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staging_files_of_interrupted_local_writes_go_at_open() {
    let test = TestEngine::new();
    {
        let mut session = test.session();
        run_all(&mut session, &["CREATE TABLE t (id INT PRIMARY KEY)", "INSERT INTO t VALUES (1)", "FLUSH TABLE t"]).await;
    }
    let folder = test.engine.data_dir().join("storage").join("t1");
    assert!(folder.join("manifest.json").is_file(), "the scope folder is named by the table id");
    let staging = folder.join("1-n00000000000000000099.parquet#7");
    let unrelated = folder.join("readme.txt#1");
    std::fs::write(&staging, b"half a segment").unwrap();
    std::fs::write(&unrelated, b"someone else's").unwrap();
    let test = test.restart();
    assert!(!staging.exists(), "the engine's staging file is removed");
    assert!(unrelated.exists(), "a file of another name is not the engine's");
    let mut session = test.session();
    assert_eq!(session.execute("SELECT id FROM t").await.unwrap().row_count(), 1);
}

//! Cold storage from outside the engine: segments are plain Parquet that DataFusion's own
//! reader (and pyarrow, where Python has it) opens without the engine, and the object
//! store is pluggable (an in-memory store behaves like the local folder, across restarts).

use crate::common;

use std::sync::Arc;

use common::{TestEngine, render, run_all};
use engine::exports::datafusion::prelude::{ParquetReadOptions, SessionContext};
use engine::exports::object_store::memory::InMemory;
use engine::{ColdStorage, QueryResult};

const SETUP: &[&str] = &[
    "CREATE TABLE t (id INT PRIMARY KEY, name TEXT, score DOUBLE)",
    "INSERT INTO t VALUES (1, 'ann', 1.5), (2, 'bo', 2.5), (3, 'cy', NULL)",
    "FLUSH TABLE t",
    "UPDATE t SET score = 9.0 WHERE id = 2",
    "DELETE FROM t WHERE id = 3",
    "INSERT INTO t VALUES (4, 'di', 4.0)",
    "FLUSH TABLE t",
];

/// Every row version the engine shows, deleted ones included.
const ENGINE_VIEW: &str = "SELECT id, name, score, _seq, _deleted FROM t WHERE _deleted OR NOT _deleted ORDER BY id";

fn segment_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|entries| entries.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "parquet")).collect())
        .unwrap_or_default();
    files.sort();
    files
}

#[tokio::test]
async fn segments_open_in_plain_datafusion_with_the_same_rows() {
    let test = TestEngine::new();
    let mut session = test.session();
    run_all(&mut session, SETUP).await;
    let folder = test.engine.data_dir().join("storage").join("t1");
    assert_eq!(segment_files(&folder).len(), 2, "two flushes, two segments");
    assert!(folder.join("manifest.json").is_file());

    // Plain DataFusion over the folder: the newest version of each key is what the engine
    // shows.
    let plain = SessionContext::new();
    let options = ParquetReadOptions::default();
    plain.register_parquet("t", folder.display().to_string(), options).await.unwrap();
    let newest = "SELECT id, name, score, _seq, _deleted FROM \
                  (SELECT *, row_number() OVER (PARTITION BY id ORDER BY _seq DESC) AS version FROM t) \
                  WHERE version = 1 ORDER BY id";
    let batches = plain.sql(newest).await.unwrap().collect().await.unwrap();
    let schema = batches[0].schema();
    let from_files = render(&QueryResult::Rows { schema, batches });
    let from_engine = render(&session.execute(ENGINE_VIEW).await.unwrap());
    assert_eq!(from_files, from_engine);
    snapshot!("cold_segments_in_datafusion", from_files);

    // pyarrow reads them too, where it is installed.
    let script = "import sys, pyarrow.parquet as pq\nprint(sum(pq.read_table(p).num_rows for p in sys.argv[1:]))";
    let files: Vec<String> = segment_files(&folder).iter().map(|p| p.display().to_string()).collect();
    match std::process::Command::new("python3").arg("-c").arg(script).args(&files).output() {
        Ok(output) if output.status.success() => {
            assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "6", "3 rows, then 3 changed or new rows");
        }
        _ => eprintln!("pyarrow is not available: the pyarrow check is skipped"),
    }
}

#[tokio::test]
async fn an_in_memory_object_store_holds_cold_storage_across_restarts() {
    let store = Arc::new(InMemory::new());
    let configure =
        |store: Arc<InMemory>| move |config: &mut engine::EngineConfig| config.cold_storage = ColdStorage::Store(store, "cold".into());
    let test = TestEngine::with_config(configure(store.clone()));
    let expected = {
        let mut session = test.session();
        run_all(&mut session, SETUP).await;
        render(&session.execute(ENGINE_VIEW).await.unwrap())
    };
    assert!(segment_files(&test.engine.data_dir().join("storage").join("t1")).is_empty(), "nothing on the local disk");
    let test = test.restart_with(configure(store.clone()));
    let mut session = test.session();
    assert_eq!(render(&session.execute(ENGINE_VIEW).await.unwrap()), expected);
    run_all(&mut session, &["DROP TABLE t"]).await;
    let left = engine::exports::object_store::ObjectStore::list(store.as_ref(), None);
    let left: Vec<_> = futures::StreamExt::collect::<Vec<_>>(left).await;
    let left: Vec<String> = left.into_iter().map(|meta| meta.unwrap().location.to_string()).collect();
    // The root's marker names the engine that owns it; it is no table's.
    assert_eq!(left, ["cold/engine.json"], "DROP TABLE removes every object of the table");
}

#[tokio::test]
async fn a_memory_url_configures_the_same_code_path() {
    let test = TestEngine::with_config(|config| config.cold_storage = ColdStorage::Url("memory:///".into()));
    let mut session = test.session();
    run_all(&mut session, SETUP).await;
    assert_eq!(session.execute("SELECT count(*) FROM t").await.unwrap().row_count(), 1);
    let bad = engine::Engine::open({
        let mut config = engine::EngineConfig::for_tests(test.dir.path().join("other"), test.clock.clone());
        config.cold_storage = ColdStorage::Url("not a url".into());
        config
    });
    assert_eq!(bad.unwrap_err().sql_state().code(), "22023");
}

/// Many small batches from several overlapping segments (a merge reads them in turns):
/// the flushed engine reads what an engine that never flushed reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merges_of_many_segments_in_small_batches_read_like_hot_rows() {
    let mut statements = vec!["CREATE TABLE t (id INT PRIMARY KEY, v INT)".to_string()];
    for round in 0..6 {
        let rows: Vec<String> = (0..60).map(|i| format!("({}, {round})", i * 7 % 200 + round)).collect();
        statements.push(format!("INSERT INTO t VALUES {} ON CONFLICT DO NOTHING", rows.join(", ")));
        statements.push(format!("UPDATE t SET v = v + 10 WHERE id % 5 = {}", round % 5));
        statements.push(format!("DELETE FROM t WHERE id % 11 = {round}"));
        statements.push("FLUSH".into());
    }
    let queries = [
        "SELECT id, v FROM t ORDER BY id",
        // (`_seq` order within one statement follows DataFusion's batch order, which the
        // batch sizes change; the rows and their deletion must not differ.)
        "SELECT id, v, _deleted FROM t WHERE _deleted OR NOT _deleted ORDER BY id",
        "SELECT count(*), sum(v) FROM t WHERE id BETWEEN 20 AND 120",
        "SELECT id FROM t WHERE id = 77",
    ];
    let mut outputs = Vec::new();
    for flushing in [false, true] {
        let test = TestEngine::with_config(|config| config.scan_batch_rows = 3);
        let mut session = test.session();
        for statement in &statements {
            if statement == "FLUSH" {
                if flushing {
                    run_all(&mut session, &["FLUSH TABLE t"]).await;
                }
                continue;
            }
            // Keys repeat across rounds: insert the new ones only.
            let statement = statement.replace(" ON CONFLICT DO NOTHING", "");
            if statement.starts_with("INSERT") {
                for row in statement.trim_start_matches("INSERT INTO t VALUES ").split("), (") {
                    let row = row.trim_matches(|c| c == '(' || c == ')');
                    let _ = session.execute(&format!("INSERT INTO t VALUES ({row})")).await;
                }
            } else {
                run_all(&mut session, &[statement.as_str()]).await;
            }
        }
        let mut rendered = Vec::new();
        for query in queries {
            rendered.push(render(&session.execute(query).await.unwrap()));
        }
        outputs.push(rendered);
    }
    assert_eq!(outputs[0], outputs[1]);
    assert!(outputs[1][0].lines().count() > 50, "the table holds rows: {}", outputs[1][0]);
}

/// The retention purge removes the bytes of purged rows from cold storage: the new
/// segment leaves them out, and the old files go once no reader can hold them.
#[tokio::test]
async fn purged_rows_leave_the_segment_files() {
    const NEEDLE: &str = "7c0f3f5e9a1b44d2-purged-row-8e21aa90c6d3";
    let test = TestEngine::new();
    let mut session = test.session();
    run_all(
        &mut session,
        &[
            "CREATE TABLE t (id INT PRIMARY KEY, body TEXT) WITH (DELETED_RETENTION_HOURS = 1)",
            &format!("INSERT INTO t VALUES (1, 'kept'), (2, '{NEEDLE}')"),
            "FLUSH TABLE t",
            "DELETE FROM t WHERE id = 2",
            "FLUSH TABLE t",
        ],
    )
    .await;
    let folder = test.engine.data_dir().join("storage");
    let holding = |folder: &std::path::Path| {
        let mut found = 0;
        for file in segment_files(&folder.join("t1")) {
            let bytes = std::fs::read(file).unwrap();
            found += bytes.windows(NEEDLE.len()).any(|w| w == NEEDLE.as_bytes()) as usize;
        }
        found
    };
    assert_eq!(holding(&folder), 2, "the row and its tombstone are in two segments");
    test.clock.advance_millis(2 * 3_600_000);
    test.engine.run_jobs().await.unwrap();
    assert_eq!(render(&session.execute("SELECT id FROM t WHERE _deleted OR NOT _deleted").await.unwrap()).lines().count(), 5);
    // No reader held the retired files: the run that retired them deleted them.
    assert_eq!(holding(&folder), 0, "no file holds the purged row");
    assert_eq!(segment_files(&folder.join("t1")).len(), 1);
}

/// A segment larger than one upload part (8 MiB) is written in parts as the flush reads
/// the rows, and reads back whole, in the engine and in plain DataFusion.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_segment_larger_than_one_upload_part_reads_back_whole() {
    let test = TestEngine::new();
    let mut session = test.session();
    run_all(
        &mut session,
        &[
            "CREATE TABLE big (id BIGINT PRIMARY KEY, body TEXT)",
            // About 100 bytes of poorly compressible text per row.
            "INSERT INTO big SELECT value, md5(value::text) || md5((value * 7)::text) || md5((value * 13)::text) FROM generate_series(1, 120000)",
            "FLUSH TABLE big",
        ],
    )
    .await;
    let folder = test.engine.data_dir().join("storage").join("t1");
    let files = segment_files(&folder);
    assert_eq!(files.len(), 1);
    let size = std::fs::metadata(&files[0]).unwrap().len();
    assert!(size > 8 * 1024 * 1024, "the segment ({size} bytes) spans more than one part");
    let check = "SELECT count(*), sum(id), count(DISTINCT body), min(length(body)) FROM big";
    let from_engine = render(&session.execute(check).await.unwrap());
    assert!(from_engine.contains("120000") && from_engine.contains("7200060000") && from_engine.contains("96"), "{from_engine}");
    let plain = SessionContext::new();
    plain.register_parquet("big", folder.display().to_string(), ParquetReadOptions::default()).await.unwrap();
    let batches = plain.sql(check).await.unwrap().collect().await.unwrap();
    let schema = batches[0].schema();
    assert_eq!(render(&QueryResult::Rows { schema, batches }), from_engine);
    let stored = test.engine.describe_storage().unwrap();
    assert!(!stored.iter().any(|line| line.starts_with("row ")), "every hot row went with the flush");
}

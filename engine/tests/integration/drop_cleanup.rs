//! DROP TABLE and DROP NAMESPACE CASCADE leave no byte of the table behind: no key in the
//! keyspace, and no file in the data directory (hot storage or the Parquet segments and
//! manifests of cold storage) that still holds its data.

use crate::common;

use common::{TestEngine, run_all};

/// A value that compresses badly, so it stays visible in any file that still holds it.
const NEEDLE: &str = "d41d8cd98f00b204e9800998ecf8427e-needle-5f2b91c4a7e3";

fn files_containing(dir: &std::path::Path, needle: &[u8]) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("readable data directory").flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(bytes) = std::fs::read(&path)
                && bytes.windows(needle.len()).any(|w| w == needle)
            {
                found.push(path);
            }
        }
    }
    found
}

async fn fill(session: &mut engine::Session, table: &str) {
    run_all(
        session,
        &[
            &format!("CREATE TABLE {table} (id INT PRIMARY KEY, payload TEXT)"),
            &format!("INSERT INTO {table} VALUES (1, '{NEEDLE}'), (2, '{NEEDLE}'), (3, 'other')"),
            // Rows in both tiers: Parquet segments and hot rows.
            &format!("FLUSH TABLE {table}"),
            &format!("UPDATE {table} SET payload = '{NEEDLE}' WHERE id = 3"),
            &format!("DELETE FROM {table} WHERE id = 2"),
        ],
    )
    .await;
}

#[tokio::test]
async fn drop_table_leaves_nothing_in_keyspace_or_files() {
    let test = TestEngine::new();
    let mut session = test.session();
    run_all(&mut session, &["CREATE TABLE keep (id INT PRIMARY KEY, v TEXT)", "INSERT INTO keep VALUES (1, 'kept')"]).await;
    fill(&mut session, "victim").await;
    test.engine.flush_hot_storage().unwrap();
    assert!(!files_containing(test.engine.data_dir(), NEEDLE.as_bytes()).is_empty(), "the needle is on disk before DROP");
    let parquet = files_containing(&test.engine.data_dir().join("storage"), NEEDLE.as_bytes());
    assert!(!parquet.is_empty(), "the needle is in cold storage before DROP");

    run_all(&mut session, &["DROP TABLE victim"]).await;

    let storage = test.engine.describe_storage().unwrap();
    assert!(storage.iter().all(|line| !line.contains("victim")), "keys left: {storage:#?}");
    assert!(storage.iter().any(|line| line.contains("'kept'")), "other tables keep their rows: {storage:#?}");
    let leftovers = files_containing(test.engine.data_dir(), NEEDLE.as_bytes());
    assert!(leftovers.is_empty(), "files still holding the dropped table's data: {leftovers:?}");
}

#[tokio::test]
async fn drop_namespace_cascade_leaves_nothing() {
    let test = TestEngine::new();
    let mut session = test.session();
    run_all(&mut session, &["CREATE NAMESPACE app", "USE app"]).await;
    fill(&mut session, "a").await;
    fill(&mut session, "b").await;
    test.engine.flush_hot_storage().unwrap();
    run_all(&mut session, &["DROP NAMESPACE app CASCADE"]).await;

    let storage = test.engine.describe_storage().unwrap();
    assert!(storage.iter().all(|line| !line.contains("app")), "keys left: {storage:#?}");
    assert!(files_containing(test.engine.data_dir(), NEEDLE.as_bytes()).is_empty());
}

#[tokio::test]
async fn a_table_created_again_starts_empty_after_restart() {
    let test = TestEngine::new();
    {
        let mut session = test.session();
        fill(&mut session, "t").await;
        run_all(&mut session, &["DROP TABLE t", "CREATE TABLE t (id INT PRIMARY KEY, payload TEXT)"]).await;
    }
    let test = test.restart();
    let mut session = test.session();
    let result = session.execute("SELECT id FROM t WHERE _deleted OR NOT _deleted").await.unwrap();
    assert_eq!(result.row_count(), 0);
}

#[tokio::test]
async fn drop_user_cascade_leaves_none_of_its_rows() {
    let test = TestEngine::new();
    let mut root = test.session();
    run_all(
        &mut root,
        &[
            "CREATE USER alice WITH PASSWORD 'a'",
            "CREATE USER bob WITH PASSWORD 'b'",
            "CREATE USER TABLE notes (id INT PRIMARY KEY, body TEXT)",
            "CREATE USER TABLE keyless (body TEXT)",
            "CREATE STREAM TABLE clicks (body TEXT) WITH (TTL_SECONDS = 3600)",
        ],
    )
    .await;
    let mut alice = test.engine.login("alice", "a").unwrap();
    run_all(
        &mut alice,
        &[
            &format!("INSERT INTO notes VALUES (1, '{NEEDLE}'), (2, '{NEEDLE}')"),
            "DELETE FROM notes WHERE id = 2",
            &format!("INSERT INTO keyless VALUES ('{NEEDLE}')"),
            &format!("INSERT INTO clicks VALUES ('{NEEDLE}')"),
        ],
    )
    .await;
    let mut bob = test.engine.login("bob", "b").unwrap();
    run_all(&mut bob, &["INSERT INTO notes VALUES (1, 'bob keeps this')"]).await;
    run_all(&mut root, &["FLUSH TABLE notes", "FLUSH TABLE keyless"]).await;
    let parquet = files_containing(&test.engine.data_dir().join("storage"), NEEDLE.as_bytes());
    assert!(!parquet.is_empty(), "alice's rows are in cold storage too");
    test.engine.flush_hot_storage().unwrap();
    assert!(!files_containing(test.engine.data_dir(), NEEDLE.as_bytes()).is_empty(), "alice's rows are on disk");

    let refused = root.execute("DROP USER alice").await.unwrap_err();
    assert_eq!(refused.sql_state().code(), "2BP01", "{refused}");
    run_all(&mut root, &["DROP USER alice CASCADE"]).await;

    let storage = test.engine.describe_storage().unwrap();
    assert!(storage.iter().all(|line| !line.contains(NEEDLE) && !line.contains("user alice")), "left: {storage:#?}");
    // Bob's rows are in cold storage now; he still reads them.
    let bobs = bob.execute("SELECT body FROM notes").await.unwrap();
    assert!(common::render(&bobs).contains("bob keeps this"), "bob keeps his rows");
    let leftovers = files_containing(test.engine.data_dir(), NEEDLE.as_bytes());
    assert!(leftovers.is_empty(), "files still holding alice's rows: {leftovers:?}");
    // Her open session is over.
    let ended = alice.execute("SELECT 1").await.unwrap_err();
    assert_eq!(ended.sql_state().code(), "28000", "{ended}");
}

//! Maintenance racing DDL, in interleavings the concurrency check (`cargo xtask
//! concurrency`) found, made deterministic with a flush observer that holds a flush at
//! one of its steps.

use crate::common;

use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use common::{TestEngine, render, run_all};
use engine::{FlushObserver, FlushStep};

/// A flush of several tables that resolved them all before the first one was written:
/// an ALTER TABLE and a row of the new shape commit while it waits, and the flush of the
/// altered table still moves that row with its new column (it failed with XX000, "row
/// written with unknown schema version 2", before flushes read with the table's current
/// definition).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flush_planned_before_an_alter_moves_rows_of_the_new_shape() {
    let (reached, held) = mpsc::channel::<()>();
    let (release, wait) = mpsc::channel::<()>();
    let hold_once = Mutex::new(Some((reached, wait)));
    let test = TestEngine::with_config(move |config| {
        config.flush_observer = Some(FlushObserver(Arc::new(move |step| {
            if step != FlushStep::SegmentWritten {
                return;
            }
            let first = hold_once.lock().unwrap().take();
            if let Some((reached, wait)) = first {
                reached.send(()).expect("the test waits");
                wait.recv().expect("the test releases the flush");
            }
        })));
    });
    let mut session = test.session();
    run_all(
        &mut session,
        &[
            "CREATE TABLE a (id INT PRIMARY KEY)",
            "INSERT INTO a VALUES (1)",
            "CREATE TABLE t (id INT PRIMARY KEY, v INT)",
            "INSERT INTO t VALUES (1, 10), (2, 20)",
        ],
    )
    .await;
    // FLUSH ALL TABLES resolves `a` and `t`, then holds after writing a's segment.
    let mut flusher = test.session();
    let flush = tokio::spawn(async move { flusher.execute("FLUSH ALL TABLES").await.map(|r| render(&r)) });
    tokio::task::block_in_place(|| held.recv()).expect("the flush reached its first segment");
    run_all(
        &mut session,
        &["ALTER TABLE t ADD COLUMN w TEXT", "INSERT INTO t VALUES (3, 30, 'new')", "UPDATE t SET w = 'was 1' WHERE id = 1"],
    )
    .await;
    release.send(()).expect("the flush waits");
    let flushed = flush.await.expect("flush task").expect("the flush succeeds");
    assert_eq!(flushed, "count: 4", "a's row and t's three");
    let expected = "\
+----+----+-------+
| id | v  | w     |
+----+----+-------+
| 1  | 10 | was 1 |
| 2  | 20 |       |
| 3  | 30 | new   |
+----+----+-------+";
    let rows = session.execute("SELECT id, v, w FROM t ORDER BY id").await.expect("read");
    assert_eq!(render(&rows), expected);
    drop(session);
    let test = test.restart();
    let rows = test.session().execute("SELECT id, v, w FROM t ORDER BY id").await.expect("read after restart");
    assert_eq!(render(&rows), expected);
}

//! The background job thread runs beside writers, readers and a subscriber: flush
//! policies, compactions and retention purges happen while statements run (a short
//! `job_interval`), and nothing is lost, doubled or seen twice. The writer keeps a model of
//! every acknowledged change; the final table equals it (also after a restart), the
//! subscription's events replayed on its initial rows equal it, and no job failed.
//! Readers check what must hold at every moment (keys unique, no row outside the model's
//! key range). The engine clock is manual (moved by the writer); only the job thread's
//! wake-ups follow real time, and no check depends on when they happen.

use crate::common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::{TestEngine, run_all};
use engine::exports::arrow::array::AsArray;
use engine::exports::arrow::datatypes::Int64Type;
use engine::{EventKind, QueryResult};

/// A small deterministic generator (xorshift64*): the same operations on every run.
struct Random(u64);

impl Random {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

const OPERATIONS: usize = 1_500;

fn rows_of(result: QueryResult) -> BTreeMap<i64, i64> {
    let QueryResult::Rows { batches, .. } = result else { panic!("not rows") };
    let mut rows = BTreeMap::new();
    for batch in batches {
        let ids = batch.column(0).as_primitive::<Int64Type>();
        let values = batch.column(1).as_primitive::<Int64Type>();
        for i in 0..batch.num_rows() {
            assert!(rows.insert(ids.value(i), values.value(i)).is_none(), "key {} twice", ids.value(i));
        }
    }
    rows
}

async fn read(session: &mut engine::Session) -> BTreeMap<i64, i64> {
    rows_of(session.execute("SELECT id, v FROM t ORDER BY id").await.expect("final read"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_in_the_background_lose_and_double_nothing() {
    let test = TestEngine::with_config(|config| {
        config.job_interval = Some(std::time::Duration::from_millis(5));
        config.compact_segments_over = 2;
    });
    let mut session = test.session();
    run_all(
        &mut session,
        &["CREATE TABLE t (id BIGINT PRIMARY KEY, v BIGINT) WITH (FLUSH_POLICY = 'rows:40', DELETED_RETENTION_HOURS = 1)"],
    )
    .await;
    let QueryResult::Subscription(mut subscription) = session.execute("SUBSCRIBE TO t").await.expect("subscribe") else {
        panic!("not a subscription")
    };
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (engine, done) = (test.engine.clone(), done.clone());
        tokio::spawn(async move {
            let mut session = engine.root_session();
            let mut reads = 0;
            while !done.load(Ordering::SeqCst) {
                let counts = session.execute("SELECT count(*), count(DISTINCT id) FROM t").await.expect("read");
                let QueryResult::Rows { batches, .. } = counts else { panic!("not rows") };
                let (all, distinct) =
                    (batches[0].column(0).as_primitive::<Int64Type>().value(0), batches[0].column(1).as_primitive::<Int64Type>().value(0));
                assert_eq!(all, distinct, "a key read twice");
                reads += 1;
                tokio::task::yield_now().await;
            }
            reads
        })
    };
    let mut rng = Random(20_261_207);
    let mut model: BTreeMap<i64, i64> = BTreeMap::new();
    let mut next_id = 0i64;
    for operation in 0..OPERATIONS {
        let choice = rng.below(10);
        if choice < 5 || model.is_empty() {
            let count = 1 + rng.below(4) as i64;
            let values: Vec<String> = (next_id..next_id + count).map(|id| format!("({id}, {id})")).collect();
            session.execute(&format!("INSERT INTO t VALUES {}", values.join(", "))).await.expect("insert");
            for id in next_id..next_id + count {
                model.insert(id, id);
            }
            next_id += count;
        } else {
            let keys: Vec<i64> = model.keys().copied().collect();
            let id = keys[rng.below(keys.len() as u64) as usize];
            if choice < 8 {
                session.execute(&format!("UPDATE t SET v = v * 3 + 1 WHERE id = {id}")).await.expect("update");
                let value = model[&id] * 3 + 1;
                model.insert(id, value);
            } else {
                session.execute(&format!("DELETE FROM t WHERE id = {id}")).await.expect("delete");
                model.remove(&id);
            }
        }
        if operation % 100 == 99 {
            // Tombstones older than an hour become due for the purge.
            test.clock.advance_millis(20 * 60_000);
        }
        if operation % 50 == 49 {
            tokio::task::yield_now().await;
        }
    }
    done.store(true, Ordering::SeqCst);
    let reads = reader.await.expect("reader");
    test.engine.run_jobs().await.expect("a last run of the jobs");
    assert_eq!(read(&mut session).await, model, "the table equals the model");
    // The subscription's events, applied to its (empty) initial rows, give the same rows.
    let mut replayed: BTreeMap<i64, i64> = BTreeMap::new();
    for event in subscription.received().await {
        let row = event.row.as_ref();
        let id_value = |row: &engine::exports::arrow::array::RecordBatch| {
            (row.column(0).as_primitive::<Int64Type>().value(0), row.column(1).as_primitive::<Int64Type>().value(0))
        };
        match event.kind {
            EventKind::Insert | EventKind::Update | EventKind::Initial => {
                let (id, value) = id_value(row.expect("a row"));
                replayed.insert(id, value);
            }
            EventKind::Delete => {
                let (id, _) = id_value(row.expect("a row"));
                replayed.remove(&id);
            }
            other => panic!("unexpected event {other:?}: {:?}", event.message),
        }
    }
    assert_eq!(replayed, model, "the events add up to the table");
    let jobs = session.execute("SELECT job_type, count(*) FROM system.jobs WHERE status = 'failed' GROUP BY job_type").await.expect("jobs");
    assert_eq!(jobs.row_count(), 0, "no job failed: {}", common::render(&jobs));
    let ran = session.execute("SELECT DISTINCT job_type FROM system.jobs ORDER BY 1").await.expect("jobs");
    let ran = common::render(&ran);
    assert!(ran.contains("flush"), "flushes ran: {ran}");
    eprintln!("{OPERATIONS} operations, {reads} reads beside them; jobs that ran:\n{ran}");
    drop(subscription);
    drop(session);
    let test = test.restart();
    let mut session = test.session();
    assert_eq!(read(&mut session).await, model, "after a restart");
}

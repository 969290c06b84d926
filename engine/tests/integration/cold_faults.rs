//! Object-store faults during cold-storage work: FLUSH TABLE, the retention purge,
//! compaction, DROP TABLE, DROP USER CASCADE, ALTER TABLE ADD COLUMN and opening the
//! engine. Each operation runs once on a healthy store to count its object-store calls,
//! then once per call with that call failing ([`faults::FaultyStore`]), each time on a
//! fresh engine and store. A fault gives an error with a SQLSTATE or is absorbed, never a
//! panic; afterwards (1) every acknowledged row is there once, with its value, (2) the
//! operation run again succeeds and the rows are still right, and (3) after a restart on
//! the same store the rows are right, no segment file outside the manifests is left, and
//! a new INSERT and FLUSH work. Each call is also made the point where the process stops
//! (that call and every later one fail, then the engine is dropped and reopened on a
//! healthy store, as a restart after a crash there), with the same checks after the
//! reopen. Each walk prints how its faults ended.

use crate::common;
use crate::faults;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use common::{TestEngine, render, run_all};
use engine::exports::arrow::array::AsArray;
use engine::exports::arrow::compute::cast;
use engine::exports::arrow::datatypes::{DataType, Int64Type};
use engine::exports::object_store::ObjectStore;
use engine::exports::object_store::memory::InMemory;
use engine::exports::object_store::path::Path as ObjectPath;
use engine::{ColdStorage, Engine, EngineConfig, EngineError, ManualClock, QueryResult};
use faults::FaultyStore;

const HOUR_MILLIS: i64 = 3_600_000;
const CREATE_T: &str = "CREATE TABLE t (id INT PRIMARY KEY, v INT)";

/// `(id, v, _deleted)`, in key order.
type Row = (i64, Option<i64>, bool);

fn live(id: i64, v: i64) -> Row {
    (id, Some(v), false)
}

fn deleted(id: i64, v: i64) -> Row {
    (id, Some(v), true)
}

/// Rows in both tiers: flushed, changed since, and one only hot.
fn four_rows() -> Vec<Row> {
    vec![live(1, 10), live(2, 21), deleted(3, 30), live(4, 40)]
}

/// Rows in two segments, none hot.
fn three_rows() -> Vec<Row> {
    vec![live(1, 10), live(2, 21), deleted(3, 30)]
}

fn bobs_rows() -> Vec<Row> {
    vec![live(1, 100), live(2, 200)]
}

/// The operations walked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Case {
    Flush,
    Purge,
    Compaction,
    DropTable,
    DropUser,
    AddColumn,
    Open,
}

/// One user's rows of one table (`None`: root).
struct View {
    user: Option<&'static str>,
    table: &'static str,
    rows: Vec<Row>,
}

fn table_t(rows: Vec<Row>) -> View {
    View { user: None, table: "t", rows }
}

fn notes_of(user: &'static str, rows: Vec<Row>) -> View {
    View { user: Some(user), table: "notes", rows }
}

/// What the engine shows after the setup.
fn before(case: Case) -> Vec<View> {
    match case {
        Case::Flush | Case::DropTable | Case::Open => vec![table_t(four_rows())],
        Case::Compaction | Case::AddColumn => vec![table_t(three_rows())],
        Case::Purge => vec![table_t(vec![live(1, 10), deleted(2, 21), deleted(3, 30), live(4, 40), deleted(5, 50)])],
        Case::DropUser => vec![notes_of("bob", bobs_rows()), notes_of("alice", four_rows())],
    }
}

/// What the engine shows once the operation is done and [`follow_up`] ran. The first
/// view is the one [`insert_more`] adds a row to.
fn settled(case: Case) -> Vec<View> {
    match case {
        Case::Flush | Case::Open => vec![table_t(four_rows())],
        Case::Compaction | Case::AddColumn => vec![table_t(three_rows())],
        Case::Purge => vec![table_t(vec![live(1, 10), live(4, 40)])],
        Case::DropTable => vec![table_t(vec![live(7, 70)])],
        Case::DropUser => vec![notes_of("bob", bobs_rows()), notes_of("alice", vec![live(9, 90)])],
    }
}

/// The store configuration of every engine here: cold storage in `faulty`, and any scope
/// with more than one segment compacted by the next job run.
fn configure(faulty: Arc<FaultyStore>) -> impl FnOnce(&mut EngineConfig) {
    let store: Arc<dyn ObjectStore> = faulty;
    move |config: &mut EngineConfig| {
        config.cold_storage = ColdStorage::Store(store, "cold".into());
        config.compact_segments_over = 1;
    }
}

fn config_at(data_dir: &std::path::Path, clock: &Arc<ManualClock>, faulty: &Arc<FaultyStore>) -> EngineConfig {
    let mut config = EngineConfig::for_tests(data_dir, clock.clone());
    configure(faulty.clone())(&mut config);
    config
}

/// A new engine on a new in-memory store.
fn fresh() -> (TestEngine, Arc<FaultyStore>) {
    let faulty = Arc::new(FaultyStore::new(Arc::new(InMemory::new())));
    (TestEngine::with_config(configure(faulty.clone())), faulty)
}

async fn setup(case: Case, test: &TestEngine) {
    let mut root = test.session();
    let two_segments = [
        CREATE_T,
        "INSERT INTO t VALUES (1, 10), (2, 20), (3, 30)",
        "FLUSH TABLE t",
        "UPDATE t SET v = 21 WHERE id = 2",
        "DELETE FROM t WHERE id = 3",
        "FLUSH TABLE t",
    ];
    match case {
        Case::Flush | Case::DropTable => {
            run_all(&mut root, &two_segments[..5]).await;
            run_all(&mut root, &["INSERT INTO t VALUES (4, 40)"]).await;
        }
        Case::Compaction | Case::AddColumn => run_all(&mut root, &two_segments).await,
        Case::Open => {
            run_all(&mut root, &two_segments).await;
            // The compaction retires both segments; the next open deletes them.
            test.engine.run_jobs().await.expect("compaction in the setup");
            run_all(&mut root, &["INSERT INTO t VALUES (4, 40)"]).await;
        }
        Case::Purge => {
            run_all(
                &mut root,
                &[
                    "CREATE TABLE t (id INT PRIMARY KEY, v INT) WITH (DELETED_RETENTION_HOURS = 1)",
                    "INSERT INTO t VALUES (1, 10), (2, 20), (3, 30), (4, 40)",
                    "FLUSH TABLE t",
                    "UPDATE t SET v = 21 WHERE id = 2",
                    "FLUSH TABLE t",
                    "DELETE FROM t WHERE id IN (2, 3)",
                    "FLUSH TABLE t",
                    "INSERT INTO t VALUES (5, 50)",
                    "DELETE FROM t WHERE id = 5",
                ],
            )
            .await;
            test.clock.advance_millis(2 * HOUR_MILLIS);
        }
        Case::DropUser => {
            run_all(
                &mut root,
                &[
                    "CREATE USER alice WITH PASSWORD 'a' ROLE user",
                    "CREATE USER bob WITH PASSWORD 'b' ROLE user",
                    "CREATE USER TABLE notes (id INT PRIMARY KEY, v INT)",
                ],
            )
            .await;
            let mut alice = test.engine.session("alice").expect("alice");
            let mut bob = test.engine.session("bob").expect("bob");
            run_all(&mut alice, &["INSERT INTO notes VALUES (1, 10), (2, 20), (3, 30)"]).await;
            run_all(&mut bob, &["INSERT INTO notes VALUES (1, 100)"]).await;
            run_all(&mut root, &["FLUSH TABLE notes"]).await;
            run_all(&mut alice, &["UPDATE notes SET v = 21 WHERE id = 2", "DELETE FROM notes WHERE id = 3"]).await;
            run_all(&mut bob, &["INSERT INTO notes VALUES (2, 200)"]).await;
            run_all(&mut root, &["FLUSH TABLE notes"]).await;
            run_all(&mut alice, &["INSERT INTO notes VALUES (4, 40)"]).await;
        }
    }
}

/// Runs the operation; `again`: its second run, which a first run that took effect
/// despite its error must not make fail (IF [NOT] EXISTS).
async fn operate(case: Case, test: TestEngine, faulty: &Arc<FaultyStore>, again: bool) -> (TestEngine, Result<(), EngineError>) {
    let sql = match (case, again) {
        (Case::Flush, _) => "FLUSH TABLE t",
        (Case::DropTable, false) => "DROP TABLE t",
        (Case::DropTable, true) => "DROP TABLE IF EXISTS t",
        (Case::DropUser, false) => "DROP USER alice CASCADE",
        (Case::DropUser, true) => "DROP USER IF EXISTS alice CASCADE",
        (Case::AddColumn, false) => "ALTER TABLE t ADD COLUMN w INT",
        (Case::AddColumn, true) => "ALTER TABLE t ADD COLUMN IF NOT EXISTS w INT",
        (Case::Purge | Case::Compaction, _) => {
            let outcome = test.engine.run_jobs().await.map(|_| ());
            return (test, outcome);
        }
        (Case::Open, _) => return reopen(test, faulty),
    };
    let mut session = test.session();
    let outcome = session.execute(sql).await.map(|_| ());
    drop(session);
    (test, outcome)
}

/// Closes the engine and opens it again on the same store. When the open fails, the
/// store is disarmed and the engine opened once more, so the checks have an engine.
fn reopen(test: TestEngine, faulty: &Arc<FaultyStore>) -> (TestEngine, Result<(), EngineError>) {
    let TestEngine { engine, clock, dir } = test;
    let data_dir = engine.data_dir().to_path_buf();
    drop(engine);
    match Engine::open(config_at(&data_dir, &clock, faulty)) {
        Ok(engine) => (TestEngine { engine, clock, dir }, Ok(())),
        Err(error) => {
            faulty.disarm();
            let engine = Engine::open(config_at(&data_dir, &clock, faulty))
                .unwrap_or_else(|e| panic!("opening again after the failed open ({error}): {} {e}", e.sql_state()));
            (TestEngine { engine, clock, dir }, Err(error))
        }
    }
}

/// Every version of `table` that `user` (root: `None`) sees, deleted ones included.
async fn read(test: &TestEngine, user: Option<&str>, table: &str) -> Result<Vec<Row>, EngineError> {
    let mut session = match user {
        Some(user) => test.engine.session(user)?,
        None => test.session(),
    };
    let sql = format!("SELECT id, v, _deleted FROM {table} WHERE _deleted OR NOT _deleted ORDER BY id");
    let result = session.execute(&sql).await?;
    let QueryResult::Rows { batches, .. } = &result else { panic!("{sql}: {}", render(&result)) };
    let mut rows = Vec::new();
    for batch in batches {
        let ids = cast(batch.column(0), &DataType::Int64).expect("id as BIGINT");
        let values = cast(batch.column(1), &DataType::Int64).expect("v as BIGINT");
        let ids = ids.as_primitive::<Int64Type>().iter();
        let values = values.as_primitive::<Int64Type>().iter();
        let flags = batch.column(2).as_boolean().iter();
        for ((id, v), flag) in ids.zip(values).zip(flags) {
            rows.push((id.expect("an id"), v, flag.expect("a _deleted flag")));
        }
    }
    Ok(rows)
}

async fn expect_views(test: &TestEngine, views: &[View], label: &str) {
    for view in views {
        let who = view.user.unwrap_or("root");
        match read(test, view.user, view.table).await {
            Ok(rows) => assert_eq!(rows, view.rows, "{label}: {who}'s rows of {}", view.table),
            Err(error) => panic!("{label}: reading {who}'s rows of {}: {} {error}", view.table, error.sql_state()),
        }
    }
}

/// Whether `t` has the column `w`; when it has, no row has a value in it.
async fn w_added(test: &TestEngine, label: &str) -> bool {
    let sql = "SELECT count(*) FROM t WHERE (_deleted OR NOT _deleted) AND w IS NOT NULL";
    let mut session = test.session();
    match session.execute(sql).await {
        Ok(result) => {
            let QueryResult::Rows { batches, .. } = &result else { panic!("{sql}: {}", render(&result)) };
            let batch = batches.iter().find(|b| b.num_rows() > 0).expect("a count");
            let count = cast(batch.column(0), &DataType::Int64).expect("a number");
            assert_eq!(count.as_primitive::<Int64Type>().value(0), 0, "{label}: the added column w holds values");
            true
        }
        Err(error) => {
            assert_eq!(error.sql_state().code(), "42703", "{label}: {error}");
            false
        }
    }
}

/// Check (1), right after the operation (`succeeded`: it returned Ok): the rows it
/// acknowledged or left alone. Returns whether the operation took effect (only what the
/// rows show: a dropped table or user, an added column, purged tombstones).
async fn check_after(case: Case, test: &TestEngine, succeeded: bool, label: &str) -> bool {
    match case {
        Case::Flush | Case::Compaction | Case::Open => {
            expect_views(test, &before(case), label).await;
            false
        }
        Case::AddColumn => {
            expect_views(test, &before(case), label).await;
            let added = w_added(test, label).await;
            assert!(added || !succeeded, "{label}: ALTER TABLE succeeded, yet t has no column w");
            added
        }
        Case::Purge => {
            let rows = read(test, None, "t").await.unwrap_or_else(|e| panic!("{label}: reading t: {} {e}", e.sql_state()));
            // Live rows stay; a purgeable tombstone stays as it was or goes, and no older
            // version of its key comes back.
            let kept = [live(1, 10), live(4, 40)];
            let purgeable = [deleted(2, 21), deleted(3, 30), deleted(5, 50)];
            for row in &kept {
                assert!(rows.contains(row), "{label}: {row:?} is missing: {rows:?}");
            }
            for row in &rows {
                assert!(kept.contains(row) || purgeable.contains(row), "{label}: {row:?} is not a row of t: {rows:?}");
            }
            assert!(rows.windows(2).all(|pair| pair[0].0 < pair[1].0), "{label}: a key is there twice: {rows:?}");
            rows.len() < 5
        }
        Case::DropTable => match read(test, None, "t").await {
            Ok(rows) => {
                assert!(!succeeded, "{label}: DROP TABLE succeeded, yet t is there: {rows:?}");
                assert_eq!(rows, four_rows(), "{label}: the rows of t after a failed DROP TABLE");
                false
            }
            Err(error) => {
                assert_eq!(error.sql_state().code(), "42P01", "{label}: {error}");
                true
            }
        },
        Case::DropUser => {
            expect_views(test, &[notes_of("bob", bobs_rows())], label).await;
            match read(test, Some("alice"), "notes").await {
                Ok(rows) => {
                    assert!(!succeeded, "{label}: DROP USER succeeded, yet alice is there: {rows:?}");
                    assert_eq!(rows, four_rows(), "{label}: alice's rows after a failed DROP USER");
                    false
                }
                Err(error) => {
                    assert_eq!(error.sql_state().code(), "42704", "{label}: {error}");
                    true
                }
            }
        }
    }
}

/// After the second run: what a dropped name is used for again.
async fn follow_up(case: Case, test: &TestEngine, label: &str) {
    let mut root = test.session();
    match case {
        Case::DropTable => {
            match read(test, None, "t").await {
                Err(error) => assert_eq!(error.sql_state().code(), "42P01", "{label}: {error}"),
                Ok(rows) => panic!("{label}: t is still there after DROP TABLE IF EXISTS: {rows:?}"),
            }
            run_all(&mut root, &[CREATE_T, "INSERT INTO t VALUES (7, 70)", "FLUSH TABLE t"]).await;
        }
        Case::DropUser => {
            match read(test, Some("alice"), "notes").await {
                Err(error) => assert_eq!(error.sql_state().code(), "42704", "{label}: {error}"),
                Ok(rows) => panic!("{label}: alice is still there after DROP USER IF EXISTS: {rows:?}"),
            }
            run_all(&mut root, &["CREATE USER alice WITH PASSWORD 'a2' ROLE user"]).await;
            expect_views(test, &[notes_of("alice", Vec::new())], &format!("{label}, alice created again")).await;
            let mut alice = test.engine.session("alice").expect("alice again");
            run_all(&mut alice, &["INSERT INTO notes VALUES (9, 90)"]).await;
            run_all(&mut root, &["FLUSH TABLE notes"]).await;
        }
        _ => {}
    }
}

async fn check_settled(case: Case, test: &TestEngine, label: &str) {
    expect_views(test, &settled(case), label).await;
    if case == Case::AddColumn {
        assert!(w_added(test, label).await, "{label}: t has no column w");
    }
}

/// A new row in the first view of [`settled`], flushed.
async fn insert_more(case: Case, test: &TestEngine) {
    let mut root = test.session();
    if case == Case::DropUser {
        let mut bob = test.engine.session("bob").expect("bob");
        run_all(&mut bob, &["INSERT INTO notes (id, v) VALUES (100, 1000)"]).await;
        run_all(&mut root, &["FLUSH TABLE notes"]).await;
    } else {
        run_all(&mut root, &["INSERT INTO t (id, v) VALUES (100, 1000)", "FLUSH TABLE t"]).await;
    }
}

/// Segment files in the store that no live scope's manifest lists.
fn stray_segments(test: &TestEngine) -> Vec<ObjectPath> {
    let shared = test.engine.shared();
    let mut listed: HashSet<ObjectPath> = HashSet::new();
    for table in shared.catalog.tables() {
        for scope in shared.cold.table_scopes(table.id()) {
            listed.extend(scope.manifest.segments.iter().map(|segment| scope.segment_path(segment)));
        }
    }
    let objects = shared.cold.list_all().expect("listing cold storage");
    objects.into_iter().filter(|path| path.as_ref().ends_with(".parquet") && !listed.contains(path)).collect()
}

/// How the faulted runs of one walk ended.
#[derive(Default)]
struct Tally {
    /// Runs whose armed call was reached and failed.
    faulted: u64,
    /// Of those, the operations that returned an error, by SQLSTATE.
    errors: BTreeMap<&'static str, u64>,
    /// Of those, the operations that returned Ok all the same.
    absorbed: u64,
    /// Of the errors, the ones whose operation took effect all the same (as rows show).
    took_effect: u64,
    /// Runs whose armed call never came (the operation made fewer calls than counted).
    unreached: u64,
}

/// Names the run a panic happened in.
struct Context(String);

impl Drop for Context {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("(the panic above happened in the run: {})", self.0);
        }
    }
}

/// What happens at the armed call.
#[derive(Debug, Clone, Copy)]
enum Fault {
    /// It fails; the engine goes on.
    Fail(u64),
    /// It fails and so does everything after it; then the engine restarts.
    Stop(u64),
}

/// One run on a fresh engine and store: the setup, the operation with `fault` (none: a
/// healthy store), and checks (1) to (3). Returns the operation's calls.
async fn run(case: Case, fault: Option<Fault>, tally: &mut Tally) -> u64 {
    let label = match fault {
        Some(Fault::Fail(n)) => format!("{case:?} with call {n} failing"),
        Some(Fault::Stop(n)) => format!("{case:?} stopping at call {n}"),
        None => format!("{case:?} without a fault"),
    };
    let _context = Context(label.clone());
    let panics = faults::background_panics();
    let (test, faulty) = fresh();
    setup(case, &test).await;
    let (calls, injected) = (faulty.calls(), faulty.injected());
    match fault {
        Some(Fault::Fail(n)) => faulty.fail_call(n),
        Some(Fault::Stop(n)) => faulty.stop_at_call(n),
        None => {}
    }
    let (test, outcome) = operate(case, test, &faulty, false).await;
    let test = match fault {
        // The process stopped: what it held in memory is gone, the store works again.
        Some(Fault::Stop(_)) => {
            let healthy = faulty.clone();
            test.restart_with(move |config| {
                healthy.disarm();
                configure(healthy.clone())(config)
            })
        }
        _ => {
            faulty.disarm();
            test
        }
    };
    let (calls, injected) = (faulty.calls() - calls, faulty.injected() > injected);
    assert_eq!(faults::background_panics(), panics, "{label}: a thread of the engine panicked (see above)");
    match &outcome {
        Err(error) => {
            assert_eq!(error.sql_state().code().len(), 5, "{label}: {error} has no SQLSTATE");
            assert!(injected, "{label}: failed with no fault injected: {} {error}", error.sql_state());
            tally.faulted += 1;
            *tally.errors.entry(error.sql_state().code()).or_default() += 1;
        }
        Ok(()) if injected => {
            tally.faulted += 1;
            tally.absorbed += 1;
        }
        Ok(()) => tally.unreached += u64::from(fault.is_some()),
    }
    // (1) What the operation acknowledged or left alone is there.
    let took_effect = check_after(case, &test, outcome.is_ok(), &format!("{label}, after the operation")).await;
    if outcome.is_err() && took_effect {
        tally.took_effect += 1;
    }
    // (2) Run again on a healthy store, it succeeds.
    let (test, again) = operate(case, test, &faulty, true).await;
    if let Err(error) = again {
        panic!("{label}: the operation run again failed: {} {error}", error.sql_state());
    }
    follow_up(case, &test, &label).await;
    check_settled(case, &test, &format!("{label}, after running it again")).await;
    // (3) A restart on the same store keeps the rows, leaves no stray segment file (the
    // open collects what faults left behind) and takes new writes.
    let test = test.restart_with(configure(faulty.clone()));
    let stray = stray_segments(&test);
    assert!(stray.is_empty(), "{label}: segment files no manifest lists after a restart: {stray:?}");
    check_settled(case, &test, &format!("{label}, after a restart")).await;
    insert_more(case, &test).await;
    let mut views = settled(case);
    views[0].rows.push(live(100, 1000));
    expect_views(&test, &views, &format!("{label}, after a restart and a new flush")).await;
    if case == Case::AddColumn {
        assert!(w_added(&test, &label).await, "{label}: t has no column w after a restart");
    }
    assert_eq!(faults::background_panics(), panics, "{label}: a thread of the engine panicked (see above)");
    calls
}

/// Checks the model, counts the operation's calls on a healthy store, then fails each
/// call in turn; prints how the faults ended.
async fn walk(case: Case) {
    faults::watch_panics();
    {
        let (test, _faulty) = fresh();
        setup(case, &test).await;
        expect_views(&test, &before(case), &format!("{case:?}, before the operation")).await;
    }
    let mut tally = Tally::default();
    let calls = run(case, None, &mut tally).await;
    for n in 1..=calls {
        run(case, Some(Fault::Fail(n)), &mut tally).await;
    }
    let mut stops = Tally::default();
    for n in 1..=calls {
        run(case, Some(Fault::Stop(n)), &mut stops).await;
    }
    let errors: u64 = tally.errors.values().sum();
    eprintln!(
        "{case:?}: {calls} object-store calls; {} faulted: {errors} failed with an error {:?} ({} of them took effect all the same), \
         {} succeeded anyway; {} armed calls never came",
        tally.faulted, tally.errors, tally.took_effect, tally.absorbed, tally.unreached
    );
    eprintln!(
        "{case:?}: stopped at each of the {calls} calls, then restarted: {} stops reached, {} never came",
        stops.faulted, stops.unreached
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fault_in_any_call_of_flush_table_loses_no_row() {
    walk(Case::Flush).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fault_in_any_call_of_the_retention_purge_loses_no_row() {
    walk(Case::Purge).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fault_in_any_call_of_a_compaction_loses_no_row() {
    walk(Case::Compaction).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fault_in_any_call_of_drop_table_leaves_the_table_or_nothing() {
    walk(Case::DropTable).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fault_in_any_call_of_drop_user_cascade_leaves_the_user_or_nothing() {
    walk(Case::DropUser).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fault_in_any_call_of_add_column_loses_no_row() {
    walk(Case::AddColumn).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fault_in_any_call_of_opening_the_engine_loses_no_row() {
    walk(Case::Open).await;
}

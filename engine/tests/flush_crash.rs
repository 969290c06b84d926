//! A flush is safe to interrupt anywhere: a child process writes, flushes and updates
//! while reporting each acknowledged statement, and dies at a flush step (the configured
//! flush observer aborts it there) or at a random point under load (the parent kills it
//! after a random number of acknowledgements). After every death the parent reopens the
//! data directory and checks that every acknowledged row is readable exactly once, with
//! its acknowledged value.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;

use engine::exports::arrow::array::AsArray;
use engine::exports::arrow::datatypes::Int64Type;
use engine::{Engine, EngineConfig, FlushObserver, FlushStep, ManualClock, QueryResult};

const CHILD_DIR: &str = "ENGINE_FLUSH_CRASH_DIR";
const CHILD_STEP: &str = "ENGINE_FLUSH_CRASH_STEP";
const CHILD_START: &str = "ENGINE_FLUSH_CRASH_START";
/// Deaths under load (besides one at each flush step).
const RANDOM_KILLS: usize = 100;

fn config(dir: &str) -> EngineConfig {
    EngineConfig::for_tests(dir, Arc::new(ManualClock::default()))
}

fn step_named(name: &str) -> Option<FlushStep> {
    match name {
        "segment" => Some(FlushStep::SegmentWritten),
        "manifest" => Some(FlushStep::ManifestWritten),
        "hot" => Some(FlushStep::HotRowsRemoved),
        _ => None,
    }
}

/// The child: inserts rows from `start` on in small statements, updates some, flushes
/// every few statements, and prints `ack <id> <value>` for every row a statement that
/// returned wrote. Runs until it dies.
fn child(dir: &str, step: Option<FlushStep>, start: i64) -> ! {
    let mut config = config(dir);
    if let Some(step) = step {
        config.flush_observer = Some(FlushObserver(Arc::new(move |reached| {
            if reached == step {
                std::process::abort();
            }
        })));
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let engine = Engine::open(config).expect("open engine");
        let mut session = engine.root_session();
        session.execute("CREATE TABLE IF NOT EXISTS t (id BIGINT PRIMARY KEY, v BIGINT)").await.unwrap();
        let mut next = start;
        for round in 0u64.. {
            let ids: Vec<i64> = (next..next + 20).collect();
            let values: Vec<String> = ids.iter().map(|id| format!("({id}, 0)")).collect();
            session.execute(&format!("INSERT INTO t VALUES {}", values.join(", "))).await.unwrap();
            for id in &ids {
                println!("ack {id} 0");
            }
            next += 20;
            if round % 3 == 2 {
                // Rewrite rows that may be hot or flushed by now.
                let (from, to) = (next - 50, next - 30);
                session.execute(&format!("UPDATE t SET v = v + 1 WHERE id >= {from} AND id < {to}")).await.unwrap();
                println!("bump {from} {to}");
            }
            if round % 4 == 3 {
                session.execute("FLUSH TABLE t").await.unwrap();
            }
        }
    });
    unreachable!("the loop never ends")
}

/// What the child acknowledged: each row's value.
fn read_acks(lines: impl Iterator<Item = String>, acked: &mut BTreeMap<i64, i64>) {
    for line in lines {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["ack", id, value] => {
                acked.insert(id.parse().unwrap(), value.parse().unwrap());
            }
            ["bump", from, to] => {
                let (from, to): (i64, i64) = (from.parse().unwrap(), to.parse().unwrap());
                for (_, value) in acked.range_mut(from..to) {
                    *value += 1;
                }
            }
            _ => {}
        }
    }
}

/// Reopens the directory and checks every acknowledged row: present once, right value.
/// Returns the next id to write.
fn check(dir: &str, acked: &BTreeMap<i64, i64>, death: &str) -> i64 {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let engine = Engine::open(config(dir)).expect("reopen after the crash");
        let mut session = engine.root_session();
        let QueryResult::Rows { batches, .. } = session.execute("SELECT id, v FROM t").await.unwrap() else { panic!("rows") };
        let mut seen: BTreeMap<i64, i64> = BTreeMap::new();
        for batch in &batches {
            let ids = batch.column(0).as_primitive::<Int64Type>();
            let values = batch.column(1).as_primitive::<Int64Type>();
            for row in 0..batch.num_rows() {
                assert!(seen.insert(ids.value(row), values.value(row)).is_none(), "{death}: id {} read twice", ids.value(row));
            }
        }
        for (id, value) in acked {
            // An UPDATE may have committed without its acknowledgement: one more is fine.
            match seen.get(id) {
                Some(found) if found == value || *found == value + 1 => {}
                other => panic!("{death}: acknowledged row {id} = {value} reads {other:?}"),
            }
        }
        seen.keys().next_back().map_or(0, |last| last + 1)
    })
}

fn spawn(dir: &str, step: &str, start: i64) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["flush_survives_crashes_at_every_step_and_under_load", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_DIR, dir)
        .env(CHILD_STEP, step)
        .env(CHILD_START, start.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("child test process")
}

#[test]
fn flush_survives_crashes_at_every_step_and_under_load() {
    if let Ok(dir) = std::env::var(CHILD_DIR) {
        let step = step_named(&std::env::var(CHILD_STEP).unwrap_or_default());
        let start = std::env::var(CHILD_START).ok().and_then(|s| s.parse().ok()).unwrap_or(0);
        child(&dir, step, start);
    }
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("data").display().to_string();
    let mut acked = BTreeMap::new();
    let mut next = 0;
    // A death at each step of a flush: the child aborts itself there.
    for step in ["segment", "manifest", "hot"] {
        let child = spawn(&dir, step, next);
        let output = child.wait_with_output().unwrap();
        assert!(!output.status.success(), "the child must die at the {step} step");
        read_acks(String::from_utf8_lossy(&output.stdout).lines().map(str::to_string), &mut acked);
        next = check(&dir, &acked, &format!("abort after {step}"));
    }
    // Deaths at random points under load: killed after a pseudo-random number of rows.
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for kill in 0..RANDOM_KILLS {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let wait_for = 1 + (seed % 300) as usize;
        let mut child = spawn(&dir, "none", next);
        let stdout = child.stdout.take().unwrap();
        let mut lines = Vec::new();
        let mut acks = 0;
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if line.starts_with("ack ") {
                acks += 1;
            }
            lines.push(line);
            if acks >= wait_for {
                child.kill().unwrap();
                break;
            }
        }
        let _ = child.wait();
        read_acks(lines.into_iter(), &mut acked);
        next = check(&dir, &acked, &format!("kill {kill} after {wait_for} rows"));
    }
    assert!(acked.len() > RANDOM_KILLS * 20, "the children wrote and acknowledged rows: {}", acked.len());
    println!("{} deaths, {} acknowledged rows checked after each", RANDOM_KILLS + 3, acked.len());
}

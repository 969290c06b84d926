//! A flush is safe to interrupt anywhere: a child process writes, flushes and updates
//! while reporting each statement before it starts (`begin ...`) and after it returns
//! (`ack`), and dies at a flush step (the configured flush observer aborts it there) or
//! at a random point under load: after a random number of acknowledged statements, or
//! shortly after a FLUSH began (so many deaths land inside a flush). After every death
//! the parent reopens the data directory and checks that the table equals, exactly, the
//! rows and values of the acknowledged statements, or of those and the one in flight
//! (a statement is atomic: all of it or none). An UPDATE applied twice, a lost one, or a
//! row read twice all fail.

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
/// every few statements. Before each statement it prints `begin insert FROM TO`, `begin
/// bump FROM TO` or `begin flush`, and `ack` when it returned. Runs until it dies.
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
        let say = |line: String| {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            writeln!(out, "{line}").unwrap();
            out.flush().unwrap();
        };
        // The test harness has written `test NAME ... ` without a line end: end that line.
        say(String::new());
        let mut next = start;
        for round in 0u64.. {
            let values: Vec<String> = (next..next + 20).map(|id| format!("({id}, 0)")).collect();
            say(format!("begin insert {next} {}", next + 20));
            session.execute(&format!("INSERT INTO t VALUES {}", values.join(", "))).await.unwrap();
            say("ack".into());
            next += 20;
            if round % 3 == 2 {
                // Rewrite rows that may be hot or flushed by now.
                let (from, to) = (next - 50, next - 30);
                say(format!("begin bump {from} {to}"));
                session.execute(&format!("UPDATE t SET v = v + 1 WHERE id >= {from} AND id < {to}")).await.unwrap();
                say("ack".into());
            }
            if round % 4 == 3 {
                say("begin flush".into());
                session.execute("FLUSH TABLE t").await.unwrap();
                say("ack".into());
            }
        }
    });
    unreachable!("the loop never ends")
}

/// One statement of the child, as announced by its `begin` line.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Statement {
    Insert(i64, i64),
    Bump(i64, i64),
    Flush,
}

impl Statement {
    fn parse(line: &str) -> Option<Statement> {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["begin", "insert", from, to] => Some(Statement::Insert(from.parse().ok()?, to.parse().ok()?)),
            ["begin", "bump", from, to] => Some(Statement::Bump(from.parse().ok()?, to.parse().ok()?)),
            ["begin", "flush"] => Some(Statement::Flush),
            _ => None,
        }
    }

    /// The table after this statement: every row `id -> v`.
    fn apply(self, rows: &mut BTreeMap<i64, i64>) {
        match self {
            Statement::Insert(from, to) => {
                for id in from..to {
                    assert!(rows.insert(id, 0).is_none(), "the child inserts new ids only");
                }
            }
            Statement::Bump(from, to) => {
                for (_, value) in rows.range_mut(from..to) {
                    *value += 1;
                }
            }
            Statement::Flush => {}
        }
    }
}

/// The child's report: the statements it acknowledged, in order, and the one it began
/// without an acknowledgement (in flight when it died).
fn read_report(lines: &[String]) -> (Vec<Statement>, Option<Statement>) {
    let mut acked = Vec::new();
    let mut in_flight = None;
    for line in lines {
        if let Some(statement) = Statement::parse(line) {
            assert!(in_flight.is_none(), "a statement began before the one before it returned: {line}");
            in_flight = Some(statement);
        } else if line == "ack" {
            acked.push(in_flight.take().expect("an ack follows a begin"));
        }
    }
    (acked, in_flight)
}

/// Reopens the directory and reads the whole table, failing on a key read twice.
fn read_table(dir: &str, death: &str) -> BTreeMap<i64, i64> {
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
        seen
    })
}

/// Applies the child's report to `model` and checks the reopened table against it: the
/// acknowledged statements, or those and the one in flight, exactly. The model becomes
/// the state found; returns whether a statement was in flight (and whether a FLUSH).
fn settle(dir: &str, model: &mut BTreeMap<i64, i64>, lines: &[String], death: &str) -> Option<Statement> {
    let (acked, in_flight) = read_report(lines);
    for statement in acked {
        statement.apply(model);
    }
    let found = read_table(dir, death);
    if found == *model {
        return in_flight;
    }
    if let Some(statement) = in_flight {
        let mut with = model.clone();
        statement.apply(&mut with);
        if found == with {
            *model = with;
            return in_flight;
        }
    }
    let differences: Vec<String> = model
        .keys()
        .chain(found.keys())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .filter(|id| model.get(id) != found.get(id))
        .take(10)
        .map(|id| format!("id {id}: acknowledged {:?}, read {:?}", model.get(id), found.get(id)))
        .collect();
    panic!(
        "{death}: the table is neither the acknowledged state nor that plus the statement in flight ({in_flight:?}); {} rows expected, {} read; first differences: {differences:?}",
        model.len(),
        found.len()
    );
}

fn spawn(dir: &str, step: &str, start: i64) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["flush_crash::flush_survives_crashes_at_every_step_and_under_load", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_DIR, dir)
        .env(CHILD_STEP, step)
        .env(CHILD_START, start.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("child test process")
}

fn next_id(model: &BTreeMap<i64, i64>) -> i64 {
    model.keys().next_back().map_or(0, |last| last + 1)
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
    let mut model = BTreeMap::new();
    // A death at each step of a flush: the child aborts itself there.
    for step in ["segment", "manifest", "hot"] {
        let child = spawn(&dir, step, next_id(&model));
        let output = child.wait_with_output().unwrap();
        assert!(!output.status.success(), "the child must die at the {step} step");
        let lines: Vec<String> = String::from_utf8_lossy(&output.stdout).lines().map(str::to_string).collect();
        let in_flight = settle(&dir, &mut model, &lines, &format!("abort after {step}"));
        assert_eq!(in_flight, Some(Statement::Flush), "the child dies inside its FLUSH");
    }
    // Deaths at random points under load: half after a pseudo-random number of
    // acknowledged statements, half a pseudo-random moment after a FLUSH began.
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut random = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut inside_flush = 0;
    for kill in 0..RANDOM_KILLS {
        let in_flush = kill % 2 == 1;
        // Statements to see acknowledged, or FLUSHes to see begin.
        let wait_for = if in_flush { 1 + (random() % 3) as usize } else { 1 + (random() % 25) as usize };
        let delay = std::time::Duration::from_micros(random() % 1_500);
        let mut child = spawn(&dir, "none", next_id(&model));
        let stdout = child.stdout.take().unwrap();
        let mut lines = Vec::new();
        let mut reader = BufReader::new(stdout).lines();
        let mut seen = 0;
        let mut killed = false;
        for line in reader.by_ref() {
            let Ok(line) = line else { break };
            let counts = if in_flush { line == "begin flush" } else { line == "ack" };
            lines.push(line);
            if counts {
                seen += 1;
                if seen >= wait_for {
                    if in_flush {
                        std::thread::sleep(delay);
                    }
                    child.kill().unwrap();
                    killed = true;
                    break;
                }
            }
        }
        let _ = child.wait();
        assert!(killed, "kill {kill}: the child ended by itself after {} lines", lines.len());
        // What the child wrote before it died is still in the pipe.
        lines.extend(reader.map_while(|line| line.ok()));
        let death = format!("kill {kill} after {wait_for} {}", if in_flush { "FLUSH begins" } else { "acks" });
        if settle(&dir, &mut model, &lines, &death) == Some(Statement::Flush) {
            inside_flush += 1;
        }
    }
    assert!(model.len() > RANDOM_KILLS * 20, "the children wrote and acknowledged rows: {}", model.len());
    assert!(inside_flush >= RANDOM_KILLS / 4, "only {inside_flush} of {RANDOM_KILLS} kills landed inside a FLUSH");
    println!(
        "{} deaths ({inside_flush} of the random ones inside a FLUSH), {} rows checked exactly after the last",
        RANDOM_KILLS + 3,
        model.len()
    );
}

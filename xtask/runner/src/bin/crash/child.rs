//! The child: opens the engine on the data directory with a manual clock, the background
//! job runner on a short interval (flush policies, retention purges, compactions, STREAM
//! eviction run beside the statements) and compaction above two segments, then runs the
//! epoch's statements from the ops file, setting the clock to each one's instant first.
//!
//! It reports on stdout, one flushed line each: `open`; `begin <n> <sql>` before statement
//! `n` is sent to the engine and `ack <n> <count|->` or `err <n> <sqlstate> <message>`
//! after it returns; `step <j> <FlushStep>` as any flush (a statement's or a job's)
//! passes a step; `done` after the last statement, when it idles until killed. With
//! `--freeze-at-step J` the flush that reaches step `J` prints `frozen <J>` and stops
//! there (its thread sleeps) for the parent to kill the process at exactly that point.
//! With `--hold-ack N` it waits [`HELD_ACK`] between statement `N`'s return and its
//! `ack`: a kill in that window finds a committed statement never acknowledged (the
//! parent must then find the state with the statement in flight applied).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use engine::{Engine, EngineConfig, FlushObserver, ManualClock, QueryResult};

use crate::model::USERS;

/// How often the child's background job runner looks for work.
pub const JOB_INTERVAL: Duration = Duration::from_millis(10);
/// The child's `compact_segments_over`: a scope is compacted from its third segment on.
pub const COMPACT_SEGMENTS_OVER: usize = 2;
/// How long `--hold-ack N` holds statement `N`'s acknowledgement back.
pub const HELD_ACK: Duration = Duration::from_millis(50);

/// One line to stdout, flushed before anything else happens.
pub fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// One statement of the ops file: `<millis>\t<session>\t<sql>`.
pub struct Planned {
    pub time: i64,
    pub session: String,
    pub sql: String,
}

pub fn parse_ops(text: &str) -> Result<Vec<Planned>> {
    text.lines()
        .map(|line| {
            let mut parts = line.splitn(3, '\t');
            let (Some(time), Some(session), Some(sql)) = (parts.next(), parts.next(), parts.next()) else {
                bail!("bad ops line: {line}");
            };
            Ok(Planned { time: time.parse()?, session: session.into(), sql: sql.into() })
        })
        .collect()
}

pub fn run(dir: &Path, ops_file: &Path, clock_start: i64, freeze_at: Option<usize>, hold_ack: Option<usize>) -> Result<()> {
    let ops = parse_ops(&std::fs::read_to_string(ops_file).context("reading the ops file")?)?;
    let clock = Arc::new(ManualClock::new(clock_start));
    let mut config = EngineConfig::for_tests(dir, clock.clone());
    config.job_interval = Some(JOB_INTERVAL);
    config.compact_segments_over = COMPACT_SEGMENTS_OVER;
    let steps = Arc::new(AtomicUsize::new(0));
    config.flush_observer = Some(FlushObserver(Arc::new(move |step| {
        let j = steps.fetch_add(1, Ordering::SeqCst);
        say(&format!("step {j} {step:?}"));
        if freeze_at == Some(j) {
            say(&format!("frozen {j}"));
            loop {
                std::thread::sleep(Duration::from_secs(3600));
            }
        }
    })));
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    runtime.block_on(execute(config, clock, ops, hold_ack))
}

/// Runs the statements, then idles until killed.
async fn execute(config: EngineConfig, clock: Arc<ManualClock>, ops: Vec<Planned>, hold_ack: Option<usize>) -> Result<()> {
    let engine = Engine::open(config).context("opening the engine")?;
    let mut sessions = BTreeMap::new();
    sessions.insert("root".to_string(), engine.root_session());
    for user in USERS {
        sessions.insert(user.to_string(), engine.session(user)?);
    }
    say("open");
    for (n, op) in ops.iter().enumerate() {
        clock.set_millis(op.time);
        let session = sessions.get_mut(&op.session).with_context(|| format!("no session {}", op.session))?;
        say(&format!("begin {n} {}", op.sql));
        let result = session.execute(&op.sql).await;
        if hold_ack == Some(n) {
            std::thread::sleep(HELD_ACK);
        }
        match result {
            Ok(QueryResult::Count { rows: count, .. }) => say(&format!("ack {n} {count}")),
            Ok(_) => say(&format!("ack {n} -")),
            Err(error) => {
                let message = error.to_string().replace('\n', " ");
                say(&format!("err {n} {} {message}", error.sql_state()));
                // A refused statement left its block failed: end it before the next op.
                if session.in_transaction() {
                    session.execute("ROLLBACK").await.context("rolling back a failed block")?;
                }
            }
        }
    }
    say("done");
    // Idle (background jobs still run) until killed.
    loop {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
}

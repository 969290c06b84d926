//! `serial`: concurrency checked against a serial model (`cargo xtask concurrency`).
//!
//! N sessions (tokio tasks on a multi-thread runtime) run random statements at once on
//! one engine whose background job runner works every 50 ms: INSERT (single and multi
//! row, literal and `INSERT ... SELECT`), UPDATE and DELETE (by key on the simple path,
//! by predicate on the planned one), TRUNCATE, CREATE/ALTER (ADD and DROP COLUMN)/DROP
//! TABLE, FLUSH TABLE, `Engine::run_jobs()`, reads, and transaction blocks at
//! SERIALIZABLE (2-4 DML and reads of one table and row scope, then COMMIT or ROLLBACK),
//! on SHARED, USER (as three users) and STREAM tables ([`workload`], [`run`]). Afterwards:
//!
//! 1. The commit order is recovered ([`order`]): every row change of every table is seen
//!    by subscriptions, each change names the statement that made it (DML writes its
//!    statement id into `w`; tombstones are matched to the DELETE/TRUNCATE whose
//!    predicate selects exactly them), and each statement's place is its `_seq`.
//!    Statements without a `_seq` are placed as described in [`order`].
//! 2. A fresh engine replays every acknowledged statement serially in that order, table by
//!    table ([`replay`]): every write must return the same count, every DDL succeed,
//!    every read must have returned the state of some point of the order between its
//!    start and its end, every write that changed nothing must have a point there where it
//!    selects nothing, and the final rows of every scope must be the same.
//!
//! **The model and its limits.** Statements of different tables commute (no statement
//! reads or writes two tables), so the order is one per table, and checking reads of one
//! table each keeps it so. Within a table, commits are ordered by `_seq`, which the engine
//! assigns in commit order. Statements that commit no `_seq` must be placed from other
//! evidence, and to keep that exact the harness itself serialises a little ([`run`]'s
//! gates): CREATE and ALTER never overlap a write of their table (so a write planned
//! against one generation or schema and committed into the next is not exercised here;
//! DROP TABLE does race writers), a STREAM TRUNCATE never overlaps a write of its scope,
//! and all DDL of one table comes from one session. DML never names a column ALTER
//! added (a column change commutes with the rows; the final state still shows the
//! columns and their defaults), no UPDATE changes a key, and no statement reads another
//! table (`INSERT ... SELECT` from a table would take its write lock only after reading,
//! which the engine does not claim to be serialisable). FLUSH, jobs, the background job
//! runner and subscriptions change no rows and are not replayed, but they run during
//! the concurrent run, so flushed rows, compactions and flush policies meet every
//! concurrent write and read. The manual clock never moves: no TTL, no retention purge.
//!
//! **Transaction blocks.** A committed SERIALIZABLE block is equivalent to running
//! whole at its commit, so its place is its commit's first `_seq`, and the replay runs it
//! there (BEGIN, every step with the same answers, COMMIT). Its rows name its steps in
//! `w`; its COMMIT holds its scope's gate exclusively, so every change of the scope inside
//! the COMMIT window is the block's (its tombstones included) and nothing else's. A block
//! rolled back (chosen, after a step failed, or 40001 at COMMIT), or committed without a
//! change a subscriber sees, floats like a read: some cut between its BEGIN and its end
//! must give every step it ran the same answer (a step that failed with 40001, or 42P01
//! because a DROP TABLE raced the block, is left out: no serial run gives those). A key a
//! block inserted and deleted again leaves a tombstone no subscriber sees; the final
//! state allows exactly those. REPEATABLE READ is not run here: snapshot isolation admits
//! write skew, so its committed histories need not be serial (`slt/transactions/` shows
//! each anomaly it allows).
//!
//! Two statements of one scope may both explain the same block of tombstones (same
//! count, same rows selected at that point); the one that finished first is taken, and
//! the summary counts such choices ("ambiguous delete matches"): a wrong choice could
//! only show as a failure to explain a later block, never hide one.
//!
//! **What fails the check**, in four groups: problems of the run (a subscription that
//! would not open, a CREATE TABLE that failed); inconsistencies of the recorded history
//! (a change no acknowledged statement explains, a failed statement whose row was
//! committed, a count that differs from the changes seen, a commit outside its table's
//! lifetime or inside a gated statement, subscriptions whose events do not add up to
//! the rows the engine holds, or that end without a DROP or ALTER); statements that
//! failed with an error no serial order gives (internal `XX...` and system `58...`
//! errors of any statement, and a read failing with anything but 42P01, or 40001 while
//! an ALTER TABLE of its table ran: a read planned before the ALTER is refused, to be
//! run again, rather than shown rows of the new shape); and
//! divergences of the serial replay. Failures that raced a DROP TABLE or ALTER TABLE
//! of the same table are tagged so, and listed after the others.
//!
//! The check can fail: `--self-test` also replays the same history in a deliberately
//! wrong order (each generation's commits reversed) and fails unless that replay
//! diverges. A failure prints the seed and the first divergence. The seed fixes every
//! session's statements, not the interleaving: a run is not replayed exactly.

mod history;
mod order;
mod replay;
mod run;
mod workload;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use clap::Parser;
use engine::{Engine, EngineConfig, ManualClock};

use crate::history::{Kind, Outcome};
use crate::run::RunConfig;

#[derive(Parser, Debug)]
#[command(name = "serial", about = "Run sessions at once and check the result against a serial replay in _seq order")]
struct Args {
    /// Statements in all (split between the sessions).
    #[arg(long, conflicts_with = "seconds")]
    ops: Option<usize>,
    /// Run for this many seconds instead (default: 20 when --ops is not given).
    #[arg(long)]
    seconds: Option<f64>,
    /// The random seed (default: from the clock; printed, and with every failure).
    #[arg(long)]
    seed: Option<u64>,
    /// Concurrent sessions (at least 4).
    #[arg(long, default_value_t = 4)]
    sessions: usize,
    /// Also replay in a deliberately wrong order and fail unless that is caught.
    #[arg(long)]
    self_test: bool,
    /// Print an example statement of each SQLSTATE the run met.
    #[arg(long)]
    verbose: bool,
    /// Failures printed in full.
    #[arg(long, default_value_t = 5)]
    max_failures: usize,
}

async fn run(args: &Args) -> Result<bool> {
    let seed = args
        .seed
        .unwrap_or_else(|| std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1));
    let sessions = args.sessions.max(4);
    let seconds = match (args.ops, args.seconds) {
        (None, None) => Some(20.0),
        (_, seconds) => seconds,
    };
    let config = RunConfig { seed, sessions, ops: args.ops, seconds };
    let length = match (config.ops, config.seconds) {
        (Some(ops), _) => format!("{ops} statements"),
        (None, Some(s)) => format!("{s} s"),
        _ => String::new(),
    };
    println!("serial: seed {seed}, {sessions} sessions, {length}");
    let dir = tempfile::tempdir()?;
    let mut engine_config = EngineConfig::for_tests(dir.path().join("data"), Arc::new(ManualClock::default()));
    engine_config.job_interval = Some(Duration::from_millis(50));
    engine_config.subscriber_buffer_events = 1 << 24;
    engine_config.compact_segments_over = 3;
    let engine = Engine::open(engine_config)?;
    run::create_users(&mut engine.root_session()).await?;

    let started = Instant::now();
    let history = run::run(engine.clone(), &config).await?;
    let ran = started.elapsed();
    drop(engine);

    let started = Instant::now();
    let analysis = order::analyse(&history);
    // Problems of the run itself (internal errors, subscriptions that would not open) fail
    // the check, but the order and the replay are still checked.
    let mut report = replay::Report::default();
    if analysis.failures.is_empty() {
        report = replay::replay(&history, &analysis.tables, &replay::Options { floating: true }).await?;
    }
    let checked = started.elapsed();

    let stmts = &history.stmts;
    let acknowledged = stmts.iter().filter(|s| s.outcome.is_ok()).count();
    let count = |f: &dyn Fn(&history::Stmt) -> bool| stmts.iter().filter(|s| f(s)).count();
    let mut errors: std::collections::BTreeMap<String, usize> = Default::default();
    let mut examples: std::collections::BTreeMap<String, String> = Default::default();
    for stmt in stmts {
        if let Outcome::Error { state, message } = &stmt.outcome {
            *errors.entry(state.clone()).or_default() += 1;
            examples.entry(format!("{} {state}", stmt.kind.name())).or_insert_with(|| format!("{} -> {message}", stmt.sql));
        }
    }
    let stats = &analysis.stats;
    println!(
        "serial: seed {seed}: {sessions} sessions, {} statements in {ran:.1?} ({acknowledged} acknowledged: {} DML with a _seq, \
         {} DML that changed nothing, {} STREAM TRUNCATE, {} DDL, {} reads, {} FLUSH, {} job runs; errors by SQLSTATE {errors:?})",
        stmts.len(),
        stats.committed,
        stats.unchanged_writes,
        count(&|s| matches!(s.kind, Kind::StreamTruncate) && s.outcome.is_ok()),
        stats.ddl,
        count(&|s| matches!(s.kind, Kind::Read) && s.outcome.is_ok()),
        count(&|s| matches!(s.kind, Kind::Flush) && s.outcome.is_ok()),
        count(&|s| matches!(s.kind, Kind::Jobs) && s.outcome.is_ok()),
    );
    println!(
        "serial: transaction blocks at SERIALIZABLE: {} committed with changes (replayed at their commit), {} rolled back or aborted, \
         {} checked at a cut of {} floating",
        stats.blocks_committed, stats.blocks_rolled_back, report.blocks_checked, stats.blocks_floating,
    );
    println!(
        "serial: {} change events from {} subscriptions; replayed {} statements serially; reads checked {} of {} (and {} that failed, {} refused with 40001 beside an ALTER); \
         writes that changed nothing checked {} of {}; {} probes; {} ambiguous delete matches; checked in {checked:.1?}",
        stats.events,
        history.watches.len(),
        report.replayed,
        report.reads_checked,
        stats.reads,
        stats.read_errors,
        stats.read_retries,
        report.unchanged_checked,
        stats.unchanged_writes,
        report.probes,
        stats.ambiguous_deletes,
    );
    if args.verbose {
        for (state, example) in &examples {
            println!("serial: e.g. {state}: {example}");
        }
    }
    let sections = [
        ("problems during the run", &history.problems),
        ("inconsistencies in the recorded history (the order cannot be built)", &analysis.failures),
        ("statements that failed with an error no serial order gives", &analysis.failed_reads),
        ("divergences of the serial replay; the first", &report.failures),
    ];
    let mut ok = true;
    for (what, failures) in sections {
        if failures.is_empty() {
            continue;
        }
        ok = false;
        // Those that raced DDL (tagged where they are made) after the others.
        let raced = |f: &String| f.starts_with("[raced") || f.contains(" (while ");
        let racing = failures.iter().filter(|f| raced(f)).count();
        eprintln!("serial: FAILED, seed {seed}: {} {what} ({racing} of them racing DROP TABLE or ALTER TABLE):", failures.len());
        let mut shown: Vec<&String> = failures.iter().filter(|f| !raced(f)).collect();
        shown.extend(failures.iter().filter(|f| raced(f)));
        for failure in shown.into_iter().take(args.max_failures) {
            eprintln!("  - {failure}");
        }
    }
    if !ok {
        eprintln!("serial: replay with --seed {seed} (the statements are the same; the interleaving differs between runs)");
    }
    if args.self_test {
        let wrong = replay::reversed(&analysis.tables, &history);
        let sabotaged = replay::replay(&history, &wrong, &replay::Options { floating: false }).await?;
        match sabotaged.failures.first() {
            Some(first) => println!("serial: self-test: the wrong order is caught: {}", first.chars().take(300).collect::<String>()),
            None => {
                eprintln!("serial: self-test FAILED: replaying the commits in reverse went unnoticed (seed {seed})");
                ok = false;
            }
        }
    }
    if ok {
        println!("serial: ok");
    }
    Ok(ok)
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a tokio runtime");
    match runtime.block_on(run(&args)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("serial: {error:#}");
            ExitCode::FAILURE
        }
    }
}

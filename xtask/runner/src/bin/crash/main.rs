//! `crash`: kills a writing engine process at random moments and checks after every
//! reopen that the database equals the model of the acknowledged statements, exactly
//! (`cargo xtask crash [--kills N] [--seed S]`).
//!
//! The parent draws each epoch's statements from a seeded RNG against the model
//! ([`generate`]: single and multi-row INSERT, UPDATE with values that differ when applied
//! twice, DELETE, TRUNCATE, FLUSH, ALTER TABLE ADD/DROP COLUMN on a SHARED, a USER and a
//! STREAM table, and transaction blocks of 2 to 5 writes over all three, which must be
//! found whole or not at all), writes them to a file and starts itself as the child ([`child`]), which
//! runs them with the background jobs (flush policies, retention purges, compactions,
//! eviction) running beside them and reports `begin`/`ack` for every statement. The parent
//! SIGKILLs it at a moment chosen per epoch:
//! - right after a given statement's acknowledgement;
//! - inside a given statement (a random delay after its `begin`), or inside a FLUSH;
//! - after a statement committed, before its acknowledgement (the child holds it back);
//! - frozen at a given flush step (the child's flush observer stops the flush there,
//!   statement or background job alike, and the parent kills it);
//! - a random delay after the start, often while the engine opens and recovers;
//! - idle, with only background jobs running, after the last statement.
//!
//! Then it reopens the data directory in-process and compares every table with the model
//! after the acknowledged statements, or after those and the one in flight ([`check`]):
//! values, `_updated`, `_deleted` and `_seq` order, not only keys. The next epoch goes on
//! from whichever matched. The engine clock only moves forward across epochs: each child
//! starts later than any instant before. A failure prints the seed, the epoch, the
//! statements and the diverging rows, keeps the working directory, and exits non-zero.

mod check;
mod child;
mod generate;
mod model;

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;
use engine::{Engine, EngineConfig, ManualClock};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};

use crate::model::{Model, Op};

#[derive(Parser, Debug)]
#[command(name = "crash", about = "Kill a writing engine process at random moments; check every reopen against a model")]
struct Args {
    /// Kills (each one a child process, a reopen and a full check).
    #[arg(long, default_value_t = 1000)]
    kills: usize,
    /// The random seed (default: from the clock; printed, and with every failure).
    #[arg(long)]
    seed: Option<u64>,
    /// Statements drawn per epoch (most kills come before the last).
    #[arg(long, default_value_t = 60)]
    statements: usize,
    /// Keep the working directory (a failure keeps it anyway).
    #[arg(long)]
    keep: bool,
    /// Child mode: the data directory.
    #[arg(long, hide = true)]
    child: Option<PathBuf>,
    /// Child mode: the epoch's statements.
    #[arg(long, hide = true)]
    ops: Option<PathBuf>,
    /// Child mode: the engine clock at the start, ms.
    #[arg(long, hide = true)]
    clock: Option<i64>,
    /// Child mode: stop the flush that reaches this step (counted from 0).
    #[arg(long, hide = true)]
    freeze_at_step: Option<usize>,
    /// Child mode: hold this statement's `ack` back a while after it returned.
    #[arg(long, hide = true)]
    hold_ack: Option<usize>,
    /// Child mode: the epoch (for messages only).
    #[arg(long, hide = true)]
    epoch: Option<usize>,
}

/// No line from the child for this long is a failure (a hang).
const STALL: Duration = Duration::from_secs(60);

/// When the parent kills the child.
#[derive(Debug, Clone, Copy)]
enum Plan {
    /// Right after statement `n` returned.
    AfterAck(usize),
    /// `delay_us` after statement `n` began.
    InStatement { n: usize, delay_us: u64 },
    /// `delay_us` after statement `n` began, while the child holds its `ack` back for
    /// [`child::HELD_ACK`] after it returns: mostly after its commit, unacknowledged.
    Unacknowledged { n: usize, delay_us: u64 },
    /// `delay_us` after the FLUSH statement `n` began.
    InFlush { n: usize, delay_us: u64 },
    /// When a flush (a statement's or a job's) reaches flush step `j` of this child.
    AtFlushStep(usize),
    /// `ms` after the last statement returned.
    Idle(u64),
    /// `delay_us` after the child started, whatever it reported: often while the engine
    /// opens (recovering from the kill before).
    Opening { delay_us: u64 },
}

impl Plan {
    fn label(&self) -> &'static str {
        match self {
            Plan::AfterAck(_) => "after an ack",
            Plan::InStatement { .. } => "inside a statement",
            Plan::Unacknowledged { .. } => "before an ack",
            Plan::InFlush { .. } => "inside a FLUSH",
            Plan::AtFlushStep(_) => "frozen at a flush step",
            Plan::Idle(_) => "idle (jobs only)",
            Plan::Opening { .. } => "while opening",
        }
    }
}

/// What the child reported about one statement.
#[derive(Debug, Clone, PartialEq)]
enum Reported {
    Ack(Option<u64>),
    Err(String),
}

/// The child's report of one epoch.
#[derive(Debug, Default)]
struct Report {
    opened: bool,
    begun: Option<usize>,
    results: std::collections::BTreeMap<usize, Reported>,
    steps: usize,
    frozen: Option<usize>,
    done: bool,
    lines: Vec<String>,
}

impl Report {
    fn record(&mut self, line: &str) -> Result<()> {
        self.lines.push(line.to_string());
        let words: Vec<&str> = line.splitn(4, ' ').collect();
        let number = || -> Result<usize> { Ok(words.get(1).context("a number")?.parse()?) };
        let third = || words.get(2).copied().context("a third word");
        match words[0] {
            "open" => self.opened = true,
            "begin" => self.begun = Some(number()?),
            "ack" => {
                let count = third()?;
                self.results.insert(number()?, Reported::Ack(if count == "-" { None } else { Some(count.parse()?) }));
            }
            "err" => {
                self.results.insert(number()?, Reported::Err(third()?.to_string()));
            }
            "step" => self.steps += 1,
            "frozen" => self.frozen = Some(number()?),
            "done" => self.done = true,
            _ => bail!("unexpected line from the child: {line}"),
        }
        Ok(())
    }
}

#[derive(Debug, Default)]
struct Stats {
    kills: usize,
    by_plan: std::collections::BTreeMap<&'static str, usize>,
    acked: usize,
    /// Acknowledged statements that failed as the model predicted (23505).
    refused: usize,
    in_flight_applied: usize,
    in_flight_not_applied: usize,
    in_flight_flush: usize,
    /// Acknowledged transaction blocks (COMMITs), and kills with a block in flight.
    blocks: usize,
    in_flight_block: usize,
    frozen: usize,
    flush_steps: usize,
    rows_checked: usize,
    purged: usize,
}

struct Run {
    seed: u64,
    rng: StdRng,
    work: PathBuf,
    data: PathBuf,
    model: Model,
    /// The latest instant any engine on the directory may have seen.
    clock: i64,
    statements: usize,
    stats: Stats,
}

/// An epoch that failed: what to print.
struct Failure(String);

impl Run {
    /// Creates the users and tables on a fresh directory.
    fn setup(&mut self) -> Result<()> {
        let config = EngineConfig::for_tests(&self.data, Arc::new(ManualClock::new(self.clock)));
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        runtime.block_on(setup(config))
    }

    fn plan(&mut self, ops: &[Op]) -> Plan {
        let n = self.rng.random_range(0..ops.len());
        // No delay, or 10 µs to 20 ms spread evenly over the orders of magnitude.
        let delay_us = if self.rng.random_bool(0.2) { 0 } else { 10f64.powf(self.rng.random_range(1.0..4.3)) as u64 };
        match self.rng.random_range(0..100) {
            0..24 => Plan::AfterAck(n),
            24..40 => Plan::InStatement { n, delay_us },
            40..53 => Plan::Unacknowledged { n, delay_us: self.rng.random_range(0..child::HELD_ACK.as_micros() as u64 * 4 / 5) },
            53..67 => {
                let flushes: Vec<usize> = (0..ops.len()).filter(|i| ops[*i].is_flush()).collect();
                match flushes.choose(&mut self.rng) {
                    Some(&n) => Plan::InFlush { n, delay_us },
                    None => Plan::InStatement { n, delay_us },
                }
            }
            67..90 => Plan::AtFlushStep(self.rng.random_range(0..9)),
            90..95 => Plan::Opening { delay_us: self.rng.random_range(0..150_000) },
            _ => Plan::Idle(self.rng.random_range(0..200)),
        }
    }

    fn epoch(&mut self, epoch: usize) -> Result<std::result::Result<(), Failure>> {
        // Time moves on between children, now and then by more than the retention.
        let mut start = self.clock + self.rng.random_range(1_000..=120_000);
        if self.rng.random_bool(0.05) {
            start += 2 * model::RETENTION_MILLIS;
        }
        let ops = generate::epoch(&mut self.rng, &self.model, start, self.statements);
        let ops_file = self.work.join("ops.txt");
        let text: String = ops.iter().map(|op| format!("{}\t{}\t{}\n", op.time, op.who().session(), op.sql(&self.model))).collect();
        std::fs::write(&ops_file, text)?;
        let plan = self.plan(&ops);
        let mut command = Command::new(std::env::current_exe()?);
        command.arg("--child").arg(&self.data).arg("--ops").arg(&ops_file).args([
            "--clock",
            &start.to_string(),
            "--epoch",
            &epoch.to_string(),
        ]);
        match plan {
            Plan::AtFlushStep(j) => {
                command.args(["--freeze-at-step", &j.to_string()]);
            }
            Plan::Unacknowledged { n, .. } => {
                command.args(["--hold-ack", &n.to_string()]);
            }
            _ => {}
        }
        let stderr = std::fs::File::create(self.work.join("child-stderr.txt"))?;
        let mut child = command.stdout(Stdio::piped()).stderr(stderr).spawn().context("starting the child")?;
        let stdout = child.stdout.take().expect("piped");
        let (sender, lines) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let mut report = Report::default();
        let outcome = self.watch(&mut child, &lines, &mut report, plan);
        let _ = child.kill();
        child.wait()?;
        // Lines written before the death are still in the pipe.
        for line in lines.iter() {
            report.record(&line)?;
        }
        let _ = reader.join();
        if let Err(failure) = outcome {
            return Ok(Err(self.failure(epoch, plan, &ops, &report, &failure, &[])));
        }
        self.stats.kills += 1;
        *self.stats.by_plan.entry(plan.label()).or_default() += 1;
        self.stats.flush_steps += report.steps;
        if report.frozen.is_some() {
            self.stats.frozen += 1;
        }
        self.settle(epoch, plan, &ops, &report)
    }

    /// Reads the child's lines until the plan says kill; `Err` for a child that stalls or
    /// ends by itself.
    fn watch(
        &mut self,
        child: &mut std::process::Child,
        lines: &Receiver<String>,
        report: &mut Report,
        plan: Plan,
    ) -> std::result::Result<(), String> {
        let kill_after = |us: u64| {
            if us > 0 {
                std::thread::sleep(Duration::from_micros(us));
            }
        };
        let deadline = match plan {
            Plan::Opening { delay_us } => Some(Instant::now() + Duration::from_micros(delay_us)),
            _ => None,
        };
        loop {
            let wait = deadline.map_or(STALL, |d| d.saturating_duration_since(Instant::now()));
            let line = match lines.recv_timeout(wait) {
                Ok(line) => line,
                Err(RecvTimeoutError::Timeout) if deadline.is_some() => {
                    let _ = child.kill();
                    return Ok(());
                }
                Err(RecvTimeoutError::Timeout) => return Err(format!("the child wrote nothing for {STALL:?} (a hang?)")),
                Err(RecvTimeoutError::Disconnected) => return Err("the child ended by itself (see child-stderr.txt)".into()),
            };
            report.record(&line).map_err(|e| e.to_string())?;
            let words: Vec<&str> = line.splitn(3, ' ').collect();
            let number = words.get(1).and_then(|n| n.parse::<usize>().ok());
            let kill = match (plan, words[0]) {
                (Plan::AfterAck(n), "ack" | "err") => number == Some(n),
                (Plan::InStatement { n, delay_us } | Plan::Unacknowledged { n, delay_us } | Plan::InFlush { n, delay_us }, "begin")
                    if number == Some(n) =>
                {
                    kill_after(delay_us);
                    true
                }
                (Plan::AtFlushStep(_), "frozen") => true,
                (Plan::Idle(ms), "done") => {
                    kill_after(ms * 1000);
                    true
                }
                (_, "done") => {
                    kill_after(self.rng.random_range(0..20_000));
                    true
                }
                _ => false,
            };
            if kill {
                let _ = child.kill();
                return Ok(());
            }
        }
    }

    /// Applies what the child acknowledged, reopens, and compares.
    fn settle(&mut self, epoch: usize, plan: Plan, ops: &[Op], report: &Report) -> Result<std::result::Result<(), Failure>> {
        let acked = (0..).take_while(|n| report.results.contains_key(n)).count();
        if report.results.keys().any(|n| *n >= acked) || report.begun.is_some_and(|b| b > acked) {
            return Ok(Err(self.failure(epoch, plan, ops, report, "the child's report has gaps", &[])));
        }
        let in_flight = report.begun.filter(|b| *b == acked && !report.results.contains_key(b));
        // The latest clock the child may have set: the statement after the last begun.
        let reached = report.begun.map_or(0, |b| b + 1).min(ops.len() - 1);
        let now = ops[reached].time;
        let mut acked_model = self.model.clone();
        for (n, op) in ops.iter().enumerate().take(acked) {
            let predicted = acked_model.apply(op);
            let reported = &report.results[&n];
            let agrees = match (&predicted, reported) {
                (Ok(Some(want)), Reported::Ack(got)) => *got == Some(*want),
                (Ok(None), Reported::Ack(_)) => true,
                (Err(want), Reported::Err(got)) => want == got,
                _ => false,
            };
            if !agrees {
                let why = format!("statement {n} ({}) returned {reported:?}, the model predicts {predicted:?}", op.sql(&self.model));
                return Ok(Err(self.failure(epoch, plan, ops, report, &why, &[])));
            }
        }
        self.stats.acked += acked;
        self.stats.blocks += report.results.iter().filter(|(n, r)| matches!(r, Reported::Ack(_)) && ops[**n].is_block()).count();
        self.stats.refused += report.results.values().filter(|r| matches!(r, Reported::Err(_))).count();
        let points: Vec<i64> = (0..3).map(|_| self.rng.random_range(0..generate::KEYS)).collect();
        let found = match check::read(&self.data, now, &acked_model, &points) {
            Ok(found) => found,
            Err(error) => return Ok(Err(self.failure(epoch, plan, ops, report, &format!("{error:#}"), &[]))),
        };
        let mut candidates = vec![("the acknowledged statements", acked_model.clone())];
        if let Some(n) = in_flight {
            let mut with = acked_model;
            let _ = with.apply(&ops[n]);
            candidates.push(("the acknowledged statements and the one in flight", with));
            if ops[n].is_flush() {
                self.stats.in_flight_flush += 1;
            }
            if ops[n].is_block() {
                self.stats.in_flight_block += 1;
            }
        }
        let mut all_diffs = Vec::new();
        for (i, (label, candidate)) in candidates.iter().enumerate() {
            match check::compare(&found, candidate, now) {
                Ok(matched) => {
                    let mut model = candidate.clone();
                    for (table, owner, id) in &matched.purged {
                        if let Some(scope) = model.tables[*table].scopes.get_mut(owner) {
                            scope.remove(id);
                        }
                    }
                    self.stats.purged += matched.purged.len();
                    self.stats.rows_checked += matched.rows;
                    if in_flight.is_some() {
                        if i == 1 {
                            self.stats.in_flight_applied += 1;
                        } else {
                            self.stats.in_flight_not_applied += 1;
                        }
                    }
                    model.forget_expired(now);
                    self.model = model;
                    self.clock = now;
                    return Ok(Ok(()));
                }
                Err(diffs) => all_diffs.push((*label, diffs)),
            }
        }
        Ok(Err(self.failure(epoch, plan, ops, report, "the reopened database matches no model", &all_diffs)))
    }

    fn failure(&self, epoch: usize, plan: Plan, ops: &[Op], report: &Report, why: &str, diffs: &[(&str, Vec<String>)]) -> Failure {
        let mut text = format!("crash: FAILED seed {} epoch {epoch} (killed {}: {plan:?}): {why}\n", self.seed, plan.label());
        text.push_str("  statements of this epoch (n: result: SQL):\n");
        let last = report.begun.map_or(0, |b| b + 1).min(ops.len());
        for (n, op) in ops.iter().enumerate().take(last) {
            let result = match report.results.get(&n) {
                Some(Reported::Ack(Some(c))) => format!("ack {c}"),
                Some(Reported::Ack(None)) => "ack".into(),
                Some(Reported::Err(s)) => format!("err {s}"),
                None => "in flight".into(),
            };
            text.push_str(&format!("    {n}: {result}: {}\n", op.sql(&self.model)));
        }
        text.push_str(&format!(
            "  child opened the engine: {}, ran every statement: {}, flush steps reported: {}, frozen at step: {:?}\n",
            report.opened, report.done, report.steps, report.frozen
        ));
        for (label, lines) in diffs {
            text.push_str(&format!("  against {label}: {} differences\n", lines.len()));
            for line in lines.iter().take(25) {
                text.push_str(&format!("    {line}\n"));
            }
        }
        text.push_str("  the child's last lines:\n");
        for line in &report.lines[report.lines.len().saturating_sub(8)..] {
            text.push_str(&format!("    {}\n", line.chars().take(160).collect::<String>()));
        }
        let stderr = std::fs::read_to_string(self.work.join("child-stderr.txt")).unwrap_or_default();
        if !stderr.trim().is_empty() {
            text.push_str("  the child's stderr (last lines):\n");
            let lines: Vec<&str> = stderr.lines().collect();
            for line in &lines[lines.len().saturating_sub(20)..] {
                text.push_str(&format!("    {line}\n"));
            }
        }
        text.push_str(&format!("  working directory kept: {}\n", self.work.display()));
        Failure(text)
    }
}

async fn setup(config: EngineConfig) -> Result<()> {
    let engine = Engine::open(config)?;
    let mut root = engine.root_session();
    for sql in model::setup_sql() {
        root.execute(&sql).await.with_context(|| format!("setting up: {sql}"))?;
    }
    Ok(())
}

fn parent(args: &Args) -> Result<bool> {
    let seed = args
        .seed
        .unwrap_or_else(|| std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1));
    println!("crash: {} kills, seed {seed}", args.kills);
    let mut temp = tempfile::Builder::new().prefix("engine-crash-").tempdir()?;
    let work = temp.path().to_path_buf();
    let mut run = Run {
        seed,
        rng: StdRng::seed_from_u64(seed),
        data: work.join("data"),
        work,
        model: Model::initial(),
        clock: ManualClock::DEFAULT_START_MILLIS,
        statements: args.statements.max(1),
        stats: Stats::default(),
    };
    run.setup()?;
    let started = Instant::now();
    for epoch in 0..args.kills {
        if let Err(Failure(text)) = run.epoch(epoch)? {
            temp.disable_cleanup(true);
            eprint!("{text}");
            eprintln!("crash: replay with --seed {seed} (kill timing is real time, so a replay may differ)");
            return Ok(false);
        }
        if (epoch + 1) % 100 == 0 && epoch + 1 < args.kills {
            println!("  {} kills, {} statements acknowledged, {:.0?}", epoch + 1, run.stats.acked, started.elapsed());
            let _ = std::io::stdout().flush();
        }
    }
    if args.keep {
        temp.disable_cleanup(true);
        println!("crash: working directory kept: {}", run.work.display());
    }
    let s = &run.stats;
    let plans: Vec<String> = s.by_plan.iter().map(|(k, v)| format!("{v} {k}")).collect();
    println!(
        "crash: seed {seed}: {} kills ({}), {} statements acknowledged ({} of them refused as predicted), {} kills with one in flight ({} found applied, {} not; {} of them a FLUSH, {} a transaction block), {} transaction blocks committed whole, {} flush steps reported, {} kills frozen at a flush step, {} rows checked, {} tombstones purged, in {:.1?}; 0 failures",
        s.kills,
        plans.join(", "),
        s.acked,
        s.refused,
        s.in_flight_applied + s.in_flight_not_applied,
        s.in_flight_applied,
        s.in_flight_not_applied,
        s.in_flight_flush,
        s.in_flight_block,
        s.blocks,
        s.flush_steps,
        s.frozen,
        s.rows_checked,
        s.purged,
        started.elapsed()
    );
    Ok(true)
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(dir) = &args.child {
        let (Some(ops), Some(clock)) = (&args.ops, args.clock) else {
            eprintln!("crash: --child needs --ops and --clock");
            return ExitCode::FAILURE;
        };
        return match child::run(dir, ops, clock, args.freeze_at_step, args.hold_ack) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("crash child (epoch {:?}): {error:#}", args.epoch);
                ExitCode::FAILURE
            }
        };
    }
    match parent(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("crash: {error:#}");
            ExitCode::FAILURE
        }
    }
}

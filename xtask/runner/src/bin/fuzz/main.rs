//! `fuzz`: hunts logic bugs with oracles that need no expected results (`cargo xtask fuzz`).
//!
//! Each *world* is a fresh engine (temporary directory, manual clock) with one to three
//! random tables of every kind ([`schema`]), filled and changed by random writes
//! ([`workload`]: multi-row INSERTs with edge values of every type, UPDATE, DELETE,
//! TRUNCATE, FLUSH TABLE, ALTER TABLE ADD/DROP/RENAME COLUMN, as root and as a second
//! user), between which random queries ([`query`]) are checked by the oracles of
//! [`oracles`] (TLP, NoREC, differential against plain DataFusion and against the engine
//! without its simple-statement path, hot against flushed). Every write is checked
//! against the [`model`] (its count or error, and the rows it leaves); a write that fails
//! must leave storage byte for byte as it was; no statement may panic or hang, and every
//! error must carry a SQLSTATE other than XX000.
//!
//! A failure prints its seed and world, and a statement list made minimal by delta
//! debugging ([`minimize`]) on fresh engines; `--seed S --world W` replays that world.
//! Generation is cheap string building; the run prints the queries per second.

mod data;
mod exec;
mod minimize;
mod model;
mod oracles;
mod query;
mod render;
mod schema;
mod workload;
mod world;

use std::collections::{BTreeMap, HashSet};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Result;
use clap::Parser;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::minimize::Step;
use crate::oracles::{Check, Failure, Verdict};
use crate::schema::Kind;
use crate::workload::Next;
use crate::world::World;

#[derive(Parser, Debug)]
#[command(name = "fuzz", about = "Hunt logic bugs with TLP, NoREC, differential, hot/cold, model and atomicity oracles")]
struct Args {
    /// Stop after this many seconds (default: 60 unless --queries is given).
    #[arg(long)]
    seconds: Option<u64>,
    /// Stop after the oracles ran this many queries on the engine.
    #[arg(long)]
    queries: Option<u64>,
    /// The random seed (default: from the clock; printed, and with every failure).
    #[arg(long)]
    seed: Option<u64>,
    /// Run only this world of the seed (as a failure report names it).
    #[arg(long)]
    world: Option<u64>,
    /// Stop after this many distinct failures.
    #[arg(long, default_value_t = 5)]
    max_failures: usize,
    /// Seconds of delta debugging per failure (0: report the statements unminimized).
    #[arg(long, default_value_t = 120)]
    minimize_seconds: u64,
    /// Where `.slt` drafts of failures go (default: the system's temporary directory).
    #[arg(long)]
    drafts: Option<std::path::PathBuf>,
    /// Triage: run the statements of FILE (one per line) on a fresh engine, printing each
    /// answer and how plain DataFusion and the planner path answer the queries.
    #[arg(long)]
    exec: Option<std::path::PathBuf>,
    /// Worlds run at once, each on its own thread (more than 1: faster, but which worlds
    /// run within --queries or --seconds is no longer the same every time).
    #[arg(long, default_value_t = 1)]
    jobs: usize,
}

/// The seed of world `index` of a run.
fn world_seed(seed: u64, index: u64) -> u64 {
    let mut z = seed ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[derive(Default)]
struct Tally {
    pass: u64,
    skip: u64,
    fail: u64,
    upstream: u64,
}

/// What the run has seen so far (shared by the workers).
#[derive(Default)]
struct Stats {
    engine_queries: u64,
    datafusion_queries: u64,
    statements: u64,
    /// Engine queries, DataFusion queries, writes, opening engines.
    times: [Duration; 4],
    worlds: u64,
    checks: BTreeMap<&'static str, Tally>,
    failures: Vec<String>,
    /// Failures seen again (same signature): counted, not minimized again.
    repeats: BTreeMap<String, u64>,
    signatures: HashSet<String>,
    /// Failures plain DataFusion shares, by signature.
    upstream: BTreeMap<String, u64>,
}

struct Run {
    args: Args,
    seed: u64,
    started: Instant,
    deadline: Option<Instant>,
    next_world: AtomicU64,
    stats: Mutex<Stats>,
    last_progress: Mutex<Instant>,
}

impl Run {
    fn stats(&self) -> std::sync::MutexGuard<'_, Stats> {
        self.stats.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the run is over, with `pending` queries of a running world not yet counted.
    fn done(&self, pending: u64) -> bool {
        let stats = self.stats();
        stats.failures.len() >= self.args.max_failures
            || self.args.queries.is_some_and(|q| stats.engine_queries + pending >= q)
            || self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    fn tally(&self, name: &'static str, verdict: &Verdict) {
        let mut stats = self.stats();
        let tally = stats.checks.entry(name).or_default();
        match verdict {
            Verdict::Pass => tally.pass += 1,
            Verdict::Skip => tally.skip += 1,
            Verdict::Fail(_) => tally.fail += 1,
            Verdict::Upstream(failure) => {
                tally.upstream += 1;
                let signature = failure.signature();
                if !stats.upstream.contains_key(&signature) {
                    println!("  upstream (a bug plain DataFusion shows too): {}", failure.message.replace('\n', "\n    "));
                }
                *stats.upstream.entry(signature).or_default() += 1;
            }
        }
    }

    fn progress(&self, world: &World) {
        let mut last = self.last_progress.lock().unwrap_or_else(|p| p.into_inner());
        if last.elapsed() < Duration::from_secs(15) {
            return;
        }
        *last = Instant::now();
        let stats = self.stats();
        let queries = stats.engine_queries + world.counters.engine_queries;
        let seconds = self.started.elapsed().as_secs_f64();
        println!(
            "  {queries} queries in {seconds:.0} s ({:.0}/s), {} worlds, {} failures",
            queries as f64 / seconds,
            stats.worlds,
            stats.failures.len()
        );
    }

    /// Reports a failure: minimized, printed, and drafted as `.slt`.
    async fn report(&self, world_index: u64, world: &World, last: Step, failure: Failure) -> Result<()> {
        let signature = failure.signature();
        let number = {
            let mut stats = self.stats();
            if !stats.signatures.insert(signature.clone()) {
                *stats.repeats.entry(signature).or_default() += 1;
                return Ok(());
            }
            stats.signatures.len()
        };
        let mut steps: Vec<Step> = world.trace.iter().cloned().map(Step::Op).collect();
        steps.push(last);
        let original = steps.len();
        let replay = format!("cargo xtask fuzz --seed {} --world {world_index}", self.seed);
        let mut out = format!("\nFAILED #{number} [{}] seed {} world {world_index} (replay: {replay})\n", failure.oracle.name(), self.seed);
        out.push_str(&format!("  {}\n", failure.message.replace('\n', "\n  ")));
        let budget = Duration::from_secs(self.args.minimize_seconds);
        let (steps, final_failure) = if budget.is_zero() {
            (steps, None)
        } else {
            let minimized = minimize::minimize(steps, &signature, budget).await?;
            out.push_str(&format!(
                "  minimized from {original} to {} statements ({} replays, {:.1?}){}\n",
                minimized.steps.len(),
                minimized.replays,
                minimized.elapsed,
                if minimized.failure.is_none() { "; it did NOT fail again on a fresh engine" } else { "" }
            ));
            (minimized.steps, minimized.failure)
        };
        let mut failed = Vec::new();
        let _ = minimize::replay_noting(&steps, &mut failed).await?;
        out.push_str("  statements:\n");
        for step in &steps {
            for line in step.lines() {
                out.push_str(&format!("    {line}\n"));
            }
        }
        let shown = final_failure.as_ref().unwrap_or(&failure);
        if final_failure.is_some() {
            out.push_str(&format!("  failure of the minimized statements:\n    {}\n", shown.message.replace('\n', "\n    ")));
        }
        let header =
            format!("fuzz: {} failure, seed {} world {world_index} ({replay})\n{}", failure.oracle.name(), self.seed, shown.message);
        let dir = self.args.drafts.clone().unwrap_or_else(|| std::env::temp_dir().join("engine-fuzz"));
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!("seed-{}-world-{world_index}-{number}.slt", self.seed));
        std::fs::write(&path, minimize::slt_draft(&header, &steps, &failed))?;
        out.push_str(&format!("  draft scenario: {}\n", path.display()));
        eprint!("{out}");
        self.stats().failures.push(format!("[{}] seed {} world {world_index}: {}", failure.oracle.name(), self.seed, signature));
        Ok(())
    }

    /// Runs one world until its steps run out, the run ends, or something fails.
    async fn world(&self, index: u64) -> Result<()> {
        let mut rng = StdRng::seed_from_u64(world_seed(self.seed, index));
        let opening = Instant::now();
        let mut world = World::open().await?;
        let opened = opening.elapsed();
        let outcome = self.steps(&mut rng, &mut world).await;
        {
            let mut stats = self.stats();
            stats.worlds += 1;
            stats.engine_queries += world.counters.engine_queries;
            stats.datafusion_queries += world.counters.datafusion_queries;
            stats.statements += world.counters.statements;
            stats.times[0] += world.counters.engine_time;
            stats.times[1] += world.counters.datafusion_time;
            stats.times[2] += world.counters.write_time;
            stats.times[3] += opened;
        }
        if let Err((last, failure)) = outcome {
            self.report(index, &world, last, failure).await?;
        }
        Ok(())
    }

    async fn steps(&self, rng: &mut StdRng, world: &mut World) -> Result<(), (Step, Failure)> {
        let profile = workload::Profile::random(rng);
        for op in workload::create_tables(rng) {
            world.apply(&op).await.map_err(|f| (Step::Op(op.clone()), f))?;
        }
        let steps = rng.random_range(100..400);
        for step in 0..steps {
            if self.done(world.counters.engine_queries) {
                break;
            }
            self.progress(world);
            if rng.random_bool(0.25) {
                match workload::next(rng, &world.model, &profile) {
                    Next::Op(op) => {
                        let ran = world.apply(&op).await.map_err(|f| (Step::Op(op.clone()), f))?;
                        let name = if ran { "write (model, atomicity)" } else { "write (not predictable, skipped)" };
                        self.tally(name, &Verdict::Pass);
                    }
                    Next::Flush(table) => {
                        let kind = world.model.table(&table).map(|t| t.schema.kind);
                        if kind == Some(Kind::Stream) {
                            let op = model::Op::Flush { table };
                            world.apply(&op).await.map_err(|f| (Step::Op(op.clone()), f))?;
                            continue;
                        }
                        let tables: Vec<schema::Table> = world.model.tables.iter().map(|t| t.schema.clone()).collect();
                        let target = tables.iter().find(|t| t.name == table).expect("the table").clone();
                        let n = rng.random_range(2..=5);
                        let mut g = query::Gen::new(&mut *rng, tables.clone()).with_pool(&world.model, &table);
                        let queries = (0..n).map(|_| oracles::differential_query(&mut g, &world.model, &target)).collect();
                        let check = Check::HotCold { table, queries };
                        let before = world.trace.len();
                        let verdict = check.evaluate(world).await;
                        self.tally("hot/cold", &verdict);
                        if let Verdict::Fail(failure) = verdict {
                            world.trace.truncate(before);
                            return Err((Step::Check(check), failure));
                        }
                    }
                }
            } else if let Some(check) = Check::random(rng, &world.model) {
                let verdict = check.evaluate(world).await;
                self.tally(check.oracle().name(), &verdict);
                if let Verdict::Fail(failure) = verdict {
                    return Err((Step::Check(check), failure));
                }
            }
            if step % 40 == 39 {
                // Every scope of every table against the model (the other user's too).
                let check = Check::Rows;
                let verdict = check.evaluate(world).await;
                self.tally(check.oracle().name(), &verdict);
                if let Verdict::Fail(failure) = verdict {
                    return Err((Step::Check(check), failure));
                }
            }
        }
        Ok(())
    }

    /// Runs worlds, one after the other, until the run is over.
    async fn worker(&self) -> Result<()> {
        loop {
            let index = match self.args.world {
                Some(world) => {
                    if self.next_world.fetch_add(1, Ordering::SeqCst) > 0 {
                        return Ok(());
                    }
                    world
                }
                None => self.next_world.fetch_add(1, Ordering::SeqCst),
            };
            if self.done(0) {
                return Ok(());
            }
            self.world(index).await?;
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a tokio runtime")
}

fn run(args: Args) -> Result<usize> {
    if let Some(path) = &args.exec {
        runtime().block_on(exec::exec(path))?;
        return Ok(0);
    }
    let seed = args
        .seed
        .unwrap_or_else(|| std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1));
    let seconds = args.seconds.or(if args.queries.is_none() { Some(60) } else { None });
    let started = Instant::now();
    println!(
        "fuzz: seed {seed}{}{}{}{}",
        seconds.map(|s| format!(", {s} s")).unwrap_or_default(),
        args.queries.map(|q| format!(", {q} queries")).unwrap_or_default(),
        args.world.map(|w| format!(", world {w} only")).unwrap_or_default(),
        if args.jobs > 1 { format!(", {} jobs", args.jobs) } else { String::new() },
    );
    let jobs = args.jobs.max(1);
    let run = Arc::new(Run {
        args,
        seed,
        started,
        deadline: seconds.map(|s| started + Duration::from_secs(s)),
        next_world: AtomicU64::new(0),
        stats: Mutex::new(Stats::default()),
        last_progress: Mutex::new(Instant::now()),
    });
    let workers: Vec<_> = (0..jobs)
        .map(|_| {
            let run = run.clone();
            std::thread::spawn(move || runtime().block_on(run.worker()))
        })
        .collect();
    for worker in workers {
        worker.join().map_err(|_| anyhow::anyhow!("a worker thread panicked"))??;
    }
    let stats = run.stats();
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "fuzz: seed {seed}: {} queries on the engine ({:.0}/s), {} on DataFusion, {} writes and DDL, {} worlds, {:.1} s",
        stats.engine_queries,
        stats.engine_queries as f64 / seconds,
        stats.datafusion_queries,
        stats.statements,
        stats.worlds,
        seconds
    );
    for (name, tally) in &stats.checks {
        println!(
            "  {name}: {} passed, {} skipped (an error on a side), {} failed, {} shared by plain DataFusion",
            tally.pass, tally.skip, tally.fail, tally.upstream
        );
    }
    println!(
        "  time: {:.1?} in engine queries, {:.1?} in DataFusion queries, {:.1?} in writes and their checks, {:.1?} opening engines",
        stats.times[0], stats.times[1], stats.times[2], stats.times[3]
    );
    for (reason, count, sql) in oracles::skip_reasons(8) {
        println!("  skipped for {reason} ({count} times), e.g. {}", sql.chars().take(300).collect::<String>());
    }
    for (signature, count) in &stats.upstream {
        println!("  plain DataFusion fails alike ({count} times): {signature}");
    }
    for (signature, count) in &stats.repeats {
        println!("  seen {count} more times: {signature}");
    }
    for failure in &stats.failures {
        println!("  FAILED {failure}");
    }
    Ok(stats.failures.len())
}

fn main() -> ExitCode {
    let args = Args::parse();
    world::install_panic_hook();
    match run(args) {
        Ok(0) => ExitCode::SUCCESS,
        Ok(failures) => {
            eprintln!("fuzz: {failures} failures; replay with the --seed and --world printed above");
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("fuzz: {error:#}");
            ExitCode::FAILURE
        }
    }
}

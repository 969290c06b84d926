//! `isolation`: checks per-user isolation with generated queries (`cargo xtask isolation`).
//!
//! Several users of every role own rows whose values carry their owner's marker; SHARED
//! tables of every access level carry their level's. Random statements from
//! [`grammar`] run as one user (directly, or through `EXECUTE AS USER` from each role),
//! on a real engine on a temporary directory. A statement fails the check when:
//! - its result, error message or plan holds another user's value, or a SHARED value the
//!   effective user's role may not read (a leak);
//! - its rows differ from the same query on a plain DataFusion context holding only what
//!   that user may see ([`world::oracle`]), or one of the two refuses what the other
//!   answers;
//! - a write changes a different number of rows than the oracle predicts, or leaves the
//!   writer's rows, or another user's, other than predicted;
//! - a subscription (every principal subscribes to every table it may read, [`live`])
//!   receives such a value, or its events do not add up to the rows its owner reads;
//! - in a transaction block (a few reads and writes of one user, then COMMIT or ROLLBACK;
//!   the checks above hold inside it, against the block's own writes), a ROLLBACK leaves
//!   the user's rows other than before the block.
//!
//! Every failure prints the seed and the statement's index, so `--seed S` replays it.

mod check;
mod grammar;
mod live;
mod world;

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Result, bail};
use clap::Parser;
use engine::{Engine, EngineConfig, ManualClock, Session};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};

use crate::check::{Outcome, leaks};
use crate::grammar::{Grammar, Op};
use crate::world::{Model, PRINCIPALS, Principal};

#[derive(Parser, Debug)]
#[command(name = "isolation", about = "Check per-user isolation with generated queries")]
struct Args {
    /// Statements to generate and run.
    #[arg(long, default_value_t = 10_000)]
    queries: usize,
    /// The random seed (default: from the clock, printed).
    #[arg(long)]
    seed: Option<u64>,
    /// Stop after this many failures.
    #[arg(long, default_value_t = 10)]
    max_failures: usize,
}

/// How a statement reached the engine.
#[derive(Debug, Clone, Copy)]
enum Via {
    /// A session of the effective user itself.
    Direct,
    /// `EXECUTE AS USER effective (...)` in a session of `actor`.
    ExecuteAs(Principal),
}

struct Checker {
    seed: u64,
    /// Kept open for the whole run (sessions share its state).
    _engine: Engine,
    sessions: BTreeMap<&'static str, Session>,
    model: Model,
    oracles: BTreeMap<&'static str, engine::exports::datafusion::prelude::SessionContext>,
    failures: Vec<String>,
    counts: BTreeMap<&'static str, usize>,
    /// Whether the last statement's engine outcome was an error.
    last_failed: bool,
    /// A transaction block is open (a failed statement leaves it failed: nothing more is
    /// read in it).
    in_block: bool,
}

impl Checker {
    fn fail(&mut self, index: usize, sql: &str, who: &str, reason: String) {
        let message = format!("seed {} statement #{index} as {who}: {reason}\n  SQL: {sql}", self.seed);
        eprintln!("FAILED {message}");
        self.failures.push(message);
    }

    async fn oracle(&mut self, principal: Principal) -> Result<&engine::exports::datafusion::prelude::SessionContext> {
        if !self.oracles.contains_key(principal.name) {
            let ctx = world::oracle(&self.model, principal).await?;
            self.oracles.insert(principal.name, ctx);
        }
        Ok(&self.oracles[principal.name])
    }

    async fn run_engine(&mut self, sql: &str, effective: Principal, via: Via) -> Outcome {
        let (session, text) = match via {
            Via::Direct => (effective.name, sql.to_string()),
            Via::ExecuteAs(actor) => (actor.name, format!("EXECUTE AS USER {} ({sql})", effective.name)),
        };
        let session = self.sessions.get_mut(session).expect("a session per principal");
        Outcome::of_engine(session.execute(&text).await)
    }

    async fn run_oracle(&mut self, sql: &str, effective: Principal) -> Result<Outcome> {
        let sql = sql.replace("CURRENT_USER()", &format!("'{}'", effective.name));
        let ctx = self.oracle(effective).await?;
        Ok(Outcome::of_datafusion(ctx, &sql).await)
    }

    async fn step(&mut self, index: usize, op: Op, effective: Principal, via: Via) -> Result<()> {
        let who = match via {
            Via::Direct => effective.name.to_string(),
            Via::ExecuteAs(actor) => format!("{} (EXECUTE AS from {})", effective.name, actor.name),
        };
        let allowed = match via {
            Via::Direct => true,
            Via::ExecuteAs(actor) => world::may_act_as(actor.role, effective.role),
        };
        let sql = match &op {
            Op::Read(sql) | Op::Probe(sql) => sql.clone(),
            Op::Listing { sql, .. } => sql.to_string(),
            Op::Users => "SELECT user_id, username, role FROM system.users".into(),
            Op::Write(write) => write.sql(&world::marker(effective.name)),
        };
        // A write's effect, predicted before it runs.
        let predicted = match &op {
            Op::Write(write) if allowed => Some(check::predict(self, write, effective).await?),
            _ => None,
        };
        let engine = self.run_engine(&sql, effective, via).await;
        self.last_failed = matches!(engine, Outcome::Error { .. });
        // User names are what system.users shows the roles that may read it.
        let lists_users = matches!(op, Op::Users) && effective.role >= world::Role::Dba;
        if let Some(leak) = leaks(&engine.text(), effective).filter(|_| !lists_users) {
            self.fail(index, &sql, &who, format!("leak: {leak}\n  output: {}", engine.text()));
        }
        if !allowed {
            *self.counts.entry("refused EXECUTE AS").or_default() += 1;
            if !engine.is_error("42501") {
                self.fail(index, &sql, &who, format!("EXECUTE AS must be refused (42501), got {}", engine.text()));
            }
            return Ok(());
        }
        match op {
            Op::Probe(_) => {
                *self.counts.entry("probe").or_default() += 1;
            }
            Op::Listing { column, .. } => {
                *self.counts.entry("listing").or_default() += 1;
                let expected = world::visible_names(effective.role);
                let listed = match &engine {
                    Outcome::Rows(rows) => {
                        let mut names: Vec<String> = rows.iter().filter_map(|row| row.split('|').nth(column).map(str::to_string)).collect();
                        names.sort();
                        Some(names)
                    }
                    _ => None,
                };
                if listed.as_ref() != Some(&expected) {
                    self.fail(index, &sql, &who, format!("listed {listed:?}, but may read exactly {expected:?}"));
                }
            }
            Op::Users => {
                *self.counts.entry("system.users").or_default() += 1;
                let may = effective.role >= world::Role::Dba;
                if may != matches!(engine, Outcome::Rows(_)) || (!may && !engine.is_error("42501")) {
                    self.fail(index, &sql, &who, format!("system.users for role {}: {}", effective.role.as_str(), engine.text()));
                }
            }
            Op::Read(_) => {
                *self.counts.entry("read").or_default() += 1;
                let oracle = self.run_oracle(&sql, effective).await?;
                if let Some(reason) = check::compare(&engine, &oracle) {
                    self.fail(index, &sql, &who, reason);
                }
            }
            Op::Write(write) => {
                *self.counts.entry("write").or_default() += 1;
                let prediction = predicted.expect("predicted above");
                if let Some(reason) = check::apply(self, &write, effective, &prediction, &engine) {
                    self.fail(index, &sql, &who, reason);
                }
                if let grammar::Write::Scratch { table, .. } = write {
                    // Root counts what is really there.
                    let name = world::SCRATCH[table].0;
                    let expected = self.model.scratch.get(name).copied().unwrap_or(0);
                    let root = self.sessions.get_mut("root").expect("root's session");
                    let counted = Outcome::of_engine(root.execute(&format!("SELECT COUNT(*) FROM {name}")).await);
                    if counted != Outcome::Rows(vec![expected.to_string()]) {
                        self.fail(index, &sql, &who, format!("{name} should hold {expected} rows, root counts {}", counted.text()));
                    }
                } else if !(self.in_block && self.last_failed) {
                    // The rows of the writer and of one other user are exactly as predicted:
                    // a write that changed the right number of someone else's rows fails here.
                    let others: Vec<Principal> = PRINCIPALS.iter().copied().filter(|p| p.name != effective.name).collect();
                    let other = others[index % others.len()];
                    for owner in [effective, other] {
                        if let Some(reason) = self.verify_rows(owner).await? {
                            self.fail(index, &sql, &who, format!("after the write, {}'s rows: {reason}", owner.name));
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// A transaction block in `effective`'s own session: two to four reads and writes
    /// (each checked as a statement on its own is, against the block's writes so far),
    /// then COMMIT, or ROLLBACK, after which the user's rows must be as before the block.
    /// A statement that fails leaves the block failed: it is rolled back.
    async fn block(&mut self, index: usize, grammar: &mut Grammar) -> Result<()> {
        let effective = *PRINCIPALS.choose(grammar.rng()).expect("principals");
        let before = self.model.clone();
        let session = self.sessions.get_mut(effective.name).expect("a session per principal");
        if let Err(error) = session.execute("BEGIN").await {
            self.fail(index, "BEGIN", effective.name, format!("BEGIN failed: {error}"));
            return Ok(());
        }
        self.in_block = true;
        let statements = grammar.rng().random_range(2..=4);
        let mut ran = 0;
        let mut failed = false;
        while ran < statements && !failed {
            let op = grammar.next();
            // Root's count of the scratch tables and the listings are checked outside
            // blocks only (root's session does not see the block).
            if matches!(op, Op::Write(grammar::Write::Scratch { .. }) | Op::Listing { .. } | Op::Users) {
                continue;
            }
            self.step(index, op, effective, Via::Direct).await?;
            failed = self.last_failed;
            ran += 1;
        }
        self.in_block = false;
        let commit = !failed && grammar.rng().random_bool(0.5);
        let session = self.sessions.get_mut(effective.name).expect("a session per principal");
        let end = if commit { "COMMIT" } else { "ROLLBACK" };
        if let Err(error) = session.execute(end).await {
            self.fail(index, end, effective.name, format!("{end} failed: {error}"));
        }
        if commit {
            *self.counts.entry("blocks committed").or_default() += 1;
        } else {
            *self.counts.entry("blocks rolled back").or_default() += 1;
            self.model = before;
            self.oracles.clear();
            if let Some(reason) = self.verify_rows(effective).await? {
                self.fail(index, "ROLLBACK", effective.name, format!("after the rollback, {}'s rows: {reason}", effective.name));
            }
        }
        Ok(())
    }

    /// Compares every USER table as `owner` sees it with the ground truth.
    async fn verify_rows(&mut self, owner: Principal) -> Result<Option<String>> {
        for table in world::TABLES.iter().filter(|t| t.per_user) {
            let sql = format!("SELECT * FROM {}", table.name);
            let session = self.sessions.get_mut(owner.name).expect("a session per principal");
            let engine = Outcome::of_engine(session.execute(&sql).await);
            let oracle = self.run_oracle(&sql, owner).await?;
            if let Some(reason) = check::compare(&engine, &oracle) {
                return Ok(Some(format!("{}: {reason}", table.name)));
            }
        }
        Ok(None)
    }
}

fn pick(rng: &mut StdRng) -> (Principal, Via) {
    let effective = *PRINCIPALS.choose(rng).expect("principals");
    if rng.random_bool(0.3) {
        let actors: Vec<Principal> = PRINCIPALS.iter().copied().filter(|p| p.name != effective.name).collect();
        let actor = *actors.choose(rng).expect("actors");
        (effective, Via::ExecuteAs(actor))
    } else {
        (effective, Via::Direct)
    }
}

async fn run(args: &Args) -> Result<usize> {
    let seed = args
        .seed
        .unwrap_or_else(|| std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1));
    println!("isolation: {} statements, seed {seed}", args.queries);
    let dir = tempfile::tempdir()?;
    let clock = Arc::new(ManualClock::default());
    let engine = Engine::open(EngineConfig::for_tests(dir.path().join("data"), clock))?;
    let model = Model::initial();
    let mut root = engine.root_session();
    for sql in world::engine_setup(&model) {
        if let Err(error) = root.execute(&sql).await {
            bail!("setting up the world: {sql}: {error}");
        }
    }
    let mut sessions = BTreeMap::new();
    for principal in PRINCIPALS {
        sessions.insert(principal.name, engine.session(principal.name)?);
    }
    let mut checker = Checker {
        seed,
        _engine: engine,
        sessions,
        model,
        oracles: BTreeMap::new(),
        failures: Vec::new(),
        counts: BTreeMap::new(),
        last_failed: false,
        in_block: false,
    };
    let (mut watchers, opening) = live::open_all(&mut checker.sessions).await;
    for failure in opening {
        checker.fail(0, "SUBSCRIBE", "setup", failure);
    }
    let mut grammar = Grammar::new(StdRng::seed_from_u64(seed));
    let started = std::time::Instant::now();
    for index in 0..args.queries {
        if grammar.rng().random_bool(0.08) {
            checker.block(index, &mut grammar).await?;
        } else {
            let op = grammar.next();
            let (effective, via) = pick(grammar.rng());
            checker.step(index, op, effective, via).await?;
        }
        if (index + 1) % 500 == 0 || index + 1 == args.queries {
            for failure in live::drain(&mut watchers, &mut checker.sessions).await {
                checker.fail(index, "(subscription events)", "subscriber", failure);
            }
        }
        if checker.failures.len() >= args.max_failures {
            break;
        }
        if (index + 1) % 10_000 == 0 {
            println!("  {} statements, {} failures, {:.0?}", index + 1, checker.failures.len(), started.elapsed());
        }
    }
    let counts: Vec<String> = checker.counts.iter().map(|(k, v)| format!("{v} {k}")).collect();
    println!(
        "isolation: seed {seed}: {} statements ({}) in {:.1?}, {} failures",
        args.queries,
        counts.join(", "),
        started.elapsed(),
        checker.failures.len()
    );
    Ok(checker.failures.len())
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a tokio runtime");
    match runtime.block_on(run(&args)) {
        Ok(0) => ExitCode::SUCCESS,
        Ok(failures) => {
            eprintln!("isolation: {failures} failures; replay with --seed");
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("isolation: {error:#}");
            ExitCode::FAILURE
        }
    }
}

//! `cargo xtask`: the developer commands (see the README). This crate never links the
//! engine: it prepares the machine and starts `cargo test` and the `slt-runner` binary.

mod checkers;
mod permissions;
mod pg_compare;
mod review;
mod setup;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};

use crate::checkers::Checker;

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Developer commands for the engine and its conformance harness")]
struct Cli {
    #[command(subcommand)]
    command: Commands,
}

#[derive(Subcommand)]
enum Commands {
    /// Everything CI runs: unit, integration and snapshot tests, every scenario and the
    /// public corpora. Check-only; ends with `N passed, M failed`.
    Test,
    /// Run `.slt` scenarios (all, or those whose path contains FILTER; `FILTER:LINE` stops a
    /// file after that line). Paths to files or folders outside `slt/` work too.
    Slt {
        /// Filters, files or folders.
        targets: Vec<String>,
        /// Fill in or rewrite expected results that fail or are missing.
        #[arg(long)]
        complete: bool,
        /// Files run at once (default: one per core).
        #[arg(long)]
        jobs: Option<usize>,
        /// Stop at the first failure.
        #[arg(long)]
        fail_fast: bool,
        /// Write a JUnit XML report.
        #[arg(long)]
        junit: Option<PathBuf>,
        /// Which runs of the tier matrix: `written`, `flushed` (every hot row moved to
        /// Parquet after each record), or `all` (the default).
        #[arg(long, value_parser = ["written", "flushed", "all"])]
        tier: Option<String>,
        /// Run every statement through the PostgreSQL wire protocol (an in-process
        /// `engine-server` per file, a tokio-postgres client per connection).
        #[arg(long)]
        wire: bool,
        /// Run every scenario on this PostgreSQL-wire server instead
        /// (`postgres://user:password@host:port/database`), each file in a fresh database.
        #[arg(long)]
        against: Option<String>,
    },
    /// Run a sqllogictest corpus on the engine and on plain DataFusion, side by side; fail
    /// on every record DataFusion passes and the engine does not.
    Corpus {
        /// Files or folders (default: corpora/sqlite).
        targets: Vec<String>,
    },
    /// Benchmark the engine against SQLite, DataFusion (MemTable) and raw RocksDB in one run
    /// (release build); options are passed on, see `cargo xtask bench -- --help`.
    Bench {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Run the scenarios (default: slt/ and corpora/sqlite) on a throwaway PostgreSQL 15
    /// and print, per file, the records where it differs from the engine, classified. A
    /// report, not a gate.
    PgCompare {
        /// Files or folders.
        targets: Vec<String>,
    },
    /// Review pending insta snapshots (accept or reject each).
    Review,
    /// Check per-user isolation with generated queries against a DataFusion oracle.
    Isolation {
        /// Statements to generate and run.
        #[arg(long, default_value_t = 10_000)]
        queries: usize,
        /// The random seed (default: from the clock; printed, and with every failure).
        #[arg(long)]
        seed: Option<u64>,
    },
    /// Run sessions at once (DML, DDL, FLUSH, jobs on every table kind), then check the
    /// result against a serial replay in `_seq` order (default: 20 seconds).
    Concurrency {
        /// Run for this many seconds.
        #[arg(long, conflicts_with = "ops")]
        seconds: Option<f64>,
        /// Or run this many statements in all.
        #[arg(long)]
        ops: Option<usize>,
        /// The random seed (default: from the clock; printed, and with every failure).
        #[arg(long)]
        seed: Option<u64>,
        /// Concurrent sessions (at least 4).
        #[arg(long, default_value_t = 4)]
        sessions: usize,
    },
    /// Kill a writing engine process at random moments; check every reopen against a model
    /// of the acknowledged statements.
    Crash {
        /// Kills (each one a child process, a reopen and a full check).
        #[arg(long, default_value_t = 1000)]
        kills: usize,
        /// The random seed (default: from the clock; printed, and with every failure).
        #[arg(long)]
        seed: Option<u64>,
    },
    /// Hunt logic bugs: random schemas, data and queries checked by TLP, NoREC,
    /// differential, hot/cold, model and atomicity oracles (default: 60 seconds).
    Fuzz {
        /// Stop after this many seconds.
        #[arg(long)]
        seconds: Option<u64>,
        /// The random seed (default: from the clock; printed, and with every failure).
        #[arg(long)]
        seed: Option<u64>,
        /// Stop after this many generated queries.
        #[arg(long)]
        queries: Option<u64>,
        /// Run only this world of the seed (as a failure report names it).
        #[arg(long)]
        world: Option<u64>,
    },
    /// Generate `slt/permissions/matrix.slt` from the README's permission table.
    Permissions {
        /// Only check that the file is current (what `cargo xtask test` does).
        #[arg(long)]
        check: bool,
    },
    /// Create `slt/AREA/NAME.slt` from the scenario template.
    New {
        /// AREA/NAME, e.g. `dml/upsert`.
        name: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let root = workspace_root();
    let outcome = match cli.command {
        Commands::Test => test(&root),
        Commands::Slt { targets, complete, jobs, fail_fast, junit, tier, wire, against } => {
            let mut targets = targets;
            if wire {
                targets.push("--wire".into());
            }
            if let Some(url) = against {
                targets.extend(["--against".into(), url]);
            }
            slt(&root, &targets, complete, jobs, fail_fast, junit.as_deref(), tier.as_deref())
                .and_then(|outcome| if outcome.success { Ok(()) } else { bail!("{} scenario records failed", outcome.failed) })
        }
        Commands::Corpus { targets } => corpus(&root, &targets).and_then(|outcome| {
            if outcome.success { Ok(()) } else { bail!("{} corpus records regressed against DataFusion", outcome.failed) }
        }),
        Commands::Bench { args } => bench(&root, &args),
        Commands::PgCompare { targets } => pg_compare::run_report(&root, &targets, |args| {
            setup::ensure_libclang()?;
            let mut command = cargo();
            command.current_dir(&root).args(["run", "--quiet", "--package", "slt-runner", "--"]).args(args);
            Ok(run_teed(command)?.stdout)
        }),
        Commands::Review => review::review(&root),
        Commands::New { name } => new_scenario(&root, &name),
        Commands::Permissions { check } => permissions::run(&root, check),
        Commands::Isolation { queries, seed } => Checker::isolation(queries, seed).run(&root),
        Commands::Crash { kills, seed } => Checker::crash(kills, seed).run(&root),
        Commands::Concurrency { seconds, ops, seed, sessions } => Checker::concurrency(seconds, ops, seed, sessions, false).run(&root),
        Commands::Fuzz { seconds, seed, queries, world } => Checker::fuzz(seconds, seed, queries, world).run(&root),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace this `cargo xtask` was started in. `cargo run` sets CARGO_MANIFEST_DIR at
/// run time; prefer it over the compile-time value, which names the checkout that last
/// built the binary when several checkouts share one target directory.
fn workspace_root() -> PathBuf {
    let manifest_dir =
        std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    manifest_dir.parent().expect("xtask lives in the workspace").to_path_buf()
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

/// What a run of the scenario runner reported.
struct SltOutcome {
    passed: usize,
    failed: usize,
    success: bool,
}

fn bench(root: &Path, args: &[String]) -> Result<()> {
    setup::ensure_libclang()?;
    let status = cargo().current_dir(root).args(["run", "--release", "--quiet", "--package", "bench", "--"]).args(args).status()?;
    if !status.success() {
        bail!("the benchmark failed");
    }
    Ok(())
}

/// The public corpus committed in the repository (`corpora/`, with its NOTICE).
fn default_corpus(root: &Path) -> PathBuf {
    root.join("corpora/sqlite")
}

/// Runs the corpus parity comparison.
fn corpus(root: &Path, targets: &[String]) -> Result<SltOutcome> {
    let mut args = vec!["--compare".to_string()];
    if targets.is_empty() {
        args.push(default_corpus(root).display().to_string());
    } else {
        args.extend(targets.iter().cloned());
    }
    run_runner(root, &args)
}

/// Builds and runs the scenario runner with these arguments.
fn run_runner(root: &Path, args: &[String]) -> Result<SltOutcome> {
    setup::ensure_libclang()?;
    let mut command = cargo();
    command.current_dir(root).args(["run", "--quiet", "--package", "slt-runner", "--"]);
    command.args(args);
    let output = run_teed(command)?;
    let (passed, failed) = parse_plain_summary(&output.stdout).unwrap_or((0, 0));
    Ok(SltOutcome { passed, failed, success: output.success })
}

/// Runs scenarios (the `slt` command).
fn slt(
    root: &Path,
    targets: &[String],
    complete: bool,
    jobs: Option<usize>,
    fail_fast: bool,
    junit: Option<&Path>,
    tier: Option<&str>,
) -> Result<SltOutcome> {
    let mut command: Vec<String> = targets.to_vec();
    if let Some(tier) = tier {
        command.extend(["--tier".into(), tier.into()]);
    }
    if complete {
        command.push("--complete".into());
    }
    if let Some(jobs) = jobs {
        command.extend(["--jobs".into(), jobs.to_string()]);
    }
    if fail_fast {
        command.push("--fail-fast".into());
    }
    if let Some(junit) = junit {
        command.extend(["--junit".into(), junit.display().to_string()]);
    }
    run_runner(root, &command)
}

struct TeedOutput {
    stdout: String,
    success: bool,
}

/// Runs a command, echoing its output while keeping a copy of stdout.
fn run_teed(mut command: Command) -> Result<TeedOutput> {
    use std::io::{BufRead, BufReader};
    let mut child = command.stdout(std::process::Stdio::piped()).spawn().with_context(|| format!("starting {command:?}"))?;
    let mut captured = String::new();
    for line in BufReader::new(child.stdout.take().expect("piped stdout")).lines() {
        let line = line?;
        println!("{line}");
        captured.push_str(&line);
        captured.push('\n');
    }
    let status = child.wait()?;
    Ok(TeedOutput { stdout: captured, success: status.success() })
}

/// Builds every test target of the workspace (`cargo test --no-run`), its output shown as
/// it comes, and returns how many warnings the build reported (rustc's and clippy's:
/// workspace crates compile through clippy's driver). Cargo repeats the warnings of crates
/// it did not need to rebuild, so a warm build counts the same.
fn build_tests(root: &Path) -> Result<usize> {
    use std::io::{BufRead, BufReader};
    let mut command = cargo();
    command.current_dir(root).args(["test", "--workspace", "--no-run"]).stderr(std::process::Stdio::piped());
    let mut child = command.spawn().with_context(|| format!("starting {command:?}"))?;
    let mut warnings = 0;
    for line in BufReader::new(child.stderr.take().expect("piped stderr")).lines() {
        let line = line?;
        eprintln!("{line}");
        warnings += warning_count(&line);
    }
    // A failed build shows again, and counts, in the `cargo test` that follows.
    child.wait()?;
    Ok(warnings)
}

/// The count of cargo's "warning: `crate` (target) generated N warnings" summary line.
fn warning_count(line: &str) -> usize {
    let Some(rest) = line.strip_prefix("warning: `") else { return 0 };
    let Some((_, after)) = rest.split_once(" generated ") else { return 0 };
    after.split_whitespace().next().and_then(|n| n.parse().ok()).unwrap_or(0)
}

/// Reads the last `N passed, M failed` line.
fn parse_plain_summary(output: &str) -> Option<(usize, usize)> {
    output.lines().rev().find_map(|line| {
        let mut parts = line.split(", ");
        let passed = parts.next()?.strip_suffix(" passed")?.trim().parse().ok()?;
        let failed = parts.next()?.strip_suffix(" failed")?.trim().parse().ok()?;
        Some((passed, failed))
    })
}

/// Sums cargo test's `test result:` lines.
fn parse_cargo_test_summary(output: &str) -> (usize, usize) {
    let mut passed = 0;
    let mut failed = 0;
    for line in output.lines().filter(|l| l.starts_with("test result:")) {
        for part in line.split(';') {
            let words: Vec<&str> = part.split_whitespace().collect();
            if let [.., count, kind] = words.as_slice() {
                let count: usize = count.parse().unwrap_or(0);
                match *kind {
                    "passed" => passed += count,
                    "failed" => failed += count,
                    _ => {}
                }
            }
        }
    }
    (passed, failed)
}

fn test(root: &Path) -> Result<()> {
    setup::ensure_libclang()?;
    // The build first, through clippy's driver (`.cargo/config.toml`): its warnings are
    // the lint check.
    let warned = build_tests(root)?;
    let references = std::env::temp_dir().join(format!("engine-snapshot-refs-{}", std::process::id()));
    let _ = std::fs::remove_file(&references);
    let mut command = cargo();
    command
        .current_dir(root)
        .args(["test", "--workspace", "--no-fail-fast"])
        .env("INSTA_UPDATE", "no")
        .env("INSTA_FORCE_PASS", "0")
        .env("INSTA_SNAPSHOT_REFERENCES_FILE", &references);
    let output = run_teed(command)?;
    let (mut passed, mut failed) = parse_cargo_test_summary(&output.stdout);
    if !output.success && failed == 0 {
        failed += 1;
        eprintln!("cargo test failed before running its tests");
    }

    if let Err(error) = permissions::run(root, true) {
        eprintln!("permission matrix: {error:#}");
        failed += 1;
    }

    // Formatting, as `rustfmt.toml` says (seconds; no build).
    let mut format = cargo();
    format.current_dir(root).args(["fmt", "--all", "--check"]);
    if !format.status()?.success() {
        eprintln!("formatting: run `cargo fmt --all` (the differences are above)");
        failed += 1;
    }
    if warned > 0 {
        eprintln!("lints: the build gave {warned} warnings (rustc's and clippy's, above); each one fails the run");
        failed += 1;
    }

    let (checks_passed, checks_failed) = checkers::run_in_test(root);
    passed += checks_passed;
    failed += checks_failed;

    let snapshot_problems = review::check_snapshots(root, &references)?;
    let _ = std::fs::remove_file(&references);
    for problem in &snapshot_problems {
        eprintln!("snapshot: {problem}");
    }
    failed += snapshot_problems.len();

    let scenarios = root.join("slt").display().to_string();
    let mut outcomes = vec![slt(root, std::slice::from_ref(&scenarios), false, None, false, None, None)?];
    // The same scenarios through the PostgreSQL wire protocol (as written; the tier matrix
    // is about storage, which the wire does not change).
    outcomes.push(slt(root, &[scenarios, "--wire".into()], false, None, false, None, Some("written"))?);
    // The vendored corpus over the wire too: thousands of plain queries and their types.
    let corpus_path = default_corpus(root).display().to_string();
    outcomes.push(slt(root, &[corpus_path, "--wire".into()], false, None, false, None, Some("written"))?);
    if !default_corpus(root).is_dir() {
        bail!("{} is missing: the corpus parity check cannot run (restore it from git)", default_corpus(root).display());
    }
    outcomes.push(corpus(root, &[])?);
    for outcome in outcomes {
        passed += outcome.passed;
        failed += outcome.failed;
        if !outcome.success && outcome.failed == 0 {
            eprintln!("the scenario runner failed without a summary");
            failed += 1;
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed > 0 {
        bail!("{failed} failed");
    }
    Ok(())
}

const TEMPLATE: &str = "# {AREA}/{NAME}: <what this scenario covers, in one sentence>
#
# Runs on a fresh engine; `restart` and `clock advance <duration>` directives are
# documented in slt/README.md.

statement ok
CREATE NAMESPACE {NAMESPACE}

statement ok
USE {NAMESPACE}

statement ok
CREATE TABLE items (id BIGINT PRIMARY KEY, name TEXT NOT NULL)

statement ok
INSERT INTO items VALUES (1, 'first')

query IT
SELECT id, name FROM items
----
";

fn new_scenario(root: &Path, name: &str) -> Result<()> {
    let Some((area, file)) = name.split_once('/') else {
        bail!("expected AREA/NAME, e.g. dml/upsert");
    };
    let valid = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !valid(area) || !valid(file) {
        bail!("AREA and NAME may hold letters, digits, '-' and '_' only");
    }
    let path = root.join("slt").join(area).join(format!("{file}.slt"));
    if path.exists() {
        bail!("{} already exists", path.display());
    }
    std::fs::create_dir_all(path.parent().expect("has a parent"))?;
    let namespace = format!("{area}_{file}").replace('-', "_");
    let text = TEMPLATE.replace("{AREA}", area).replace("{NAME}", file).replace("{NAMESPACE}", &namespace);
    std::fs::write(&path, text)?;
    println!("created {}", path.display());
    println!("fill in the expected results with: cargo xtask slt --complete {area}/{file}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_parse() {
        assert_eq!(parse_plain_summary("x\n12 passed, 3 failed, 1 skipped\n"), Some((12, 3)));
        assert_eq!(parse_plain_summary("nothing"), None);
        let cargo = "test result: ok. 5 passed; 0 failed; 0 ignored\ntest result: FAILED. 2 passed; 1 failed; 0 ignored\n";
        assert_eq!(parse_cargo_test_summary(cargo), (7, 1));
    }

    #[test]
    fn warning_summaries_count() {
        assert_eq!(warning_count("warning: `engine` (lib test) generated 3 warnings (run `cargo clippy --fix` to apply 1 suggestion)"), 3);
        assert_eq!(warning_count("warning: `xtask` (bin \"xtask\") generated 1 warning"), 1);
        assert_eq!(warning_count("warning: unused variable: `x`"), 0);
        assert_eq!(warning_count("   Compiling engine v0.1.0"), 0);
    }
}

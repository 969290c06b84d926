//! `slt-runner`: runs `.slt` scenarios against the embedded engine. Normally started
//! through `cargo xtask slt` / `cargo xtask test`; see `slt/README.md`.

mod complete;
mod db;
mod directives;
mod events;
mod normalize;
mod report;
mod scenario;
mod wire;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use futures::StreamExt;

use crate::db::Backend;
use crate::scenario::{FileReport, RunOptions, Tier, run_file};

#[derive(Parser, Debug)]
#[command(name = "slt-runner", about = "Run sqllogictest scenarios against the engine")]
struct Args {
    /// Paths to `.slt` files or folders, or filters on paths under the scenario root
    /// (`FILTER:LINE` stops each matching file after that line).
    targets: Vec<String>,
    /// Fill in or rewrite the expected output of records that fail or have none.
    #[arg(long)]
    complete: bool,
    /// Files run at once (default: one per core).
    #[arg(long)]
    jobs: Option<usize>,
    /// Stop at the first failure.
    #[arg(long)]
    fail_fast: bool,
    /// Write a JUnit XML report here.
    #[arg(long)]
    junit: Option<PathBuf>,
    /// The scenario root that filters apply to.
    #[arg(long, default_value = "slt")]
    root: PathBuf,
    /// Only the failures and the summary line.
    #[arg(long)]
    quiet: bool,
    /// Run every file on the engine and on plain DataFusion (in-memory tables) and fail on
    /// each record that passes on DataFusion but fails on the engine.
    #[arg(long, conflicts_with = "complete")]
    compare: bool,
    /// Which runs of the tier matrix: as written, flushed (every hot row moved to
    /// Parquet after each record and each restart), or both.
    #[arg(long, value_enum, default_value = "all")]
    tier: TierChoice,
    /// Run every statement through the PostgreSQL wire protocol: an in-process server per
    /// file, one client per connection (subscriptions run in process and are counted).
    #[arg(long, conflicts_with_all = ["compare", "complete"])]
    wire: bool,
    /// Run every scenario on this PostgreSQL-wire server instead (`postgres://user:pw@host:port/db`),
    /// each file in a fresh database of its own, through the same clients as `--wire`;
    /// directives have no effect there (counted).
    #[arg(long, conflicts_with_all = ["compare", "complete", "wire"])]
    against: Option<String>,
}

/// A file to run and where to stop in it.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum TierChoice {
    Written,
    Flushed,
    All,
}

struct Target {
    path: PathBuf,
    stop_after_line: Option<usize>,
}

fn collect_slt_files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.path());
    for entry in entries {
        let path = entry.path();
        if path.is_dir() {
            collect_slt_files(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "slt") {
            out.push(path);
        }
    }
    Ok(())
}

fn resolve_targets(args: &Args) -> Result<Vec<Target>, String> {
    let mut targets = Vec::new();
    let mut filters = Vec::new();
    for target in &args.targets {
        let path = Path::new(target);
        if path.is_dir() {
            let mut files = Vec::new();
            collect_slt_files(path, &mut files).map_err(|e| format!("{target}: {e}"))?;
            targets.extend(files.into_iter().map(|path| Target { path, stop_after_line: None }));
        } else if path.is_file() {
            targets.push(Target { path: path.to_path_buf(), stop_after_line: None });
        } else {
            filters.push(target.clone());
        }
    }
    if !filters.is_empty() || args.targets.is_empty() {
        let mut files = Vec::new();
        collect_slt_files(&args.root, &mut files).map_err(|e| format!("{}: {e}", args.root.display()))?;
        if args.targets.is_empty() {
            targets.extend(files.iter().cloned().map(|path| Target { path, stop_after_line: None }));
        }
        for filter in &filters {
            let (text, line) = match filter.rsplit_once(':') {
                Some((text, line)) if line.chars().all(|c| c.is_ascii_digit()) && !line.is_empty() => {
                    (text.to_string(), Some(line.parse::<usize>().map_err(|e| e.to_string())?))
                }
                _ => (filter.clone(), None),
            };
            let matched: Vec<&PathBuf> = files.iter().filter(|p| p.to_string_lossy().contains(&text)).collect();
            if matched.is_empty() {
                return Err(format!("no scenario under {} matches '{text}'", args.root.display()));
            }
            targets.extend(matched.into_iter().map(|path| Target { path: path.clone(), stop_after_line: line }));
        }
    }
    targets.dedup_by(|a, b| a.path == b.path);
    Ok(targets)
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    runtime.block_on(run(args))
}

async fn run(args: Args) -> ExitCode {
    let targets = match resolve_targets(&args) {
        Ok(targets) if !targets.is_empty() => targets,
        Ok(_) => {
            eprintln!("no .slt files found");
            return ExitCode::from(2);
        }
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    if args.complete {
        return run_complete(&targets).await;
    }
    let jobs = args.jobs.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)).max(1);
    let terminal = std::io::stdout().is_terminal();
    let progress = report::Progress::new(targets.len(), terminal && !args.quiet);
    let fail_fast = args.fail_fast;
    let started = std::time::Instant::now();
    let progress = Arc::new(progress);
    // The tier matrix: scenarios run as written and flushed; a corpus comparison runs
    // as written only.
    if let Some(url) = &args.against {
        let _ = crate::wire::AGAINST.set(url.clone());
    }
    let tiers: Vec<Tier> = match (args.compare || args.against.is_some(), args.tier) {
        (true, _) | (false, TierChoice::Written) => vec![Tier::Written],
        (false, TierChoice::Flushed) => vec![Tier::Flushed],
        (false, TierChoice::All) => vec![Tier::Written, Tier::Flushed],
    };
    let reports: Vec<(Vec<FileReport>, Option<FileReport>)> = futures::stream::iter(targets)
        .map(|target| {
            let path = target.path.clone();
            let compare = args.compare;
            let progress = progress.clone();
            let tiers = tiers.clone();
            let options = RunOptions {
                backend: if args.wire || args.against.is_some() { Backend::Wire } else { Backend::Engine },
                tier: Tier::Written,
                fail_fast,
                stop_after_line: target.stop_after_line,
                colorize: terminal,
            };
            let task = tokio::spawn(async move {
                let mut reports = Vec::new();
                for tier in tiers {
                    reports.push(run_file(&target.path, &RunOptions { tier, ..options }).await);
                }
                let baseline = if compare {
                    let options = RunOptions { backend: Backend::DataFusion, ..options };
                    Some(run_file(&target.path, &options).await)
                } else {
                    None
                };
                progress.file_done(&reports[0]);
                (reports, baseline)
            });
            async move {
                // A panic is a failure of that file, reported like any other.
                task.await.unwrap_or_else(|error| {
                    let report = FileReport::crashed(&path, format!("the engine panicked: {error}"));
                    // Without a baseline run every engine failure counts as a regression.
                    let baseline = FileReport { failed: 0, failures: Vec::new(), ..FileReport::crashed(&path, String::new()) };
                    (vec![report], compare.then_some(baseline))
                })
            }
        })
        .buffered(jobs)
        .collect::<Vec<_>>()
        .await;
    progress.finish();
    if args.compare {
        let pairs: Vec<(FileReport, FileReport)> =
            reports.into_iter().map(|(mut engine, baseline)| (engine.remove(0), baseline.expect("compare runs both"))).collect();
        let (summary, regressions) = report::print_comparison(&pairs, started.elapsed());
        println!("{summary}");
        return if regressions > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS };
    }
    let reports: Vec<FileReport> = reports.into_iter().flat_map(|(reports, _)| reports).collect();
    let summary = report::print(&reports, args.quiet, started.elapsed());
    if let Some(path) = &args.junit
        && let Err(message) = report::write_junit(path, &reports)
    {
        eprintln!("error: writing {}: {message}", path.display());
        return ExitCode::from(2);
    }
    if args.wire || args.against.is_some() {
        let in_process = crate::wire::IN_PROCESS_RECORDS.load(std::sync::atomic::Ordering::Relaxed);
        println!("wire: {in_process} records ran in process (subscriptions, which the wire does not serve)");
    }
    if args.against.is_some() {
        let ignored = crate::wire::IGNORED_DIRECTIVES.load(std::sync::atomic::Ordering::Relaxed);
        println!("against: {ignored} directives had no effect (restart, clock, jobs and failing logins act on the in-process engine)");
    }
    println!("{summary}");
    if reports.iter().any(|r| r.failed > 0) { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}

async fn run_complete(targets: &[Target]) -> ExitCode {
    if std::env::var_os("CI").is_some() {
        eprintln!("error: --complete rewrites scenario files and refuses to run in CI (CI is set)");
        return ExitCode::from(2);
    }
    let mut failed = false;
    for target in targets {
        match complete::complete_file(&target.path).await {
            Ok(lines) if lines.is_empty() => println!("{}: unchanged", target.path.display()),
            Ok(lines) => {
                for line in lines {
                    println!("{}:{line}: completed", target.path.display());
                }
            }
            Err(message) => {
                eprintln!("{}: {message}", target.path.display());
                failed = true;
            }
        }
    }
    if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}

//! `cargo xtask bench`: each workload on the engine and on the baselines (SQLite, DataFusion
//! on MemTable, raw RocksDB) in the same process run, alternating, several repetitions;
//! prints medians, the ratio of the engine to each baseline and peak memory, and writes
//! the same as JSON.

mod cold;
mod concurrent;
mod streams;
mod systems;
mod transactions;
mod users;

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Result;
use clap::Parser;
use serde::Serialize;

use crate::systems::{Kind, System};

#[derive(Parser, Debug, Clone)]
#[command(name = "bench", about = "Benchmark the engine against SQLite, DataFusion and raw RocksDB")]
struct Args {
    /// Single-row INSERT statements per repetition.
    #[arg(long, default_value_t = 100_000)]
    single_inserts: i64,
    /// Rows ingested by 1,000-row INSERT ... VALUES statements.
    #[arg(long, default_value_t = 1_000_000)]
    bulk_rows: i64,
    /// Rows in the table for point lookups, and lookups per repetition.
    #[arg(long, default_value_t = 100_000)]
    lookups: i64,
    /// Rows scanned by the filter + GROUP BY query.
    #[arg(long, default_value_t = 1_000_000)]
    scan_rows: i64,
    /// UPDATE and DELETE statements by primary key (each).
    #[arg(long, default_value_t = 10_000)]
    dml: i64,
    /// Most statements per repetition for the systems that plan every statement
    /// (datafusion, engine-planned) in the per-statement workloads; their medians are per
    /// statement, so ratios stay comparable while the run stays short.
    #[arg(long, default_value_t = 2_000)]
    planned_statements: i64,
    /// Most rows the planning systems ingest in the bulk workload.
    #[arg(long, default_value_t = 100_000)]
    planned_bulk_rows: i64,
    /// Rows each writer inserts in the concurrent workload (100-row statements).
    #[arg(long, default_value_t = 200_000)]
    concurrent_rows: i64,
    /// Writer counts of the concurrent workload.
    #[arg(long, value_delimiter = ',', default_value = "1,2,8")]
    writers: Vec<usize>,
    /// Users (one session each) of the users workloads.
    #[arg(long, default_value_t = 1_000)]
    users: usize,
    /// Single-row INSERT statements per repetition in the users workloads.
    #[arg(long, default_value_t = 100_000)]
    user_inserts: i64,
    /// Primary-key SELECTs per repetition in the users workloads.
    #[arg(long, default_value_t = 100_000)]
    user_lookups: i64,
    /// Rows per user in the users workloads' lookup and scan tables.
    #[arg(long, default_value_t = 1_000)]
    user_rows: i64,
    /// Scans of one user's rows per repetition in the users workloads.
    #[arg(long, default_value_t = 200)]
    user_scans: i64,
    /// Most scans per repetition of the SHARED table filtered by owner (it reads the
    /// whole table); its median is per query like the others'.
    #[arg(long, default_value_t = 20)]
    user_filtered_scans: i64,
    /// Single-row INSERTs per repetition of the streams workload (STREAM and USER each).
    #[arg(long, default_value_t = 50_000)]
    stream_inserts: i64,
    /// Rows in 1,000-row INSERTs per repetition of the streams workload (each table).
    #[arg(long, default_value_t = 200_000)]
    stream_bulk_rows: i64,
    /// Single-row INSERTs of the fan-out workload per subscriber count and repetition.
    #[arg(long, default_value_t = 20_000)]
    fanout_inserts: i64,
    /// Subscriber counts of the fan-out workload (0 always runs, as the baseline).
    #[arg(long, value_delimiter = ',', default_value = "1,100,1000")]
    subscribers: Vec<usize>,
    /// Expired STREAM rows the eviction workload removes.
    #[arg(long, default_value_t = 1_000_000)]
    eviction_rows: i64,
    /// Point SELECTs per repetition of the cold workloads (hot, flushed and mixed each).
    #[arg(long, default_value_t = 10_000)]
    cold_lookups: i64,
    /// Queries per repetition of each scan and key-range read of the cold workloads (the
    /// repetition's sample is their median).
    #[arg(long, default_value_t = 5)]
    cold_scans: usize,
    /// Rows of the table whose FLUSH's and compaction's memory `flush-memory` measures
    /// (0: skip).
    #[arg(long, default_value_t = 10_000_000)]
    flush_memory_rows: i64,
    /// Repetitions per workload and system.
    #[arg(long, default_value_t = 3)]
    reps: usize,
    /// Single-row INSERTs of the transaction workload (committed 100 per block).
    #[arg(long, default_value_t = 20_000)]
    transaction_inserts: i64,
    /// Sessions of the contention workload (transfers between 100 accounts).
    #[arg(long, default_value_t = 8)]
    transfer_sessions: usize,
    /// Transfers each session of the contention workload commits.
    #[arg(long, default_value_t = 500)]
    transfers: u64,
    /// Workloads to run (default: all): single, bulk, point, scan, dml, transactions,
    /// concurrent, users, streams, cold, flush-memory.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Systems to run (default: all): engine, engine-planned, sqlite, datafusion, rocksdb-raw.
    #[arg(long, value_delimiter = ',')]
    systems: Vec<String>,
    /// Where to write the JSON result.
    #[arg(long, default_value = "target/bench.json")]
    json: PathBuf,
}

/// One measured number: a value per repetition, in the metric's unit.
#[derive(Serialize, Default)]
struct Measurement {
    samples: Vec<f64>,
    peak_rss_mib: f64,
    /// Statements (or rows, for bulk) per repetition.
    size: i64,
}

#[derive(Serialize)]
struct WorkloadResult {
    workload: String,
    metric: String,
    /// `true` when bigger is better (rows/s), `false` for times.
    higher_is_better: bool,
    medians: BTreeMap<String, f64>,
    sizes: BTreeMap<String, i64>,
    peak_rss_mib: BTreeMap<String, f64>,
    /// What the ratios compare: `engine`, or `USER` (the USER table) in the users workloads.
    reference: String,
    /// The reference's time relative to each other measurement (>1 means the reference is
    /// slower).
    engine_slowdown: BTreeMap<String, f64>,
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    if sorted.is_empty() {
        return f64::NAN;
    }
    let mid = sorted.len() / 2;
    if sorted.len().is_multiple_of(2) { (sorted[mid - 1] + sorted[mid]) / 2.0 } else { sorted[mid] }
}

/// Resets the kernel's peak-RSS counter for this process (Linux), so each run reports its own.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn peak_rss_mib() -> f64 {
    status_mib("VmHWM:")
}

/// A memory figure of this process from `/proc/self/status` (`VmHWM:`, `VmRSS:`), MiB.
fn status_mib(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| status.lines().find(|l| l.starts_with(field)).and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok()))
        .map(|kib| kib / 1024.0)
        .unwrap_or(f64::NAN)
}

async fn timed<F: Future<Output = Result<()>>>(work: F) -> Result<Duration> {
    let started = Instant::now();
    work.await?;
    Ok(started.elapsed())
}

/// Loads `rows` rows in 1,000-row statements (untimed set-up).
async fn load(system: &mut System, rows: i64) -> Result<()> {
    let mut start = 0;
    while start < rows {
        let count = 1000.min(rows - start);
        system.insert_rows(start, count).await?;
        start += count;
    }
    Ok(())
}

/// Pseudo-random ids in `0..rows`, the same sequence for every system.
fn ids(rows: i64, count: i64) -> Vec<i64> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..count)
        .map(|_| {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            ((state >> 33) % rows as u64) as i64
        })
        .collect()
}

struct Bench {
    args: Args,
    kinds: Vec<Kind>,
    results: Vec<WorkloadResult>,
}

impl Bench {
    /// The order systems run in for repetition `rep` (rotated, so none always goes first).
    fn order(&self, rep: usize) -> Vec<Kind> {
        let mut kinds = self.kinds.clone();
        let len = kinds.len();
        kinds.rotate_left(rep % len.max(1));
        kinds
    }

    fn record(&mut self, workload: &str, metric: &str, higher_is_better: bool, measured: BTreeMap<Kind, Measurement>) {
        let named = measured.into_iter().map(|(k, m)| (k.name().to_string(), m)).collect();
        self.record_against(Kind::Engine.name(), workload, metric, higher_is_better, named);
    }

    /// Records and prints measurements by name, with the ratio of `reference` to each other.
    fn record_against(
        &mut self,
        reference: &str,
        workload: &str,
        metric: &str,
        higher_is_better: bool,
        measured: BTreeMap<String, Measurement>,
    ) {
        let medians: BTreeMap<String, f64> = measured.iter().map(|(k, m)| (k.clone(), median(&m.samples))).collect();
        let peak_rss_mib = measured.iter().map(|(k, m)| (k.clone(), m.peak_rss_mib)).collect();
        let sizes = measured.iter().map(|(k, m)| (k.clone(), m.size)).collect();
        let mut engine_slowdown = BTreeMap::new();
        if let Some(reference_value) = medians.get(reference) {
            for (name, value) in &medians {
                if name != reference {
                    let ratio = if higher_is_better { value / reference_value } else { reference_value / value };
                    engine_slowdown.insert(name.clone(), ratio);
                }
            }
        }
        let result = WorkloadResult {
            workload: workload.to_string(),
            metric: metric.to_string(),
            higher_is_better,
            medians,
            sizes,
            peak_rss_mib,
            reference: reference.to_string(),
            engine_slowdown,
        };
        print_result(&result);
        self.results.push(result);
    }

    /// How many statements `kind` runs of a workload of `n`.
    fn statements(&self, kind: Kind, n: i64) -> i64 {
        if kind.plans_every_statement() { n.min(self.args.planned_statements) } else { n }
    }

    fn wants(&self, workload: &str) -> bool {
        self.args.only.is_empty() || self.args.only.iter().any(|w| w == workload)
    }

    /// Runs a write workload on a fresh system per repetition.
    /// `run` gets a fresh system and the size it should do; `metric_of` turns the time
    /// and that size into the metric.
    async fn fresh_runs<F, Fut>(
        &self,
        size: impl Fn(Kind) -> i64,
        metric_of: impl Fn(Duration, i64) -> f64,
        run: F,
    ) -> Result<BTreeMap<Kind, Measurement>>
    where
        F: Fn(System, i64) -> Fut,
        Fut: Future<Output = Result<Duration>>,
    {
        let mut measured: BTreeMap<Kind, Measurement> = BTreeMap::new();
        for rep in 0..self.args.reps {
            for kind in self.order(rep) {
                reset_peak_rss();
                let system = System::fresh(kind).await?;
                let n = size(kind);
                let elapsed = run(system, n).await?;
                let entry = measured.entry(kind).or_default();
                entry.size = n;
                entry.samples.push(metric_of(elapsed, n));
                entry.peak_rss_mib = entry.peak_rss_mib.max(peak_rss_mib());
            }
        }
        Ok(measured)
    }

    async fn run(&mut self) -> Result<()> {
        let a = self.args.clone();
        let per_statement = |d: Duration, n: i64| d.as_secs_f64() * 1e6 / n as f64;
        if self.wants("single") {
            let measured = self
                .fresh_runs(
                    |kind| self.statements(kind, a.single_inserts),
                    per_statement,
                    |mut s, n| async move {
                        timed(async {
                            for i in 0..n {
                                s.insert_one(i).await?;
                            }
                            Ok(())
                        })
                        .await
                    },
                )
                .await?;
            self.record("single-row INSERT", "µs/statement", false, measured);
        }
        if self.wants("bulk") {
            let measured = self
                .fresh_runs(
                    |kind| if kind.plans_every_statement() { a.bulk_rows.min(a.planned_bulk_rows) } else { a.bulk_rows },
                    |d, n| n as f64 / d.as_secs_f64(),
                    |mut s, n| async move {
                        let statements = systems::bulk_statements(&s, n);
                        timed(systems::load_prepared(&mut s, n, &statements)).await
                    },
                )
                .await?;
            self.record("bulk INSERT (1000-row VALUES)", "rows/s", true, measured);
        }
        if self.wants("point") || self.wants("scan") {
            self.read_workloads().await?;
        }
        if self.wants("dml") {
            let n = a.dml;
            let targets = ids(n * 4, n);
            for (label, update) in [("UPDATE by primary key", true), ("DELETE by primary key", false)] {
                let measured = self
                    .fresh_runs(
                        |kind| self.statements(kind, n),
                        per_statement,
                        |mut s, statements| {
                            let targets = targets[..statements as usize].to_vec();
                            async move {
                                s.set_loading(true);
                                load(&mut s, n * 4).await?;
                                s.set_loading(false);
                                timed(async {
                                    for id in &targets {
                                        if update { s.update_one(*id).await? } else { s.delete_one(*id).await? }
                                    }
                                    Ok(())
                                })
                                .await
                            }
                        },
                    )
                    .await?;
                self.record(label, "µs/statement", false, measured);
            }
        }
        if self.wants("transactions") {
            self.transaction_workloads().await?;
        }
        if self.wants("concurrent") {
            self.concurrent_workloads().await?;
        }
        if self.wants("users") && self.kinds.contains(&Kind::Engine) {
            self.user_workloads().await?;
        }
        if self.wants("streams") && self.kinds.contains(&Kind::Engine) {
            self.stream_workloads().await?;
        }
        if self.wants("cold") && self.kinds.contains(&Kind::Engine) {
            self.cold_workloads().await?;
        }
        let rows = self.args.flush_memory_rows;
        if self.wants("flush-memory") && self.kinds.contains(&Kind::Engine) && rows > 0 {
            cold::flush_memory(rows).await?.print(rows);
        }
        Ok(())
    }

    /// FLUSH, and reads of flushed rows against hot ones, a MemTable and plain DataFusion
    /// on the same Parquet files (see `cold.rs`).
    async fn cold_workloads(&mut self) -> Result<()> {
        let sizes =
            cold::Sizes { rows: self.args.scan_rows, lookups: self.args.cold_lookups, scans: self.args.cold_scans, reps: self.args.reps };
        let results = cold::run(&sizes).await?;
        self.record_against(cold::COLD, &format!("FLUSH TABLE, {} rows", sizes.rows), "rows/s", true, results.flush);
        let label = format!("filter + GROUP BY, {} rows, hot and flushed", sizes.rows);
        self.record_against(cold::COLD, &label, "ms/query", false, results.scan);
        let label = format!("key range of 1,000 rows in {}, hot and flushed", sizes.rows);
        self.record_against(cold::COLD, &label, "ms/query", false, results.range);
        self.record_against(cold::HOT, "point SELECT, hot and flushed keys", "µs/lookup", false, results.point);
        Ok(())
    }

    /// STREAM against USER INSERTs, subscription fan-out and eviction (the engine only).
    async fn stream_workloads(&mut self) -> Result<()> {
        let a = &self.args;
        let sizes = streams::Sizes {
            inserts: a.stream_inserts,
            bulk_rows: a.stream_bulk_rows,
            fanout_inserts: a.fanout_inserts,
            subscribers: a.subscribers.clone(),
            eviction_rows: a.eviction_rows,
            reps: a.reps,
        };
        let (single, bulk) = streams::inserts(&sizes).await?;
        self.record_against(streams::STREAM, "single-row INSERT, STREAM vs USER", "µs/statement", false, single);
        self.record_against(streams::STREAM, "1000-row INSERT, STREAM vs USER", "rows/s", true, bulk);
        let (latency, rate) = streams::fanout(&sizes).await?;
        let label = format!("fan-out: writer INSERT, {} rows", sizes.fanout_inserts);
        self.record_against("0 subscribers", &label, "µs/statement", false, latency);
        self.record_against("1 subscribers", "fan-out: events delivered", "events/s", true, rate);
        let eviction = streams::eviction(&sizes).await?;
        self.record_against("reads alone: p50 µs", &format!("eviction of {} rows", sizes.eviction_rows), "ms | µs", false, eviction);
        Ok(())
    }

    /// USER tables against the same workloads on SHARED tables, in one engine with
    /// `--users` users (the engine only).
    async fn user_workloads(&mut self) -> Result<()> {
        let users = self.args.users;
        let mut bench = users::UserBench::open(users::Sizes::of(&self.args)).await?;
        let measured = bench.single_inserts().await?;
        self.record_against(users::USER, &format!("single-row INSERT, {users} users"), "µs/statement", false, measured);
        let measured = bench.lookups().await?;
        self.record_against(users::USER, &format!("point SELECT, {users} users"), "µs/lookup", false, measured);
        let mut table_sizes = vec![10.min(users), users];
        table_sizes.dedup();
        for scanned_users in table_sizes {
            let measured = bench.scans(scanned_users).await?;
            let label = format!("scan 1 of {scanned_users} users, {} rows", self.args.user_rows);
            self.record_against(users::USER, &label, "µs/query", false, measured);
        }
        Ok(())
    }

    /// Single-row INSERTs in blocks of 100 (engine, SQLite), and SERIALIZABLE transfers
    /// under contention (the engine only).
    async fn transaction_workloads(&mut self) -> Result<()> {
        let a = self.args.clone();
        let per_row = |d: Duration, n: i64| d.as_secs_f64() * 1e6 / n as f64;
        let kinds: Vec<Kind> = self.kinds.iter().copied().filter(|k| transactions::supports(*k)).collect();
        let mut measured: BTreeMap<Kind, Measurement> = BTreeMap::new();
        for rep in 0..a.reps {
            for kind in self.order(rep).into_iter().filter(|k| kinds.contains(k)) {
                reset_peak_rss();
                let mut system = System::fresh(kind).await?;
                let n = self.statements(kind, a.transaction_inserts);
                let elapsed = timed(transactions::insert_in_blocks(&mut system, n)).await?;
                let entry = measured.entry(kind).or_default();
                entry.size = n;
                entry.samples.push(per_row(elapsed, n));
                entry.peak_rss_mib = entry.peak_rss_mib.max(peak_rss_mib());
            }
        }
        let label = format!("single-row INSERT, {} per transaction block", transactions::BLOCK_ROWS);
        self.record(&label, "µs/row", false, measured);
        if !self.kinds.contains(&Kind::Engine) {
            return Ok(());
        }
        let mut rate: BTreeMap<String, Measurement> = BTreeMap::new();
        let mut aborts: BTreeMap<String, Measurement> = BTreeMap::new();
        for _ in 0..a.reps {
            reset_peak_rss();
            let run = transactions::contention(a.transfer_sessions, a.transfers).await?;
            let attempts = run.committed + run.aborted;
            for (measured, value) in
                [(&mut rate, run.committed as f64 / run.elapsed.as_secs_f64()), (&mut aborts, run.aborted as f64 * 100.0 / attempts as f64)]
            {
                let entry = measured.entry(Kind::Engine.name().to_string()).or_default();
                entry.size = run.committed as i64;
                entry.samples.push(value);
                entry.peak_rss_mib = entry.peak_rss_mib.max(peak_rss_mib());
            }
        }
        let label = format!("{} sessions transferring between 100 accounts, SERIALIZABLE (total checked)", a.transfer_sessions);
        self.record_against(Kind::Engine.name(), &label, "transfers/s", true, rate);
        self.record_against(Kind::Engine.name(), "  of which attempts aborted with 40001", "% of attempts", false, aborts);
        Ok(())
    }

    /// N writers at once, into tables of their own and into one table (engine, SQLite,
    /// raw RocksDB); a fresh system per repetition.
    async fn concurrent_workloads(&mut self) -> Result<()> {
        let a = self.args.clone();
        for target in [concurrent::Target::OwnTables, concurrent::Target::OneTable] {
            for &writers in &a.writers {
                let mut measured: BTreeMap<Kind, Measurement> = BTreeMap::new();
                for rep in 0..a.reps {
                    for kind in self.order(rep).into_iter().filter(|k| concurrent::supports(*k)) {
                        reset_peak_rss();
                        let elapsed = concurrent::run(kind, writers, target, a.concurrent_rows).await?;
                        let rows = a.concurrent_rows * writers as i64;
                        let entry = measured.entry(kind).or_default();
                        entry.size = rows;
                        entry.samples.push(rows as f64 / elapsed.as_secs_f64());
                        entry.peak_rss_mib = entry.peak_rss_mib.max(peak_rss_mib());
                    }
                }
                let label = format!("{writers} writer(s), {}", target.label());
                self.record(&label, "rows/s", true, measured);
            }
        }
        Ok(())
    }

    /// Point lookups and the scan run repeatedly on one loaded system per kind.
    async fn read_workloads(&mut self) -> Result<()> {
        let a = self.args.clone();
        let mut point: BTreeMap<Kind, Measurement> = BTreeMap::new();
        let mut scan: BTreeMap<Kind, Measurement> = BTreeMap::new();
        let mut systems = BTreeMap::new();
        for kind in self.kinds.clone() {
            let mut system = System::fresh(kind).await?;
            system.set_loading(true);
            load(&mut system, a.scan_rows.max(a.lookups)).await?;
            system.set_loading(false);
            systems.insert(kind, system);
        }
        let lookup_ids = ids(a.scan_rows.max(a.lookups), a.lookups);
        for rep in 0..a.reps {
            for kind in self.order(rep) {
                let system = systems.get_mut(&kind).expect("loaded above");
                if self.wants("point") {
                    reset_peak_rss();
                    let lookups = self.statements(kind, a.lookups);
                    let started = Instant::now();
                    for id in &lookup_ids[..lookups as usize] {
                        let found = system.lookup(*id).await?;
                        anyhow::ensure!(found == 1, "{} found {found} rows for id {id}", kind.name());
                    }
                    let entry = point.entry(kind).or_default();
                    entry.size = lookups;
                    entry.samples.push(started.elapsed().as_secs_f64() * 1e6 / lookups as f64);
                    entry.peak_rss_mib = entry.peak_rss_mib.max(peak_rss_mib());
                }
                if self.wants("scan") {
                    reset_peak_rss();
                    let started = Instant::now();
                    system.scan_aggregate().await?;
                    let entry = scan.entry(kind).or_default();
                    entry.size = a.scan_rows;
                    entry.samples.push(started.elapsed().as_secs_f64() * 1e3);
                    entry.peak_rss_mib = entry.peak_rss_mib.max(peak_rss_mib());
                }
            }
        }
        if self.wants("point") {
            self.record("primary-key point SELECT", "µs/lookup", false, point);
        }
        if self.wants("scan") {
            self.record(&format!("filter + GROUP BY over {} rows", a.scan_rows), "ms/query", false, scan);
        }
        Ok(())
    }
}

fn print_result(result: &WorkloadResult) {
    let cells: Vec<String> = result
        .medians
        .iter()
        .map(|(name, value)| {
            let size = result.sizes.get(name).copied().unwrap_or_default();
            let rss = result.peak_rss_mib.get(name).copied().unwrap_or(f64::NAN);
            format!("{name} {value:.1} (n={size}, {rss:.0} MiB)")
        })
        .collect();
    let ratios: Vec<String> = result.engine_slowdown.iter().map(|(name, r)| format!("{r:.2}x vs {name}")).collect();
    println!("{:<34} {:<13} {}", result.workload, result.metric, cells.join(" | "));
    if !ratios.is_empty() {
        println!("{:<34} {:<13} {}: {}", "", "", result.reference, ratios.join(", "));
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    let kinds: Vec<Kind> =
        Kind::ALL.into_iter().filter(|k| args.systems.is_empty() || args.systems.iter().any(|s| s == k.name())).collect();
    println!(
        "bench: {} core(s); medians of {} repetitions; engine ratios >1 mean the engine is slower",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        args.reps
    );
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let json_path = args.json.clone();
    let mut bench = Bench { args, kinds, results: Vec::new() };
    runtime.block_on(bench.run())?;
    if let Some(parent) = json_path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&json_path, serde_json::to_string_pretty(&bench.results)?)?;
    println!("wrote {}", json_path.display());
    Ok(())
}

//! The `cold` workloads: the benchmark table of `--scan-rows` rows in the engine, moved to
//! Parquet by FLUSH, against the same rows hot, in DataFusion's MemTable, and in plain
//! DataFusion reading the engine's own Parquet files (all in one run).
//!
//! - Flush: rows/s of `FLUSH TABLE` for the whole table (a fresh table per repetition).
//! - Scan: the filter + GROUP BY query on the hot table (before the flush), on the
//!   flushed table, on a MemTable and on the segment files through plain DataFusion.
//! - Key range: 1,000 consecutive keys (count and sum), the same ways but the MemTable.
//! - Point SELECT by key (µs): the same random keys, hot and flushed.
//! - Mixed: 10% of the rows updated after the flush (hot rows over cold ones), then the
//!   scan and the point SELECTs again.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::{Context, Result};
use engine::exports::datafusion::prelude::{ParquetReadOptions, SessionContext};
use engine::passwords::PasswordCost;
use engine::{Engine, EngineConfig, Session};

use crate::Measurement;
use crate::systems::{CREATE_TABLE, Kind, SCAN_QUERY, System, values_sql};

pub const HOT: &str = "engine hot";
pub const COLD: &str = "engine flushed";
pub const MIXED: &str = "engine flushed + 10% updated";
pub const MEMTABLE: &str = "datafusion MemTable";
pub const PARQUET: &str = "datafusion on the segments";

/// Sizes of the cold workloads.
#[derive(Debug, Clone)]
pub struct Sizes {
    pub rows: i64,
    pub lookups: i64,
    pub scans: usize,
    pub reps: usize,
}

fn add(measured: &mut BTreeMap<String, Measurement>, name: &str, value: f64, size: i64) {
    let entry = measured.entry(name.to_string()).or_default();
    entry.size = size;
    entry.samples.push(value);
    entry.peak_rss_mib = entry.peak_rss_mib.max(crate::peak_rss_mib());
}

async fn load(rows: i64) -> Result<(Engine, Session, tempfile::TempDir)> {
    let dir = tempfile::tempdir()?;
    let mut config = EngineConfig::new(dir.path().join("data"));
    config.password_cost = PasswordCost::TESTING;
    config.job_interval = None;
    // Two segments are compacted when the bench runs the jobs (`flush_memory`).
    config.compact_segments_over = 1;
    let engine = Engine::open(config)?;
    let mut session = engine.root_session();
    session.execute(CREATE_TABLE).await?;
    insert_range(&mut session, 0, rows).await?;
    Ok((engine, session, dir))
}

/// Inserts the benchmark rows with ids `from..to`, 10,000 per statement.
async fn insert_range(session: &mut Session, from: i64, to: i64) -> Result<()> {
    let mut start = from;
    while start < to {
        let count = 10_000.min(to - start);
        session.execute(&values_sql(start, count)).await?;
        start += count;
    }
    Ok(())
}

async fn timed(session: &mut Session, sql: &str) -> Result<f64> {
    let started = Instant::now();
    session.execute(sql).await.with_context(|| sql.to_string())?;
    Ok(started.elapsed().as_secs_f64() * 1000.0)
}

/// The median ms of `times` runs of a query.
async fn median_of(times: usize, mut run: impl AsyncFnMut() -> Result<f64>) -> Result<f64> {
    let mut samples = Vec::with_capacity(times);
    for _ in 0..times.max(1) {
        samples.push(run().await?);
    }
    samples.sort_by(f64::total_cmp);
    Ok(samples[samples.len() / 2])
}

/// The median ms of `times` runs of `sql` in the engine.
async fn timed_median(session: &mut Session, sql: &str, times: usize) -> Result<f64> {
    median_of(times, async || timed(session, sql).await).await
}

async fn timed_context(context: &SessionContext, sql: &str, times: usize) -> Result<f64> {
    median_of(times, async || {
        let started = Instant::now();
        context.sql(sql).await?.collect().await?;
        Ok(started.elapsed().as_secs_f64() * 1000.0)
    })
    .await
}

/// Median µs of a point SELECT over `keys`.
async fn lookups(session: &mut Session, keys: &[i64]) -> Result<f64> {
    let started = Instant::now();
    for key in keys {
        session.execute(&format!("SELECT * FROM t WHERE id = {key}")).await?;
    }
    Ok(started.elapsed().as_secs_f64() * 1e6 / keys.len() as f64)
}

/// The measurements: flush (rows/s), scan (ms), key-range read (ms), point SELECT (µs).
pub struct ColdResults {
    pub flush: BTreeMap<String, Measurement>,
    pub scan: BTreeMap<String, Measurement>,
    pub range: BTreeMap<String, Measurement>,
    pub point: BTreeMap<String, Measurement>,
}

/// 1,000 consecutive keys in the middle of the table: a flushed read skips the row groups
/// the range does not reach.
fn range_query(rows: i64) -> String {
    let from = rows / 2;
    format!("SELECT count(*), sum(v) FROM t WHERE id BETWEEN {from} AND {}", from + 999)
}

pub async fn run(sizes: &Sizes) -> Result<ColdResults> {
    let mut results = ColdResults { flush: BTreeMap::new(), scan: BTreeMap::new(), range: BTreeMap::new(), point: BTreeMap::new() };
    let range = range_query(sizes.rows);
    let mut seed: u64 = 7;
    let keys: Vec<i64> = (0..sizes.lookups)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % sizes.rows as u64) as i64
        })
        .collect();
    let mut memtable = System::fresh(Kind::DataFusion).await?;
    memtable.set_loading(true);
    memtable.insert_rows(0, sizes.rows).await?;
    for _ in 0..sizes.reps {
        let (engine, mut session, _dir) = load(sizes.rows).await?;
        add(&mut results.scan, HOT, timed_median(&mut session, SCAN_QUERY, sizes.scans).await?, sizes.rows);
        add(&mut results.range, HOT, timed_median(&mut session, &range, sizes.scans).await?, sizes.rows);
        add(&mut results.point, HOT, lookups(&mut session, &keys).await?, sizes.lookups);
        let flush_ms = timed(&mut session, "FLUSH TABLE t").await?;
        add(&mut results.flush, COLD, sizes.rows as f64 / (flush_ms / 1000.0), sizes.rows);
        add(&mut results.scan, COLD, timed_median(&mut session, SCAN_QUERY, sizes.scans).await?, sizes.rows);
        add(&mut results.range, COLD, timed_median(&mut session, &range, sizes.scans).await?, sizes.rows);
        add(&mut results.point, COLD, lookups(&mut session, &keys).await?, sizes.lookups);
        let memtable_ms = median_of(sizes.scans, async || {
            let started = Instant::now();
            memtable.scan_aggregate().await?;
            Ok(started.elapsed().as_secs_f64() * 1000.0)
        })
        .await?;
        add(&mut results.scan, MEMTABLE, memtable_ms, sizes.rows);
        let plain = SessionContext::new();
        let folder = segment_folder(&engine.data_dir().join("storage"))?;
        plain.register_parquet("t", folder.display().to_string(), ParquetReadOptions::default()).await?;
        add(&mut results.scan, PARQUET, timed_context(&plain, SCAN_QUERY, sizes.scans).await?, sizes.rows);
        add(&mut results.range, PARQUET, timed_context(&plain, &range, sizes.scans).await?, sizes.rows);
        session.execute("UPDATE t SET v = v + 1 WHERE id % 10 = 0").await?;
        add(&mut results.scan, MIXED, timed_median(&mut session, SCAN_QUERY, sizes.scans).await?, sizes.rows);
        add(&mut results.range, MIXED, timed_median(&mut session, &range, sizes.scans).await?, sizes.rows);
        add(&mut results.point, MIXED, lookups(&mut session, &keys).await?, sizes.lookups);
    }
    Ok(results)
}

/// The folder holding the benchmark table's Parquet segments (the only table flushed):
/// found by looking, so the benchmark does not depend on the layout's naming.
fn segment_folder(root: &std::path::Path) -> Result<std::path::PathBuf> {
    let mut folders = vec![root.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).with_context(|| format!("listing {}", folder.display()))? {
            let path = entry?.path();
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|ext| ext == "parquet") {
                return Ok(folder);
            }
        }
    }
    anyhow::bail!("no Parquet segment under {}", root.display())
}

/// What [`flush_memory`] measured: each job's rows/s and how far the process's resident
/// memory rose above where it stood before the job (its peak during the job, MiB), which
/// is what the job itself holds.
pub struct JobMemory {
    pub flush_rate: f64,
    pub flush_growth: f64,
    pub compact_rate: f64,
    pub compact_growth: f64,
}

impl JobMemory {
    pub fn print(&self, rows: i64) {
        println!(
            "FLUSH TABLE of {rows} rows: {:.0} rows/s; resident memory rose {:.0} MiB above its level before the FLUSH",
            self.flush_rate, self.flush_growth
        );
        println!(
            "compaction of {} rows in two segments: {:.0} rows/s; resident memory rose {:.0} MiB above its level before it",
            rows + rows / 10,
            self.compact_rate,
            self.compact_growth
        );
    }
}

/// FLUSH TABLE of a table of `rows` rows (loaded first, untimed), then a tenth more rows
/// inserted and flushed as a second segment (untimed), then the compaction that merges
/// the two into one.
pub async fn flush_memory(rows: i64) -> Result<JobMemory> {
    let (engine, mut session, _dir) = load(rows).await?;
    let (flush_ms, flush_growth) = memory_of(timed(&mut session, "FLUSH TABLE t")).await?;
    insert_range(&mut session, rows, rows + rows / 10).await?;
    session.execute("FLUSH TABLE t").await?;
    let compacted = async {
        let started = Instant::now();
        engine.run_jobs().await?;
        Ok(started.elapsed().as_secs_f64() * 1000.0)
    };
    let (compact_ms, compact_growth) = memory_of(compacted).await?;
    let merged = (rows + rows / 10) as f64;
    Ok(JobMemory {
        flush_rate: rows as f64 / (flush_ms / 1000.0),
        flush_growth,
        compact_rate: merged / (compact_ms / 1000.0),
        compact_growth,
    })
}

/// Runs `job` (which returns its milliseconds) and how far resident memory rose above
/// its level before it, MiB.
async fn memory_of(job: impl std::future::Future<Output = Result<f64>>) -> Result<(f64, f64)> {
    release_free_memory();
    let before = crate::status_mib("VmRSS:");
    crate::reset_peak_rss();
    let ms = job.await?;
    Ok((ms, crate::peak_rss_mib() - before))
}

/// Hands memory the allocator keeps after frees back to the system, so the resident size
/// measured next is what is in use (else a FLUSH would reuse the loading's freed memory
/// and seem to need none).
fn release_free_memory() {
    unsafe extern "C" {
        fn malloc_trim(pad: usize) -> i32;
    }
    // SAFETY: glibc's malloc_trim only returns free memory to the system.
    unsafe {
        malloc_trim(0);
    }
}

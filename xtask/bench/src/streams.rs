//! The `streams` workloads (the engine only): STREAM tables against USER tables, live
//! subscription fan-out, and STREAM eviction.
//!
//! - INSERT: the benchmark row into a STREAM table and into a USER table with the same
//!   columns (the USER table keyed by id, the STREAM table by arrival), as one user;
//!   single-row statements (µs each) and 1,000-row statements (rows/s). The two take
//!   turns in blocks within each repetition.
//! - Fan-out: one writer inserts single rows into a SHARED table while 0, 1, 100 and
//!   1,000 subscribers, one task each, each `WHERE room % 10 = k`, take their events (a
//!   tenth of the rows each). Measured: the writer's µs per INSERT, and events delivered
//!   per second from the first INSERT until every subscriber has its last event.
//! - Eviction: 1M STREAM rows of 10 users expire (a manual clock moves past the TTL) and
//!   the eviction job removes them, while another task runs point SELECTs on a SHARED
//!   table and counts of the STREAM table: the job's time, and the readers' latency
//!   during the job against the same reads just before it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use engine::ObjectRef;
use engine::passwords::PasswordCost;
use engine::{Engine, EngineConfig, ManualClock, Session, SubscribeRequest};

use crate::Measurement;
use crate::systems::{create_table_named, row_sql};

pub const STREAM: &str = "STREAM";
const USER_TABLE: &str = "USER";

/// Sizes of the streams workloads.
#[derive(Debug, Clone)]
pub struct Sizes {
    pub inserts: i64,
    pub bulk_rows: i64,
    pub fanout_inserts: i64,
    pub subscribers: Vec<usize>,
    pub eviction_rows: i64,
    pub reps: usize,
}

fn open_engine(clock: Option<Arc<ManualClock>>) -> Result<(Engine, tempfile::TempDir)> {
    let dir = tempfile::tempdir()?;
    let mut config = EngineConfig::new(dir.path().join("data"));
    config.password_cost = PasswordCost::TESTING;
    if let Some(clock) = clock {
        config.clock = clock;
        config.job_interval = None;
    }
    Ok((Engine::open(config)?, dir))
}

fn add(measured: &mut BTreeMap<String, Measurement>, name: &str, value: f64, size: i64) {
    let entry = measured.entry(name.to_string()).or_default();
    entry.size = size;
    entry.samples.push(value);
    entry.peak_rss_mib = entry.peak_rss_mib.max(crate::peak_rss_mib());
}

/// Single-row and 1,000-row INSERTs, STREAM against USER. Returns (single, bulk).
pub async fn inserts(sizes: &Sizes) -> Result<(BTreeMap<String, Measurement>, BTreeMap<String, Measurement>)> {
    let (engine, _dir) = open_engine(None)?;
    let mut root = engine.root_session();
    root.execute("CREATE USER 'writer' WITH PASSWORD 'x' ROLE user").await?;
    let mut session = engine.session("writer")?;
    let (mut single, mut bulk) = (BTreeMap::new(), BTreeMap::new());
    const TURN: i64 = 1_000;
    let mut next_id = 0i64;
    for rep in 0..sizes.reps {
        let tables = [(STREAM, format!("s{rep}")), (USER_TABLE, format!("u{rep}"))];
        root.execute(&create_table_named(&tables[0].1).replacen("CREATE TABLE", "CREATE STREAM TABLE", 1).replace(" PRIMARY KEY", ""))
            .await?;
        root.execute(&create_table_named(&tables[1].1).replacen("CREATE TABLE", "CREATE USER TABLE", 1)).await?;
        let mut elapsed = [Duration::ZERO; 2];
        let mut done = 0;
        while done < sizes.inserts {
            for (side, (_, table)) in tables.iter().enumerate() {
                let started = Instant::now();
                for i in 0..TURN {
                    let sql = format!("INSERT INTO {table} VALUES {}", row_sql(next_id + i));
                    session.execute(&sql).await?;
                }
                elapsed[side] += started.elapsed();
            }
            next_id += TURN;
            done += TURN;
        }
        for (side, (name, _)) in tables.iter().enumerate() {
            add(&mut single, name, elapsed[side].as_secs_f64() * 1e6 / done as f64, done);
        }
        let mut elapsed = [Duration::ZERO; 2];
        let mut rows = 0;
        while rows < sizes.bulk_rows {
            let values: Vec<String> = (0..1000).map(|i| row_sql(next_id + i)).collect();
            let values = values.join(", ");
            for (side, (_, table)) in tables.iter().enumerate() {
                let started = Instant::now();
                session.execute(&format!("INSERT INTO {table} VALUES {values}")).await?;
                elapsed[side] += started.elapsed();
            }
            next_id += 1000;
            rows += 1000;
        }
        for (side, (name, _)) in tables.iter().enumerate() {
            add(&mut bulk, name, rows as f64 / elapsed[side].as_secs_f64(), rows);
        }
    }
    Ok((single, bulk))
}

/// One fan-out run: the writer's µs per INSERT and events delivered per second.
async fn fanout_run(engine: &Engine, table: &str, subscribers: usize, inserts: i64) -> Result<(f64, f64, u64)> {
    let mut root = engine.root_session();
    root.execute(&format!("CREATE TABLE {table} (id BIGINT PRIMARY KEY, room INT, body TEXT)")).await?;
    let mut tasks = Vec::with_capacity(subscribers);
    let mut ids = Vec::with_capacity(subscribers);
    for k in 0..subscribers {
        let request = SubscribeRequest {
            table: ObjectRef { namespace: None, name: table.to_string() },
            predicate: Some(format!("room % 10 = {}", k % 10)),
            from_seq: None,
            last_rows: None,
        };
        let mut subscription = root.subscribe(request).await?;
        ids.push(subscription.id().to_string());
        tasks.push(tokio::spawn(async move {
            let mut events = 0u64;
            while let Some(event) = subscription.next().await {
                if event.is_final() {
                    break;
                }
                events += 1;
            }
            events
        }));
    }
    let started = Instant::now();
    for id in 0..inserts {
        root.execute(&format!("INSERT INTO {table} VALUES ({id}, {}, 'hello {id}')", id % 100)).await?;
    }
    let writer = started.elapsed();
    for id in &ids {
        root.execute(&format!("KILL LIVE QUERY '{id}'")).await?;
    }
    let mut delivered = 0;
    for task in tasks {
        delivered += task.await?;
    }
    let all = started.elapsed();
    let expected = inserts as u64 / 10 * subscribers as u64;
    anyhow::ensure!(delivered == expected, "delivered {delivered} events, expected {expected}");
    Ok((writer.as_secs_f64() * 1e6 / inserts as f64, delivered as f64 / all.as_secs_f64(), delivered))
}

/// Fan-out for each subscriber count: (writer latency, events/s) by count.
pub async fn fanout(sizes: &Sizes) -> Result<(BTreeMap<String, Measurement>, BTreeMap<String, Measurement>)> {
    let (engine, _dir) = open_engine(None)?;
    let (mut latency, mut rate) = (BTreeMap::new(), BTreeMap::new());
    let mut counts = vec![0];
    counts.extend(sizes.subscribers.iter().copied().filter(|&n| n > 0));
    for rep in 0..sizes.reps {
        for &count in &counts {
            let table = format!("feed_{rep}_{count}");
            let (writer_us, events_per_s, _) = fanout_run(&engine, &table, count, sizes.fanout_inserts).await?;
            let name = format!("{count} subscribers");
            add(&mut latency, &name, writer_us, sizes.fanout_inserts);
            if count > 0 {
                add(&mut rate, &name, events_per_s, sizes.fanout_inserts);
            }
        }
    }
    Ok((latency, rate))
}

/// Percentile `p` (0..=1) of `values` in µs.
fn percentile(values: &mut [Duration], p: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort();
    let at = ((values.len() - 1) as f64 * p).round() as usize;
    values[at].as_secs_f64() * 1e6
}

/// Reads until `stop`: point SELECTs on the SHARED table and counts of the stream.
async fn read_until(mut session: Session, stop: Arc<AtomicBool>) -> Result<Vec<Duration>> {
    let mut latencies = Vec::new();
    let mut i = 0i64;
    while !stop.load(Ordering::SeqCst) {
        let sql = if i % 10 == 9 { "SELECT count(*) FROM s".to_string() } else { format!("SELECT v FROM t WHERE id = {}", i % 10_000) };
        let started = Instant::now();
        session.execute(&sql).await?;
        latencies.push(started.elapsed());
        i += 1;
        tokio::task::yield_now().await;
    }
    Ok(latencies)
}

/// Eviction of expired STREAM rows: the job's time, and readers' µs (p50, p99, max) alone
/// and during the job.
pub async fn eviction(sizes: &Sizes) -> Result<BTreeMap<String, Measurement>> {
    let mut measured = BTreeMap::new();
    for _ in 0..sizes.reps {
        let clock = Arc::new(ManualClock::default());
        let (engine, _dir) = open_engine(Some(clock.clone()))?;
        let mut root = engine.root_session();
        root.execute(&create_table_named("t")).await?;
        let rows: Vec<String> = (0..10_000).map(row_sql).collect();
        for chunk in rows.chunks(1000) {
            root.execute(&format!("INSERT INTO t VALUES {}", chunk.join(", "))).await?;
        }
        root.execute("CREATE STREAM TABLE s (n BIGINT, body TEXT) WITH (TTL_SECONDS = 60)").await?;
        let users = 10;
        for user in 0..users {
            root.execute(&format!("CREATE USER 'e{user}' WITH PASSWORD 'x' ROLE user")).await?;
            let mut session = engine.session(&format!("e{user}"))?;
            let per_user = sizes.eviction_rows / users;
            let mut n = 0;
            while n < per_user {
                let values: Vec<String> = (n..(n + 1000).min(per_user)).map(|i| format!("({i}, 'event {i}')")).collect();
                session.execute(&format!("INSERT INTO s VALUES {}", values.join(", "))).await?;
                n += 1000;
            }
        }
        engine.flush_hot_storage()?;
        clock.advance_millis(61_000);
        // The same reads alone for half a second, then while the eviction runs.
        let stop = Arc::new(AtomicBool::new(false));
        let reader = tokio::spawn(read_until(engine.root_session(), stop.clone()));
        tokio::time::sleep(Duration::from_millis(500)).await;
        stop.store(true, Ordering::SeqCst);
        let mut alone = reader.await??;
        let stop = Arc::new(AtomicBool::new(false));
        let reader = tokio::spawn(read_until(engine.root_session(), stop.clone()));
        let started = Instant::now();
        let job_engine = engine.clone();
        let ran = tokio::spawn(async move { job_engine.run_jobs().await }).await??;
        let evicting = started.elapsed();
        stop.store(true, Ordering::SeqCst);
        let mut during = reader.await??;
        anyhow::ensure!(ran == 1, "the eviction job did not run");
        let result = root.execute("SELECT rows_affected FROM system.jobs").await?;
        let evicted = match &result {
            engine::QueryResult::Rows { batches, .. } => batches
                .iter()
                .find(|b| b.num_rows() > 0)
                .and_then(|b| b.column(0).as_any().downcast_ref::<engine::exports::arrow::array::Int64Array>().map(|c| c.value(0)))
                .context("no job row")?,
            _ => anyhow::bail!("no job rows"),
        };
        anyhow::ensure!(evicted == sizes.eviction_rows, "evicted {evicted} rows, expected {}", sizes.eviction_rows);
        add(&mut measured, "eviction ms", evicting.as_secs_f64() * 1e3, evicted);
        add(&mut measured, "reads during: p50 µs", percentile(&mut during, 0.5), during.len() as i64);
        add(&mut measured, "reads during: p99 µs", percentile(&mut during, 0.99), during.len() as i64);
        add(&mut measured, "reads during: max µs", percentile(&mut during, 1.0), during.len() as i64);
        add(&mut measured, "reads alone: p50 µs", percentile(&mut alone, 0.5), alone.len() as i64);
        add(&mut measured, "reads alone: p99 µs", percentile(&mut alone, 0.99), alone.len() as i64);
        add(&mut measured, "reads alone: max µs", percentile(&mut alone, 1.0), alone.len() as i64);
    }
    Ok(measured)
}

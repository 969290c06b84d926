//! The transaction workloads: single-row INSERTs committed 100 at a time in transaction
//! blocks (the engine against SQLite's `BEGIN ... COMMIT`), and contention: N sessions
//! transferring between 100 accounts at SERIALIZABLE, retrying each transfer that fails
//! with 40001, measured in committed transfers per second with the abort rate, and the
//! invariant (the total never changes) checked at the end.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use engine::{Engine, EngineConfig, QueryResult, Session};

use crate::systems::{Kind, System, row_sql};

/// Rows per transaction block of the INSERT workload.
pub const BLOCK_ROWS: i64 = 100;

/// Accounts of the contention workload, and what each starts with.
const ACCOUNTS: i64 = 100;
const OPENING_BALANCE: i64 = 1_000;

/// The systems the INSERT workload runs on (those with transactions).
pub fn supports(kind: Kind) -> bool {
    matches!(kind, Kind::Engine | Kind::EnginePlanned | Kind::Sqlite)
}

/// Inserts `rows` rows, one INSERT each, committed [`BLOCK_ROWS`] at a time.
pub async fn insert_in_blocks(system: &mut System, rows: i64) -> Result<()> {
    let mut next = 0;
    while next < rows {
        system.sql("BEGIN").await?;
        for i in next..(next + BLOCK_ROWS).min(rows) {
            system.sql(&format!("INSERT INTO t VALUES {}", row_sql(i))).await?;
        }
        system.sql("COMMIT").await?;
        next += BLOCK_ROWS;
    }
    Ok(())
}

/// What the contention workload measured.
pub struct Contention {
    pub elapsed: Duration,
    pub committed: u64,
    pub aborted: u64,
}

/// `sessions` sessions each commit `transfers` transfers between random accounts.
pub async fn contention(sessions: usize, transfers: u64) -> Result<Contention> {
    let dir = tempfile::tempdir()?;
    let engine = Engine::open(EngineConfig::new(dir.path().join("data")))?;
    let mut setup = engine.root_session();
    setup.execute("CREATE TABLE accounts (id BIGINT PRIMARY KEY, balance BIGINT)").await?;
    let rows: Vec<String> = (0..ACCOUNTS).map(|id| format!("({id}, {OPENING_BALANCE})")).collect();
    setup.execute(&format!("INSERT INTO accounts VALUES {}", rows.join(", "))).await?;
    let aborted = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(sessions);
    for worker in 0..sessions {
        let mut session = engine.root_session();
        let aborted = aborted.clone();
        tasks.push(tokio::spawn(async move {
            // A small deterministic generator per session: the same run every time.
            let mut state = 0x9E37_79B9_7F4A_7C15u64 ^ (worker as u64 + 1);
            let mut next = move || {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state
            };
            for _ in 0..transfers {
                let from = (next() % ACCOUNTS as u64) as i64;
                let to = (from + 1 + (next() % (ACCOUNTS as u64 - 1)) as i64) % ACCOUNTS;
                let amount = (next() % 50) as i64 + 1;
                while !transfer(&mut session, from, to, amount).await? {
                    aborted.fetch_add(1, Ordering::Relaxed);
                }
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await.context("transfer session")??;
    }
    let elapsed = started.elapsed();
    let total = single_number(&setup.execute("SELECT sum(balance) FROM accounts").await?)?;
    if total != ACCOUNTS * OPENING_BALANCE {
        bail!("the transfers changed the total: {total}, expected {}", ACCOUNTS * OPENING_BALANCE);
    }
    Ok(Contention { elapsed, committed: transfers * sessions as u64, aborted: aborted.load(Ordering::Relaxed) })
}

/// One transfer in a SERIALIZABLE block: `true` when it committed, `false` when it failed
/// with 40001 (rolled back; the caller retries).
async fn transfer(session: &mut Session, from: i64, to: i64, amount: i64) -> Result<bool> {
    session.execute("BEGIN ISOLATION LEVEL SERIALIZABLE").await?;
    let steps = [
        format!("SELECT balance FROM accounts WHERE id = {from}"),
        format!("UPDATE accounts SET balance = balance - {amount} WHERE id = {from}"),
        format!("UPDATE accounts SET balance = balance + {amount} WHERE id = {to}"),
        "COMMIT".to_string(),
    ];
    for step in &steps {
        if let Err(error) = session.execute(step).await {
            if error.sql_state().code() == "40001" {
                session.execute("ROLLBACK").await?;
                return Ok(false);
            }
            return Err(error.into());
        }
    }
    Ok(true)
}

fn single_number(result: &QueryResult) -> Result<i64> {
    let QueryResult::Rows { batches, .. } = result else { bail!("not rows") };
    let batch = batches.iter().find(|b| b.num_rows() > 0).context("no row")?;
    let column = batch.column(0).as_any().downcast_ref::<engine::exports::arrow::array::Int64Array>().context("not BIGINT")?;
    Ok(column.value(0))
}

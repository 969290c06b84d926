//! The concurrent-writer workload: N sessions insert 100-row statements at the same time,
//! each into a table of its own or all into one table, and the whole run is measured in
//! rows per second. It shows whether writers wait for each other: on the engine, on SQLite
//! (one connection per writer, one database file, WAL, a busy timeout) and on raw RocksDB
//! (one thread per writer, the engine's row encoding, batches of the same size).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use engine::{Engine, EngineConfig};

use crate::systems::{Kind, encoded_rows, row_sql, table_prefix};

/// Rows per INSERT statement (and per raw RocksDB batch).
pub const STATEMENT_ROWS: i64 = 100;

/// Where the writers insert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Writer `w` inserts into table `t{w}`.
    OwnTables,
    /// Every writer inserts into table `t0`, each its own range of keys.
    OneTable,
}

impl Target {
    pub fn label(self) -> &'static str {
        match self {
            Target::OwnTables => "own tables",
            Target::OneTable => "one table",
        }
    }

    fn table(self, writer: usize) -> usize {
        match self {
            Target::OwnTables => writer,
            Target::OneTable => 0,
        }
    }
}

/// The systems this workload runs on.
pub fn supports(kind: Kind) -> bool {
    matches!(kind, Kind::Engine | Kind::Sqlite | Kind::RocksDb)
}

/// The key range of one writer: `rows_per_writer` ids starting at `writer * rows_per_writer`.
fn writer_ids(writer: usize, rows_per_writer: i64) -> std::ops::Range<i64> {
    let start = writer as i64 * rows_per_writer;
    start..start + rows_per_writer
}

fn insert_sql(table: usize, ids: std::ops::Range<i64>) -> String {
    let rows: Vec<String> = ids.map(row_sql).collect();
    format!("INSERT INTO t{table} VALUES {}", rows.join(", "))
}

/// Runs `writers` writers inserting `rows_per_writer` rows each on a fresh `kind`; returns
/// the wall time from the first statement to the last commit.
pub async fn run(kind: Kind, writers: usize, target: Target, rows_per_writer: i64) -> Result<Duration> {
    let tables = match target {
        Target::OwnTables => writers,
        Target::OneTable => 1,
    };
    let dir = tempfile::tempdir()?;
    match kind {
        Kind::Engine => {
            let engine = Engine::open(EngineConfig::new(dir.path().join("data")))?;
            let mut session = engine.root_session();
            for table in 0..tables {
                session.execute(&crate::systems::create_table_named(&format!("t{table}"))).await?;
            }
            let started = Instant::now();
            let mut tasks = Vec::with_capacity(writers);
            for writer in 0..writers {
                let mut session = engine.root_session();
                tasks.push(tokio::spawn(async move {
                    let ids = writer_ids(writer, rows_per_writer);
                    let mut start = ids.start;
                    while start < ids.end {
                        let end = (start + STATEMENT_ROWS).min(ids.end);
                        let sql = insert_sql(target.table(writer), start..end);
                        session.execute(&sql).await.with_context(|| format!("writer {writer}"))?;
                        start = end;
                    }
                    anyhow::Ok(())
                }));
            }
            for task in tasks {
                task.await??;
            }
            Ok(started.elapsed())
        }
        Kind::Sqlite => {
            let path = dir.path().join("bench.sqlite");
            let setup = rusqlite::Connection::open(&path)?;
            setup.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;")?;
            for table in 0..tables {
                setup.execute_batch(&format!("CREATE TABLE t{table} (id INTEGER PRIMARY KEY, name TEXT, grp INT, v DOUBLE)"))?;
            }
            let started = Instant::now();
            std::thread::scope(|scope| {
                let handles: Vec<_> = (0..writers)
                    .map(|writer| {
                        let path = &path;
                        scope.spawn(move || -> Result<()> {
                            let connection = rusqlite::Connection::open(path)?;
                            connection.execute_batch("PRAGMA synchronous=NORMAL;")?;
                            connection.busy_timeout(Duration::from_secs(60))?;
                            let ids = writer_ids(writer, rows_per_writer);
                            let mut start = ids.start;
                            while start < ids.end {
                                let end = (start + STATEMENT_ROWS).min(ids.end);
                                connection.execute(&insert_sql(target.table(writer), start..end), [])?;
                                start = end;
                            }
                            Ok(())
                        })
                    })
                    .collect();
                handles.into_iter().try_for_each(|h| h.join().expect("a SQLite writer panicked"))
            })?;
            Ok(started.elapsed())
        }
        Kind::RocksDb => {
            let options = engine::storage::store::rocksdb_options(engine::config::DEFAULT_BLOCK_CACHE_BYTES);
            let db = Arc::new(rocksdb::DB::open(&options, dir.path().join("raw"))?);
            let started = Instant::now();
            std::thread::scope(|scope| {
                let handles: Vec<_> = (0..writers)
                    .map(|writer| {
                        let db = db.clone();
                        scope.spawn(move || -> Result<()> {
                            let prefix = table_prefix(target.table(writer) as u64 + 1);
                            let ids = writer_ids(writer, rows_per_writer);
                            let mut start = ids.start;
                            while start < ids.end {
                                let count = STATEMENT_ROWS.min(ids.end - start);
                                let mut batch = rocksdb::WriteBatch::default();
                                for (key, value) in encoded_rows(&prefix, start, count)? {
                                    batch.put(key, value);
                                }
                                db.write(batch)?;
                                start += count;
                            }
                            Ok(())
                        })
                    })
                    .collect();
                handles.into_iter().try_for_each(|h| h.join().expect("a RocksDB writer panicked"))
            })?;
            Ok(started.elapsed())
        }
        other => anyhow::bail!("the concurrent workload does not run on {}", other.name()),
    }
}

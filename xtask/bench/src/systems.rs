//! The systems under test, each able to run every workload step: the engine, SQLite
//! (rusqlite, WAL, synchronous=NORMAL), DataFusion on MemTable, and raw RocksDB puts and
//! gets of the engine's own row encoding, with the engine's RocksDB options (the storage
//! floor).

use std::sync::Arc;

use anyhow::{Context, Result};
use engine::config::DEFAULT_BLOCK_CACHE_BYTES;
use engine::exports::arrow::array::{ArrayRef, Float64Array, Int32Array, Int64Array, StringArray};
use engine::exports::datafusion::common::ScalarValue;
use engine::exports::datafusion::prelude::SessionContext;
use engine::storage::key_codec::encode_scalar;
use engine::storage::keys::{RowScope, scope_row_prefix};
use engine::storage::row_codec::{ColumnReader, RowHeader, encode_row};
use engine::storage::store::rocksdb_options;
use engine::{Engine, EngineConfig, Session};

pub const CREATE_TABLE: &str = "CREATE TABLE t (id BIGINT PRIMARY KEY, name TEXT, grp INT, v DOUBLE)";

/// The benchmark table's definition under another name.
pub fn create_table_named(name: &str) -> String {
    CREATE_TABLE.replacen("TABLE t ", &format!("TABLE {name} "), 1)
}

/// The row prefix raw RocksDB writes a table's rows under (the engine's own layout).
pub fn table_prefix(table_id: u64) -> Vec<u8> {
    scope_row_prefix(table_id, &RowScope::Shared)
}
pub const SCAN_QUERY: &str = "SELECT grp, COUNT(*), SUM(v) FROM t WHERE v > 100 GROUP BY grp";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum Kind {
    Engine,
    /// The engine with every statement planned by DataFusion (no simple-statement path).
    EnginePlanned,
    Sqlite,
    DataFusion,
    RocksDb,
}

impl Kind {
    pub const ALL: [Kind; 5] = [Kind::Engine, Kind::EnginePlanned, Kind::Sqlite, Kind::DataFusion, Kind::RocksDb];

    /// Whether every statement goes through DataFusion's planner (hundreds of µs each).
    pub fn plans_every_statement(self) -> bool {
        matches!(self, Kind::DataFusion | Kind::EnginePlanned)
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Engine => "engine",
            Kind::EnginePlanned => "engine-planned",
            Kind::Sqlite => "sqlite",
            Kind::DataFusion => "datafusion",
            Kind::RocksDb => "rocksdb-raw",
        }
    }
}

/// One row of the benchmark table as SQL text.
pub fn row_sql(i: i64) -> String {
    format!("({i}, 'name-{i}', {}, {})", i % 100, (i % 1000) as f64 * 0.5)
}

pub fn values_sql(start: i64, count: i64) -> String {
    let rows: Vec<String> = (start..start + count).map(row_sql).collect();
    format!("INSERT INTO t VALUES {}", rows.join(", "))
}

pub enum System {
    Engine { session: Box<Session>, planned: bool, _engine: Engine, _dir: tempfile::TempDir },
    Sqlite { connection: rusqlite::Connection, _dir: tempfile::TempDir },
    DataFusion { context: SessionContext },
    RocksDb { db: rocksdb::DB, prefix: Vec<u8>, _dir: tempfile::TempDir },
}

impl System {
    /// A fresh, empty system with the benchmark table.
    pub async fn fresh(kind: Kind) -> Result<System> {
        let dir = tempfile::tempdir()?;
        Ok(match kind {
            Kind::Engine | Kind::EnginePlanned => {
                let engine = Engine::open(EngineConfig::new(dir.path().join("data")))?;
                let mut session = engine.root_session();
                session.execute(CREATE_TABLE).await?;
                let planned = kind == Kind::EnginePlanned;
                session.set_simple_statements(!planned);
                System::Engine { session: Box::new(session), planned, _engine: engine, _dir: dir }
            }
            Kind::Sqlite => {
                let connection = rusqlite::Connection::open(dir.path().join("bench.sqlite"))?;
                connection.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;")?;
                connection.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, grp INT, v DOUBLE)")?;
                System::Sqlite { connection, _dir: dir }
            }
            Kind::DataFusion => {
                let context = SessionContext::new();
                context.sql(CREATE_TABLE).await?.collect().await?;
                System::DataFusion { context }
            }
            Kind::RocksDb => {
                let db = rocksdb::DB::open(&rocksdb_options(DEFAULT_BLOCK_CACHE_BYTES), dir.path().join("raw"))?;
                System::RocksDb { db, prefix: table_prefix(1), _dir: dir }
            }
        })
    }

    /// Untimed set-up may take the engine's fast path even on the planned-only engine.
    pub fn set_loading(&mut self, loading: bool) {
        if let System::Engine { session, planned: true, .. } = self {
            session.set_simple_statements(loading);
        }
    }

    /// Runs one SQL statement (not for the raw RocksDB system).
    pub async fn sql(&mut self, sql: &str) -> Result<usize> {
        match self {
            System::Engine { session, .. } => Ok(session.execute(sql).await.with_context(|| sql.to_string())?.row_count()),
            System::Sqlite { connection, .. } => {
                if sql.trim_start().starts_with("SELECT") {
                    let mut statement = connection.prepare(sql)?;
                    let columns = statement.column_count();
                    let mut rows = statement.query([])?;
                    let mut count = 0;
                    while let Some(row) = rows.next()? {
                        for column in 0..columns {
                            let _: rusqlite::types::Value = row.get(column)?;
                        }
                        count += 1;
                    }
                    Ok(count)
                } else {
                    connection.execute(sql, [])?;
                    Ok(0)
                }
            }
            System::DataFusion { context } => {
                let batches = context.sql(sql).await?.collect().await?;
                Ok(batches.iter().map(|b| b.num_rows()).sum())
            }
            System::RocksDb { .. } => unreachable!("raw RocksDB runs no SQL"),
        }
    }

    pub async fn insert_rows(&mut self, start: i64, count: i64) -> Result<()> {
        match self {
            System::RocksDb { db, prefix, .. } => {
                let mut batch = rocksdb::WriteBatch::default();
                for (key, value) in encoded_rows(prefix, start, count)? {
                    batch.put(key, value);
                }
                db.write(batch)?;
                Ok(())
            }
            _ => self.sql(&values_sql(start, count)).await.map(|_| ()),
        }
    }

    pub async fn insert_one(&mut self, i: i64) -> Result<()> {
        match self {
            System::RocksDb { db, prefix, .. } => {
                for (key, value) in encoded_rows(prefix, i, 1)? {
                    db.put(key, value)?;
                }
                Ok(())
            }
            _ => self.sql(&format!("INSERT INTO t VALUES {}", row_sql(i))).await.map(|_| ()),
        }
    }

    pub async fn lookup(&mut self, id: i64) -> Result<usize> {
        match self {
            System::RocksDb { db, prefix, .. } => Ok(db.get(key(prefix, id))?.map_or(0, |_| 1)),
            _ => self.sql(&format!("SELECT * FROM t WHERE id = {id}")).await,
        }
    }

    pub async fn scan_aggregate(&mut self) -> Result<usize> {
        match self {
            System::RocksDb { db, .. } => Ok(db.iterator(rocksdb::IteratorMode::Start).count()),
            _ => self.sql(SCAN_QUERY).await,
        }
    }

    pub async fn update_one(&mut self, id: i64) -> Result<()> {
        match self {
            System::RocksDb { db, prefix, .. } => {
                let key = key(prefix, id);
                if let Some(value) = db.get(&key)? {
                    db.put(&key, value)?;
                }
                Ok(())
            }
            _ => self.sql(&format!("UPDATE t SET v = v + 1 WHERE id = {id}")).await.map(|_| ()),
        }
    }

    pub async fn delete_one(&mut self, id: i64) -> Result<()> {
        match self {
            System::RocksDb { db, prefix, .. } => Ok(db.delete(key(prefix, id))?),
            _ => self.sql(&format!("DELETE FROM t WHERE id = {id}")).await.map(|_| ()),
        }
    }
}

fn key(prefix: &[u8], id: i64) -> Vec<u8> {
    let mut key = prefix.to_vec();
    encode_scalar(&ScalarValue::Int64(Some(id)), &mut key).expect("BIGINT keys encode");
    key
}

/// Rows encoded exactly as the engine stores them.
pub fn encoded_rows(prefix: &[u8], start: i64, count: i64) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let ids: Vec<i64> = (start..start + count).collect();
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(ids.clone())),
        Arc::new(StringArray::from_iter_values(ids.iter().map(|i| format!("name-{i}")))),
        Arc::new(Int32Array::from_iter_values(ids.iter().map(|i| (i % 100) as i32))),
        Arc::new(Float64Array::from_iter_values(ids.iter().map(|i| (i % 1000) as f64 * 0.5))),
    ];
    let readers = columns.iter().map(ColumnReader::new).collect::<Result<Vec<_>, _>>()?;
    let mut out = Vec::with_capacity(ids.len());
    for (row, id) in ids.iter().enumerate() {
        let mut value = Vec::new();
        let header = RowHeader { schema_version: 1, seq: *id as u64, updated_millis: 0, deleted: false };
        encode_row(header, &readers, row, &mut value);
        out.push((key(prefix, *id), value));
    }
    Ok(out)
}

/// The 1,000-row statements that load `rows` rows, written before the clock starts:
/// writing SQL text is the client's work, not the system's (about a tenth of the engine's
/// time when it was timed). Raw RocksDB gets none: it encodes its rows itself, timed.
pub fn bulk_statements(system: &System, rows: i64) -> Vec<String> {
    if matches!(system, System::RocksDb { .. }) {
        return Vec::new();
    }
    (0..rows).step_by(1000).map(|start| values_sql(start, 1000.min(rows - start))).collect()
}

/// Loads `rows` rows by `statements` ([`bulk_statements`]), or row batches without them.
pub async fn load_prepared(system: &mut System, rows: i64, statements: &[String]) -> Result<()> {
    if statements.is_empty() {
        return crate::load(system, rows).await;
    }
    for statement in statements {
        system.sql(statement).await?;
    }
    Ok(())
}

//! An embeddable SQL database engine: SHARED tables (USER and STREAM tables to come) with
//! soft-delete system columns, stored in RocksDB and queried through Apache DataFusion.
//!
//! ```no_run
//! # async fn demo() -> engine::Result<()> {
//! let engine = engine::Engine::open(engine::EngineConfig::new("/tmp/data"))?;
//! let mut session = engine.root_session();
//! session.execute("CREATE TABLE t (id INT PRIMARY KEY, name TEXT)").await?;
//! session.execute("INSERT INTO t VALUES (1, 'a')").await?;
//! let rows = session.execute("SELECT * FROM t").await?;
//! # Ok(()) }
//! ```
//!
//! The README's architecture section is the code map.

pub mod catalog;
pub mod clock;
pub mod config;
pub mod engine;
pub mod error;
pub mod exec;
pub mod functions;
pub mod inspect;
pub mod ids;
pub mod permissions;
pub mod provider;
pub mod result;
pub mod session;
pub mod sql;
pub mod storage;
pub mod system;

pub use clock::{Clock, ManualClock, SystemClock};
pub use config::EngineConfig;
pub use engine::Engine;
pub use error::{EngineError, ErrorOrigin, Result, SqlState};
pub use result::QueryResult;
pub use session::Session;

/// The versions of DataFusion and Arrow the engine is built with, for embedders.
pub mod exports {
    pub use datafusion;
    pub use datafusion::arrow;
}

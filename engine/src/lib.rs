//! An embeddable SQL database engine: SHARED and USER tables with soft-delete system
//! columns, append-only STREAM tables with a TTL, users and roles, live subscriptions,
//! stored in RocksDB and queried through Apache DataFusion.
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

// Layers: a module imports only from layers below its own, as the README's layer table
// (the one list of them) says; `tests/tidy.rs` checks the code and this file against it.
pub mod catalog;
pub mod clock;
pub mod config;
pub mod engine;
pub mod error;
pub mod exec;
pub mod functions;
pub mod ids;
pub mod inspect;
pub mod job_log;
pub mod live;
pub mod passwords;
pub mod permissions;
pub mod planning;
pub mod provider;
pub mod resolver;
pub mod result;
pub mod session;
pub mod shared;
mod sql;
pub mod storage;
pub mod system;

pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{ColdStorage, EngineConfig, FlushObserver, FlushStep};
pub use engine::Engine;
pub use error::{EngineError, ErrorOrigin, Result, SqlState};
pub use live::{EventKind, LiveEvent, Subscription};
pub use passwords::ScramCredentials;
pub use result::{CountedCommand, QueryResult, RowStream};
pub use session::Session;
pub use session::prepared::{PreparedStatement, StatementDescription};
pub use sql::ObjectRef;
pub use sql::parser::SubscribeRequest;

/// The versions of DataFusion and Arrow the engine is built with, for embedders.
pub mod exports {
    pub use datafusion;
    pub use datafusion::arrow;
    pub use object_store;
}

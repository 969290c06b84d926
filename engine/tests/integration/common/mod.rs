//! Shared helpers for the engine's integration tests: a fresh engine on a temporary
//! directory with a manual clock, and result rendering.
#![allow(dead_code)]

use std::sync::Arc;

/// Asserts an insta snapshot kept in the top-level `snapshots/` folder, the one `cargo
/// xtask review` reviews and checks (`main.rs` declares `common` with `#[macro_use]`).
#[allow(unused_macros)] // not every test binary takes snapshots
macro_rules! snapshot {
    ($name:expr, $value:expr) => {
        insta::with_settings!({ snapshot_path => "../../../snapshots", prepend_module_to_snapshot => false, omit_expression => true }, {
            insta::assert_snapshot!($name, $value);
        })
    };
}

use engine::exports::arrow::util::pretty::pretty_format_batches;
use engine::{Engine, EngineConfig, ManualClock, QueryResult, Session};

pub struct TestEngine {
    pub engine: Engine,
    pub clock: Arc<ManualClock>,
    pub dir: tempfile::TempDir,
}

impl Default for TestEngine {
    fn default() -> Self {
        TestEngine::new()
    }
}

impl TestEngine {
    pub fn new() -> TestEngine {
        TestEngine::with_config(|_| {})
    }

    /// A fresh engine whose test configuration `adjust` may change.
    pub fn with_config(adjust: impl FnOnce(&mut EngineConfig)) -> TestEngine {
        let dir = tempfile::tempdir().expect("temporary directory");
        let clock = Arc::new(ManualClock::default());
        let mut config = EngineConfig::for_tests(dir.path().join("data"), clock.clone());
        adjust(&mut config);
        let engine = Engine::open(config).expect("open engine");
        TestEngine { engine, clock, dir }
    }

    pub fn session(&self) -> Session {
        self.engine.root_session()
    }

    /// Closes and reopens the engine on the same directory (sessions must be gone).
    pub fn restart(self) -> TestEngine {
        self.restart_with(|_| {})
    }

    /// [`TestEngine::restart`] with a configuration `adjust` may change.
    pub fn restart_with(self, adjust: impl FnOnce(&mut EngineConfig)) -> TestEngine {
        let TestEngine { engine, clock, dir } = self;
        let path = engine.data_dir().to_path_buf();
        drop(engine);
        let mut config = EngineConfig::for_tests(path, clock.clone());
        adjust(&mut config);
        let engine = Engine::open(config).expect("reopen engine");
        TestEngine { engine, clock, dir }
    }
}

/// Runs each statement, panicking with the SQL on failure.
pub async fn run_all(session: &mut Session, statements: &[&str]) {
    for sql in statements {
        if let Err(error) = session.execute(sql).await {
            panic!("{sql}: {} {error}", error.sql_state());
        }
    }
}

/// Renders a result as a table, a count or a message.
pub fn render(result: &QueryResult) -> String {
    match result {
        QueryResult::Rows { batches, .. } => pretty_format_batches(batches).expect("printable").to_string(),
        QueryResult::Count { rows: count, .. } => format!("count: {count}"),
        QueryResult::Message(message) => message.clone(),
        QueryResult::Subscription(subscription) => format!("subscription {}", subscription.id()),
        QueryResult::Stream(rows) => format!("rows to read: {:?}", rows.schema()),
    }
}

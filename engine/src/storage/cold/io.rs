//! The runtime cold-storage I/O runs on: object stores are async, and their callers are
//! both async executors and blocking scan threads, so every request runs on one small
//! runtime of its own and callers either await it or block on it.

use std::future::Future;

use crate::error::{EngineError, Result, SqlState};

pub struct IoRuntime {
    runtime: Option<tokio::runtime::Runtime>,
}

impl std::fmt::Debug for IoRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IoRuntime")
    }
}

impl IoRuntime {
    pub fn start() -> Result<IoRuntime> {
        // Parquet decoding runs here too: a thread per core.
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get()).max(2);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .max_blocking_threads(4)
            .thread_name("engine-cold-io")
            .enable_all()
            .build()
            .map_err(|e| EngineError::new(SqlState::IO_ERROR, format!("starting the cold storage runtime: {e}")))?;
        Ok(IoRuntime { runtime: Some(runtime) })
    }

    fn handle(&self) -> &tokio::runtime::Handle {
        self.runtime.as_ref().expect("the runtime lives until drop").handle()
    }

    /// Runs `work` on the I/O runtime and waits for it on this thread (any thread: a
    /// blocking scan thread or a single-threaded executor alike).
    pub fn block_on<T: Send + 'static>(&self, work: impl Future<Output = Result<T>> + Send + 'static) -> Result<T> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.handle().spawn(async move {
            let _ = tx.send(work.await);
        });
        rx.recv().map_err(|_| closed())?
    }

    /// Runs `work` on the I/O runtime and awaits it.
    pub async fn run<T: Send + 'static>(&self, work: impl Future<Output = Result<T>> + Send + 'static) -> Result<T> {
        self.handle().spawn(work).await.map_err(|_| closed())?
    }

    /// Starts `work` on the I/O runtime without waiting for it.
    pub fn spawn(&self, work: impl Future<Output = ()> + Send + 'static) {
        self.handle().spawn(work);
    }
}

fn closed() -> EngineError {
    EngineError::new(SqlState::IO_ERROR, "cold storage request did not complete (the engine is closing)")
}

impl Drop for IoRuntime {
    fn drop(&mut self) {
        // Dropping a runtime may happen inside another runtime's task: never block there.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

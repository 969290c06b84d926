//! `engine-server --data DIR [--listen ADDR] [--config FILE]`: serves the engine over the
//! PostgreSQL wire protocol until SIGTERM or Ctrl-C, then drains and closes the engine.

use anyhow::Context;
use clap::Parser;
use engine::{Engine, EngineConfig};
use server::config::{Arguments, Settings};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::from_arguments(Arguments::parse())?;
    let mut config = EngineConfig::new(&settings.data);
    config.root_password = settings.root_password.clone().map(engine::passwords::Secret::new);
    let engine = Engine::open(config).with_context(|| format!("opening the engine in {}", settings.data.display()))?;
    let server = server::start(engine.clone(), &settings).await?;
    eprintln!("engine-server: listening on {} (data in {})", server.local_addr(), settings.data.display());
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = terminate.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    eprintln!("engine-server: shutting down (running statements may take {:?} to finish)", settings.drain);
    server.shutdown().await;
    drop(engine);
    eprintln!("engine-server: stopped");
    Ok(())
}

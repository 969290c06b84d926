//! `cargo xtask fuzz [--seconds N] [--seed S] [--queries N] [--world W]`: the logic-bug hunter, a
//! binary of the runner package (`xtask/runner/src/bin/fuzz`): random schemas of every
//! table kind, random data, hot and flushed rows and schema versions, and random queries
//! checked by TLP, NoREC, differential (plain DataFusion, the planner path), hot/cold,
//! model and atomicity oracles; no panic, and a SQLSTATE on every error.
//! `cargo xtask test` runs a short fixed-seed run of it.

use std::path::Path;

use anyhow::{Result, bail};

use crate::{cargo, setup};

/// The fuzzer's run in `cargo xtask test`: a fixed seed and a fixed number of queries (the
/// same statements every time; about 30-60 s on a 2-core machine), capped in time.
pub const TEST_QUERIES: u64 = 12_000;
pub const TEST_SEED: u64 = 20_261_204;
pub const TEST_SECONDS: u64 = 240;

pub fn fuzz(root: &Path, seconds: Option<u64>, seed: Option<u64>, queries: Option<u64>, world: Option<u64>) -> Result<()> {
    setup::ensure_libclang()?;
    let mut command = cargo();
    // A binary of the runner's package: the same dependency features as the runner, so
    // no second build of DataFusion.
    command.current_dir(root).args(["run", "--quiet", "--package", "slt-runner", "--bin", "fuzz", "--"]);
    if let Some(seconds) = seconds {
        command.args(["--seconds", &seconds.to_string()]);
    }
    if let Some(seed) = seed {
        command.args(["--seed", &seed.to_string()]);
    }
    if let Some(queries) = queries {
        command.args(["--queries", &queries.to_string()]);
    }
    if let Some(world) = world {
        command.args(["--world", &world.to_string()]);
    }
    if !command.status()?.success() {
        bail!("the fuzzer found failures (each printed with its seed and statements)");
    }
    Ok(())
}

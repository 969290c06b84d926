//! `cargo xtask concurrency [--seconds S | --ops N] [--seed S] [--sessions N]`: the
//! serial-model concurrency checker, a binary of the runner package
//! (`xtask/runner/src/bin/serial`). Sessions run DML, DDL, FLUSH and jobs on every table
//! kind at once; afterwards a fresh engine replays every acknowledged statement in
//! `_seq` order and must reach the same rows, and every read must have seen a state of
//! that order. `cargo xtask test` runs a short fixed-seed run of it (with `--self-test`:
//! a deliberately wrong order must be caught).

use std::path::Path;

use anyhow::{Result, bail};

use crate::{cargo, setup};

/// The run in `cargo xtask test`: a fixed seed and a fixed number of statements (the
/// interleaving still varies from run to run).
pub const TEST_OPS: usize = 15_000;
pub const TEST_SEED: u64 = 20_261_204;
pub const TEST_SESSIONS: usize = 4;

pub fn concurrency(
    root: &Path,
    seconds: Option<f64>,
    ops: Option<usize>,
    seed: Option<u64>,
    sessions: usize,
    self_test: bool,
) -> Result<()> {
    setup::ensure_libclang()?;
    let mut command = cargo();
    // A binary of the runner's package: the same dependency features as the runner, so
    // no second build of DataFusion.
    command.current_dir(root).args(["run", "--quiet", "--package", "slt-runner", "--bin", "serial", "--"]);
    command.args(["--sessions", &sessions.to_string()]);
    if let Some(seconds) = seconds {
        command.args(["--seconds", &seconds.to_string()]);
    }
    if let Some(ops) = ops {
        command.args(["--ops", &ops.to_string()]);
    }
    if let Some(seed) = seed {
        command.args(["--seed", &seed.to_string()]);
    }
    if self_test {
        command.arg("--self-test");
    }
    if !command.status()?.success() {
        bail!("the concurrency check failed");
    }
    Ok(())
}

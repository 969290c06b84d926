//! `cargo xtask crash [--kills N] [--seed S]`: the crash checker, a binary of the runner
//! package (`xtask/runner/src/bin/crash`), which kills a writing engine process at random
//! moments and checks every reopen against a model of the acknowledged statements.
//! `cargo xtask test` runs a short fixed-seed run of it.

use std::path::Path;

use anyhow::{Result, bail};

use crate::{cargo, setup};

/// The crash checker's run in `cargo xtask test`: short, and the same seed every time.
pub const TEST_KILLS: usize = 100;
pub const TEST_SEED: u64 = 20_261_203;

pub fn crash(root: &Path, kills: usize, seed: Option<u64>) -> Result<()> {
    setup::ensure_libclang()?;
    let mut command = cargo();
    // A binary of the runner's package: the same dependency features as the runner, so
    // no second build of DataFusion.
    command.current_dir(root).args(["run", "--quiet", "--package", "slt-runner", "--bin", "crash", "--"]);
    command.args(["--kills", &kills.to_string()]);
    if let Some(seed) = seed {
        command.args(["--seed", &seed.to_string()]);
    }
    if !command.status()?.success() {
        bail!("the crash check failed");
    }
    Ok(())
}

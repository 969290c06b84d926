//! The generated-test checkers, each a binary of the runner package
//! (`xtask/runner/src/bin/*`, one package so every binary shares one compiled DataFusion
//! and the runner's dependency features):
//! - `cargo xtask isolation [--queries N] [--seed S]`: generated queries across users and
//!   access levels against a model of who may see what;
//! - `cargo xtask crash [--kills N] [--seed S]`: a writing engine process killed at random
//!   moments, every reopen checked against a model of the acknowledged statements;
//! - `cargo xtask fuzz [--seconds N] [--seed S] [--queries N] [--world W]`: random schemas,
//!   data and queries checked by TLP, NoREC, differential (plain DataFusion, the planner
//!   path), hot/cold, model and atomicity oracles; no panic, and a SQLSTATE on every error;
//! - `cargo xtask concurrency [--seconds S | --ops N] [--seed S] [--sessions N]`: sessions
//!   running DML, DDL, FLUSH and jobs at once, checked against a serial replay in `_seq`
//!   order (every read must have seen a state of that order).
//!
//! `cargo xtask test` runs each one short, with a fixed seed ([`run_in_test`]).

use std::path::Path;

use anyhow::{Result, bail};

use crate::{cargo, setup};

/// What a checker is asked to do: its binary and its command-line arguments.
pub struct Checker {
    binary: &'static str,
    args: Vec<String>,
}

/// `--name value` for each given value; an absent one is left out (the binary's default).
fn options(pairs: &[(&str, Option<String>)]) -> Vec<String> {
    pairs.iter().filter_map(|(name, value)| value.as_ref().map(|v| [name.to_string(), v.clone()])).flatten().collect()
}

fn text<T: ToString>(value: Option<T>) -> Option<String> {
    value.map(|v| v.to_string())
}

impl Checker {
    pub fn isolation(queries: usize, seed: Option<u64>) -> Self {
        Checker { binary: "isolation", args: options(&[("--queries", Some(queries.to_string())), ("--seed", text(seed))]) }
    }

    pub fn crash(kills: usize, seed: Option<u64>) -> Self {
        Checker { binary: "crash", args: options(&[("--kills", Some(kills.to_string())), ("--seed", text(seed))]) }
    }

    pub fn fuzz(seconds: Option<u64>, seed: Option<u64>, queries: Option<u64>, world: Option<u64>) -> Self {
        let args = options(&[("--seconds", text(seconds)), ("--seed", text(seed)), ("--queries", text(queries)), ("--world", text(world))]);
        Checker { binary: "fuzz", args }
    }

    pub fn concurrency(seconds: Option<f64>, ops: Option<usize>, seed: Option<u64>, sessions: usize, self_test: bool) -> Self {
        let mut args = options(&[
            ("--sessions", Some(sessions.to_string())),
            ("--seconds", text(seconds)),
            ("--ops", text(ops)),
            ("--seed", text(seed)),
        ]);
        if self_test {
            // The check must be able to fail: a deliberately wrong order has to be caught.
            args.push("--self-test".into());
        }
        Checker { binary: "serial", args }
    }

    /// Builds and runs the checker; an error when it found failures (it prints them, each
    /// with its seed).
    pub fn run(&self, root: &Path) -> Result<()> {
        setup::ensure_libclang()?;
        let mut command = cargo();
        command.current_dir(root).args(["run", "--quiet", "--package", "slt-runner", "--bin", self.binary, "--"]).args(&self.args);
        if !command.status()?.success() {
            bail!("the {} check failed (its failures are printed above, each with its seed)", self.binary);
        }
        Ok(())
    }
}

/// The runs of `cargo xtask test`: short, fixed seeds, the same statements every time (the
/// concurrency check's interleaving still varies). Returns how many passed and failed.
pub fn run_in_test(root: &Path) -> (usize, usize) {
    let checks = [
        Checker::isolation(3_000, Some(20_261_202)),
        // About 30 s on a 2-core machine; the time cap only guards a slow machine.
        Checker::fuzz(Some(240), Some(20_261_204), Some(12_000), None),
        Checker::concurrency(None, Some(15_000), Some(20_261_204), 4, true),
        Checker::crash(100, Some(20_261_203)),
    ];
    let (mut passed, mut failed) = (0, 0);
    for check in checks {
        match check.run(root) {
            Ok(()) => passed += 1,
            Err(error) => {
                eprintln!("{error:#}");
                failed += 1;
            }
        }
    }
    (passed, failed)
}

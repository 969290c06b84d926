//! Delta debugging: replays a failing statement list on fresh engines, dropping chunks of
//! statements (halves, then quarters, ... then one at a time) while the same failure (same
//! oracle, same message but for numbers) still happens, and cuts the list after the statement that fails. The last step
//! (the failing check or write) is never dropped.

use std::time::{Duration, Instant};

use crate::model::Op;
use crate::oracles::{Check, Failure, Verdict};
use crate::world::World;

#[derive(Debug, Clone)]
pub enum Step {
    Op(Op),
    Check(Check),
}

impl Step {
    pub fn lines(&self) -> Vec<String> {
        match self {
            Step::Op(Op::Clock(ms)) => vec![format!("-- clock advance {ms}ms")],
            Step::Op(op) => vec![op.sql()],
            Step::Check(check) => check.describe(),
        }
    }
}

/// Runs the steps on a fresh engine; the first failure and the index of its step.
pub async fn replay(steps: &[Step]) -> anyhow::Result<Option<(usize, Failure)>> {
    replay_noting(steps, &mut Vec::new()).await
}

/// [`replay`], noting for each step whether it was a write that failed.
pub async fn replay_noting(steps: &[Step], failed: &mut Vec<bool>) -> anyhow::Result<Option<(usize, Failure)>> {
    let mut world = World::open().await?;
    for (index, step) in steps.iter().enumerate() {
        match step {
            Step::Op(op) => {
                let outcome = world.apply(op).await;
                failed.push(world.last_failed);
                if let Err(failure) = outcome {
                    return Ok(Some((index, failure)));
                }
            }
            Step::Check(check) => {
                failed.push(false);
                if let Verdict::Fail(failure) = check.evaluate(&mut world).await {
                    return Ok(Some((index, failure)));
                }
            }
        }
    }
    Ok(None)
}

pub struct Minimized {
    pub steps: Vec<Step>,
    /// The failure of the smallest list (`None`: the original did not fail again).
    pub failure: Option<Failure>,
    pub replays: usize,
    pub elapsed: Duration,
}

/// Shrinks `steps` while a failure with the same signature (oracle and message without
/// its numbers, [`Failure::signature`]) reproduces, within `budget`.
pub async fn minimize(steps: Vec<Step>, signature: &str, budget: Duration) -> anyhow::Result<Minimized> {
    let started = Instant::now();
    let mut replays = 1;
    let Some((at, mut failure)) = replay(&steps).await?.filter(|(_, f)| f.signature() == signature) else {
        return Ok(Minimized { steps, failure: None, replays, elapsed: started.elapsed() });
    };
    let mut steps = steps;
    steps.truncate(at + 1);
    let mut chunk = (steps.len() / 2).max(1);
    loop {
        let mut start = 0;
        while start + 1 < steps.len() && started.elapsed() < budget {
            let end = (start + chunk).min(steps.len() - 1);
            let candidate: Vec<Step> = steps[..start].iter().chain(&steps[end..]).cloned().collect();
            replays += 1;
            match replay(&candidate).await? {
                Some((at, f)) if f.signature() == signature => {
                    steps = candidate;
                    steps.truncate(at + 1);
                    failure = f;
                }
                _ => start = end,
            }
        }
        if chunk == 1 || started.elapsed() >= budget {
            break;
        }
        chunk = (chunk / 2).max(1);
    }
    Ok(Minimized { steps, failure: Some(failure), replays, elapsed: started.elapsed() })
}

/// An `.slt` draft of the minimized steps: writes as `statement ok` / `statement error`,
/// the check's queries as comments to turn into `query` records by hand.
pub fn slt_draft(header: &str, steps: &[Step], failed_writes: &[bool]) -> String {
    let mut text = String::new();
    for line in header.lines() {
        text.push_str(&format!("# {line}\n"));
    }
    for (index, step) in steps.iter().enumerate() {
        text.push('\n');
        match step {
            Step::Op(Op::Clock(ms)) => text.push_str(&format!("clock advance {ms}ms\n")),
            Step::Op(Op::Restart) => text.push_str("restart\n"),
            Step::Op(Op::RunJobs) => text.push_str("jobs run\n"),
            Step::Op(op) => {
                let failed = failed_writes.get(index).copied().unwrap_or(false);
                text.push_str(if failed { "statement error\n" } else { "statement ok\n" });
                text.push_str(&op.sql());
                text.push('\n');
            }
            Step::Check(check) => {
                for line in check.describe() {
                    text.push_str(&format!("# {line}\n"));
                }
            }
        }
    }
    text
}

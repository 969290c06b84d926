//! `--exec FILE`: a triage aid. Runs a statement list (one statement per line; `--`
//! comments; `clock advance Nms`) as root on a fresh engine and prints each answer; a
//! query's rows are also computed by plain DataFusion over MemTables of the engine's rows
//! (and by the engine without the simple-statement path), and differences are marked.

use anyhow::Result;

use crate::model::Op;
use crate::world::{Answer, World};

pub async fn exec(path: &std::path::Path) -> Result<()> {
    let text = std::fs::read_to_string(path)?;
    let mut world = World::open().await?;
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with("--") && !l.starts_with('#')) {
        if let Some(ms) = line.strip_prefix("clock advance ").and_then(|r| r.strip_suffix("ms")) {
            let _ = world.apply(&Op::Clock(ms.parse()?)).await;
            println!("clock advanced {ms} ms");
            continue;
        }
        let answer = world.query(line).await;
        println!("{line}\n  engine:     {}", answer.describe());
        if let Answer::Rows { .. } = answer {
            let planned = world.query_planned(line).await;
            if planned.rows() != answer.rows() {
                println!("  planner:    {}  <-- DIFFERS", planned.describe());
            }
            match world.query_oracle(line).await {
                Some(plain) if plain.rows() != answer.rows() => println!("  DataFusion: {}  <-- DIFFERS", plain.describe()),
                Some(_) => println!("  DataFusion: the same"),
                None => println!("  DataFusion: panicked"),
            }
        } else {
            world.forget_oracle();
        }
    }
    Ok(())
}

//! `cargo xtask pg-compare [PATH..]`: the scenarios (default: `slt/` and the vendored
//! sqlite corpus) run on a throwaway PostgreSQL 15, through the harness's `--against`
//! clients, and the records where PostgreSQL answers otherwise than the engine (whose
//! answers the scenarios hold) printed per file and classified. A report, not a gate.
//!
//! The cluster: `initdb` in a temporary folder (as the `postgres` user when this runs as
//! root, which PostgreSQL refuses), trust authentication, `fsync = off`, listening on
//! 127.0.0.1 at a free port; stopped and deleted at the end.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// How a record differs on PostgreSQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Difference {
    /// The same rows, with other column types.
    TypeSpelling,
    /// Both fail, with different SQLSTATEs.
    ErrorCode,
    /// Both run, with different rows or counts.
    Result,
    /// One side runs it, the other refuses it.
    Unsupported,
    Other,
}

impl Difference {
    const ALL: [Difference; 5] =
        [Difference::TypeSpelling, Difference::ErrorCode, Difference::Result, Difference::Unsupported, Difference::Other];

    fn label(self) -> &'static str {
        match self {
            Difference::TypeSpelling => "type spelling",
            Difference::ErrorCode => "error code",
            Difference::Result => "result",
            Difference::Unsupported => "unsupported by one side",
            Difference::Other => "other",
        }
    }

    /// The kind of a runner failure message (its first lines).
    pub fn of(message: &str) -> Difference {
        let first = message.lines().next().unwrap_or("");
        if first.starts_with("query columns mismatch") {
            Difference::TypeSpelling
        } else if first.contains("expected to fail with error") && message.contains("but got error") {
            Difference::ErrorCode
        } else if first.starts_with("query result mismatch") || first.contains("expected to affect") {
            Difference::Result
        } else if first.contains("but actually succeed")
            || first.starts_with("statement failed")
            || first.starts_with("query failed")
            || first.contains("expected to fail with error")
        {
            Difference::Unsupported
        } else {
            Difference::Other
        }
    }
}

/// Each file's differences, from the runner's output (`FAILED path:line` then the message).
pub fn classify(output: &str) -> BTreeMap<String, BTreeMap<Difference, usize>> {
    let mut files: BTreeMap<String, BTreeMap<Difference, usize>> = BTreeMap::new();
    let mut lines = output.lines().peekable();
    while let Some(line) = lines.next() {
        let Some(location) = line.strip_prefix("FAILED ") else { continue };
        let file = location.rsplit_once(':').map_or(location, |(file, _)| file).to_string();
        let mut message = String::new();
        while let Some(next) = lines.peek() {
            if next.starts_with("FAILED ") || next.starts_with("at ") {
                break;
            }
            message.push_str(next);
            message.push('\n');
            lines.next();
        }
        *files.entry(file).or_default().entry(Difference::of(&message)).or_default() += 1;
    }
    files
}

/// A throwaway PostgreSQL cluster.
struct Cluster {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
}

impl Cluster {
    fn start() -> Result<Cluster> {
        let bin = postgres_bin()?;
        let as_postgres = running_as_root();
        let dir = std::env::temp_dir().join(format!("pg-compare-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        if as_postgres {
            run(Command::new("chown").arg("postgres").arg(&dir))?;
        }
        let port = free_port()?;
        let cluster = Cluster { dir, bin, port, as_postgres };
        let data = cluster.dir.join("data");
        cluster.postgres_command("initdb", &["-D", path(&data), "-U", "postgres", "--auth=trust", "-E", "UTF8"])?;
        let options = format!("-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off", path(&cluster.dir));
        let log = cluster.dir.join("log");
        cluster.postgres_command("pg_ctl", &["-D", path(&data), "-o", &options, "-l", path(&log), "-w", "start"])?;
        Ok(cluster)
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn postgres_command(&self, program: &str, args: &[&str]) -> Result<()> {
        let program = self.bin.join(program);
        let mut command = if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        };
        command.args(args).stdout(std::process::Stdio::null());
        run(&mut command)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.dir.join("data");
        let _ = self.postgres_command("pg_ctl", &["-D", path(&data), "-m", "immediate", "stop"]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn path(path: &Path) -> &str {
    path.to_str().unwrap_or_default()
}

fn run(command: &mut Command) -> Result<()> {
    let status = command.status().with_context(|| format!("starting {command:?}"))?;
    if !status.success() {
        bail!("{command:?} failed: {status}");
    }
    Ok(())
}

/// PostgreSQL's programs: `pg_config --bindir`, or Debian's place for version 15.
fn postgres_bin() -> Result<PathBuf> {
    if let Ok(output) = Command::new("pg_config").arg("--bindir").output()
        && output.status.success()
    {
        let dir = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
        if dir.join("initdb").exists() {
            return Ok(dir);
        }
    }
    let debian = PathBuf::from("/usr/lib/postgresql/15/bin");
    if debian.join("initdb").exists() {
        return Ok(debian);
    }
    bail!("PostgreSQL's initdb was not found (install PostgreSQL 15)")
}

fn running_as_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0").unwrap_or(false)
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Runs the comparison and prints the report.
pub fn run_report(root: &Path, targets: &[String], runner: impl Fn(&[String]) -> Result<String>) -> Result<()> {
    let targets: Vec<String> = if targets.is_empty() {
        vec![root.join("slt").display().to_string(), root.join("corpora/sqlite").display().to_string()]
    } else {
        targets.to_vec()
    };
    let cluster = Cluster::start()?;
    println!("pg-compare: PostgreSQL at {}", cluster.url());
    let mut totals: BTreeMap<Difference, usize> = BTreeMap::new();
    for target in &targets {
        let output = runner(&[target.clone(), "--against".into(), cluster.url(), "--quiet".into()])?;
        let summary = output.lines().rev().find(|line| line.contains(" passed, ")).unwrap_or("no summary").to_string();
        println!("\n{target}: {summary}");
        for (file, differences) in classify(&output) {
            let counts: Vec<String> = differences.iter().map(|(kind, n)| format!("{} {n}", kind.label())).collect();
            println!("  {file}: {}", counts.join(", "));
            for (kind, n) in differences {
                *totals.entry(kind).or_default() += n;
            }
        }
    }
    let total: Vec<String> = Difference::ALL.iter().map(|kind| format!("{} {}", kind.label(), totals.get(kind).unwrap_or(&0))).collect();
    println!("\npg-compare: records where PostgreSQL 15 differs from the engine: {}", total.join(", "));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_classified_by_their_message() {
        let output = "FAILED slt/a.slt:3\nquery columns mismatch:\n[SQL] SELECT 1\nat slt/a.slt:3\n\n\
                      FAILED slt/a.slt:9\nstatement is expected to fail with error:\n\t(sqlstate) 23505\nbut got error:\n\t(sqlstate 42601) x\nat slt/a.slt:9\n\
                      FAILED slt/b.slt:1\nstatement failed: 42601: syntax\nat slt/b.slt:1\n\
                      FAILED slt/b.slt:5\nquery result mismatch:\nat slt/b.slt:5\n";
        let files = classify(output);
        assert_eq!(files["slt/a.slt"][&Difference::TypeSpelling], 1);
        assert_eq!(files["slt/a.slt"][&Difference::ErrorCode], 1);
        assert_eq!(files["slt/b.slt"][&Difference::Unsupported], 1);
        assert_eq!(files["slt/b.slt"][&Difference::Result], 1);
    }
}

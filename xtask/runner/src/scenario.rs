//! Runs one scenario file: a fresh engine on its own temporary directory, every record in
//! order, every failure collected (or the first, with `--fail-fast`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use engine::ManualClock;
use sqllogictest::{Record, RecordOutput, Runner};
use tokio::sync::Mutex;

use crate::db::{Backend, Connection, CurrentConnection, DEFAULT_CONNECTION, ENGINE_LABEL, EngineHolder, QueryRecordFlag};
use crate::directives::{self, Directive};
use crate::normalize::{ColumnType, column_types_match};

/// A record of a file, with the directives that stand on its comment lines.
pub struct LoadedRecord {
    pub record: Record<ColumnType>,
    /// Directives on the lines of a comment record, in order.
    pub directives: Vec<(Directive, String)>,
    /// Whether the record comes from the file itself (not from an `include`).
    pub own: bool,
}

/// Parses a file, expanding `include` (relative to the file, globs allowed).
pub fn load(path: &Path) -> Result<Vec<LoadedRecord>, String> {
    load_inner(path, true, 0)
}

fn load_inner(path: &Path, own: bool, depth: usize) -> Result<Vec<LoadedRecord>, String> {
    if depth > 16 {
        return Err(format!("{}: include nesting is too deep", path.display()));
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let pre = directives::preprocess(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let name = path.display().to_string();
    let records = sqllogictest::parse_with_name::<ColumnType>(&pre.script, name).map_err(|e| e.to_string())?;
    let mut records: Vec<LoadedRecord> = records.into_iter().map(|record| LoadedRecord { record, directives: Vec::new(), own }).collect();
    attach_directives(&mut records, &pre.directives);
    let mut out = Vec::new();
    for loaded in records {
        if let Record::Include { filename, loc } = &loaded.record {
            let pattern = path.parent().unwrap_or(Path::new(".")).join(filename);
            let mut matched = false;
            for entry in glob::glob(&pattern.to_string_lossy()).map_err(|e| format!("{loc}: {e}"))? {
                let included = entry.map_err(|e| format!("{loc}: {e}"))?;
                matched = true;
                out.extend(load_inner(&included, false, depth + 1)?);
            }
            if !matched {
                return Err(format!("{loc}: include {filename} matches no file"));
            }
        }
        out.push(loaded);
    }
    Ok(out)
}

/// Comment records carry no line numbers, so directives are matched to comment records by
/// order: the n-th directive line of the file belongs to the comment block that holds it.
fn attach_directives(records: &mut [LoadedRecord], directives: &std::collections::BTreeMap<usize, (Directive, String)>) {
    let mut pending = directives.values().peekable();
    for loaded in records.iter_mut() {
        let Record::Comment(lines) = &loaded.record else { continue };
        for line in lines {
            if let Some((directive, original)) = pending.peek()
                && line.trim() == directives::marker_text(original)
            {
                loaded.directives.push((directive.clone(), original.clone()));
                pending.next();
            }
        }
    }
}

/// One failing record.
pub struct Failure {
    pub location: String,
    pub message: String,
}

pub struct FileReport {
    pub path: PathBuf,
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    pub failures: Vec<Failure>,
    pub elapsed: Duration,
    /// The flushed run skipped the file (`tier hot-only`).
    pub hot_only: bool,
}

impl FileReport {
    /// The report of a file whose run did not finish.
    pub fn crashed(path: &Path, message: String) -> FileReport {
        FileReport {
            path: path.to_path_buf(),
            passed: 0,
            failed: 1,
            skipped: 0,
            failures: vec![Failure { location: path.display().to_string(), message }],
            elapsed: Duration::ZERO,
            hot_only: false,
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct RunOptions {
    pub backend: Backend,
    /// Which tier of the matrix this run is.
    pub tier: Tier,
    pub fail_fast: bool,
    pub stop_after_line: Option<usize>,
    pub colorize: bool,
}

/// The label of the flushed run (`skipif flushed` / `onlyif flushed`), for the few records
/// whose result is about the tiers themselves (FLUSH's own row counts).
pub const FLUSHED_LABEL: &str = "flushed";

/// The tier matrix: every scenario runs as written, and again with every hot row flushed
/// to cold storage after each record (and after each restart); results must not differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    Written,
    Flushed,
}

fn is_counted(record: &Record<ColumnType>) -> bool {
    matches!(record, Record::Statement { .. } | Record::Query { .. } | Record::System { .. })
}

pub fn record_line(record: &Record<ColumnType>) -> Option<usize> {
    match record {
        Record::Statement { loc, .. } | Record::Query { loc, .. } | Record::System { loc, .. } => Some(loc.line() as usize),
        Record::Include { loc, .. } | Record::Sleep { loc, .. } | Record::Subtest { loc, .. } | Record::Halt { loc } => {
            Some(loc.line() as usize)
        }
        Record::HashThreshold { loc, .. } => Some(loc.line() as usize),
        _ => None,
    }
}

/// How sqllogictest makes a file's connections.
pub type ConnectionFactory = Box<dyn FnMut() -> std::future::Ready<Result<Connection, crate::db::HarnessError>> + Send>;

/// A runner and engine for one file.
pub struct FileSession {
    pub runner: Runner<Connection, ConnectionFactory>,
    pub holder: Arc<Mutex<EngineHolder>>,
    /// Set while a `query` record runs (see [`crate::db::QueryRecordFlag`]).
    pub query_record: QueryRecordFlag,
    /// The connection the next record runs on.
    pub current: CurrentConnection,
    _dir: tempfile::TempDir,
}

impl FileSession {
    pub fn open(backend: Backend, tier: Tier) -> Result<FileSession, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let clock = Arc::new(ManualClock::default());
        let mut holder = EngineHolder::open(dir.path().join("data"), clock).map_err(|e| e.to_string())?;
        if backend == Backend::Wire {
            holder.enable_wire();
        }
        let holder = Arc::new(Mutex::new(holder));
        let query_record = QueryRecordFlag::default();
        let current = CurrentConnection::new(std::sync::Mutex::new(DEFAULT_CONNECTION.to_string()));
        let factory: ConnectionFactory = match backend {
            Backend::Engine | Backend::Wire => Box::new(Connection::factory(holder.clone(), current.clone(), query_record.clone())),
            Backend::DataFusion => Box::new(Connection::datafusion_factory(query_record.clone())),
        };
        let mut runner = Runner::new(factory);
        runner.add_label(ENGINE_LABEL);
        if tier == Tier::Flushed {
            runner.add_label(FLUSHED_LABEL);
        }
        if backend == Backend::Wire {
            runner.add_label(crate::wire::WIRE_LABEL);
        }
        runner.with_column_validator(column_types_match);
        Ok(FileSession { runner, holder, query_record, current, _dir: dir })
    }

    /// Tells the connections what kind of record runs next.
    pub fn prepare_for(&self, record: &Record<ColumnType>) {
        self.query_record.store(matches!(record, Record::Query { .. }), std::sync::atomic::Ordering::SeqCst);
        let connection = match record {
            Record::Statement { connection, .. } | Record::Query { connection, .. } => match connection {
                sqllogictest::Connection::Default => DEFAULT_CONNECTION.to_string(),
                sqllogictest::Connection::Named(name) => name.clone(),
            },
            _ => DEFAULT_CONNECTION.to_string(),
        };
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = connection;
    }

    pub async fn flush_all(&mut self) -> Result<(), String> {
        self.holder.lock().await.flush_all().await.map_err(|e| e.to_string())
    }

    pub async fn apply_directive(&mut self, directive: &Directive) -> Result<(), String> {
        let mut holder = self.holder.lock().await;
        if crate::wire::AGAINST.get().is_some() {
            // Directives act on the in-process engine; a `connect` still says who logs in.
            if let Directive::Connect { connection, binding, fails: None } = directive {
                holder.bind(connection, binding.clone());
            } else {
                crate::wire::IGNORED_DIRECTIVES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            return Ok(());
        }
        directives::apply(directive, &mut holder).await
    }
}

pub async fn run_file(path: &Path, options: &RunOptions) -> FileReport {
    let started = Instant::now();
    let shown = match options.tier {
        Tier::Written => path.to_path_buf(),
        Tier::Flushed => PathBuf::from(format!("{} [flushed]", path.display())),
    };
    let mut report = FileReport {
        path: shown.clone(),
        passed: 0,
        failed: 0,
        skipped: 0,
        failures: Vec::new(),
        elapsed: Duration::ZERO,
        hot_only: false,
    };
    let fail = |report: &mut FileReport, location: String, message: String| {
        report.failed += 1;
        report.failures.push(Failure { location, message });
    };
    let records = match load(path) {
        Ok(records) => records,
        Err(message) => {
            fail(&mut report, path.display().to_string(), message);
            report.elapsed = started.elapsed();
            return report;
        }
    };
    let flushed = options.tier == Tier::Flushed;
    if flushed && records.iter().any(|r| r.directives.iter().any(|(d, _)| *d == Directive::HotOnly)) {
        report.hot_only = true;
        return report;
    }
    let mut session = match FileSession::open(options.backend, options.tier) {
        Ok(session) => session,
        Err(message) => {
            fail(&mut report, path.display().to_string(), message);
            report.elapsed = started.elapsed();
            return report;
        }
    };
    for loaded in records {
        if let (Some(limit), Some(line), true) = (options.stop_after_line, record_line(&loaded.record), loaded.own)
            && line > limit
        {
            break;
        }
        let mut stop = false;
        for (directive, original) in &loaded.directives {
            if let Err(message) = session.apply_directive(directive).await {
                fail(&mut report, format!("{}: {}", shown.display(), original.trim()), message);
                stop = options.fail_fast;
            }
            if flushed
                && *directive == Directive::Restart
                && let Err(message) = session.flush_all().await
            {
                fail(&mut report, format!("{}: flush after {}", shown.display(), original.trim()), message);
            }
        }
        if stop {
            break;
        }
        if matches!(loaded.record, Record::Include { .. } | Record::Comment(_) | Record::Newline) {
            continue;
        }
        let counted = is_counted(&loaded.record);
        let location = match &loaded.record {
            Record::Statement { loc, .. } | Record::Query { loc, .. } | Record::System { loc, .. } => match options.tier {
                Tier::Written => loc.to_string(),
                Tier::Flushed => format!("{loc} [flushed]"),
            },
            _ => shown.display().to_string(),
        };
        let halt = matches!(loaded.record, Record::Halt { .. });
        session.prepare_for(&loaded.record);
        match session.runner.run_async(loaded.record).await {
            Ok(RecordOutput::Nothing) if counted => report.skipped += 1,
            Ok(_) if counted => report.passed += 1,
            Ok(_) => {}
            Err(error) => {
                fail(&mut report, location.clone(), error.display(options.colorize).to_string());
                if options.fail_fast {
                    break;
                }
            }
        }
        if flushed
            && counted
            && let Err(message) = session.flush_all().await
        {
            fail(&mut report, format!("{location}: flush after the record"), message);
        }
        if halt {
            break;
        }
    }
    session.holder.lock().await.close_wire().await;
    session.runner.shutdown_async().await;
    report.elapsed = started.elapsed();
    report
}

//! What a run shows: progress while it runs, a table per file, every failure with its
//! location, SQL and diff, the `N passed, M failed` line, and an optional JUnit report.

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use comfy_table::{Table, presets::UTF8_BORDERS_ONLY};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use crate::scenario::FileReport;

/// Files done / total and failures so far: a bar on a terminal, plain lines otherwise.
pub struct Progress {
    bar: Option<ProgressBar>,
    state: Mutex<(usize, usize)>,
    total: usize,
}

impl Progress {
    pub fn new(total: usize, terminal: bool) -> Progress {
        let bar = terminal.then(|| {
            let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
            bar.set_style(ProgressStyle::with_template("{bar:30} {pos}/{len} files  {msg}").expect("valid progress template"));
            bar
        });
        Progress { bar, state: Mutex::new((0, 0)), total }
    }

    pub fn file_done(&self, report: &FileReport) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.0 += 1;
        state.1 += report.failed;
        match &self.bar {
            Some(bar) => {
                bar.set_position(state.0 as u64);
                bar.set_message(format!("{} failed records", state.1));
            }
            None => {
                eprintln!("[{}/{}] {} ({} passed, {} failed)", state.0, self.total, report.path.display(), report.passed, report.failed)
            }
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Prints failures and the per-file table; returns the summary line.
pub fn print(reports: &[FileReport], quiet: bool, elapsed: Duration) -> String {
    for report in reports {
        for failure in &report.failures {
            println!("FAILED {}\n{}\n", failure.location, failure.message.trim_end());
        }
    }
    if !quiet {
        let mut table = Table::new();
        table.load_preset(UTF8_BORDERS_ONLY);
        table.set_header(vec!["file", "passed", "failed", "skipped", "time"]);
        for report in reports.iter().filter(|r| !r.hot_only) {
            table.add_row(vec![
                report.path.display().to_string(),
                report.passed.to_string(),
                report.failed.to_string(),
                report.skipped.to_string(),
                format!("{:.2}s", report.elapsed.as_secs_f64()),
            ]);
        }
        println!("{table}");
        println!("{} files in {:.1}s", reports.len(), elapsed.as_secs_f64());
    }
    let passed: usize = reports.iter().map(|r| r.passed).sum();
    let failed: usize = reports.iter().map(|r| r.failed).sum();
    let skipped: usize = reports.iter().map(|r| r.skipped).sum();
    let hot_only = reports.iter().filter(|r| r.hot_only).count();
    let mut summary = format!("{passed} passed, {failed} failed");
    if skipped > 0 {
        summary.push_str(&format!(", {skipped} skipped"));
    }
    if hot_only > 0 {
        summary.push_str(&format!(" ({hot_only} files hot-only: not run flushed)"));
    }
    summary
}

/// Prints the engine-versus-DataFusion table and every record that passes on DataFusion
/// but fails on the engine. Returns the summary line and the number of such records.
pub fn print_comparison(pairs: &[(FileReport, FileReport)], elapsed: Duration) -> (String, usize) {
    let mut table = Table::new();
    table.load_preset(UTF8_BORDERS_ONLY);
    table.set_header(vec!["file", "records", "engine passed", "DataFusion passed", "regressions", "engine time", "DataFusion time"]);
    let mut regressions = 0;
    let (mut engine_total, mut baseline_total, mut records_total) = (0, 0, 0);
    for (engine, baseline) in pairs {
        let baseline_failures: std::collections::HashSet<&str> = baseline.failures.iter().map(|f| f.location.as_str()).collect();
        let worse: Vec<_> = engine.failures.iter().filter(|f| !baseline_failures.contains(f.location.as_str())).collect();
        for failure in &worse {
            println!("REGRESSION {} (passes on DataFusion)\n{}\n", failure.location, failure.message.trim_end());
        }
        let records = engine.passed + engine.failed;
        regressions += worse.len();
        engine_total += engine.passed;
        baseline_total += baseline.passed;
        records_total += records;
        table.add_row(vec![
            engine.path.display().to_string(),
            records.to_string(),
            engine.passed.to_string(),
            baseline.passed.to_string(),
            worse.len().to_string(),
            format!("{:.2}s", engine.elapsed.as_secs_f64()),
            format!("{:.2}s", baseline.elapsed.as_secs_f64()),
        ]);
    }
    table.add_row(vec![
        "total".to_string(),
        records_total.to_string(),
        engine_total.to_string(),
        baseline_total.to_string(),
        regressions.to_string(),
        String::new(),
        String::new(),
    ]);
    println!("{table}");
    println!("{} files in {:.1}s", pairs.len(), elapsed.as_secs_f64());
    (format!("{engine_total} passed, {regressions} failed"), regressions)
}

/// One test case per file; failures carry `path:line` and the diff.
pub fn write_junit(path: &Path, reports: &[FileReport]) -> Result<(), String> {
    let mut report = Report::new("slt");
    let mut suite = TestSuite::new("slt");
    for file in reports {
        let status = if file.failed == 0 {
            TestCaseStatus::success()
        } else {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            let locations: Vec<&str> = file.failures.iter().map(|f| f.location.as_str()).collect();
            status.set_message(format!("{} failed records: {}", file.failed, locations.join(", ")));
            let details: Vec<String> = file.failures.iter().map(|f| format!("{}\n{}", f.location, strip_ansi(&f.message))).collect();
            status.set_description(details.join("\n\n"));
            status
        };
        let mut case = TestCase::new(file.path.display().to_string(), status);
        case.set_time(file.elapsed);
        suite.add_test_case(case);
    }
    report.add_test_suite(suite);
    let xml = report.to_string().map_err(|e| e.to_string())?;
    std::fs::write(path, xml).map_err(|e| e.to_string())
}

fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for next in chars.by_ref() {
                if next.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

//! Directives beyond plain SQL (documented in `slt/README.md`).
//!
//! A directive is a line at the start of a record whose first word is a directive name.
//! Before sqllogictest parses a file, each directive line is replaced by a comment line
//! (so line numbers stay true) and remembered by line number; the runner applies it when
//! it reaches that comment. A line that starts a record with any other unknown word is
//! left alone, so sqllogictest's parser rejects it: an unknown directive is an error.

use std::collections::BTreeMap;

use crate::db::{Binding, EngineHolder, Login};

/// The words that start a directive.
const DIRECTIVE_WORDS: [&str; 5] = ["restart", "clock", "connect", "jobs", "tier"];

/// Marks a directive line in the text given to sqllogictest.
const MARKER: &str = "# directive: ";

/// The text of the comment (without `#`) that stands for a directive line.
pub fn marker_text(original: &str) -> String {
    format!("{}{}", MARKER.trim_start_matches('#'), original.trim()).trim().to_string()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Directive {
    /// Close every session and the engine, and open it again on the same data directory.
    Restart,
    /// Move the test clock forward.
    ClockAdvance { millis: i64 },
    /// Set the test clock to an instant (milliseconds since the Unix epoch).
    ClockSet { millis: i64 },
    /// Run every engine job that has work now (STREAM eviction), to completion.
    RunJobs,
    /// `tier hot-only`: the file is about the hot tier itself; the flushed run of the
    /// tier matrix skips it (and counts it).
    HotOnly,
    /// Bind a connection to a user (`fails`: instead, check that the login fails with
    /// this SQLSTATE, binding nothing).
    Connect { connection: String, binding: Binding, fails: Option<String> },
}

/// A file's text with directive lines turned into comments, and the directives by
/// (1-based) line number, with their original text.
pub struct Preprocessed {
    pub script: String,
    pub directives: BTreeMap<usize, (Directive, String)>,
}

pub fn preprocess(text: &str) -> Result<Preprocessed, String> {
    let mut script = String::with_capacity(text.len());
    let mut directives = BTreeMap::new();
    let mut at_record_start = true;
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        let first = trimmed.split_whitespace().next().unwrap_or("");
        if at_record_start && DIRECTIVE_WORDS.contains(&first) {
            let directive = parse_directive(trimmed).map_err(|e| format!("line {}: {e}", index + 1))?;
            directives.insert(index + 1, (directive, line.to_string()));
            script.push_str(MARKER);
            script.push_str(trimmed);
            script.push('\n');
            continue;
        }
        at_record_start = trimmed.is_empty() || trimmed.starts_with('#');
        script.push_str(line);
        script.push('\n');
    }
    Ok(Preprocessed { script, directives })
}

fn parse_directive(line: &str) -> Result<Directive, String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.as_slice() {
        ["restart"] => Ok(Directive::Restart),
        ["jobs", "run"] => Ok(Directive::RunJobs),
        ["tier", "hot-only"] => Ok(Directive::HotOnly),
        ["clock", "advance", amount] => Ok(Directive::ClockAdvance { millis: parse_duration(amount)? }),
        ["clock", "set", instant] => Ok(Directive::ClockSet { millis: parse_instant(instant)? }),
        ["connect", connection, "user", user, rest @ ..] => {
            let (login, rest) = match rest {
                ["trusted", rest @ ..] => (Login::Trusted, rest),
                ["password", password, rest @ ..] => (Login::Password(password.to_string()), rest),
                _ => return Err(format!("'{line}': after the user name write `trusted` or `password PW`")),
            };
            let fails = match rest {
                [] => None,
                ["fails", sql_state] => Some(sql_state.to_string()),
                _ => return Err(format!("'{line}': expected nothing or `fails SQLSTATE` at the end")),
            };
            let binding = Binding { user: user.to_string(), login };
            Ok(Directive::Connect { connection: connection.to_string(), binding, fails })
        }
        _ => Err(format!("unknown directive '{line}' (see slt/README.md)")),
    }
}

/// `1500ms`, `90s`, `5m`, `2h`, `3d`.
pub fn parse_duration(text: &str) -> Result<i64, String> {
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: i64 = number.parse().map_err(|_| format!("invalid duration '{text}'"))?;
    let factor = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(format!("invalid duration '{text}': use ms, s, m, h or d")),
    };
    Ok(number * factor)
}

/// `2024-01-01T00:00:00Z` (UTC only).
pub fn parse_instant(text: &str) -> Result<i64, String> {
    let invalid = || format!("invalid instant '{text}': expected YYYY-MM-DDTHH:MM:SSZ");
    let body = text.strip_suffix('Z').ok_or_else(invalid)?;
    let (date, time) = body.split_once('T').ok_or_else(invalid)?;
    let d: Vec<i64> = date.split('-').map(|p| p.parse().map_err(|_| invalid())).collect::<Result<_, _>>()?;
    let t: Vec<i64> = time.split(':').map(|p| p.parse().map_err(|_| invalid())).collect::<Result<_, _>>()?;
    if d.len() != 3 || t.len() != 3 {
        return Err(invalid());
    }
    let days = days_from_civil(d[0], d[1], d[2]);
    Ok(((days * 24 + t[0]) * 60 + t[1]) * 60_000 + t[2] * 1_000)
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

pub async fn apply(directive: &Directive, holder: &mut EngineHolder) -> Result<(), String> {
    match directive {
        Directive::Restart => holder.restart().await.map_err(|e| e.to_string()),
        Directive::RunJobs => holder.run_jobs().await.map_err(|e| e.to_string()),
        Directive::HotOnly => Ok(()),
        Directive::ClockAdvance { millis } => {
            holder.clock().advance_millis(*millis);
            Ok(())
        }
        Directive::ClockSet { millis } => {
            holder.clock().set_millis(*millis);
            Ok(())
        }
        Directive::Connect { connection, binding, fails: None } => holder.connect(connection, binding.clone()).map_err(|e| e.to_string()),
        Directive::Connect { binding, fails: Some(sql_state), .. } => holder.connect_fails(binding, sql_state),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directives_become_comments_and_keep_line_numbers() {
        let text = "statement ok\nSELECT 1\n\nrestart\n\nclock advance 90s\n\nquery I\nSELECT 1\n----\n1\n";
        let pre = preprocess(text).unwrap();
        assert_eq!(pre.script.lines().count(), text.lines().count());
        assert_eq!(pre.directives[&4].0, Directive::Restart);
        assert_eq!(pre.directives[&6].0, Directive::ClockAdvance { millis: 90_000 });
    }

    #[test]
    fn directive_words_inside_records_are_sql() {
        let text = "statement ok\nrestart\n";
        assert!(preprocess(text).unwrap().directives.is_empty());
    }

    #[test]
    fn bad_directives_are_errors() {
        assert!(preprocess("clock advance soon\n").is_err());
        assert!(preprocess("clock rewind 5s\n").is_err());
        assert!(preprocess("restart now\n").is_err());
        assert!(preprocess("jobs\n").is_err());
        assert_eq!(preprocess("jobs run\n").unwrap().directives[&1].0, Directive::RunJobs);
        assert_eq!(preprocess("tier hot-only\n").unwrap().directives[&1].0, Directive::HotOnly);
        assert!(preprocess("tier cold\n").is_err());
        assert!(preprocess("connect alice user alice\n").is_err());
        assert!(preprocess("connect alice user alice password pw fails\n").is_err());
    }

    #[test]
    fn connect_directives_parse() {
        let pre = preprocess("connect a user alice password pw\n\nconnect b user bob trusted fails 42704\n").unwrap();
        assert_eq!(
            pre.directives[&1].0,
            Directive::Connect {
                connection: "a".into(),
                binding: Binding { user: "alice".into(), login: Login::Password("pw".into()) },
                fails: None
            }
        );
        assert!(matches!(&pre.directives[&3].0, Directive::Connect { fails: Some(s), .. } if s == "42704"));
    }

    #[test]
    fn instants_and_durations_parse() {
        assert_eq!(parse_instant("2024-01-01T00:00:00Z").unwrap(), 1_704_067_200_000);
        assert_eq!(parse_instant("1970-01-01T00:00:01Z").unwrap(), 1_000);
        assert_eq!(parse_duration("2h").unwrap(), 7_200_000);
        assert_eq!(parse_duration("1500ms").unwrap(), 1_500);
    }
}

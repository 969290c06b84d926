//! Parsing and validation of `CREATE TABLE ... WITH (option = value, ...)`.
//!
//! Each option is checked against the table kind it is given for; an unknown option, a
//! value of the wrong form, or an option on the wrong kind is an error that names it.
//!
//! Duration and count options (DELETED_RETENTION_HOURS, FLUSH_POLICY's `rows` and
//! `interval`, TTL_SECONDS, MAX_ROWS) follow one rule ([`CountRange`]): a whole number in
//! the option's range is taken with its plain meaning, however large; anything else is
//! refused (22023), never wrapped. The jobs turn them into engine-clock arithmetic only
//! through [`span_millis`], [`instant_before`] and [`span_has_passed`], which saturate
//! instead of overflowing and represent "never" as such.

use serde::{Deserialize, Serialize};

use crate::catalog::kinds::{AccessLevel, TableKind};
use crate::error::{EngineError, Result};

/// When hot rows move to Parquet automatically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlushPolicy {
    pub rows: Option<u64>,
    pub interval_seconds: Option<u64>,
}

impl FlushPolicy {
    /// Parses `rows:N`, `interval:S` or both, comma separated.
    pub fn parse(text: &str) -> Result<FlushPolicy> {
        let invalid = |why: &str| {
            EngineError::invalid_parameter(format!(
                "invalid FLUSH_POLICY '{text}': {why} (expected 'rows:N', 'interval:S' or 'rows:N,interval:S')"
            ))
        };
        let mut policy = FlushPolicy { rows: None, interval_seconds: None };
        for part in text.split(',') {
            let (name, value) = part.trim().split_once(':').ok_or_else(|| invalid("missing ':'"))?;
            let (slot, range) = match name.trim().to_ascii_lowercase().as_str() {
                "rows" => (&mut policy.rows, FLUSH_ROWS),
                "interval" => (&mut policy.interval_seconds, FLUSH_INTERVAL_SECONDS),
                _ => return Err(invalid("unknown trigger")),
            };
            let number = range.parse(value).map_err(|why| invalid(format!("{}: {why}", name.trim()).as_str()))?;
            if slot.replace(number).is_some() {
                return Err(invalid("trigger given twice"));
            }
        }
        Ok(policy)
    }
}

impl std::fmt::Display for FlushPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.rows, self.interval_seconds) {
            (Some(rows), Some(interval)) => write!(f, "rows:{rows},interval:{interval}"),
            (Some(rows), None) => write!(f, "rows:{rows}"),
            (None, Some(interval)) => write!(f, "interval:{interval}"),
            (None, None) => Ok(()),
        }
    }
}

/// The validated options of a table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableOptions {
    pub flush_policy: Option<FlushPolicy>,
    pub access_level: Option<AccessLevel>,
    pub deleted_retention_hours: Option<u64>,
    pub ttl_seconds: Option<u64>,
    pub max_rows: Option<u64>,
    pub ephemeral: Option<bool>,
}

/// The longest TTL a STREAM table takes: 100 years (the arithmetic on milliseconds of the
/// engine clock stays far from overflow).
pub const MAX_TTL_SECONDS: u64 = 100 * 365 * 24 * 3600;

/// The values a duration or count option takes: whole numbers from `min` to `max`.
///
/// The one rule for every such option: a number in its range is taken with its plain
/// meaning, however large; a value that is not a whole number, does not fit in 64 bits, or
/// is outside the range is refused with 22023 (invalid_parameter_value). Nothing is ever
/// wrapped or silently clamped. Per option:
///
/// - [`DELETED_RETENTION_HOURS`]: 0 (purge at the next run) to `u64::MAX`. A retention
///   longer than the engine clock can span keeps tombstones for good ([`instant_before`]
///   gives no cutoff for it).
/// - [`FLUSH_ROWS`]: 1 to `u64::MAX`; a count the table never reaches never triggers.
/// - [`FLUSH_INTERVAL_SECONDS`]: 1 to `u64::MAX`; an interval longer than the engine clock
///   can span never comes due ([`span_has_passed`]).
/// - [`TTL_SECONDS`]: 1 to [`MAX_TTL_SECONDS`] (100 years), refused beyond: a TTL sets the
///   first key a STREAM read shows, and no use needs a window longer than that.
/// - [`MAX_ROWS`]: 1 to the largest `usize` (the writer counts rows in memory): `u64::MAX`
///   on 64-bit targets; a cap never reached trims nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CountRange {
    pub min: u64,
    pub max: u64,
}

/// DELETED_RETENTION_HOURS, in hours.
pub const DELETED_RETENTION_HOURS: CountRange = CountRange { min: 0, max: u64::MAX };
/// FLUSH_POLICY's `rows:N`, in hot rows.
pub const FLUSH_ROWS: CountRange = CountRange { min: 1, max: u64::MAX };
/// FLUSH_POLICY's `interval:S`, in seconds.
pub const FLUSH_INTERVAL_SECONDS: CountRange = CountRange { min: 1, max: u64::MAX };
/// TTL_SECONDS, in seconds.
pub const TTL_SECONDS: CountRange = CountRange { min: 1, max: MAX_TTL_SECONDS };
/// MAX_ROWS, in rows per user.
pub const MAX_ROWS: CountRange = CountRange { min: 1, max: usize::MAX as u64 };

impl CountRange {
    /// Reads `text` under the rule above; the error says why, for the caller to name the
    /// option.
    pub fn parse(self, text: &str) -> std::result::Result<u64, String> {
        let expected = || format!("a whole number from {} to {}", self.min, self.max);
        let number: u64 = text.trim().parse().map_err(|_| format!("not {}", expected()))?;
        if !(self.min..=self.max).contains(&number) {
            return Err(format!("out of range, expected {}", expected()));
        }
        Ok(number)
    }
}

/// Milliseconds of the engine clock in one hour.
pub const MILLIS_PER_HOUR: u64 = 3_600_000;
/// Milliseconds of the engine clock in one second.
pub const MILLIS_PER_SECOND: u64 = 1_000;

/// `count` units of `unit_millis` milliseconds, saturating at `i64::MAX`: a span of
/// `i64::MAX` milliseconds (about 292 million years) stands for every longer one, and
/// means "longer than the engine clock can span".
pub fn span_millis(count: u64, unit_millis: u64) -> i64 {
    i64::try_from(count.saturating_mul(unit_millis)).unwrap_or(i64::MAX)
}

/// The instant `count` units of `unit_millis` before `now`, or `None` when no instant of
/// the engine clock is that far back: nothing is that old, ever (a huge retention keeps
/// its tombstones for good).
pub fn instant_before(now: i64, count: u64, unit_millis: u64) -> Option<i64> {
    match span_millis(count, unit_millis) {
        i64::MAX => None,
        span => now.checked_sub(span),
    }
}

/// Whether `count` units of `unit_millis` have passed from `since` to `now` (`now - since
/// >= span`, without overflow); never for a span longer than the engine clock can span.
pub fn span_has_passed(since: i64, now: i64, count: u64, unit_millis: u64) -> bool {
    instant_before(now, count, unit_millis).is_some_and(|latest| since <= latest)
}

/// A value written in a WITH list, before it is interpreted.
#[derive(Debug, Clone, PartialEq)]
pub enum OptionValue {
    Text(String),
    Number(String),
    Boolean(bool),
}

impl OptionValue {
    fn describe(&self) -> String {
        match self {
            OptionValue::Text(t) => format!("'{t}'"),
            OptionValue::Number(n) => n.clone(),
            OptionValue::Boolean(b) => b.to_string().to_uppercase(),
        }
    }
}

/// The result of reading a WITH list: the kind it asks for (`TYPE`), and the options.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedOptions {
    pub kind: Option<TableKind>,
    pub options: TableOptions,
}

/// Reads a WITH list. `prefix_kind` is the kind from `CREATE <KIND> TABLE`, if any.
pub fn parse_table_options(prefix_kind: Option<TableKind>, entries: &[(String, OptionValue)]) -> Result<(TableKind, TableOptions)> {
    let mut type_option = None;
    for (name, value) in entries {
        if name.eq_ignore_ascii_case("TYPE") {
            let text = text_value(name, value)?;
            type_option = Some(TableKind::parse(&text)?);
        }
    }
    let kind = match (prefix_kind, type_option) {
        (Some(prefix), Some(typed)) if prefix != typed => {
            return Err(EngineError::invalid_parameter(format!(
                "CREATE {} TABLE contradicts TYPE = '{}'",
                prefix.as_str().to_uppercase(),
                typed.as_str().to_uppercase()
            )));
        }
        (Some(kind), _) | (None, Some(kind)) => kind,
        (None, None) => TableKind::Shared,
    };

    let mut options = TableOptions::default();
    let mut seen = std::collections::HashSet::new();
    for (name, value) in entries {
        let upper = name.to_ascii_uppercase();
        if !seen.insert(upper.clone()) {
            return Err(EngineError::invalid_parameter(format!("option {upper} is given twice")));
        }
        if upper == "TYPE" {
            continue;
        }
        if !TableKind::ALL.iter().any(|k| k.rules().options.contains(&upper.as_str())) {
            return Err(EngineError::invalid_parameter(format!("unknown table option {upper}")));
        }
        if !kind.rules().options.contains(&upper.as_str()) {
            return Err(EngineError::invalid_parameter(format!("option {upper} is not valid for {} tables", kind.as_str().to_uppercase())));
        }
        match upper.as_str() {
            "FLUSH_POLICY" => options.flush_policy = Some(FlushPolicy::parse(&text_value(&upper, value)?)?),
            "ACCESS_LEVEL" => options.access_level = Some(AccessLevel::parse(&text_value(&upper, value)?)?),
            "DELETED_RETENTION_HOURS" => {
                options.deleted_retention_hours = Some(count_value(&upper, value, DELETED_RETENTION_HOURS)?);
            }
            "TTL_SECONDS" => options.ttl_seconds = Some(count_value(&upper, value, TTL_SECONDS)?),
            "MAX_ROWS" => options.max_rows = Some(count_value(&upper, value, MAX_ROWS)?),
            "EPHEMERAL" => options.ephemeral = Some(bool_value(&upper, value)?),
            _ => return Err(EngineError::internal(format!("table option {upper} has no reader"))),
        }
    }
    if kind.rules().access_level && options.access_level.is_none() {
        options.access_level = Some(AccessLevel::Private);
    }
    Ok((kind, options))
}

fn text_value(name: &str, value: &OptionValue) -> Result<String> {
    match value {
        OptionValue::Text(text) => Ok(text.clone()),
        other => Err(EngineError::invalid_parameter(format!(
            "option {} takes a quoted string, not {}",
            name.to_ascii_uppercase(),
            other.describe()
        ))),
    }
}

/// A duration or count option, read under [`CountRange`]'s rule.
fn count_value(name: &str, value: &OptionValue, range: CountRange) -> Result<u64> {
    let text = match value {
        OptionValue::Number(n) | OptionValue::Text(n) => n.as_str(),
        OptionValue::Boolean(_) => "",
    };
    range.parse(text).map_err(|why| EngineError::invalid_parameter(format!("invalid value {} for option {name}: {why}", value.describe())))
}

fn bool_value(name: &str, value: &OptionValue) -> Result<bool> {
    match value {
        OptionValue::Boolean(b) => Ok(*b),
        OptionValue::Text(t) if t.eq_ignore_ascii_case("true") => Ok(true),
        OptionValue::Text(t) if t.eq_ignore_ascii_case("false") => Ok(false),
        other => Err(EngineError::invalid_parameter(format!("option {name} takes TRUE or FALSE, not {}", other.describe()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::SqlState;

    fn text(s: &str) -> OptionValue {
        OptionValue::Text(s.into())
    }

    #[test]
    fn flush_policies_parse_and_print() {
        let both = FlushPolicy::parse("rows:100, interval:30").unwrap();
        assert_eq!(both, FlushPolicy { rows: Some(100), interval_seconds: Some(30) });
        assert_eq!(both.to_string(), "rows:100,interval:30");
        assert_eq!(FlushPolicy::parse("interval:5").unwrap().to_string(), "interval:5");
        for bad in ["rows", "rows:0", "rows:x", "bytes:5", "rows:1,rows:2", ""] {
            assert!(FlushPolicy::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn kind_comes_from_prefix_or_type_and_defaults_to_shared() {
        assert_eq!(parse_table_options(None, &[]).unwrap().0, TableKind::Shared);
        assert_eq!(parse_table_options(None, &[("type".into(), text("user"))]).unwrap().0, TableKind::User);
        assert_eq!(parse_table_options(Some(TableKind::Stream), &[]).unwrap().0, TableKind::Stream);
        assert!(parse_table_options(Some(TableKind::User), &[("TYPE".into(), text("SHARED"))]).is_err());
    }

    #[test]
    fn options_are_checked_against_the_kind() {
        let err = parse_table_options(None, &[("TTL_SECONDS".into(), OptionValue::Number("5".into()))]).unwrap_err();
        assert!(err.message().contains("TTL_SECONDS"), "{err}");
        let err = parse_table_options(None, &[("COLOR".into(), text("red"))]).unwrap_err();
        assert!(err.message().contains("COLOR"), "{err}");
        let (_, options) = parse_table_options(
            None,
            &[("ACCESS_LEVEL".into(), text("public")), ("DELETED_RETENTION_HOURS".into(), OptionValue::Number("48".into()))],
        )
        .unwrap();
        assert_eq!(options.access_level, Some(AccessLevel::Public));
        assert_eq!(options.deleted_retention_hours, Some(48));
        let (_, stream) = parse_table_options(
            Some(TableKind::Stream),
            &[("EPHEMERAL".into(), OptionValue::Boolean(true)), ("MAX_ROWS".into(), OptionValue::Number("10".into()))],
        )
        .unwrap();
        assert_eq!(stream.ephemeral, Some(true));
        assert_eq!(stream.access_level, None);
    }

    #[test]
    fn counts_take_their_whole_range_and_refuse_the_rest() {
        let number = |n: &str| OptionValue::Number(n.to_string());
        for hours in ["0", "48", "9223372036854775808", "18446744073709551615"] {
            let (_, options) = parse_table_options(None, &[("DELETED_RETENTION_HOURS".into(), number(hours))]).unwrap();
            assert_eq!(options.deleted_retention_hours, Some(hours.parse::<u64>().unwrap()));
        }
        let huge = FlushPolicy::parse("rows:18446744073709551615,interval:18446744073709551615").unwrap();
        assert_eq!(huge, FlushPolicy { rows: Some(u64::MAX), interval_seconds: Some(u64::MAX) });
        let largest = usize::MAX.to_string();
        let (_, stream) = parse_table_options(
            Some(TableKind::Stream),
            &[("TTL_SECONDS".into(), number("3153600000")), ("MAX_ROWS".into(), number(largest.as_str()))],
        )
        .unwrap();
        assert_eq!((stream.ttl_seconds, stream.max_rows), (Some(MAX_TTL_SECONDS), Some(usize::MAX as u64)));

        let refused: [(Option<TableKind>, &str, &str); 9] = [
            (None, "DELETED_RETENTION_HOURS", "18446744073709551616"),
            (None, "DELETED_RETENTION_HOURS", "-1"),
            (None, "DELETED_RETENTION_HOURS", "1.5"),
            (Some(TableKind::Stream), "TTL_SECONDS", "0"),
            (Some(TableKind::Stream), "TTL_SECONDS", "3153600001"),
            (Some(TableKind::Stream), "TTL_SECONDS", "9223372036854775808"),
            (Some(TableKind::Stream), "TTL_SECONDS", "18446744073709551615"),
            (Some(TableKind::Stream), "MAX_ROWS", "0"),
            (Some(TableKind::Stream), "MAX_ROWS", "18446744073709551616"),
        ];
        for (kind, name, value) in refused {
            let err = parse_table_options(kind, &[(name.to_string(), number(value))]).unwrap_err();
            assert_eq!(err.sql_state(), SqlState::INVALID_PARAMETER_VALUE, "{name} = {value}");
            assert!(err.message().contains(name), "{err}");
        }
        for bad in ["rows:18446744073709551616", "interval:0", "interval:-5", "interval:1e3"] {
            assert_eq!(FlushPolicy::parse(bad).unwrap_err().sql_state(), SqlState::INVALID_PARAMETER_VALUE, "{bad}");
        }
    }

    #[test]
    fn spans_saturate_and_a_span_past_the_clock_never_passes() {
        let now = 1_704_067_200_000;
        assert_eq!(span_millis(2, MILLIS_PER_HOUR), 7_200_000);
        assert_eq!(span_millis(u64::MAX, MILLIS_PER_SECOND), i64::MAX);
        assert_eq!(span_millis(1u64 << 63, MILLIS_PER_HOUR), i64::MAX);
        assert_eq!(instant_before(now, 0, MILLIS_PER_HOUR), Some(now));
        assert_eq!(instant_before(now, 1, MILLIS_PER_HOUR), Some(now - 3_600_000));
        // 2^63 hours (once `as i64`, a cutoff in the future) and u64::MAX: never.
        assert_eq!(instant_before(now, 1u64 << 63, MILLIS_PER_HOUR), None);
        assert_eq!(instant_before(now, u64::MAX, MILLIS_PER_HOUR), None);
        assert_eq!(instant_before(i64::MIN + 5, 1, MILLIS_PER_SECOND), None);
        assert!(span_has_passed(now - 60_000, now, 60, MILLIS_PER_SECOND));
        assert!(!span_has_passed(now - 59_999, now, 60, MILLIS_PER_SECOND));
        assert!(!span_has_passed(now + 1, now, 1, MILLIS_PER_SECOND), "the clock went back");
        assert!(!span_has_passed(now, now + 100 * 365 * 86_400_000, u64::MAX, MILLIS_PER_SECOND));
        assert!(!span_has_passed(i64::MIN, i64::MAX, u64::MAX, MILLIS_PER_SECOND));
    }

    #[test]
    fn shared_tables_default_to_private() {
        let (_, options) = parse_table_options(None, &[]).unwrap();
        assert_eq!(options.access_level, Some(AccessLevel::Private));
    }
}

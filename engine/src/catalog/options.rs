//! Parsing and validation of `CREATE TABLE ... WITH (option = value, ...)`.
//!
//! Each option is checked against the table kind it is given for; an unknown option, a
//! value of the wrong form, or an option on the wrong kind is an error that names it.

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
            let number: u64 = value.trim().parse().map_err(|_| invalid("not a positive integer"))?;
            if number == 0 {
                return Err(invalid("must be greater than zero"));
            }
            let slot = match name.trim().to_ascii_lowercase().as_str() {
                "rows" => &mut policy.rows,
                "interval" => &mut policy.interval_seconds,
                _ => return Err(invalid("unknown trigger")),
            };
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
        let allowed: &[TableKind] = match upper.as_str() {
            "TYPE" => continue,
            "FLUSH_POLICY" | "DELETED_RETENTION_HOURS" => &[TableKind::Shared, TableKind::User],
            "ACCESS_LEVEL" => &[TableKind::Shared],
            "TTL_SECONDS" | "MAX_ROWS" | "EPHEMERAL" => &[TableKind::Stream],
            _ => {
                return Err(EngineError::invalid_parameter(format!("unknown table option {upper}")));
            }
        };
        if !allowed.contains(&kind) {
            return Err(EngineError::invalid_parameter(format!(
                "option {upper} is not valid for {} tables",
                kind.as_str().to_uppercase()
            )));
        }
        match upper.as_str() {
            "FLUSH_POLICY" => options.flush_policy = Some(FlushPolicy::parse(&text_value(&upper, value)?)?),
            "ACCESS_LEVEL" => options.access_level = Some(AccessLevel::parse(&text_value(&upper, value)?)?),
            "DELETED_RETENTION_HOURS" => options.deleted_retention_hours = Some(count_value(&upper, value)?),
            "TTL_SECONDS" => {
                let ttl = positive_value(&upper, value)?;
                if ttl > MAX_TTL_SECONDS {
                    return Err(EngineError::invalid_parameter(format!(
                        "option TTL_SECONDS = {ttl} is too large (at most {MAX_TTL_SECONDS}, about 100 years)"
                    )));
                }
                options.ttl_seconds = Some(ttl);
            }
            "MAX_ROWS" => options.max_rows = Some(positive_value(&upper, value)?),
            "EPHEMERAL" => options.ephemeral = Some(bool_value(&upper, value)?),
            _ => unreachable!("every option name is matched above"),
        }
    }
    if kind == TableKind::Shared && options.access_level.is_none() {
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

fn count_value(name: &str, value: &OptionValue) -> Result<u64> {
    let text = match value {
        OptionValue::Number(n) => n.clone(),
        OptionValue::Text(t) => t.clone(),
        OptionValue::Boolean(_) => String::new(),
    };
    text.trim().parse::<u64>().map_err(|_| {
        EngineError::invalid_parameter(format!(
            "option {name} takes a non-negative integer, not {}",
            value.describe()
        ))
    })
}

fn positive_value(name: &str, value: &OptionValue) -> Result<u64> {
    let n = count_value(name, value)?;
    if n == 0 {
        return Err(EngineError::invalid_parameter(format!("option {name} must be greater than zero")));
    }
    Ok(n)
}

fn bool_value(name: &str, value: &OptionValue) -> Result<bool> {
    match value {
        OptionValue::Boolean(b) => Ok(*b),
        OptionValue::Text(t) if t.eq_ignore_ascii_case("true") => Ok(true),
        OptionValue::Text(t) if t.eq_ignore_ascii_case("false") => Ok(false),
        other => Err(EngineError::invalid_parameter(format!(
            "option {name} takes TRUE or FALSE, not {}",
            other.describe()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn shared_tables_default_to_private() {
        let (_, options) = parse_table_options(None, &[]).unwrap();
        assert_eq!(options.access_level, Some(AccessLevel::Private));
    }
}

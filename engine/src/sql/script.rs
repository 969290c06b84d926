//! Statement texts and their `$n` parameters.
//!
//! [`parse_script`] splits SQL text into its statements, each parsed and with its own
//! text (the simple path recognises statements by their text). A statement may take
//! PostgreSQL-style parameters `$1`, `$2`, ...; [`bind`] writes values into its text as
//! SQL literals, token by token (never by string search, so a `$1` inside a string or a
//! comment stays as written), and the bound text is parsed and planned like any other.
//! Every value has a literal of its own type: integers, decimal floats and strings as
//! plain literals (which the simple path takes), binary as `X'..'`, anything else as
//! `arrow_cast('text', 'Type')`.

use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::sql::sqlparser::dialect::Dialect;
use datafusion::sql::sqlparser::tokenizer::{Location, Token, TokenWithSpan, Tokenizer};

use crate::error::{EngineError, Result, SqlState};
use crate::sql::parser::{EngineStatement, parse_statements};

/// One statement of a script: parsed, with its own text and how many parameters it takes.
#[derive(Debug, Clone)]
pub struct StatementText {
    pub statement: EngineStatement,
    pub text: String,
    /// The highest `$n` the statement names (0: none).
    pub parameters: usize,
}

/// Parses every statement of `sql`; a syntax error anywhere fails the whole text.
pub fn parse_script(sql: &str, dialect: &dyn Dialect) -> Result<Vec<StatementText>> {
    let statements = parse_statements(sql, dialect)?;
    let tokens = tokenize(sql, dialect)?;
    let lines = LineStarts::new(sql);
    let mut texts = Vec::with_capacity(statements.len());
    let mut start: Option<usize> = None;
    let mut parameters = 0;
    for token in tokens.iter().chain(std::iter::once(&end_token())) {
        let at_end = matches!(token.token, Token::SemiColon | Token::EOF);
        if at_end {
            if let Some(first) = start.take() {
                let end = if token.token == Token::EOF { sql.len() } else { lines.offset(sql, token.span.start) };
                texts.push((sql[first..end].trim().to_string(), std::mem::take(&mut parameters)));
            }
            continue;
        }
        if !matches!(token.token, Token::Whitespace(_)) && start.is_none() {
            start = Some(lines.offset(sql, token.span.start));
        }
        if let Token::Placeholder(name) = &token.token {
            parameters = parameters.max(parameter_number(name)?);
        }
    }
    if texts.len() != statements.len() {
        return Err(EngineError::internal(format!("{} statements parsed from {} statement texts", statements.len(), texts.len())));
    }
    Ok(statements.into_iter().zip(texts).map(|(statement, (text, parameters))| StatementText { statement, text, parameters }).collect())
}

/// `text` with each `$n` replaced by the literal of `values[n - 1]`.
pub fn bind(text: &str, dialect: &dyn Dialect, values: &[ScalarValue]) -> Result<String> {
    let tokens = tokenize(text, dialect)?;
    let lines = LineStarts::new(text);
    let mut bound = String::with_capacity(text.len() + 16 * values.len());
    let mut copied_to = 0;
    for token in &tokens {
        let Token::Placeholder(name) = &token.token else { continue };
        let number = parameter_number(name)?;
        let value = values
            .get(number - 1)
            .ok_or_else(|| EngineError::new(SqlState::UNDEFINED_PARAMETER, format!("there is no value for parameter ${number}")))?;
        let start = lines.offset(text, token.span.start);
        bound.push_str(&text[copied_to..start]);
        let literal = literal(value, dialect)?;
        // `x - $1` with a negative value must not become the comment `x --1`.
        if literal.starts_with('-') && bound.ends_with('-') {
            bound.push(' ');
        }
        bound.push_str(&literal);
        copied_to = start + name.len();
    }
    bound.push_str(&text[copied_to..]);
    Ok(bound)
}

/// The number of a `$n` placeholder; any other placeholder style is refused.
fn parameter_number(name: &str) -> Result<usize> {
    name.strip_prefix('$')
        .and_then(|n| n.parse::<usize>().ok())
        .filter(|n| (1..=65_535).contains(n))
        .ok_or_else(|| EngineError::syntax(format!("parameter {name} is not supported: parameters are written $1, $2, ... (up to $65535)")))
}

/// The SQL literal of a value, of the value's own type.
pub fn literal(value: &ScalarValue, dialect: &dyn Dialect) -> Result<String> {
    if value.is_null() {
        return Ok("NULL".into());
    }
    let text = match value {
        ScalarValue::Boolean(Some(b)) => if *b { "TRUE" } else { "FALSE" }.to_string(),
        ScalarValue::Int8(Some(_))
        | ScalarValue::Int16(Some(_))
        | ScalarValue::Int32(Some(_))
        | ScalarValue::Int64(Some(_))
        | ScalarValue::UInt8(Some(_))
        | ScalarValue::UInt16(Some(_))
        | ScalarValue::UInt32(Some(_))
        | ScalarValue::UInt64(Some(_))
            if *value != ScalarValue::Int64(Some(i64::MIN)) =>
        {
            value.to_string()
        }
        ScalarValue::Float64(Some(f)) if f.is_finite() => float_literal(*f),
        ScalarValue::Float32(Some(f)) if f.is_finite() => float_literal(f64::from(*f)),
        ScalarValue::Utf8(Some(s)) | ScalarValue::LargeUtf8(Some(s)) | ScalarValue::Utf8View(Some(s)) => string_literal(s, dialect),
        ScalarValue::Binary(Some(bytes)) | ScalarValue::LargeBinary(Some(bytes)) | ScalarValue::BinaryView(Some(bytes)) => {
            format!("X'{}'", bytes.iter().map(|b| format!("{b:02X}")).collect::<String>())
        }
        other => {
            let text = other.cast_to(&DataType::Utf8).map_err(EngineError::from)?;
            let ScalarValue::Utf8(Some(text)) = text else {
                return Err(EngineError::internal(format!("a {} value has no text", other.data_type())));
            };
            format!("arrow_cast({}, '{}')", string_literal(&text, dialect), other.data_type())
        }
    };
    Ok(text)
}

/// A float's shortest exact decimal text (`1.5`, `1e300`): it reads back as the same
/// DOUBLE.
fn float_literal(value: f64) -> String {
    let text = format!("{value:?}");
    if text.contains(['.', 'e']) { text } else { format!("{text}.0") }
}

fn string_literal(text: &str, dialect: &dyn Dialect) -> String {
    let mut escaped = text.replace('\'', "''");
    if dialect.supports_string_literal_backslash_escape() {
        escaped = escaped.replace('\\', "\\\\");
    }
    format!("'{escaped}'")
}

fn tokenize(sql: &str, dialect: &dyn Dialect) -> Result<Vec<TokenWithSpan>> {
    Tokenizer::new(dialect, sql).tokenize_with_location().map_err(|e| EngineError::syntax(format!("SQL syntax error: {e}")))
}

fn end_token() -> TokenWithSpan {
    TokenWithSpan::wrap(Token::EOF)
}

/// Byte offsets of line starts, to turn the tokenizer's (line, column) into offsets.
struct LineStarts(Vec<usize>);

impl LineStarts {
    fn new(text: &str) -> LineStarts {
        LineStarts(std::iter::once(0).chain(text.match_indices('\n').map(|(at, _)| at + 1)).collect())
    }

    /// The byte offset of a location (line and column count from 1; columns in characters).
    fn offset(&self, text: &str, location: Location) -> usize {
        let line_start = self.0.get((location.line as usize).saturating_sub(1)).copied().unwrap_or(text.len());
        let column = (location.column as usize).saturating_sub(1);
        text[line_start..].char_indices().nth(column).map_or(text.len(), |(at, _)| line_start + at)
    }
}

#[cfg(test)]
mod tests {
    use datafusion::sql::sqlparser::dialect::GenericDialect;

    use super::*;

    #[test]
    fn scripts_split_into_statement_texts_with_their_parameters() {
        let texts = parse_script("SELECT 1;\n  INSERT INTO t VALUES ($2, 'a;$9') ; SELECT 'é', $1", &GenericDialect {}).unwrap();
        let got: Vec<(&str, usize)> = texts.iter().map(|t| (t.text.as_str(), t.parameters)).collect();
        assert_eq!(got, vec![("SELECT 1", 0), ("INSERT INTO t VALUES ($2, 'a;$9')", 2), ("SELECT 'é', $1", 1)]);
    }

    #[test]
    fn binding_writes_literals_of_each_type_and_leaves_strings_alone() {
        let dialect = GenericDialect {};
        let values = [ScalarValue::Int64(Some(-5)), ScalarValue::Utf8(Some("it's".into())), ScalarValue::Float64(Some(2.0))];
        let bound = bind("SELECT x -$1, '$1', $2, $3 -- $1", &dialect, &values).unwrap();
        assert_eq!(bound, "SELECT x - -5, '$1', 'it''s', 2.0 -- $1");
        let missing = bind("SELECT $4", &dialect, &values).unwrap_err();
        assert_eq!(missing.sql_state(), SqlState::UNDEFINED_PARAMETER);
        assert_eq!(literal(&ScalarValue::Date32(Some(0)), &dialect).unwrap(), "arrow_cast('1970-01-01', 'Date32')");
        assert_eq!(literal(&ScalarValue::Binary(Some(vec![1, 255])), &dialect).unwrap(), "X'01FF'");
        assert_eq!(literal(&ScalarValue::Int32(None), &dialect).unwrap(), "NULL");
    }
}

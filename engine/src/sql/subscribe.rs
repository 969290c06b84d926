//! `SUBSCRIBE TO` and `KILL LIVE QUERY`: what a subscription asks for, and its parsing.

use datafusion::sql::sqlparser::dialect::Dialect;
use datafusion::sql::sqlparser::parser::Parser;
use datafusion::sql::sqlparser::tokenizer::{Token, TokenWithSpan};

use crate::error::{EngineError, Result};
use crate::sql::parser::{EngineStatement, ObjectRef, is_significant};
use crate::sql::words::Words;

/// What a subscription asks for (SQL `SUBSCRIBE TO`, or the embedding API).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscribeRequest {
    pub table: ObjectRef,
    /// The WHERE predicate, as SQL text over the table's columns.
    pub predicate: Option<String>,
    /// Start after this `_seq` (resume): the rows changed since, then every change.
    pub from_seq: Option<u64>,
    /// Start with only the newest N matching rows.
    pub last_rows: Option<u64>,
}

impl std::fmt::Display for SubscribeRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SUBSCRIBE TO {}", self.table)?;
        if let Some(predicate) = &self.predicate {
            write!(f, " WHERE {predicate}")?;
        }
        let options: Vec<String> = [("from_seq", self.from_seq), ("last_rows", self.last_rows)]
            .into_iter()
            .filter_map(|(name, value)| value.map(|v| format!("{name} = {v}")))
            .collect();
        if !options.is_empty() {
            write!(f, " OPTIONS ({})", options.join(", "))?;
        }
        Ok(())
    }
}

/// `SUBSCRIBE TO [ns.]t [WHERE predicate] [OPTIONS (from_seq = N, last_rows = N)]`.
pub(crate) fn parse_subscribe(tokens: Vec<TokenWithSpan>, dialect: &dyn Dialect) -> Result<EngineStatement> {
    let significant: Vec<TokenWithSpan> = tokens.into_iter().filter(|t| is_significant(&t.token)).collect();
    let mut words = Words::new(significant.clone());
    words.expect_keyword("SUBSCRIBE")?;
    words.expect_keyword("TO")?;
    let table = words.object_ref()?;
    // OPTIONS (...) closes the statement; the predicate is everything between.
    let mut options_at = significant.len();
    let mut depth = 0i32;
    for (index, token) in significant.iter().enumerate().skip(words.at) {
        match &token.token {
            Token::LParen => depth += 1,
            Token::RParen => depth -= 1,
            Token::Word(w)
                if depth == 0
                    && w.quote_style.is_none()
                    && w.value.eq_ignore_ascii_case("OPTIONS")
                    && significant.get(index + 1).map(|t| &t.token) == Some(&Token::LParen) =>
            {
                options_at = index;
            }
            _ => {}
        }
    }
    let mut predicate = None;
    if words.keyword("WHERE") {
        let expression = significant[words.at..options_at].to_vec();
        if expression.is_empty() {
            return Err(EngineError::syntax("SQL syntax error: SUBSCRIBE ... WHERE needs a predicate"));
        }
        let mut parser = Parser::new(dialect).with_tokens_with_locations(expression);
        let expr = parser.parse_expr().map_err(|e| EngineError::syntax(format!("SQL syntax error: {e}")))?;
        if parser.peek_token().token != Token::EOF {
            return Err(EngineError::syntax(format!(
                "SQL syntax error: unexpected {} in the SUBSCRIBE predicate",
                parser.peek_token().token
            )));
        }
        predicate = Some(expr.to_string());
        words.at = options_at;
    }
    let (mut from_seq, mut last_rows) = (None, None);
    if words.keyword("OPTIONS") {
        words.expect_token(Token::LParen, "(")?;
        loop {
            let name = words.identifier()?;
            words.optional_equals();
            let value = words.count(&name)?;
            let slot = match name.as_str() {
                "from_seq" => &mut from_seq,
                "last_rows" => &mut last_rows,
                other => {
                    return Err(EngineError::invalid_parameter(format!(
                        "unknown subscription option {other}: expected from_seq or last_rows"
                    )));
                }
            };
            if slot.replace(value).is_some() {
                return Err(EngineError::invalid_parameter(format!("subscription option {name} is given twice")));
            }
            if !words.take_token(&Token::Comma) {
                break;
            }
        }
        words.expect_token(Token::RParen, ")")?;
    }
    words.end()?;
    Ok(EngineStatement::Subscribe(SubscribeRequest { table, predicate, from_seq, last_rows }))
}

/// `KILL LIVE QUERY 'id'`.
pub(crate) fn parse_kill(tokens: Vec<TokenWithSpan>) -> Result<EngineStatement> {
    let mut words = Words::new(tokens);
    words.expect_keyword("KILL")?;
    words.expect_keyword("LIVE")?;
    words.expect_keyword("QUERY")?;
    let live_id = words.string("a live query id in single quotes")?;
    words.end()?;
    Ok(EngineStatement::KillLiveQuery { live_id })
}

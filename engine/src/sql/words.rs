//! A cursor over the significant tokens of an engine-only statement: keywords, names,
//! string and number literals, with errors that say what was expected.

use datafusion::sql::sqlparser::tokenizer::{Token, TokenWithSpan};

use crate::error::{EngineError, Result};
use crate::passwords::Secret;
use crate::sql::parser::{ObjectRef, fold_identifier, is_significant};

/// A cursor over the significant tokens of an engine-only statement.
pub(crate) struct Words {
    pub(crate) tokens: Vec<Token>,
    pub(crate) at: usize,
}

impl Words {
    pub(crate) fn new(tokens: Vec<TokenWithSpan>) -> Self {
        Words { tokens: tokens.into_iter().map(|t| t.token).filter(is_significant).collect(), at: 0 }
    }

    /// A string literal.
    pub(crate) fn string(&mut self, what: &str) -> Result<String> {
        match self.tokens.get(self.at) {
            Some(Token::SingleQuotedString(value)) => {
                self.at += 1;
                Ok(value.clone())
            }
            _ => Err(self.unexpected(what)),
        }
    }

    /// A password: a string literal. The error for anything else does not repeat what was
    /// written there (it may be the password, unquoted).
    pub(crate) fn password(&mut self) -> Result<Secret> {
        self.string("a password")
            .map(Secret::new)
            .map_err(|_| EngineError::syntax("SQL syntax error: a password must be a string literal in single quotes"))
    }

    /// A user name: a string literal (case-sensitive, as written) or an identifier.
    pub(crate) fn user_name(&mut self) -> Result<String> {
        match self.tokens.get(self.at) {
            Some(Token::SingleQuotedString(_)) => self.string("a user name"),
            Some(Token::Word(_)) => self.identifier(),
            _ => Err(self.unexpected("a user name")),
        }
    }

    pub(crate) fn optional_keyword_pair(&mut self, first: &str, second: &str) -> Result<bool> {
        if self.keyword(first) {
            self.expect_keyword(second)?;
            return Ok(true);
        }
        Ok(false)
    }

    /// Skips an optional `=`.
    pub(crate) fn optional_equals(&mut self) {
        if self.tokens.get(self.at) == Some(&Token::Eq) {
            self.at += 1;
        }
    }

    pub(crate) fn peek_keyword(&self, keyword: &str) -> bool {
        matches!(self.tokens.get(self.at), Some(Token::Word(w)) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(keyword))
    }

    pub(crate) fn keyword(&mut self, keyword: &str) -> bool {
        let found = self.peek_keyword(keyword);
        if found {
            self.at += 1;
        }
        found
    }

    pub(crate) fn expect_keyword(&mut self, keyword: &str) -> Result<()> {
        if self.keyword(keyword) { Ok(()) } else { Err(self.unexpected(keyword)) }
    }

    pub(crate) fn identifier(&mut self) -> Result<String> {
        match self.tokens.get(self.at) {
            Some(Token::Word(w)) => {
                self.at += 1;
                Ok(fold_identifier(&w.value, w.quote_style.is_some()))
            }
            _ => Err(self.unexpected("a name")),
        }
    }

    /// `name` or `namespace.name`.
    pub(crate) fn object_ref(&mut self) -> Result<ObjectRef> {
        let first = self.identifier()?;
        if self.take_token(&Token::Period) {
            return Ok(ObjectRef { namespace: Some(first), name: self.identifier()? });
        }
        Ok(ObjectRef { namespace: None, name: first })
    }

    pub(crate) fn take_token(&mut self, token: &Token) -> bool {
        let found = self.tokens.get(self.at) == Some(token);
        if found {
            self.at += 1;
        }
        found
    }

    pub(crate) fn expect_token(&mut self, token: Token, what: &str) -> Result<()> {
        if self.take_token(&token) { Ok(()) } else { Err(self.unexpected(what)) }
    }

    /// A non-negative integer literal (the value of option `name`).
    pub(crate) fn count(&mut self, name: &str) -> Result<u64> {
        match self.tokens.get(self.at) {
            Some(Token::Number(text, _)) => {
                let value = text.parse().map_err(|_| {
                    EngineError::invalid_parameter(format!("invalid value {text} for {name}: expected a non-negative integer"))
                })?;
                self.at += 1;
                Ok(value)
            }
            _ => Err(self.unexpected(&format!("a non-negative integer for {name}"))),
        }
    }

    pub(crate) fn end(&self) -> Result<()> {
        match self.tokens.get(self.at) {
            None => Ok(()),
            Some(_) => Err(self.unexpected("the end of the statement")),
        }
    }

    pub(crate) fn unexpected(&self, expected: &str) -> EngineError {
        let found = self.tokens.get(self.at).map(|t| t.to_string()).unwrap_or_else(|| "end of input".into());
        EngineError::syntax(format!("SQL syntax error: expected {expected}, found {found}"))
    }
}

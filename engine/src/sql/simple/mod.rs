//! Recognises the simple statements the engine runs without DataFusion's planner.
//!
//! Four shapes, written exactly so (keywords in any case, one statement, an optional
//! trailing `;`):
//!
//! - `INSERT INTO t [(c, ...)] VALUES (v, ...)[, (v, ...) ...]`
//! - `SELECT * | c, ... FROM t WHERE k = v [AND k2 = v2 ...]`
//! - `DELETE FROM t WHERE k = v [AND k2 = v2 ...]`
//! - `UPDATE t SET c = <expression>, ... WHERE k = v [AND k2 = v2 ...]`, each expression
//!   the text up to the next comma or `WHERE` outside parentheses (DataFusion parses and
//!   plans it: `exec::simple`)
//!
//! where `t` is `name` or `namespace.name`, and every `v` is a literal: an integer, a
//! decimal number (`1.5`), either with a leading `-`; a `'string'` (with `''` for a quote);
//! `TRUE`, `FALSE` or `NULL`. Literals get the types DataFusion's SQL planner gives them
//! (BIGINT, DOUBLE, TEXT, BOOLEAN, untyped NULL).
//!
//! The recognizer is strict on purpose and never fails: anything outside these shapes
//! (comments, expressions, casts, typed strings, backslashes in strings, numbers with
//! exponents, keywords that the SQL parser gives a meaning of their own) yields `None`, and
//! the statement goes through the full parser and planner, which also produces every error.

use std::borrow::Cow;

use crate::sql::parser::{ObjectRef, fold_identifier};

mod lexer;
#[cfg(test)]
mod tests;

use lexer::{Lexer, NOT_A_NAME, Token};

/// A literal value as written.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal<'a> {
    Null,
    Boolean(bool),
    Int(i64),
    Float(f64),
    Text(Cow<'a, str>),
}

/// `column = literal`, one conjunct of a WHERE clause.
pub type Equality<'a> = (String, Literal<'a>);

/// A recognised statement.
#[derive(Debug, Clone, PartialEq)]
pub enum SimpleStatement<'a> {
    /// `values` holds the rows one after the other, `width` literals each.
    Insert {
        table: ObjectRef,
        columns: Option<Vec<String>>,
        width: usize,
        values: Vec<Literal<'a>>,
    },
    /// `columns` is `None` for `*`.
    Select {
        table: ObjectRef,
        columns: Option<Vec<String>>,
        filter: Vec<Equality<'a>>,
    },
    Delete {
        table: ObjectRef,
        filter: Vec<Equality<'a>>,
    },
    /// Each assignment pairs its target column, as written (DataFusion matches UPDATE
    /// targets without folding their case), with its expression's text, which DataFusion
    /// parses and plans.
    Update {
        table: ObjectRef,
        assignments: Vec<(Cow<'a, str>, &'a str)>,
        filter: Vec<Equality<'a>>,
    },
}

/// Recognises `sql` as one simple statement, or returns `None`.
pub fn recognize(sql: &str) -> Option<SimpleStatement<'_>> {
    let mut parser = Parser { lexer: Lexer { text: sql, at: 0 }, peeked: None };
    let statement = match parser.next()? {
        Token::Word(w) if w.eq_ignore_ascii_case("INSERT") => parser.insert()?,
        Token::Word(w) if w.eq_ignore_ascii_case("SELECT") => parser.select()?,
        Token::Word(w) if w.eq_ignore_ascii_case("DELETE") => parser.delete()?,
        Token::Word(w) if w.eq_ignore_ascii_case("UPDATE") => parser.update()?,
        _ => return None,
    };
    if parser.peek()? == &Token::Semicolon {
        parser.next()?;
    }
    (parser.next()? == Token::End).then_some(statement)
}

struct Parser<'a> {
    lexer: Lexer<'a>,
    peeked: Option<Token<'a>>,
}

impl<'a> Parser<'a> {
    fn next(&mut self) -> Option<Token<'a>> {
        match self.peeked.take() {
            Some(token) => Some(token),
            None => self.lexer.next(),
        }
    }

    fn peek(&mut self) -> Option<&Token<'a>> {
        if self.peeked.is_none() {
            self.peeked = Some(self.lexer.next()?);
        }
        self.peeked.as_ref()
    }

    fn keyword(&mut self, keyword: &str) -> Option<()> {
        match self.next()? {
            Token::Word(w) if w.eq_ignore_ascii_case(keyword) => Some(()),
            _ => None,
        }
    }

    fn punct(&mut self, expected: Token<'static>) -> Option<()> {
        (self.next()? == expected).then_some(())
    }

    /// A name: unquoted words are lower-cased, quoted ones kept as written.
    fn name(&mut self) -> Option<String> {
        match self.next()? {
            Token::Word(w) if !NOT_A_NAME.iter().any(|k| k.eq_ignore_ascii_case(w)) => Some(fold_identifier(w, false)),
            Token::Quoted(name) => Some(name.into_owned()),
            _ => None,
        }
    }

    fn table(&mut self) -> Option<ObjectRef> {
        let first = self.name()?;
        if self.peek()? != &Token::Dot {
            return Some(ObjectRef { namespace: None, name: first });
        }
        self.next()?;
        let name = self.name()?;
        Some(ObjectRef { namespace: Some(first), name })
    }

    fn literal(&mut self) -> Option<Literal<'a>> {
        Some(match self.next()? {
            Token::Number(digits) => lexed_number(digits, false)?,
            Token::Minus => match self.next()? {
                Token::Number(digits) => lexed_number(digits, true)?,
                _ => return None,
            },
            Token::Text(text) => Literal::Text(text),
            Token::Word(w) if w.eq_ignore_ascii_case("NULL") => Literal::Null,
            Token::Word(w) if w.eq_ignore_ascii_case("TRUE") => Literal::Boolean(true),
            Token::Word(w) if w.eq_ignore_ascii_case("FALSE") => Literal::Boolean(false),
            _ => return None,
        })
    }

    /// After `INSERT`.
    fn insert(&mut self) -> Option<SimpleStatement<'a>> {
        self.keyword("INTO")?;
        // Words the parser reads as part of `INSERT INTO` itself, not as a table name.
        if let Some(Token::Word(w)) = self.peek()
            && ["LOCAL", "DIRECTORY", "FUNCTION"].iter().any(|k| k.eq_ignore_ascii_case(w))
        {
            return None;
        }
        let table = self.table()?;
        let columns = if self.peek()? == &Token::LeftParen {
            self.next()?;
            let mut columns = vec![self.name()?];
            loop {
                match self.next()? {
                    Token::Comma => columns.push(self.name()?),
                    Token::RightParen => break,
                    _ => return None,
                }
            }
            Some(columns)
        } else {
            None
        };
        self.keyword("VALUES")?;
        // A literal and its separator take at least two bytes; most take eight or more.
        let mut values = Vec::with_capacity(self.lexer.text.len() / 8);
        let mut width = None;
        loop {
            self.punct(Token::LeftParen)?;
            let row_start = values.len();
            values.push(self.literal()?);
            loop {
                match self.next()? {
                    Token::Comma => values.push(self.literal()?),
                    Token::RightParen => break,
                    _ => return None,
                }
            }
            let row_width = values.len() - row_start;
            if *width.get_or_insert(row_width) != row_width {
                return None;
            }
            if self.peek()? != &Token::Comma {
                break;
            }
            self.next()?;
        }
        Some(SimpleStatement::Insert { table, columns, width: width?, values })
    }

    /// After `SELECT`.
    fn select(&mut self) -> Option<SimpleStatement<'a>> {
        let columns = if self.peek()? == &Token::Star {
            self.next()?;
            self.keyword("FROM")?;
            None
        } else {
            let mut columns = vec![self.name()?];
            loop {
                match self.next()? {
                    Token::Comma => columns.push(self.name()?),
                    Token::Word(w) if w.eq_ignore_ascii_case("FROM") => break,
                    _ => return None,
                }
            }
            Some(columns)
        };
        let table = self.table()?;
        let filter = self.filter()?;
        Some(SimpleStatement::Select { table, columns, filter })
    }

    /// After `DELETE`.
    fn delete(&mut self) -> Option<SimpleStatement<'a>> {
        self.keyword("FROM")?;
        let table = self.table()?;
        let filter = self.filter()?;
        Some(SimpleStatement::Delete { table, filter })
    }

    /// After `UPDATE`: `t SET c = <expression>, ... WHERE k = v [AND ...]`. An expression
    /// runs to the next comma or `WHERE` outside parentheses.
    fn update(&mut self) -> Option<SimpleStatement<'a>> {
        let table = self.table()?;
        self.keyword("SET")?;
        let mut assignments: Vec<(Cow<'a, str>, &'a str)> = Vec::new();
        loop {
            let column = match self.next()? {
                Token::Word(w) if !NOT_A_NAME.iter().any(|k| k.eq_ignore_ascii_case(w)) => Cow::Borrowed(w),
                Token::Quoted(name) => name,
                _ => return None,
            };
            if assignments.iter().any(|(c, _)| *c == column) {
                return None;
            }
            self.punct(Token::Equals)?;
            // Nothing is peeked after `=`: the lexer stands right after it.
            let start = self.lexer.at;
            let mut depth = 0usize;
            let (end, last) = loop {
                let before = self.lexer.at;
                match self.lexer.next()? {
                    Token::LeftParen => depth += 1,
                    Token::RightParen => depth = depth.checked_sub(1)?,
                    Token::Comma if depth == 0 => break (before, Token::Comma),
                    Token::Word(w) if depth == 0 && w.eq_ignore_ascii_case("WHERE") => break (before, Token::Word(w)),
                    Token::End | Token::Semicolon => return None,
                    // Clauses of UPDATE itself, not of an expression (anything else that
                    // is not an expression fails DataFusion's parse of the text).
                    Token::Word(w) if depth == 0 && ["FROM", "RETURNING"].iter().any(|k| k.eq_ignore_ascii_case(w)) => return None,
                    _ => {}
                }
            };
            let expression = self.lexer.text[start..end].trim();
            if expression.is_empty() {
                return None;
            }
            assignments.push((column, expression));
            if last != Token::Comma {
                self.peeked = Some(last);
                break;
            }
        }
        let filter = self.filter()?;
        Some(SimpleStatement::Update { table, assignments, filter })
    }

    /// `WHERE c = v [AND c = v ...]`.
    fn filter(&mut self) -> Option<Vec<Equality<'a>>> {
        self.keyword("WHERE")?;
        let mut filter = Vec::new();
        loop {
            let column = self.name()?;
            self.punct(Token::Equals)?;
            filter.push((column, self.literal()?));
            match self.peek()? {
                Token::Word(w) if w.eq_ignore_ascii_case("AND") => {
                    self.next()?;
                }
                _ => return Some(filter),
            }
        }
    }
}

/// A number the lexer read (digits with an optional `.digits`), typed as DataFusion's
/// planner types it: BIGINT, or DOUBLE with a fraction.
fn lexed_number(digits: &str, negative: bool) -> Option<Literal<'static>> {
    // Short integers directly, in one pass (the common case in bulk VALUES).
    if digits.len() <= 18 {
        let mut magnitude = 0i64;
        for byte in digits.bytes() {
            if byte == b'.' {
                return parsed_number(digits, negative);
            }
            magnitude = magnitude * 10 + i64::from(byte - b'0');
        }
        return Some(Literal::Int(if negative { -magnitude } else { magnitude }));
    }
    parsed_number(digits, negative)
}

/// A number as Rust parses it: DOUBLE with a fraction, BIGINT without.
fn parsed_number(digits: &str, negative: bool) -> Option<Literal<'static>> {
    let signed: Cow<str> = if negative { Cow::Owned(format!("-{digits}")) } else { Cow::Borrowed(digits) };
    if digits.contains('.') {
        signed.parse::<f64>().ok().map(Literal::Float)
    } else {
        // Integers beyond BIGINT become UNSIGNED or DOUBLE in DataFusion: not in the subset.
        signed.parse::<i64>().ok().map(Literal::Int)
    }
}

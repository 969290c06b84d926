//! Recognises the simple statements the engine runs without DataFusion's planner.
//!
//! Three shapes, written exactly so (keywords in any case, one statement, an optional
//! trailing `;`):
//!
//! - `INSERT INTO t [(c, ...)] VALUES (v, ...)[, (v, ...) ...]`
//! - `SELECT * | c, ... FROM t WHERE k = v [AND k2 = v2 ...]`
//! - `DELETE FROM t WHERE k = v [AND k2 = v2 ...]`
//!
//! where `t` is `name` or `namespace.name`, and every `v` is a literal: an integer, a
//! decimal number (`1.5`), either with a leading `-`; a `'string'` (with `''` for a quote);
//! `TRUE`, `FALSE` or `NULL`. Literals get the types DataFusion's SQL planner gives them
//! (BIGINT, DOUBLE, TEXT, BOOLEAN, untyped NULL).
//!
//! UPDATE statements are recognised from the parsed AST instead (`sql::simple_update`).
//!
//! The recognizer is strict on purpose and never fails: anything outside these shapes
//! (comments, expressions, casts, typed strings, backslashes in strings, numbers with
//! exponents, keywords that the SQL parser gives a meaning of their own) yields `None`, and
//! the statement goes through the full parser and planner, which also produces every error.

use std::borrow::Cow;

use crate::sql::parser::{ObjectRef, fold_identifier};

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
}

/// Recognises `sql` as one simple statement, or returns `None`.
pub fn recognize(sql: &str) -> Option<SimpleStatement<'_>> {
    let mut parser = Parser { lexer: Lexer { text: sql, at: 0 }, peeked: None };
    let statement = match parser.next()? {
        Token::Word(w) if w.eq_ignore_ascii_case("INSERT") => parser.insert()?,
        Token::Word(w) if w.eq_ignore_ascii_case("SELECT") => parser.select()?,
        Token::Word(w) if w.eq_ignore_ascii_case("DELETE") => parser.delete()?,
        _ => return None,
    };
    if parser.peek()? == &Token::Semicolon {
        parser.next()?;
    }
    (parser.next()? == Token::End).then_some(statement)
}

#[derive(Debug, Clone, PartialEq)]
enum Token<'a> {
    /// An unquoted word, as written.
    Word(&'a str),
    /// A double-quoted identifier, unescaped.
    Quoted(Cow<'a, str>),
    /// Digits with an optional fraction, as written.
    Number(&'a str),
    Text(Cow<'a, str>),
    LeftParen,
    RightParen,
    Comma,
    Dot,
    Semicolon,
    Equals,
    Star,
    Minus,
    End,
}

struct Lexer<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Lexer<'a> {
    fn byte(&self, at: usize) -> Option<u8> {
        self.text.as_bytes().get(at).copied()
    }

    /// The next token, or `None` for anything outside the recognised subset.
    fn next(&mut self) -> Option<Token<'a>> {
        while matches!(self.byte(self.at), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
        let Some(first) = self.byte(self.at) else { return Some(Token::End) };
        let start = self.at;
        self.at += 1;
        let token = match first {
            b'(' => Token::LeftParen,
            b')' => Token::RightParen,
            b',' => Token::Comma,
            b'.' => Token::Dot,
            b';' => Token::Semicolon,
            b'=' => Token::Equals,
            b'*' => Token::Star,
            // `--` starts a comment.
            b'-' if self.byte(self.at) != Some(b'-') => Token::Minus,
            b'0'..=b'9' => {
                self.skip_digits();
                if self.byte(self.at) == Some(b'.') {
                    self.at += 1;
                    let fraction = self.at;
                    self.skip_digits();
                    if self.at == fraction {
                        return None;
                    }
                }
                // `1e5`, `1_000`, `1.2.3`, `12abc`: not in the subset.
                if matches!(self.byte(self.at), Some(b) if b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || !b.is_ascii()) {
                    return None;
                }
                Token::Number(&self.text[start..self.at])
            }
            b'\'' => Token::Text(self.quoted(b'\'')?),
            b'"' => {
                let name = self.quoted(b'"')?;
                if name.is_empty() {
                    return None;
                }
                Token::Quoted(name)
            }
            // Words as DataFusion's (generic) dialect reads them: a letter (any script) or
            // `_`, then letters, ASCII digits and `_`.
            b if b.is_ascii_alphabetic() || b == b'_' || !b.is_ascii() => {
                self.at = start;
                let mut chars = self.text[start..].char_indices();
                match chars.next() {
                    Some((_, c)) if c.is_alphabetic() || c == '_' => {}
                    _ => return None,
                }
                let end = chars
                    .find(|(_, c)| !(c.is_alphabetic() || c.is_ascii_digit() || *c == '_'))
                    .map_or(self.text.len(), |(offset, _)| start + offset);
                self.at = end;
                // Characters some dialects allow in identifiers, or a prefixed string (`E'..'`).
                if matches!(self.byte(self.at), Some(b) if b == b'$' || b == b'@' || b == b'#' || b == b'\'' || b == b'"' || !b.is_ascii())
                {
                    return None;
                }
                Token::Word(&self.text[start..self.at])
            }
            _ => return None,
        };
        Some(token)
    }

    fn skip_digits(&mut self) {
        while matches!(self.byte(self.at), Some(b'0'..=b'9')) {
            self.at += 1;
        }
    }

    /// The rest of a quoted string or identifier; a doubled quote stands for one.
    fn quoted(&mut self, quote: u8) -> Option<Cow<'a, str>> {
        let start = self.at;
        let mut owned: Option<String> = None;
        let mut piece = start;
        loop {
            match self.byte(self.at)? {
                b'\\' => return None,
                b if b == quote => {
                    if self.byte(self.at + 1) == Some(quote) {
                        let text = owned.get_or_insert_with(String::new);
                        text.push_str(&self.text[piece..=self.at]);
                        self.at += 2;
                        piece = self.at;
                    } else {
                        let tail = &self.text[piece..self.at];
                        self.at += 1;
                        return Some(match owned {
                            Some(mut text) => {
                                text.push_str(tail);
                                Cow::Owned(text)
                            }
                            None => Cow::Borrowed(&self.text[start..self.at - 1]),
                        });
                    }
                }
                _ => self.at += 1,
            }
        }
    }
}

/// Words the SQL parser reads as something other than a name where a name may stand
/// (statement keywords, literals, and words that start an expression of their own, such
/// as `CURRENT_USER`, `CASE` or `INTERVAL`). A name spelled like one of these, unquoted,
/// takes the general path.
const NOT_A_NAME: &[&str] = &[
    "ALL",
    "AND",
    "ARRAY",
    "AS",
    "BOX",
    "CASE",
    "CAST",
    "CEIL",
    "CIRCLE",
    "CONVERT",
    "CURRENT_CATALOG",
    "CURRENT_DATE",
    "CURRENT_TIME",
    "CURRENT_TIMESTAMP",
    "CURRENT_USER",
    "DEFAULT",
    "DISTINCT",
    "EXISTS",
    "EXTRACT",
    "FALSE",
    "FLOOR",
    "FROM",
    "INTERVAL",
    "INTO",
    "LAMBDA",
    "LATERAL",
    "LINE",
    "LOCALTIME",
    "LOCALTIMESTAMP",
    "LSEG",
    "MAP",
    "MATCH",
    "NOT",
    "NULL",
    "ON",
    "OR",
    "OVERLAY",
    "PATH",
    "POINT",
    "POLYGON",
    "POSITION",
    "PRIOR",
    "SAFE_CAST",
    "SELECT",
    "SESSION_USER",
    "SET",
    "STRUCT",
    "SUBSTR",
    "SUBSTRING",
    "TABLE",
    "TOP",
    "TRIM",
    "TRUE",
    "TRY_CAST",
    "TRY_CONVERT",
    "UNNEST",
    "USER",
    "VALUES",
    "WHERE",
];

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

/// An integer or decimal literal from the parsed AST, typed as [`lexed_number`] does.
pub(crate) fn number(digits: &str, negative: bool) -> Option<Literal<'static>> {
    if digits.bytes().all(|b| b.is_ascii_digit() || b == b'.') { lexed_number(digits, negative) } else { None }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn table(name: &str) -> ObjectRef {
        ObjectRef { namespace: None, name: name.into() }
    }

    #[test]
    fn inserts_with_and_without_column_lists() {
        assert_eq!(
            recognize("insert into App.T (ID, \"Name\") values (1, 'it''s'), (-2, NULL);"),
            Some(SimpleStatement::Insert {
                table: ObjectRef { namespace: Some("app".into()), name: "t".into() },
                columns: Some(vec!["id".into(), "Name".into()]),
                width: 2,
                values: vec![Literal::Int(1), Literal::Text("it's".into()), Literal::Int(-2), Literal::Null],
            })
        );
        assert_eq!(
            recognize("INSERT INTO t VALUES (1.5, - 2.25, TRUE, false, '')"),
            Some(SimpleStatement::Insert {
                table: table("t"),
                columns: None,
                width: 5,
                values: vec![
                    Literal::Float(1.5),
                    Literal::Float(-2.25),
                    Literal::Boolean(true),
                    Literal::Boolean(false),
                    Literal::Text("".into())
                ],
            })
        );
        assert_eq!(
            recognize("INSERT INTO t VALUES (-9223372036854775808)"),
            Some(SimpleStatement::Insert { table: table("t"), columns: None, width: 1, values: vec![Literal::Int(i64::MIN)] })
        );
    }

    #[test]
    fn point_selects_and_deletes() {
        assert_eq!(
            recognize("SELECT * FROM t WHERE id = 5"),
            Some(SimpleStatement::Select { table: table("t"), columns: None, filter: vec![("id".into(), Literal::Int(5))] })
        );
        assert_eq!(
            recognize("select a, \"B\" from t where k1 = 'x' and K2 = -1 ;"),
            Some(SimpleStatement::Select {
                table: table("t"),
                columns: Some(vec!["a".into(), "B".into()]),
                filter: vec![("k1".into(), Literal::Text("x".into())), ("k2".into(), Literal::Int(-1))],
            })
        );
        // Names in any script, folded by ASCII rules only (as DataFusion folds them).
        assert_eq!(
            recognize("SELECT Wört FROM Ünï.naïve WHERE ÍD = 1"),
            Some(SimpleStatement::Select {
                table: ObjectRef { namespace: Some("Ünï".into()), name: "naïve".into() },
                columns: Some(vec!["wört".into()]),
                filter: vec![("Íd".into(), Literal::Int(1))],
            })
        );
        assert_eq!(
            recognize("DELETE FROM ns.t WHERE id = 7"),
            Some(SimpleStatement::Delete {
                table: ObjectRef { namespace: Some("ns".into()), name: "t".into() },
                filter: vec![("id".into(), Literal::Int(7))],
            })
        );
    }

    #[test]
    fn everything_else_takes_the_general_path() {
        for sql in [
            "INSERT INTO t VALUES (1 + 1)",
            "INSERT INTO t VALUES (1), (1, 2)",
            "INSERT INTO t VALUES (1e5)",
            "INSERT INTO t VALUES (1.)",
            "INSERT INTO t VALUES (1_000)",
            "INSERT INTO t VALUES ('a\\b')",
            "INSERT INTO t VALUES (E'a')",
            "INSERT INTO t VALUES ('a' 'b')",
            "INSERT INTO t VALUES (DATE '2020-01-01')",
            "INSERT INTO t VALUES (now())",
            "INSERT INTO t VALUES (1) -- comment",
            "INSERT INTO t VALUES (1) /* c */",
            "INSERT INTO t VALUES (99999999999999999999)",
            "INSERT INTO t VALUES (1); INSERT INTO t VALUES (2)",
            "INSERT INTO t (a VALUES (1)",
            "INSERT INTO TABLE t VALUES (1)",
            "INSERT INTO local VALUES (1)",
            "INSERT INTO Directory.t VALUES (1)",
            "INSERT INTO function t VALUES (1)",
            "INSERT INTO a.b.c VALUES (1)",
            "INSERT INTO t SELECT 1",
            "INSERT INTO t VALUES (1) RETURNING *",
            "INSERT INTO t VALUES ('unterminated)",
            "INSERT INTO \"\" VALUES (1)",
            "INSERT INTO t VALUES (--1)",
            "SELECT * FROM t",
            "SELECT * FROM t WHERE id > 5",
            "SELECT * FROM t WHERE id = 5 OR id = 6",
            "SELECT * FROM t x WHERE id = 5",
            "SELECT user FROM t WHERE id = 5",
            "SELECT current_date FROM t WHERE id = 5",
            "SELECT DISTINCT a FROM t WHERE id = 5",
            "SELECT a b FROM t WHERE id = 5",
            "SELECT t.a FROM t WHERE id = 5",
            "SELECT * FROM t WHERE id = 5 LIMIT 1",
            "SELECT * FROM t WHERE id = (5)",
            "DELETE FROM t",
            "DELETE FROM t WHERE id IN (1, 2)",
            "UPDATE t SET a = 1 WHERE id = 1",
            "EXPLAIN SELECT * FROM t WHERE id = 1",
            "INSERT INTO t VALUES (1)\u{c}",
            "INSERT INTO t€ VALUES (1)",
            "INSERT INTO t VALUES (1)\u{a0}",
            "SELECT * FROM t WHERE id = 1²",
            "",
        ] {
            assert_eq!(recognize(sql), None, "{sql}");
        }
    }
}

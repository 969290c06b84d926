//! The lexer of the simple-statement recognizer: the tokens of the recognised subset, and
//! `None` for anything outside it (the statement then takes the general path).

use std::borrow::Cow;

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Token<'a> {
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
    /// Another operator character (`+`, `/`, `%`, `<`, `>`, `!`, `|`, `&`, `^`, `~`, `:`),
    /// which only an UPDATE's SET expressions may hold (DataFusion parses those).
    Operator,
    End,
}

pub(super) struct Lexer<'a> {
    pub(super) text: &'a str,
    pub(super) at: usize,
}

impl<'a> Lexer<'a> {
    fn byte(&self, at: usize) -> Option<u8> {
        self.text.as_bytes().get(at).copied()
    }

    /// The next token, or `None` for anything outside the recognised subset.
    pub(super) fn next(&mut self) -> Option<Token<'a>> {
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
            // `/*` starts a comment.
            b'/' if self.byte(self.at) == Some(b'*') => return None,
            b'+' | b'/' | b'%' | b'<' | b'>' | b'!' | b'|' | b'&' | b'^' | b'~' | b':' => Token::Operator,
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
pub(super) const NOT_A_NAME: &[&str] = &[
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

//! Parses SQL text into [`EngineStatement`]s.
//!
//! The input is tokenized once with DataFusion's SQL dialect and split at top-level
//! semicolons. Statements that only this engine has (`CREATE NAMESPACE`, `DROP NAMESPACE`,
//! `SHOW NAMESPACES`, `CREATE SHARED|USER|STREAM TABLE`) are recognised from their leading
//! words; everything else is parsed by sqlparser, and the statements the engine executes
//! itself (DDL, `USE`, `SHOW TABLES`, `DESCRIBE`) are picked out of its AST.

use datafusion::sql::sqlparser::ast::{CreateView, ObjectName, ObjectType, SchemaName, ShowStatementOptions, Statement, Use};
use datafusion::sql::sqlparser::dialect::Dialect;
use datafusion::sql::sqlparser::parser::Parser;
use datafusion::sql::sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer, Word};

use crate::catalog::{AccessLevel, CATALOG_NAME, Role, SystemColumn, TableKind};
use crate::error::{EngineError, Result};
use crate::passwords::Secret;
use crate::sql::alter::{ColumnChange, classify_alter_table};
use crate::sql::flush::{FlushTarget, parse_flush};
pub use crate::sql::subscribe::SubscribeRequest;
use crate::sql::subscribe::{parse_kill, parse_subscribe};
use crate::sql::transaction::{TransactionStatement, transaction_statement};
use crate::sql::words::Words;

/// A reference to a table or namespace as written, with identifiers normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRef {
    pub namespace: Option<String>,
    pub name: String,
}

impl std::fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{ns}.{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// One statement, classified by who executes it.
#[derive(Debug, Clone)]
pub enum EngineStatement {
    CreateNamespace {
        name: String,
        if_not_exists: bool,
    },
    DropNamespace {
        name: String,
        if_exists: bool,
        cascade: bool,
    },
    ShowNamespaces,
    Use {
        namespace: String,
    },
    ShowTables {
        namespace: Option<String>,
    },
    Describe {
        table: ObjectRef,
    },
    /// `CREATE [kind] TABLE [AS query]`; the AST still holds the WITH options, and
    /// `mentions` the system columns the query names.
    CreateTable {
        kind: Option<TableKind>,
        statement: Box<Statement>,
        mentions: Vec<SystemColumn>,
    },
    DropTable {
        tables: Vec<ObjectRef>,
        if_exists: bool,
    },
    /// `CREATE [OR REPLACE] VIEW [IF NOT EXISTS]`.
    CreateView {
        statement: Box<CreateView>,
        mentions: Vec<SystemColumn>,
    },
    DropView {
        views: Vec<ObjectRef>,
        if_exists: bool,
    },
    /// `CREATE USER [IF NOT EXISTS] name [WITH] [PASSWORD 'p'] [ROLE r]` (role user when
    /// not given; no password: trusted sessions only).
    CreateUser {
        name: String,
        if_not_exists: bool,
        password: Option<Secret>,
        role: Role,
    },
    AlterUser {
        name: String,
        change: UserChange,
    },
    DropUser {
        name: String,
        if_exists: bool,
        cascade: bool,
    },
    /// `EXECUTE AS USER name (statement)`.
    ExecuteAs {
        user: String,
        statement: Box<EngineStatement>,
    },
    /// `ALTER TABLE t SET ACCESS_LEVEL [=] 'PUBLIC' | 'PRIVATE' | 'RESTRICTED'`.
    SetAccessLevel {
        table: ObjectRef,
        access_level: AccessLevel,
    },
    /// `SUBSCRIBE TO t [WHERE predicate] [OPTIONS (from_seq = N, last_rows = N)]`.
    Subscribe(SubscribeRequest),
    /// `KILL LIVE QUERY 'id'`.
    KillLiveQuery {
        live_id: String,
    },
    /// `FLUSH TABLE t`, `FLUSH ALL TABLES [IN ns]`.
    Flush(FlushTarget),
    /// `ALTER TABLE t ADD | DROP | RENAME COLUMN ...`.
    AlterColumns {
        table: ObjectRef,
        change: ColumnChange,
    },
    /// `BEGIN`, `COMMIT`, `ROLLBACK`, savepoints, `SET TRANSACTION`, `SHOW
    /// transaction_isolation`.
    Transaction(TransactionStatement),
    /// Planned and executed by DataFusion (queries, DML, EXPLAIN, SET, ...).
    Sql {
        statement: Box<Statement>,
        mentions: Vec<SystemColumn>,
    },
}

/// What `ALTER USER` changes.
#[derive(Debug, Clone)]
pub enum UserChange {
    Password(Secret),
    Role(Role),
}

/// Parses every statement of `sql`.
pub fn parse_statements(sql: &str, dialect: &dyn Dialect) -> Result<Vec<EngineStatement>> {
    let tokens =
        Tokenizer::new(dialect, sql).tokenize_with_location().map_err(|e| EngineError::syntax(format!("SQL syntax error: {e}")))?;
    let mut statements = Vec::new();
    for tokens in split_statements(without_current_user_parentheses(tokens)) {
        statements.push(parse_one(tokens, dialect)?);
    }
    Ok(statements)
}

/// `CURRENT_USER()` is the same as SQL's `CURRENT_USER` (which sqlparser reads only
/// without parentheses): the empty parentheses are dropped.
fn without_current_user_parentheses(tokens: Vec<TokenWithSpan>) -> Vec<TokenWithSpan> {
    let is_current_user =
        |t: &Token| matches!(t, Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case("current_user"));
    let significant_after = |tokens: &[TokenWithSpan], from: usize, n: usize| {
        tokens[from..].iter().enumerate().filter(|(_, t)| is_significant(&t.token)).nth(n).map(|(i, t)| (from + i, t.token.clone()))
    };
    let mut out = Vec::with_capacity(tokens.len());
    let mut skip_until = 0;
    for (index, token) in tokens.iter().enumerate() {
        if index < skip_until {
            continue;
        }
        out.push(token.clone());
        if is_current_user(&token.token)
            && let Some((_, Token::LParen)) = significant_after(&tokens, index + 1, 0)
            && let Some((close, Token::RParen)) = significant_after(&tokens, index + 1, 1)
        {
            skip_until = close + 1;
        }
    }
    out
}

fn split_statements(tokens: Vec<TokenWithSpan>) -> Vec<Vec<TokenWithSpan>> {
    let mut out = Vec::new();
    let mut current = Vec::new();
    for token in tokens {
        if token.token == Token::SemiColon {
            out.push(std::mem::take(&mut current));
        } else {
            current.push(token);
        }
    }
    out.push(current);
    out.into_iter().filter(|s| s.iter().any(|t| is_significant(&t.token))).collect()
}

pub(crate) fn is_significant(token: &Token) -> bool {
    !matches!(token, Token::Whitespace(_) | Token::EOF)
}

/// Upper-case unquoted words of the statement, in order (for recognising statements).
fn leading_words(tokens: &[TokenWithSpan], n: usize) -> Vec<String> {
    tokens
        .iter()
        .filter(|t| is_significant(&t.token))
        .take(n)
        .map(|t| match &t.token {
            Token::Word(Word { value, quote_style: None, .. }) => value.to_ascii_uppercase(),
            _ => String::new(),
        })
        .collect()
}

fn parse_one(tokens: Vec<TokenWithSpan>, dialect: &dyn Dialect) -> Result<EngineStatement> {
    let words = leading_words(&tokens, 3);
    let word = |i: usize| words.get(i).map(String::as_str).unwrap_or("");
    match (word(0), word(1)) {
        ("CREATE", "NAMESPACE") | ("DROP", "NAMESPACE") | ("SHOW", "NAMESPACES") => {
            return parse_namespace_statement(tokens);
        }
        ("CREATE", kind)
            if word(2) == "TABLE"
                && let Ok(kind) = TableKind::parse(kind) =>
        {
            let tokens = remove_significant(tokens, 1);
            let mentions = mentioned_system_columns(&tokens);
            let statement = parse_sqlparser(tokens, dialect)?;
            return Ok(EngineStatement::CreateTable { kind: Some(kind), statement: Box::new(statement), mentions });
        }
        ("CREATE" | "ALTER" | "DROP", "USER") if word(2) != "TABLE" => return parse_user_statement(tokens),
        ("EXECUTE", "AS") => return parse_execute_as(tokens, dialect),
        ("ALTER", "TABLE") if is_set_access_level(&tokens) => return parse_set_access_level(tokens),
        ("SUBSCRIBE", _) => return parse_subscribe(tokens, dialect),
        ("KILL", "LIVE") => return parse_kill(tokens),
        ("FLUSH", _) => return parse_flush(tokens),
        _ => {}
    }
    let mentions = mentioned_system_columns(&tokens);
    let statement = parse_sqlparser(tokens, dialect)?;
    classify(statement, mentions)
}

fn remove_significant(tokens: Vec<TokenWithSpan>, index: usize) -> Vec<TokenWithSpan> {
    let mut seen = 0;
    tokens
        .into_iter()
        .filter(|t| {
            if !is_significant(&t.token) {
                return true;
            }
            let keep = seen != index;
            seen += 1;
            keep
        })
        .collect()
}

fn parse_sqlparser(tokens: Vec<TokenWithSpan>, dialect: &dyn Dialect) -> Result<Statement> {
    let mut parser = Parser::new(dialect).with_tokens_with_locations(tokens);
    let statement = parser.parse_statement().map_err(|e| EngineError::syntax(format!("SQL syntax error: {e}")))?;
    match parser.peek_token().token {
        Token::EOF => Ok(statement),
        other => Err(EngineError::syntax(format!("SQL syntax error: unexpected {other} after the end of the statement"))),
    }
}

/// The system columns a statement names anywhere (as unquoted or quoted identifiers).
fn mentioned_system_columns(tokens: &[TokenWithSpan]) -> Vec<SystemColumn> {
    let mut found = Vec::new();
    for token in tokens {
        if let Token::Word(word) = &token.token {
            let name = fold_identifier(&word.value, word.quote_style.is_some());
            if let Some(column) = SystemColumn::from_name(&name)
                && !found.contains(&column)
            {
                found.push(column);
            }
        }
    }
    found
}

/// The one identifier folding rule, DataFusion's: an unquoted identifier is lower-cased
/// by ASCII rules only (`Ünï` stays `Ünï`, `ABC` becomes `abc`); a quoted one is kept as
/// written. Every name the engine reads goes through here, so the engine and DataFusion
/// always agree on what a name means.
pub fn fold_identifier(value: &str, quoted: bool) -> String {
    if quoted { value.to_string() } else { value.to_ascii_lowercase() }
}

/// Normalises an identifier of the AST the way DataFusion does.
pub fn ident_name(ident: &datafusion::sql::sqlparser::ast::Ident) -> String {
    fold_identifier(&ident.value, ident.quote_style.is_some())
}

/// Converts `name`, `ns.name` or `catalog.ns.name` into an [`ObjectRef`].
pub fn object_ref(name: &ObjectName) -> Result<ObjectRef> {
    let parts: Vec<String> = name
        .0
        .iter()
        .map(|part| part.as_ident().map(ident_name).ok_or_else(|| EngineError::syntax(format!("invalid object name {name}"))))
        .collect::<Result<_>>()?;
    match parts.as_slice() {
        [table] => Ok(ObjectRef { namespace: None, name: table.clone() }),
        [ns, table] => Ok(ObjectRef { namespace: Some(ns.clone()), name: table.clone() }),
        [catalog, ns, table] if catalog == CATALOG_NAME => Ok(ObjectRef { namespace: Some(ns.clone()), name: table.clone() }),
        _ => Err(EngineError::syntax(format!("invalid object name {name}"))),
    }
}

fn namespace_name(name: &ObjectName) -> Result<String> {
    match object_ref(name)? {
        ObjectRef { namespace: None, name } => Ok(name),
        _ => Err(EngineError::syntax(format!("invalid namespace name {name}"))),
    }
}

fn classify(statement: Statement, mentions: Vec<SystemColumn>) -> Result<EngineStatement> {
    if let Some(transaction) = transaction_statement(&statement) {
        return transaction.map(EngineStatement::Transaction);
    }
    Ok(match statement {
        Statement::CreateTable(_) => EngineStatement::CreateTable { kind: None, statement: Box::new(statement), mentions },
        Statement::AlterTable(alter) => classify_alter_table(alter)?,
        Statement::Drop { object_type: ObjectType::Table, if_exists, names, .. } => {
            EngineStatement::DropTable { tables: names.iter().map(object_ref).collect::<Result<_>>()?, if_exists }
        }
        Statement::CreateView(view) => EngineStatement::CreateView { statement: Box::new(view), mentions },
        Statement::Drop { object_type: ObjectType::View, if_exists, names, .. } => {
            EngineStatement::DropView { views: names.iter().map(object_ref).collect::<Result<_>>()?, if_exists }
        }
        Statement::Drop { object_type: ObjectType::Schema, if_exists, names, cascade, .. } if names.len() == 1 => {
            EngineStatement::DropNamespace { name: namespace_name(&names[0])?, if_exists, cascade }
        }
        Statement::CreateSchema { schema_name: SchemaName::Simple(name), if_not_exists, .. } => {
            EngineStatement::CreateNamespace { name: namespace_name(&name)?, if_not_exists }
        }
        Statement::Use(Use::Object(name) | Use::Schema(name) | Use::Database(name)) => {
            EngineStatement::Use { namespace: namespace_name(&name)? }
        }
        Statement::ShowTables { show_options: ShowStatementOptions { show_in, .. }, .. } => {
            let namespace = match show_in.and_then(|s| s.parent_name) {
                Some(name) => Some(namespace_name(&name)?),
                None => None,
            };
            EngineStatement::ShowTables { namespace }
        }
        Statement::ExplainTable { table_name, .. } => EngineStatement::Describe { table: object_ref(&table_name)? },
        other => EngineStatement::Sql { statement: Box::new(other), mentions },
    })
}

fn parse_namespace_statement(tokens: Vec<TokenWithSpan>) -> Result<EngineStatement> {
    let mut words = Words::new(tokens);
    let statement = if words.keyword("CREATE") {
        words.expect_keyword("NAMESPACE")?;
        let if_not_exists = words.keyword("IF");
        if if_not_exists {
            words.expect_keyword("NOT")?;
            words.expect_keyword("EXISTS")?;
        }
        EngineStatement::CreateNamespace { name: words.identifier()?, if_not_exists }
    } else if words.keyword("DROP") {
        words.expect_keyword("NAMESPACE")?;
        let if_exists = words.keyword("IF");
        if if_exists {
            words.expect_keyword("EXISTS")?;
        }
        let name = words.identifier()?;
        let cascade = if words.keyword("CASCADE") {
            true
        } else {
            words.keyword("RESTRICT");
            false
        };
        EngineStatement::DropNamespace { name, if_exists, cascade }
    } else {
        words.expect_keyword("SHOW")?;
        words.expect_keyword("NAMESPACES")?;
        EngineStatement::ShowNamespaces
    };
    words.end()?;
    Ok(statement)
}

fn parse_user_statement(tokens: Vec<TokenWithSpan>) -> Result<EngineStatement> {
    let mut words = Words::new(tokens);
    let statement = if words.keyword("CREATE") {
        words.expect_keyword("USER")?;
        let if_not_exists = words.keyword("IF");
        if if_not_exists {
            words.expect_keyword("NOT")?;
            words.expect_keyword("EXISTS")?;
        }
        let name = words.user_name()?;
        words.keyword("WITH");
        let (mut password, mut role) = (None, None);
        loop {
            if password.is_none() && words.keyword("PASSWORD") {
                password = Some(words.password()?);
            } else if role.is_none() && words.keyword("ROLE") {
                role = Some(Role::parse(&words.identifier()?)?);
            } else {
                break;
            }
        }
        EngineStatement::CreateUser { name, if_not_exists, password, role: role.unwrap_or(Role::User) }
    } else if words.keyword("ALTER") {
        words.expect_keyword("USER")?;
        let name = words.user_name()?;
        words.expect_keyword("SET")?;
        let change = if words.keyword("PASSWORD") {
            UserChange::Password(words.password()?)
        } else if words.keyword("ROLE") {
            UserChange::Role(Role::parse(&words.identifier()?)?)
        } else {
            return Err(words.unexpected("PASSWORD or ROLE"));
        };
        EngineStatement::AlterUser { name, change }
    } else {
        words.expect_keyword("DROP")?;
        words.expect_keyword("USER")?;
        let if_exists = words.optional_keyword_pair("IF", "EXISTS")?;
        let name = words.user_name()?;
        let cascade = if words.keyword("CASCADE") {
            true
        } else {
            words.keyword("RESTRICT");
            false
        };
        EngineStatement::DropUser { name, if_exists, cascade }
    };
    words.end()?;
    Ok(statement)
}

/// `EXECUTE AS USER name ( statement )`: the inner statement is any one statement.
fn parse_execute_as(tokens: Vec<TokenWithSpan>, dialect: &dyn Dialect) -> Result<EngineStatement> {
    let significant: Vec<usize> = tokens.iter().enumerate().filter(|(_, t)| is_significant(&t.token)).map(|(i, _)| i).collect();
    let mut words = Words::new(tokens.clone());
    words.expect_keyword("EXECUTE")?;
    words.expect_keyword("AS")?;
    words.expect_keyword("USER")?;
    let user = words.user_name()?;
    if words.tokens.get(words.at) != Some(&Token::LParen) {
        return Err(words.unexpected("( and the statement to run"));
    }
    if words.tokens.last() != Some(&Token::RParen) || words.tokens.len() < words.at + 3 {
        return Err(EngineError::syntax("SQL syntax error: EXECUTE AS USER needs one statement in parentheses"));
    }
    let inner = tokens[significant[words.at] + 1..significant[significant.len() - 1]].to_vec();
    let statement = parse_one(inner, dialect)?;
    Ok(EngineStatement::ExecuteAs { user, statement: Box::new(statement) })
}

fn is_set_access_level(tokens: &[TokenWithSpan]) -> bool {
    let words = leading_words(tokens, 32);
    words.windows(2).any(|pair| pair[0] == "SET" && pair[1] == "ACCESS_LEVEL")
}

fn parse_set_access_level(tokens: Vec<TokenWithSpan>) -> Result<EngineStatement> {
    let mut words = Words::new(tokens);
    words.expect_keyword("ALTER")?;
    words.expect_keyword("TABLE")?;
    let first = words.identifier()?;
    let table = if words.tokens.get(words.at) == Some(&Token::Period) {
        words.at += 1;
        ObjectRef { namespace: Some(first), name: words.identifier()? }
    } else {
        ObjectRef { namespace: None, name: first }
    };
    words.expect_keyword("SET")?;
    words.expect_keyword("ACCESS_LEVEL")?;
    words.optional_equals();
    let access_level = AccessLevel::parse(&words.string("'PUBLIC', 'PRIVATE' or 'RESTRICTED'")?)?;
    words.end()?;
    Ok(EngineStatement::SetAccessLevel { table, access_level })
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::sqlparser::dialect::GenericDialect;

    fn parse(sql: &str) -> Vec<EngineStatement> {
        parse_statements(sql, &GenericDialect {}).unwrap()
    }

    #[test]
    fn namespace_statements() {
        assert!(matches!(
            parse("create namespace if not exists App")[0],
            EngineStatement::CreateNamespace { ref name, if_not_exists: true } if name == "app"
        ));
        assert!(matches!(
            parse("DROP NAMESPACE IF EXISTS \"App\" CASCADE")[0],
            EngineStatement::DropNamespace { ref name, if_exists: true, cascade: true } if name == "App"
        ));
        assert!(matches!(parse("show namespaces")[0], EngineStatement::ShowNamespaces));
        assert!(parse_statements("CREATE NAMESPACE", &GenericDialect {}).is_err());
        assert!(parse_statements("SHOW NAMESPACES extra", &GenericDialect {}).is_err());
    }

    #[test]
    fn kind_prefix_is_recognised_and_removed() {
        match &parse("CREATE USER TABLE t (id INT) WITH (FLUSH_POLICY = 'rows:5')")[0] {
            EngineStatement::CreateTable { kind: Some(TableKind::User), statement, .. } => {
                assert!(statement.to_string().starts_with("CREATE TABLE t"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(parse("CREATE TABLE t (id INT)")[0], EngineStatement::CreateTable { kind: None, .. }));
    }

    #[test]
    fn statements_split_on_semicolons_outside_strings() {
        let statements = parse("SELECT ';'; USE app;;");
        assert_eq!(statements.len(), 2);
        assert!(matches!(statements[1], EngineStatement::Use { ref namespace } if namespace == "app"));
    }

    #[test]
    fn system_column_mentions_are_found() {
        match &parse("SELECT id, _SEQ FROM t WHERE \"_deleted\"")[0] {
            EngineStatement::Sql { mentions, .. } => {
                assert_eq!(mentions, &vec![SystemColumn::Seq, SystemColumn::Deleted]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unquoted_identifiers_fold_by_ascii_rules_only() {
        assert_eq!(fold_identifier("ÜnÏ", false), "ÜnÏ");
        assert_eq!(fold_identifier("ÜNI", false), "Üni");
        assert_eq!(fold_identifier("AbC", false), "abc");
        assert_eq!(fold_identifier("AbC", true), "AbC");
        assert!(matches!(
            parse("CREATE NAMESPACE Ünï")[0],
            EngineStatement::CreateNamespace { ref name, .. } if name == "Ünï"
        ));
    }

    #[test]
    fn object_names_normalise() {
        match &parse("DROP TABLE IF EXISTS App.\"T1\", t2")[0] {
            EngineStatement::DropTable { tables, if_exists: true } => {
                assert_eq!(tables[0], ObjectRef { namespace: Some("app".into()), name: "T1".into() });
                assert_eq!(tables[1], ObjectRef { namespace: None, name: "t2".into() });
            }
            other => panic!("{other:?}"),
        }
    }
}

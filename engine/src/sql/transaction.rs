//! Transaction control statements: `BEGIN`, `START TRANSACTION`, `COMMIT`, `END`,
//! `ROLLBACK`, `SAVEPOINT`, `RELEASE [SAVEPOINT]`, `ROLLBACK TO [SAVEPOINT]`, `SET
//! TRANSACTION` and `SHOW transaction_isolation`, recognised from sqlparser's statements
//! ([`transaction_statement`]).

use datafusion::sql::sqlparser::ast::{Set, Statement, TransactionAccessMode, TransactionIsolationLevel, TransactionMode};

use crate::error::{EngineError, Result};

/// The isolation level a transaction asks for. READ UNCOMMITTED and READ COMMITTED run as
/// REPEATABLE READ (a stronger level, which the SQL standard allows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    ReadUncommitted,
    ReadCommitted,
    RepeatableRead,
    Serializable,
}

impl Isolation {
    /// The name `SHOW transaction_isolation` gives (PostgreSQL's spelling).
    pub fn name(self) -> &'static str {
        match self {
            Isolation::ReadUncommitted => "read uncommitted",
            Isolation::ReadCommitted => "read committed",
            Isolation::RepeatableRead => "repeatable read",
            Isolation::Serializable => "serializable",
        }
    }

    /// Whether COMMIT also checks what the transaction read.
    pub fn checks_reads(self) -> bool {
        self == Isolation::Serializable
    }
}

/// What `BEGIN` or `SET TRANSACTION` asks for (`None`: unchanged, or the default).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TransactionModes {
    pub isolation: Option<Isolation>,
    pub read_only: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransactionStatement {
    Begin(TransactionModes),
    Commit,
    Rollback,
    Savepoint(String),
    Release(String),
    RollbackTo(String),
    SetTransaction(TransactionModes),
    ShowIsolation,
}

/// The transaction statement `statement` is, if it is one.
pub fn transaction_statement(statement: &Statement) -> Option<Result<TransactionStatement>> {
    Some(match statement {
        Statement::StartTransaction { modes, modifier: None, .. } => modes_of(modes).map(TransactionStatement::Begin),
        Statement::Commit { chain: false, modifier: None, .. } => Ok(TransactionStatement::Commit),
        Statement::Rollback { chain: false, savepoint: None } => Ok(TransactionStatement::Rollback),
        Statement::Rollback { chain: false, savepoint: Some(name) } => Ok(TransactionStatement::RollbackTo(name.value.clone())),
        Statement::Savepoint { name } => Ok(TransactionStatement::Savepoint(name.value.clone())),
        Statement::ReleaseSavepoint { name } => Ok(TransactionStatement::Release(name.value.clone())),
        Statement::Set(Set::SetTransaction { modes, snapshot: None, session: false }) => {
            modes_of(modes).map(TransactionStatement::SetTransaction)
        }
        Statement::ShowVariable { variable } if shows_isolation(variable) => Ok(TransactionStatement::ShowIsolation),
        Statement::StartTransaction { .. }
        | Statement::Commit { .. }
        | Statement::Rollback { .. }
        | Statement::Set(Set::SetTransaction { .. }) => Err(EngineError::not_supported(format!(
            "{statement} is not supported (no chained transactions, snapshot import or session characteristics)"
        ))),
        _ => return None,
    })
}

fn shows_isolation(variable: &[datafusion::sql::sqlparser::ast::Ident]) -> bool {
    let words: Vec<String> = variable.iter().map(|i| i.value.to_ascii_lowercase()).collect();
    matches!(
        words.iter().map(String::as_str).collect::<Vec<_>>().as_slice(),
        ["transaction_isolation"] | ["transaction", "isolation", "level"]
    )
}

fn modes_of(modes: &[TransactionMode]) -> Result<TransactionModes> {
    let mut chosen = TransactionModes::default();
    for mode in modes {
        match mode {
            TransactionMode::AccessMode(access) => chosen.read_only = Some(*access == TransactionAccessMode::ReadOnly),
            TransactionMode::IsolationLevel(level) => {
                chosen.isolation = Some(match level {
                    TransactionIsolationLevel::ReadUncommitted => Isolation::ReadUncommitted,
                    TransactionIsolationLevel::ReadCommitted => Isolation::ReadCommitted,
                    TransactionIsolationLevel::RepeatableRead => Isolation::RepeatableRead,
                    TransactionIsolationLevel::Serializable => Isolation::Serializable,
                    other => return Err(EngineError::not_supported(format!("isolation level {other} is not supported"))),
                })
            }
        }
    }
    Ok(chosen)
}

#[cfg(test)]
mod tests {
    use datafusion::sql::sqlparser::dialect::GenericDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    use super::*;

    fn parse(sql: &str) -> Option<Result<TransactionStatement>> {
        let statement = Parser::parse_sql(&GenericDialect {}, sql).unwrap().remove(0);
        transaction_statement(&statement)
    }

    #[test]
    fn every_form_is_recognised() {
        let serializable_ro = TransactionModes { isolation: Some(Isolation::Serializable), read_only: Some(true) };
        assert_eq!(parse("BEGIN").unwrap().unwrap(), TransactionStatement::Begin(TransactionModes::default()));
        assert_eq!(
            parse("BEGIN TRANSACTION ISOLATION LEVEL SERIALIZABLE, READ ONLY").unwrap().unwrap(),
            TransactionStatement::Begin(serializable_ro)
        );
        assert_eq!(
            parse("START TRANSACTION READ WRITE").unwrap().unwrap(),
            TransactionStatement::Begin(TransactionModes { isolation: None, read_only: Some(false) })
        );
        assert_eq!(parse("COMMIT WORK").unwrap().unwrap(), TransactionStatement::Commit);
        assert_eq!(parse("END").unwrap().unwrap(), TransactionStatement::Commit);
        assert_eq!(parse("ROLLBACK").unwrap().unwrap(), TransactionStatement::Rollback);
        assert_eq!(parse("ROLLBACK TO SAVEPOINT s").unwrap().unwrap(), TransactionStatement::RollbackTo("s".into()));
        assert_eq!(parse("ROLLBACK TO s").unwrap().unwrap(), TransactionStatement::RollbackTo("s".into()));
        assert_eq!(parse("SAVEPOINT s").unwrap().unwrap(), TransactionStatement::Savepoint("s".into()));
        assert_eq!(parse("RELEASE SAVEPOINT s").unwrap().unwrap(), TransactionStatement::Release("s".into()));
        assert_eq!(parse("RELEASE s").unwrap().unwrap(), TransactionStatement::Release("s".into()));
        assert_eq!(
            parse("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ").unwrap().unwrap(),
            TransactionStatement::SetTransaction(TransactionModes { isolation: Some(Isolation::RepeatableRead), read_only: None })
        );
        assert_eq!(parse("SHOW transaction_isolation").unwrap().unwrap(), TransactionStatement::ShowIsolation);
        assert!(parse("COMMIT AND CHAIN").unwrap().is_err());
        assert!(parse("SELECT 1").is_none());
    }
}

//! Transaction blocks, as PostgreSQL runs them: `BEGIN` opens one (SERIALIZABLE unless it
//! says otherwise), every statement until `COMMIT` or `ROLLBACK` reads the block's view
//! and writes its pending rows, a failed statement leaves the block failed (everything but
//! `ROLLBACK` and `ROLLBACK TO SAVEPOINT` is then refused with 25P02, and `COMMIT` rolls
//! back), and `COMMIT` writes everything in one commit ([`crate::provider::txn_commit`]).
//! Statements whose effects cannot be undone (DDL, users, FLUSH, SUBSCRIBE) are refused
//! inside a block with 25001.

use std::sync::{Arc, Mutex};

use datafusion::sql::sqlparser::ast::Statement;

use crate::error::{EngineError, Result, SqlState};
use crate::exec::{ExecContext, text_rows};
use crate::provider::transaction::{self as txn, InTransaction, Transaction, TxnHandle};
use crate::provider::txn_commit;
use crate::result::QueryResult;
use crate::shared::IdleBlock;
use crate::sql::EngineStatement;
use crate::sql::transaction::{Isolation, TransactionModes, TransactionStatement};

/// The level a block gets when `BEGIN` names none.
pub const DEFAULT_ISOLATION: Isolation = Isolation::Serializable;

/// Runs a transaction control statement; `open` is the session's block, if any.
pub async fn control(ctx: &ExecContext, open: &mut Option<TxnHandle>, statement: TransactionStatement) -> Result<QueryResult> {
    match statement {
        TransactionStatement::Begin(modes) => {
            if let Some(block) = open {
                refuse_if_failed(&txn::lock(block))?;
            } else {
                let isolation = modes.isolation.unwrap_or(DEFAULT_ISOLATION);
                let block = Arc::new(Mutex::new(Transaction::new(isolation, modes.read_only.unwrap_or(false), ctx.shared.now_millis())));
                let idle: Arc<Mutex<dyn IdleBlock>> = block.clone();
                ctx.shared.blocks.register(Arc::downgrade(&idle));
                *open = Some(block);
            }
            // PostgreSQL only warns about a BEGIN inside a block.
            Ok(QueryResult::Message("BEGIN".into()))
        }
        TransactionStatement::Commit => {
            let Some(handle) = open.take() else { return Ok(QueryResult::Message("COMMIT".into())) };
            let block = take(handle);
            refuse_if_expired(&block)?;
            if block.failed {
                return Ok(QueryResult::Message("ROLLBACK".into()));
            }
            if let Some(work) = block.into_commit() {
                txn_commit::commit(&ctx.shared, work).await?;
            }
            Ok(QueryResult::Message("COMMIT".into()))
        }
        TransactionStatement::Rollback => {
            open.take();
            Ok(QueryResult::Message("ROLLBACK".into()))
        }
        TransactionStatement::Savepoint(name) => {
            let block = in_block(open, "SAVEPOINT")?;
            let mut block = txn::lock(block);
            refuse_if_expired(&block)?;
            refuse_if_failed(&block)?;
            block.savepoint(&name);
            Ok(QueryResult::Message("SAVEPOINT".into()))
        }
        TransactionStatement::Release(name) => {
            let block = in_block(open, "RELEASE SAVEPOINT")?;
            let mut block = txn::lock(block);
            refuse_if_expired(&block)?;
            refuse_if_failed(&block)?;
            block.release(&name)?;
            Ok(QueryResult::Message("RELEASE".into()))
        }
        TransactionStatement::RollbackTo(name) => {
            let block = in_block(open, "ROLLBACK TO SAVEPOINT")?;
            let mut block = txn::lock(block);
            refuse_if_expired(&block)?;
            block.rollback_to(&name)?;
            Ok(QueryResult::Message("ROLLBACK".into()))
        }
        TransactionStatement::SetTransaction(modes) => {
            // Outside a block PostgreSQL only warns: the next block starts as BEGIN says.
            if let Some(block) = open {
                let mut block = txn::lock(block);
                refuse_if_failed(&block)?;
                set_modes(&mut block, modes)?;
            }
            Ok(QueryResult::Message("SET".into()))
        }
        TransactionStatement::ShowIsolation => {
            if let Some(block) = open {
                refuse_if_failed(&txn::lock(block))?;
            }
            let level = open.as_ref().map_or(DEFAULT_ISOLATION, |block| txn::lock(block).isolation);
            Ok(text_rows(&[("transaction_isolation", vec![Some(level.name().to_string())])], &[]))
        }
    }
}

/// Everything a statement of a block needs: checks that the block may run it, and where
/// the statement reads (the block's view, captured by its first statement). `None`: a
/// simple statement (INSERT, SELECT or DELETE by key), which a block always allows. The
/// block counts as busy until [`finish`].
pub fn enter(ctx: &ExecContext, handle: &TxnHandle, statement: Option<&EngineStatement>) -> Result<InTransaction> {
    let mut block = txn::lock(handle);
    refuse_if_expired(&block)?;
    refuse_if_failed(&block)?;
    if let Some(what) = statement.and_then(refused_in_block) {
        return Err(EngineError::new(SqlState::ACTIVE_SQL_TRANSACTION, format!("{what} cannot run inside a transaction block")));
    }
    if block.read_only && statement.is_some_and(writes) {
        return Err(txn::read_only_error());
    }
    let at = block.read_point(&ctx.shared)?;
    block.running = true;
    Ok(InTransaction { handle: handle.clone(), at, start_millis: block.start_millis })
}

/// Ends a statement of the block: the block is idle from `now`, and failed if the
/// statement failed.
pub fn finish(handle: &TxnHandle, failed: bool, now: i64) {
    let mut block = txn::lock(handle);
    block.running = false;
    block.idle_since = now;
    block.failed |= failed;
}

/// Whether the idle timeout ended the block (its session then drops it).
pub fn expired(handle: &TxnHandle) -> bool {
    txn::lock(handle).expired
}

fn refuse_if_expired(block: &Transaction) -> Result<()> {
    if block.expired {
        return Err(EngineError::new(
            SqlState::IDLE_IN_TRANSACTION_TIMEOUT,
            "the transaction block was ended by the idle-in-transaction timeout; its changes are gone",
        ));
    }
    Ok(())
}

fn take(handle: TxnHandle) -> Transaction {
    match Arc::try_unwrap(handle) {
        Ok(block) => block.into_inner().unwrap_or_else(|p| p.into_inner()),
        // A statement still holds it (a cancelled one's leftovers): take its state.
        Err(shared) => {
            let mut block = txn::lock(&shared);
            let isolation = block.isolation;
            std::mem::replace(&mut *block, Transaction::new(isolation, true, 0))
        }
    }
}

fn in_block<'a>(open: &'a Option<TxnHandle>, what: &str) -> Result<&'a TxnHandle> {
    open.as_ref()
        .ok_or_else(|| EngineError::new(SqlState::NO_ACTIVE_SQL_TRANSACTION, format!("{what} can only be used in transaction blocks")))
}

fn refuse_if_failed(block: &Transaction) -> Result<()> {
    if block.failed {
        return Err(EngineError::new(
            SqlState::IN_FAILED_SQL_TRANSACTION,
            "current transaction is aborted, commands ignored until end of transaction block",
        ));
    }
    Ok(())
}

fn set_modes(block: &mut Transaction, modes: TransactionModes) -> Result<()> {
    if let Some(isolation) = modes.isolation {
        if block.has_view() {
            return Err(EngineError::new(
                SqlState::ACTIVE_SQL_TRANSACTION,
                "SET TRANSACTION ISOLATION LEVEL must be called before any query",
            ));
        }
        block.isolation = isolation;
    }
    if let Some(read_only) = modes.read_only {
        if !read_only && block.read_only && block.has_view() {
            return Err(EngineError::new(SqlState::ACTIVE_SQL_TRANSACTION, "transaction read-write mode must be set before any query"));
        }
        block.read_only = read_only;
    }
    Ok(())
}

/// What a block refuses (`None`: the statement may run in one).
fn refused_in_block(statement: &EngineStatement) -> Option<&'static str> {
    Some(match statement {
        EngineStatement::CreateNamespace { .. } => "CREATE NAMESPACE",
        EngineStatement::DropNamespace { .. } => "DROP NAMESPACE",
        EngineStatement::CreateTable { .. } => "CREATE TABLE",
        EngineStatement::DropTable { .. } => "DROP TABLE",
        EngineStatement::CreateView { .. } => "CREATE VIEW",
        EngineStatement::DropView { .. } => "DROP VIEW",
        EngineStatement::CreateUser { .. } => "CREATE USER",
        EngineStatement::AlterUser { .. } => "ALTER USER",
        EngineStatement::DropUser { .. } => "DROP USER",
        EngineStatement::SetAccessLevel { .. } | EngineStatement::AlterColumns { .. } => "ALTER TABLE",
        EngineStatement::Subscribe(_) => "SUBSCRIBE",
        EngineStatement::Flush(_) => "FLUSH",
        EngineStatement::ExecuteAs { statement, .. } => return refused_in_block(statement),
        EngineStatement::Sql { statement, .. } => match statement.as_ref() {
            Statement::CreateTable(_) | Statement::CreateView(_) | Statement::Drop { .. } | Statement::AlterTable(_) => "DDL",
            _ => return None,
        },
        _ => return None,
    })
}

/// Whether the statement writes rows.
pub fn writes(statement: &EngineStatement) -> bool {
    match statement {
        EngineStatement::ExecuteAs { statement, .. } => writes(statement),
        EngineStatement::Sql { statement, .. } => {
            matches!(statement.as_ref(), Statement::Insert(_) | Statement::Update(_) | Statement::Delete(_) | Statement::Truncate(_))
        }
        _ => false,
    }
}

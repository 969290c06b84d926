//! Sessions: one user's connection to the engine, with its current namespace.
//!
//! A session owns an [`ExecContext`]: its user and a DataFusion `SessionContext` whose
//! catalogs ([`catalog_provider`]) show the engine's namespaces through the resolver, so
//! DataFusion plans every query against live engine state. [`Session::execute`] offers
//! the text to the simple-statement path first (`exec::simple`), then splits it into
//! statements and runs each in order: the engine's own statements by their executors in
//! `exec`, everything else planned by DataFusion (`exec::query`).
//!
//! Before each call the session re-reads its user from the catalog (a changed role
//! applies from the next statement; a dropped user's session fails with 28000), and runs
//! as that user: `CURRENT_USER()` and every table reference follow the effective user,
//! which `EXECUTE AS USER` changes for one statement.

pub mod catalog_provider;
pub mod prepared;
pub mod views;

use std::sync::{Arc, Mutex};

use datafusion::sql::sqlparser::ast::Statement;

use crate::error::{EngineError, Result};
use crate::exec::{self, ExecContext};
use crate::functions::{at_instant, with_effective_user};
use crate::live::Subscription;
use crate::permissions::SessionUser;
use crate::provider::transaction::{self, TxnHandle};
use crate::result::QueryResult;
use crate::shared::EngineShared;
use crate::sql::parse_statements;
use crate::sql::parser::{EngineStatement, SubscribeRequest};
use crate::storage::read_point::ReadLog;

/// One user's connection. Statements of one session run one at a time; open one session
/// per thread (or task) for concurrency.
pub struct Session {
    exec: ExecContext,
    /// The user the session was opened for (the effective user outside `EXECUTE AS`).
    login: SessionUser,
    /// Statements that ran without DataFusion's planner.
    simple_statements: u64,
    /// Whether simple statements may skip the planner in this session.
    simple_enabled: bool,
    /// The open transaction block, if any (`BEGIN` ... `COMMIT`).
    transaction: Option<TxnHandle>,
    /// Statements named by SQL `PREPARE`.
    named_statements: prepared::NamedStatements,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("user", &self.login.name).field("namespace", &self.current_namespace()).finish()
    }
}

impl Session {
    pub(crate) fn new(shared: Arc<EngineShared>, user: SessionUser) -> Session {
        let simple_enabled = shared.config.simple_statements;
        let exec = ExecContext::new(shared, user.clone());
        catalog_provider::register_catalogs(&exec, Vec::new());
        Session { exec, login: user, simple_statements: 0, simple_enabled, transaction: None, named_statements: Default::default() }
    }

    /// How many statements of this session ran on the simple path (literal INSERTs, and
    /// SELECT, UPDATE and DELETE by whole primary key; see `exec::simple`), failed ones
    /// included.
    pub fn simple_statement_count(&self) -> u64 {
        self.simple_statements
    }

    /// Turns the simple-statement path on or off for this session (it starts as the
    /// engine configuration says); results are the same either way.
    pub fn set_simple_statements(&mut self, enabled: bool) {
        self.simple_enabled = enabled;
    }

    /// The user the session was opened for.
    pub fn user(&self) -> &SessionUser {
        &self.login
    }

    /// Makes `user` the effective user of the statements that follow.
    fn act_as(&mut self, user: SessionUser) {
        if self.exec.user != user {
            self.exec.user = user;
            catalog_provider::register_catalogs(&self.exec, Vec::new());
        }
    }

    /// The namespace unqualified names resolve in.
    pub fn current_namespace(&self) -> String {
        self.exec.current_namespace()
    }

    /// Runs every statement of `sql` in order and returns the result of the last one (see
    /// [`Session::execute_all`]).
    pub async fn execute(&mut self, sql: &str) -> Result<QueryResult> {
        let mut results = self.execute_all(sql).await?;
        results.pop().ok_or_else(|| EngineError::syntax("empty statement"))
    }

    /// Runs every statement of `sql` in order and returns each result.
    ///
    /// The whole text is parsed before anything runs, so a syntax error anywhere runs no
    /// statement (as in PostgreSQL). Then each statement runs and, outside a transaction
    /// block, commits on its own: at the first one that fails, execution stops and its
    /// error is returned; the statements before it stay applied, the ones after it do not
    /// run. Inside a block (`BEGIN` ... `COMMIT`, see `exec::transaction`) statements
    /// commit with the block, and a failed one leaves the block failed.
    pub async fn execute_all(&mut self, sql: &str) -> Result<Vec<QueryResult>> {
        self.refresh_user()?;
        let name = self.login.name.clone();
        // Boxed: the statement futures are large, and callers may poll this on a small stack.
        with_effective_user(&name, Box::pin(self.run_all(sql))).await
    }

    /// Whether a transaction block is open (the status a server reports as `T`, or `E`
    /// when [`Session::transaction_failed`]).
    pub fn in_transaction(&self) -> bool {
        self.transaction.is_some()
    }

    /// Fails the open transaction block (if any) for an error the session did not see: a
    /// server's Bind whose values cannot be read, for instance (PostgreSQL ends the block
    /// on any error inside it).
    pub fn fail_transaction(&mut self) {
        if let Some(handle) = &self.transaction {
            exec::transaction::finish(handle, true, self.exec.shared.now_millis());
        }
    }

    /// Whether the open block is failed (only ROLLBACK runs).
    pub fn transaction_failed(&self) -> bool {
        self.transaction.as_ref().is_some_and(|block| transaction::lock(block).failed)
    }

    async fn run_all(&mut self, sql: &str) -> Result<Vec<QueryResult>> {
        if let Some(result) = self.try_simple(sql).await? {
            return Ok(vec![result]);
        }
        // The dialect is not Send: parse before the first await.
        let statements = self.exec.dialect().and_then(|dialect| parse_statements(sql, dialect.as_ref()));
        let statements = self.failing_block(statements)?;
        let mut results = Vec::with_capacity(statements.len());
        for (index, statement) in statements.into_iter().enumerate() {
            if index > 0 {
                self.refresh_user()?;
            }
            let result = self.execute_in_block(statement).await?;
            results.push(result.collected().await?);
        }
        Ok(results)
    }

    /// Runs `sql` on the simple path if it is one simple statement the path may take now
    /// (`Ok(None)`: it is not; an error is the simple path's own answer).
    async fn try_simple(&mut self, sql: &str) -> Result<Option<QueryResult>> {
        // Recognised once: the block's checks and the simple path take the same statement.
        let Some(statement) = self.simple_enabled.then(|| crate::sql::simple::recognize(sql)).flatten() else { return Ok(None) };
        if !self.simple_path_open()? {
            return Ok(None);
        }
        let instant = self.exec.transaction.as_ref().map(|t| t.start_millis);
        let handled = at_instant(instant, exec::simple::try_execute(&self.exec, statement)).await.transpose();
        self.exec.transaction = None;
        if let Some(result) = handled {
            self.simple_statements += 1;
            self.finish_block_statement(result.is_err());
            return result.map(Some);
        }
        self.finish_block_statement(false);
        Ok(None)
    }

    /// Whether the simple path may take the simple statement just recognised: always
    /// outside a block; in a block while it is healthy and may write (a failed block refuses
    /// everything but ROLLBACK, and a READ ONLY one refuses writes, which the planned path
    /// checks). In a block, this sets the statement up to run in it.
    fn simple_path_open(&mut self) -> Result<bool> {
        let Some(handle) = &self.transaction else { return Ok(true) };
        let open = {
            let block = transaction::lock(handle);
            !block.failed && !block.read_only
        };
        if !open {
            return Ok(false);
        }
        self.prepare_block_statement(None)?;
        Ok(true)
    }

    /// Sets up the statement about to run in the open block (`None`: a simple statement,
    /// which the block always allows).
    fn prepare_block_statement(&mut self, statement: Option<&EngineStatement>) -> Result<()> {
        let Some(handle) = &self.transaction else { return Ok(()) };
        let entered = exec::transaction::enter(&self.exec, handle, statement);
        match entered {
            Ok(entered) => {
                self.exec.transaction = Some(entered);
                Ok(())
            }
            Err(error) => {
                if exec::transaction::expired(handle) {
                    // The idle timeout ended it: the session leaves the block.
                    self.transaction = None;
                } else {
                    exec::transaction::finish(handle, true, self.exec.shared.now_millis());
                }
                Err(error)
            }
        }
    }

    /// `result`, after failing the open block if it is an error (text that does not parse,
    /// a statement that cannot be described: PostgreSQL ends a block on those too).
    fn failing_block<T>(&mut self, result: Result<T>) -> Result<T> {
        if result.is_err() {
            self.fail_transaction();
        }
        result
    }

    /// Ends the statement that ran in the open block (if any): idle from now, failed if
    /// the statement failed.
    fn finish_block_statement(&mut self, failed: bool) {
        self.exec.transaction = None;
        if let Some(handle) = &self.transaction {
            exec::transaction::finish(handle, failed, self.exec.shared.now_millis());
        }
    }

    /// Runs one statement: transaction control on the session's block, anything else in
    /// the block (if one is open), which a failure marks failed.
    async fn execute_in_block(&mut self, statement: EngineStatement) -> Result<QueryResult> {
        if let Some(result) = self.named_statement_command(&statement).await {
            return result;
        }
        if let EngineStatement::Transaction(control) = statement {
            self.exec.transaction = None;
            return exec::transaction::control(&self.exec, &mut self.transaction, control).await;
        }
        self.prepare_block_statement(Some(&statement))?;
        // Outside a block, a statement that writes notes what it reads: its commit checks
        // that none of it changed meanwhile (SERIALIZABLE, as for a block).
        if self.transaction.is_none() && exec::transaction::writes(&statement) {
            self.exec.reads = Some(Arc::new(Mutex::new(ReadLog::default())));
        }
        let instant = self.exec.transaction.as_ref().map(|t| t.start_millis);
        let result = at_instant(instant, Box::pin(self.execute_statement(statement))).await;
        self.exec.reads = None;
        self.finish_block_statement(result.is_err());
        match (result, &self.transaction) {
            // Rows read after the statement: an error while reading them fails the block.
            (Ok(QueryResult::Stream(rows)), Some(handle)) => {
                let (handle, shared) = (handle.clone(), self.exec.shared.clone());
                Ok(QueryResult::Stream(rows.on_failure(move || exec::transaction::finish(&handle, true, shared.now_millis()))))
            }
            (result, _) => result,
        }
    }

    /// Opens a live subscription as the session's user (the embedding API of `SUBSCRIBE
    /// TO`): its initial rows, then one event per committed change (see README.md#live-subscriptions).
    pub async fn subscribe(&mut self, request: SubscribeRequest) -> Result<Subscription> {
        self.refresh_user()?;
        let name = self.login.name.clone();
        let text = request.to_string();
        with_effective_user(&name, Box::pin(exec::subscribe::subscribe(&self.exec, &request, &text))).await
    }

    /// Re-reads the session's user before a statement: a changed role applies from the
    /// next statement, a dropped user ends the session (28000). Also ends an EXECUTE AS
    /// whose statement was cancelled (its future dropped).
    fn refresh_user(&mut self) -> Result<()> {
        if let Some(changed) = exec::users::current(&self.exec.shared, &self.login)? {
            self.login = changed;
        }
        self.act_as(self.login.clone());
        Ok(())
    }

    async fn execute_statement(&mut self, statement: EngineStatement) -> Result<QueryResult> {
        let ctx = &self.exec;
        match statement {
            EngineStatement::CreateNamespace { name, if_not_exists } => exec::namespace::create(ctx, &name, if_not_exists).await,
            EngineStatement::DropNamespace { name, if_exists, cascade } => exec::namespace::drop(ctx, &name, if_exists, cascade).await,
            EngineStatement::ShowNamespaces => exec::show::namespaces(ctx),
            EngineStatement::Use { namespace } => exec::namespace::use_namespace(ctx, &namespace),
            EngineStatement::ShowTables { namespace } => exec::show::tables(ctx, namespace),
            EngineStatement::Describe { table } => exec::show::describe(ctx, &table),
            EngineStatement::CreateTable { kind, statement, mentions } => {
                exec::create_table::execute(ctx, kind, *statement, mentions).await
            }
            EngineStatement::DropTable { tables, if_exists } => exec::drop_table::execute(ctx, &tables, if_exists).await,
            EngineStatement::CreateView { statement, mentions } => exec::view::create(ctx, *statement, mentions).await,
            EngineStatement::DropView { views, if_exists } => exec::view::drop(ctx, &views, if_exists).await,
            EngineStatement::CreateUser { name, if_not_exists, password, role } => {
                exec::users::create(ctx, &name, if_not_exists, password, role).await
            }
            EngineStatement::AlterUser { name, change } => exec::users::alter(ctx, &name, change).await,
            EngineStatement::DropUser { name, if_exists, cascade } => exec::users::drop(ctx, &name, if_exists, cascade).await,
            EngineStatement::SetAccessLevel { table, access_level } => exec::alter_table::set_access_level(ctx, &table, access_level).await,
            EngineStatement::ExecuteAs { user, statement } => {
                if changes_session(&statement) {
                    return Err(EngineError::not_supported(
                        "EXECUTE AS runs one statement as another user; USE and SET change the session and cannot run inside it",
                    ));
                }
                let target = exec::users::execute_as_target(ctx, &user)?;
                let outer = self.exec.user.clone();
                self.act_as(target.clone());
                let result = with_effective_user(&target.name, Box::pin(self.execute_statement(*statement))).await;
                // Read while the target's catalogs are the session's: some providers
                // (information_schema) list tables as their rows are produced.
                let result = match result {
                    Ok(result) => with_effective_user(&target.name, result.collected()).await,
                    Err(error) => Err(error),
                };
                self.act_as(outer);
                result
            }
            EngineStatement::Subscribe(request) => {
                let text = request.to_string();
                exec::subscribe::subscribe(ctx, &request, &text).await.map(|s| QueryResult::Subscription(Box::new(s)))
            }
            EngineStatement::KillLiveQuery { live_id } => exec::subscribe::kill(ctx, &live_id).await,
            EngineStatement::Transaction(_) => Err(EngineError::not_supported("transaction control cannot run inside EXECUTE AS")),
            EngineStatement::Flush(target) => exec::flush::execute(ctx, &target).await,
            EngineStatement::AlterColumns { table, change } => exec::alter_table::alter_columns(ctx, &table, &change).await,
            EngineStatement::Sql { statement, mentions } => exec::query::execute(ctx, *statement, mentions).await,
        }
    }
}

/// Statements whose effect outlives the statement itself (the session's namespace and
/// settings).
fn changes_session(statement: &EngineStatement) -> bool {
    match statement {
        EngineStatement::Use { .. } => true,
        EngineStatement::Sql { statement, .. } => matches!(statement.as_ref(), Statement::Set(_)),
        _ => false,
    }
}

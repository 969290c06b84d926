//! Sessions: one user's connection to the engine, with its current namespace.
//!
//! A session owns a DataFusion `SessionContext` whose only catalog is a
//! [`catalog_provider::SessionCatalog`] over the shared engine catalog, so DataFusion
//! plans every query against live engine state. [`Session::execute`] runs each statement
//! of the input in order: simple INSERT, and SELECT, UPDATE and DELETE by whole primary
//! key, run without (or, for UPDATE's SET expressions, with a cached piece of) the planner
//! ([`crate::exec::simple`]), engine statements are executed by
//! [`crate::exec`], everything else is planned by DataFusion, with UPDATE and DELETE
//! executed by the engine from the plan DataFusion built.

pub mod catalog_provider;
pub mod scope;

use std::sync::{Arc, Mutex};

use datafusion::common::config::Dialect;
use datafusion::logical_expr::{DmlStatement, LogicalPlan, WriteOp};
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::{FromTable, Statement, TableFactor, TableObject};
use datafusion::sql::sqlparser::dialect::{Dialect as SqlDialect, dialect_from_str};

use crate::catalog::{INFORMATION_SCHEMA, SYSTEM_NAMESPACE, SystemColumn};
use crate::system::read_only;
use crate::engine::{CATALOG_NAME, EngineShared};
use crate::error::{EngineError, Result, SqlState};
use crate::exec;
use crate::permissions::Role;
use crate::result::QueryResult;
use crate::session::catalog_provider::SessionCatalog;
use crate::session::scope::{DmlTarget, ScopeCell, StatementScope};
use crate::sql::parser::{EngineStatement, ObjectRef, object_ref};
use crate::sql::system_columns::exclude_system_columns_from_wildcards;
use crate::sql::parse_statements;

/// The user a session acts as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionUser {
    pub name: String,
    pub role: Role,
}

impl SessionUser {
    pub fn root() -> Self {
        SessionUser { name: "root".into(), role: Role::System }
    }

    /// Finds a user by name. Until users and roles arrive, only `root` exists.
    pub fn lookup(name: &str) -> Result<SessionUser> {
        if name == "root" {
            Ok(SessionUser::root())
        } else {
            Err(EngineError::new(SqlState::UNDEFINED_OBJECT, format!("user {name} does not exist")))
        }
    }
}

/// One user's connection. Statements of one session run one at a time; open one session
/// per thread for concurrency.
pub struct Session {
    pub(crate) shared: Arc<EngineShared>,
    pub(crate) user: SessionUser,
    pub(crate) context: SessionContext,
    pub(crate) scope: ScopeCell,
    /// Statements that ran without DataFusion's planner.
    simple_statements: u64,
    /// Whether simple statements may skip the planner in this session.
    simple_enabled: bool,
    /// SET expressions of simple UPDATEs, planned once.
    pub(crate) assignments: exec::simple::AssignmentCache,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("user", &self.user).field("namespace", &self.current_namespace()).finish()
    }
}

impl Session {
    pub(crate) fn new(shared: Arc<EngineShared>, user: SessionUser) -> Result<Session> {
        let state = EngineShared::base_state(shared.session_config(), &shared.functions);
        let context = SessionContext::new_with_state(state);
        let scope: ScopeCell = Arc::new(Mutex::new(StatementScope::default()));
        context.register_catalog(CATALOG_NAME, Arc::new(SessionCatalog::new(shared.clone(), scope.clone())));
        let simple_enabled = shared.config.simple_statements;
        Ok(Session {
            shared,
            user,
            context,
            scope,
            simple_statements: 0,
            simple_enabled,
            assignments: Default::default(),
        })
    }

    /// How many statements of this session ran on the simple path (literal INSERTs, and
    /// SELECT, UPDATE and DELETE by whole primary key; see `exec::simple`).
    pub fn simple_statement_count(&self) -> u64 {
        self.simple_statements
    }

    /// Turns the simple-statement path on or off for this session (it starts as the
    /// engine configuration says); results are the same either way.
    pub fn set_simple_statements(&mut self, enabled: bool) {
        self.simple_enabled = enabled;
    }

    pub fn user(&self) -> &SessionUser {
        &self.user
    }

    /// The namespace unqualified names resolve in.
    pub fn current_namespace(&self) -> String {
        self.context.state_ref().read().config().options().catalog.default_schema.clone()
    }

    pub(crate) fn set_current_namespace(&self, namespace: &str) {
        self.context.state_ref().write().config_mut().options_mut().catalog.default_schema = namespace.to_string();
    }

    /// Resolves a written reference against the current namespace.
    pub(crate) fn resolve(&self, reference: &ObjectRef) -> (String, String) {
        let namespace = reference.namespace.clone().unwrap_or_else(|| self.current_namespace());
        (namespace, reference.name.clone())
    }

    /// Whether simple statements may skip DataFusion's planner: enabled for the session,
    /// and the session's SQL settings are the defaults the recognizer
    /// (`sql::simple`) reproduces.
    pub(crate) fn simple_statements_apply(&self) -> bool {
        if !self.simple_enabled {
            return false;
        }
        let state = self.context.state_ref();
        let state = state.read();
        let options = state.config().options();
        let parser = &options.sql_parser;
        parser.enable_ident_normalization
            && !parser.parse_float_as_decimal
            && matches!(parser.dialect, Dialect::Generic)
            && options.catalog.default_catalog == CATALOG_NAME
    }

    fn dialect(&self) -> Result<Box<dyn SqlDialect>> {
        let name = self.context.state_ref().read().config().options().sql_parser.dialect.to_string();
        dialect_from_str(&name).ok_or_else(|| EngineError::internal(format!("unknown SQL dialect {name}")))
    }

    /// Runs every statement of `sql` in order and returns the result of the last one.
    /// Stops at the first failing statement; statements before it stay applied.
    pub async fn execute(&mut self, sql: &str) -> Result<QueryResult> {
        let mut results = self.execute_all(sql).await?;
        results.pop().ok_or_else(|| EngineError::syntax("empty statement"))
    }

    /// Runs every statement of `sql` in order and returns each result.
    pub async fn execute_all(&mut self, sql: &str) -> Result<Vec<QueryResult>> {
        if let Some(result) = exec::simple::try_execute(self, sql).await? {
            self.simple_statements += 1;
            return Ok(vec![result]);
        }
        // The dialect is not Send: parse before the first await.
        let statements = {
            let dialect = self.dialect()?;
            parse_statements(sql, dialect.as_ref())?
        };
        let mut results = Vec::with_capacity(statements.len());
        for statement in statements {
            results.push(self.execute_statement(statement).await?);
        }
        Ok(results)
    }

    async fn execute_statement(&mut self, statement: EngineStatement) -> Result<QueryResult> {
        match statement {
            EngineStatement::CreateNamespace { name, if_not_exists } => {
                exec::namespace::create(self, &name, if_not_exists).await
            }
            EngineStatement::DropNamespace { name, if_exists, cascade } => {
                exec::namespace::drop(self, &name, if_exists, cascade).await
            }
            EngineStatement::ShowNamespaces => exec::show::namespaces(self),
            EngineStatement::Use { namespace } => exec::namespace::use_namespace(self, &namespace),
            EngineStatement::ShowTables { namespace } => exec::show::tables(self, namespace),
            EngineStatement::Describe { table } => exec::show::describe(self, &table),
            EngineStatement::CreateTable { kind, statement } => exec::create_table::execute(self, kind, *statement).await,
            EngineStatement::DropTable { tables, if_exists } => exec::drop_table::execute(self, &tables, if_exists).await,
            EngineStatement::Sql { statement, mentions } => self.execute_datafusion(*statement, mentions).await,
        }
    }

    /// The system columns a table reference exposes in a statement naming `mentions`.
    fn exposed_columns(&self, reference: &ObjectRef, mentions: &[SystemColumn]) -> Vec<SystemColumn> {
        let (namespace, name) = self.resolve(reference);
        match self.shared.catalog.table(&namespace, &name) {
            Some(entry) => entry.kind().system_columns().iter().copied().filter(|c| mentions.contains(c)).collect(),
            None => Vec::new(),
        }
    }

    async fn execute_datafusion(&mut self, mut statement: Statement, mentions: Vec<SystemColumn>) -> Result<QueryResult> {
        if let Statement::Update(update) = &statement
            && mentions.is_empty()
            && let Some(result) = exec::simple::try_update(self, update).await?
        {
            self.simple_statements += 1;
            return Ok(result);
        }
        let target = self.dml_target(&statement)?;
        if target.as_ref().is_some_and(|t| t.namespace == SYSTEM_NAMESPACE) {
            return Err(read_only());
        }
        if !mentions.is_empty() {
            exclude_system_columns_from_wildcards(&mut statement, &|r: &ObjectRef| self.exposed_columns(r, &mentions));
        }
        let plan = self.plan(statement, StatementScope { mentions, target }).await?;
        match plan {
            LogicalPlan::Dml(DmlStatement { op: WriteOp::Update | WriteOp::Delete, .. }) => {
                let LogicalPlan::Dml(dml) = plan else { unreachable!("matched above") };
                exec::dml::execute(self, dml).await.map(QueryResult::Count)
            }
            LogicalPlan::Ddl(ddl) => Err(EngineError::not_supported(format!("{} is not supported", ddl.name()))),
            LogicalPlan::Statement(datafusion::logical_expr::Statement::TransactionStart(_))
            | LogicalPlan::Statement(datafusion::logical_expr::Statement::TransactionEnd(_)) => Err(
                EngineError::not_supported("transactions are not supported: every statement commits on its own"),
            ),
            LogicalPlan::Statement(datafusion::logical_expr::Statement::Prepare(_))
            | LogicalPlan::Statement(datafusion::logical_expr::Statement::Execute(_))
            | LogicalPlan::Statement(datafusion::logical_expr::Statement::Deallocate(_)) => {
                Err(EngineError::not_supported("prepared statements are not supported"))
            }
            LogicalPlan::Copy(_) => Err(EngineError::not_supported("COPY is not supported")),
            plan => {
                if matches!(plan, LogicalPlan::Statement(_)) {
                    // SET and the like may change how expressions plan: forget planned ones.
                    self.assignments.clear();
                }
                let is_count = matches!(plan, LogicalPlan::Dml(_));
                let frame = self.context.execute_logical_plan(plan).await?;
                let schema = frame.schema().inner().clone();
                let batches = frame.collect().await?;
                if is_count {
                    Ok(QueryResult::Count(exec::dml::count_of(&batches)))
                } else {
                    Ok(QueryResult::Rows { schema, batches })
                }
            }
        }
    }

    /// Plans a statement with DataFusion under the given scope.
    pub(crate) async fn plan(&self, statement: Statement, statement_scope: StatementScope) -> Result<LogicalPlan> {
        scope::set(&self.scope, statement_scope);
        let state = self.context.state();
        let planned = state.statement_to_plan(DfStatement::Statement(Box::new(statement))).await;
        scope::set(&self.scope, StatementScope::default());
        planned.map_err(|error| self.explain_missing_table(EngineError::from(error)))
    }

    /// DataFusion reports `ns.t` in a missing namespace as a missing table; say which
    /// namespace is missing instead.
    fn explain_missing_table(&self, error: EngineError) -> EngineError {
        if error.sql_state() != SqlState::UNDEFINED_TABLE {
            return error;
        }
        let quoted = error.message().split('\'').nth(1).unwrap_or_default();
        let parts: Vec<&str> = quoted.split('.').collect();
        match parts.as_slice() {
            [_catalog, namespace, _table]
                if *namespace != SYSTEM_NAMESPACE
                    && *namespace != INFORMATION_SCHEMA
                    && !self.shared.catalog.namespace_exists(namespace) =>
            {
                EngineError::undefined_namespace(namespace)
            }
            _ => error,
        }
    }

    /// The table an INSERT, UPDATE or DELETE writes to.
    fn dml_target(&self, statement: &Statement) -> Result<Option<DmlTarget>> {
        let (name, needs_row_key) = match statement {
            Statement::Insert(insert) => match &insert.table {
                TableObject::TableName(name) => (name.clone(), false),
                _ => return Ok(None),
            },
            Statement::Update(update) => match &update.table.relation {
                TableFactor::Table { name, .. } => (name.clone(), true),
                _ => return Ok(None),
            },
            Statement::Delete(delete) => {
                let tables = match &delete.from {
                    FromTable::WithFromKeyword(tables) | FromTable::WithoutKeyword(tables) => tables,
                };
                match tables.first().map(|t| &t.relation) {
                    Some(TableFactor::Table { name, .. }) => (name.clone(), true),
                    _ => return Ok(None),
                }
            }
            _ => return Ok(None),
        };
        let (namespace, table) = self.resolve(&object_ref(&name)?);
        Ok(Some(DmlTarget { namespace, table, needs_row_key }))
    }
}

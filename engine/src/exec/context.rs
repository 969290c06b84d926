//! What an engine-executed statement runs with: the engine's shared state, the session's
//! user, and the session's DataFusion context (whose catalog the session registers). The
//! session owns one [`ExecContext`] and hands it to every executor, so executors never
//! reach into the session itself.

use std::sync::{Arc, Mutex};

use datafusion::common::config::Dialect;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::Statement;
use datafusion::sql::sqlparser::dialect::{Dialect as SqlDialect, dialect_from_str};

use crate::catalog::{CATALOG_NAME, INFORMATION_SCHEMA, SYSTEM_NAMESPACE};
use crate::error::{EngineError, Result, SqlState};
use crate::exec::simple::AssignmentCache;
use crate::permissions::SessionUser;
use crate::planning::{self, PlanningOptions};
use crate::provider::statement::{self, NotesCell, StatementNotes};
use crate::provider::transaction::InTransaction;
use crate::shared::EngineShared;
use crate::sql::ObjectRef;
use crate::storage::ReadPoint;
use crate::storage::UserId;
use crate::storage::read_point::ReadLog;

pub struct ExecContext {
    pub shared: Arc<EngineShared>,
    /// The effective user (the `EXECUTE AS` target inside one).
    pub user: SessionUser,
    /// The user the session logged in as (rules about "your own" user follow it, so
    /// `EXECUTE AS` never makes another user's account one's own).
    pub login: UserId,
    /// The session's DataFusion context: its settings, and the catalog the session
    /// registered over the engine's namespaces.
    pub datafusion: SessionContext,
    /// What the statement being planned asks of the catalog's providers.
    pub notes: NotesCell,
    /// SET expressions of simple UPDATEs, planned once per session.
    pub assignments: AssignmentCache,
    /// The transaction block the running statement is in (the session sets it before
    /// each statement of a block).
    pub transaction: Option<InTransaction>,
    /// Outside a block: where the running statement notes what it reads, when it writes
    /// after reading (its commit checks that nothing it read changed meanwhile).
    pub reads: Option<Arc<Mutex<ReadLog>>>,
}

impl ExecContext {
    /// A context with a DataFusion session state that has the engine's functions and no
    /// catalog yet.
    pub fn new(shared: Arc<EngineShared>, user: SessionUser) -> ExecContext {
        let config = shared.session_config();
        ExecContext::with_config(shared, user, config)
    }

    /// [`ExecContext::new`] with other DataFusion settings.
    pub fn with_config(shared: Arc<EngineShared>, user: SessionUser, config: SessionConfig) -> ExecContext {
        let state = planning::session_state(config, &shared.functions);
        ExecContext {
            datafusion: SessionContext::new_with_state(state),
            shared,
            login: user.id,
            user,
            notes: Arc::new(Mutex::new(StatementNotes::default())),
            assignments: AssignmentCache::default(),
            transaction: None,
            reads: None,
        }
    }

    /// Where the running statement reads: its transaction's view, or the present.
    pub fn read_point(&self) -> ReadPoint {
        match (&self.transaction, &self.reads) {
            (Some(transaction), _) => transaction.at.clone(),
            (None, Some(log)) => ReadPoint::now_noting(log.clone()),
            (None, None) => ReadPoint::now(),
        }
    }

    /// The namespace unqualified names resolve in.
    pub fn current_namespace(&self) -> String {
        self.datafusion.state_ref().read().config().options().catalog.default_schema.clone()
    }

    pub fn set_current_namespace(&self, namespace: &str) {
        self.datafusion.state_ref().write().config_mut().options_mut().catalog.default_schema = namespace.to_string();
    }

    /// A written reference with its namespace filled in.
    pub fn qualify(&self, reference: &ObjectRef) -> (String, String) {
        let namespace = reference.namespace.clone().unwrap_or_else(|| self.current_namespace());
        (namespace, reference.name.clone())
    }

    /// Whether the session's SQL settings are the defaults the simple-statement recognizer
    /// (`sql::simple`) reproduces.
    pub fn has_default_sql_settings(&self) -> bool {
        let state = self.datafusion.state_ref();
        let state = state.read();
        let options = state.config().options();
        let parser = &options.sql_parser;
        parser.enable_ident_normalization
            && !parser.parse_float_as_decimal
            && matches!(parser.dialect, Dialect::Generic)
            && options.catalog.default_catalog == CATALOG_NAME
    }

    /// The settings that change how stored SQL text (DEFAULTs, views) plans.
    pub fn planning_options(&self) -> PlanningOptions {
        planning::capture(self.datafusion.state_ref().read().config().options())
    }

    /// The session's SQL dialect (not `Send`: use it before the next `.await`).
    pub fn dialect(&self) -> Result<Box<dyn SqlDialect>> {
        let name = self.datafusion.state_ref().read().config().options().sql_parser.dialect.to_string();
        dialect_from_str(&name).ok_or_else(|| EngineError::internal(format!("unknown SQL dialect {name}")))
    }

    /// Plans a statement with DataFusion with `statement_notes` for the table providers.
    pub async fn plan(&self, statement: Statement, mut statement_notes: StatementNotes) -> Result<LogicalPlan> {
        statement_notes.transaction = self.transaction.clone();
        statement_notes.at = self.read_point();
        statement::set(&self.notes, statement_notes);
        let state = self.datafusion.state();
        let planned = state.statement_to_plan(DfStatement::Statement(Box::new(statement))).await;
        statement::set(&self.notes, StatementNotes::default());
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
}

//! Prepared statements: a statement parsed once, described without running (its `$n`
//! parameters' types and its result columns, as DataFusion plans it), then run many
//! times with values ([`Session::run`]); and SQL's `PREPARE`, `EXECUTE` and
//! `DEALLOCATE`, which keep named statements in the session.
//!
//! Running binds the values into the statement's text as literals (`sql::script`) and
//! runs the bound statement as any other: the simple path takes it when it is one of the
//! simple shapes, and the planner plans it against the catalog as it is now, so a
//! prepared statement never runs on a stale plan or with permissions of the past.

use std::collections::HashMap;

use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::common::ScalarValue;
use datafusion::logical_expr::LogicalPlan;
use datafusion::sql::sqlparser::ast::{Expr, Statement};

use crate::error::{EngineError, Result, SqlState};
use crate::exec;
use crate::functions::with_effective_user;
use crate::result::QueryResult;
use crate::session::Session;
use crate::sql::parser::{EngineStatement, parse_statements};
use crate::sql::script::{StatementText, bind, parse_script};
use crate::sql::transaction::TransactionStatement;

/// One parsed statement, ready to describe and to run any number of times.
#[derive(Debug, Clone)]
pub struct PreparedStatement {
    parsed: StatementText,
}

impl PreparedStatement {
    /// The statement's text as written.
    pub fn text(&self) -> &str {
        &self.parsed.text
    }

    /// How many values a run takes (the highest `$n` the statement names).
    pub fn parameter_count(&self) -> usize {
        self.parsed.parameters
    }

    /// Whether this is `SUBSCRIBE TO` (whose rows are events, read from the subscription).
    pub fn is_subscribe(&self) -> bool {
        matches!(self.parsed.statement, EngineStatement::Subscribe(_))
    }

    /// Whether this is transaction control (`BEGIN`, `COMMIT`, `ROLLBACK`, ...).
    pub fn is_transaction_control(&self) -> bool {
        matches!(self.parsed.statement, EngineStatement::Transaction(_))
    }
}

/// What a prepared statement takes and returns, learnt without running it.
#[derive(Debug, Clone)]
pub struct StatementDescription {
    /// The type of each `$n`, in order (`None`: nothing in the statement decides it; a
    /// client then sends text).
    pub parameters: Vec<Option<DataType>>,
    /// The columns of the rows it returns (`None`: it returns a count or a command tag).
    pub columns: Option<SchemaRef>,
}

/// The session's named statements (SQL `PREPARE`), with the SQL types PREPARE declared
/// for their parameters.
pub(super) type NamedStatements = HashMap<String, (PreparedStatement, Vec<String>)>;

impl Session {
    /// Parses every statement of `sql` without running any: a syntax error anywhere
    /// fails the whole text (and, in a transaction block, the block, as a failed
    /// statement would).
    pub fn parse(&mut self, sql: &str) -> Result<Vec<PreparedStatement>> {
        let parsed = self.exec.dialect().and_then(|dialect| parse_script(sql, dialect.as_ref()));
        let parsed = self.failing_block(parsed)?;
        Ok(parsed
            .into_iter()
            .map(|mut parsed| {
                // PREPARE's `$n` are its statement's, bound by EXECUTE, not PREPARE's own.
                if matches!(&parsed.statement, EngineStatement::Sql { statement, .. } if matches!(statement.as_ref(), Statement::Prepare { .. })) {
                    parsed.parameters = 0;
                }
                PreparedStatement { parsed }
            })
            .collect())
    }

    /// Parses `sql`, which must hold exactly one statement (it may be empty: then `None`).
    pub fn prepare(&mut self, sql: &str) -> Result<Option<PreparedStatement>> {
        let mut statements = self.parse(sql)?;
        if statements.len() > 1 {
            return self.failing_block(Err(EngineError::syntax("cannot insert multiple commands into a prepared statement")));
        }
        Ok(statements.pop())
    }

    /// The statement's parameter types and result columns, as the planner sees them now
    /// (nothing runs, except the engine's read-only SHOW and DESCRIBE statements, whose
    /// columns are learnt from their answer).
    pub async fn describe(&mut self, statement: &PreparedStatement) -> Result<StatementDescription> {
        self.refresh_user()?;
        let name = self.login.name.clone();
        let parsed = statement.parsed.clone();
        let described = with_effective_user(&name, Box::pin(self.describe_statement(parsed.statement, parsed.parameters))).await;
        self.failing_block(described)
    }

    async fn describe_statement(&mut self, statement: EngineStatement, parameters: usize) -> Result<StatementDescription> {
        let unknown = StatementDescription { parameters: vec![None; parameters], columns: None };
        match statement {
            EngineStatement::Sql { statement, mentions } => {
                if let Statement::Execute { name: Some(name), .. } = statement.as_ref() {
                    let named = self.named(&name.to_string())?.0.clone();
                    let inner = Box::pin(self.describe_statement(named.parsed.statement, named.parsed.parameters)).await?;
                    return Ok(StatementDescription { parameters: unknown.parameters, columns: inner.columns });
                }
                if matches!(statement.as_ref(), Statement::Prepare { .. } | Statement::Deallocate { .. }) {
                    return Ok(unknown);
                }
                let plan = exec::query::plan(&self.exec, *statement, mentions).await?;
                let types = plan.get_parameter_types()?;
                let parameters = (1..=parameters).map(|n| types.get(&format!("${n}")).cloned().flatten()).collect();
                let columns = match plan {
                    LogicalPlan::Dml(_) | LogicalPlan::Ddl(_) | LogicalPlan::Statement(_) | LogicalPlan::Copy(_) => None,
                    plan => Some(plan.schema().inner().clone()),
                };
                Ok(StatementDescription { parameters, columns })
            }
            EngineStatement::ExecuteAs { statement, .. } => Box::pin(self.describe_statement(*statement, parameters)).await,
            statement @ (EngineStatement::ShowNamespaces
            | EngineStatement::ShowTables { .. }
            | EngineStatement::Describe { .. }
            | EngineStatement::Transaction(TransactionStatement::ShowIsolation)) => {
                let answer = Box::pin(self.execute_in_block(statement)).await?.collected().await?;
                let columns = match answer {
                    QueryResult::Rows { schema, .. } => Some(schema),
                    _ => None,
                };
                Ok(StatementDescription { parameters: unknown.parameters, columns })
            }
            _ => Ok(unknown),
        }
    }

    /// Runs a prepared statement with `values` for its parameters (as many as it takes).
    /// Rows come as [`QueryResult::Stream`]: read (or drop) them before the session's
    /// next statement.
    pub async fn run(&mut self, statement: &PreparedStatement, values: &[ScalarValue]) -> Result<QueryResult> {
        self.refresh_user()?;
        let name = self.login.name.clone();
        with_effective_user(&name, Box::pin(self.run_prepared(statement, values))).await
    }

    async fn run_prepared(&mut self, statement: &PreparedStatement, values: &[ScalarValue]) -> Result<QueryResult> {
        let parsed = &statement.parsed;
        if values.len() != parsed.parameters {
            return Err(EngineError::new(
                SqlState::PROTOCOL_VIOLATION,
                format!("{} values were given, but the prepared statement takes {}", values.len(), parsed.parameters),
            ));
        }
        let text = if values.is_empty() {
            parsed.text.clone()
        } else {
            let dialect = self.exec.dialect()?;
            bind(&parsed.text, dialect.as_ref(), values)?
        };
        // The simple path first: a bound point statement needs no full parse.
        if let Some(result) = self.try_simple(&text).await? {
            return Ok(result);
        }
        let statement = if values.is_empty() {
            parsed.statement.clone()
        } else {
            let mut statements = {
                let dialect = self.exec.dialect()?;
                parse_statements(&text, dialect.as_ref())?
            };
            match (statements.pop(), statements.is_empty()) {
                (Some(statement), true) => statement,
                _ => return Err(EngineError::internal("a bound statement did not parse as one statement")),
            }
        };
        self.execute_in_block(statement).await
    }

    /// SQL's `PREPARE`, `EXECUTE` and `DEALLOCATE` (`None`: `statement` is none of them).
    pub(super) async fn named_statement_command(&mut self, statement: &EngineStatement) -> Option<Result<QueryResult>> {
        let EngineStatement::Sql { statement, .. } = statement else { return None };
        Some(match statement.as_ref() {
            Statement::Prepare { name, data_types, statement } => self.prepare_named(&name.value, data_types, statement),
            Statement::Execute { name: Some(name), parameters, immediate: false, using, .. } if using.is_empty() => {
                Box::pin(self.execute_named(&name.to_string(), parameters)).await
            }
            Statement::Deallocate { name, .. } => self.deallocate(&name.value),
            _ => return None,
        })
    }

    fn prepare_named(
        &mut self,
        name: &str,
        types: &[datafusion::sql::sqlparser::ast::DataType],
        statement: &Statement,
    ) -> Result<QueryResult> {
        if self.named_statements.contains_key(name) {
            return Err(EngineError::new(SqlState::DUPLICATE_PREPARED_STATEMENT, format!("prepared statement \"{name}\" already exists")));
        }
        let Some(mut prepared) = self.prepare(&statement.to_string())? else {
            return Err(EngineError::syntax("PREPARE needs a statement"));
        };
        prepared.parsed.parameters = prepared.parsed.parameters.max(types.len());
        self.named_statements.insert(name.to_string(), (prepared, types.iter().map(ToString::to_string).collect()));
        Ok(QueryResult::Message("PREPARE".into()))
    }

    fn named(&self, name: &str) -> Result<&(PreparedStatement, Vec<String>)> {
        self.named_statements.get(name).ok_or_else(|| {
            EngineError::new(SqlState::UNDEFINED_PREPARED_STATEMENT, format!("prepared statement \"{name}\" does not exist"))
        })
    }

    /// `EXECUTE name (expressions)`: the expressions are evaluated (cast to the types
    /// PREPARE declared), then the statement runs with them.
    async fn execute_named(&mut self, name: &str, arguments: &[Expr]) -> Result<QueryResult> {
        let (prepared, types) = self.named(name)?.clone();
        if arguments.len() != prepared.parsed.parameters {
            return Err(EngineError::syntax(format!(
                "wrong number of parameters for prepared statement \"{name}\": expected {}, got {}",
                prepared.parsed.parameters,
                arguments.len()
            )));
        }
        let values = self.evaluate(arguments, types).await?;
        self.run_prepared(&prepared, &values).await?.collected().await
    }

    /// The values of constant expressions, each cast to its declared SQL type if any.
    async fn evaluate(&mut self, arguments: &[Expr], types: Vec<String>) -> Result<Vec<ScalarValue>> {
        if arguments.is_empty() {
            return Ok(Vec::new());
        }
        let columns: Vec<String> = arguments
            .iter()
            .enumerate()
            .map(|(i, argument)| match types.get(i) {
                Some(declared) => format!("CAST(({argument}) AS {declared})"),
                None => format!("({argument})"),
            })
            .collect();
        let query = format!("SELECT {}", columns.join(", "));
        let statement = {
            let dialect = self.exec.dialect()?;
            parse_statements(&query, dialect.as_ref())?.pop().ok_or_else(|| EngineError::internal("no statement"))?
        };
        let EngineStatement::Sql { statement, mentions } = statement else {
            return Err(EngineError::syntax("EXECUTE parameters must be expressions"));
        };
        let answer = exec::query::execute(&self.exec, *statement, mentions).await?.collected().await?;
        let QueryResult::Rows { batches, .. } = answer else { return Err(EngineError::internal("parameters gave no row")) };
        let row = batches.iter().find(|b| b.num_rows() > 0).ok_or_else(|| EngineError::internal("parameters gave no row"))?;
        row.columns().iter().map(|column| ScalarValue::try_from_array(column, 0).map_err(EngineError::from)).collect()
    }

    fn deallocate(&mut self, name: &str) -> Result<QueryResult> {
        if name.eq_ignore_ascii_case("all") {
            self.named_statements.clear();
            return Ok(QueryResult::Message("DEALLOCATE ALL".into()));
        }
        self.named(name)?;
        self.named_statements.remove(name);
        Ok(QueryResult::Message("DEALLOCATE".into()))
    }
}

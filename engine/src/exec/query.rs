//! Statements DataFusion plans and runs: queries, INSERT, UPDATE, DELETE, TRUNCATE,
//! EXPLAIN, SET. The engine prepares the statement (system columns stay out of `*`; the
//! INSERT target of a statement that names system columns and reads the target too is
//! planned under the catalog of INSERT targets, so the same table on the source side
//! keeps them: DataFusion gives one provider per distinct name, and the two uses need two
//! schemas), tells the catalog's providers what the statement asks of them, and executes
//! UPDATE and DELETE itself from the plan DataFusion built.

use std::ops::ControlFlow;

use datafusion::logical_expr::{DdlStatement, DmlStatement, LogicalPlan, WriteOp};
use datafusion::sql::sqlparser::ast::{FromTable, Ident, ObjectName, ObjectNamePart, Statement, TableFactor, TableObject, visit_relations};

use crate::catalog::{INSERT_TARGET_CATALOG, SystemColumn};
use crate::error::{EngineError, Result};
use crate::exec::context::ExecContext;
use crate::exec::dml;
use crate::functions::StatementScope;
use crate::provider::statement::{DmlKind, DmlTarget, ReadLog, StatementNotes};
use crate::result::{CountedCommand, QueryResult, RowStream};
use crate::sql::parser::{ObjectRef, object_ref};
use crate::sql::system_columns::exclude_system_columns_from_wildcards;

const IDENT_NORMALIZATION: &str = "datafusion.sql_parser.enable_ident_normalization";

/// Plans and runs one statement.
pub async fn execute(ctx: &ExecContext, statement: Statement, mentions: Vec<SystemColumn>) -> Result<QueryResult> {
    let plan = plan(ctx, statement, mentions).await?;
    match plan {
        LogicalPlan::Dml(DmlStatement { op: WriteOp::Update | WriteOp::Delete, .. }) => {
            let LogicalPlan::Dml(dml) = plan else { unreachable!("matched above") };
            let command = CountedCommand::of_write(&dml.op);
            dml::execute(ctx, dml).await.map(|rows| QueryResult::Count { command, rows })
        }
        // No secondary indexes yet: DataFusion's own answer.
        plan @ LogicalPlan::Ddl(DdlStatement::CreateIndex(_)) => {
            ctx.datafusion.execute_logical_plan(plan).await?.collect().await?;
            Ok(QueryResult::Message("CREATE INDEX".into()))
        }
        LogicalPlan::Ddl(ddl) => Err(EngineError::not_supported(format!("{} is not supported", ddl.name()))),
        LogicalPlan::Statement(datafusion::logical_expr::Statement::TransactionStart(_))
        | LogicalPlan::Statement(datafusion::logical_expr::Statement::TransactionEnd(_)) => {
            // The session runs transaction control (`exec::transaction`); none reaches here.
            Err(EngineError::internal("transaction control reached the planner"))
        }
        LogicalPlan::Statement(datafusion::logical_expr::Statement::Prepare(_))
        | LogicalPlan::Statement(datafusion::logical_expr::Statement::Execute(_))
        | LogicalPlan::Statement(datafusion::logical_expr::Statement::Deallocate(_)) => {
            Err(EngineError::not_supported("prepared statements are not supported"))
        }
        LogicalPlan::Copy(_) => Err(EngineError::not_supported("COPY is not supported")),
        // The engine resolves names (DML targets, permissions) with SQL's folding rule; a
        // session that planned names another way would resolve them differently.
        LogicalPlan::Statement(datafusion::logical_expr::Statement::SetVariable(set))
            if set.variable.eq_ignore_ascii_case(IDENT_NORMALIZATION) && !set.value.eq_ignore_ascii_case("true") =>
        {
            Err(EngineError::not_supported(format!(
                "{IDENT_NORMALIZATION} cannot be turned off: the engine folds unquoted names to lower case; quote names to keep their case"
            )))
        }
        plan => {
            if matches!(plan, LogicalPlan::Statement(_)) {
                // SET and the like may change how expressions plan: forget planned ones.
                ctx.assignments.clear();
            }
            let counted = match &plan {
                LogicalPlan::Dml(dml) => Some(CountedCommand::of_write(&dml.op)),
                _ => None,
            };
            let frame = ctx.datafusion.execute_logical_plan(plan).await?;
            match counted {
                Some(command) => Ok(QueryResult::Count { command, rows: dml::count_of(&frame.collect().await?) }),
                None => {
                    // Planned and started now (the scans take the statement's snapshot and
                    // block here); the rows are read as the caller reads them.
                    let schema = frame.schema().inner().clone();
                    let batches = frame.execute_stream().await?;
                    Ok(QueryResult::Stream(RowStream::new(schema, batches, StatementScope::current())))
                }
            }
        }
    }
}

/// Prepares and plans a statement: wildcards without system columns, the DML target
/// told to the catalog, INSERT targets apart from sources when system columns are named.
pub async fn plan(ctx: &ExecContext, statement: Statement, mentions: Vec<SystemColumn>) -> Result<LogicalPlan> {
    plan_in_scope(ctx, statement, mentions, None, None).await
}

/// [`plan`] for the query of a view being created or replaced: reaching that view from
/// the query, directly or through other views, is an error (42P17), so no stored view
/// ever reaches itself.
/// Also returns the tables and views the query reads directly.
pub async fn plan_view_query(
    ctx: &ExecContext,
    statement: Statement,
    mentions: Vec<SystemColumn>,
    view: (String, String),
) -> Result<(LogicalPlan, Vec<(String, String)>)> {
    let reads = ReadLog::default();
    let plan = plan_in_scope(ctx, statement, mentions, Some(view), Some(reads.clone())).await?;
    let reads = reads.lock().unwrap_or_else(|p| p.into_inner()).iter().cloned().collect();
    Ok((plan, reads))
}

async fn plan_in_scope(
    ctx: &ExecContext,
    mut statement: Statement,
    mentions: Vec<SystemColumn>,
    defining_view: Option<(String, String)>,
    reads: Option<ReadLog>,
) -> Result<LogicalPlan> {
    let mut target = dml_target(ctx, &statement)?;
    let mut insert_target = None;
    if !mentions.is_empty() {
        exclude_system_columns_from_wildcards(&mut statement, &|r: &ObjectRef| exposed_columns(ctx, r, &mentions));
        if let Some(written) = target.take_if(|t| t.kind == DmlKind::Insert && is_also_read(ctx, &statement, t))
            && let Statement::Insert(insert) = &mut statement
        {
            // The target catalog marks the target; every reference by name is a source.
            insert.table = TableObject::TableName(insert_target_name(&written));
            insert_target = Some(written);
        }
    }
    ctx.plan(statement, StatementNotes { mentions, target, insert_target, defining_view, reads, transaction: None, at: Default::default() })
        .await
}

/// The name an INSERT target is planned under when the statement names system columns:
/// the same namespace and table in the catalog of INSERT targets, whose providers show
/// only the user columns (the same table read as a source keeps its system columns).
fn insert_target_name(target: &DmlTarget) -> ObjectName {
    ObjectName(
        [INSERT_TARGET_CATALOG, target.namespace.as_str(), target.table.as_str()]
            .into_iter()
            .map(|part| ObjectNamePart::Identifier(Ident::with_quote('"', part)))
            .collect(),
    )
}

/// Whether a statement refers to its INSERT target more than once (reads it too).
fn is_also_read(ctx: &ExecContext, statement: &Statement, target: &DmlTarget) -> bool {
    let mut references = 0;
    let _ = visit_relations(statement, |name| {
        if let Ok(reference) = object_ref(name)
            && ctx.qualify(&reference) == (target.namespace.clone(), target.table.clone())
        {
            references += 1;
        }
        ControlFlow::<()>::Continue(())
    });
    references > 1
}

/// The system columns a table reference exposes in a statement naming `mentions`.
fn exposed_columns(ctx: &ExecContext, reference: &ObjectRef, mentions: &[SystemColumn]) -> Vec<SystemColumn> {
    let (namespace, name) = ctx.qualify(reference);
    match ctx.shared.catalog.table(&namespace, &name) {
        Some(entry) => entry.kind().system_columns().iter().copied().filter(|c| mentions.contains(c)).collect(),
        None => Vec::new(),
    }
}

/// The table an INSERT, UPDATE, DELETE or TRUNCATE writes to (also under EXPLAIN, whose
/// ANALYZE runs the statement).
fn dml_target(ctx: &ExecContext, statement: &Statement) -> Result<Option<DmlTarget>> {
    let (name, kind) = match statement {
        Statement::Explain { statement, .. } => return dml_target(ctx, statement),
        Statement::Insert(insert) => match &insert.table {
            TableObject::TableName(name) => (name.clone(), DmlKind::Insert),
            _ => return Ok(None),
        },
        Statement::Update(update) => match &update.table.relation {
            TableFactor::Table { name, .. } => (name.clone(), DmlKind::UpdateOrDelete),
            _ => return Ok(None),
        },
        Statement::Delete(delete) => {
            let tables = match &delete.from {
                FromTable::WithFromKeyword(tables) | FromTable::WithoutKeyword(tables) => tables,
            };
            match tables.first().map(|t| &t.relation) {
                Some(TableFactor::Table { name, .. }) => (name.clone(), DmlKind::UpdateOrDelete),
                _ => return Ok(None),
            }
        }
        Statement::Truncate(truncate) => match truncate.table_names.first() {
            Some(target) => (target.name.clone(), DmlKind::Truncate),
            None => return Ok(None),
        },
        _ => return Ok(None),
    };
    let (namespace, table) = ctx.qualify(&object_ref(&name)?);
    Ok(Some(DmlTarget { namespace, table, kind }))
}

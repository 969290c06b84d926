//! Plans a view for one statement that reads it: the view's SQL text, parsed with the
//! settings of the session that created it, planned in the view's namespace as the
//! querying user (so the resolver scopes every table inside it to that user), with a
//! statement scope of its own (its own system-column mentions). A view that reaches
//! itself, directly or through other views, is an error (42P17); CREATE VIEW refuses to
//! store one (the view being defined is on the stack while its query plans). A view that
//! cannot be planned now for another reason (a table it reads was dropped) still shows
//! its stored columns, so listings such as `information_schema.columns` work; reading it
//! fails with the planning error. A view reads where the statement that reads it reads
//! (inside a transaction block: the block's view, with the block's own writes).

use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::Session as DfSession;
use datafusion::common::Result as DfResult;
use datafusion::datasource::{TableProvider, TableType, ViewTable};
use datafusion::logical_expr::{Expr, LogicalPlanBuilder, col};
use datafusion::physical_plan::ExecutionPlan;

use crate::catalog::ViewDefinition;
use crate::error::{EngineError, Result, SqlState};
use crate::exec::{ExecContext, query};
use crate::planning;
use crate::provider::statement;
use crate::session::catalog_provider::{CatalogContext, register_catalogs};
use crate::sql::{EngineStatement, parse_statements};

/// A provider for `view`, planned now for the user of `outer`. `defining`: the view a
/// CREATE VIEW statement is defining, which this one may not reach.
pub async fn view_provider(
    outer: &CatalogContext,
    view: &ViewDefinition,
    defining: Option<&(String, String)>,
) -> Result<Arc<dyn TableProvider>> {
    match plan_view(outer, view, defining).await {
        Ok(provider) => Ok(provider),
        // A view the reader may not read, or that reaches itself, is that error here.
        Err(error) if error.sql_state() == SqlState::INVALID_OBJECT_DEFINITION || error.sql_state() == SqlState::INSUFFICIENT_PRIVILEGE => {
            Err(error)
        }
        Err(error) => unplannable(view, error),
    }
}

async fn plan_view(outer: &CatalogContext, view: &ViewDefinition, defining: Option<&(String, String)>) -> Result<Arc<dyn TableProvider>> {
    let key = (view.namespace.clone(), view.name.clone());
    if outer.views.contains(&key) || defining == Some(&key) {
        return Err(EngineError::new(SqlState::INVALID_OBJECT_DEFINITION, format!("view {} refers to itself", view.qualified_name())));
    }
    let mut ctx = ExecContext::with_config(
        outer.shared.clone(),
        outer.user.clone(),
        planning::apply(outer.shared.session_config(), &view.planning_options)?,
    );
    // The view reads where the statement reading it reads: its transaction block's view
    // (with the block's own writes), and its read log.
    let reading = statement::current(&outer.notes);
    ctx.transaction = reading.transaction;
    ctx.reads = reading.at.log().cloned();
    ctx.set_current_namespace(&view.namespace);
    let mut views = outer.views.clone();
    views.extend(defining.cloned());
    views.push(key);
    register_catalogs(&ctx, views);
    let statement = {
        let dialect = ctx.dialect()?;
        let mut statements = parse_statements(&view.query_sql, dialect.as_ref())?;
        match (statements.pop(), statements.is_empty()) {
            (Some(EngineStatement::Sql { statement, mentions }), true) => Some((*statement, mentions)),
            _ => None,
        }
    };
    let Some((statement, mentions)) = statement else {
        return Err(EngineError::internal(format!("view {} does not hold one query", view.qualified_name())));
    };
    let mut plan = query::plan(&ctx, statement, mentions).await?;
    if !view.column_names.is_empty() {
        let exprs: Vec<Expr> = plan.schema().columns().into_iter().zip(&view.column_names).map(|(c, name)| col(c).alias(name)).collect();
        plan = LogicalPlanBuilder::from(plan).project(exprs)?.build()?;
    }
    Ok(Arc::new(ViewTable::new(plan, Some(view.query_sql.clone()))))
}

/// The stand-in for a view that does not plan now: its stored columns; reading it is the
/// planning error.
fn unplannable(view: &ViewDefinition, error: EngineError) -> Result<Arc<dyn TableProvider>> {
    let mut fields = Vec::with_capacity(view.columns.len());
    for column in &view.columns {
        let Ok(data_type) = DataType::from_str(&column.data_type) else { return Err(error) };
        fields.push(Field::new(&column.name, data_type, column.nullable));
    }
    Ok(Arc::new(UnplannableView { schema: Arc::new(Schema::new(fields)), error, definition: view.query_sql.clone() }))
}

#[derive(Debug)]
struct UnplannableView {
    schema: SchemaRef,
    error: EngineError,
    definition: String,
}

#[async_trait]
impl TableProvider for UnplannableView {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    fn get_table_definition(&self) -> Option<&str> {
        Some(&self.definition)
    }

    async fn scan(
        &self,
        _state: &dyn DfSession,
        _projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        Err(self.error.clone().into_datafusion())
    }
}

//! The logical side of an engine table: its schema as one statement sees it, pushdown
//! answers, defaults, and the INSERT/TRUNCATE hooks.
//!
//! A provider is built per statement ([`Exposure`]): system columns appear in its schema
//! only when the statement names them, and the target of UPDATE/DELETE also carries the
//! internal row-key column. That is how `SELECT *` never shows system columns while
//! `SELECT _seq FROM t` works.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::Session as DfSession;
use datafusion::common::{Constraint, Constraints, Result as DfResult};
use datafusion::datasource::{TableProvider, TableType};
use datafusion::logical_expr::dml::InsertOp;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;

use crate::catalog::{ROW_KEY_COLUMN, SystemColumn, TableEntry};
use crate::error::{EngineError, SqlState};
use crate::provider::key_range;
use crate::provider::prune::Pruning;
use crate::provider::request::{ColumnSource, ScanRequest, system_column_type};
use crate::provider::scan::ScanExec;
use crate::provider::statement::DmlKind;
use crate::provider::stream_rules::read_lower_bound;
use crate::provider::transaction::InTransaction;
use crate::provider::write_exec::{WriteExec, WriteKind};
use crate::shared::EngineShared;
use crate::storage::{ReadPoint, RowScope};

/// Which optional columns a statement sees on a table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Exposure {
    /// System columns in the schema (only those the table kind has).
    pub system_columns: Vec<SystemColumn>,
    /// Whether the statement names `_deleted` (deleted rows are visible only then).
    pub mentions_deleted: bool,
    /// Whether the internal row-key column is in the schema (UPDATE/DELETE targets).
    pub row_key: bool,
    /// Every user column reads as nullable (INSERT targets): NOT NULL is then checked by
    /// the engine's writer, which names the column and has the right SQLSTATE.
    pub relax_not_null: bool,
}

#[derive(Debug)]
pub struct EngineTableProvider {
    shared: Arc<EngineShared>,
    entry: Arc<TableEntry>,
    scope: RowScope,
    exposure: Exposure,
    /// How the resolver allowed this statement to write the table (`None`: read only).
    /// The write hooks refuse anything else, whatever DataFusion's plan asks for.
    write: Option<DmlKind>,
    schema: SchemaRef,
    sources: Vec<ColumnSource>,
    constraints: Constraints,
    /// The transaction block the statement runs in.
    transaction: Option<InTransaction>,
    /// Where the statement reads.
    at: ReadPoint,
}

impl EngineTableProvider {
    pub fn new(shared: Arc<EngineShared>, entry: Arc<TableEntry>, scope: RowScope, exposure: Exposure, write: Option<DmlKind>) -> Self {
        let mut fields: Vec<Field> =
            entry.schema.fields().iter().map(|f| f.as_ref().clone().with_nullable(f.is_nullable() || exposure.relax_not_null)).collect();
        let mut sources: Vec<ColumnSource> = (0..fields.len()).map(ColumnSource::User).collect();
        for column in entry.kind().system_columns() {
            if exposure.system_columns.contains(column) {
                fields.push(Field::new(column.name(), system_column_type(*column), false));
                sources.push(ColumnSource::System(*column));
            }
        }
        if exposure.row_key {
            fields.push(Field::new(ROW_KEY_COLUMN, DataType::Binary, false));
            sources.push(ColumnSource::RowKey);
        }
        let constraints = if entry.has_primary_key() {
            Constraints::new_unverified(vec![Constraint::PrimaryKey(entry.key_columns.clone())])
        } else {
            Constraints::default()
        };
        let schema = Arc::new(Schema::new(fields));
        EngineTableProvider { shared, entry, scope, exposure, write, schema, sources, constraints, transaction: None, at: ReadPoint::now() }
    }

    /// The provider of a statement running in a transaction block (`None`: on its own),
    /// reading at `at`.
    pub fn within(mut self, transaction: Option<InTransaction>, at: ReadPoint) -> Self {
        self.transaction = transaction;
        self.at = at;
        self
    }

    /// The plan that writes this statement's rows into the provider's scope, in its block.
    fn write_exec(&self, kind: WriteKind, input: Option<Arc<dyn ExecutionPlan>>) -> Arc<dyn ExecutionPlan> {
        let within = (self.transaction.clone(), self.at.clone());
        Arc::new(WriteExec::new(self.shared.clone(), self.entry.clone(), self.scope.clone(), within, kind, input))
    }

    /// The instant reads are made at: the transaction's start, or now.
    fn now_millis(&self) -> i64 {
        self.transaction.as_ref().map_or_else(|| self.shared.now_millis(), |t| t.start_millis)
    }

    pub fn entry(&self) -> &Arc<TableEntry> {
        &self.entry
    }

    pub fn scope(&self) -> &RowScope {
        &self.scope
    }

    /// Refuses a write the resolver did not allow for this statement, and UPDATE or
    /// DELETE of a STREAM table.
    pub fn check_write(&self, kind: DmlKind) -> Result<(), EngineError> {
        if kind == DmlKind::UpdateOrDelete && self.entry.kind().rules().append_only {
            return Err(crate::provider::stream_rules::append_only(&self.entry));
        }
        if self.write == Some(kind) {
            return Ok(());
        }
        Err(EngineError::new(
            SqlState::INSUFFICIENT_PRIVILEGE,
            format!(
                "permission denied: table {} was resolved for reading in this statement and cannot be written",
                self.entry.definition.qualified_name()
            ),
        ))
    }

    fn first_key_column(&self) -> Option<(&str, &DataType)> {
        let index = *self.entry.key_columns.first()?;
        let column = &self.entry.definition.columns[index];
        Some((column.name.as_str(), &column.data_type))
    }
}

#[async_trait]
impl TableProvider for EngineTableProvider {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn constraints(&self) -> Option<&Constraints> {
        Some(&self.constraints)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn get_column_default(&self, column: &str) -> Option<&Expr> {
        self.entry.defaults.get(column)
    }

    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> DfResult<Vec<TableProviderFilterPushDown>> {
        Ok(filters
            .iter()
            .map(|filter| match self.first_key_column() {
                Some((name, data_type)) if key_range::understands(filter, name, data_type) => TableProviderFilterPushDown::Inexact,
                // Any other filter may still rule out segments and row groups by their
                // statistics ([`Pruning`]); rows are filtered above the scan either way.
                _ if !filter.is_volatile() => TableProviderFilterPushDown::Inexact,
                _ => TableProviderFilterPushDown::Unsupported,
            })
            .collect())
    }

    async fn scan(
        &self,
        state: &dyn DfSession,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let indices: Vec<usize> = match projection {
            Some(p) => p.clone(),
            None => (0..self.sources.len()).collect(),
        };
        let sources: Vec<ColumnSource> = indices.iter().map(|&i| self.sources[i]).collect();
        let schema = Arc::new(self.schema.project(&indices)?);
        // Deleted rows are visible only to a statement that names `_deleted`. The decision
        // is per statement, not per scan projection: the optimizer may simplify a predicate
        // such as `_deleted OR NOT _deleted` away, and the statement must still see them.
        let include_deleted = self.exposure.mentions_deleted;
        let intervals = match self.first_key_column() {
            Some((name, data_type)) => key_range::key_intervals(filters, name, data_type),
            None => vec![key_range::KeyInterval::all()],
        };
        let request = ScanRequest {
            entry: self.entry.clone(),
            scope: self.scope.clone(),
            sources,
            intervals,
            include_deleted,
            limit,
            batch_rows: self.shared.config.scan_batch_rows,
            parallelism: state.config().target_partitions(),
            parallel_min_bytes: self.shared.config.parallel_scan_min_bytes,
            visible_from: read_lower_bound(&self.entry, &self.scope, self.now_millis()),
            // Only a scope with segments has statistics to prune by.
            pruning: match self.shared.cold.scope(self.entry.id(), &self.scope) {
                Some(_) => Pruning::new(filters, &self.schema, &self.sources),
                None => None,
            },
            pruned: Default::default(),
            checked_against: Some(self.shared.clone()),
            at: self.at.clone(),
        };
        Ok(Arc::new(ScanExec::new(self.shared.store.clone(), self.shared.cold.clone(), schema, request)))
    }

    async fn insert_into(
        &self,
        _state: &dyn DfSession,
        input: Arc<dyn ExecutionPlan>,
        insert_op: InsertOp,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        self.check_write(DmlKind::Insert).map_err(EngineError::into_datafusion)?;
        if insert_op != InsertOp::Append {
            return Err(EngineError::not_supported(format!("{insert_op} is not supported; use INSERT INTO")).into());
        }
        Ok(self.write_exec(WriteKind::Insert, Some(input)))
    }

    async fn truncate(&self, _state: &dyn DfSession) -> DfResult<Arc<dyn ExecutionPlan>> {
        self.check_write(DmlKind::Truncate).map_err(EngineError::into_datafusion)?;
        Ok(self.write_exec(WriteKind::Truncate, None))
    }
}

//! The execution plan DataFusion runs for INSERT and TRUNCATE on an engine table: it drains
//! its input, hands every row to [`TableWriter`] in one statement (which takes the table's
//! write lock only then, after the input is read), and returns the count.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::UInt64Array;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::Result as DfResult;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties, collect};

use crate::catalog::TableEntry;
use crate::provider::transaction::InTransaction;
use crate::provider::writer::TableWriter;
use crate::shared::EngineShared;
use crate::storage::ReadPoint;
use crate::storage::RowScope;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteKind {
    Insert,
    Truncate,
}

/// The one-column `count` schema DataFusion expects from DML plans.
pub fn count_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![Field::new("count", DataType::UInt64, false)]))
}

pub fn count_batch(count: u64) -> RecordBatch {
    RecordBatch::try_new(count_schema(), vec![Arc::new(UInt64Array::from(vec![count]))]).expect("count batch matches its schema")
}

#[derive(Debug)]
pub struct WriteExec {
    shared: Arc<EngineShared>,
    entry: Arc<TableEntry>,
    scope: RowScope,
    /// The transaction block the statement runs in, and where it reads.
    transaction: (Option<InTransaction>, ReadPoint),
    kind: WriteKind,
    input: Option<Arc<dyn ExecutionPlan>>,
    properties: Arc<PlanProperties>,
}

impl WriteExec {
    pub fn new(
        shared: Arc<EngineShared>,
        entry: Arc<TableEntry>,
        scope: RowScope,
        transaction: (Option<InTransaction>, ReadPoint),
        kind: WriteKind,
        input: Option<Arc<dyn ExecutionPlan>>,
    ) -> Self {
        let properties = PlanProperties::new(
            EquivalenceProperties::new(count_schema()),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Final,
            Boundedness::Bounded,
        );
        WriteExec { shared, entry, scope, transaction, kind, input, properties: Arc::new(properties) }
    }
}

impl DisplayAs for WriteExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let verb = match self.kind {
            WriteKind::Insert => "EngineInsert",
            WriteKind::Truncate => "EngineTruncate",
        };
        write!(f, "{verb}: table={}", self.entry.definition.qualified_name())
    }
}

impl ExecutionPlan for WriteExec {
    fn name(&self) -> &str {
        "EngineWrite"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        self.input.iter().collect()
    }

    fn apply_expressions(&self, _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> DfResult<TreeNodeRecursion>) -> DfResult<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(self: Arc<Self>, children: Vec<Arc<dyn ExecutionPlan>>) -> DfResult<Arc<dyn ExecutionPlan>> {
        let input = children.into_iter().next();
        Ok(Arc::new(WriteExec::new(
            self.shared.clone(),
            self.entry.clone(),
            self.scope.clone(),
            self.transaction.clone(),
            self.kind,
            input,
        )))
    }

    fn execute(&self, _partition: usize, context: Arc<TaskContext>) -> DfResult<SendableRecordBatchStream> {
        let shared = self.shared.clone();
        let entry = self.entry.clone();
        let scope = self.scope.clone();
        let kind = self.kind;
        let input = self.input.clone();
        let transaction = self.transaction.clone();
        let future = async move {
            let (transaction, at) = transaction;
            let writer = TableWriter::new(shared, entry, scope).within(transaction).reading(at);
            let batches = match input {
                Some(input) => collect(input, context).await?,
                None => Vec::new(),
            };
            let count = match kind {
                WriteKind::Insert => writer.insert(batches).await?,
                WriteKind::Truncate => writer.truncate().await?,
            };
            Ok(count_batch(count))
        };
        Ok(Box::pin(RecordBatchStreamAdapter::new(count_schema(), futures::stream::once(future))))
    }
}

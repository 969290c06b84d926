//! Builds the runtime view of a table ([`TableEntry`]) from its stored schema versions:
//! Arrow schemas, key columns, and the DEFAULT expressions planned by DataFusion with the
//! settings of the session that created the table, both when the table is created and
//! every time the engine opens, so a DEFAULT means the same thing across restarts.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Schema};
use datafusion::common::{DFSchema, ScalarValue};
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::{Expr, ExprSchemable};
use datafusion::prelude::SessionConfig;

use crate::catalog::definition::{ColumnFill, TableDefinition, TableEntry};
use crate::error::{EngineError, Result};
use crate::functions::FunctionContext;
use crate::planning::{self, PlanningOptions};
use crate::storage::row_codec::decode_value_hex;

/// Plans the DEFAULT expressions of table entries.
pub struct EntryPlanner {
    functions: Arc<FunctionContext>,
    /// The state for definitions made with default settings (most of them).
    default_state: SessionState,
}

impl EntryPlanner {
    pub fn new(functions: Arc<FunctionContext>) -> Self {
        let default_state = planning::session_state(SessionConfig::new(), &functions);
        EntryPlanner { functions, default_state }
    }

    /// A planning state with these settings.
    pub fn state_for(&self, options: &PlanningOptions) -> Result<SessionState> {
        if options.is_empty() {
            return Ok(self.default_state.clone());
        }
        Ok(planning::session_state(planning::apply(SessionConfig::new(), options)?, &self.functions))
    }

    /// The runtime entry of a table with these stored versions (the newest is current).
    pub fn build(&self, versions: BTreeMap<u32, TableDefinition>) -> Result<TableEntry> {
        let (_, definition) = versions.iter().next_back().ok_or_else(|| EngineError::internal("a table without a definition"))?;
        let definition = definition.clone();
        let state = self.state_for(&definition.planning_options)?;
        let schema = definition.arrow_schema();
        let df_schema = DFSchema::try_from(schema.as_ref().clone())?;
        let mut defaults = HashMap::new();
        let mut fills = Vec::with_capacity(definition.columns.len());
        for column in &definition.columns {
            match &column.default_sql {
                Some(sql) => {
                    let expr = state.create_logical_expr(sql, &df_schema)?;
                    fills.push(prepare_fill(&state, &expr, &column.data_type));
                    defaults.insert(column.name.clone(), expr);
                }
                None => fills.push(ColumnFill::Null),
            }
        }
        let nullable_schema =
            Arc::new(Schema::new(schema.fields().iter().map(|f| f.as_ref().clone().with_nullable(true)).collect::<Vec<_>>()));
        let key_columns = definition
            .primary_key
            .iter()
            .map(|id| {
                definition
                    .columns
                    .iter()
                    .position(|c| c.id == *id)
                    .ok_or_else(|| EngineError::internal("primary key names a missing column"))
            })
            .collect::<Result<Vec<_>>>()?;
        let backfills = definition
            .columns
            .iter()
            .map(|column| match &column.backfill {
                Some(text) => Ok(ScalarValue::try_from_array(&decode_value_hex(&column.data_type, text)?, 0)?),
                None => Ok(ScalarValue::try_from(&column.data_type)?),
            })
            .collect::<Result<Vec<_>>>()?;
        let layouts = versions.into_iter().map(|(v, d)| (v, d.columns)).collect();
        Ok(TableEntry { definition, schema, nullable_schema, key_columns, defaults, fills, versions: layouts, backfills })
    }
}

/// Prepares a column's DEFAULT for INSERTs the engine runs without the planner: cast to
/// the column type as DataFusion's INSERT planning casts it, checked as its planning would
/// check it, and planned once. `Unprepared` makes INSERTs that leave the column out take
/// the planned path (which then reports whatever is wrong with the DEFAULT).
fn prepare_fill(state: &SessionState, default: &Expr, data_type: &DataType) -> ColumnFill {
    let empty = DFSchema::empty();
    match default.clone().cast_to(data_type, &empty) {
        Ok(expr) if planning::simplifies(state, &expr, &empty) => {
            state.create_physical_expr(expr, &empty).map_or(ColumnFill::Unprepared, ColumnFill::Default)
        }
        _ => ColumnFill::Unprepared,
    }
}

//! What the catalog persists about namespaces and tables, and the runtime view of a table.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::ScalarValue;
use datafusion::logical_expr::Expr;
use datafusion::physical_expr::PhysicalExpr;
use serde::{Deserialize, Serialize};

use crate::catalog::kinds::TableKind;
use crate::catalog::options::TableOptions;
use crate::error::Result;
use crate::planning::PlanningOptions;
use crate::storage::TableId;

/// A namespace as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamespaceRecord {
    pub name: String,
    pub created_at_millis: i64,
}

/// One column of one schema version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnDefinition {
    /// Stable across renames; rows are decoded by id, not by name.
    pub id: u32,
    pub name: String,
    /// Stored as Arrow's own text form (`Int64`, `Timestamp(ns)`, ...), which it parses back.
    #[serde(with = "data_type_text")]
    pub data_type: DataType,
    pub nullable: bool,
    /// The DEFAULT expression as SQL text, re-planned when the table is loaded.
    pub default_sql: Option<String>,
    /// For a column added by ALTER TABLE with a DEFAULT: the value rows written before it
    /// read (the DEFAULT evaluated once, when the column was added), in the row encoding
    /// of a one-column row, hex. `None`: those rows read NULL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backfill: Option<String>,
}

/// One schema version of a table, as stored under its own key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableDefinition {
    pub id: TableId,
    pub namespace: String,
    pub name: String,
    pub kind: TableKind,
    pub schema_version: u32,
    pub columns: Vec<ColumnDefinition>,
    /// Column ids of the primary key, in key order; empty when the table has none.
    pub primary_key: Vec<u32>,
    pub options: TableOptions,
    pub created_at_millis: i64,
    /// Settings of the creating session that change how the DEFAULTs plan.
    #[serde(default, skip_serializing_if = "PlanningOptions::is_empty")]
    pub planning_options: PlanningOptions,
}

impl TableDefinition {
    pub fn qualified_name(&self) -> String {
        format!("{}.{}", self.namespace, self.name)
    }

    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// The Arrow schema of the user columns.
    pub fn arrow_schema(&self) -> SchemaRef {
        Arc::new(Schema::new(self.columns.iter().map(|c| Field::new(&c.name, c.data_type.clone(), c.nullable)).collect::<Vec<_>>()))
    }
}

/// How a column an INSERT leaves out is filled when the engine runs the INSERT itself
/// (see `exec::simple`); DataFusion's planner uses [`TableEntry::defaults`] instead.
#[derive(Debug, Clone)]
pub enum ColumnFill {
    /// No DEFAULT: NULL.
    Null,
    /// The DEFAULT expression cast to the column type, ready to evaluate per statement.
    Default(Arc<dyn PhysicalExpr>),
    /// A DEFAULT that could not be prepared; INSERTs leaving the column out are planned.
    Unprepared,
}

/// A table as the engine uses it: the current definition, every stored schema version
/// (to decode old rows), and the planned DEFAULT expressions.
#[derive(Debug)]
pub struct TableEntry {
    pub definition: TableDefinition,
    pub schema: SchemaRef,
    /// `schema` with every column nullable: the shape of rows handed to the writer, which
    /// checks NOT NULL itself (naming the column, with its SQLSTATE).
    pub nullable_schema: SchemaRef,
    /// Index into `definition.columns` of each primary-key column, in key order.
    pub key_columns: Vec<usize>,
    pub defaults: HashMap<String, Expr>,
    /// One per column of `definition.columns`.
    pub fills: Vec<ColumnFill>,
    /// Column layouts of every schema version rows may have been written with.
    pub versions: BTreeMap<u32, Vec<ColumnDefinition>>,
    /// One per column of `definition.columns`: what rows of versions without the column
    /// read (its backfill, or NULL).
    pub backfills: Vec<ScalarValue>,
}

impl TableEntry {
    /// The values of column `index` (of the current definition) for `rows` rows written
    /// under a version that did not have it.
    pub fn missing_column(&self, index: usize, rows: usize) -> Result<ArrayRef> {
        Ok(self.backfills[index].to_array_of_size(rows)?)
    }

    pub fn id(&self) -> TableId {
        self.definition.id
    }

    pub fn kind(&self) -> TableKind {
        self.definition.kind
    }

    pub fn has_primary_key(&self) -> bool {
        !self.key_columns.is_empty()
    }

    pub fn key_types(&self) -> Vec<DataType> {
        self.key_columns.iter().map(|&i| self.definition.columns[i].data_type.clone()).collect()
    }

    pub fn key_names(&self) -> Vec<&str> {
        self.key_columns.iter().map(|&i| self.definition.columns[i].name.as_str()).collect()
    }
}

/// Serializes an Arrow data type as its display text.
mod data_type_text {
    use std::str::FromStr;

    use datafusion::arrow::datatypes::DataType;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(data_type: &DataType, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&data_type.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<DataType, D::Error> {
        let text = String::deserialize(deserializer)?;
        DataType::from_str(&text).map_err(serde::de::Error::custom)
    }
}

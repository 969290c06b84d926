//! What the catalog stores about a view: its query as SQL text, planned again (as the
//! querying user, in the view's namespace, with the settings of the session that created
//! it) each time a statement reads the view.

use serde::{Deserialize, Serialize};

use crate::planning::PlanningOptions;

/// A column of a view as it was when the view was created (for `system.columns`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViewColumn {
    pub name: String,
    /// Arrow's text form of the type.
    pub data_type: String,
    pub nullable: bool,
}

/// A view as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViewDefinition {
    pub namespace: String,
    pub name: String,
    /// The query, as SQL text.
    pub query_sql: String,
    /// Names given in `CREATE VIEW v (a, b) AS ...`; empty when the query's names are used.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub column_names: Vec<String>,
    pub columns: Vec<ViewColumn>,
    #[serde(default, skip_serializing_if = "PlanningOptions::is_empty")]
    pub planning_options: PlanningOptions,
    /// The tables and views (namespace, name) the query reads directly, recorded when it
    /// was created; `None` for views stored before that record existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reads: Option<Vec<(String, String)>>,
    pub created_at_millis: i64,
}

impl ViewDefinition {
    pub fn qualified_name(&self) -> String {
        format!("{}.{}", self.namespace, self.name)
    }
}

//! DataFusion planning state shared by every layer: a session state with the engine's
//! functions, the SQL settings that change what an expression means, and the check that
//! DataFusion's simplifier accepts an expression.
//!
//! An expression stored as SQL text (a column DEFAULT, a view's query) is planned again
//! whenever the engine opens. The settings of the session that created it travel with it
//! ([`PlanningOptions`]), so it means the same thing after a restart as it did at CREATE:
//! `SET datafusion.sql_parser.parse_float_as_decimal = true` before `CREATE TABLE` keeps
//! applying to that table's DEFAULTs.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::common::DFSchema;
use datafusion::common::config::ConfigOptions;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::context::SessionState;
use datafusion::execution::registry::FunctionRegistry;
use datafusion::logical_expr::Expr;
use datafusion::logical_expr::simplify::SimplifyContext;
use datafusion::optimizer::simplify_expressions::ExprSimplifier;
use datafusion::prelude::SessionConfig;

use crate::error::Result;
use crate::functions::{FunctionContext, engine_functions};

/// Settings that change how SQL text plans: the SQL parser's options and the session
/// time zone.
const MEANINGFUL_SETTINGS: [&str; 2] = ["datafusion.sql_parser.", "datafusion.execution.time_zone"];

/// The meaningful settings of a session that differ from DataFusion's defaults, by key.
pub type PlanningOptions = BTreeMap<String, String>;

/// A DataFusion session state with the engine's functions, without any tables.
pub fn session_state(config: SessionConfig, functions: &Arc<FunctionContext>) -> SessionState {
    let mut state = SessionStateBuilder::new().with_config(config).with_default_features().build();
    for udf in engine_functions(functions) {
        state.register_udf(Arc::new(udf)).expect("registering a scalar function cannot fail");
    }
    state
}

/// The meaningful settings of `options` that differ from the defaults.
pub fn capture(options: &ConfigOptions) -> PlanningOptions {
    let defaults: BTreeMap<String, Option<String>> =
        ConfigOptions::new().entries().into_iter().map(|entry| (entry.key, entry.value)).collect();
    options
        .entries()
        .into_iter()
        .filter(|entry| MEANINGFUL_SETTINGS.iter().any(|prefix| entry.key.starts_with(prefix)))
        .filter(|entry| defaults.get(&entry.key) != Some(&entry.value))
        .filter_map(|entry| entry.value.map(|value| (entry.key, value)))
        .collect()
}

/// `config` with captured settings applied again.
pub fn apply(mut config: SessionConfig, options: &PlanningOptions) -> Result<SessionConfig> {
    for (key, value) in options {
        config.options_mut().set(key, value)?;
    }
    Ok(config)
}

/// Whether DataFusion's expression simplifier, which the planned path runs on every
/// statement, accepts `expr`: it evaluates constant parts (say, a CAST of a literal that
/// does not fit) while planning, even in CASE branches that would never run.
pub fn simplifies(state: &SessionState, expr: &Expr, schema: &DFSchema) -> bool {
    simplify(state, expr, schema).is_ok()
}

/// `expr` coerced and simplified the way the planned path does it: constant parts
/// evaluated, statement-time functions (`NOW()`, `CURRENT_USER()`) replaced by their
/// value for the statement.
pub fn simplify(state: &SessionState, expr: &Expr, schema: &DFSchema) -> datafusion::common::Result<Expr> {
    let context = SimplifyContext::builder()
        .with_schema(Arc::new(schema.clone()))
        .with_config_options(state.config_options().clone())
        .with_query_execution_start_time(state.execution_props().query_execution_start_time)
        .build();
    let simplifier = ExprSimplifier::new(context);
    simplifier.coerce(expr.clone(), schema).and_then(|expr| simplifier.simplify(expr))
}

//! SUBSCRIBE TO and KILL LIVE QUERY: opening and ending live subscriptions.
//!
//! A subscription resolves its table like a SELECT (same resolver, same permission check,
//! the subscriber's row scope), plans its WHERE predicate with DataFusion over the table's
//! columns, and then, under the scope's write lock, registers with the live hub at the
//! current `_seq` high-water mark and takes the snapshot its initial rows are read from.
//! The lock is released as soon as the snapshot exists; from then on writers of the scope
//! publish their commits to it. So the initial rows and the events meet exactly: every
//! change is in one or the other, never both.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::DFSchema;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::prelude::{col, lit};

use crate::catalog::{SystemColumn, TableEntry};
use crate::error::{EngineError, Result, SqlState};
use crate::exec::context::ExecContext;
use crate::exec::initial_rows::InitialRows;
use crate::live::{LiveEvent, Registration, Subscription, SubscriptionAbout};
use crate::permissions::{self, TableAction};
use crate::provider::change_feed::feed_key;
use crate::provider::prune::Pruning;
use crate::provider::request::{ColumnSource, ScanRequest, system_column_type};
use crate::provider::scan::read_scope_then;
use crate::provider::stream_rules::read_lower_bound;
use crate::resolver::{Resolved, ResolvedTable, resolve};
use crate::result::QueryResult;
use crate::sql::parser::SubscribeRequest;
use crate::storage::ReadPoint;
use crate::storage::off_async;

/// Opens a subscription as the statement's effective user. `query`: the text that
/// `system.live_queries` shows.
pub async fn subscribe(ctx: &ExecContext, request: &SubscribeRequest, query: &str) -> Result<Subscription> {
    if request.from_seq.is_some() && request.last_rows.is_some() {
        return Err(EngineError::invalid_parameter("a subscription takes from_seq or last_rows, not both"));
    }
    let (namespace, name) = ctx.qualify(&request.table);
    let table = match resolve(&ctx.shared, &ctx.user, &namespace, &name, TableAction::Read)? {
        Some(Resolved::Table(table)) => table,
        Some(Resolved::View(view)) => {
            return Err(EngineError::not_supported(format!(
                "cannot subscribe to view {}: subscriptions are on tables",
                view.qualified_name()
            )));
        }
        Some(Resolved::System(system)) => {
            return Err(EngineError::not_supported(format!("cannot subscribe to system table system.{system}")));
        }
        None if !ctx.shared.catalog.namespace_exists(&namespace) => return Err(EngineError::undefined_namespace(&namespace)),
        None => return Err(EngineError::undefined_table(format!("{namespace}.{name}"))),
    };
    let filter = match &request.predicate {
        Some(predicate) => Some(plan_predicate(ctx, &table.entry, predicate)?),
        None => None,
    };
    let ResolvedTable { entry, scope } = table;
    let guard = ctx.shared.locks.lock_scope(entry.id(), &scope).await;
    if ctx.shared.catalog.current(&entry).is_none() {
        return Err(EngineError::undefined_table(entry.definition.qualified_name()));
    }
    let shared = ctx.shared.clone();
    let about = SubscriptionAbout {
        user_id: ctx.user.id,
        user_name: ctx.user.name.clone(),
        namespace: entry.definition.namespace.clone(),
        table: entry.definition.name.clone(),
        query: query.trim().to_string(),
        created_at: shared.now_millis(),
    };
    let request = request.clone();
    let subscription_user = ctx.user.id;
    off_async(move || {
        // Under the scope's lock, which a purge publishes under: the horizon is current.
        let horizon = shared.cold.scope_horizon(entry.id(), &scope);
        if let Some(from) = request.from_seq
            && from < horizon
        {
            return Err(EngineError::new(
                SqlState::SNAPSHOT_TOO_OLD,
                format!(
                    "cannot resume {} from _seq {from}: deleted rows through _seq {horizon} were purged for good (DELETED_RETENTION_HOURS), so their deletes would be missed; subscribe again without from_seq",
                    entry.definition.qualified_name()
                ),
            ));
        }
        let feed = feed_key(entry.id(), &scope);
        let registration = Registration { about, feed, filter: filter.clone(), start_seq: shared.store.last_seq() };
        let subscription = shared.live.register(registration, entry.schema.clone());
        // The user columns, `_seq`, and `_deleted` where the kind has it.
        let system: Vec<SystemColumn> = [SystemColumn::Seq, SystemColumn::Deleted]
            .into_iter()
            .filter(|c| entry.kind().system_columns().contains(c))
            .collect();
        let mut sources: Vec<ColumnSource> = (0..entry.definition.columns.len()).map(ColumnSource::User).collect();
        let mut fields: Vec<Field> = entry.schema.fields().iter().map(|f| f.as_ref().clone()).collect();
        for column in &system {
            sources.push(ColumnSource::System(*column));
            fields.push(Field::new(column.name(), system_column_type(*column), false));
        }
        let visible_from = read_lower_bound(&entry, &scope, shared.now_millis());
        let read_schema = Arc::new(Schema::new(fields));
        // A resume reads only what changed after its `_seq`: older segments are skipped.
        let pruning = request.from_seq.and_then(|seq| {
            let after = col(SystemColumn::Seq.name()).gt(lit(i64::try_from(seq).unwrap_or(i64::MAX)));
            Pruning::new(&[after], &read_schema, &sources)
        });
        let read = ScanRequest {
            entry: entry.clone(),
            scope,
            sources,
            intervals: Vec::new(),
            include_deleted: request.from_seq.is_some(),
            limit: None,
            batch_rows: shared.config.scan_batch_rows,
            parallelism: 1,
            parallel_min_bytes: u64::MAX,
            visible_from,
            pruning,
            pruned: Default::default(),
            checked_against: None,
        at: ReadPoint::now(),
        };
        let mut initial = InitialRows::new(entry.schema.clone(), filter.as_ref(), &request);
        let mut failed = None;
        let mut gather = |batch: RecordBatch| match initial.add(&batch) {
            Ok(()) => true,
            Err(error) => {
                failed = Some(error);
                false
            }
        };
        read_scope_then(&shared.store, &shared.cold, &read_schema, &read, move || drop(guard), &mut gather)?;
        if let Some(error) = failed {
            return Err(error);
        }
        // A DROP USER that won the race has already ended the user's subscriptions.
        if !shared.catalog.user_id_exists(subscription_user) {
            return Err(EngineError::new(SqlState::INVALID_AUTHORIZATION, "the user of this subscription was dropped"));
        }
        Ok(subscription.with_initial(initial.finish()?))
    })
    .await
}

/// Plans `predicate` over the table's user columns into a boolean expression, evaluated
/// later on the dispatcher thread.
fn plan_predicate(ctx: &ExecContext, entry: &TableEntry, predicate: &str) -> Result<Arc<dyn PhysicalExpr>> {
    let schema = DFSchema::try_from(entry.schema.as_ref().clone()).map_err(EngineError::from_datafusion)?;
    let expr = ctx.datafusion.parse_sql_expr(predicate, &schema)?;
    // Statement-time values (NOW(), CURRENT_USER()) are fixed when the subscription opens.
    let expr = crate::planning::simplify(&ctx.datafusion.state(), &expr, &schema)?;
    let physical = ctx.datafusion.create_physical_expr(expr, &schema)?;
    let data_type = physical.data_type(entry.schema.as_ref()).map_err(EngineError::from_datafusion)?;
    if data_type != DataType::Boolean {
        return Err(EngineError::new(
            SqlState::DATATYPE_MISMATCH,
            format!("the subscription predicate {predicate} is of type {data_type}, not boolean"),
        ));
    }
    Ok(physical)
}

/// `KILL LIVE QUERY 'id'`: ends a subscription of the user's own (any, for dba and
/// system) with a final event, after the changes committed before it.
pub async fn kill(ctx: &ExecContext, live_id: &str) -> Result<QueryResult> {
    // Like DROP TABLE: the changes committed before the kill are delivered first.
    ctx.shared.live.settle().await;
    let visible = ctx
        .shared
        .live
        .list()
        .into_iter()
        .any(|info| info.live_id == live_id && (info.about.user_id == ctx.user.id || permissions::sees_all_objects(ctx.user.role)));
    let killed =
        visible && ctx.shared.live.end(live_id, LiveEvent::end(format!("killed by KILL LIVE QUERY as {}", ctx.user.name))).is_some();
    if !killed {
        return Err(EngineError::new(SqlState::UNDEFINED_OBJECT, format!("live query '{live_id}' does not exist")));
    }
    Ok(QueryResult::Message("KILL LIVE QUERY".into()))
}

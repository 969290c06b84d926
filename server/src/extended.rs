//! The extended query protocol: Parse prepares one statement in the session and learns
//! its parameter types and result columns there (so a missing table fails at Parse, as
//! in PostgreSQL); Bind's values become engine values ([`crate::parameters`]); Execute
//! runs the statement and streams its rows, a portal's `max_rows` at a time.

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use engine::exports::arrow::datatypes::{DataType, Schema, SchemaRef};
use engine::exports::arrow::record_batch::RecordBatch;
use engine::{PreparedStatement, QueryResult, SqlState};
use futures::stream::{self, BoxStream};
use futures::{Sink, StreamExt};
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::ExtendedQueryHandler;
use pgwire::api::results::{FieldInfo, QueryResponse, Response, Tag};
use pgwire::api::stmt::QueryParser;
use pgwire::api::store::PortalStore;
use pgwire::api::{ClientInfo, ClientPortalStore, Type};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::extendedquery::Execute;

use crate::connection::{Connection, ConnectionHandlers, status};
use crate::errors::{server_error, wire_error};
use crate::parameters::decode;
use crate::rows::data_rows;
use crate::types::{arrow_type, fields, pg_type};

/// A statement as Parse left it.
#[derive(Debug, Clone)]
pub struct WireStatement {
    prepared: PreparedStatement,
    /// Each parameter's PostgreSQL type (the client's, else the statement's, else text).
    parameter_types: Vec<Type>,
    /// The Arrow type each parameter is cast to before binding (when known).
    targets: Vec<Option<DataType>>,
    /// The rows' columns (`None`: a count or a command tag).
    columns: Option<SchemaRef>,
}

/// Parses and describes statements in the connection's session.
pub struct EngineQueryParser(pub(crate) Arc<Connection>);

#[async_trait]
impl QueryParser for EngineQueryParser {
    type Statement = Arc<WireStatement>;

    async fn parse_sql<C>(&self, client: &C, sql: &str, types: &[Option<Type>]) -> PgWireResult<Option<Self::Statement>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        let mut guard = self.0.session(client).await?;
        let session = guard.as_mut().expect("opened by session()");
        let Some(prepared) = session.prepare(sql).map_err(|e| wire_error(&e))? else { return Ok(None) };
        if prepared.is_subscribe() {
            return Err(server_error(SqlState::FEATURE_NOT_SUPPORTED, "SUBSCRIBE runs on the simple query protocol"));
        }
        let described = session.describe(&prepared).await.map_err(|e| wire_error(&e))?;
        let count = described.parameters.len().max(types.len());
        let mut parameter_types = Vec::with_capacity(count);
        let mut targets = Vec::with_capacity(count);
        for index in 0..count {
            let given = types.get(index).cloned().flatten().filter(|t| *t != Type::UNKNOWN);
            let inferred = described.parameters.get(index).cloned().flatten();
            parameter_types.push(given.clone().or_else(|| inferred.as_ref().map(pg_type)).unwrap_or(Type::TEXT));
            targets.push(inferred.or_else(|| given.as_ref().and_then(arrow_type)));
        }
        Ok(Some(Arc::new(WireStatement { prepared, parameter_types, targets, columns: described.columns })))
    }

    fn get_parameter_types(&self, statement: &Self::Statement) -> PgWireResult<Vec<Type>> {
        Ok(statement.parameter_types.clone())
    }

    fn get_result_schema(&self, statement: &Self::Statement, format: Option<&Format>) -> PgWireResult<Vec<FieldInfo>> {
        Ok(match &statement.columns {
            Some(schema) => fields(schema, format.unwrap_or(&Format::UnifiedText)).as_ref().clone(),
            None => Vec::new(),
        })
    }
}

#[async_trait]
impl ExtendedQueryHandler for ConnectionHandlers {
    type Statement = Arc<WireStatement>;
    type QueryParser = EngineQueryParser;

    fn query_parser(&self) -> Arc<Self::QueryParser> {
        self.parser()
    }

    /// pgwire's Execute, then ReadyForQuery's status from the session (a block ends or
    /// fails by what ran, which pgwire cannot tell from the response alone).
    async fn on_execute<C>(&self, client: &mut C, message: Execute) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let executed = {
            let _running = self.0.running();
            self._on_execute(client, message).await
        };
        let guard = self.0.session(client).await?;
        client.set_transaction_status(status(guard.as_ref().expect("opened by session()")));
        executed
    }

    async fn do_query<C>(&self, client: &mut C, portal: &Portal<Self::Statement>, _max_rows: usize) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let statement = &portal.statement.statement;
        let mut guard = self.0.session(client).await?;
        let session = guard.as_mut().expect("opened by session()");
        let values = match decode(&portal.parameters, &portal.parameter_format, &statement.parameter_types, &statement.targets) {
            Ok(values) => values,
            Err(error) => {
                // Values that cannot be read end the block, as any error in it does.
                session.fail_transaction();
                return Err(error);
            }
        };
        let was_in_block = session.in_transaction();
        let result = session.run(&statement.prepared, &values).await.map_err(|e| wire_error(&e))?;
        let format = &portal.result_column_format;
        Ok(match result {
            QueryResult::Rows { schema, batches } => query_response(&schema, stream::iter(batches.into_iter().map(Ok)).boxed(), format),
            QueryResult::Stream(rows) => query_response(&rows.schema(), rows.boxed(), format),
            QueryResult::Count { command, rows } => Response::Execution(Tag::new(&command.command_tag(rows))),
            QueryResult::Message(tag) => match (was_in_block, session.in_transaction()) {
                (false, true) => Response::TransactionStart(Tag::new(&tag)),
                (true, false) => Response::TransactionEnd(Tag::new(&tag)),
                _ => Response::Execution(Tag::new(&tag)),
            },
            QueryResult::Subscription(_) => {
                return Err(server_error(SqlState::FEATURE_NOT_SUPPORTED, "SUBSCRIBE runs on the simple query protocol"));
            }
        })
    }
}

/// Rows as pgwire sends them from a portal, encoded as they arrive.
fn query_response(schema: &Schema, batches: BoxStream<'static, engine::Result<RecordBatch>>, format: &Format) -> Response {
    let fields = fields(schema, format);
    Response::Query(QueryResponse::new(fields.clone(), data_rows(batches, fields)))
}

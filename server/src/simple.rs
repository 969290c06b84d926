//! The simple query protocol: a Query message's statements run one after another, each
//! answered before the next starts (rows stream to the client batch by batch); the first
//! error ends the script; ReadyForQuery reports the session's transaction status. A
//! CancelRequest drops the running statement (the engine cancels it cleanly) and
//! answers 57014. SUBSCRIBE is an endless result set: one row per event (`kind`, `_seq`,
//! the table's columns), flushed as it arrives, until the subscription ends or the client
//! cancels; a client that stops reading falls behind alone (the engine ends its
//! subscription with the `_seq` to resume from, its last row).

use std::fmt::Debug;

use async_trait::async_trait;
use engine::exports::arrow::datatypes::Schema;
use engine::exports::arrow::record_batch::RecordBatch;
use engine::live::rows::{event_rows, event_schema};
use engine::{QueryResult, Session, SqlState};
use futures::future::{Either, select};
use futures::stream::{self, BoxStream};
use futures::{Sink, SinkExt, StreamExt};
use pgwire::api::portal::Format;
use pgwire::api::query::{SimpleQueryHandler, send_ready_for_query};
use pgwire::api::results::{FieldInfo, Response};
use pgwire::api::store::PortalStore;
use pgwire::api::{ClientInfo, ClientPortalStore, ConnectionHandle, PgWireConnectionState};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::data::RowDescription;
use pgwire::messages::response::{CommandComplete, EmptyQueryResponse};
use pgwire::messages::simplequery::Query;

use crate::connection::{ConnectionHandlers, status};
use crate::errors::{server_error, wire_error};
use crate::rows::{data_rows, encode_batch};
use crate::types::fields;

#[async_trait]
impl SimpleQueryHandler for ConnectionHandlers {
    async fn on_query<C>(&self, client: &mut C, query: Query) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        client.set_state(PgWireConnectionState::QueryInProgress);
        let cancel = match client.session_extensions().get::<std::sync::Arc<ConnectionHandle>>() {
            Some(handle) => Some(handle.start_query().await),
            None => None,
        };
        let connection = self.0.clone();
        let mut guard = connection.session(client).await?;
        let session = guard.as_mut().expect("opened by session()");
        {
            let _running = connection.running();
            let script = run_script(client, session, &query.query);
            let outcome = match cancel {
                Some(cancel) => match select(Box::pin(script), cancel).await {
                    Either::Left((outcome, _)) => outcome,
                    Either::Right((Ok(()), _)) => Err(server_error(SqlState::QUERY_CANCELED, "canceling statement due to user request")),
                    // The sender went without a cancel (the next query replaced it): finish.
                    Either::Right((Err(_), script)) => script.await,
                },
                None => script.await,
            };
            if let Err(error) = outcome {
                match error {
                    PgWireError::UserError(info) => client.feed(PgWireBackendMessage::ErrorResponse((*info).into())).await?,
                    other => return Err(other),
                }
            }
        }
        let status = status(session);
        client.set_state(PgWireConnectionState::ReadyForQuery);
        client.set_transaction_status(status);
        send_ready_for_query(client, status).await
    }

    /// Unused: `on_query` runs the statements itself, one by one.
    async fn do_query<C>(&self, _client: &mut C, _query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        Err(server_error(SqlState::INTERNAL_ERROR, "simple queries run through on_query"))
    }
}

/// Runs every statement of `sql`, answering each; an engine error is returned (the
/// caller sends it), and no statement after it runs.
async fn run_script<C>(client: &mut C, session: &mut Session, sql: &str) -> PgWireResult<()>
where
    C: Sink<PgWireBackendMessage> + Unpin + Send,
    C::Error: Debug,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    let statements = session.parse(sql).map_err(|e| wire_error(&e))?;
    if statements.is_empty() {
        client.feed(PgWireBackendMessage::EmptyQueryResponse(EmptyQueryResponse::new())).await?;
        return Ok(());
    }
    for statement in &statements {
        let result = session.run(statement, &[]).await.map_err(|e| wire_error(&e))?;
        send_result(client, result).await?;
    }
    Ok(())
}

/// Sends one statement's answer: rows with their description, then the command tag.
pub(crate) async fn send_result<C>(client: &mut C, result: QueryResult) -> PgWireResult<()>
where
    C: Sink<PgWireBackendMessage> + Unpin + Send,
    C::Error: Debug,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    let tag = match result {
        QueryResult::Rows { schema, batches } => send_rows(client, &schema, stream::iter(batches.into_iter().map(Ok)).boxed()).await?,
        QueryResult::Stream(rows) => send_rows(client, &rows.schema(), rows.boxed()).await?,
        QueryResult::Count { command, rows } => command.command_tag(rows),
        QueryResult::Message(tag) => tag,
        QueryResult::Subscription(mut subscription) => {
            // An endless result set: each event a row, sent and flushed as it arrives,
            // until the subscription ends (KILL LIVE QUERY, DROP, falling behind: its last
            // row says why, with the `_seq` to resume from) or the client cancels.
            let table = subscription.schema().clone();
            let fields = fields(&event_schema(&table), &Format::UnifiedText);
            client.feed(PgWireBackendMessage::RowDescription(row_description(&fields))).await?;
            client.flush().await?;
            let mut rows = 0;
            while let Some(event) = subscription.next().await {
                let batch = event_rows(&table, std::slice::from_ref(&event)).map_err(|e| wire_error(&e))?;
                for row in encode_batch(&batch, &fields)? {
                    client.feed(PgWireBackendMessage::DataRow(row)).await?;
                    rows += 1;
                }
                client.flush().await?;
                if event.is_final() {
                    break;
                }
            }
            format!("SUBSCRIBE {rows}")
        }
    };
    client.feed(PgWireBackendMessage::CommandComplete(CommandComplete::new(tag))).await?;
    Ok(())
}

/// Sends rows with their description, as they arrive; returns the command tag.
async fn send_rows<C>(client: &mut C, schema: &Schema, batches: BoxStream<'static, engine::Result<RecordBatch>>) -> PgWireResult<String>
where
    C: Sink<PgWireBackendMessage> + Unpin + Send,
    C::Error: Debug,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    let fields = fields(schema, &Format::UnifiedText);
    client.feed(PgWireBackendMessage::RowDescription(row_description(&fields))).await?;
    let mut rows = 0;
    let mut data = std::pin::pin!(data_rows(batches, fields));
    while let Some(row) = data.next().await {
        client.feed(PgWireBackendMessage::DataRow(row?)).await?;
        rows += 1;
    }
    Ok(format!("SELECT {rows}"))
}

fn row_description(fields: &[FieldInfo]) -> RowDescription {
    RowDescription::new(fields.iter().map(Into::into).collect())
}

//! One client connection: its startup (refused past the connection limit; SCRAM), its
//! session (of the authenticated user, in the namespace the startup `database` names,
//! opened at the first statement), and what the listener needs to drain it (whether a statement is running).

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use engine::{Engine, Session, SqlState};
use futures::Sink;
use pgwire::api::auth::noop::NoopStartupHandler;
use pgwire::api::auth::sasl::SASLAuthStartupHandler;
use pgwire::api::auth::{DefaultServerParameterProvider, StartupHandler};
use pgwire::api::cancel::DefaultCancelHandler;
use pgwire::api::{ClientInfo, ConnectionManager, METADATA_DATABASE, METADATA_USER, PgWireServerHandlers};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::response::TransactionStatus;
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use tokio::sync::{Mutex, MutexGuard, watch};

use crate::auth::scram_startup;
use crate::config::Auth;
use crate::extended::EngineQueryParser;

/// Databases a client may name without a namespace of that name existing: PostgreSQL's
/// usual defaults (a client's default database is its user name).
const DEFAULT_DATABASES: [&str; 3] = ["postgres", "default", ""];

/// A connection's state, shared by its protocol handlers.
pub struct Connection {
    pub(crate) engine: Engine,
    session: Mutex<Option<Session>>,
    /// `true` while a statement runs (the listener lets it finish before closing).
    pub(crate) busy: watch::Sender<bool>,
    /// The connection came past the connection limit: its startup is refused (53300).
    refused: bool,
    startup: SASLAuthStartupHandler<DefaultServerParameterProvider>,
    /// `auth = "trust"`: the startup names the user, no password is asked.
    trust: Option<TrustStartup>,
    pub(crate) manager: Arc<ConnectionManager>,
}

/// The protocol handlers of one connection (pgwire asks for them by connection).
#[derive(Clone)]
pub struct ConnectionHandlers(pub Arc<Connection>);

impl Connection {
    pub fn new(engine: Engine, manager: Arc<ConnectionManager>, refused: bool, auth: Auth) -> Arc<Connection> {
        let startup = scram_startup(&engine, manager.clone());
        let trust = (auth == Auth::Trust).then(|| TrustStartup(manager.clone()));
        Arc::new(Connection { engine, session: Mutex::new(None), busy: watch::Sender::new(false), refused, startup, trust, manager })
    }

    /// The session, opened for the authenticated user on first use.
    pub(crate) async fn session<C: ClientInfo>(&self, client: &C) -> PgWireResult<MutexGuard<'_, Option<Session>>> {
        let mut guard = self.session.lock().await;
        if guard.is_none() {
            *guard = Some(self.open_session(client).await?);
        }
        Ok(guard)
    }

    /// A session of the user SCRAM authenticated, in the namespace the startup `database`
    /// names (a client's default database, its user name, and `postgres` mean the default
    /// namespace unless a namespace has that name; any other name must exist, 3D000).
    async fn open_session<C: ClientInfo>(&self, client: &C) -> PgWireResult<Session> {
        let user = client.metadata().get(METADATA_USER).cloned().unwrap_or_default();
        let mut session =
            self.engine.session(&user).map_err(|_| fatal(SqlState::INVALID_AUTHORIZATION, format!("user {user} does not exist")))?;
        let database = client.metadata().get(METADATA_DATABASE).cloned().unwrap_or_default();
        let quoted = format!("\"{}\"", database.replace('"', "\"\""));
        if let Err(error) = session.execute(&format!("USE {quoted}")).await
            && !(DEFAULT_DATABASES.contains(&database.as_str()) || database == user)
        {
            let message = format!("database \"{database}\" does not exist (a database is one of the engine's namespaces): {error}");
            return Err(fatal(SqlState::INVALID_CATALOG_NAME, message));
        }
        Ok(session)
    }

    /// Marks a statement as running until the guard goes.
    pub(crate) fn running(&self) -> Running<'_> {
        self.busy.send_replace(true);
        Running(&self.busy)
    }
}

/// Held while a statement runs.
pub(crate) struct Running<'a>(&'a watch::Sender<bool>);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.send_replace(false);
    }
}

/// A session's transaction status as ReadyForQuery reports it.
pub(crate) fn status(session: &Session) -> TransactionStatus {
    match (session.in_transaction(), session.transaction_failed()) {
        (false, _) => TransactionStatus::Idle,
        (true, false) => TransactionStatus::Transaction,
        (true, true) => TransactionStatus::Error,
    }
}

/// An error that ends the connection.
pub(crate) fn fatal(state: SqlState, message: impl Into<String>) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new("FATAL".to_string(), state.code().to_string(), message.into())))
}

#[async_trait]
impl StartupHandler for ConnectionHandlers {
    async fn on_startup<C>(&self, client: &mut C, message: PgWireFrontendMessage) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if self.0.refused {
            return Err(fatal(SqlState::TOO_MANY_CONNECTIONS, "sorry, too many clients already"));
        }
        // The session opens at the first statement: pgwire's SCRAM handler sends
        // ReadyForQuery as it accepts the proof, so a missing database (3D000, fatal)
        // is reported to the first statement, which also closes the connection.
        match &self.0.trust {
            Some(trust) => trust.on_startup(client, message).await,
            None => self.0.startup.on_startup(client, message).await,
        }
    }
}

/// The startup of `auth = "trust"`.
pub(crate) struct TrustStartup(Arc<ConnectionManager>);

#[async_trait]
impl NoopStartupHandler for TrustStartup {
    fn connection_manager(&self) -> Option<Arc<ConnectionManager>> {
        Some(self.0.clone())
    }
}

impl PgWireServerHandlers for ConnectionHandlers {
    fn simple_query_handler(&self) -> Arc<impl pgwire::api::query::SimpleQueryHandler> {
        Arc::new(self.clone())
    }

    fn extended_query_handler(&self) -> Arc<impl pgwire::api::query::ExtendedQueryHandler> {
        Arc::new(self.clone())
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        Arc::new(self.clone())
    }

    fn cancel_handler(&self) -> Arc<impl pgwire::api::cancel::CancelHandler> {
        Arc::new(DefaultCancelHandler::new(self.0.manager.clone()))
    }
}

impl ConnectionHandlers {
    pub(crate) fn parser(&self) -> Arc<EngineQueryParser> {
        Arc::new(EngineQueryParser(self.0.clone()))
    }
}

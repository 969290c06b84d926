//! Who a connection is: SCRAM-SHA-256 (PostgreSQL's default password exchange) against
//! the verifier the engine keeps beside each user's password hash. A user that does not
//! exist, or has no password, goes through the same exchange with decoy credentials
//! (a salt that stays the same for the same name) and gets the same 28P01 as a wrong
//! password. MD5 and cleartext passwords are never offered.

use std::sync::Arc;

use async_trait::async_trait;
use engine::Engine;
use pgwire::api::ConnectionManager;
use pgwire::api::auth::sasl::SASLAuthStartupHandler;
use pgwire::api::auth::sasl::scram::{ScramAuth, ScramSecret};
use pgwire::api::auth::{AuthSource, DefaultServerParameterProvider, LoginInfo, Password};
use pgwire::error::{PgWireError, PgWireResult};

/// The engine's users, as a SCRAM credential source.
pub struct EngineUsers {
    engine: Engine,
}

impl std::fmt::Debug for EngineUsers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EngineUsers")
    }
}

#[async_trait]
impl AuthSource for EngineUsers {
    /// Never called: only SCRAM is offered, and it asks for the verifier.
    async fn get_password(&self, login: &LoginInfo) -> PgWireResult<Password> {
        Err(PgWireError::InvalidPassword(login.user().unwrap_or_default().to_string()))
    }

    async fn get_scram_secret(&self, login: &LoginInfo) -> PgWireResult<(ScramSecret, Option<()>)> {
        let credentials = self.engine.scram_credentials(login.user().unwrap_or_default());
        let secret = ScramSecret::Verifier {
            salt: credentials.salt,
            iterations: credentials.iterations as usize,
            stored_key: credentials.stored_key,
            server_key: credentials.server_key,
        };
        Ok((secret, None))
    }
}

/// The parameters the server reports at startup.
pub fn server_parameters() -> DefaultServerParameterProvider {
    let mut parameters = DefaultServerParameterProvider::default();
    // psql and drivers choose their catalog queries by version: the dialect served is
    // PostgreSQL 15's as far as the engine goes.
    parameters.server_version = "15.0 (engine-server)".to_string();
    parameters.search_path = "default".to_string();
    parameters
}

/// The startup handler of one connection: SCRAM-SHA-256 against the engine's users, with
/// cancel keys registered in `manager`.
pub fn scram_startup(engine: &Engine, manager: Arc<ConnectionManager>) -> SASLAuthStartupHandler<DefaultServerParameterProvider> {
    let scram = ScramAuth::new(Arc::new(EngineUsers { engine: engine.clone() }));
    SASLAuthStartupHandler::new(Arc::new(server_parameters())).with_scram(scram).with_connection_manager(manager)
}

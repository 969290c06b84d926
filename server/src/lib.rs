//! `engine-server`: the engine behind the PostgreSQL wire protocol, through the `pgwire`
//! crate.
//!
//! Every connection authenticates as one of the engine's users (SCRAM-SHA-256 against the
//! verifier the engine keeps beside each password, [`auth`]) and is a [`engine::Session`]
//! of that user from then on ([`connection`]): the startup `database` picks the
//! namespace, statements run through the session's embedding API (the simple protocol's
//! scripts in [`simple`], Parse/Bind/Execute in [`extended`]), rows stream to the client
//! batch by batch ([`rows`]), parameters arrive as engine values ([`parameters`]), and
//! errors carry the engine's SQLSTATE ([`errors`]). [`listener`] accepts connections up
//! to the configured limit, serves TLS when a certificate is configured, and drains on
//! shutdown; [`config`] reads the command line and the configuration file.

pub mod auth;
pub mod config;
pub mod connection;
pub mod errors;
pub mod extended;
pub mod listener;
pub mod parameters;
pub mod rows;
pub mod simple;
pub mod types;

pub use config::Settings;
pub use listener::{RunningServer, start};

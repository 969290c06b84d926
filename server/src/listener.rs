//! Accepting connections: each one a task with its own handlers; past `max_connections`
//! a connection is still answered, with 53300, and closed; with a certificate configured
//! clients may switch to TLS (rustls). Shutdown (SIGTERM in the binary) stops accepting,
//! closes idle connections at once, lets running statements finish for up to the drain
//! time, then closes the rest (a statement still running then is cancelled: its future is
//! dropped, which the engine treats as a cancel).

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use engine::Engine;
use pgwire::api::ConnectionManager;
use pgwire::tokio::process_socket;
use pgwire::tokio::tokio_rustls::TlsAcceptor;
use pgwire::tokio::tokio_rustls::rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use crate::config::{Auth, Settings};
use crate::connection::{Connection, ConnectionHandlers};

/// A server accepting connections.
pub struct RunningServer {
    address: SocketAddr,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl RunningServer {
    /// The address it listens on (the port the system chose for `:0`).
    pub fn local_addr(&self) -> SocketAddr {
        self.address
    }

    /// Stops accepting, drains the connections (see the module doc) and returns when
    /// every connection is closed.
    pub async fn shutdown(self) {
        self.stop.send_replace(true);
        let _ = self.task.await;
    }
}

/// Binds `settings.listen` and serves `engine` until [`RunningServer::shutdown`].
pub async fn start(engine: Engine, settings: &Settings) -> anyhow::Result<RunningServer> {
    let listener = TcpListener::bind(&settings.listen).await.with_context(|| format!("listening on {}", settings.listen))?;
    let address = listener.local_addr()?;
    let tls = match &settings.tls {
        Some((cert, key)) => Some(tls_acceptor(cert, key)?),
        None => None,
    };
    let (stop, stopped) = watch::channel(false);
    let limit = Arc::new(Semaphore::new(settings.max_connections));
    let serving = Serving { engine, tls, limit, drain: settings.drain, auth: settings.auth, stopped };
    let task = tokio::spawn(serving.accept(listener));
    Ok(RunningServer { address, stop, task })
}

struct Serving {
    engine: Engine,
    tls: Option<TlsAcceptor>,
    limit: Arc<Semaphore>,
    drain: std::time::Duration,
    auth: Auth,
    stopped: watch::Receiver<bool>,
}

impl Serving {
    async fn accept(self, listener: TcpListener) {
        let manager = Arc::new(ConnectionManager::new());
        let mut connections = JoinSet::new();
        let mut stop = self.stopped.clone();
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let Ok((socket, _)) = accepted else { continue };
                    let _ = socket.set_nodelay(true);
                    let permit = self.limit.clone().try_acquire_owned().ok();
                    let connection = Connection::new(self.engine.clone(), manager.clone(), permit.is_none(), self.auth);
                    let (tls, stopped, drain) = (self.tls.clone(), self.stopped.clone(), self.drain);
                    connections.spawn(async move {
                        let _permit = permit;
                        let mut busy = connection.busy.subscribe();
                        let serve = process_socket(socket, tls, ConnectionHandlers(connection.clone()));
                        tokio::select! {
                            _ = serve => {}
                            _ = closing(stopped, &mut busy, drain) => {}
                        }
                    });
                }
                _ = stop.wait_for(|stop| *stop) => break,
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
        drop(listener);
        while connections.join_next().await.is_some() {}
    }
}

/// Resolves when a connection should close: the server is stopping and the connection
/// is idle, or its statement ran past the drain time.
async fn closing(mut stopped: watch::Receiver<bool>, busy: &mut watch::Receiver<bool>, drain: std::time::Duration) {
    let _ = stopped.wait_for(|stop| *stop).await;
    let _ = tokio::time::timeout(drain, busy.wait_for(|running| !*running)).await;
}

/// TLS from a PEM certificate chain and private key.
fn tls_acceptor(cert: &std::path::Path, key: &std::path::Path) -> anyhow::Result<TlsAcceptor> {
    let chain = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("reading certificates from {}", cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("reading certificates from {}", cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(key).with_context(|| format!("reading the private key from {}", key.display()))?;
    let config = ServerConfig::builder().with_no_client_auth().with_single_cert(chain, key).context("the TLS certificate and key")?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

//! The server's settings: the command line, over a TOML configuration file, over the
//! defaults.
//!
//! ```toml
//! data = "/var/lib/engine"          # the engine's data directory
//! listen = "127.0.0.1:5433"        # address and port
//! max_connections = 100             # connections past it get 53300
//! tls_cert = "server.crt"           # PEM certificate chain: TLS on when set
//! tls_key = "server.key"            # PEM private key (PKCS#8, PKCS#1 or SEC1)
//! drain_seconds = 30                # on SIGTERM: how long running statements may finish
//! root_password = "..."             # root's password (or ENGINE_ROOT_PASSWORD)
//! auth = "scram-sha-256"            # or "trust": no password asked (local testing only)
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;
use serde::Deserialize;

/// The address the server listens on unless told otherwise (PostgreSQL's port plus one,
/// so both can run side by side).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:5433";
pub const DEFAULT_MAX_CONNECTIONS: usize = 100;
pub const DEFAULT_DRAIN_SECONDS: u64 = 30;
/// The environment variable root's password may come from.
pub const ROOT_PASSWORD_VARIABLE: &str = "ENGINE_ROOT_PASSWORD";

/// `engine-server`'s command line.
#[derive(Debug, Parser)]
#[command(name = "engine-server", about = "Serves the engine over the PostgreSQL wire protocol")]
pub struct Arguments {
    /// The engine's data directory (created if missing).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// The address to listen on.
    #[arg(long)]
    pub listen: Option<String>,
    /// A TOML configuration file (the command line wins over it).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// At most this many connections at once.
    #[arg(long)]
    pub max_connections: Option<usize>,
    /// A PEM certificate chain: serve TLS.
    #[arg(long)]
    pub tls_cert: Option<PathBuf>,
    /// The certificate's PEM private key.
    #[arg(long)]
    pub tls_key: Option<PathBuf>,
}

/// The configuration file's keys (all optional).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSettings {
    pub data: Option<PathBuf>,
    pub listen: Option<String>,
    pub max_connections: Option<usize>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub drain_seconds: Option<u64>,
    pub root_password: Option<String>,
    pub auth: Option<Auth>,
}

/// How connections authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum Auth {
    /// SCRAM-SHA-256 against the engine's users (the default).
    #[default]
    #[serde(rename = "scram-sha-256")]
    Scram,
    /// Whoever connects is the user it names, with no password asked (PostgreSQL's
    /// `trust`): for a server only its own tests reach, never a shared one.
    #[serde(rename = "trust")]
    Trust,
}

/// Everything the server runs with.
#[derive(Debug, Clone)]
pub struct Settings {
    pub data: PathBuf,
    pub listen: String,
    pub max_connections: usize,
    /// Certificate chain and key files, when TLS is on.
    pub tls: Option<(PathBuf, PathBuf)>,
    pub drain: Duration,
    pub root_password: Option<String>,
    pub auth: Auth,
}

impl Settings {
    /// Settings for a data directory, with every default.
    pub fn new(data: impl Into<PathBuf>) -> Settings {
        Settings {
            data: data.into(),
            listen: DEFAULT_LISTEN.to_string(),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            tls: None,
            drain: Duration::from_secs(DEFAULT_DRAIN_SECONDS),
            root_password: None,
            auth: Auth::Scram,
        }
    }

    /// The command line over the configuration file it names over the defaults; root's
    /// password from the file or `ENGINE_ROOT_PASSWORD`.
    pub fn from_arguments(arguments: Arguments) -> anyhow::Result<Settings> {
        let file = match &arguments.config {
            Some(path) => read_file(path)?,
            None => FileSettings::default(),
        };
        let Some(data) = arguments.data.or(file.data) else {
            bail!("no data directory: pass --data DIR or set data in the configuration file")
        };
        let tls = match (arguments.tls_cert.or(file.tls_cert), arguments.tls_key.or(file.tls_key)) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            _ => bail!("TLS needs both a certificate (tls_cert) and its key (tls_key)"),
        };
        Ok(Settings {
            data,
            listen: arguments.listen.or(file.listen).unwrap_or_else(|| DEFAULT_LISTEN.to_string()),
            max_connections: arguments.max_connections.or(file.max_connections).unwrap_or(DEFAULT_MAX_CONNECTIONS),
            tls,
            drain: Duration::from_secs(file.drain_seconds.unwrap_or(DEFAULT_DRAIN_SECONDS)),
            root_password: file.root_password.or_else(|| std::env::var(ROOT_PASSWORD_VARIABLE).ok()),
            auth: file.auth.unwrap_or_default(),
        })
    }
}

fn read_file(path: &Path) -> anyhow::Result<FileSettings> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("{} is not a valid configuration file", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_wins_over_the_file_over_the_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("server.toml");
        std::fs::write(&file, "data = \"/from/file\"\nlisten = \"0.0.0.0:6000\"\nmax_connections = 7\ndrain_seconds = 2\n").unwrap();
        let arguments = Arguments::parse_from(["engine-server", "--config", file.to_str().unwrap(), "--listen", "127.0.0.1:7000"]);
        let settings = Settings::from_arguments(arguments).unwrap();
        assert_eq!(settings.data, PathBuf::from("/from/file"));
        assert_eq!(settings.listen, "127.0.0.1:7000");
        assert_eq!(settings.max_connections, 7);
        assert_eq!(settings.drain, Duration::from_secs(2));
        std::fs::write(&file, "data = \"x\"\nlisten_on = \"y\"\n").unwrap();
        let arguments = Arguments::parse_from(["engine-server", "--config", file.to_str().unwrap()]);
        assert!(Settings::from_arguments(arguments).is_err(), "an unknown key is an error");
        assert!(Settings::from_arguments(Arguments::parse_from(["engine-server"])).is_err(), "no data directory");
    }
}

//! [`ClusterError`]: why a cluster could not be started.

use std::fmt;
use std::io;

/// Why a cluster could not be started.
#[derive(Debug)]
#[non_exhaustive]
pub enum ClusterError {
    /// The environment or the options do not allow a cluster (binaries missing, no `postgres`
    /// user, unreachable or foreign data directory, credentials that do not match, ...).
    Setup(String),
    /// A file-system or process operation failed.
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        source: io::Error,
    },
    /// `initdb` failed; `output` is what it printed.
    InitDb {
        /// initdb's stdout and stderr.
        output: String,
    },
    /// The server exited or did not accept logins in time.
    Start {
        /// What went wrong.
        reason: String,
        /// The last lines of the server log.
        log_tail: String,
    },
    /// The server runs but preparing the database (or role password) failed.
    Database(String),
}

impl ClusterError {
    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> ClusterError {
        ClusterError::Io {
            context: context.into(),
            source,
        }
    }
}

impl fmt::Display for ClusterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClusterError::Setup(message) => f.write_str(message),
            ClusterError::Io { context, source } => write!(f, "{context}: {source}"),
            ClusterError::InitDb { output } => write!(f, "initdb failed:\n{output}"),
            ClusterError::Start { reason, log_tail } => {
                write!(
                    f,
                    "PostgreSQL did not start: {reason}\n--- server log (tail) ---\n{log_tail}"
                )
            }
            ClusterError::Database(message) => write!(f, "preparing the database: {message}"),
        }
    }
}

impl std::error::Error for ClusterError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ClusterError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

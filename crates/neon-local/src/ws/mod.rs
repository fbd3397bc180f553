//! Neon's WebSocket protocol: the Postgres wire protocol carried in binary WebSocket messages,
//! which is how `@neondatabase/serverless`'s `Pool` and `Client` reach Neon (sessions,
//! interactive transactions, `LISTEN`), as opposed to one-shot SQL over HTTP.
//!
//! A WebSocket on `/v1` or `/v2` is one PostgreSQL session on the one upstream server. The
//! endpoint reads the start-up itself (to ask for the password in cleartext, as Neon's proxy
//! does, and log in to the server with it), then only moves bytes.
//!
//! * [`upgrade`] — the HTTP request: checks, `?address=`, admission, `101`.
//! * [`startup`] — the client's first packets, read from a byte stream without I/O.
//! * [`session`] — one session: start-up, login, the byte tunnel, and its end.
//! * [`sessions`] — the bound on open sessions and the shutdown signal.

pub mod session;
pub mod sessions;
pub mod startup;
pub mod upgrade;

use std::time::Duration;

/// Limits of the WebSocket sessions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsConfig {
    /// Most sessions open at once; one more gets `FATAL 53300` after its start-up message.
    pub max_sessions: usize,
    /// A session with no bytes either way for this long is closed (its backend terminated).
    /// `None`: never.
    pub idle_timeout: Option<Duration>,
}

impl Default for WsConfig {
    /// 32 sessions: with the HTTP pool's 64 that stays below PostgreSQL's default
    /// `max_connections` of 100 (3 of them reserved for superusers). Idle 5 minutes.
    fn default() -> Self {
        WsConfig {
            max_sessions: 32,
            idle_timeout: Some(Duration::from_secs(300)),
        }
    }
}

//! A small Postgres client: exactly what the SQL-over-HTTP proxy does, no more.
//!
//! Why not tokio-postgres: the proxy sends parameters as *untyped text* (Parse without parameter
//! types, so Postgres infers them from the statement) and asks for *text* results of every type,
//! then hands the text and the type OIDs to the JSON encoder. tokio-postgres types parameters on
//! the client side and decodes binary results into Rust types, which is the opposite. With the
//! message codecs and SCRAM of `postgres-protocol`, the client below is a few hundred lines.
//!
//! * [`connection`] — login (SCRAM-SHA-256, MD5, cleartext), the extended-protocol query, and
//!   what the pool needs: the session reset and the idle liveness check.
//! * [`cancel`] — cancelling a running query when the HTTP request goes away.

pub mod cancel;
pub mod connection;

pub use connection::{Connection, PgError, QueryResult, ResponseBudget, Startup};

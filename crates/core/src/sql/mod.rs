//! Raw SQL over HTTP on both SQL stores, with one request and response shape.
//!
//! * [`request`] — the JSON bodies of `/v1/{d1,pg}/query` and `/batch`, validated.
//! * [`value`] — how JSON parameters become store values and store values become
//!   JSON, identically on both stores (binary as `{"$binary": "<base64>"}`).
//! * [`pg`] — turning a Neon result (raw text, array mode) into our result.
//! * [`d1`] — turning D1 values into our result, never rounding an integer.
//! * [`readonly`] — deciding whether a SQLite statement can write (for read keys on D1).
//! * [`errors`] — mapping store errors to HTTP by kind.
//! * [`result`] — the response body both stores answer with.

pub mod d1;
pub mod errors;
pub mod pg;
pub mod readonly;
pub mod request;
pub mod result;
pub mod value;

/// Which SQL store a request addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    /// Cloudflare D1 (SQLite).
    D1,
    /// Neon (Postgres) over SQL-over-HTTP.
    Pg,
}

impl Store {
    /// `d1` or `pg`, as in the URL and in scopes.
    pub fn as_str(self) -> &'static str {
        match self {
            Store::D1 => "d1",
            Store::Pg => "pg",
        }
    }
}

//! Strata's core: everything the gateway decides that does not need the
//! Workers runtime. It never imports `worker`, so it compiles both to wasm32
//! (inside the Worker) and to the host, where `cargo test -p strata-core`
//! exercises it without a runtime.
//!
//! # Layout
//!
//! * [`error`] — the one error type at the HTTP edge, its stable codes and
//!   their HTTP statuses (the catalogue lives here and in `docs/api.md`).
//! * [`body`] — request body policy: JSON content types, size limits.
//! * [`router`] — which route a method and path select, or 404 / 405.
//! * [`auth`] — API keys (`API_KEYS`), constant-time hash comparison, scopes.
//! * [`jwt`] — JWT bearer tokens: decoding, HS256, JWKS keys, claims, scopes.
//! * [`cors`] — the CORS policy: allowed origins, preflights, response headers.
//! * [`encoding`] — base64, standard and URL-safe.
//! * [`config`] — typed, validated settings (Neon connection string and the
//!   SQL endpoint derived from it).
//! * [`request_id`] — the `x-request-id` every response carries.
//! * [`log`] — the one structured log line written per request.
//! * [`rest`] — REST over tables with PostgREST's grammar: placement, schema,
//!   URL grammar, headers, keyset cursors, SQL building.
//! * [`sql`] — raw SQL on D1 and Postgres: request bodies, value encoding,
//!   results, read-only checks, store errors mapped to HTTP.
//! * [`neon`] — Neon's SQL-over-HTTP protocol, shared by the Worker's client
//!   and the local Neon-compatible endpoint.
//! * [`http`] — the request parts operations read and the [`http::Reply`]
//!   they decide; the shell only copies it into the runtime's response.
//! * [`store`] — the storage seam: the one store error type, and the traits
//!   the operations call stores through (fakes in tests).
//! * [`sort`] — the one stable sort every caller shares (bundle size).
//! * [`objects`] — objects in R2 with HTTP's semantics: keys, conditionals,
//!   ranges, metadata, listing, multipart steps, signed URLs.

pub mod auth;
pub mod body;
pub mod config;
pub mod cors;
pub mod encoding;
pub mod error;
pub mod http;
pub mod jwt;
pub mod log;
pub mod neon;
pub mod objects;
pub mod percent;
pub mod request_id;
pub mod rest;
pub mod router;
pub mod s3;
pub mod sort;
pub mod sql;
pub mod store;
#[cfg(test)]
pub(crate) mod testing;

pub use error::{ApiError, ErrorCode};

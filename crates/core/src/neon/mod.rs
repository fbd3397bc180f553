//! Neon's SQL-over-HTTP protocol, as Neon's serverless driver speaks it (`POST /sql` with the
//! connection string in `Neon-Connection-String`, JSON queries and batches, text-format rows).
//!
//! Everything here is pure: no I/O, no runtime. Both sides of the protocol use it — the
//! Worker's Neon client (compiled to wasm32) builds requests and decodes responses with these
//! types, and the local endpoint (`neon-local`, on the host) parses the same requests and
//! produces the same responses, so the two cannot drift apart.
//!
//! # Layout
//! * [`headers`] — the request header names and how their values are read.
//! * [`request`] — request bodies (single query, batch), batch transaction options.
//! * [`response`] — result objects (`fields`, `rows`, `command`, `rowCount`, `rowAsArray`).
//! * [`error`] — the 17-key error body.
//! * [`params`] — JSON parameter → text bind value.
//! * [`values`] — Postgres text value → JSON (typed mode), and the type OIDs it needs.
//! * [`array`](mod@array) — parser for Postgres text array literals (`{1,"a b",NULL}`).
//! * [`connstr`] — the `Neon-Connection-String` URL.
//! * [`endpoint`] — where requests go: `NEON_SQL_URL` checked, or derived for Neon's hosts only.

pub mod array;
pub mod connstr;
pub mod endpoint;
pub mod error;
pub mod headers;
pub mod params;
pub mod request;
pub mod response;
pub mod values;

pub use array::{parse_array, ArrayElement, ArrayParseError};
pub use connstr::{ConnectionString, ConnectionStringError};
pub use error::ErrorBody;
pub use headers::{BatchOptions, InvalidIsolationLevel, IsolationLevel, OutputOptions};
pub use params::json_to_pg_text;
pub use request::{BatchRequest, QueryRequest, RequestBody};
pub use response::{BatchResponse, Field, QueryResponse, Row};
pub use values::{pg_text_to_json, pg_value_to_json};

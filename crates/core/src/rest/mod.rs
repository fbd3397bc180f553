//! REST over tables, with PostgREST's grammar, on whichever store a table lives.
//!
//! * [`placement`] — `REST_TABLES` and the run-time `strata_placement` rows:
//!   which store serves a table, and whether it is moving.
//! * [`admin`] — `/v1/admin/placement`: see and change placements.
//! * [`schema`] — introspected tables and columns: the only source of identifiers.
//! * [`grammar`] — the URL grammar (`select`, filters, `or`/`and`, `order`, ...).
//! * [`headers`] — `Prefer`, `Range`, `Accept`, `Content-Range`.
//! * [`cursor`] — opaque keyset cursors.
//! * [`build`] — the SQL for each operation, per dialect, with bound values.
//! * [`rpc`] — `/v1/rest/rpc/{function}`: Postgres functions.
//! * [`service`] — one request as a command, run through the store seam,
//!   answered with one reply (paging, `Link`, 206/416, `Prefer`).

pub mod admin;
pub mod build;
pub mod cursor;
pub mod grammar;
pub mod headers;
pub mod placement;
pub mod rpc;
pub mod schema;
pub mod service;

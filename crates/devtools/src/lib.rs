//! `strata-dev`: developer tools for Strata that run on the host, never in the Worker.
//!
//! # Layout
//! * [`keygen`] — a new API key (or a given one) and its `API_KEYS` entry.
//! * [`migrate`] — applies `migrations/pg/*.sql` to Postgres (local or Neon), once each,
//!   after squawk passed them, under lock and statement timeouts.
//! * [`d1check`] — runs `migrations/d1` in SQLite and refuses table rebuilds and foreign keys
//!   without an index.
//! * [`read_role`] — the `SELECT`-only Postgres role behind `DATABASE_URL_READ`.
//! * [`dburl`] — Postgres URLs: password redaction and the plain-or-TLS decision.
//! * [`graduate`] — moves a REST table between D1 and Postgres through Strata's API.
//! * [`digest`] — SHA-256 hex, shared by key hashes and migration checksums.
//!
//! The binary (`src/main.rs`) only parses arguments, prints, and maps errors to exit codes:
//! 0 success, 1 failure, 2 usage.

// A host-only tool, never part of the Worker: it has a real clock (the ban is
// for wasm32, see clippy.toml).
#![allow(clippy::disallowed_methods)]

pub mod d1check;
pub mod dburl;
pub mod digest;
pub mod graduate;
pub mod keygen;
pub mod migrate;
pub mod read_role;

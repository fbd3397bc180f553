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
//! * [`service`] — the SQL routes as one operation through the store seam.
//! * [`session`] — D1 read replicas: the `x-d1-bookmark` a request's D1 session starts from.

pub mod d1;
pub mod errors;
pub mod pg;
pub mod readonly;
pub mod request;
pub mod result;
pub mod service;
pub mod session;
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

use crate::auth::{Principal, Scope};
use crate::error::ApiError;

/// What a key may do with raw SQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anything (`sql` or `admin`).
    ReadWrite,
    /// Statements that cannot write (`sql:read`).
    ReadOnly,
}

/// Decides the access a principal has to raw SQL; 403 naming `sql:read` when
/// it has none. The same on both stores: the store scopes (`d1:*`, `pg:*`)
/// grant the REST tables only, because raw SQL reaches every table of the
/// store — internal ones and those `REST_TABLES` does not expose included.
pub fn access(principal: &Principal) -> Result<Access, ApiError> {
    if principal.allows(Scope::Sql) {
        Ok(Access::ReadWrite)
    } else if principal.allows(Scope::SqlRead) {
        Ok(Access::ReadOnly)
    } else {
        Err(ApiError::forbidden_scope(Scope::SqlRead.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(scopes: &[Scope]) -> Principal {
        Principal {
            key_id: "k".into(),
            scopes: scopes.to_vec(),
        }
    }

    #[test]
    fn raw_sql_needs_the_sql_scopes() {
        assert_eq!(access(&p(&[Scope::Sql])), Ok(Access::ReadWrite));
        assert_eq!(access(&p(&[Scope::Admin])), Ok(Access::ReadWrite));
        assert_eq!(access(&p(&[Scope::SqlRead])), Ok(Access::ReadOnly));
        assert_eq!(
            access(&p(&[Scope::SqlRead, Scope::PgWrite])),
            Ok(Access::ReadOnly)
        );
        // The store scopes are for REST tables: no raw SQL at all with them.
        for scopes in [
            vec![Scope::D1Read],
            vec![Scope::D1Write, Scope::PgWrite],
            vec![Scope::ObjectsWrite],
            vec![],
        ] {
            let e = access(&p(&scopes)).unwrap_err();
            assert_eq!(e.status(), 403, "{scopes:?}");
            assert!(e.message.contains("sql:read"), "{}", e.message);
        }
    }
}

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

use crate::auth::{Principal, Scope};
use crate::error::ApiError;

/// What a key may do with raw SQL on a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anything (`sql`, `admin` or the store's write scope).
    ReadWrite,
    /// Statements that cannot write (the store's read scope only).
    ReadOnly,
}

/// Decides the access a principal has to raw SQL on `store`; 403 naming the
/// read scope when it has none.
pub fn access(principal: &Principal, store: Store) -> Result<Access, ApiError> {
    let (read, write) = match store {
        Store::D1 => (Scope::D1Read, Scope::D1Write),
        Store::Pg => (Scope::PgRead, Scope::PgWrite),
    };
    if principal.allows(Scope::Sql) || principal.allows(write) {
        Ok(Access::ReadWrite)
    } else if principal.allows(read) {
        Ok(Access::ReadOnly)
    } else {
        Err(ApiError::forbidden_scope(read.as_str()))
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
    fn access_by_scope() {
        assert_eq!(access(&p(&[Scope::Sql]), Store::D1), Ok(Access::ReadWrite));
        assert_eq!(
            access(&p(&[Scope::PgWrite]), Store::Pg),
            Ok(Access::ReadWrite)
        );
        assert_eq!(
            access(&p(&[Scope::PgRead]), Store::Pg),
            Ok(Access::ReadOnly)
        );
        assert_eq!(
            access(&p(&[Scope::Admin]), Store::Pg),
            Ok(Access::ReadWrite)
        );
        assert_eq!(
            access(&p(&[Scope::PgWrite]), Store::D1)
                .unwrap_err()
                .status(),
            403
        );
        assert_eq!(
            access(&p(&[Scope::ObjectsWrite]), Store::Pg)
                .unwrap_err()
                .status(),
            403
        );
    }
}

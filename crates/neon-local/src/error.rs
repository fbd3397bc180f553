//! Every way a request can fail, and — in one place — the HTTP status and body each gets.

use hyper::StatusCode;
use strata_core::neon::ErrorBody;

use crate::pg::PgError;

/// A failed request.
#[derive(Debug)]
pub enum EndpointError {
    /// Any other method or path: 400 with the bare JSON string `"query is not supported"`.
    NotSupported,
    /// Something the client got wrong, or an error Postgres reported: 400 with the body
    /// (boxed: it is large and errors are the rare path).
    Client(Box<ErrorBody>),
    /// The request body is over the limit: 413.
    RequestTooLarge { limit: usize },
    /// The response would be over the limit: 507, no partial result.
    ResponseTooLarge { limit: usize },
    /// The database cannot be reached or failed below SQL level: 500. The text is logged and
    /// also returned, since this endpoint is a local development tool, not a public service.
    Unavailable(String),
}

impl EndpointError {
    /// A proxy-level client error (empty `code` and `severity`).
    pub fn client(message: impl Into<String>) -> EndpointError {
        EndpointError::Client(Box::new(ErrorBody::proxy(message)))
    }

    /// Maps a Postgres client error. `during_login` matters because a failed login is the
    /// client's fault only when it is about credentials or the database name.
    pub fn from_pg(error: PgError, during_login: bool) -> EndpointError {
        match error {
            PgError::Server(body) if during_login && !login_error_is_clients(&body.code) => {
                EndpointError::Unavailable(format!("the database refused the connection: {body}"))
            }
            PgError::Server(body) => EndpointError::Client(body),
            PgError::Encode(message) => EndpointError::client(message),
            PgError::ResponseTooLarge => EndpointError::ResponseTooLarge { limit: 0 },
            PgError::Io(e) if during_login => {
                EndpointError::Unavailable(format!("could not connect to the database server: {e}"))
            }
            PgError::Io(e) => {
                EndpointError::Unavailable(format!("lost the connection to the database: {e}"))
            }
            PgError::Protocol(message) => EndpointError::Unavailable(message),
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            EndpointError::NotSupported | EndpointError::Client(_) => StatusCode::BAD_REQUEST,
            EndpointError::RequestTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            EndpointError::ResponseTooLarge { .. } => StatusCode::INSUFFICIENT_STORAGE,
            EndpointError::Unavailable(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The JSON body: the bare string for unsupported requests, the 17-key object otherwise.
    pub fn body(&self) -> Vec<u8> {
        let error = match self {
            EndpointError::NotSupported => return br#""query is not supported""#.to_vec(),
            EndpointError::Client(body) => (**body).clone(),
            EndpointError::RequestTooLarge { limit } => {
                ErrorBody::proxy(format!("request is too large (max is {limit} bytes)"))
            }
            EndpointError::ResponseTooLarge { limit } => {
                ErrorBody::proxy(format!("response is too large (max is {limit} bytes)"))
            }
            EndpointError::Unavailable(message) => ErrorBody::proxy(message.clone()),
        };
        // Serialising a struct of strings cannot fail; the fallback keeps that a non-issue.
        serde_json::to_vec(&error).unwrap_or_else(|_| br#"{"message":"internal error"}"#.to_vec())
    }
}

/// Login failures the client causes: invalid authorization (class 28: wrong password, unknown
/// role, no pg_hba entry) and an unknown database (3D000). Anything else during login
/// (too many connections, shutting down) is the server's condition.
fn login_error_is_clients(code: &str) -> bool {
    code.starts_with("28") || code == "3D000"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pg(code: &str) -> PgError {
        PgError::Server(Box::new(ErrorBody::from_postgres_fields([
            (b'C', code.to_owned()),
            (b'M', "m".to_owned()),
        ])))
    }

    #[test]
    fn statuses() {
        assert_eq!(EndpointError::NotSupported.status(), 400);
        assert_eq!(
            EndpointError::NotSupported.body(),
            br#""query is not supported""#
        );
        assert_eq!(EndpointError::from_pg(pg("42601"), false).status(), 400);
        assert_eq!(EndpointError::from_pg(pg("28P01"), true).status(), 400);
        assert_eq!(EndpointError::from_pg(pg("3D000"), true).status(), 400);
        assert_eq!(EndpointError::from_pg(pg("53300"), true).status(), 500);
        let io = || PgError::Io(std::io::ErrorKind::ConnectionRefused.into());
        assert_eq!(EndpointError::from_pg(io(), true).status(), 500);
        assert_eq!(EndpointError::from_pg(io(), false).status(), 500);
        assert_eq!(EndpointError::RequestTooLarge { limit: 1 }.status(), 413);
        assert_eq!(EndpointError::ResponseTooLarge { limit: 1 }.status(), 507);
    }

    #[test]
    fn bodies_carry_the_17_keys() {
        let body: serde_json::Value =
            serde_json::from_slice(&EndpointError::RequestTooLarge { limit: 10 }.body()).unwrap();
        assert_eq!(body.as_object().unwrap().len(), 17);
        assert_eq!(body["message"], "request is too large (max is 10 bytes)");
        assert_eq!(body["code"], "");
    }
}

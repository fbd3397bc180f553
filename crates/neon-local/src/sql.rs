//! The `/sql` operation: headers + body in, JSON result out.
//!
//! Each HTTP request is its own Postgres session: a fresh connection, closed at the end. So no
//! `SET`, temp table, prepared statement or open transaction can leak into the next request,
//! without any reset logic to get wrong. Locally a fresh connection with SCRAM login costs a few
//! milliseconds (see the crate README for measurements), which is fine for development and
//! tests; a pool would save that at the price of resets (`DISCARD ALL`, aborting open
//! transactions) that must be exactly right.

use std::net::SocketAddr;

use hyper::HeaderMap;
use strata_core::neon::{
    headers, json_to_pg_text, BatchOptions, BatchResponse, ConnectionString, ConnectionStringError,
    OutputOptions, QueryRequest, QueryResponse, RequestBody, Row,
};

use crate::error::EndpointError;
use crate::pg::{Connection, PgError, ResponseBudget, Startup};
use crate::Config;

/// Runs one `/sql` request and returns the serialised JSON response.
pub async fn run(
    config: &Config,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Vec<u8>, EndpointError> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());

    if header(headers::AUTHORIZATION).is_some() {
        // Neon's JWT (row-level security) mode needs an identity provider; a password proxy
        // refuses the header rather than ignoring who the client claims to be.
        return Err(EndpointError::client(
            "JWT authentication (the Authorization header) is not supported by this endpoint; \
             authenticate with the password in Neon-Connection-String",
        ));
    }
    let conn_string = match header(headers::CONNECTION_STRING) {
        Some(value) => ConnectionString::parse(value),
        None => Err(ConnectionStringError::Missing),
    }
    .map_err(|e| EndpointError::client(e.to_string()))?;
    let output = OutputOptions::from_headers(header);
    let request = RequestBody::from_slice(body)
        .map_err(|e| EndpointError::client(format!("failed to parse the request body: {e}")))?;
    let batch_options = match &request {
        RequestBody::Batch(_) => Some(
            BatchOptions::from_headers(header).map_err(|e| EndpointError::client(e.to_string()))?,
        ),
        RequestBody::Single(_) => None,
    };

    let mut session = Session::open(config, &conn_string).await?;
    let outcome = match (&request, batch_options) {
        (RequestBody::Single(query), _) => session
            .single(query, output)
            .await
            .and_then(|response| to_json(&response)),
        (RequestBody::Batch(batch), Some(options)) => session
            .batch(&batch.queries, options, output)
            .await
            .and_then(|response| to_json(&response)),
        (RequestBody::Batch(_), None) => Err(EndpointError::Unavailable(
            "batch options were not read".into(),
        )),
    };
    session.close().await;

    let json = outcome?;
    if json.len() > config.max_response_bytes {
        return Err(EndpointError::ResponseTooLarge {
            limit: config.max_response_bytes,
        });
    }
    Ok(json)
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, EndpointError> {
    serde_json::to_vec(value)
        .map_err(|e| EndpointError::Unavailable(format!("cannot encode the response: {e}")))
}

/// One request's Postgres session.
struct Session {
    /// `None` once the connection broke or was abandoned mid-query: it must not be reused.
    conn: Option<Connection>,
    budget: ResponseBudget,
    response_limit: usize,
}

impl Session {
    async fn open(
        config: &Config,
        conn_string: &ConnectionString,
    ) -> Result<Session, EndpointError> {
        let addr = resolve(&config.upstream).await?;
        let startup = Startup {
            user: &conn_string.user,
            password: &conn_string.password,
            database: &conn_string.database,
            application_name: conn_string.param("application_name"),
        };
        let conn = Connection::connect(addr, &startup, config.connect_timeout)
            .await
            .map_err(|e| EndpointError::from_pg(e, true))?;
        Ok(Session {
            conn: Some(conn),
            budget: ResponseBudget::new(config.max_response_bytes),
            response_limit: config.max_response_bytes,
        })
    }

    fn conn(&mut self) -> Result<&mut Connection, EndpointError> {
        self.conn
            .as_mut()
            .ok_or_else(|| EndpointError::Unavailable("the database connection was lost".into()))
    }

    /// Maps a query error; a connection that failed below SQL level is dropped, not reused.
    fn fail(&mut self, error: PgError) -> EndpointError {
        match error {
            PgError::ResponseTooLarge => {
                // Rows are still streaming in; dropping the connection abandons them.
                self.conn = None;
                EndpointError::ResponseTooLarge {
                    limit: self.response_limit,
                }
            }
            PgError::Io(_) | PgError::Protocol(_) => {
                self.conn = None;
                EndpointError::from_pg(error, false)
            }
            other => EndpointError::from_pg(other, false),
        }
    }

    async fn single(
        &mut self,
        query: &QueryRequest,
        output: OutputOptions,
    ) -> Result<QueryResponse, EndpointError> {
        let params: Vec<Option<String>> = query.params.iter().map(json_to_pg_text).collect();
        let Some(conn) = self.conn.as_mut() else {
            return Err(EndpointError::Unavailable(
                "the database connection was lost".into(),
            ));
        };
        let result = match conn.query(&query.query, &params, &mut self.budget).await {
            Ok(result) => result,
            Err(e) => return Err(self.fail(e)),
        };
        let array_mode = query.array_mode.unwrap_or(output.array_mode);
        let rows = result
            .rows
            .iter()
            .map(|row| {
                Row::from_text(
                    &result.fields,
                    row.iter().map(Option::as_deref),
                    output.raw_text_output,
                    array_mode,
                )
            })
            .collect();
        Ok(QueryResponse::new(
            result.fields,
            rows,
            &result.tag,
            array_mode,
        ))
    }

    /// Runs the queries in one transaction; the first failure rolls everything back and is the
    /// whole answer (no partial results, as on Neon).
    async fn batch(
        &mut self,
        queries: &[QueryRequest],
        options: BatchOptions,
        output: OutputOptions,
    ) -> Result<BatchResponse, EndpointError> {
        if let Err(e) = self
            .conn()?
            .execute_simple(&options.start_transaction_sql())
            .await
        {
            return Err(self.fail(e));
        }
        let mut results = Vec::with_capacity(queries.len());
        for query in queries {
            match self.single(query, output).await {
                Ok(result) => results.push(result),
                Err(error) => {
                    self.rollback().await;
                    return Err(error);
                }
            }
        }
        if let Err(e) = self.conn()?.execute_simple("COMMIT").await {
            // E.g. a serialization failure detected at commit; the transaction is gone anyway.
            return Err(self.fail(e));
        }
        Ok(BatchResponse { results })
    }

    async fn rollback(&mut self) {
        if let Some(conn) = self.conn.as_mut() {
            if conn.execute_simple("ROLLBACK").await.is_err() {
                self.conn = None;
            }
        }
    }

    async fn close(mut self) {
        if let Some(conn) = self.conn.take() {
            conn.close().await;
        }
    }
}

/// Resolves the upstream `host:port` (every request goes there: like Neon, the connection
/// string's host only names the endpoint, and this endpoint has one database server).
async fn resolve(upstream: &str) -> Result<SocketAddr, EndpointError> {
    let unreachable = |detail: String| {
        EndpointError::Unavailable(format!(
            "cannot resolve the database server {upstream}: {detail}"
        ))
    };
    tokio::net::lookup_host(upstream)
        .await
        .map_err(|e| unreachable(e.to_string()))?
        .next()
        .ok_or_else(|| unreachable("no address".into()))
}

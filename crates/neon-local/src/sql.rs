//! The `/sql` operation: headers + body in, JSON result out.
//!
//! Each HTTP request is its own Postgres session, as on Neon: no `SET`, temp table, prepared
//! statement or open transaction carries over to the next request. The connection comes from
//! the [`Pool`] when one with the same credentials is idle (else a new one is opened), and goes
//! back only after [`Connection::reset`] succeeded; a connection that broke, was cut off at the
//! response limit, or whose request was dropped mid-query (client disconnect, see
//! `pg::cancel`) is closed instead. With pooling off every request opens and closes its own.

use std::net::SocketAddr;
use std::sync::Arc;

use hyper::HeaderMap;
use strata_core::neon::{
    headers, json_to_pg_text, BatchOptions, BatchResponse, ConnectionString, ConnectionStringError,
    OutputOptions, QueryRequest, QueryResponse, RequestBody, Row,
};

use crate::error::EndpointError;
use crate::pg::{Connection, PgError, ResponseBudget, Startup};
use crate::pool::{Pool, PoolKey, Slot};
use crate::Config;

/// Runs one `/sql` request and returns the serialised JSON response.
pub async fn run(
    config: &Config,
    pool: &Arc<Pool>,
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

    let mut session = Session::open(config, pool, &conn_string).await?;
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
    session.finish().await;

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
///
/// Dropping it (which is what happens to a request whose client went away) closes the
/// connection and frees its pool place; only [`Session::finish`] returns it for reuse.
struct Session {
    /// `None` once the connection broke or was abandoned mid-query: it must not be reused.
    conn: Option<Connection>,
    /// The connection's place in the pool; `None` with pooling off.
    slot: Option<Slot>,
    budget: ResponseBudget,
    response_limit: usize,
}

impl Session {
    /// Takes an idle pooled connection logged in with exactly these credentials, or logs in
    /// anew (within a pool place, waiting for one if the key is at its bound).
    async fn open(
        config: &Config,
        pool: &Arc<Pool>,
        conn_string: &ConnectionString,
    ) -> Result<Session, EndpointError> {
        let application_name = conn_string.param("application_name");
        let (slot, pooled) = if pool.config().enabled() {
            let key = PoolKey {
                user: conn_string.user.clone(),
                password: conn_string.password.clone(),
                database: conn_string.database.clone(),
                application_name: application_name.map(str::to_owned),
            };
            let lease = pool
                .acquire(key, config.connect_timeout)
                .await
                .map_err(|e| EndpointError::Unavailable(e.to_string()))?;
            (Some(lease.slot), lease.conn)
        } else {
            (None, None)
        };
        let conn = match pooled {
            Some(conn) => conn,
            None => {
                let addr = resolve(&config.upstream).await?;
                let startup = Startup {
                    user: &conn_string.user,
                    password: &conn_string.password,
                    database: &conn_string.database,
                    application_name,
                };
                // On failure `slot` is dropped here, freeing the place.
                Connection::connect(addr, &startup, config.connect_timeout)
                    .await
                    .map_err(|e| EndpointError::from_pg(e, true))?
            }
        };
        Ok(Session {
            conn: Some(conn),
            slot,
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

    /// Ends the request's use of the connection: back into the pool if it resets cleanly,
    /// closed otherwise (and always closed with pooling off).
    async fn finish(mut self) {
        let Some(mut conn) = self.conn.take() else {
            // Broken or abandoned: dropping `self` frees the pool place.
            return;
        };
        match self.slot.take() {
            None => conn.close().await,
            Some(slot) => match conn.reset().await {
                Ok(()) => slot.put_back(conn),
                Err(_) => {
                    // Closed before the place is freed, so the bounds hold at every moment.
                    conn.close().await;
                    drop(slot);
                }
            },
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

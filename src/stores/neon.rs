//! Neon, over its SQL-over-HTTP protocol (`strata_core::neon`).
//!
//! The same client talks to Neon in production and to the local
//! Neon-compatible endpoint in development: only the URL differs.

use super::StoreError;
use crate::settings;
use strata_core::config::NeonConfig;
use strata_core::neon::{headers, BatchResponse, ErrorBody, QueryResponse};
use strata_core::sql::errors::{self, Mapped};
use strata_core::sql::pg;
use strata_core::sql::request::{Isolation, Statement};
use strata_core::sql::result::{RowMode, SqlResult};
use strata_core::{ApiError, ErrorCode};
use worker::Env;

/// A Neon SQL-over-HTTP client for one request.
pub struct NeonClient {
    config: NeonConfig,
    timeout_ms: u64,
    max_result_bytes: u64,
}

/// What Neon answered to a statement.
pub enum NeonReply {
    /// HTTP 200: the result object.
    Ok(Vec<u8>),
    /// HTTP 400: a database or protocol error the client caused (17-key body).
    Rejected(Vec<u8>),
    /// HTTP 413 / 507: the request or the result is over Neon's size limit.
    TooLarge(u16),
    /// The answer is over `MAX_RESULT_BYTES`; it was not read further.
    OverLimit,
}

impl NeonClient {
    /// Builds the client from `DATABASE_URL`, `NEON_SQL_URL`, `STORE_TIMEOUT_MS`;
    /// for a client that only reads, from `DATABASE_URL_READ` when it is set.
    pub fn from_env(env: &Env, read_only: bool) -> Result<NeonClient, StoreError> {
        let config = if read_only {
            settings::neon_read(env)
        } else {
            settings::neon(env)
        }
        .map_err(StoreError::Config)?;
        let timeout_ms = settings::store_timeout_ms(env).map_err(StoreError::Config)?;
        let max_result_bytes = settings::max_result_bytes(env).map_err(StoreError::Config)?;
        Ok(NeonClient {
            config,
            timeout_ms,
            max_result_bytes,
        })
    }

    /// Sends one request body (a single query or a batch) with the given
    /// extra protocol headers.
    pub async fn send(
        &self,
        body: &str,
        extra_headers: &[(&str, &str)],
    ) -> Result<NeonReply, StoreError> {
        let mut headers = serde_json::Map::new();
        headers.insert("content-type".into(), "application/json".into());
        headers.insert(
            headers::CONNECTION_STRING.into(),
            self.config.connection_string().into(),
        );
        for (name, value) in extra_headers {
            headers.insert((*name).into(), (*value).into());
        }
        let request = super::Subrequest {
            method: "POST",
            url: self.config.sql_url(),
            headers: &headers,
            body: Some(body),
            follow_redirects: false,
        };
        let invalid = || {
            StoreError::Config(ApiError::config(
                self.config.setting(),
                "does not make a valid request to the SQL-over-HTTP endpoint (URL or header value)",
            ))
        };
        let limit = self.max_result_bytes;
        let answer =
            super::fetch_capped_within("neon", self.timeout_ms, limit, request, invalid).await?;
        if answer.status == 413 || answer.status == 507 {
            return Ok(NeonReply::TooLarge(answer.status));
        }
        let Some(bytes) = answer.body else {
            return Ok(NeonReply::OverLimit);
        };
        // Read once, straight into the reply's own type, by the caller.
        match answer.status {
            200 => Ok(NeonReply::Ok(bytes)),
            400 => Ok(NeonReply::Rejected(bytes)),
            status => Err(StoreError::unavailable("neon", format!("HTTP {status}"))),
        }
    }

    /// Runs `select 1` for real.
    pub async fn ping(&self) -> Result<(), StoreError> {
        match self
            .send(r#"{"query": "select 1 as ok", "params": []}"#, &[])
            .await?
        {
            NeonReply::Ok(bytes) => {
                let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
                if v["rows"][0]["ok"] == serde_json::json!(1) {
                    Ok(())
                } else {
                    Err(StoreError::unavailable("neon", "select 1 returned no row"))
                }
            }
            NeonReply::Rejected(bytes) => {
                let e: ErrorBody = serde_json::from_slice(&bytes).unwrap_or_default();
                Err(StoreError::unavailable(
                    "neon",
                    format!("select 1 refused with SQLSTATE {}", e.code),
                ))
            }
            NeonReply::TooLarge(status) => {
                Err(StoreError::unavailable("neon", format!("HTTP {status}")))
            }
            NeonReply::OverLimit => Err(StoreError::unavailable(
                "neon",
                "select 1 answered over MAX_RESULT_BYTES",
            )),
        }
    }

    /// Runs statements: one alone as a single query, several (or any
    /// read-only or isolation-level request) as one Neon batch, a single
    /// transaction. Read-only is enforced by the database: the role of
    /// `DATABASE_URL_READ` and a `READ ONLY` transaction that a leading
    /// statement pins (`pg::neon_read_only_batch`, which also refuses
    /// statements that would leave or switch it).
    pub async fn run(
        &self,
        statements: &[Statement],
        read_only: bool,
        isolation: Option<Isolation>,
        mode: RowMode,
    ) -> Result<Vec<SqlResult>, ApiError> {
        let mut headers: Vec<(&str, &str)> = vec![
            (headers::RAW_TEXT_OUTPUT, "true"),
            (headers::ARRAY_MODE, "true"),
        ];
        let single = statements.len() == 1 && !read_only && isolation.is_none();
        let body = if single {
            serde_json::to_string(&pg::neon_query(&statements[0], None)?)
        } else {
            headers.extend(pg::batch_options(isolation, read_only).to_headers());
            let batch = if read_only {
                pg::neon_read_only_batch(statements)?
            } else {
                pg::neon_batch(statements)?
            };
            serde_json::to_string(&batch)
        }
        .map_err(|_| ApiError::internal())?;
        let reply = self.send(&body, &headers).await.map_err(ApiError::from)?;
        let bytes = match reply {
            NeonReply::Ok(bytes) => bytes,
            NeonReply::Rejected(bytes) => {
                let body: ErrorBody = serde_json::from_slice(&bytes).unwrap_or_default();
                let mapped = errors::from_neon_as(&body, self.config.setting(), read_only);
                return Err(match mapped {
                    Mapped::Client(e) => e,
                    Mapped::Server { error, cause } => error.with_cause(cause),
                });
            }
            NeonReply::TooLarge(413) => {
                return Err(ApiError::new(
                    ErrorCode::PayloadTooLarge,
                    "the statement is larger than Neon accepts",
                ))
            }
            NeonReply::TooLarge(_) => {
                return Err(ApiError::new(
                    ErrorCode::InvalidRequest,
                    "the result is larger than Neon returns; select fewer rows or columns",
                ))
            }
            NeonReply::OverLimit => return Err(ApiError::result_too_large(self.max_result_bytes)),
        };
        let unreadable = || ApiError::from(StoreError::unavailable("neon", "unreadable result"));
        let responses: Vec<QueryResponse> = if single {
            vec![serde_json::from_slice(&bytes).map_err(|_| unreadable())?]
        } else {
            let results = serde_json::from_slice::<BatchResponse>(&bytes)
                .map_err(|_| unreadable())?
                .results;
            if read_only {
                pg::drop_snapshot(results).ok_or_else(unreadable)?
            } else {
                results
            }
        };
        Ok(responses.into_iter().map(|r| pg::result(r, mode)).collect())
    }
}

//! Store adapters: the only code that touches D1, R2 and Neon.
//!
//! Each adapter returns [`StoreError`] (`strata_core::store`) for failures of
//! the store itself; it becomes the client-facing `ApiError` in one place
//! (core's `From<StoreError>`), which keeps the internal cause for the log
//! line the pipeline writes and never for the client.

pub mod d1;
pub mod neon;
pub mod placement;
pub mod r2;
pub mod schema;

use futures_util::future::{select, Either};
use js_sys::Promise;
use std::cell::OnceCell;
use std::future::Future;
use std::rc::Rc;
use std::time::Duration;
use strata_core::rest::schema::Schema;
use strata_core::sql::request::Statement;
use strata_core::sql::result::SqlResult;
use strata_core::sql::session::{self, Bookmark};
use strata_core::sql::Store;
use strata_core::store::{RunOptions, SqlStores};
use strata_core::ApiError;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use worker::Delay;

pub use strata_core::store::StoreError;

/// Runs `fut`, giving up with [`StoreError::Timeout`] after `ms` milliseconds.
pub async fn with_timeout<T>(
    store: &'static str,
    ms: u64,
    fut: impl Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    let fut = std::pin::pin!(fut);
    let delay = Delay::from(Duration::from_millis(ms));
    match select(fut, delay).await {
        Either::Left((result, _)) => result,
        Either::Right(_) => Err(StoreError::Timeout { store }),
    }
}

/// A subrequest, as [`fetch_capped_within`] sends it.
pub struct Subrequest<'a> {
    /// `GET`, `POST`, ...
    pub method: &'a str,
    pub url: &'a str,
    /// The request headers as one JSON object of names to values.
    pub headers: &'a serde_json::Map<String, serde_json::Value>,
    pub body: Option<&'a str>,
    /// Follow redirects. Off for a request carrying a secret in a header
    /// (Neon's connection string): the fetch standard keeps custom headers
    /// on a redirect to another origin, so a redirect is the answer instead.
    pub follow_redirects: bool,
}

#[wasm_bindgen(module = "/src/stores/subrequest.js")]
extern "C" {
    /// `fetch` of a request made, timed and read in one call
    /// (`src/stores/subrequest.js`): resolves to `{status, body}`, `body`
    /// the answer's bytes or `null` past the limit; rejects with the
    /// module's `TIMED_OUT` or `INVALID`, or the runtime's error.
    fn fetch_capped(
        method: &str,
        url: &str,
        headers: &str,
        body: Option<String>,
        follow: bool,
        ms: f64,
        limit: f64,
    ) -> Promise;

    #[wasm_bindgen(thread_local_v2, js_name = TIMED_OUT)]
    static TIMED_OUT: JsValue;

    #[wasm_bindgen(thread_local_v2, js_name = INVALID)]
    static INVALID: JsValue;
}

/// A subrequest's answer: its status and its body, `None` when the body was
/// longer than the limit (not read past it).
pub struct Answer {
    pub status: u16,
    pub body: Option<Vec<u8>>,
}

/// Sends `request`, reading its answer up to `limit` bytes, all within `ms`
/// milliseconds; on timeout the subrequest is aborted (dropping the future
/// would not cancel it, and Neon cancels the query when the connection
/// drops). A request the runtime cannot make (an invalid URL or header
/// value: the configuration's fault) is `invalid`; a failure to send or read
/// is [`StoreError::Unavailable`].
pub async fn fetch_capped_within(
    store: &'static str,
    ms: u64,
    limit: u64,
    request: Subrequest<'_>,
    invalid: impl FnOnce() -> StoreError,
) -> Result<Answer, StoreError> {
    // A map of strings always serializes; were it ever not to, JSON.parse of
    // "" throws and the request is `invalid`.
    let headers = serde_json::to_string(request.headers).unwrap_or_default();
    let sent = fetch_capped(
        request.method,
        request.url,
        &headers,
        request.body.map(str::to_string),
        request.follow_redirects,
        ms as f64,
        limit as f64,
    );
    let answer = match wasm_bindgen_futures::JsFuture::from(sent).await {
        Ok(answer) => answer,
        Err(e) if TIMED_OUT.with(|t| *t == e) => return Err(StoreError::Timeout { store }),
        Err(e) if INVALID.with(|i| *i == e) => return Err(invalid()),
        Err(e) => return Err(StoreError::unavailable(store, js_text(&e))),
    };
    let field = |name: &str| {
        js_sys::Reflect::get(&answer, &JsValue::from_str(name)).unwrap_or(JsValue::UNDEFINED)
    };
    let status = field("status")
        .as_f64()
        .filter(|s| (100.0..=999.0).contains(s))
        .ok_or_else(|| StoreError::unavailable(store, "fetch answered no status"))?;
    let body = field("body")
        .dyn_into::<js_sys::Uint8Array>()
        .ok()
        .map(|bytes| bytes.to_vec());
    Ok(Answer {
        status: status as u16,
        body,
    })
}

/// A thrown JS value's message, for a log line's cause.
fn js_text(e: &JsValue) -> String {
    e.dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| e.as_string())
        .unwrap_or_else(|| "unknown error".into())
}

/// D1 and Postgres as core's [`SqlStores`] seam: what the SQL routes and
/// REST run statements and read schemas through.
pub struct SqlBindings<'a> {
    env: &'a worker::Env,
    /// The request's D1 session, if it runs in one; `None` sends every D1
    /// query to the primary.
    session: Option<D1Session>,
}

/// A request's D1 session (read replicas, `strata_core::sql::session`),
/// opened on its first D1 statements: their being reads or writes decides
/// where it starts when the client sent no bookmark.
struct D1Session {
    bookmark: Option<Bookmark>,
    open: OnceCell<worker::D1DatabaseSession>,
}

impl<'a> SqlBindings<'a> {
    /// The SQL stores outside any session: D1 answers from the primary.
    /// For what must never read a lagging replica (the placement a write
    /// is checked against, the schema cache shared by requests).
    pub fn new(env: &'a worker::Env) -> Self {
        SqlBindings { env, session: None }
    }

    /// The SQL stores for a request's own statements: D1 runs them in a
    /// session starting from the request's `x-d1-bookmark` (400 when it is
    /// not a bookmark).
    pub fn in_session(
        env: &'a worker::Env,
        head: &strata_core::http::RequestHead,
    ) -> Result<Self, ApiError> {
        let bookmark = Bookmark::from_header(head.header(session::HEADER))?;
        Ok(SqlBindings {
            env,
            session: Some(D1Session {
                bookmark,
                open: OnceCell::new(),
            }),
        })
    }

    /// The session's latest bookmark, once it ran something (or started
    /// from a bookmark).
    pub fn d1_bookmark(&self) -> Option<String> {
        let open = self.session.as_ref()?.open.get()?;
        open.get_bookmark().ok().flatten()
    }

    /// Where D1 statements run: the open session (opened now if need be),
    /// else the primary.
    fn d1_conn(&self, read_only: bool) -> Result<d1::Conn<'_>, StoreError> {
        let Some(s) = &self.session else {
            return Ok(d1::Conn::Primary(d1::database(self.env)?));
        };
        if s.open.get().is_none() {
            let start = session::start(s.bookmark.as_ref(), read_only);
            let _ = s.open.set(d1::session(self.env, start)?);
        }
        s.open
            .get()
            .map(d1::Conn::Session)
            .ok_or_else(|| StoreError::unavailable("d1", "no session"))
    }
}

impl SqlStores for SqlBindings<'_> {
    async fn run(
        &self,
        store: Store,
        statements: &[Statement],
        options: RunOptions,
    ) -> Result<Vec<SqlResult>, StoreError> {
        match store {
            Store::D1 => {
                run_d1(
                    self.env,
                    &self.d1_conn(options.read_only)?,
                    statements,
                    options,
                )
                .await
            }
            Store::Pg => run_sql(self.env, store, statements, options).await,
        }
    }

    async fn schema(&self, store: Store, table: &str) -> Result<Rc<Schema>, StoreError> {
        schema::get_with(self.env, store, table).await
    }

    fn forget_schema(&self, store: Store) {
        schema::forget(store)
    }
}

/// Runs statements on a SQL store (atomically when there are several), with
/// the configured timeout; D1 outside any session. On Postgres `read_only`
/// is enforced by the database (through `DATABASE_URL_READ` when set, see
/// [`neon::NeonClient::run`]); on D1 the caller must have checked the statements.
pub async fn run_sql(
    env: &worker::Env,
    store: Store,
    statements: &[Statement],
    options: RunOptions,
) -> Result<Vec<SqlResult>, StoreError> {
    match store {
        // A missing binding is the store's configuration, not an answer.
        Store::D1 => {
            run_d1(
                env,
                &d1::Conn::Primary(d1::database(env)?),
                statements,
                options,
            )
            .await
        }
        Store::Pg => {
            // The Neon client applies the same timeout and aborts the subrequest.
            let client = neon::NeonClient::from_env(env, options.read_only)?;
            client
                .run(
                    statements,
                    options.read_only,
                    options.isolation,
                    options.mode,
                )
                .await
                .map_err(StoreError::Refused)
        }
    }
}

/// Runs statements on D1 through `db`, within `STORE_TIMEOUT_MS` and
/// `MAX_RESULT_BYTES`.
async fn run_d1(
    env: &worker::Env,
    db: &d1::Conn<'_>,
    statements: &[Statement],
    options: RunOptions,
) -> Result<Vec<SqlResult>, StoreError> {
    let timeout = crate::settings::store_timeout_ms(env).map_err(StoreError::Config)?;
    let limit = crate::settings::max_result_bytes(env).map_err(StoreError::Config)?;
    d1::run(db, statements, options.mode, limit, timeout).await
}

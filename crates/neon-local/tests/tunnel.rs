//! The WebSocket tunnel over a real WebSocket client and a real (embedded) PostgreSQL, speaking
//! the Postgres wire protocol by hand, so the bytes on the WebSocket are exactly the ones chosen
//! here: split anywhere, coalesced, paused, dropped mid-statement.
//!
//! One endpoint with its cluster serves every test; the tests about limits, the idle timeout
//! and shutdown start a cheap extra endpoint over the same cluster (`upstream`). Tests run in
//! parallel, so each uses its own table names. "Another session" is a direct TCP connection.

// Tests fail by panicking, and run on the host, where there is a real clock
// (the bans are for shipped and wasm32 code, see clippy.toml).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use fallible_iterator::FallibleIterator;
use futures_util::{SinkExt, StreamExt};
use libtest_mimic::{Arguments, Failed, Trial};
use neon_local::pg::{Connection, ResponseBudget, Startup};
use neon_local::{NeonLocal, Options, WsConfig};
use postgres_protocol::message::backend::Message as PgMessage;
use postgres_protocol::message::frontend;
use strata_core::neon::ConnectionString;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type TestResult = Result<(), Failed>;

struct Ctx {
    /// `127.0.0.1:PORT/v2` of the main endpoint.
    ws_proxy: String,
    db_url: String,
    db: ConnectionString,
    pg_addr: SocketAddr,
}

fn fail(message: impl std::fmt::Display) -> Failed {
    message.to_string().into()
}

fn check(condition: bool, message: impl Into<String>) -> TestResult {
    if condition {
        Ok(())
    } else {
        Err(message.into().into())
    }
}

fn eq<T: PartialEq + std::fmt::Debug>(actual: T, expected: T, what: &str) -> TestResult {
    check(
        actual == expected,
        format!("{what}: expected {expected:?}, got {actual:?}"),
    )
}

/// Runs an async test body on a runtime of its own.
fn block_on<F: std::future::Future<Output = TestResult>>(body: F) -> TestResult {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(fail)?
        .block_on(body)
}

/// A Postgres error: SQLSTATE and message.
#[derive(Debug)]
struct PgError {
    code: String,
    message: String,
}

/// What a simple query returned: rows as text, or the server's error.
type QueryOutcome = Result<Vec<Vec<Option<String>>>, PgError>;

/// A Postgres client over a WebSocket, written against the protocol, not a driver.
struct WsPg {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    inbox: BytesMut,
    /// From `BackendKeyData`.
    key: Option<(i32, i32)>,
}

impl WsPg {
    /// Opens `ws://{proxy}{query}` (e.g. `?address=...`).
    async fn open(proxy: &str, query: &str) -> Result<WsPg, Failed> {
        let (ws, response) = tokio_tungstenite::connect_async(format!("ws://{proxy}{query}"))
            .await
            .map_err(|e| fail(format!("WebSocket to {proxy}: {e}")))?;
        eq(response.status().as_u16(), 101, "upgrade status")?;
        Ok(WsPg {
            ws,
            inbox: BytesMut::new(),
            key: None,
        })
    }

    async fn send(&mut self, bytes: &[u8]) -> TestResult {
        self.ws
            .send(Message::Binary(bytes.to_vec().into()))
            .await
            .map_err(|e| fail(format!("send: {e}")))
    }

    /// The next backend message; `None` when the WebSocket closed.
    async fn recv(&mut self) -> Result<Option<PgMessage>, Failed> {
        loop {
            if let Some(message) = PgMessage::parse(&mut self.inbox).map_err(fail)? {
                if let PgMessage::BackendKeyData(body) = &message {
                    self.key = Some((body.process_id(), body.secret_key()));
                }
                return Ok(Some(message));
            }
            match tokio::time::timeout(Duration::from_secs(20), self.ws.next()).await {
                Err(_) => return Err(fail("no message from the endpoint within 20 s")),
                Ok(Some(Ok(Message::Binary(data)))) => self.inbox.extend_from_slice(&data),
                Ok(Some(Ok(Message::Close(_)))) | Ok(None) | Ok(Some(Err(_))) => return Ok(None),
                Ok(Some(Ok(_))) => {}
            }
        }
    }

    /// Messages until `ReadyForQuery`: rows as text, or the first error.
    async fn until_ready(&mut self) -> Result<QueryOutcome, Failed> {
        let mut rows = Vec::new();
        let mut error = None;
        loop {
            match self.recv().await? {
                None => return Err(fail("the session closed before ReadyForQuery")),
                Some(PgMessage::ReadyForQuery(_)) => {
                    return Ok(match error {
                        Some(e) => Err(e),
                        None => Ok(rows),
                    })
                }
                Some(PgMessage::DataRow(body)) => {
                    let buf = body.buffer();
                    let row = body
                        .ranges()
                        .map(|r| Ok(r.map(|r| String::from_utf8_lossy(&buf[r]).into_owned())))
                        .collect()
                        .map_err(fail)?;
                    rows.push(row);
                }
                Some(PgMessage::ErrorResponse(body)) => error = Some(error_of(body.fields())?),
                Some(_) => {}
            }
        }
    }

    /// Sends a simple query and reads its outcome.
    async fn query(&mut self, sql: &str) -> Result<QueryOutcome, Failed> {
        self.send(&query_bytes(sql)?).await?;
        self.until_ready().await
    }

    /// The first error before the session closes (a refused start-up).
    async fn fatal(&mut self) -> Result<PgError, Failed> {
        loop {
            match self.recv().await? {
                Some(PgMessage::ErrorResponse(body)) => return error_of(body.fields()),
                Some(_) => {}
                None => return Err(fail("closed without an error")),
            }
        }
    }

    /// Whether the endpoint closes the WebSocket within `within`; the close code if it sent one.
    async fn closed(&mut self, within: Duration) -> Result<Option<CloseCode>, Failed> {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.ws.next()).await {
                Err(_) => return Err(fail(format!("not closed within {within:?}"))),
                Ok(Some(Ok(Message::Close(frame)))) => return Ok(frame.map(|f| f.code)),
                Ok(None) | Ok(Some(Err(_))) => return Ok(None),
                Ok(Some(Ok(_))) => {}
            }
        }
    }
}

fn error_of(
    mut fields: postgres_protocol::message::backend::ErrorFields<'_>,
) -> Result<PgError, Failed> {
    let mut error = PgError {
        code: String::new(),
        message: String::new(),
    };
    while let Some(field) = fields.next().map_err(fail)? {
        let value = String::from_utf8_lossy(field.value_bytes()).into_owned();
        match field.type_() {
            b'C' => error.code = value,
            b'M' => error.message = value,
            _ => {}
        }
    }
    Ok(error)
}

fn startup_bytes(db: &ConnectionString) -> Result<BytesMut, Failed> {
    let mut buf = BytesMut::new();
    frontend::startup_message(
        [
            ("user", db.user.as_str()),
            ("database", db.database.as_str()),
            ("application_name", "tunnel-test"),
        ],
        &mut buf,
    )
    .map_err(fail)?;
    Ok(buf)
}

fn password_bytes(password: &str) -> Result<BytesMut, Failed> {
    let mut buf = BytesMut::new();
    frontend::password_message(password.as_bytes(), &mut buf).map_err(fail)?;
    Ok(buf)
}

fn query_bytes(sql: &str) -> Result<BytesMut, Failed> {
    let mut buf = BytesMut::new();
    frontend::query(sql, &mut buf).map_err(fail)?;
    Ok(buf)
}

impl Ctx {
    /// A logged-in WebSocket session (pipelined: start-up, password, `select 1` in one message).
    async fn session(&self) -> Result<WsPg, Failed> {
        self.session_via(&self.ws_proxy).await
    }

    async fn session_via(&self, proxy: &str) -> Result<WsPg, Failed> {
        let mut pg = WsPg::open(proxy, "").await?;
        let mut hello = startup_bytes(&self.db)?;
        hello.extend_from_slice(&password_bytes(&self.db.password)?);
        hello.extend_from_slice(&query_bytes("select 1")?);
        pg.send(&hello).await?;
        pg.until_ready()
            .await?
            .map_err(|e| fail(format!("login: {e:?}")))?;
        let one = pg
            .until_ready()
            .await?
            .map_err(|e| fail(format!("{e:?}")))?;
        eq(one, vec![vec![Some("1".to_owned())]], "select 1")?;
        Ok(pg)
    }

    /// Another session: a direct TCP connection.
    async fn direct(&self) -> Result<Connection, Failed> {
        let startup = Startup {
            user: &self.db.user,
            password: &self.db.password,
            database: &self.db.database,
            application_name: Some("tunnel-test-observer"),
        };
        Connection::connect(self.pg_addr, &startup, Duration::from_secs(10))
            .await
            .map_err(fail)
    }

    /// `rows` of one query on a direct connection.
    async fn observe(
        &self,
        sql: &str,
        params: &[Option<String>],
    ) -> Result<Vec<Vec<Option<String>>>, Failed> {
        let mut conn = self.direct().await?;
        let result = conn
            .query(sql, params, &mut ResponseBudget::new(1 << 20))
            .await
            .map_err(fail)?;
        conn.close().await;
        Ok(result.rows)
    }

    /// pg_stat_activity's `state` and `wait_event` of a backend, `None` once it is gone.
    async fn backend(&self, pid: i32) -> Result<Option<(Option<String>, Option<String>)>, Failed> {
        let rows = self
            .observe(
                "select state, wait_event from pg_stat_activity where pid = $1",
                &[Some(pid.to_string())],
            )
            .await?;
        Ok(rows.into_iter().next().map(|mut row| {
            let wait_event = row.pop().flatten();
            let state = row.pop().flatten();
            (state, wait_event)
        }))
    }

    /// Waits until the backend `pid` is gone; returns how long that took.
    async fn backend_gone(&self, pid: i32, within: Duration) -> Result<Duration, Failed> {
        let started = Instant::now();
        while self.backend(pid).await?.is_some() {
            if started.elapsed() > within {
                return Err(fail(format!("backend {pid} still there after {within:?}")));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(started.elapsed())
    }

    /// Waits until the backend `pid` shows `predicate(state, wait_event)`.
    async fn backend_until(
        &self,
        pid: i32,
        what: &str,
        predicate: impl Fn(Option<&str>, Option<&str>) -> bool,
    ) -> TestResult {
        let started = Instant::now();
        loop {
            if let Some((state, wait)) = self.backend(pid).await? {
                if predicate(state.as_deref(), wait.as_deref()) {
                    return Ok(());
                }
            }
            if started.elapsed() > Duration::from_secs(20) {
                return Err(fail(format!("backend {pid}: timed out waiting for {what}")));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// An extra endpoint over the same cluster with other WebSocket limits.
    fn extra(&self, ws: WsConfig) -> Result<NeonLocal, Failed> {
        NeonLocal::start(Options {
            upstream: Some(self.db_url.clone()),
            quiet: true,
            ws,
            ..Options::default()
        })
        .map_err(fail)
    }
}

fn pid_of(pg: &WsPg) -> Result<i32, Failed> {
    pg.key
        .map(|(pid, _)| pid)
        .ok_or_else(|| fail("no BackendKeyData"))
}

fn main() {
    let args = Arguments::from_args();
    let endpoint = match NeonLocal::start(Options {
        quiet: true,
        ..Options::default()
    }) {
        Ok(endpoint) => endpoint,
        Err(e) => {
            eprintln!("cannot start the endpoint: {e}");
            std::process::exit(1);
        }
    };
    let db_url = endpoint.database_url().unwrap_or_default().to_owned();
    let db = match ConnectionString::parse(&db_url) {
        Ok(db) => db,
        Err(e) => {
            eprintln!("bad database URL: {e}");
            std::process::exit(1);
        }
    };
    let ctx = Arc::new(Ctx {
        ws_proxy: endpoint.ws_proxy(),
        db_url,
        db,
        pg_addr: SocketAddr::from(([127, 0, 0, 1], endpoint.pg_port())),
    });

    type Test = fn(&Ctx) -> TestResult;
    let tests: Vec<(&str, Test)> = vec![
        ("startup_split_into_one_byte_messages", one_byte_messages),
        ("pipelined_and_coalesced_queries", pipelined_and_coalesced),
        (
            "server_output_needs_not_match_messages",
            big_messages_cross_frames,
        ),
        ("ssl_request_declined", ssl_request_declined),
        ("wrong_password_is_28p01_from_postgres", wrong_password),
        ("address_is_checked_never_used", address_checked),
        ("text_messages_are_refused", text_messages_refused),
        ("terminate_closes_the_websocket", terminate_closes),
        (
            "server_side_termination_closes_the_websocket",
            server_termination,
        ),
        (
            "dropped_client_mid_statement_frees_its_locks",
            dropped_client,
        ),
        ("cancel_request_over_a_websocket", cancel_request),
        (
            "paused_client_stops_the_server_not_fills_memory",
            backpressure,
        ),
        ("sessions_are_bounded_and_cancels_still_pass", bounded),
        ("idle_sessions_are_closed", idle_timeout),
        ("shutdown_closes_sessions_and_backends", shutdown),
        ("http_refusals", http_refusals),
    ];
    let trials = tests
        .into_iter()
        .map(|(name, test)| {
            let ctx = Arc::clone(&ctx);
            Trial::test(name, move || test(&ctx))
        })
        .collect();
    let conclusion = libtest_mimic::run(&args, trials);
    drop(ctx);
    endpoint.shutdown();
    conclusion.exit();
}

/// Start-up, password and query arrive one byte per WebSocket message: nothing assumes a
/// message boundary.
fn one_byte_messages(ctx: &Ctx) -> TestResult {
    block_on(async {
        let mut pg = WsPg::open(&ctx.ws_proxy, "").await?;
        let mut all = startup_bytes(&ctx.db)?;
        all.extend_from_slice(&password_bytes(&ctx.db.password)?);
        all.extend_from_slice(&query_bytes("select 'split' as s")?);
        for byte in all.iter() {
            pg.send(&[*byte]).await?;
        }
        // The endpoint's own AuthenticationCleartextPassword, then the server's answers.
        match pg.recv().await? {
            Some(PgMessage::AuthenticationCleartextPassword) => {}
            other => {
                return Err(fail(format!(
                    "expected a password request, got {}",
                    name(&other)
                )))
            }
        }
        match pg.recv().await? {
            Some(PgMessage::AuthenticationOk) => {}
            other => {
                return Err(fail(format!(
                    "expected AuthenticationOk, got {}",
                    name(&other)
                )))
            }
        }
        pg.until_ready()
            .await?
            .map_err(|e| fail(format!("{e:?}")))?;
        check(pg.key.is_some(), "BackendKeyData reached the client")?;
        let rows = pg
            .until_ready()
            .await?
            .map_err(|e| fail(format!("{e:?}")))?;
        eq(rows, vec![vec![Some("split".to_owned())]], "rows")
    })
}

fn name(message: &Option<PgMessage>) -> &'static str {
    match message {
        None => "the end of the session",
        Some(PgMessage::AuthenticationOk) => "AuthenticationOk",
        Some(PgMessage::ErrorResponse(_)) => "ErrorResponse",
        Some(_) => "another message",
    }
}

/// Several queries in one WebSocket message, a query split across two; an interactive
/// transaction over one session.
fn pipelined_and_coalesced(ctx: &Ctx) -> TestResult {
    block_on(async {
        let mut pg = ctx.session().await?;
        let mut batch = query_bytes("create table tunnel_tx (id int primary key)")?;
        batch.extend_from_slice(&query_bytes("begin")?);
        batch.extend_from_slice(&query_bytes("insert into tunnel_tx values (1), (2)")?);
        let tail = query_bytes("select count(*) from tunnel_tx")?;
        let (first, second) = tail.split_at(7);
        batch.extend_from_slice(first);
        pg.send(&batch).await?;
        pg.send(second).await?;
        for _ in 0..3 {
            pg.until_ready()
                .await?
                .map_err(|e| fail(format!("{e:?}")))?;
        }
        let count = pg
            .until_ready()
            .await?
            .map_err(|e| fail(format!("{e:?}")))?;
        eq(
            count,
            vec![vec![Some("2".to_owned())]],
            "count inside the transaction",
        )?;
        let outside = ctx.observe("select count(*) from tunnel_tx", &[]).await?;
        eq(
            outside,
            vec![vec![Some("0".to_owned())]],
            "count from another session",
        )?;
        pg.query("rollback")
            .await?
            .map_err(|e| fail(format!("{e:?}")))?;
        let after = pg.query("select count(*) from tunnel_tx").await?;
        eq(
            after.map_err(|e| fail(format!("{e:?}")))?,
            vec![vec![Some("0".to_owned())]],
            "after rollback",
        )
    })
}

/// A 1 MiB value each way: client messages and server reads are cut wherever the transport
/// cuts them.
fn big_messages_cross_frames(ctx: &Ctx) -> TestResult {
    block_on(async {
        let mut pg = ctx.session().await?;
        let big = "é".repeat(512 * 1024);
        let rows = pg
            .query(&format!("select length('{big}'), repeat('xyz', 400000)"))
            .await?
            .map_err(|e| fail(format!("{e:?}")))?;
        eq(rows.len(), 1, "rows")?;
        eq(
            rows[0][0].as_deref(),
            Some("524288"),
            "length of what we sent",
        )?;
        eq(
            rows[0][1].as_ref().map(String::len),
            Some(1_200_000),
            "length of what came back",
        )
    })
}

fn ssl_request_declined(ctx: &Ctx) -> TestResult {
    block_on(async {
        let mut pg = WsPg::open(&ctx.ws_proxy, "").await?;
        let mut ssl = BytesMut::new();
        frontend::ssl_request(&mut ssl);
        pg.send(&ssl).await?;
        match pg.ws.next().await {
            Some(Ok(Message::Binary(answer))) => eq(&answer[..], b"N", "SSLRequest answer")?,
            other => return Err(fail(format!("no answer to SSLRequest: {other:?}"))),
        }
        let mut hello = startup_bytes(&ctx.db)?;
        hello.extend_from_slice(&password_bytes(&ctx.db.password)?);
        pg.send(&hello).await?;
        pg.until_ready()
            .await?
            .map_err(|e| fail(format!("{e:?}")))?;
        Ok(())
    })
}

/// The password is checked by Postgres (SCRAM between the endpoint and the server): a wrong
/// one gets Postgres's own 28P01, and the session ends.
fn wrong_password(ctx: &Ctx) -> TestResult {
    block_on(async {
        let mut pg = WsPg::open(&ctx.ws_proxy, "").await?;
        let mut hello = startup_bytes(&ctx.db)?;
        hello.extend_from_slice(&password_bytes("definitely-wrong")?);
        hello.extend_from_slice(&query_bytes("select 1")?);
        pg.send(&hello).await?;
        let error = pg.fatal().await?;
        eq(error.code.as_str(), "28P01", "SQLSTATE")?;
        check(
            error.message.contains("password authentication failed"),
            error.message.clone(),
        )?;
        pg.closed(Duration::from_secs(5)).await.map(|_| ())
    })
}

/// `?address=` must name the endpoint's own database; another one gets 08004 and is never
/// contacted (a closed local port would otherwise answer "connection refused").
fn address_checked(ctx: &Ctx) -> TestResult {
    block_on(async {
        let port = ctx.pg_addr.port();
        for (address, allowed) in [
            (format!("127.0.0.1:{port}"), true),
            (format!("localhost:{port}"), true),
            ("127.0.0.1:1".to_owned(), false),
            (format!("10.1.2.3:{port}"), false),
            (
                "ep-example-123.us-east-2.aws.neon.tech:5432".to_owned(),
                false,
            ),
        ] {
            let mut pg = WsPg::open(&ctx.ws_proxy, &format!("?address={address}")).await?;
            let mut hello = startup_bytes(&ctx.db)?;
            hello.extend_from_slice(&password_bytes(&ctx.db.password)?);
            pg.send(&hello).await?;
            if allowed {
                pg.until_ready()
                    .await?
                    .map_err(|e| fail(format!("{address}: {e:?}")))?;
            } else {
                let error = pg.fatal().await?;
                eq(error.code.as_str(), "08004", &address)?;
                check(error.message.contains(&port.to_string()), error.message)?;
            }
        }
        Ok(())
    })
}

fn text_messages_refused(ctx: &Ctx) -> TestResult {
    block_on(async {
        let mut pg = ctx.session().await?;
        pg.ws
            .send(Message::Text("select 1".into()))
            .await
            .map_err(fail)?;
        eq(
            pg.closed(Duration::from_secs(5)).await?,
            Some(CloseCode::Unsupported),
            "close code",
        )
    })
}

fn terminate_closes(ctx: &Ctx) -> TestResult {
    block_on(async {
        let mut pg = ctx.session().await?;
        let pid = pid_of(&pg)?;
        let mut bye = BytesMut::new();
        frontend::terminate(&mut bye);
        pg.send(&bye).await?;
        eq(
            pg.closed(Duration::from_secs(5)).await?,
            Some(CloseCode::Normal),
            "close code",
        )?;
        ctx.backend_gone(pid, Duration::from_secs(5))
            .await
            .map(|_| ())
    })
}

/// `pg_terminate_backend` from another session: the client gets the server's FATAL, then the
/// WebSocket closes.
fn server_termination(ctx: &Ctx) -> TestResult {
    block_on(async {
        let mut pg = ctx.session().await?;
        let pid = pid_of(&pg)?;
        ctx.observe("select pg_terminate_backend($1)", &[Some(pid.to_string())])
            .await?;
        let error = pg.fatal().await?;
        eq(error.code.as_str(), "57P01", "SQLSTATE")?;
        eq(
            pg.closed(Duration::from_secs(5)).await?,
            Some(CloseCode::Normal),
            "close code",
        )
    })
}

/// A client that vanishes (no close frame, no Terminate) while its statement runs inside a
/// transaction holding a lock: the backend is cancelled and ends, the lock is free at once.
fn dropped_client(ctx: &Ctx) -> TestResult {
    block_on(async {
        let mut pg = ctx.session().await?;
        let pid = pid_of(&pg)?;
        pg.query(
            "create table tunnel_locks (id int primary key); insert into tunnel_locks values (1)",
        )
        .await?
        .map_err(|e| fail(format!("{e:?}")))?;
        pg.query("begin; lock table tunnel_locks in access exclusive mode")
            .await?
            .map_err(|e| fail(format!("{e:?}")))?;
        pg.send(&query_bytes("select pg_sleep(600)")?).await?;
        ctx.backend_until(pid, "the statement to run", |state, _| {
            state == Some("active")
        })
        .await?;
        // Dropping the stream closes the TCP connection without a WebSocket close frame.
        drop(pg);
        let took = ctx.backend_gone(pid, Duration::from_secs(5)).await?;
        check(took < Duration::from_secs(3), format!("took {took:?}"))?;
        let rows = ctx
            .observe("select count(*) from tunnel_locks", &[])
            .await?;
        eq(
            rows,
            vec![vec![Some("1".to_owned())]],
            "the table is readable again",
        )
    })
}

/// A `CancelRequest` as the first packet of a new WebSocket reaches the server.
fn cancel_request(ctx: &Ctx) -> TestResult {
    block_on(async {
        let mut pg = ctx.session().await?;
        let (pid, secret) = pg.key.ok_or_else(|| fail("no BackendKeyData"))?;
        pg.send(&query_bytes("select pg_sleep(60)")?).await?;
        ctx.backend_until(pid, "the statement to run", |state, _| {
            state == Some("active")
        })
        .await?;
        let mut canceller = WsPg::open(&ctx.ws_proxy, "").await?;
        let mut cancel = BytesMut::new();
        frontend::cancel_request(pid, secret, &mut cancel);
        canceller.send(&cancel).await?;
        match pg.until_ready().await? {
            Err(error) => eq(error.code.as_str(), "57014", "SQLSTATE")?,
            Ok(_) => return Err(fail("the statement was not cancelled")),
        }
        canceller.closed(Duration::from_secs(5)).await?;
        // The session goes on.
        let rows = pg
            .query("select 2")
            .await?
            .map_err(|e| fail(format!("{e:?}")))?;
        eq(rows, vec![vec![Some("2".to_owned())]], "after the cancel")
    })
}

/// A client that stops reading a large result: the backend waits in `ClientWrite` and the
/// endpoint's memory stays flat; once reading resumes every row arrives.
fn backpressure(ctx: &Ctx) -> TestResult {
    block_on(async {
        let mut pg = ctx.session().await?;
        let pid = pid_of(&pg)?;
        let rss_before = rss_bytes()?;
        // ~100 MB: more than every socket buffer on the way holds.
        pg.send(&query_bytes(
            "select g, repeat('x', 1000) from generate_series(1, 100000) g",
        )?)
        .await?;
        ctx.backend_until(pid, "ClientWrite", |_, wait| wait == Some("ClientWrite"))
            .await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let grew = rss_bytes()?.saturating_sub(rss_before);
        check(
            grew < 16 << 20,
            format!(
                "the process grew by {} MiB while the client paused",
                grew >> 20
            ),
        )?;
        let rows = pg
            .until_ready()
            .await?
            .map_err(|e| fail(format!("{e:?}")))?;
        eq(rows.len(), 100_000, "rows")?;
        eq(rows[99_999][0].as_deref(), Some("100000"), "last row")
    })
}

/// Resident memory of this process (Linux).
fn rss_bytes() -> Result<u64, Failed> {
    let status = std::fs::read_to_string("/proc/self/status").map_err(fail)?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kib| kib * 1024)
        .ok_or_else(|| fail("no VmRSS"))
}

/// One session allowed: the second gets 53300 at once; a cancel still gets through; the place
/// is free again when the first ends.
fn bounded(ctx: &Ctx) -> TestResult {
    let extra = ctx.extra(WsConfig {
        max_sessions: 1,
        ..WsConfig::default()
    })?;
    let proxy = extra.ws_proxy();
    block_on(async {
        let mut first = ctx.session_via(&proxy).await?;
        let (pid, secret) = first.key.ok_or_else(|| fail("no BackendKeyData"))?;
        let mut second = WsPg::open(&proxy, "").await?;
        let mut hello = startup_bytes(&ctx.db)?;
        hello.extend_from_slice(&password_bytes(&ctx.db.password)?);
        second.send(&hello).await?;
        let error = second.fatal().await?;
        eq(error.code.as_str(), "53300", "SQLSTATE")?;
        check(error.message.contains("--ws-max-sessions"), error.message)?;

        first.send(&query_bytes("select pg_sleep(60)")?).await?;
        ctx.backend_until(pid, "the statement to run", |state, _| {
            state == Some("active")
        })
        .await?;
        let mut canceller = WsPg::open(&proxy, "").await?;
        let mut cancel = BytesMut::new();
        frontend::cancel_request(pid, secret, &mut cancel);
        canceller.send(&cancel).await?;
        match first.until_ready().await? {
            Err(error) => eq(error.code.as_str(), "57014", "SQLSTATE")?,
            Ok(_) => return Err(fail("the statement was not cancelled")),
        }

        let mut bye = BytesMut::new();
        frontend::terminate(&mut bye);
        first.send(&bye).await?;
        first.closed(Duration::from_secs(5)).await?;
        // The place is released when the session task ends, just after the close.
        let started = Instant::now();
        loop {
            match ctx.session_via(&proxy).await {
                Ok(_) => return Ok(()),
                Err(_) if started.elapsed() < Duration::from_secs(5) => {
                    tokio::time::sleep(Duration::from_millis(20)).await
                }
                Err(e) => return Err(e),
            }
        }
    })
}

fn idle_timeout(ctx: &Ctx) -> TestResult {
    let extra = ctx.extra(WsConfig {
        idle_timeout: Some(Duration::from_millis(700)),
        ..WsConfig::default()
    })?;
    let proxy = extra.ws_proxy();
    block_on(async {
        let mut pg = ctx.session_via(&proxy).await?;
        let pid = pid_of(&pg)?;
        // Traffic keeps it open past the timeout...
        for _ in 0..4 {
            tokio::time::sleep(Duration::from_millis(300)).await;
            pg.query("select 1")
                .await?
                .map_err(|e| fail(format!("{e:?}")))?;
        }
        // ...silence closes it, with its open transaction.
        pg.query("begin")
            .await?
            .map_err(|e| fail(format!("{e:?}")))?;
        let started = Instant::now();
        eq(
            pg.closed(Duration::from_secs(5)).await?,
            Some(CloseCode::Away),
            "close code",
        )?;
        check(
            started.elapsed() >= Duration::from_millis(600),
            format!("closed after {:?}", started.elapsed()),
        )?;
        ctx.backend_gone(pid, Duration::from_secs(5))
            .await
            .map(|_| ())
    })
}

/// Shutting the endpoint down with a session mid-statement: the client gets a close frame at
/// once (not a hang) and the backend ends.
fn shutdown(ctx: &Ctx) -> TestResult {
    let extra = ctx.extra(WsConfig::default())?;
    let proxy = extra.ws_proxy();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(fail)?;
    let (mut pg, pid) = runtime.block_on(async {
        let mut pg = ctx.session_via(&proxy).await?;
        let pid = pid_of(&pg)?;
        pg.send(&query_bytes("select pg_sleep(600)")?).await?;
        ctx.backend_until(pid, "the statement to run", |state, _| {
            state == Some("active")
        })
        .await?;
        Ok::<_, Failed>((pg, pid))
    })?;
    let started = Instant::now();
    // Blocking: returns once the endpoint has stopped.
    extra.shutdown();
    check(
        started.elapsed() < Duration::from_secs(4),
        format!("shutdown took {:?}", started.elapsed()),
    )?;
    runtime.block_on(async {
        let code = pg.closed(Duration::from_secs(2)).await?;
        eq(code, Some(CloseCode::Away), "close code")?;
        ctx.backend_gone(pid, Duration::from_secs(5))
            .await
            .map(|_| ())
    })
}

/// Malformed upgrades are plain HTTP 400s; the paths still refuse plain requests.
fn http_refusals(ctx: &Ctx) -> TestResult {
    block_on(async {
        let addr = ctx
            .ws_proxy
            .strip_suffix("/v2")
            .ok_or_else(|| fail("ws_proxy without /v2"))?;
        for (request, expect) in [
            ("GET /v2 HTTP/1.1\r\nHost: x\r\n\r\n", "400"),
            (
                "GET /v2 HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
                 Sec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
                "400",
            ),
            (
                "GET /v3 HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
                 Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
                "400",
            ),
            (
                "GET /v1?address=x HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Upgrade\r\n\
                 Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
                 Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
                "101",
            ),
        ] {
            let status = raw_status(addr, request).await?;
            eq(
                status.as_str(),
                expect,
                request.lines().next().unwrap_or_default(),
            )?;
        }
        Ok(())
    })
}

/// Sends a raw HTTP request and returns the status code of the answer.
async fn raw_status(addr: &str, request: &str) -> Result<String, Failed> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = TcpStream::connect(addr).await.map_err(fail)?;
    stream.write_all(request.as_bytes()).await.map_err(fail)?;
    let mut buf = BytesMut::with_capacity(1024);
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read_buf(&mut buf))
            .await
            .map_err(fail)?
            .map_err(fail)?;
        if n == 0 {
            break;
        }
    }
    let head = String::from_utf8_lossy(&buf);
    Ok(head.split(' ').nth(1).unwrap_or_default().to_owned())
}

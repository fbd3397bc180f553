//! One Postgres connection: login, then extended-protocol queries with text in and text out.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use fallible_iterator::FallibleIterator;
use pgcluster::login::{Login, LoginError, Step};
use postgres_protocol::message::backend::{ErrorFields, Message};
use postgres_protocol::message::frontend;
use strata_core::neon::{ErrorBody, Field};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::cancel::{CancelOnDrop, CancelToken};

/// Why talking to Postgres failed. The HTTP status each maps to is decided in `error.rs`.
#[derive(Debug)]
pub enum PgError {
    /// Postgres answered with an `ErrorResponse` (bad SQL, constraint, wrong password, ...).
    /// Boxed: the body is large and errors are the rare path.
    Server(Box<ErrorBody>),
    /// The request cannot be encoded (a NUL byte in the query, too many parameters).
    Encode(String),
    /// The server could not be reached, or the connection broke.
    Io(io::Error),
    /// The server said something this client does not understand.
    Protocol(String),
    /// The rows exceed the response size limit.
    ResponseTooLarge,
}

impl std::fmt::Display for PgError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PgError::Server(body) => write!(f, "{body}"),
            PgError::Encode(m) => write!(f, "cannot encode the request: {m}"),
            PgError::Io(e) => write!(f, "{e}"),
            PgError::Protocol(m) => write!(f, "protocol error: {m}"),
            PgError::ResponseTooLarge => f.write_str("response too large"),
        }
    }
}

impl std::error::Error for PgError {}

impl From<LoginError> for PgError {
    fn from(e: LoginError) -> Self {
        match e {
            LoginError::Encode(m) => PgError::Encode(m),
            LoginError::Protocol(m) => PgError::Protocol(m),
        }
    }
}

impl From<io::Error> for PgError {
    fn from(e: io::Error) -> Self {
        PgError::Io(e)
    }
}

/// Who logs in, to which database.
#[derive(Debug, Clone)]
pub struct Startup<'a> {
    /// Role name.
    pub user: &'a str,
    /// Its password (only sent as the server's chosen authentication method requires).
    pub password: &'a str,
    /// Database name.
    pub database: &'a str,
    /// Shown in `pg_stat_activity`; the official driver sends its package URL.
    pub application_name: Option<&'a str>,
}

/// The outcome of one statement, still as Postgres text.
#[derive(Debug, Clone, Default)]
pub struct QueryResult {
    /// Row description; empty for statements without one.
    pub fields: Vec<Field>,
    /// Rows, one `Option<String>` per column (`None` = NULL).
    pub rows: Vec<Vec<Option<String>>>,
    /// The command tag (`SELECT 2`, `INSERT 0 1`, `CREATE TABLE`), empty for an empty query.
    pub tag: String,
}

/// How many bytes of row data a request may still produce.
///
/// Counted while rows arrive so a `select` of a huge table fails fast at the limit instead of
/// first buffering the whole table; the serialised response is checked again at the end.
#[derive(Debug)]
pub struct ResponseBudget {
    remaining: usize,
}

impl ResponseBudget {
    /// A budget of `limit` bytes.
    pub fn new(limit: usize) -> ResponseBudget {
        ResponseBudget { remaining: limit }
    }

    fn spend(&mut self, bytes: usize) -> Result<(), PgError> {
        self.remaining = self
            .remaining
            .checked_sub(bytes)
            .ok_or(PgError::ResponseTooLarge)?;
        Ok(())
    }
}

/// A logged-in connection.
pub struct Connection {
    stream: TcpStream,
    read_buf: BytesMut,
    write_buf: BytesMut,
    cancel_token: Option<CancelToken>,
    /// Transaction status from the last ReadyForQuery: `I` idle, `T` in a transaction, `E` in a
    /// failed transaction.
    transaction_status: u8,
    /// When the login started; the pool retires connections past a maximum age.
    created: Instant,
}

impl Connection {
    /// Connects to `addr` and logs in. Errors from the server during login (wrong password,
    /// unknown database) come back as [`PgError::Server`], unreachable servers as
    /// [`PgError::Io`].
    pub async fn connect(
        addr: SocketAddr,
        startup: &Startup<'_>,
        timeout: Duration,
    ) -> Result<Connection, PgError> {
        let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connection timed out"))??;
        stream.set_nodelay(true)?;
        let mut conn = Connection {
            stream,
            read_buf: BytesMut::with_capacity(8 * 1024),
            write_buf: BytesMut::with_capacity(1024),
            cancel_token: None,
            transaction_status: b'I',
            created: Instant::now(),
        };
        tokio::time::timeout(timeout, conn.login(addr, startup))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "login timed out"))??;
        Ok(conn)
    }

    async fn login(&mut self, addr: SocketAddr, startup: &Startup<'_>) -> Result<(), PgError> {
        let mut params = vec![
            ("user", startup.user),
            ("database", startup.database),
            ("client_encoding", "UTF8"),
        ];
        if let Some(name) = startup.application_name {
            params.push(("application_name", name));
        }
        frontend::startup_message(params, &mut self.write_buf)
            .map_err(|e| PgError::Encode(e.to_string()))?;
        self.flush().await?;

        let mut login = Login::new(startup.user.as_bytes(), startup.password.as_bytes());
        loop {
            let message = self.receive().await?;
            match login.step(&message, &mut self.write_buf)? {
                Step::Send => {
                    self.flush().await?;
                    continue;
                }
                Step::Read => continue,
                Step::NotMine => {}
            }
            match message {
                Message::BackendKeyData(body) => {
                    self.cancel_token = Some(CancelToken {
                        addr,
                        process_id: body.process_id(),
                        secret_key: body.secret_key(),
                    });
                }
                Message::ReadyForQuery(body) => {
                    self.transaction_status = body.status();
                    return Ok(());
                }
                Message::ErrorResponse(body) => return Err(server_error(body.fields())),
                Message::ParameterStatus(_) | Message::NoticeResponse(_) => {}
                _ => return Err(PgError::Protocol("unexpected message during login".into())),
            }
        }
    }

    /// Runs one statement with the simple query protocol, discarding any rows (used for the
    /// batch's `START TRANSACTION`, `COMMIT` and `ROLLBACK`, and for resets).
    pub async fn execute_simple(&mut self, sql: &str) -> Result<(), PgError> {
        frontend::query(sql, &mut self.write_buf).map_err(|e| PgError::Encode(e.to_string()))?;
        self.flush().await?;
        let guard = CancelOnDrop::arm(self.cancel_token);
        let mut error = None;
        loop {
            match self.receive().await? {
                Message::ErrorResponse(body) => error = Some(server_error(body.fields())),
                Message::CopyInResponse(_) => {
                    frontend::copy_fail("COPY FROM STDIN is not supported", &mut self.write_buf)?;
                    self.flush().await?;
                }
                Message::ReadyForQuery(body) => {
                    self.transaction_status = body.status();
                    guard.disarm();
                    return error.map_or(Ok(()), Err);
                }
                _ => {}
            }
        }
    }

    /// Runs exactly one statement with the extended protocol: Parse (no parameter types, so
    /// Postgres infers them), Bind (every parameter as text, every result column as text),
    /// Describe, Execute, Sync. A string with two statements fails in Parse with 42601, as on
    /// Neon.
    pub async fn query(
        &mut self,
        sql: &str,
        params: &[Option<String>],
        budget: &mut ResponseBudget,
    ) -> Result<QueryResult, PgError> {
        if let Err(e) = encode_extended_query(sql, params, &mut self.write_buf) {
            // Nothing was sent: the connection is still clean.
            self.write_buf.clear();
            return Err(e);
        }
        self.flush().await?;

        let guard = CancelOnDrop::arm(self.cancel_token);
        let mut result = QueryResult::default();
        let mut error = None;
        loop {
            match self.receive().await? {
                Message::ParseComplete | Message::BindComplete | Message::NoData => {}
                Message::RowDescription(body) => {
                    let mut fields = body.fields();
                    while let Some(field) = fields.next()? {
                        result.fields.push(Field {
                            name: field.name().to_owned(),
                            data_type_id: field.type_oid(),
                            table_id: field.table_oid(),
                            column_id: field.column_id(),
                            data_type_size: field.type_size(),
                            data_type_modifier: field.type_modifier(),
                            format: "text".to_owned(),
                        });
                    }
                }
                Message::DataRow(body) => {
                    // The JSON form is a little larger than the text (quotes, commas, names);
                    // the final serialised size is checked exactly by the caller.
                    budget.spend(body.buffer().len() + 4 * result.fields.len())?;
                    let buf = body.buffer();
                    let mut ranges = body.ranges();
                    let mut row = Vec::with_capacity(result.fields.len());
                    while let Some(range) = ranges.next()? {
                        row.push(range.map(|r| String::from_utf8_lossy(&buf[r]).into_owned()));
                    }
                    result.rows.push(row);
                }
                Message::CommandComplete(body) => {
                    result.tag = body.tag()?.to_owned();
                }
                Message::EmptyQueryResponse => {}
                Message::CopyInResponse(_) => {
                    // The backend ignores Sync while in copy-in mode: fail the copy, then sync.
                    frontend::copy_fail("COPY FROM STDIN is not supported", &mut self.write_buf)?;
                    frontend::sync(&mut self.write_buf);
                    self.flush().await?;
                }
                Message::CopyData(body) => budget.spend(body.data().len())?,
                Message::ErrorResponse(body) => error = Some(server_error(body.fields())),
                Message::ReadyForQuery(body) => {
                    self.transaction_status = body.status();
                    guard.disarm();
                    return match error {
                        Some(e) => Err(e),
                        None => Ok(result),
                    };
                }
                // Notices, parameter changes, notifications, copy-out framing: nothing to return.
                _ => {}
            }
        }
    }

    /// `I` idle, `T` in a transaction block, `E` in a failed transaction block.
    pub fn transaction_status(&self) -> u8 {
        self.transaction_status
    }

    /// How long ago this connection logged in.
    pub fn age(&self) -> Duration {
        self.created.elapsed()
    }

    /// The backend process id (`pg_backend_pid()` of this session), if the server sent one.
    pub fn backend_pid(&self) -> Option<i32> {
        self.cancel_token.map(|token| token.process_id)
    }

    /// Undoes everything a request may have left in the session, so the connection can serve
    /// another request as if it were fresh: `ROLLBACK` when inside a transaction or a failed
    /// one, then `DISCARD ALL` (which cannot run inside a transaction block). `DISCARD ALL`
    /// resets every `SET` (incl. `SET ROLE` and `SET SESSION AUTHORIZATION`), drops temporary
    /// tables, deallocates prepared statements, closes cursors (also `WITH HOLD` ones), releases
    /// session advisory locks, stops `LISTEN`ing and forgets cached plans and sequence state.
    ///
    /// Any error means the session may still carry state: the caller must close the
    /// connection, not reuse it. So does a connection that is not in a clean place between
    /// messages (unread input, unsent output, an unknown transaction status).
    pub async fn reset(&mut self) -> Result<(), PgError> {
        if !self.read_buf.is_empty() || !self.write_buf.is_empty() {
            return Err(PgError::Protocol(
                "the connection has unprocessed messages".into(),
            ));
        }
        match self.transaction_status {
            b'I' => {}
            b'T' | b'E' => self.execute_simple("ROLLBACK").await?,
            other => {
                return Err(PgError::Protocol(format!(
                    "unknown transaction status {:?}",
                    char::from(other)
                )))
            }
        }
        if self.transaction_status != b'I' {
            return Err(PgError::Protocol("ROLLBACK left a transaction open".into()));
        }
        self.execute_simple("DISCARD ALL").await?;
        if self.transaction_status != b'I' || !self.read_buf.is_empty() {
            return Err(PgError::Protocol(
                "DISCARD ALL did not leave the session idle".into(),
            ));
        }
        Ok(())
    }

    /// Checks a connection that sat idle in the pool before it is used again: it must be idle
    /// on our side, and the server must have sent nothing since the last `ReadyForQuery`. A
    /// backend that went away while idle (terminated, server restarted, `idle_session_timeout`)
    /// leaves a `FATAL` message and/or EOF in the socket; finding any byte at all means the
    /// connection is not in a state we know, so it is refused (and closed by dropping it).
    ///
    /// This asks the kernel directly (a non-blocking `MSG_PEEK`): tokio's own readiness flags
    /// only learn about such bytes when its reactor next runs, which may be after we look.
    pub fn check_idle(self) -> Result<Connection, PgError> {
        if self.transaction_status != b'I'
            || !self.read_buf.is_empty()
            || !self.write_buf.is_empty()
        {
            return Err(PgError::Protocol("the connection is not idle".into()));
        }
        let Connection {
            stream,
            read_buf,
            write_buf,
            cancel_token,
            transaction_status,
            created,
        } = self;
        // Taking the socket out of tokio (and back in below) is what allows a plain,
        // synchronous peek; tokio keeps it in non-blocking mode throughout.
        let std_stream = stream.into_std()?;
        let mut probe = [0u8; 1];
        match std_stream.peek(&mut probe) {
            Ok(0) => Err(PgError::Io(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the server closed the idle connection",
            ))),
            Ok(_) => Err(PgError::Protocol(
                "the server sent a message to an idle connection".into(),
            )),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(Connection {
                stream: TcpStream::from_std(std_stream)?,
                read_buf,
                write_buf,
                cancel_token,
                transaction_status,
                created,
            }),
            Err(e) => Err(PgError::Io(e)),
        }
    }

    async fn flush(&mut self) -> Result<(), PgError> {
        self.stream.write_all(&self.write_buf).await?;
        self.write_buf.clear();
        Ok(())
    }

    async fn receive(&mut self) -> Result<Message, PgError> {
        loop {
            if let Some(message) = Message::parse(&mut self.read_buf)? {
                return Ok(message);
            }
            if self.read_buf.capacity() - self.read_buf.len() < 4096 {
                self.read_buf.reserve(8 * 1024);
            }
            let n = self.stream.read_buf(&mut self.read_buf).await?;
            if n == 0 {
                return Err(PgError::Io(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the server closed the connection",
                )));
            }
        }
    }

    /// Says goodbye politely, so the server logs no "unexpected EOF on client connection".
    /// Bounded in time: a connection being closed may be one whose server stopped reading, and
    /// closing must never hang a request or the shutdown (the socket is closed regardless when
    /// `self` is dropped).
    pub async fn close(mut self) {
        frontend::terminate(&mut self.write_buf);
        let goodbye = async {
            let _ = self.flush().await;
            let _ = self.stream.shutdown().await;
        };
        let _ = tokio::time::timeout(Duration::from_secs(1), goodbye).await;
    }
}

/// Appends Parse, Bind, Describe (portal), Execute and Sync for one statement to `buf`.
fn encode_extended_query(
    sql: &str,
    params: &[Option<String>],
    buf: &mut BytesMut,
) -> Result<(), PgError> {
    if sql.contains('\0') {
        return Err(PgError::Encode("the query contains a NUL character".into()));
    }
    let encode = |e: io::Error| PgError::Encode(e.to_string());
    frontend::parse("", sql, std::iter::empty(), buf).map_err(encode)?;
    frontend::bind(
        "",
        "",
        std::iter::empty(), // no parameter format codes: every parameter is text
        params,
        |param, buf| match param {
            Some(text) => {
                buf.extend_from_slice(text.as_bytes());
                Ok(postgres_protocol::IsNull::No)
            }
            None => Ok(postgres_protocol::IsNull::Yes),
        },
        std::iter::empty(), // no result format codes: every column is text
        buf,
    )
    .map_err(|_| {
        PgError::Encode(format!(
            "too many parameters ({}; the protocol allows at most 65535)",
            params.len()
        ))
    })?;
    frontend::describe(b'P', "", buf).map_err(encode)?;
    frontend::execute("", 0, buf).map_err(encode)?;
    frontend::sync(buf);
    Ok(())
}

/// Converts an `ErrorResponse` into the protocol's error body.
fn server_error(mut fields: ErrorFields<'_>) -> PgError {
    let mut pairs = Vec::new();
    loop {
        match fields.next() {
            Ok(Some(field)) => pairs.push((
                field.type_(),
                String::from_utf8_lossy(field.value_bytes()).into_owned(),
            )),
            Ok(None) => break,
            Err(e) => return PgError::Protocol(format!("malformed error response: {e}")),
        }
    }
    PgError::Server(Box::new(ErrorBody::from_postgres_fields(pairs)))
}

//! One WebSocket session: one PostgreSQL session, tunnelled.
//!
//! 1. **Start-up** (bounded by the connect timeout). Read the client's first packet from the
//!    byte stream; decline encryption requests; pass a `CancelRequest` on to the server and end.
//!    For a start-up message: ask for a cleartext password, as Neon's proxy does — which is what
//!    makes the driver's default `pipelineConnect: "password"` work: it sends the start-up, the
//!    password and its first query without waiting, and only a cleartext exchange has the
//!    password where the driver put it.
//! 2. **Login.** Open a TCP connection to the one upstream server, send the client's start-up
//!    packet unchanged and answer the server's authentication (SCRAM-SHA-256, MD5 or cleartext)
//!    with the client's password: PostgreSQL checks it. The server's answers from
//!    `AuthenticationOk` to the first `ReadyForQuery` — or its error — go to the client as they
//!    are; the authentication exchange itself stays between us and the server.
//! 3. **Tunnel.** Bytes, both ways, until either side closes: each binary WebSocket message is
//!    written to the server, each read from the server (at most [`READ_CHUNK`] bytes) becomes one
//!    binary message. Nothing is parsed, so message boundaries do not matter, and each direction
//!    waits for the other end to take its bytes before reading more: a client that stops reading
//!    stops the server's backend (it waits in `ClientWrite`) instead of filling our memory.
//! 4. **End.** When the client goes (close, reset, protocol error), the idle timeout passes, or
//!    the endpoint shuts down, the server connection is closed and a `CancelRequest` is sent for
//!    the backend: a backend busy in a query (or waiting for a lock) would otherwise notice the
//!    closed socket only when it next writes, holding its locks until then. When the server
//!    closes, the WebSocket is closed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures_util::{SinkExt, StreamExt};
use pgcluster::login::{Login, Step};
use postgres_protocol::message::backend::Message as PgMessage;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use super::sessions::SessionPermit;
use super::startup::{self, FirstPacket, StartupError};
use crate::pg::cancel::CancelToken;
use crate::Config;

/// Most bytes read from the server before they are sent on as one WebSocket message.
pub const READ_CHUNK: usize = 64 * 1024;
/// Largest server message accepted during login (an error or parameter status is far smaller).
const MAX_LOGIN_MESSAGE: usize = 1024 * 1024;
/// How long a goodbye (a `FATAL` error, a close frame, a cancel) may take: a peer that stopped
/// reading must not hold up the end of its session or the endpoint's shutdown.
const GOODBYE_TIMEOUT: Duration = Duration::from_secs(1);

/// Whether a session may start, decided at upgrade time.
#[derive(Debug)]
pub enum Admission {
    /// It has a place among the open sessions.
    Admitted(SessionPermit),
    /// It gets this `FATAL` error after its start-up message.
    Refused {
        /// SQLSTATE of the error.
        sqlstate: &'static str,
        /// The error's message.
        message: String,
    },
}

/// Runs one session on an upgraded connection until it ends. Never fails: every error is told
/// to the client (when it is still there) and logged.
pub async fn run<S>(
    io: S,
    admission: Admission,
    config: Arc<Config>,
    mut shutdown: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let started = Instant::now();
    // Defaults, spelled out: 64 MiB per message bounds what one client message can make us
    // hold (the driver sends a query and its parameters as one message).
    let ws_config = WebSocketConfig::default()
        .read_buffer_size(16 * 1024)
        .max_message_size(Some(64 << 20));
    let mut ws = WebSocketStream::from_raw_socket(io, Role::Server, Some(ws_config)).await;
    let mut inbox = BytesMut::new();

    let opened = tokio::select! {
        opened = tokio::time::timeout(
            config.connect_timeout,
            open(&mut ws, &mut inbox, admission, &config),
        ) => opened.unwrap_or_else(|_| Err(Failure::Fatal {
            sqlstate: "08006",
            message: format!(
                "the session did not start within {} s",
                config.connect_timeout.as_secs()
            ),
        })),
        _ = shutdown.wait_for(|down| *down) => Err(Failure::Fatal {
            sqlstate: "57P01", // admin_shutdown
            message: "neon-local is shutting down".into(),
        }),
    };

    let tunnel = match opened {
        Ok(Opened::Tunnel(tunnel)) => tunnel,
        Ok(Opened::CancelForwarded) => {
            close_ws(&mut ws, CloseCode::Normal, "").await;
            return;
        }
        Err(failure) => {
            if let Failure::Fatal { sqlstate, message } = &failure {
                let error = startup::fatal(sqlstate, message);
                let _ =
                    tokio::time::timeout(GOODBYE_TIMEOUT, ws.send(Message::Binary(error))).await;
            }
            close_ws(&mut ws, CloseCode::Normal, "").await;
            log(
                &config,
                format_args!("WebSocket session refused: {failure}"),
            );
            return;
        }
    };
    let set_up = started.elapsed();

    let label = tunnel.label.clone();
    let end = relay(ws, tunnel, &config, &mut shutdown).await;
    log(
        &config,
        format_args!(
            "WebSocket session {label} ended after {:.1} s ({end}; set up in {:.1} ms)",
            started.elapsed().as_secs_f64(),
            set_up.as_secs_f64() * 1000.0
        ),
    );
}

/// A logged-in server connection, ready to tunnel.
struct Tunnel {
    server: TcpStream,
    /// Where to send a `CancelRequest` for this backend (absent if the server sent no key).
    cancel: Option<CancelToken>,
    /// `user@database`, for the log.
    label: String,
    /// Held until the tunnel ends.
    _permit: super::sessions::SessionPermit,
}

enum Opened {
    Tunnel(Tunnel),
    /// The connection carried a `CancelRequest`, now passed on.
    CancelForwarded,
}

/// Why a session did not start.
enum Failure {
    /// Tell the client this as a `FATAL` error.
    Fatal {
        sqlstate: &'static str,
        message: String,
    },
    /// The server refused the login; its error has been passed on.
    ServerRefused(String),
    /// The client went away (or broke the WebSocket protocol).
    ClientGone,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Fatal { sqlstate, message } => write!(f, "{sqlstate} {message}"),
            Failure::ServerRefused(what) => write!(f, "the server refused the login: {what}"),
            Failure::ClientGone => f.write_str("the client went away during start-up"),
        }
    }
}

impl From<StartupError> for Failure {
    fn from(e: StartupError) -> Self {
        Failure::Fatal {
            sqlstate: e.sqlstate(),
            message: e.to_string(),
        }
    }
}

/// Steps 1 and 2 (see the module docs). Bytes the client sent after its password (the
/// pipelined first query) are written to the server once the login is through.
async fn open<S>(
    ws: &mut WebSocketStream<S>,
    inbox: &mut BytesMut,
    admission: Admission,
    config: &Config,
) -> Result<Opened, Failure>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let packet = loop {
        match startup::take_first_packet(inbox)? {
            Some(FirstPacket::EncryptionRequest) => {
                send(ws, Bytes::from_static(startup::ENCRYPTION_DECLINED)).await?
            }
            // Cancels go through even when all sessions are taken: that is when they matter.
            Some(FirstPacket::Cancel { raw, .. }) => {
                forward_cancel(&config.upstream, &raw).await;
                return Ok(Opened::CancelForwarded);
            }
            Some(FirstPacket::Startup(packet)) => break packet,
            None => receive(ws, inbox).await?,
        }
    };
    let permit = match admission {
        Admission::Admitted(permit) => permit,
        Admission::Refused { sqlstate, message } => {
            return Err(Failure::Fatal { sqlstate, message })
        }
    };
    let Some(user) = packet.user() else {
        return Err(Failure::Fatal {
            sqlstate: "28000",
            message: "no PostgreSQL user name specified in startup packet".into(),
        });
    };

    send(
        ws,
        Bytes::from_static(&startup::AUTHENTICATION_CLEARTEXT_PASSWORD),
    )
    .await?;
    let password = loop {
        match startup::take_password(inbox)? {
            Some(password) => break password,
            None => receive(ws, inbox).await?,
        }
    };

    let unreachable = |e: std::io::Error| Failure::Fatal {
        sqlstate: "08006", // connection_failure
        message: format!(
            "could not connect to the database server at {}: {e}",
            config.upstream
        ),
    };
    let mut server = TcpStream::connect(&config.upstream)
        .await
        .map_err(unreachable)?;
    // Postgres messages are small and latency-bound; Nagle would hold them back.
    let _ = server.set_nodelay(true);
    let server_addr = server.peer_addr().map_err(unreachable)?;
    server.write_all(&packet.raw).await.map_err(unreachable)?;

    let lost = |e: std::io::Error| Failure::Fatal {
        sqlstate: "08006",
        message: format!("lost the connection to the database server during login: {e}"),
    };
    let mut login = Login::new(user.as_bytes(), &password);
    let mut from_server = BytesMut::new();
    let mut to_client = BytesMut::new();
    let mut cancel = None;
    loop {
        let frame = read_server_message(&mut server, &mut from_server)
            .await
            .map_err(lost)?;
        match frame[0] {
            b'R' => {
                let message = PgMessage::parse(&mut BytesMut::from(&frame[..]))
                    .ok()
                    .flatten()
                    .ok_or_else(|| protocol_error("a malformed authentication request"))?;
                let mut answer = BytesMut::new();
                match login.step(&message, &mut answer) {
                    Ok(Step::Send) => server.write_all(&answer).await.map_err(lost)?,
                    // The client sees only the outcome: the exchange was ours.
                    Ok(Step::Read | Step::NotMine) => {
                        if matches!(message, PgMessage::AuthenticationOk) {
                            to_client.extend_from_slice(&frame);
                        }
                    }
                    Err(e) => {
                        return Err(Failure::Fatal {
                            sqlstate: "28000", // invalid_authorization_specification
                            message: format!("login to the database server failed: {e}"),
                        });
                    }
                }
            }
            b'K' => {
                if frame.len() == 13 {
                    cancel = Some(CancelToken {
                        addr: server_addr,
                        process_id: i32::from_be_bytes([frame[5], frame[6], frame[7], frame[8]]),
                        secret_key: i32::from_be_bytes([frame[9], frame[10], frame[11], frame[12]]),
                    });
                }
                to_client.extend_from_slice(&frame);
            }
            b'E' => {
                to_client.extend_from_slice(&frame);
                send(ws, to_client.freeze()).await?;
                return Err(Failure::ServerRefused(error_summary(&frame)));
            }
            b'Z' => {
                to_client.extend_from_slice(&frame);
                break;
            }
            // ParameterStatus, NoticeResponse, NegotiateProtocolVersion: the client's.
            _ => to_client.extend_from_slice(&frame),
        }
    }
    send(ws, to_client.freeze()).await?;
    // The pipelined first query (and anything else sent early) goes to the server now.
    if !inbox.is_empty() {
        server.write_all(inbox).await.map_err(lost)?;
        inbox.clear();
    }
    Ok(Opened::Tunnel(Tunnel {
        server,
        cancel,
        label: format!("{user}@{}", packet.database()),
        _permit: permit,
    }))
}

fn protocol_error(what: &str) -> Failure {
    Failure::Fatal {
        sqlstate: "08P01",
        message: format!("the database server sent {what} during login"),
    }
}

/// "CODE message" of an `ErrorResponse` frame, for the log.
fn error_summary(frame: &[u8]) -> String {
    let mut code = "";
    let mut message = "";
    for field in frame.get(5..).unwrap_or_default().split(|&b| b == 0) {
        match field.split_first() {
            Some((b'C', value)) => code = std::str::from_utf8(value).unwrap_or_default(),
            Some((b'M', value)) => message = std::str::from_utf8(value).unwrap_or_default(),
            _ => {}
        }
    }
    format!("{code} {message}")
}

/// One whole server message (type byte, length, body), read during login only.
async fn read_server_message(server: &mut TcpStream, buf: &mut BytesMut) -> std::io::Result<Bytes> {
    loop {
        if buf.len() >= 5 {
            let len = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize;
            if !(4..=MAX_LOGIN_MESSAGE).contains(&len) {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("a server message of {len} bytes during login"),
                ));
            }
            if buf.len() > len {
                return Ok(buf.split_to(len + 1).freeze());
            }
        }
        if server.read_buf(buf).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
    }
}

/// Appends the client's next binary message to `inbox`.
async fn receive<S>(ws: &mut WebSocketStream<S>, inbox: &mut BytesMut) -> Result<(), Failure>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    loop {
        match ws.next().await {
            Some(Ok(Message::Binary(data))) => {
                inbox.extend_from_slice(&data);
                return Ok(());
            }
            Some(Ok(Message::Text(_))) => {
                return Err(Failure::Fatal {
                    sqlstate: "08P01",
                    message: "text WebSocket messages are not part of the protocol: \
                              Postgres messages travel in binary messages"
                        .into(),
                })
            }
            // Pings are answered by tungstenite itself.
            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
            Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return Err(Failure::ClientGone),
        }
    }
}

async fn send<S>(ws: &mut WebSocketStream<S>, bytes: Bytes) -> Result<(), Failure>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    ws.send(Message::Binary(bytes))
        .await
        .map_err(|_| Failure::ClientGone)
}

/// Passes a `CancelRequest` to the server unchanged. Postgres checks the secret key; we only
/// carry the bytes. Best effort, like every cancel.
async fn forward_cancel(upstream: &str, raw: &[u8]) {
    let forward = async {
        if let Ok(mut server) = TcpStream::connect(upstream).await {
            let _ = server.write_all(raw).await;
            let _ = server.shutdown().await;
        }
    };
    let _ = tokio::time::timeout(GOODBYE_TIMEOUT, forward).await;
}

/// How a tunnel ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// The server closed the connection (after the client's `Terminate`, or a backend
    /// terminated by an administrator or a server shutdown).
    ServerClosed,
    /// The client closed the WebSocket, or its connection broke.
    ClientGone,
    /// The client sent a text message.
    ClientProtocol,
    /// No bytes either way for the idle timeout.
    Idle,
    /// The endpoint is shutting down.
    Shutdown,
}

impl std::fmt::Display for End {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            End::ServerClosed => "the server closed the connection",
            End::ClientGone => "the client closed the connection",
            End::ClientProtocol => "the client sent a text message",
            End::Idle => "idle timeout",
            End::Shutdown => "shutdown",
        })
    }
}

/// Step 3 and 4 (see the module docs).
async fn relay<S>(
    ws: WebSocketStream<S>,
    tunnel: Tunnel,
    config: &Config,
    shutdown: &mut watch::Receiver<bool>,
) -> End
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let Tunnel {
        server,
        cancel,
        _permit,
        ..
    } = tunnel;
    let (mut sink, mut stream) = ws.split();
    let (mut server_read, mut server_write) = server.into_split();
    let clock = Instant::now();
    // Milliseconds since `clock` of the last byte either way, for the idle timeout.
    let last_activity = AtomicU64::new(0);
    let touch = || {
        let now = u64::try_from(clock.elapsed().as_millis()).unwrap_or(u64::MAX);
        last_activity.store(now, Ordering::Relaxed);
    };

    let end = {
        let server_to_client = async {
            let mut buf = BytesMut::new();
            loop {
                buf.reserve(READ_CHUNK);
                match server_read.read_buf(&mut buf).await {
                    Ok(0) | Err(_) => return End::ServerClosed,
                    Ok(_) => {
                        touch();
                        // `send` returns once the frame is written to the client's socket:
                        // the next read from the server waits for that.
                        let message = Message::Binary(buf.split().freeze());
                        if sink.send(message).await.is_err() {
                            return End::ClientGone;
                        }
                    }
                }
            }
        };
        let client_to_server = async {
            loop {
                match stream.next().await {
                    Some(Ok(Message::Binary(data))) => {
                        touch();
                        if server_write.write_all(&data).await.is_err() {
                            return End::ServerClosed;
                        }
                    }
                    Some(Ok(Message::Text(_))) => return End::ClientProtocol,
                    Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return End::ClientGone,
                }
            }
        };
        let idle = async {
            let Some(limit) = config.ws.idle_timeout else {
                return std::future::pending().await;
            };
            loop {
                let deadline = Duration::from_millis(last_activity.load(Ordering::Relaxed)) + limit;
                let now = clock.elapsed();
                if now >= deadline {
                    return;
                }
                tokio::time::sleep(deadline - now).await;
            }
        };
        tokio::select! {
            end = server_to_client => end,
            end = client_to_server => end,
            () = idle => End::Idle,
            _ = shutdown.wait_for(|down| *down) => End::Shutdown,
        }
    };

    // Closing the server connection first: a backend that was idle exits at once on EOF; one
    // in a query is interrupted by the cancel below, then finds the socket closed and exits,
    // rolling back and releasing its locks.
    drop(server_read);
    drop(server_write);
    let mut ws = sink.reunite(stream).ok();
    let (code, reason) = match end {
        End::ServerClosed | End::ClientGone => (CloseCode::Normal, String::new()),
        End::ClientProtocol => (
            CloseCode::Unsupported,
            "Postgres messages travel in binary messages".to_owned(),
        ),
        End::Idle => (
            CloseCode::Away,
            format!(
                "idle for {} s (neon-local --ws-idle-timeout)",
                config.ws.idle_timeout.unwrap_or_default().as_secs()
            ),
        ),
        End::Shutdown => (CloseCode::Away, "neon-local is shutting down".to_owned()),
    };
    if end != End::ServerClosed {
        if let Some(cancel) = cancel {
            let _ = tokio::time::timeout(GOODBYE_TIMEOUT, cancel.cancel()).await;
        }
    }
    // Also after the client's own close: that flushes tungstenite's reply to it.
    if let Some(ws) = ws.as_mut() {
        close_ws(ws, code, &reason).await;
    }
    end
}

/// Sends a close frame (and whatever tungstenite still has to flush), bounded in time.
async fn close_ws<S>(ws: &mut WebSocketStream<S>, code: CloseCode, reason: &str)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    let _ = tokio::time::timeout(GOODBYE_TIMEOUT, ws.close(Some(frame))).await;
}

fn log(config: &Config, message: std::fmt::Arguments<'_>) {
    if !config.quiet {
        eprintln!("neon-local: {message}");
    }
}

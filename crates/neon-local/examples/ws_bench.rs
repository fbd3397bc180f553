//! Session set-up time and simple-query round trip: a WebSocket session through neon-local
//! against a direct TCP connection to the same PostgreSQL, with the same hand-written client.
//!
//! ```sh
//! cargo run -p neon-local --example ws_bench [-- SESSIONS QUERIES]   # default 200 2000
//! ```
//!
//! Starts its own endpoint and cluster in-process (the build profile of the example: debug,
//! like `make dev`). Set-up = from opening the connection to the `ReadyForQuery` of a first
//! `select 1`: over WebSocket the start-up, cleartext password and query go in one message
//! (the driver's `pipelineConnect: "password"`) and the endpoint logs in with SCRAM; over TCP
//! the client does the SCRAM exchange itself and then sends the query. Round trip = one
//! `select 1` (simple protocol) to its `ReadyForQuery` on an open session. Runs alternate
//! between the two paths so background load hits both alike.

// A host-only measurement: it has a real clock (the ban is for wasm32, see clippy.toml).
#![allow(clippy::disallowed_methods)]

use std::time::{Duration, Instant};

use bytes::BytesMut;
use futures_util::{SinkExt, StreamExt};
use neon_local::{NeonLocal, Options};
use pgcluster::login::{Login, Step};
use postgres_protocol::message::backend::Message as PgMessage;
use postgres_protocol::message::frontend;
use strata_core::neon::ConnectionString;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Error = Box<dyn std::error::Error>;

enum Transport {
    Ws(Box<WebSocketStream<MaybeTlsStream<TcpStream>>>),
    Tcp(TcpStream),
}

struct Session {
    transport: Transport,
    inbox: BytesMut,
}

impl Session {
    async fn send(&mut self, bytes: &[u8]) -> Result<(), Error> {
        match &mut self.transport {
            Transport::Ws(ws) => ws.send(Message::Binary(bytes.to_vec().into())).await?,
            Transport::Tcp(tcp) => tcp.write_all(bytes).await?,
        }
        Ok(())
    }

    async fn recv(&mut self) -> Result<PgMessage, Error> {
        loop {
            if let Some(message) = PgMessage::parse(&mut self.inbox)? {
                if let PgMessage::ErrorResponse(_) = message {
                    return Err("the server answered with an error".into());
                }
                return Ok(message);
            }
            match &mut self.transport {
                Transport::Ws(ws) => match ws.next().await {
                    Some(Ok(Message::Binary(data))) => self.inbox.extend_from_slice(&data),
                    Some(Ok(_)) => {}
                    _ => return Err("the WebSocket closed".into()),
                },
                Transport::Tcp(tcp) => {
                    if tcp.read_buf(&mut self.inbox).await? == 0 {
                        return Err("the connection closed".into());
                    }
                }
            }
        }
    }

    async fn until_ready(&mut self) -> Result<(), Error> {
        while !matches!(self.recv().await?, PgMessage::ReadyForQuery(_)) {}
        Ok(())
    }

    async fn select_1(&mut self) -> Result<(), Error> {
        let mut query = BytesMut::new();
        frontend::query("select 1", &mut query)?;
        self.send(&query).await?;
        self.until_ready().await
    }
}

fn startup(db: &ConnectionString) -> Result<BytesMut, Error> {
    let mut buf = BytesMut::new();
    frontend::startup_message(
        [
            ("user", db.user.as_str()),
            ("database", db.database.as_str()),
        ],
        &mut buf,
    )?;
    Ok(buf)
}

/// WebSocket: start-up + password + `select 1` in one message, as the driver pipelines them.
async fn open_ws(proxy: &str, db: &ConnectionString) -> Result<Session, Error> {
    let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{proxy}")).await?;
    let mut session = Session {
        transport: Transport::Ws(Box::new(ws)),
        inbox: BytesMut::new(),
    };
    let mut hello = startup(db)?;
    frontend::password_message(db.password.as_bytes(), &mut hello)?;
    frontend::query("select 1", &mut hello)?;
    session.send(&hello).await?;
    session.until_ready().await?; // login
    session.until_ready().await?; // select 1
    Ok(session)
}

/// Direct TCP: start-up, SCRAM-SHA-256 by the client, then `select 1`.
async fn open_tcp(addr: &str, db: &ConnectionString) -> Result<Session, Error> {
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let mut session = Session {
        transport: Transport::Tcp(tcp),
        inbox: BytesMut::new(),
    };
    session.send(&startup(db)?).await?;
    let mut login = Login::new(db.user.as_bytes(), db.password.as_bytes());
    loop {
        let message = session.recv().await?;
        let mut answer = BytesMut::new();
        if login.step(&message, &mut answer)? == Step::Send {
            session.send(&answer).await?;
        }
        if matches!(message, PgMessage::ReadyForQuery(_)) {
            break;
        }
    }
    session.select_1().await?;
    Ok(session)
}

async fn close(mut session: Session) -> Result<(), Error> {
    let mut bye = BytesMut::new();
    frontend::terminate(&mut bye);
    session.send(&bye).await?;
    if let Transport::Ws(ws) = &mut session.transport {
        // A Close frame, as `WebSocketStream::close(None)` sends; built together with
        // pgcluster or devtools (`cargo clippy --workspace`), `ws.close` resolves to
        // `SinkExt::close` instead and does not compile.
        let _ = ws.send(Message::Close(None)).await;
    }
    Ok(())
}

/// Median, 90th percentile and mean, in milliseconds.
fn summary(mut samples: Vec<Duration>) -> String {
    if samples.is_empty() {
        return "no samples".into();
    }
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let at = |q: f64| ms(samples[((samples.len() - 1) as f64 * q).round() as usize]);
    let mean = ms(samples.iter().sum::<Duration>()) / samples.len() as f64;
    format!(
        "median {:.3} ms, p90 {:.3} ms, mean {:.3} ms (n = {})",
        at(0.5),
        at(0.9),
        mean,
        samples.len()
    )
}

async fn bench(
    proxy: &str,
    pg_addr: &str,
    db: &ConnectionString,
    sessions: usize,
    queries: usize,
) -> Result<(), Error> {
    // Warm-up: first logins pay for catalog caches and the allocator.
    for _ in 0..10 {
        close(open_ws(proxy, db).await?).await?;
        close(open_tcp(pg_addr, db).await?).await?;
    }

    let (mut ws_setup, mut tcp_setup) = (Vec::new(), Vec::new());
    for _ in 0..sessions {
        let started = Instant::now();
        let session = open_ws(proxy, db).await?;
        ws_setup.push(started.elapsed());
        close(session).await?;
        let started = Instant::now();
        let session = open_tcp(pg_addr, db).await?;
        tcp_setup.push(started.elapsed());
        close(session).await?;
    }

    let mut ws = open_ws(proxy, db).await?;
    let mut tcp = open_tcp(pg_addr, db).await?;
    let (mut ws_rtt, mut tcp_rtt) = (Vec::new(), Vec::new());
    for _ in 0..queries {
        let started = Instant::now();
        ws.select_1().await?;
        ws_rtt.push(started.elapsed());
        let started = Instant::now();
        tcp.select_1().await?;
        tcp_rtt.push(started.elapsed());
    }
    close(ws).await?;
    close(tcp).await?;

    println!("session set-up to the first result (select 1):");
    println!("  WebSocket via neon-local  {}", summary(ws_setup));
    println!("  direct TCP                {}", summary(tcp_setup));
    println!("simple query round trip (select 1):");
    println!("  WebSocket via neon-local  {}", summary(ws_rtt));
    println!("  direct TCP                {}", summary(tcp_rtt));
    Ok(())
}

fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let sessions = args.next().map(|s| s.parse()).transpose()?.unwrap_or(200);
    let queries = args.next().map(|s| s.parse()).transpose()?.unwrap_or(2000);
    let endpoint = NeonLocal::start(Options {
        quiet: true,
        ..Options::default()
    })?;
    let db = ConnectionString::parse(endpoint.database_url().unwrap_or_default())?;
    let pg_addr = format!("127.0.0.1:{}", endpoint.pg_port());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let result = runtime.block_on(bench(
        &endpoint.ws_proxy(),
        &pg_addr,
        &db,
        sessions,
        queries,
    ));
    endpoint.shutdown();
    result
}

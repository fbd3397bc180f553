//! `neon-local`: the Neon-compatible endpoint (SQL over HTTP and WebSocket) as a program. See
//! the library docs.

// A host-only tool, never part of the Worker: it has a real clock (the ban is
// for wasm32, see clippy.toml).
#![allow(clippy::disallowed_methods)]

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use neon_local::{NeonLocal, Options, PoolConfig, WsConfig, DEFAULT_BODY_LIMIT};

/// A local Neon-compatible endpoint over a real PostgreSQL: SQL over HTTP (POST /sql) and
/// Neon's WebSocket protocol (GET /v1, /v2) for the driver's Pool and Client.
///
/// Prints one JSON line to stdout when ready:
/// {"event":"ready","sql_url":...,"ws_proxy":...,"database_url":...,"pg_port":N}. Logs go to
/// stderr.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// HTTP address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:4444")]
    listen: SocketAddr,
    /// Use this PostgreSQL (host:port or a postgres:// URL) instead of starting one.
    #[arg(long, conflicts_with_all = ["data_dir", "pg_port"])]
    upstream: Option<String>,
    /// Keep the embedded PostgreSQL's data here, reused across runs (default: a temp dir
    /// deleted on exit).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// TCP port of the embedded PostgreSQL (default: a free one).
    #[arg(long)]
    pg_port: Option<u16>,
    /// Larger request bodies get 413.
    #[arg(long, default_value_t = DEFAULT_BODY_LIMIT)]
    max_body_bytes: usize,
    /// Larger responses get 507.
    #[arg(long, default_value_t = DEFAULT_BODY_LIMIT)]
    max_response_bytes: usize,
    /// Most PostgreSQL connections kept open (idle or in use) per user, password, database and
    /// application_name; further requests wait for one. 0 = no pooling: a new connection for
    /// every request.
    #[arg(long, default_value_t = PoolConfig::default().max_per_key)]
    pool_size: usize,
    /// Most pooled PostgreSQL connections over all credentials (keep it below the server's
    /// max_connections).
    #[arg(long, default_value_t = PoolConfig::default().max_total)]
    pool_max_total: usize,
    /// Seconds after which an idle pooled connection is closed.
    #[arg(long, default_value_t = PoolConfig::default().idle_timeout.as_secs())]
    pool_idle_timeout: u64,
    /// Most WebSocket sessions (each one a PostgreSQL connection) open at once; one more gets
    /// the error 53300 "too many WebSocket sessions".
    #[arg(long, default_value_t = WsConfig::default().max_sessions)]
    ws_max_sessions: usize,
    /// Seconds without a byte either way after which a WebSocket session is closed and its
    /// backend terminated. 0 = never.
    #[arg(long, default_value_t = WsConfig::default().idle_timeout.map_or(0, |t| t.as_secs()))]
    ws_idle_timeout: u64,
    /// Do not log every request to stderr.
    #[arg(long)]
    quiet: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    // Handlers go in before anything starts, so a signal during startup still shuts down
    // cleanly instead of killing us with a half-made temp dir.
    let signals = match Signals::install() {
        Ok(signals) => signals,
        Err(e) => {
            eprintln!("neon-local: cannot install signal handlers: {e}");
            return ExitCode::FAILURE;
        }
    };
    let endpoint = match NeonLocal::start(Options {
        listen: args.listen,
        upstream: args.upstream,
        data_dir: args.data_dir,
        pg_port: args.pg_port,
        max_request_bytes: args.max_body_bytes,
        max_response_bytes: args.max_response_bytes,
        quiet: args.quiet,
        pool: PoolConfig {
            max_per_key: args.pool_size,
            max_total: args.pool_max_total,
            idle_timeout: Duration::from_secs(args.pool_idle_timeout),
            ..PoolConfig::default()
        },
        ws: WsConfig {
            max_sessions: args.ws_max_sessions,
            idle_timeout: (args.ws_idle_timeout > 0)
                .then(|| Duration::from_secs(args.ws_idle_timeout)),
        },
    }) {
        Ok(endpoint) => endpoint,
        Err(e) => {
            eprintln!("neon-local: {e}");
            return ExitCode::FAILURE;
        }
    };

    let mut stdout = std::io::stdout().lock();
    if writeln!(stdout, "{}", endpoint.ready_line())
        .and_then(|()| stdout.flush())
        .is_err()
    {
        eprintln!("neon-local: cannot write the ready line to stdout");
        return ExitCode::FAILURE;
    }
    drop(stdout);
    eprintln!(
        "neon-local: serving {} and ws://{} (PostgreSQL on 127.0.0.1:{})",
        endpoint.sql_url(),
        endpoint.ws_proxy(),
        endpoint.pg_port()
    );

    let signal = signals.wait();
    eprintln!("neon-local: {signal}, shutting down");
    endpoint.shutdown();
    eprintln!("neon-local: stopped");
    ExitCode::SUCCESS
}

/// SIGINT and SIGTERM, caught on a small runtime of their own.
struct Signals {
    runtime: tokio::runtime::Runtime,
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> std::io::Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (interrupt, terminate) = {
            let _context = runtime.enter();
            (
                signal(SignalKind::interrupt())?,
                signal(SignalKind::terminate())?,
            )
        };
        Ok(Signals {
            runtime,
            interrupt,
            terminate,
        })
    }

    /// Blocks until one arrives; returns its name.
    fn wait(mut self) -> &'static str {
        self.runtime.block_on(async {
            tokio::select! {
                _ = self.interrupt.recv() => "SIGINT",
                _ = self.terminate.recv() => "SIGTERM",
            }
        })
    }
}

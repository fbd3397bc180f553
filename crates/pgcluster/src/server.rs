//! Starting the server on a port and waiting until it accepts logins; choosing a free port.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::account::RunAs;
use crate::credentials::Credentials;
use crate::postmaster::Postmaster;
use crate::probe::{ProbeError, Session};
use crate::{ClusterError, HOST};

/// How long `start` waits for the server to accept logins.
pub(crate) const READY_TIMEOUT: Duration = Duration::from_secs(30);

pub(crate) enum StartFailure {
    /// The port was taken between choosing it and the server binding it.
    PortTaken(ClusterError),
    Other(ClusterError),
}

pub(crate) fn start_server(
    postgres: &Path,
    data_dir: &Path,
    port: u16,
    temporary: bool,
    runtime_dir: &Path,
    run_as: RunAs,
    credentials: &Credentials,
) -> Result<Postmaster, StartFailure> {
    let log_path = runtime_dir.join("postgres.log");
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| StartFailure::Other(ClusterError::io("opening the server log", e)))?;
    let log_start = log.metadata().map(|m| m.len()).unwrap_or(0);

    let mut command = Command::new(postgres);
    command
        .arg("-D")
        .arg(data_dir)
        .arg("-p")
        .arg(port.to_string())
        .arg("-k")
        .arg(runtime_dir)
        .args(["-c", "listen_addresses=127.0.0.1"])
        .args(["-c", "unix_socket_permissions=0700"])
        .current_dir(runtime_dir)
        .env("LC_ALL", "C");
    if temporary {
        // Data that is deleted on drop needs no crash safety; this makes writes much cheaper.
        command.args([
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
        ]);
    }
    let mut postmaster = Postmaster::spawn(command, run_as, log).map_err(StartFailure::Other)?;

    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + READY_TIMEOUT;
    let mut last_error: String;
    loop {
        if let Some(status) = postmaster.exit_status() {
            let tail = log_tail(&log_path, log_start);
            let error = ClusterError::Start {
                reason: format!("the server exited ({status}) before accepting connections"),
                log_tail: tail.clone(),
            };
            return Err(if tail.contains("Address already in use") {
                StartFailure::PortTaken(error)
            } else {
                StartFailure::Other(error)
            });
        }
        match Session::connect(
            addr,
            &credentials.user,
            &credentials.password,
            "postgres",
            Duration::from_secs(2),
        ) {
            Ok(_) => return Ok(postmaster),
            // Not listening yet, or "the database system is starting up" (57P03): keep polling.
            Err(ProbeError::Io(e)) => last_error = e.to_string(),
            Err(ProbeError::Server { code, message }) if code == "57P03" => last_error = message,
            Err(other) => {
                postmaster.stop();
                return Err(StartFailure::Other(ClusterError::Start {
                    reason: format!("the server refused our login: {other}"),
                    log_tail: log_tail(&log_path, log_start),
                }));
            }
        }
        if Instant::now() >= deadline {
            postmaster.stop();
            return Err(StartFailure::Other(ClusterError::Start {
                reason: format!(
                    "not accepting connections on {addr} after {}s (last: {last_error})",
                    READY_TIMEOUT.as_secs()
                ),
                log_tail: log_tail(&log_path, log_start),
            }));
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// The last lines the server wrote to its log since `from` (a byte offset).
fn log_tail(path: &Path, from: u64) -> String {
    let mut text = String::new();
    if let Ok(mut file) = File::open(path) {
        if file.seek(SeekFrom::Start(from)).is_ok() {
            let _ = file.read_to_string(&mut text);
        }
    }
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

pub(crate) fn free_port() -> Result<u16, ClusterError> {
    let listener =
        TcpListener::bind((HOST, 0)).map_err(|e| ClusterError::io("finding a free port", e))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| ClusterError::io("finding a free port", e))
}

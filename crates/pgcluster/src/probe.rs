//! A tiny blocking Postgres client: log in, run a simple query, read text rows.
//!
//! The cluster needs exactly three things from a client — "is it really accepting logins yet",
//! "does database X exist", "create it" — and carrying psql (or a whole driver with its runtime)
//! for that would make the crate depend on more than the server binaries themselves.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use bytes::BytesMut;
use fallible_iterator::FallibleIterator;
use postgres_protocol::message::backend::Message;
use postgres_protocol::message::frontend;

use crate::login::{Login, LoginError, Step};

/// Why a probe failed.
#[derive(Debug)]
pub(crate) enum ProbeError {
    /// Connecting, reading or writing failed (the server may not be listening yet).
    Io(io::Error),
    /// The server answered with an `ErrorResponse`.
    Server { code: String, message: String },
    /// The server sent something this client does not handle.
    Protocol(String),
}

impl std::fmt::Display for ProbeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProbeError::Io(e) => write!(f, "{e}"),
            ProbeError::Server { code, message } => write!(f, "{message} (SQLSTATE {code})"),
            ProbeError::Protocol(m) => write!(f, "protocol error: {m}"),
        }
    }
}

impl From<LoginError> for ProbeError {
    fn from(e: LoginError) -> Self {
        ProbeError::Protocol(e.to_string())
    }
}

impl From<io::Error> for ProbeError {
    fn from(e: io::Error) -> Self {
        ProbeError::Io(e)
    }
}

/// One logged-in connection.
pub(crate) struct Session {
    stream: TcpStream,
    read_buf: BytesMut,
}

impl Session {
    /// Connects and authenticates (SCRAM-SHA-256, MD5 or cleartext, whatever the server asks).
    pub(crate) fn connect(
        addr: SocketAddr,
        user: &str,
        password: &str,
        database: &str,
        timeout: Duration,
    ) -> Result<Session, ProbeError> {
        let stream = TcpStream::connect_timeout(&addr, timeout)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        stream.set_nodelay(true)?;
        let mut session = Session {
            stream,
            read_buf: BytesMut::with_capacity(4096),
        };

        let mut out = BytesMut::new();
        frontend::startup_message(
            [
                ("user", user),
                ("database", database),
                ("application_name", "pgcluster"),
            ],
            &mut out,
        )?;
        session.send(&mut out)?;

        let mut login = Login::new(user.as_bytes(), password.as_bytes());
        loop {
            let message = session.receive()?;
            match login.step(&message, &mut out)? {
                Step::Send => {
                    session.send(&mut out)?;
                    continue;
                }
                Step::Read => continue,
                Step::NotMine => {}
            }
            match message {
                Message::ReadyForQuery(_) => return Ok(session),
                Message::ErrorResponse(body) => return Err(server_error(body.fields())),
                Message::ParameterStatus(_)
                | Message::BackendKeyData(_)
                | Message::NoticeResponse(_) => {}
                _ => {
                    return Err(ProbeError::Protocol(
                        "unexpected message during login".into(),
                    ))
                }
            }
        }
    }

    /// Runs one statement with the simple query protocol; returns its rows as text.
    pub(crate) fn simple_query(
        &mut self,
        sql: &str,
    ) -> Result<Vec<Vec<Option<String>>>, ProbeError> {
        let mut out = BytesMut::new();
        frontend::query(sql, &mut out)?;
        self.send(&mut out)?;
        let mut rows = Vec::new();
        let mut error = None;
        loop {
            match self.receive()? {
                Message::DataRow(body) => {
                    let buf = body.buffer();
                    let mut ranges = body.ranges();
                    let mut row = Vec::new();
                    while let Some(range) = ranges.next()? {
                        row.push(range.map(|r| String::from_utf8_lossy(&buf[r]).into_owned()));
                    }
                    rows.push(row);
                }
                Message::ErrorResponse(body) => error = Some(server_error(body.fields())),
                Message::ReadyForQuery(_) => {
                    return match error {
                        Some(e) => Err(e),
                        None => Ok(rows),
                    }
                }
                _ => {}
            }
        }
    }

    fn send(&mut self, out: &mut BytesMut) -> io::Result<()> {
        self.stream.write_all(out)?;
        out.clear();
        Ok(())
    }

    fn receive(&mut self) -> Result<Message, ProbeError> {
        loop {
            if let Some(message) = Message::parse(&mut self.read_buf)? {
                return Ok(message);
            }
            let mut chunk = [0u8; 4096];
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return Err(ProbeError::Io(io::ErrorKind::UnexpectedEof.into()));
            }
            self.read_buf.extend_from_slice(&chunk[..n]);
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let mut out = BytesMut::new();
        frontend::terminate(&mut out);
        let _ = self.stream.write_all(&out);
    }
}

fn server_error(mut fields: postgres_protocol::message::backend::ErrorFields<'_>) -> ProbeError {
    let mut code = String::new();
    let mut message = String::new();
    while let Ok(Some(field)) = fields.next() {
        let value = String::from_utf8_lossy(field.value_bytes()).into_owned();
        match field.type_() {
            b'C' => code = value,
            b'M' => message = value,
            _ => {}
        }
    }
    ProbeError::Server { code, message }
}

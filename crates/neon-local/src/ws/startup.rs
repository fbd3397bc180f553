//! The client's side of a session's start, read from a byte stream without I/O: the first
//! packet (start-up, cancel, or a request for encryption we decline) and the password message,
//! plus the few server messages the tunnel writes itself.
//!
//! WebSocket messages do not follow Postgres message boundaries (the driver coalesces the
//! start-up, password and first query into one, or a client may split a packet anywhere), so
//! every function here takes a complete packet off the front of a buffer or returns `None` to
//! ask for more bytes, leaving anything after the packet — e.g. a pipelined first query — in the
//! buffer for the tunnel to forward.

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// Protocol version 3.0, the start-up packet every current client sends.
const PROTOCOL_3_0: u32 = 3 << 16;
/// The special "protocol versions" of PostgreSQL's `pqcomm.h`.
const CANCEL_REQUEST_CODE: u32 = (1234 << 16) | 5678;
const SSL_REQUEST_CODE: u32 = (1234 << 16) | 5679;
const GSSENC_REQUEST_CODE: u32 = (1234 << 16) | 5680;

/// PostgreSQL's own limit on a start-up packet (`MAX_STARTUP_PACKET_LENGTH`).
pub const MAX_STARTUP_PACKET: usize = 10_000;
/// PostgreSQL's own limit on an authentication response (`PG_MAX_AUTH_TOKEN_LENGTH`).
pub const MAX_PASSWORD_MESSAGE: usize = 65_535;

/// `AuthenticationCleartextPassword`: what Neon's proxy asks a WebSocket client for, and what
/// the driver's default `pipelineConnect: "password"` has already sent unasked.
pub const AUTHENTICATION_CLEARTEXT_PASSWORD: [u8; 9] = [b'R', 0, 0, 0, 8, 0, 0, 0, 3];

/// The answer to an `SSLRequest` or `GSSENCRequest`: "no, go on unencrypted". The WebSocket
/// itself is the transport; Neon's driver sends neither by default (`forceDisablePgSSL`).
pub const ENCRYPTION_DECLINED: &[u8] = b"N";

/// The first packet of a connection.
#[derive(Debug, PartialEq, Eq)]
pub enum FirstPacket {
    /// `SSLRequest` or `GSSENCRequest`: answer [`ENCRYPTION_DECLINED`]; the real first packet
    /// follows.
    EncryptionRequest,
    /// `CancelRequest` for another session's running query. `raw` is the packet as received,
    /// to be passed on unchanged.
    Cancel {
        /// The backend's process id.
        process_id: i32,
        /// The 16 bytes to send to the server.
        raw: Bytes,
    },
    /// A protocol 3 start-up message.
    Startup(StartupPacket),
}

/// A start-up message: its parameters, and the packet as received (passed to the server
/// unchanged, so every parameter — `application_name`, `options`, GUCs — reaches Postgres).
#[derive(Debug, PartialEq, Eq)]
pub struct StartupPacket {
    /// Name/value pairs in the order sent.
    pub params: Vec<(String, String)>,
    /// The whole packet, length word included.
    pub raw: Bytes,
}

impl StartupPacket {
    /// A parameter's value.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The role name (required by the protocol).
    pub fn user(&self) -> Option<&str> {
        self.param("user").filter(|u| !u.is_empty())
    }

    /// The database: the `database` parameter, defaulting to the user name as in Postgres.
    pub fn database(&self) -> &str {
        match self.param("database").filter(|d| !d.is_empty()) {
            Some(database) => database,
            None => self.user().unwrap_or_default(),
        }
    }
}

/// A packet the tunnel cannot accept. Each becomes a `FATAL` error to the client (see
/// [`StartupError::sqlstate`]) and the end of the session, as Postgres itself would answer.
#[derive(Debug, PartialEq, Eq)]
pub enum StartupError {
    /// A length outside what Postgres allows.
    BadLength(usize),
    /// A start-up packet of an unknown protocol.
    UnsupportedProtocol(u32),
    /// The parameters are not NUL-terminated name/value pairs in UTF-8.
    Malformed(&'static str),
    /// After the password was asked for, something other than a password message came.
    ExpectedPassword(u8),
}

impl StartupError {
    /// The SQLSTATE Postgres uses for the same mistake.
    pub fn sqlstate(&self) -> &'static str {
        match self {
            StartupError::UnsupportedProtocol(_) => "0A000", // feature_not_supported
            _ => "08P01",                                    // protocol_violation
        }
    }
}

impl std::fmt::Display for StartupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartupError::BadLength(len) => write!(f, "invalid length of startup packet: {len}"),
            StartupError::UnsupportedProtocol(code) => write!(
                f,
                "unsupported frontend protocol {}.{}: this endpoint supports protocol 3.0",
                code >> 16,
                code & 0xffff
            ),
            StartupError::Malformed(what) => write!(f, "invalid startup packet: {what}"),
            StartupError::ExpectedPassword(tag) => write!(
                f,
                "expected a password response, got message type {:?}",
                char::from(*tag)
            ),
        }
    }
}

/// Takes the first packet off `buf`, or returns `None` if it is not complete yet.
pub fn take_first_packet(buf: &mut BytesMut) -> Result<Option<FirstPacket>, StartupError> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let len = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    // Refuse a bad length before waiting for bytes that may never come.
    if !(8..=MAX_STARTUP_PACKET).contains(&len) {
        return Err(StartupError::BadLength(len));
    }
    if buf.len() < len {
        return Ok(None);
    }
    let raw = buf.split_to(len).freeze();
    let code = u32::from_be_bytes([raw[4], raw[5], raw[6], raw[7]]);
    match code {
        SSL_REQUEST_CODE | GSSENC_REQUEST_CODE if len == 8 => {
            Ok(Some(FirstPacket::EncryptionRequest))
        }
        CANCEL_REQUEST_CODE if len == 16 => Ok(Some(FirstPacket::Cancel {
            process_id: i32::from_be_bytes([raw[8], raw[9], raw[10], raw[11]]),
            raw,
        })),
        SSL_REQUEST_CODE | GSSENC_REQUEST_CODE | CANCEL_REQUEST_CODE => {
            Err(StartupError::BadLength(len))
        }
        // Any 3.x: the server negotiates the minor version itself (NegotiateProtocolVersion,
        // passed through like every other message).
        code if code >> 16 == PROTOCOL_3_0 >> 16 => {
            let params = parse_params(&raw[8..])?;
            Ok(Some(FirstPacket::Startup(StartupPacket { params, raw })))
        }
        code => Err(StartupError::UnsupportedProtocol(code)),
    }
}

/// `name\0value\0 ... \0`: the start-up parameters.
fn parse_params(mut body: &[u8]) -> Result<Vec<(String, String)>, StartupError> {
    let mut params = Vec::new();
    loop {
        let name = take_cstr(&mut body)?;
        if name.is_empty() {
            if !body.is_empty() {
                return Err(StartupError::Malformed("bytes after the final terminator"));
            }
            return Ok(params);
        }
        let value = take_cstr(&mut body)?;
        params.push((name, value));
    }
}

fn take_cstr(body: &mut &[u8]) -> Result<String, StartupError> {
    let end = body
        .iter()
        .position(|&b| b == 0)
        .ok_or(StartupError::Malformed("missing terminator"))?;
    let text = std::str::from_utf8(&body[..end])
        .map_err(|_| StartupError::Malformed("a parameter is not UTF-8"))?
        .to_owned();
    *body = &body[end + 1..];
    Ok(text)
}

/// Takes a `PasswordMessage` off `buf` and returns the password (without its terminator), or
/// `None` if it is not complete yet.
pub fn take_password(buf: &mut BytesMut) -> Result<Option<Vec<u8>>, StartupError> {
    if buf.len() < 5 {
        return Ok(None);
    }
    if buf[0] != b'p' {
        return Err(StartupError::ExpectedPassword(buf[0]));
    }
    let len = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize;
    if !(5..=MAX_PASSWORD_MESSAGE).contains(&len) {
        return Err(StartupError::BadLength(len));
    }
    if buf.len() < 1 + len {
        return Ok(None);
    }
    buf.advance(5);
    let mut body = buf.split_to(len - 4).to_vec();
    // A password is one C string: exactly one NUL, at the end.
    if body.pop() != Some(0) || body.contains(&0) {
        return Err(StartupError::Malformed(
            "the password message is not one C string",
        ));
    }
    Ok(Some(body))
}

/// An `ErrorResponse` with severity `FATAL`: what Postgres sends before closing a connection it
/// refuses, and what the driver turns into a rejected `connect()` with `code` and `message`.
pub fn fatal(sqlstate: &str, message: &str) -> Bytes {
    let mut body = BytesMut::new();
    for (field, value) in [
        (b'S', "FATAL"),
        (b'V', "FATAL"),
        (b'C', sqlstate),
        (b'M', message),
    ] {
        body.put_u8(field);
        // A NUL would end the field early; our messages contain none, but be exact anyway.
        body.put_slice(value.replace('\0', "").as_bytes());
        body.put_u8(0);
    }
    body.put_u8(0);
    let mut message = BytesMut::with_capacity(body.len() + 5);
    message.put_u8(b'E');
    message.put_u32(body.len() as u32 + 4);
    message.put_slice(&body);
    message.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BufMut;

    fn startup(params: &[(&str, &str)]) -> Vec<u8> {
        let mut body = BytesMut::new();
        body.put_u32(PROTOCOL_3_0);
        for (n, v) in params {
            body.put_slice(n.as_bytes());
            body.put_u8(0);
            body.put_slice(v.as_bytes());
            body.put_u8(0);
        }
        body.put_u8(0);
        let mut packet = (body.len() as u32 + 4).to_be_bytes().to_vec();
        packet.extend_from_slice(&body);
        packet
    }

    fn password(pw: &[u8]) -> Vec<u8> {
        let mut m = vec![b'p'];
        m.extend_from_slice(&(pw.len() as u32 + 5).to_be_bytes());
        m.extend_from_slice(pw);
        m.push(0);
        m
    }

    #[test]
    fn startup_password_and_pipelined_query_split_anywhere() {
        let query = b"Q\0\0\0\x0dselect 1\0";
        let mut stream = startup(&[
            ("user", "ada"),
            ("database", "db"),
            ("application_name", "x"),
        ]);
        stream.extend(password(b"s3cret"));
        stream.extend_from_slice(query);
        // Every split point, as if each byte range arrived in its own WebSocket message.
        for cut in 0..=stream.len() {
            let mut buf = BytesMut::new();
            let mut first = None;
            let mut pw = None;
            for chunk in [&stream[..cut], &stream[cut..]] {
                buf.extend_from_slice(chunk);
                if first.is_none() {
                    first = take_first_packet(&mut buf).unwrap();
                }
                if first.is_some() && pw.is_none() {
                    pw = take_password(&mut buf).unwrap();
                }
            }
            let Some(FirstPacket::Startup(packet)) = first else {
                panic!("cut {cut}: no start-up packet");
            };
            assert_eq!(packet.user(), Some("ada"));
            assert_eq!(packet.database(), "db");
            assert_eq!(packet.param("application_name"), Some("x"));
            assert_eq!(&packet.raw[..], &stream[..packet.raw.len()]);
            assert_eq!(pw.as_deref(), Some(&b"s3cret"[..]), "cut {cut}");
            assert_eq!(
                &buf[..],
                query,
                "cut {cut}: the pipelined query stays for the tunnel"
            );
        }
    }

    #[test]
    fn database_defaults_to_the_user() {
        let mut buf = BytesMut::from(&startup(&[("user", "ada")])[..]);
        let Some(FirstPacket::Startup(packet)) = take_first_packet(&mut buf).unwrap() else {
            panic!("no start-up packet");
        };
        assert_eq!(packet.database(), "ada");
        let mut buf = BytesMut::from(&startup(&[("database", "d")])[..]);
        let Some(FirstPacket::Startup(packet)) = take_first_packet(&mut buf).unwrap() else {
            panic!("no start-up packet");
        };
        assert_eq!(packet.user(), None);
    }

    #[test]
    fn encryption_requests_and_cancel() {
        let mut buf = BytesMut::new();
        buf.put_u32(8);
        buf.put_u32(SSL_REQUEST_CODE);
        buf.put_u32(8);
        buf.put_u32(GSSENC_REQUEST_CODE);
        buf.put_u32(16);
        buf.put_u32(CANCEL_REQUEST_CODE);
        buf.put_i32(4242);
        buf.put_i32(-7);
        assert_eq!(
            take_first_packet(&mut buf),
            Ok(Some(FirstPacket::EncryptionRequest))
        );
        assert_eq!(
            take_first_packet(&mut buf),
            Ok(Some(FirstPacket::EncryptionRequest))
        );
        match take_first_packet(&mut buf) {
            Ok(Some(FirstPacket::Cancel { process_id, raw })) => {
                assert_eq!(process_id, 4242);
                assert_eq!(raw.len(), 16);
            }
            other => panic!("{other:?}"),
        }
        assert!(buf.is_empty());
    }

    #[test]
    fn bad_packets_are_refused_early() {
        // A huge declared length is refused before its bytes arrive.
        let mut buf = BytesMut::from(&[0u8, 1, 0, 0][..]);
        assert_eq!(
            take_first_packet(&mut buf),
            Err(StartupError::BadLength(65536))
        );
        let mut buf = BytesMut::from(&[0u8, 0, 0, 4][..]);
        assert_eq!(take_first_packet(&mut buf), Err(StartupError::BadLength(4)));
        // Protocol 2 and an unknown code.
        let mut buf = BytesMut::new();
        buf.put_u32(8);
        buf.put_u32(2 << 16);
        let err = take_first_packet(&mut buf).unwrap_err();
        assert_eq!(err.sqlstate(), "0A000");
        // A cancel request of the wrong size.
        let mut buf = BytesMut::new();
        buf.put_u32(12);
        buf.put_u32(CANCEL_REQUEST_CODE);
        buf.put_u32(1);
        assert_eq!(
            take_first_packet(&mut buf),
            Err(StartupError::BadLength(12))
        );
        // Unterminated parameters.
        let mut packet = startup(&[("user", "ada")]);
        packet.pop();
        packet.pop();
        let len = packet.len() as u32;
        packet[..4].copy_from_slice(&len.to_be_bytes());
        let mut buf = BytesMut::from(&packet[..]);
        assert!(matches!(
            take_first_packet(&mut buf),
            Err(StartupError::Malformed(_))
        ));
    }

    #[test]
    fn only_a_password_message_follows() {
        let mut buf = BytesMut::from(&b"Q\0\0\0\x0dselect 1\0"[..]);
        assert_eq!(
            take_password(&mut buf),
            Err(StartupError::ExpectedPassword(b'Q'))
        );
        let mut buf = BytesMut::from(&b"p\0\0\0\x08a\0b\0"[..]);
        assert!(matches!(
            take_password(&mut buf),
            Err(StartupError::Malformed(_))
        ));
        let mut buf = BytesMut::from(&b"p\0\x01\0\0"[..]);
        assert_eq!(take_password(&mut buf), Err(StartupError::BadLength(65536)));
        let mut buf = BytesMut::from(&password(b"")[..]);
        assert_eq!(take_password(&mut buf), Ok(Some(Vec::new())));
    }

    #[test]
    fn fatal_is_a_well_formed_error_response() {
        let mut message = BytesMut::from(&fatal("53300", "full")[..]);
        match postgres_protocol::message::backend::Message::parse(&mut message) {
            Ok(Some(postgres_protocol::message::backend::Message::ErrorResponse(body))) => {
                use fallible_iterator::FallibleIterator;
                let fields: Vec<(u8, String)> = body
                    .fields()
                    .map(|f| {
                        Ok((
                            f.type_(),
                            String::from_utf8_lossy(f.value_bytes()).into_owned(),
                        ))
                    })
                    .collect()
                    .unwrap();
                assert!(fields.contains(&(b'C', "53300".into())));
                assert!(fields.contains(&(b'M', "full".into())));
                assert!(fields.contains(&(b'S', "FATAL".into())));
            }
            _ => panic!("not an ErrorResponse"),
        }
        assert!(message.is_empty());
    }
}

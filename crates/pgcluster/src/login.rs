//! The client side of Postgres password authentication, without I/O.
//!
//! Both Postgres clients in this workspace — the blocking probe here and
//! neon-local's async connections — feed each backend message of the login
//! phase to [`Login::step`], send what it wrote when it says so, and handle
//! every message it does not claim (parameter status, backend key data,
//! ready-for-query, errors) themselves. Cleartext, MD5 and SCRAM-SHA-256 are
//! supported; SCRAM runs without channel binding (no TLS to a local server)
//! and checks that the server, too, knew the password.

use bytes::BytesMut;
use fallible_iterator::FallibleIterator;
use postgres_protocol::authentication::md5_hash;
use postgres_protocol::authentication::sasl::{ChannelBinding, ScramSha256, SCRAM_SHA_256};
use postgres_protocol::message::backend::Message;
use postgres_protocol::message::frontend;

/// What the caller does after [`Login::step`].
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// An authentication message answered into `out`: send it, read on.
    Send,
    /// An authentication message that needs no answer: read on.
    Read,
    /// Not an authentication message: the caller's to handle.
    NotMine,
}

/// Why a login cannot go on.
#[derive(Debug, PartialEq, Eq)]
pub enum LoginError {
    /// The server asked for something unsupported, broke the SCRAM
    /// exchange, or could not prove it knows the password.
    Protocol(String),
    /// The password cannot be put in a message (it contains a NUL byte).
    Encode(String),
}

impl std::fmt::Display for LoginError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoginError::Protocol(m) => write!(f, "login: {m}"),
            LoginError::Encode(m) => write!(f, "login: cannot encode the password: {m}"),
        }
    }
}

impl std::error::Error for LoginError {}

/// One login's authentication state.
pub struct Login<'a> {
    user: &'a [u8],
    password: &'a [u8],
    scram: Option<ScramSha256>,
}

impl<'a> Login<'a> {
    /// A login as `user` with `password`.
    pub fn new(user: &'a [u8], password: &'a [u8]) -> Login<'a> {
        Login {
            user,
            password,
            scram: None,
        }
    }

    /// Handles one backend message, writing any answer into `out`.
    pub fn step(&mut self, message: &Message, out: &mut BytesMut) -> Result<Step, LoginError> {
        let encode = |e: std::io::Error| LoginError::Encode(e.to_string());
        let protocol = |e: std::io::Error| LoginError::Protocol(e.to_string());
        match message {
            Message::AuthenticationOk => Ok(Step::Read),
            Message::AuthenticationCleartextPassword => {
                frontend::password_message(self.password, out).map_err(encode)?;
                Ok(Step::Send)
            }
            Message::AuthenticationMd5Password(body) => {
                let hash = md5_hash(self.user, self.password, body.salt());
                frontend::password_message(hash.as_bytes(), out).map_err(encode)?;
                Ok(Step::Send)
            }
            Message::AuthenticationSasl(body) => {
                let mut mechanisms = body.mechanisms();
                let mut offered = false;
                while let Some(mechanism) = mechanisms.next().map_err(protocol)? {
                    offered |= mechanism == SCRAM_SHA_256;
                }
                if !offered {
                    return Err(LoginError::Protocol(
                        "the server offers no SCRAM-SHA-256 authentication".into(),
                    ));
                }
                let state = ScramSha256::new(self.password, ChannelBinding::unsupported());
                frontend::sasl_initial_response(SCRAM_SHA_256, state.message(), out)
                    .map_err(encode)?;
                self.scram = Some(state);
                Ok(Step::Send)
            }
            Message::AuthenticationSaslContinue(body) => {
                let state = self
                    .scram
                    .as_mut()
                    .ok_or_else(|| LoginError::Protocol("unexpected SASL continue".into()))?;
                state.update(body.data()).map_err(protocol)?;
                frontend::sasl_response(state.message(), out).map_err(encode)?;
                Ok(Step::Send)
            }
            Message::AuthenticationSaslFinal(body) => {
                let state = self
                    .scram
                    .as_mut()
                    .ok_or_else(|| LoginError::Protocol("unexpected SASL final".into()))?;
                state.finish(body.data()).map_err(protocol)?;
                Ok(Step::Read)
            }
            Message::AuthenticationGss
            | Message::AuthenticationGssContinue(_)
            | Message::AuthenticationKerberosV5
            | Message::AuthenticationScmCredential
            | Message::AuthenticationSspi => Err(LoginError::Protocol(
                "unsupported authentication method requested by the server".into(),
            )),
            _ => Ok(Step::NotMine),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BufMut;

    /// Parses one backend message from its type byte and body.
    fn backend(tag: u8, body: &[u8]) -> Message {
        let mut buf = BytesMut::new();
        buf.put_u8(tag);
        buf.put_i32(body.len() as i32 + 4);
        buf.put_slice(body);
        Message::parse(&mut buf)
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("not a message: {tag} {body:?}"))
    }

    fn auth(code: i32, rest: &[u8]) -> Message {
        let mut body = code.to_be_bytes().to_vec();
        body.extend_from_slice(rest);
        backend(b'R', &body)
    }

    #[test]
    fn cleartext_and_md5_answer_with_the_password() {
        let mut login = Login::new(b"ada", b"secret");
        let mut out = BytesMut::new();
        assert_eq!(login.step(&auth(3, &[]), &mut out), Ok(Step::Send));
        assert_eq!(&out[..], b"p\0\0\0\x0bsecret\0");
        out.clear();
        assert_eq!(login.step(&auth(5, b"salt"), &mut out), Ok(Step::Send));
        let md5 = md5_hash(b"ada", b"secret", *b"salt");
        assert_eq!(&out[5..out.len() - 1], md5.as_bytes());
        out.clear();
        assert_eq!(login.step(&auth(0, &[]), &mut out), Ok(Step::Read));
        assert!(out.is_empty());
    }

    #[test]
    fn scram_starts_only_when_offered() {
        let mut out = BytesMut::new();
        let mut login = Login::new(b"ada", b"secret");
        assert_eq!(
            login.step(&auth(10, b"SCRAM-SHA-256\0\0"), &mut out),
            Ok(Step::Send)
        );
        assert!(out.starts_with(b"p"));
        assert!(out.windows(13).any(|w| w == b"SCRAM-SHA-256"));
        let mut other = Login::new(b"ada", b"secret");
        assert!(matches!(
            other.step(&auth(10, b"SCRAM-SHA-256-PLUS\0\0"), &mut BytesMut::new()),
            Err(LoginError::Protocol(_))
        ));
    }

    #[test]
    fn out_of_order_and_unsupported_requests_are_refused() {
        let mut login = Login::new(b"ada", b"secret");
        let mut out = BytesMut::new();
        assert!(matches!(
            login.step(&auth(11, b"r=abc"), &mut out),
            Err(LoginError::Protocol(_))
        ));
        assert!(matches!(
            login.step(&auth(12, b"v=abc"), &mut out),
            Err(LoginError::Protocol(_))
        ));
        assert!(matches!(
            login.step(&auth(7, &[]), &mut out),
            Err(LoginError::Protocol(_))
        ));
        assert!(matches!(
            Login::new(b"ada", b"bad\0password").step(&auth(3, &[]), &mut out),
            Err(LoginError::Encode(_))
        ));
    }

    #[test]
    fn other_messages_are_the_callers() {
        let mut login = Login::new(b"ada", b"secret");
        let ready = backend(b'Z', b"I");
        assert_eq!(login.step(&ready, &mut BytesMut::new()), Ok(Step::NotMine));
    }
}

//! The HTTP side of a WebSocket session: checking the upgrade request on `/v1` or `/v2`,
//! answering `101 Switching Protocols`, and handing the upgraded connection to a session task.
//!
//! Refusals the driver's user should be able to read (the `address` names another database,
//! all sessions are taken) are not HTTP errors: the driver reports those as a bare "Unexpected
//! server response: 400". The upgrade goes through and the session answers the start-up with a
//! Postgres `FATAL` error instead, which the driver shows with its code and message, as it
//! would show Postgres's own "too many clients".

use std::net::IpAddr;
use std::sync::Arc;

use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{
    HeaderValue, CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_VERSION,
    UPGRADE,
};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

use super::session::{self, Admission};
use super::sessions::{NoPlace, Sessions};
use crate::error::EndpointError;
use crate::http::HttpResponse;
use crate::Config;

/// The paths Neon's driver opens its WebSocket on: `/v2` by default (`wsProxy: host =>
/// host + "/v2"`), `/v1` in the documentation of Neon's `wsproxy`.
pub const PATHS: [&str; 2] = ["/v1", "/v2"];

/// Whether the request asks for a WebSocket (`Upgrade: websocket`).
pub fn is_websocket(request: &Request<Incoming>) -> bool {
    header_has_token(request, UPGRADE, "websocket")
}

/// Accepts a WebSocket upgrade on `/v1` or `/v2` and starts its session once hyper hands the
/// connection over. Errors are malformed upgrade requests only (see the module docs).
pub fn accept(
    mut request: Request<Incoming>,
    config: &Arc<Config>,
    sessions: &Arc<Sessions>,
) -> Result<HttpResponse, EndpointError> {
    if request.method() != Method::GET || !PATHS.contains(&request.uri().path()) {
        return Err(EndpointError::client(
            "WebSocket sessions are opened with GET /v1 or GET /v2",
        ));
    }
    if !header_has_token(&request, CONNECTION, "upgrade") {
        return Err(EndpointError::client(
            "a WebSocket upgrade needs the header Connection: Upgrade",
        ));
    }
    if request
        .headers()
        .get(SEC_WEBSOCKET_VERSION)
        .is_none_or(|v| v.as_bytes() != b"13")
    {
        return Err(EndpointError::client(
            "only WebSocket version 13 (RFC 6455) is supported",
        ));
    }
    let key = match request.headers().get(SEC_WEBSOCKET_KEY) {
        Some(key) if !key.is_empty() => derive_accept_key(key.as_bytes()),
        _ => {
            return Err(EndpointError::client(
                "a WebSocket upgrade needs a Sec-WebSocket-Key header",
            ))
        }
    };

    let admission = match check_address(request.uri().query(), &config.upstream) {
        Err(message) => Admission::Refused {
            sqlstate: "08004", // sqlserver_rejected_establishment_of_sqlconnection
            message,
        },
        Ok(()) => match sessions.try_admit() {
            Ok(permit) => Admission::Admitted(permit),
            Err(NoPlace::ShuttingDown) => Admission::Refused {
                sqlstate: "57P01", // admin_shutdown
                message: "neon-local is shutting down".into(),
            },
            Err(NoPlace::Full) => Admission::Refused {
                sqlstate: "53300", // too_many_connections, as Postgres says it
                message: format!(
                    "too many WebSocket sessions: neon-local allows {} at once \
                     (--ws-max-sessions); close idle clients or lower the pool size",
                    sessions.max()
                ),
            },
        },
    };

    let on_upgrade = hyper::upgrade::on(&mut request);
    let config = Arc::clone(config);
    let shutdown = sessions.shutdown_signal();
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => {
                session::run(TokioIo::new(upgraded), admission, config, shutdown).await;
            }
            // The client went away during the handshake: nothing was opened.
            Err(e) => {
                if !config.quiet {
                    eprintln!("neon-local: WebSocket upgrade failed: {e}");
                }
            }
        }
    });

    let mut response = Response::new(Full::default());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(accept) = HeaderValue::from_str(&key) {
        headers.insert(SEC_WEBSOCKET_ACCEPT, accept);
    }
    Ok(response)
}

/// Whether a comma-separated header contains `token` (case-insensitively), e.g. `Connection:
/// keep-alive, Upgrade`.
fn header_has_token(
    request: &Request<Incoming>,
    name: hyper::header::HeaderName,
    token: &str,
) -> bool {
    request.headers().get_all(name).iter().any(|value| {
        value.to_str().is_ok_and(|v| {
            v.split(',')
                .any(|part| part.trim().eq_ignore_ascii_case(token))
        })
    })
}

/// Checks the `address=host:port` query parameter (appended by the driver when `wsProxy` is a
/// string) against the one database this endpoint serves. The address is only compared, never
/// connected to: a session always goes to `upstream`. Without the parameter (a `wsProxy`
/// function, or the default `host + "/v2"`) the session goes there too.
///
/// Matches: the same port, and the same host or two loopback names (`localhost`, `127.0.0.1`
/// and `::1` all reach a server listening on loopback from here).
pub fn check_address(query: Option<&str>, upstream: &str) -> Result<(), String> {
    let Some(address) = query
        .unwrap_or_default()
        .split('&')
        .find_map(|pair| pair.strip_prefix("address="))
    else {
        return Ok(());
    };
    let address = percent_decode(address);
    let refuse = || {
        format!(
            "the address {address:?} is not this endpoint's database: neon-local serves only \
             {upstream} (the host and port of its DATABASE_URL)"
        )
    };
    let (host, port) = split_host_port(&address).ok_or_else(refuse)?;
    let (up_host, up_port) = split_host_port(upstream).ok_or_else(refuse)?;
    let same_host =
        host.eq_ignore_ascii_case(up_host) || (is_loopback(host) && is_loopback(up_host));
    if port == up_port && same_host {
        Ok(())
    } else {
        Err(refuse())
    }
}

/// `host:port`, `[v6]:port`, or an unbracketed `v6:port` (the driver writes `${host}:${port}`).
fn split_host_port(address: &str) -> Option<(&str, u16)> {
    let (host, port) = address.rsplit_once(':')?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    Some((host, port.parse().ok()?))
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// `%XX` escapes (a `wsProxy` function may encode the address); anything malformed is kept
/// as is and then fails the comparison.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_must_name_the_local_database() {
        let up = "127.0.0.1:5444";
        for ok in [
            None,
            Some(""),
            Some("address=127.0.0.1:5444"),
            Some("address=localhost:5444"),
            Some("address=LOCALHOST:5444"),
            Some("address=::1:5444"),
            Some("address=[::1]:5444"),
            Some("x=1&address=127.0.0.1%3A5444"),
        ] {
            assert_eq!(check_address(ok, up), Ok(()), "{ok:?}");
        }
        for refused in [
            "address=127.0.0.1:5432",
            "address=10.0.0.5:5444",
            "address=ep-cool-name.neon.tech:5444",
            "address=example.com:443",
            "address=localhost",
            "address=",
        ] {
            let err = check_address(Some(refused), up).unwrap_err();
            assert!(err.contains("127.0.0.1:5444"), "{refused}: {err}");
        }
        // A non-loopback upstream matches only itself.
        assert_eq!(
            check_address(Some("address=db.local:5432"), "db.local:5432"),
            Ok(())
        );
        assert!(check_address(Some("address=localhost:5432"), "db.local:5432").is_err());
    }

    #[test]
    fn percent_decoding_is_lenient() {
        assert_eq!(percent_decode("a%3Ab%5b"), "a:b[");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}

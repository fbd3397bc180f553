//! Where a client sends SQL-over-HTTP requests: `NEON_SQL_URL`, checked, or
//! the endpoint derived from the connection string's host the way Neon's
//! serverless driver derives it (`fetchEndpoint`: the first DNS label becomes
//! `api`, path `/sql`).
//!
//! Every request carries the connection string, password included, in the
//! `Neon-Connection-String` header, so the endpoint must be one that may see
//! it: deriving is limited to Neon's own domains (for any other host,
//! `api.<its parent domain>` may belong to someone else entirely), and an
//! explicit endpoint must be `https`, except on the loopback interface where
//! nothing crosses a network.

use crate::error::ApiError;
use std::net::{Ipv4Addr, Ipv6Addr};

/// Domains whose hosts are Neon's and whose `api.` sibling is Neon's
/// SQL-over-HTTP proxy: `neon.tech` (every region and cloud, e.g.
/// `ep-x.us-east-2.aws.neon.tech`, `ep-x.eastus2.azure.neon.tech`) and
/// `neon.build` (Neon's own staging). Other Postgres hosts that speak the
/// protocol (a self-hosted proxy, Vercel Postgres' legacy
/// `*.vercel-storage.com`) need `NEON_SQL_URL`.
pub const NEON_DOMAINS: &[&str] = &["neon.tech", "neon.build"];

/// The SQL-over-HTTP URL: `neon_sql_url` when set (checked by
/// [`check_sql_url`]), else derived from `host`, the host of the connection
/// string read from `setting` (named in the error, never its value).
pub fn sql_url(neon_sql_url: Option<&str>, host: &str, setting: &str) -> Result<String, ApiError> {
    match neon_sql_url.map(str::trim).filter(|s| !s.is_empty()) {
        Some(url) => {
            check_sql_url(url)?;
            Ok(url.to_string())
        }
        None => derive_sql_url(host).ok_or_else(|| {
            ApiError::config(
                "NEON_SQL_URL",
                &format!(
                    "is not set, and {setting}'s host is not a Neon host (*.neon.tech) it could be \
                     derived from; set NEON_SQL_URL to the SQL-over-HTTP endpoint (the connection \
                     string, password included, is sent there)"
                ),
            )
        }),
    }
}

/// Checks an explicit endpoint: an `https://` URL, or `http://` to a
/// loopback address (`127.0.0.0/8`, `[::1]`, `localhost`) only. Anything a
/// URL parser could read differently from this check (credentials, spaces or
/// control characters, an unparsable port) is refused too.
pub fn check_sql_url(url: &str) -> Result<(), ApiError> {
    let bad = |problem: &str| ApiError::config("NEON_SQL_URL", problem);
    if url.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(bad("contains spaces or control characters"));
    }
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| bad("is not an https URL"))?;
    let https = scheme.eq_ignore_ascii_case("https");
    if !https && !scheme.eq_ignore_ascii_case("http") {
        return Err(bad("is not an https URL"));
    }
    // WHATWG URL parsing ends the authority at a backslash too, for http(s).
    let authority = rest.split(['/', '\\', '?', '#']).next().unwrap_or("");
    if authority.contains('@') {
        return Err(bad("must not contain credentials"));
    }
    let (host, port) = match authority.strip_prefix('[') {
        Some(bracketed) => {
            let (host, after) = bracketed
                .split_once(']')
                .ok_or_else(|| bad("has an unterminated IPv6 address"))?;
            (host, after)
        }
        None => match authority.find(':') {
            Some(colon) => (&authority[..colon], &authority[colon..]),
            None => (authority, ""),
        },
    };
    if host.is_empty() {
        return Err(bad("has no host"));
    }
    let port_ok = match port.strip_prefix(':') {
        Some(digits) => digits.bytes().all(|b| b.is_ascii_digit()) && digits.parse::<u16>().is_ok(),
        None => port.is_empty(),
    };
    if !port_ok {
        return Err(bad("has an invalid port"));
    }
    if https || is_loopback(host, authority.starts_with('[')) {
        return Ok(());
    }
    Err(bad(
        "must be https (plain http only to a loopback address: 127.0.0.0/8, [::1], localhost)",
    ))
}

/// Whether `host` (brackets removed when `bracketed`) names the loopback interface.
fn is_loopback(host: &str, bracketed: bool) -> bool {
    if bracketed {
        return host.parse::<Ipv6Addr>().is_ok_and(|ip| ip.is_loopback());
    }
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
}

/// The endpoint Neon's driver uses for `host` (`ep-x.us-east-2.aws.neon.tech`
/// → `https://api.us-east-2.aws.neon.tech/sql`), only when `host` is a DNS
/// name under one of [`NEON_DOMAINS`] and so is the derived one.
pub fn derive_sql_url(host: &str) -> Option<String> {
    let host = host.to_ascii_lowercase();
    let labels_ok = host.split('.').all(|label| {
        !label.is_empty()
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    });
    let (_, parent) = host.split_once('.')?;
    let under_neon = NEON_DOMAINS
        .iter()
        .any(|domain| parent == *domain || parent.ends_with(&format!(".{domain}")));
    (labels_ok && under_neon).then(|| format!("https://api.{parent}/sql"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derives_only_for_neon_hosts() {
        for (host, url) in [
            (
                "ep-cool-1.us-east-2.aws.neon.tech",
                "https://api.us-east-2.aws.neon.tech/sql",
            ),
            (
                "ep-cool-1-pooler.eastus2.azure.neon.tech",
                "https://api.eastus2.azure.neon.tech/sql",
            ),
            (
                "EP-X.US-EAST-2.AWS.NEON.TECH",
                "https://api.us-east-2.aws.neon.tech/sql",
            ),
            (
                "ep-x.us-east-2.aws.neon.build",
                "https://api.us-east-2.aws.neon.build/sql",
            ),
            ("ep-x.neon.tech", "https://api.neon.tech/sql"),
        ] {
            assert_eq!(derive_sql_url(host).as_deref(), Some(url), "{host}");
        }
        for host in [
            "db.example.com",
            "ep-x.us-east-1.postgres.vercel-storage.com",
            "neon.tech",
            "tech",
            "ep-x.neon.tech.evil.com",
            "ep-x.evilneon.tech",
            "ep-x.evil.com\\.neon.tech",
            "ep-x.evil.com#.neon.tech",
            "ep-x..neon.tech",
            "ep-x.neon.tech.",
            "127.0.0.1",
            "::1",
            "localhost",
        ] {
            assert_eq!(derive_sql_url(host), None, "{host}");
        }
    }

    #[test]
    fn an_explicit_endpoint_is_https_or_loopback() {
        for ok in [
            "https://api.us-east-2.aws.neon.tech/sql",
            "HTTPS://proxy.example.com:8443/sql",
            "http://127.0.0.1:4444/sql",
            "http://127.8.9.10/sql",
            "http://localhost:4444/sql",
            "http://LOCALHOST/sql",
            "http://[::1]:4444/sql",
        ] {
            assert!(check_sql_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://proxy.example.com/sql",
            "http://10.0.0.1/sql",
            "http://128.0.0.1/sql",
            "http://[::2]/sql",
            "http://[::ffff:8.8.8.8]/sql",
            "http://localhost.evil.com/sql",
            "http://127.0.0.1.evil.com/sql",
            "http://evil.com\\@127.0.0.1/sql",
            "http://evil.com@127.0.0.1/sql",
            "http://127.0.0.1@evil.com/sql",
            "http://127.0.0.1:80@evil.com/sql",
            "http://127.0.0.1\t.evil.com/sql",
            "http://127.0.0.1:x/sql",
            "http://[::1/sql",
            "http:///sql",
            "ftp://127.0.0.1/sql",
            "127.0.0.1:4444/sql",
        ] {
            let e = check_sql_url(bad).unwrap_err();
            assert_eq!(e.status(), 500, "{bad}");
            assert_eq!(
                e.details,
                Some(serde_json::json!({"setting": "NEON_SQL_URL"})),
                "{bad}"
            );
        }
    }

    #[test]
    fn without_an_endpoint_a_foreign_host_is_a_config_error() {
        assert_eq!(
            sql_url(None, "ep-a.us-east-2.aws.neon.tech", "DATABASE_URL").unwrap(),
            "https://api.us-east-2.aws.neon.tech/sql"
        );
        assert_eq!(
            sql_url(
                Some(" http://127.0.0.1:1/sql "),
                "db.example.com",
                "DATABASE_URL"
            )
            .unwrap(),
            "http://127.0.0.1:1/sql"
        );
        let e = sql_url(Some(""), "db.example.com", "DATABASE_URL").unwrap_err();
        assert_eq!(e.code, crate::error::ErrorCode::ConfigInvalid);
        assert!(e.message.contains("NEON_SQL_URL") && e.message.contains("DATABASE_URL"));
        assert_eq!(
            e.details,
            Some(serde_json::json!({"setting": "NEON_SQL_URL"}))
        );
    }
}

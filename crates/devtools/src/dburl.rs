//! Postgres connection URLs: validation, password redaction, and the choice between plain TCP
//! and TLS.
//!
//! Everything here is pure so it is unit-tested without a database. Nothing in this module
//! ever puts a password into a message: errors name the problem, and [`DatabaseUrl::redacted`]
//! is the only form of the URL that is ever printed.

use std::ops::Range;
use std::str::FromStr;

use tokio_postgres::config::{Host, SslMode};

/// Why a database URL was rejected. Never contains the password.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UrlError {
    /// Only URLs are accepted (not libpq key=value strings): one form keeps redaction simple.
    #[error("the database URL must start with postgres:// or postgresql://")]
    NotPostgresUrl,
    /// `sslmode` had a value libpq does not define.
    #[error(
        "unknown sslmode {0:?}: expected disable, allow, prefer, require, verify-ca or verify-full"
    )]
    BadSslMode(String),
    /// tokio-postgres could not parse the URL; the message is already scrubbed of the password.
    #[error("invalid database URL {url}: {reason}")]
    Invalid { url: String, reason: String },
}

/// How to talk to the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// Plain TCP or a Unix socket: local development clusters have no certificate.
    Plain,
    /// TLS through rustls with `mode` (prefer or require). The certificate is always verified
    /// against the webpki roots, so `require` behaves like libpq's `verify-full`; that is what a
    /// remote host such as Neon needs.
    Tls(SslMode),
}

/// A validated Postgres URL together with the transport it calls for. `Debug` shows only the
/// redacted form.
pub struct DatabaseUrl {
    config: tokio_postgres::Config,
    redacted: String,
    secrets: Vec<String>,
    transport: Transport,
}

impl DatabaseUrl {
    /// Parses `raw`, choosing the transport from `sslmode` and the host (see [`choose_transport`]).
    ///
    /// `sslmode` is taken out of the URL before tokio-postgres sees it, because tokio-postgres
    /// rejects libpq's `verify-ca`/`verify-full`, which hosted Postgres URLs commonly carry.
    pub fn parse(raw: &str) -> Result<Self, UrlError> {
        let raw = raw.trim();
        if !(raw.starts_with("postgres://") || raw.starts_with("postgresql://")) {
            return Err(UrlError::NotPostgresUrl);
        }
        let mut secrets: Vec<String> = secret_spans(raw)
            .into_iter()
            .map(|span| raw[span].to_string())
            .chain(password_as_driver_reads_it(raw).map(str::to_string))
            .filter(|s| !s.is_empty())
            .collect();
        let redacted = scrub(&redact(raw), &secrets);
        let (without_sslmode, sslmode) = take_sslmode(raw)?;
        let mut config =
            tokio_postgres::Config::from_str(&without_sslmode).map_err(|e| UrlError::Invalid {
                url: redacted.clone(),
                reason: scrub(&e.to_string(), &secrets),
            })?;
        if let Some(password) = config.get_password() {
            // The decoded form may differ from the percent-encoded one in the URL.
            secrets.push(String::from_utf8_lossy(password).into_owned());
        }
        secrets.retain(|s| !s.is_empty());
        let transport = choose_transport(&host_names(&config), sslmode);
        config.ssl_mode(match transport {
            Transport::Plain => SslMode::Disable,
            Transport::Tls(mode) => mode,
        });
        Ok(DatabaseUrl {
            config,
            redacted,
            secrets,
            transport,
        })
    }

    /// The URL with its password replaced by `***`: the only form fit for output.
    pub fn redacted(&self) -> &str {
        &self.redacted
    }

    /// The parsed connection settings, with `sslmode` already applied.
    pub fn config(&self) -> &tokio_postgres::Config {
        &self.config
    }

    /// Plain or TLS, decided at parse time.
    pub fn transport(&self) -> Transport {
        self.transport
    }

    /// `message` with every occurrence of the password replaced by `***`. Server and driver
    /// messages should never contain it, but this is cheap insurance for error output.
    pub fn scrub(&self, message: &str) -> String {
        scrub(message, &self.secrets)
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseUrl")
            .field("url", &self.redacted)
            .field("transport", &self.transport)
            .finish()
    }
}

/// Plain for a local host unless TLS is asked for; TLS (`require`) for any other host unless
/// `sslmode=disable`. A remote default of `require` rather than libpq's `prefer` means a
/// network attacker cannot silently downgrade a Neon connection to plain text.
pub fn choose_transport(hosts: &[HostName], sslmode: Option<SslMode>) -> Transport {
    match sslmode {
        Some(SslMode::Disable) => Transport::Plain,
        Some(mode) => Transport::Tls(mode),
        None if !hosts.is_empty() && hosts.iter().all(HostName::is_local) => Transport::Plain,
        None => Transport::Tls(SslMode::Require),
    }
}

/// A host the URL names, reduced to what [`choose_transport`] needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostName {
    /// A TCP host name or address.
    Tcp(String),
    /// A Unix socket directory: always local.
    Socket,
}

impl HostName {
    fn is_local(&self) -> bool {
        match self {
            HostName::Socket => true,
            HostName::Tcp(name) => {
                let name = name.trim_start_matches('[').trim_end_matches(']');
                name.eq_ignore_ascii_case("localhost")
                    || name == "::1"
                    || name
                        .parse::<std::net::Ipv4Addr>()
                        .is_ok_and(|ip| ip.is_loopback())
            }
        }
    }
}

fn host_names(config: &tokio_postgres::Config) -> Vec<HostName> {
    config
        .get_hosts()
        .iter()
        .map(|host| match host {
            Host::Tcp(name) => HostName::Tcp(name.clone()),
            #[cfg(unix)]
            Host::Unix(_) => HostName::Socket,
        })
        .collect()
}

/// Maps a libpq `sslmode` to what tokio-postgres supports. `allow` (plain first, TLS on
/// refusal) has no equivalent and is treated as `prefer`; the verify modes become `require`,
/// which with rustls always verifies the certificate.
pub fn parse_sslmode(value: &str) -> Result<SslMode, UrlError> {
    match value {
        "disable" => Ok(SslMode::Disable),
        "allow" | "prefer" => Ok(SslMode::Prefer),
        "require" | "verify-ca" | "verify-full" => Ok(SslMode::Require),
        other => Err(UrlError::BadSslMode(other.to_string())),
    }
}

/// Removes every `sslmode=` query parameter from `url`, returning the rest of the URL and the
/// last mode given (as libpq does, the last one wins).
fn take_sslmode(url: &str) -> Result<(String, Option<SslMode>), UrlError> {
    let Some(query) = query_span(url) else {
        return Ok((url.to_string(), None));
    };
    let mut mode = None;
    let mut kept = Vec::new();
    for pair in url[query.clone()].split('&') {
        match pair.strip_prefix("sslmode=") {
            Some(value) => mode = Some(parse_sslmode(value)?),
            None => kept.push(pair),
        }
    }
    // `query.start - 1` is the `?`.
    let mut out = url[..query.start - 1].to_string();
    if !kept.is_empty() {
        out.push('?');
        out.push_str(&kept.join("&"));
    }
    Ok((out, mode))
}

/// Replaces the password (userinfo and any `password=` parameter) with `***`.
pub fn redact(url: &str) -> String {
    let mut out = url.to_string();
    // Back to front so earlier spans stay valid.
    for span in secret_spans(url).into_iter().rev() {
        out.replace_range(span, "***");
    }
    out
}

fn scrub(message: &str, secrets: &[String]) -> String {
    secrets
        .iter()
        .filter(|s| !s.is_empty())
        .fold(message.to_string(), |msg, secret| {
            msg.replace(secret.as_str(), "***")
        })
}

/// Byte ranges of the password in the userinfo and of every `password=` value, in order.
/// Over-redacting an odd URL beats printing a secret.
fn secret_spans(url: &str) -> Vec<Range<usize>> {
    let mut spans = Vec::new();
    let start = url.find("://").map_or(0, |i| i + 3);
    if let Some(at) = userinfo_end(url, start) {
        if let Some(colon) = url[start..at].find(':') {
            let from = start + colon + 1;
            if from < at {
                spans.push(from..at);
            }
        }
    }
    if let Some(query) = query_span(url) {
        let mut offset = query.start;
        for pair in url[query.clone()].split('&') {
            if let Some(value) = pair.strip_prefix("password=") {
                if !value.is_empty() {
                    let from = offset + "password=".len();
                    spans.push(from..from + value.len());
                }
            }
            offset += pair.len() + 1;
        }
    }
    spans
}

/// Index of the `@` closing the userinfo: the last `@` before the first `?`, so an unencoded
/// `@` or `/` in a password is still covered.
fn userinfo_end(url: &str, start: usize) -> Option<usize> {
    let rest = &url[start..];
    let before_query = rest.find('?').map_or(rest, |q| &rest[..q]);
    before_query.rfind('@').map(|at| start + at)
}

/// The password as tokio-postgres reads it: after the first `:` of everything before the
/// *first* `@`. It differs from [`secret_spans`] only for malformed URLs (say an unencoded `?`
/// in the password), which is exactly when a second opinion is worth having.
fn password_as_driver_reads_it(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let creds = rest.split_once('@')?.0;
    creds.split_once(':').map(|(_, password)| password)
}

/// Byte range of the query string (after `?`), if the URL has one.
fn query_span(url: &str) -> Option<Range<usize>> {
    let start = url.find("://").map_or(0, |i| i + 3);
    let after_userinfo = userinfo_end(url, start).map_or(start, |at| at + 1);
    let q = url[after_userinfo..].find('?')? + after_userinfo + 1;
    let end = url[q..].find('#').map_or(url.len(), |i| q + i);
    Some(q..end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_userinfo_password() {
        assert_eq!(
            redact("postgres://app:s3cret@db.example.com:5432/main"),
            "postgres://app:***@db.example.com:5432/main"
        );
    }

    #[test]
    fn redacts_password_with_unencoded_at_and_slash() {
        assert_eq!(
            redact("postgresql://app:p@ss/w@host/db?sslmode=require"),
            "postgresql://app:***@host/db?sslmode=require"
        );
    }

    #[test]
    fn redacts_password_parameter() {
        assert_eq!(
            redact("postgres://app@host/db?sslmode=disable&password=hunter2&x=1"),
            "postgres://app@host/db?sslmode=disable&password=***&x=1"
        );
    }

    #[test]
    fn leaves_passwordless_urls_alone() {
        for url in [
            "postgres://app@host/db",
            "postgres://host/db",
            "postgres://app:@h/d",
        ] {
            assert_eq!(redact(url), url);
        }
    }

    #[test]
    fn parse_never_keeps_the_password_in_errors() {
        let err = DatabaseUrl::parse("postgres://app:hunter2@host:notaport/db").unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert!(err.to_string().contains("app:***@host"), "{err}");
    }

    #[test]
    fn redacts_password_the_driver_would_read_from_a_malformed_url() {
        let parsed = DatabaseUrl::parse("postgres://app:pa?ss@host/db").unwrap();
        assert!(
            !parsed.redacted().contains("pa?ss"),
            "{}",
            parsed.redacted()
        );
    }

    #[test]
    fn debug_output_is_redacted() {
        let url = DatabaseUrl::parse("postgres://app:hunter2@localhost/db").unwrap();
        let debug = format!("{url:?}");
        assert!(
            !debug.contains("hunter2") && debug.contains("app:***@"),
            "{debug}"
        );
    }

    #[test]
    fn rejects_key_value_strings() {
        assert_eq!(
            DatabaseUrl::parse("host=localhost password=x").unwrap_err(),
            UrlError::NotPostgresUrl
        );
    }

    #[test]
    fn scrub_removes_encoded_and_decoded_password() {
        let url = DatabaseUrl::parse("postgres://app:a%2Fb@localhost/db").unwrap();
        assert_eq!(url.scrub("x a%2Fb y a/b z"), "x *** y *** z");
    }

    #[test]
    fn local_hosts_default_to_plain() {
        for url in [
            "postgres://u:p@localhost/db",
            "postgres://u:p@127.0.0.1:5544/db",
            "postgres://u:p@[::1]:5432/db",
        ] {
            let parsed = DatabaseUrl::parse(url).unwrap();
            assert_eq!(parsed.transport(), Transport::Plain, "{url}");
            assert_eq!(parsed.config().get_ssl_mode(), SslMode::Disable);
        }
    }

    #[test]
    fn remote_hosts_default_to_required_tls() {
        let parsed = DatabaseUrl::parse("postgres://u:p@ep-x.neon.tech/db").unwrap();
        assert_eq!(parsed.transport(), Transport::Tls(SslMode::Require));
        assert_eq!(parsed.config().get_ssl_mode(), SslMode::Require);
    }

    #[test]
    fn sslmode_in_the_url_wins() {
        let cases = [
            (
                "postgres://u@ep.neon.tech/db?sslmode=disable",
                Transport::Plain,
            ),
            (
                "postgres://u@localhost/db?sslmode=require",
                Transport::Tls(SslMode::Require),
            ),
            (
                "postgres://u@h/db?sslmode=verify-full",
                Transport::Tls(SslMode::Require),
            ),
            (
                "postgres://u@h/db?sslmode=prefer&sslmode=allow",
                Transport::Tls(SslMode::Prefer),
            ),
        ];
        for (url, expected) in cases {
            assert_eq!(
                DatabaseUrl::parse(url).unwrap().transport(),
                expected,
                "{url}"
            );
        }
    }

    #[test]
    fn sslmode_is_removed_before_tokio_postgres_parses() {
        assert_eq!(
            take_sslmode("postgres://u@h/db?sslmode=verify-full&channel_binding=require").unwrap(),
            (
                "postgres://u@h/db?channel_binding=require".to_string(),
                Some(SslMode::Require)
            )
        );
        assert_eq!(
            take_sslmode("postgres://u@h/db?sslmode=disable").unwrap(),
            ("postgres://u@h/db".to_string(), Some(SslMode::Disable))
        );
    }

    #[test]
    fn unknown_sslmode_is_an_error() {
        assert_eq!(
            DatabaseUrl::parse("postgres://u@h/db?sslmode=sometimes").unwrap_err(),
            UrlError::BadSslMode("sometimes".into())
        );
    }
}

//! The `Neon-Connection-String` header: `postgres://user:password@host[:port]/database?k=v`.
//!
//! Parsed by hand (a URL crate would be a dependency of the wasm bundle for twenty lines) and
//! only as far as the protocol needs: the user, password and database are percent-decoded; the
//! host is where the proxy routes (its first DNS label names the endpoint); the port is carried
//! but ignored by the proxy; query parameters (e.g. the driver's `application_name`) are kept.

use std::fmt;

/// A parsed connection string.
#[derive(Clone, PartialEq, Eq)]
pub struct ConnectionString {
    /// Role to log in as (percent-decoded).
    pub user: String,
    /// Its password (percent-decoded).
    pub password: String,
    /// Host name or address, without brackets for IPv6.
    pub host: String,
    /// Port, if one was written.
    pub port: Option<u16>,
    /// Database: the first path segment (percent-decoded).
    pub database: String,
    /// Query parameters in order, percent-decoded (`+` is a space).
    pub params: Vec<(String, String)>,
}

impl fmt::Debug for ConnectionString {
    // Hand-written so a logged connection string never shows its password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionString")
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("database", &self.database)
            .field("params", &self.params)
            .finish()
    }
}

/// Why a connection string was refused. `Display` gives the client-facing message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionStringError {
    /// The header is absent (or not valid UTF-8).
    Missing,
    /// Not a `postgres://` or `postgresql://` URL.
    IncorrectScheme,
    /// No user name before the `@`.
    MissingUsername,
    /// No password: a password-authenticated endpoint needs one.
    MissingPassword,
    /// No host after the `@`.
    MissingHostname,
    /// The port is not a number from 0 to 65535.
    InvalidPort,
    /// No database name in the path.
    MissingDatabase,
    /// A percent escape is malformed or decodes to invalid UTF-8.
    InvalidEncoding,
}

impl fmt::Display for ConnectionStringError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let message = match self {
            ConnectionStringError::Missing => "missing connection string: the Neon-Connection-String header is required",
            ConnectionStringError::IncorrectScheme => "invalid connection string: incorrect scheme (expected postgres:// or postgresql://)",
            ConnectionStringError::MissingUsername => "invalid connection string: missing username",
            ConnectionStringError::MissingPassword => "invalid connection string: missing authentication credentials: password",
            ConnectionStringError::MissingHostname => "invalid connection string: missing hostname",
            ConnectionStringError::InvalidPort => "invalid connection string: invalid port",
            ConnectionStringError::MissingDatabase => "invalid connection string: missing database name",
            ConnectionStringError::InvalidEncoding => "invalid connection string: invalid percent-encoding",
        };
        f.write_str(message)
    }
}

impl std::error::Error for ConnectionStringError {}

impl ConnectionString {
    /// Parses a connection string; every part the protocol needs must be present.
    pub fn parse(url: &str) -> Result<ConnectionString, ConnectionStringError> {
        let url = url.trim();
        let rest = ["postgresql://", "postgres://"]
            .iter()
            .find_map(|scheme| strip_prefix_ignore_case(url, scheme))
            .ok_or(ConnectionStringError::IncorrectScheme)?;

        // Fragment first, then query, then path: each may contain the later separators.
        let rest = rest.split_once('#').map_or(rest, |(before, _)| before);
        let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (authority, path) = match rest.find('/') {
            Some(slash) => (&rest[..slash], &rest[slash + 1..]),
            None => (rest, ""),
        };

        // The password may itself contain '@' when not encoded: split at the last one.
        let (userinfo, hostport) = authority
            .rsplit_once('@')
            .ok_or(ConnectionStringError::MissingUsername)?;
        let (user, password) = match userinfo.split_once(':') {
            Some((user, password)) => (user, Some(password)),
            None => (userinfo, None),
        };
        let user = percent_decode(user, false)?;
        if user.is_empty() {
            return Err(ConnectionStringError::MissingUsername);
        }
        let password = percent_decode(password.unwrap_or(""), false)?;
        if password.is_empty() {
            return Err(ConnectionStringError::MissingPassword);
        }

        let (host, port) = split_host_port(hostport)?;
        if host.is_empty() {
            return Err(ConnectionStringError::MissingHostname);
        }

        let database = path.split('/').next().unwrap_or("");
        let database = percent_decode(database, false)?;
        if database.is_empty() {
            return Err(ConnectionStringError::MissingDatabase);
        }

        let mut params = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            params.push((percent_decode(key, true)?, percent_decode(value, true)?));
        }

        Ok(ConnectionString {
            user,
            password,
            host: host.to_owned(),
            port,
            database,
            params,
        })
    }

    /// The value of query parameter `key` (the last one if repeated).
    pub fn param(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Formats the string back as a URL, percent-encoding user, password and database.
    pub fn to_url(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        let port = self.port.map(|p| format!(":{p}")).unwrap_or_default();
        let mut url = format!(
            "postgresql://{}:{}@{}{}/{}",
            percent_encode(&self.user),
            percent_encode(&self.password),
            host,
            port,
            percent_encode(&self.database)
        );
        for (i, (key, value)) in self.params.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(&percent_encode(key));
            url.push('=');
            url.push_str(&percent_encode(value));
        }
        url
    }
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

fn split_host_port(hostport: &str) -> Result<(&str, Option<u16>), ConnectionStringError> {
    let (host, port) = if let Some(bracketed) = hostport.strip_prefix('[') {
        let (host, after) = bracketed
            .split_once(']')
            .ok_or(ConnectionStringError::MissingHostname)?;
        match after.strip_prefix(':') {
            Some(port) => (host, Some(port)),
            None if after.is_empty() => (host, None),
            None => return Err(ConnectionStringError::InvalidPort),
        }
    } else {
        match hostport.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (hostport, None),
        }
    };
    let port = match port {
        None | Some("") => None,
        Some(p) => Some(
            p.parse::<u16>()
                .map_err(|_| ConnectionStringError::InvalidPort)?,
        ),
    };
    Ok((host, port))
}

/// Decodes `%XX` escapes (and `+` as a space when `plus_is_space`, for query strings).
fn percent_decode(s: &str, plus_is_space: bool) -> Result<String, ConnectionStringError> {
    crate::percent::decode(s, plus_is_space).map_err(|_| ConnectionStringError::InvalidEncoding)
}

/// Encodes everything but RFC 3986 unreserved characters.
pub fn percent_encode(s: &str) -> String {
    crate::percent::encode(s, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_string() {
        let cs = ConnectionString::parse(
            "postgresql://alex:AbC123@ep-cool-darkness-123456.us-east-2.aws.neon.tech:5432/dbname?sslmode=require&application_name=a+b",
        )
        .unwrap();
        assert_eq!(cs.user, "alex");
        assert_eq!(cs.password, "AbC123");
        assert_eq!(cs.host, "ep-cool-darkness-123456.us-east-2.aws.neon.tech");
        assert_eq!(cs.port, Some(5432));
        assert_eq!(cs.database, "dbname");
        assert_eq!(cs.param("sslmode"), Some("require"));
        assert_eq!(cs.param("application_name"), Some("a b"));
        assert_eq!(cs.param("nope"), None);
    }

    #[test]
    fn percent_decoding_and_odd_passwords() {
        let cs = ConnectionString::parse("postgres://us%40er:p%3Aw%2Fd@host/my%20db").unwrap();
        assert_eq!(cs.user, "us@er");
        assert_eq!(cs.password, "p:w/d");
        assert_eq!(cs.database, "my db");
        assert_eq!(cs.port, None);
        // An unencoded '@' in the password: the host is after the last '@'.
        let cs = ConnectionString::parse("postgres://u:p@ss@127.0.0.1:1/db/extra").unwrap();
        assert_eq!(cs.password, "p@ss");
        assert_eq!(cs.host, "127.0.0.1");
        assert_eq!(cs.database, "db");
        let cs = ConnectionString::parse("POSTGRES://u:p@[::1]:5432/db").unwrap();
        assert_eq!(cs.host, "::1");
        assert_eq!(cs.port, Some(5432));
    }

    #[test]
    fn errors() {
        use ConnectionStringError::*;
        let cases = [
            ("mysql://u:p@h/db", IncorrectScheme),
            ("", IncorrectScheme),
            ("postgres://h/db", MissingUsername),
            ("postgres://:p@h/db", MissingUsername),
            ("postgres://u@h/db", MissingPassword),
            ("postgres://u:@h/db", MissingPassword),
            ("postgres://u:p@/db", MissingHostname),
            ("postgres://u:p@h:99999/db", InvalidPort),
            ("postgres://u:p@h:x/db", InvalidPort),
            ("postgres://u:p@h", MissingDatabase),
            ("postgres://u:p@h/", MissingDatabase),
            ("postgres://u:p%zz@h/db", InvalidEncoding),
            ("postgres://u:p%ff@h/db", InvalidEncoding),
        ];
        for (input, expected) in cases {
            assert_eq!(ConnectionString::parse(input), Err(expected), "{input}");
        }
        assert!(Missing.to_string().contains("Neon-Connection-String"));
    }

    #[test]
    fn to_url_round_trips_and_debug_hides_the_password() {
        let cs = ConnectionString::parse(
            "postgres://u%20s:p%40ss@host:5432/d%2Fb?application_name=x%26y",
        )
        .unwrap();
        let again = ConnectionString::parse(&cs.to_url()).unwrap();
        assert_eq!(again, cs);
        let debug = format!("{cs:?}");
        assert!(!debug.contains("p@ss"), "{debug}");
        assert_eq!(percent_encode("a b/c~"), "a%20b%2Fc~");
    }
}

//! Typed settings, validated once.
//!
//! Errors name the setting and what is wrong with it, never its value: a
//! connection string holds a password.

use crate::error::ApiError;

/// How the Worker reaches Neon: the connection string (sent as
/// `Neon-Connection-String`) and the SQL-over-HTTP URL.
#[derive(Clone, PartialEq, Eq)]
pub struct NeonConfig {
    connection_string: String,
    sql_url: String,
    /// The setting the connection string came from, for error messages.
    setting: &'static str,
}

impl std::fmt::Debug for NeonConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The connection string carries a password: never print it.
        f.debug_struct("NeonConfig")
            .field("sql_url", &self.sql_url)
            .finish_non_exhaustive()
    }
}

impl NeonConfig {
    /// Builds the configuration from the secret `DATABASE_URL` and the
    /// optional var `NEON_SQL_URL`. Without the latter, the endpoint is
    /// derived the way Neon's driver does it: the first DNS label of the host
    /// becomes `api` (`ep-x.us-east-2.aws.neon.tech` →
    /// `https://api.us-east-2.aws.neon.tech/sql`).
    pub fn from_settings(
        database_url: Option<&str>,
        neon_sql_url: Option<&str>,
    ) -> Result<NeonConfig, ApiError> {
        Self::from_setting("DATABASE_URL", database_url, neon_sql_url)
    }

    /// The configuration for statements that may only read: the optional
    /// secret `DATABASE_URL_READ` (a role with `SELECT` only, or a read
    /// replica) when it is set, `DATABASE_URL` otherwise. Its endpoint is
    /// `NEON_SQL_URL` or derived from its own host, exactly as for
    /// `DATABASE_URL`: Neon's proxy routes by the connection string, so a
    /// replica in the same region is served by the same regional endpoint.
    pub fn for_reads(
        database_url_read: Option<&str>,
        database_url: Option<&str>,
        neon_sql_url: Option<&str>,
    ) -> Result<NeonConfig, ApiError> {
        match database_url_read.map(str::trim).filter(|s| !s.is_empty()) {
            Some(read) => Self::from_setting("DATABASE_URL_READ", Some(read), neon_sql_url),
            None => Self::from_settings(database_url, neon_sql_url),
        }
    }

    fn from_setting(
        setting: &'static str,
        database_url: Option<&str>,
        neon_sql_url: Option<&str>,
    ) -> Result<NeonConfig, ApiError> {
        let database_url = database_url
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| ApiError::config(setting, "is not set"))?;
        let host = connection_host(database_url).ok_or_else(|| {
            ApiError::config(
                setting,
                "is not a postgres:// or postgresql:// URL with a host",
            )
        })?;
        let sql_url = crate::neon::endpoint::sql_url(neon_sql_url, host, setting)?;
        Ok(NeonConfig {
            connection_string: database_url.to_string(),
            sql_url,
            setting,
        })
    }

    /// The setting the connection string came from: `DATABASE_URL` or
    /// `DATABASE_URL_READ` (never its value).
    pub fn setting(&self) -> &'static str {
        self.setting
    }

    /// The connection string, for the `Neon-Connection-String` header only.
    pub fn connection_string(&self) -> &str {
        &self.connection_string
    }

    /// The SQL-over-HTTP endpoint URL.
    pub fn sql_url(&self) -> &str {
        &self.sql_url
    }
}

/// The host of a `postgres://` / `postgresql://` URL, without port or brackets.
fn connection_host(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split_once(']')?.0
    } else {
        host_port.split(':').next()?
    };
    (!host.is_empty()).then_some(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derives_the_endpoint_like_the_driver() {
        let c = NeonConfig::from_settings(
            Some("postgresql://u:p%40ss@ep-cool-1.us-east-2.aws.neon.tech:5432/db?sslmode=require"),
            None,
        )
        .unwrap();
        assert_eq!(c.sql_url(), "https://api.us-east-2.aws.neon.tech/sql");
        assert!(c.connection_string().starts_with("postgresql://u:p%40ss@"));
    }

    #[test]
    fn override_wins_and_is_checked() {
        let c = NeonConfig::from_settings(
            Some("postgres://u:p@127.0.0.1:5432/db"),
            Some("http://127.0.0.1:4444/sql"),
        )
        .unwrap();
        assert_eq!(c.sql_url(), "http://127.0.0.1:4444/sql");
        let e = NeonConfig::from_settings(Some("postgres://u:p@h.example/db"), Some("ftp://x"))
            .unwrap_err();
        assert!(e.message.contains("NEON_SQL_URL"));
        // Plain http only to loopback: the connection string travels in a header.
        let e = NeonConfig::from_settings(
            Some("postgres://u:secret@h.example/db"),
            Some("http://proxy.example.com/sql"),
        )
        .unwrap_err();
        assert_eq!(
            e.details,
            Some(serde_json::json!({"setting": "NEON_SQL_URL"}))
        );
        assert!(e.message.contains("https"), "{}", e.message);
        let c = NeonConfig::from_settings(
            Some("postgres://u:p@db.example.com/db"),
            Some("https://sql.example.com/sql"),
        )
        .unwrap();
        assert_eq!(c.sql_url(), "https://sql.example.com/sql");
    }

    #[test]
    fn missing_or_invalid_settings_name_the_setting_not_the_value() {
        for (db, msg) in [
            (None, "DATABASE_URL"),
            (Some("  "), "DATABASE_URL"),
            (Some("mysql://u:secret@h/db"), "DATABASE_URL"),
            (Some("postgres://u:secret@/db"), "DATABASE_URL"),
            (Some("postgres://u:secret@127.0.0.1/db"), "NEON_SQL_URL"),
            (Some("postgres://u:secret@localhost/db"), "NEON_SQL_URL"),
            (Some("postgres://u:secret@[::1]:5432/db"), "NEON_SQL_URL"),
            // Not Neon: `api.example.com` need not be the database's, and
            // the password would travel there in a header.
            (
                Some("postgres://u:secret@db.example.com/db"),
                "NEON_SQL_URL",
            ),
        ] {
            let e = NeonConfig::from_settings(db, None).unwrap_err();
            assert_eq!(e.status(), 500);
            assert!(e.message.contains(msg), "{db:?}: {}", e.message);
            assert!(!e.body().contains("secret"));
        }
    }

    #[test]
    fn reads_use_database_url_read_when_set_with_its_own_endpoint() {
        let primary = "postgres://owner:p@ep-main-1.us-east-2.aws.neon.tech/db";
        let replica = "postgres://reader:r@ep-replica-2.us-east-2.aws.neon.tech/db";
        let c = NeonConfig::for_reads(Some(replica), Some(primary), None).unwrap();
        assert_eq!(c.connection_string(), replica);
        assert_eq!(c.setting(), "DATABASE_URL_READ");
        assert_eq!(c.sql_url(), "https://api.us-east-2.aws.neon.tech/sql");
        // Unset or empty: the reads share DATABASE_URL.
        for read in [None, Some(""), Some("  ")] {
            let c = NeonConfig::for_reads(read, Some(primary), None).unwrap();
            assert_eq!(
                (c.connection_string(), c.setting()),
                (primary, "DATABASE_URL")
            );
        }
        // NEON_SQL_URL serves both (the local endpoint, or a fixed Neon one).
        let c = NeonConfig::for_reads(
            Some("postgres://reader:r@127.0.0.1:5432/db"),
            Some("postgres://owner:p@127.0.0.1:5432/db"),
            Some("http://127.0.0.1:4444/sql"),
        )
        .unwrap();
        assert_eq!(c.sql_url(), "http://127.0.0.1:4444/sql");
        // A broken read URL is named as such, without its value.
        let e =
            NeonConfig::for_reads(Some("mysql://r:secret@h/db"), Some(primary), None).unwrap_err();
        assert!(e.message.contains("DATABASE_URL_READ"), "{}", e.message);
        assert!(!e.body().contains("secret"));
        let e = NeonConfig::for_reads(Some("postgres://r:secret@10.0.0.1/db"), Some(primary), None)
            .unwrap_err();
        assert!(
            e.message.contains("DATABASE_URL_READ's host"),
            "{}",
            e.message
        );
    }

    #[test]
    fn debug_hides_the_connection_string() {
        let c = NeonConfig::from_settings(Some("postgres://u:secret@ep-a.b.neon.tech/db"), None)
            .unwrap();
        assert!(!format!("{c:?}").contains("secret"));
    }
}

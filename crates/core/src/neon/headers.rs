//! Request headers of the SQL-over-HTTP protocol and how their values are read.
//!
//! Header names are compared case-insensitively by HTTP; the constants use Neon's own spelling so
//! that a client sending them looks exactly like the official driver.

use std::fmt;

/// Required: the `postgres://user:password@host/db` URL naming who connects to which database.
pub const CONNECTION_STRING: &str = "Neon-Connection-String";
/// `true` → every non-null value comes back as its Postgres text form (a JSON string).
pub const RAW_TEXT_OUTPUT: &str = "Neon-Raw-Text-Output";
/// `true` → rows are JSON arrays instead of objects (a query's `arrayMode` field overrides it).
pub const ARRAY_MODE: &str = "Neon-Array-Mode";
/// Batch only: `Serializable`, `ReadUncommitted`, `ReadCommitted` or `RepeatableRead`.
pub const BATCH_ISOLATION_LEVEL: &str = "Neon-Batch-Isolation-Level";
/// Batch only: `true` → the transaction is `READ ONLY`.
pub const BATCH_READ_ONLY: &str = "Neon-Batch-Read-Only";
/// Batch only: `true` → the transaction is `DEFERRABLE`.
pub const BATCH_DEFERRABLE: &str = "Neon-Batch-Deferrable";
/// Only for Neon's JWT (row-level security) mode; a password-authenticated endpoint refuses it.
pub const AUTHORIZATION: &str = "Authorization";

/// Every header a browser client may send, for a CORS preflight's `Access-Control-Allow-Headers`.
pub const ALL: [&str; 7] = [
    CONNECTION_STRING,
    RAW_TEXT_OUTPUT,
    ARRAY_MODE,
    BATCH_ISOLATION_LEVEL,
    BATCH_READ_ONLY,
    BATCH_DEFERRABLE,
    AUTHORIZATION,
];

/// Reads a boolean header the way the proxy does: only the exact lowercase `true` is true, so
/// `True`, `1` or `yes` are false rather than an error.
pub fn flag(value: Option<&str>) -> bool {
    value == Some("true")
}

/// A transaction isolation level as named in the `Neon-Batch-Isolation-Level` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IsolationLevel {
    /// `SERIALIZABLE`.
    Serializable,
    /// `READ UNCOMMITTED` (Postgres runs it as read committed).
    ReadUncommitted,
    /// `READ COMMITTED`, Postgres's default.
    ReadCommitted,
    /// `REPEATABLE READ`.
    RepeatableRead,
}

/// The header carried a value that is not one of the four level names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidIsolationLevel(pub String);

impl fmt::Display for InvalidIsolationLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The exact text Neon answers with; clients may match on it.
        f.write_str("invalid isolation level")
    }
}

impl std::error::Error for InvalidIsolationLevel {}

impl IsolationLevel {
    /// Parses a header value. Case-sensitive, as in the proxy: `serializable` is invalid.
    pub fn parse(value: &str) -> Result<IsolationLevel, InvalidIsolationLevel> {
        match value {
            "Serializable" => Ok(IsolationLevel::Serializable),
            "ReadUncommitted" => Ok(IsolationLevel::ReadUncommitted),
            "ReadCommitted" => Ok(IsolationLevel::ReadCommitted),
            "RepeatableRead" => Ok(IsolationLevel::RepeatableRead),
            other => Err(InvalidIsolationLevel(other.to_owned())),
        }
    }

    /// The header value naming this level (the inverse of [`IsolationLevel::parse`]).
    pub fn header_value(self) -> &'static str {
        match self {
            IsolationLevel::Serializable => "Serializable",
            IsolationLevel::ReadUncommitted => "ReadUncommitted",
            IsolationLevel::ReadCommitted => "ReadCommitted",
            IsolationLevel::RepeatableRead => "RepeatableRead",
        }
    }

    /// The SQL spelling used after `ISOLATION LEVEL`.
    pub fn sql(self) -> &'static str {
        match self {
            IsolationLevel::Serializable => "SERIALIZABLE",
            IsolationLevel::ReadUncommitted => "READ UNCOMMITTED",
            IsolationLevel::ReadCommitted => "READ COMMITTED",
            IsolationLevel::RepeatableRead => "REPEATABLE READ",
        }
    }
}

/// How a batch's transaction is opened, from the three `Neon-Batch-*` headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BatchOptions {
    /// `None` leaves the server's default (read committed).
    pub isolation: Option<IsolationLevel>,
    /// `READ ONLY`: any write in the batch fails with SQLSTATE 25006.
    pub read_only: bool,
    /// `DEFERRABLE`: only has an effect with serializable + read only.
    pub deferrable: bool,
}

impl BatchOptions {
    /// Reads the batch headers; `header` looks a header up by name (case-insensitively).
    ///
    /// A present but unknown isolation level is an error (Neon answers 400 `invalid isolation
    /// level`) rather than silently running at a weaker level than the client asked for.
    pub fn from_headers<'a>(
        header: impl Fn(&str) -> Option<&'a str>,
    ) -> Result<BatchOptions, InvalidIsolationLevel> {
        let isolation = header(BATCH_ISOLATION_LEVEL)
            .map(IsolationLevel::parse)
            .transpose()?;
        Ok(BatchOptions {
            isolation,
            read_only: flag(header(BATCH_READ_ONLY)),
            deferrable: flag(header(BATCH_DEFERRABLE)),
        })
    }

    /// The statement that opens the batch's transaction, e.g.
    /// `START TRANSACTION ISOLATION LEVEL SERIALIZABLE, READ ONLY, DEFERRABLE`.
    pub fn start_transaction_sql(&self) -> String {
        let mut modes: Vec<String> = Vec::new();
        if let Some(level) = self.isolation {
            modes.push(format!("ISOLATION LEVEL {}", level.sql()));
        }
        if self.read_only {
            modes.push("READ ONLY".to_owned());
        }
        if self.deferrable {
            modes.push("DEFERRABLE".to_owned());
        }
        if modes.is_empty() {
            "START TRANSACTION".to_owned()
        } else {
            format!("START TRANSACTION {}", modes.join(", "))
        }
    }

    /// The headers a client sends to ask for these options (nothing for the defaults).
    pub fn to_headers(&self) -> Vec<(&'static str, &'static str)> {
        let mut headers = Vec::new();
        if let Some(level) = self.isolation {
            headers.push((BATCH_ISOLATION_LEVEL, level.header_value()));
        }
        if self.read_only {
            headers.push((BATCH_READ_ONLY, "true"));
        }
        if self.deferrable {
            headers.push((BATCH_DEFERRABLE, "true"));
        }
        headers
    }
}

/// How values and rows are encoded in a response, from `Neon-Raw-Text-Output` and
/// `Neon-Array-Mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OutputOptions {
    /// Every non-null value as its Postgres text (what the official driver always asks for).
    pub raw_text_output: bool,
    /// Default row shape; a query's own `arrayMode` field overrides it.
    pub array_mode: bool,
}

impl OutputOptions {
    /// Reads the two output headers; `header` looks a header up by name (case-insensitively).
    pub fn from_headers<'a>(header: impl Fn(&str) -> Option<&'a str>) -> OutputOptions {
        OutputOptions {
            raw_text_output: flag(header(RAW_TEXT_OUTPUT)),
            array_mode: flag(header(ARRAY_MODE)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<&'a str> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| *v)
        }
    }

    #[test]
    fn isolation_levels_round_trip_and_are_case_sensitive() {
        for level in [
            IsolationLevel::Serializable,
            IsolationLevel::ReadUncommitted,
            IsolationLevel::ReadCommitted,
            IsolationLevel::RepeatableRead,
        ] {
            assert_eq!(IsolationLevel::parse(level.header_value()), Ok(level));
        }
        assert_eq!(
            IsolationLevel::parse("serializable"),
            Err(InvalidIsolationLevel("serializable".into()))
        );
        assert_eq!(
            IsolationLevel::parse("SERIALIZABLE")
                .unwrap_err()
                .to_string(),
            "invalid isolation level"
        );
        assert!(IsolationLevel::parse("").is_err());
    }

    #[test]
    fn start_transaction_text() {
        assert_eq!(
            BatchOptions::default().start_transaction_sql(),
            "START TRANSACTION"
        );
        let all = BatchOptions {
            isolation: Some(IsolationLevel::Serializable),
            read_only: true,
            deferrable: true,
        };
        assert_eq!(
            all.start_transaction_sql(),
            "START TRANSACTION ISOLATION LEVEL SERIALIZABLE, READ ONLY, DEFERRABLE"
        );
        let rr = BatchOptions {
            isolation: Some(IsolationLevel::RepeatableRead),
            ..Default::default()
        };
        assert_eq!(
            rr.start_transaction_sql(),
            "START TRANSACTION ISOLATION LEVEL REPEATABLE READ"
        );
        let ro = BatchOptions {
            read_only: true,
            ..Default::default()
        };
        assert_eq!(ro.start_transaction_sql(), "START TRANSACTION READ ONLY");
    }

    #[test]
    fn batch_options_from_headers() {
        let headers = [
            ("neon-batch-isolation-level", "ReadUncommitted"),
            ("Neon-Batch-Read-Only", "true"),
            ("NEON-BATCH-DEFERRABLE", "TRUE"),
        ];
        let opts = BatchOptions::from_headers(lookup(&headers)).unwrap();
        assert_eq!(opts.isolation, Some(IsolationLevel::ReadUncommitted));
        assert!(opts.read_only);
        assert!(!opts.deferrable, "only lowercase `true` counts");

        let bad = [("Neon-Batch-Isolation-Level", "Chaos")];
        assert!(BatchOptions::from_headers(lookup(&bad)).is_err());
        assert_eq!(
            BatchOptions::from_headers(lookup(&[])).unwrap(),
            BatchOptions::default()
        );
    }

    #[test]
    fn to_headers_is_read_back_identically() {
        let opts = BatchOptions {
            isolation: Some(IsolationLevel::ReadCommitted),
            read_only: false,
            deferrable: true,
        };
        let headers = opts.to_headers();
        assert_eq!(BatchOptions::from_headers(lookup(&headers)).unwrap(), opts);
    }

    #[test]
    fn output_options_and_flags() {
        let headers = [("Neon-Raw-Text-Output", "true"), ("Neon-Array-Mode", "1")];
        let out = OutputOptions::from_headers(lookup(&headers));
        assert!(out.raw_text_output);
        assert!(!out.array_mode);
        assert!(flag(Some("true")));
        assert!(!flag(Some("true ")));
        assert!(!flag(None));
    }
}

//! The Postgres side of `migrate`: connecting (plain or TLS), the advisory lock, the tracking
//! table, running a file (in one transaction) or a statement (no-transaction files) under
//! `lock_timeout`/`statement_timeout`, and finding the invalid indexes a failed concurrent
//! build leaves.

use std::sync::Arc;
use std::time::Duration;

use tokio_postgres::error::{ErrorPosition, SqlState};
use tokio_postgres::{Client, GenericClient, NoTls};

use super::plan::{line_and_column, AppliedMigration, LocalMigration};
use super::MigrateError;
use crate::dburl::{DatabaseUrl, Transport};

/// Key of the session advisory lock that serialises migrate runs against one database
/// ("STRATAMG" in ASCII). Fixed, so every run — any machine, any version — contends for it.
pub const LOCK_KEY: i64 = 0x5354_5241_5441_4d47;

/// How long to wait for the server to accept a connection when the URL does not say.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS strata_migrations (
    name text PRIMARY KEY,
    checksum text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)";

/// Opens a connection and drives it on the current tokio runtime.
pub async fn connect(url: &DatabaseUrl) -> Result<Client, MigrateError> {
    let mut config = url.config().clone();
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(DEFAULT_CONNECT_TIMEOUT);
    }
    let failed = |e: tokio_postgres::Error| MigrateError::Connect {
        url: url.redacted().to_string(),
        reason: url.scrub(&describe(&e, None)),
    };
    // The connection future only ends when the client is dropped or the socket fails; the
    // client's own calls report that failure, so its result is not needed here.
    let client = match url.transport() {
        Transport::Plain => {
            let (client, connection) = config.connect(NoTls).await.map_err(failed)?;
            tokio::spawn(connection);
            client
        }
        Transport::Tls(_) => {
            let (client, connection) = config.connect(tls_connector()?).await.map_err(failed)?;
            tokio::spawn(connection);
            client
        }
    };
    Ok(client)
}

/// rustls with the ring provider and Mozilla's roots from webpki-roots: no dependence on the
/// machine's CA bundle, so it behaves the same on a laptop, in CI and in a slim container.
fn tls_connector() -> Result<tokio_postgres_rustls::MakeRustlsConnect, MigrateError> {
    let roots = rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| MigrateError::Tls(e.to_string()))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

/// Takes the migrate lock, returning false at once if another session holds it.
pub async fn try_lock(client: &Client) -> Result<bool, MigrateError> {
    let row = client
        .query_one("SELECT pg_try_advisory_lock($1)", &[&LOCK_KEY])
        .await
        .map_err(db_error("take the migration lock"))?;
    Ok(row.get(0))
}

/// Waits for the migrate lock. Held for the session, so it also ends if the process dies.
pub async fn lock(client: &Client) -> Result<(), MigrateError> {
    client
        .execute("SELECT pg_advisory_lock($1)", &[&LOCK_KEY])
        .await
        .map_err(db_error("wait for the migration lock"))?;
    Ok(())
}

/// Releases the migrate lock promptly (closing the connection would too).
pub async fn unlock(client: &Client) -> Result<(), MigrateError> {
    client
        .execute("SELECT pg_advisory_unlock($1)", &[&LOCK_KEY])
        .await
        .map_err(db_error("release the migration lock"))?;
    Ok(())
}

/// Creates `strata_migrations` if needed. Only called under the lock: two concurrent
/// `CREATE TABLE IF NOT EXISTS` can still collide in the catalog.
pub async fn ensure_table(client: &Client) -> Result<(), MigrateError> {
    client
        .batch_execute(CREATE_TABLE)
        .await
        .map_err(db_error("create strata_migrations"))
}

/// The tracking rows; none if the table does not exist yet (read-only commands never create
/// it).
pub async fn applied(client: &Client) -> Result<Vec<AppliedMigration>, MigrateError> {
    let exists: bool = client
        .query_one("SELECT to_regclass('strata_migrations') IS NOT NULL", &[])
        .await
        .map_err(db_error("look for strata_migrations"))?
        .get(0);
    if !exists {
        return Ok(Vec::new());
    }
    let rows = client
        .query(
            "SELECT name, checksum, applied_at::text FROM strata_migrations ORDER BY name",
            &[],
        )
        .await
        .map_err(db_error("read strata_migrations"))?;
    Ok(rows
        .iter()
        .map(|row| AppliedMigration {
            name: row.get(0),
            checksum: row.get(1),
            applied_at: row.get(2),
        })
        .collect())
}

/// How long one migration may wait for a lock, and how long one statement may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// `lock_timeout`: past it the statement fails with 55P03 instead of queueing.
    pub lock: Duration,
    /// `statement_timeout`: past it the statement is cancelled (57014). A file may raise it
    /// with its own `SET statement_timeout` (a long `CREATE INDEX CONCURRENTLY`).
    pub statement: Duration,
}

impl Timeouts {
    /// `SET [LOCAL] lock_timeout = …; SET [LOCAL] statement_timeout = …`. Whole milliseconds
    /// formatted from integers: nothing from outside reaches the SQL text.
    fn sql(&self, local: bool) -> String {
        let scope = if local { "LOCAL " } else { "" };
        format!(
            "SET {scope}lock_timeout = '{}ms'; SET {scope}statement_timeout = '{}ms'",
            self.lock.as_millis().max(1),
            self.statement.as_millis().max(1)
        )
    }
}

/// Why a file, a statement or a clean-up did not go through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunError {
    /// SQLSTATE 55P03: a lock was not granted within `lock_timeout`. What was running was
    /// rolled back, so the same work may be tried again.
    LockNotGranted(String),
    /// Anything else, described for a person.
    Failed(String),
}

impl RunError {
    fn from_db(error: &tokio_postgres::Error, sql: Option<&str>, first_line: usize) -> Self {
        let text = describe_at(error, sql, first_line);
        if error.code() == Some(&SqlState::LOCK_NOT_AVAILABLE) {
            RunError::LockNotGranted(text)
        } else {
            RunError::Failed(text)
        }
    }

    /// The description, whatever the kind.
    pub fn text(&self) -> &str {
        match self {
            RunError::LockNotGranted(text) | RunError::Failed(text) => text,
        }
    }
}

/// Runs one file and records it, in one transaction: either both happen or neither does.
///
/// The timeouts are `SET LOCAL`, so they end with the transaction. The file goes over the
/// simple query protocol (`batch_execute`), so it may hold many statements, but it must not
/// contain its own `BEGIN`/`COMMIT` or statements that refuse to run in a transaction (those
/// go in `-- strata:no-transaction` files, [`run_statement`]).
pub async fn apply_in_transaction(
    client: &mut Client,
    migration: &LocalMigration,
    timeouts: Timeouts,
) -> Result<(), RunError> {
    let plain = |e: tokio_postgres::Error| RunError::from_db(&e, None, 1);
    // Dropping `tx` on an early return rolls it back.
    let tx = client.transaction().await.map_err(plain)?;
    tx.batch_execute(&timeouts.sql(true)).await.map_err(plain)?;
    tx.batch_execute(&migration.sql)
        .await
        .map_err(|e| RunError::from_db(&e, Some(&migration.sql), 1))?;
    record_in(&tx, migration).await.map_err(plain)?;
    tx.commit().await.map_err(plain)?;
    // A file's plain `SET` outlives its transaction; reset so every file starts alike.
    reset(client).await
}

/// Sets the timeouts for the session: a no-transaction file runs each statement in its own
/// implicit transaction, so `SET LOCAL` would not outlive the first.
pub async fn set_session_timeouts(client: &Client, timeouts: Timeouts) -> Result<(), RunError> {
    client
        .batch_execute(&timeouts.sql(false))
        .await
        .map_err(|e| RunError::from_db(&e, None, 1))
}

/// Runs one statement of a no-transaction file on its own (autocommit). `first_line` is the
/// statement's line in its file, so error positions name the file's line.
pub async fn run_statement(client: &Client, sql: &str, first_line: usize) -> Result<(), RunError> {
    client
        .batch_execute(sql)
        .await
        .map_err(|e| RunError::from_db(&e, Some(sql), first_line))
}

/// Records a no-transaction file once all of its statements went through.
pub async fn record(client: &Client, migration: &LocalMigration) -> Result<(), RunError> {
    record_in(client, migration)
        .await
        .map(|_| ())
        .map_err(|e| RunError::from_db(&e, None, 1))
}

async fn record_in(
    client: &impl GenericClient,
    migration: &LocalMigration,
) -> Result<u64, tokio_postgres::Error> {
    client
        .execute(
            "INSERT INTO strata_migrations (name, checksum) VALUES ($1, $2)",
            &[&migration.name, &migration.checksum],
        )
        .await
}

/// Back to the server's defaults (timeouts, and whatever a file `SET`).
pub async fn reset(client: &Client) -> Result<(), RunError> {
    client
        .batch_execute("RESET ALL")
        .await
        .map_err(|e| RunError::from_db(&e, None, 1))
}

/// The invalid index called `index` on `table` (as written in the statement, resolved with
/// the search path), schema-qualified and quoted, if there is one: what a failed or
/// interrupted `CREATE INDEX CONCURRENTLY` leaves behind. It is never used for reads but
/// still slows every write, and `IF NOT EXISTS` would skip rebuilding it.
pub async fn invalid_index(
    client: &Client,
    index: &str,
    table: &str,
) -> Result<Option<String>, RunError> {
    let row = client
        .query_opt(
            "SELECT format('%I.%I', n.nspname, c.relname)
               FROM pg_index i
               JOIN pg_class c ON c.oid = i.indexrelid
               JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE NOT i.indisvalid AND c.relname = $1 AND i.indrelid = to_regclass($2)",
            &[&index, &table],
        )
        .await
        .map_err(|e| RunError::from_db(&e, None, 1))?;
    Ok(row.map(|r| r.get(0)))
}

/// `DROP INDEX CONCURRENTLY IF EXISTS` of a name [`invalid_index`] returned (already quoted).
pub async fn drop_index(client: &Client, qualified: &str) -> Result<(), RunError> {
    client
        .batch_execute(&format!("DROP INDEX CONCURRENTLY IF EXISTS {qualified}"))
        .await
        .map_err(|e| RunError::from_db(&e, None, 1))
}

/// The server's version as squawk's `--pg-version` takes it (`15.4`, from
/// `server_version_num`, which has no distribution suffix to strip).
pub async fn server_version(client: &Client) -> Result<String, MigrateError> {
    let number: String = client
        .query_one("SELECT current_setting('server_version_num')", &[])
        .await
        .map_err(db_error("read the server version"))?
        .get(0);
    let number: u32 = number.trim().parse().map_err(|_| MigrateError::Db {
        action: "read the server version",
        reason: format!("unexpected server_version_num {number:?}"),
    })?;
    Ok(format!("{}.{}", number / 10_000, number % 10_000))
}

/// A readable one-line account of a driver error: SQLSTATE, message, where in the file, detail
/// and hint. `Display` of a server error is only "db error", hence this.
pub fn describe(error: &tokio_postgres::Error, sql: Option<&str>) -> String {
    describe_at(error, sql, 1)
}

/// [`describe`] for `sql` that starts on line `first_line` of its file.
fn describe_at(error: &tokio_postgres::Error, sql: Option<&str>, first_line: usize) -> String {
    let Some(db) = error.as_db_error() else {
        let mut text = error.to_string();
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        return text;
    };
    let mut text = format!("{} {}: {}", db.severity(), db.code().code(), db.message());
    if let (Some(ErrorPosition::Original(position)), Some(sql)) = (db.position(), sql) {
        if let Some((line, column)) = line_and_column(sql, *position) {
            let line = line + first_line - 1;
            text.push_str(&format!(" (line {line}, column {column})"));
        }
    }
    if let Some(detail) = db.detail() {
        text.push_str(&format!("; detail: {detail}"));
    }
    if let Some(hint) = db.hint() {
        text.push_str(&format!("; hint: {hint}"));
    }
    text
}

fn db_error(action: &'static str) -> impl Fn(tokio_postgres::Error) -> MigrateError {
    move |e| MigrateError::Db {
        action,
        reason: describe(&e, None),
    }
}

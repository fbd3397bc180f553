//! The Postgres side of `migrate`: connecting (plain or TLS), the advisory lock, the tracking
//! table, and applying one file.

use std::sync::Arc;
use std::time::Duration;

use tokio_postgres::error::ErrorPosition;
use tokio_postgres::{Client, NoTls};

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

/// Runs one file and records it, in one transaction: either both happen or neither does.
///
/// The file goes over the simple query protocol (`batch_execute`), so it may hold many
/// statements, but it must not contain its own `BEGIN`/`COMMIT` or statements that refuse to
/// run in a transaction (`CREATE INDEX CONCURRENTLY`, `VACUUM`).
pub async fn apply(client: &mut Client, migration: &LocalMigration) -> Result<(), String> {
    let plain = |e: tokio_postgres::Error| describe(&e, None);
    // Dropping `tx` on an early return rolls it back.
    let tx = client.transaction().await.map_err(plain)?;
    tx.batch_execute(&migration.sql)
        .await
        .map_err(|e| describe(&e, Some(&migration.sql)))?;
    tx.execute(
        "INSERT INTO strata_migrations (name, checksum) VALUES ($1, $2)",
        &[&migration.name, &migration.checksum],
    )
    .await
    .map_err(plain)?;
    tx.commit().await.map_err(plain)?;
    // A file's plain `SET` outlives its transaction; reset so every file starts alike.
    client.batch_execute("RESET ALL").await.map_err(plain)
}

/// A readable one-line account of a driver error: SQLSTATE, message, where in the file, detail
/// and hint. `Display` of a server error is only "db error", hence this.
pub fn describe(error: &tokio_postgres::Error, sql: Option<&str>) -> String {
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

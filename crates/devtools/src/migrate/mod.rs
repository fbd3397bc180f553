//! `strata-dev migrate`: applies `migrations/pg/*.sql` to Postgres, each file once, in name
//! order, recording each in `strata_migrations` in the same transaction as the file itself.
//!
//! Layout: [`plan`] compares files with tracking rows (pure), `files` reads the directory,
//! `db` talks to Postgres. This module strings them together and reports progress as
//! [`Event`]s, so the binary decides how they look and tests can check them directly.

mod db;
mod files;
pub mod plan;

use std::path::Path;
use std::time::{Duration, Instant};

use crate::dburl::{DatabaseUrl, UrlError};
pub use db::LOCK_KEY;
// The connection and error text `read-role` shares.
pub(crate) use db::{connect, describe};
pub use plan::{Plan, State};

/// Why a migrate command failed. Messages never contain the database password.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// Neither `--database-url` nor `DATABASE_URL`.
    #[error("no database URL: pass --database-url or set DATABASE_URL")]
    NoDatabaseUrl,
    /// The URL could not be used.
    #[error(transparent)]
    Url(#[from] UrlError),
    /// The migrations directory could not be listed.
    #[error("cannot read the migrations directory {dir}: {source}")]
    Dir { dir: String, source: std::io::Error },
    /// A migration file could not be read.
    #[error("cannot read {path}: {reason}")]
    File { path: String, reason: String },
    /// The TLS configuration could not be built.
    #[error("cannot set up TLS: {0}")]
    Tls(String),
    /// No connection (refused, timed out, TLS or authentication failure).
    #[error("cannot connect to {url}: {reason}")]
    Connect { url: String, reason: String },
    /// A bookkeeping query failed.
    #[error("could not {action}: {reason}")]
    Db {
        action: &'static str,
        reason: String,
    },
    /// Applied files were edited since. Nothing was applied: the database may no longer match
    /// what the files describe, and only a person can say which is right.
    #[error(
        "refusing to migrate: {} changed after being applied ({}); restore the applied \
         version, or put the change in a new migration file",
        plural(names.len(), "file", "files"),
        names.join(", ")
    )]
    Changed { names: Vec<String> },
    /// A migration failed; it was rolled back, files before it stay applied.
    #[error("migration {name} failed and was rolled back: {reason}")]
    Failed { name: String, reason: String },
}

impl MigrateError {
    /// True when the command line was at fault (exit code 2), false for a failure (1).
    pub fn is_usage(&self) -> bool {
        matches!(self, MigrateError::NoDatabaseUrl | MigrateError::Url(_))
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Progress of [`apply`], reported as it happens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event<'a> {
    /// Another run holds the lock; this one waits for it to finish.
    WaitingForLock,
    /// Recorded as applied, but the file is gone.
    MissingOnDisk { name: &'a str },
    /// About to run a file.
    Applying { name: &'a str },
    /// A file ran and was recorded.
    Applied { name: &'a str, elapsed: Duration },
    /// A file failed and was rolled back; [`apply`] returns the error next.
    Failed { name: &'a str, elapsed: Duration },
}

/// Applies every pending migration in `dir`, returning the names applied (empty when the
/// database was up to date).
///
/// Runs hold a Postgres advisory lock ([`LOCK_KEY`]) from before reading the tracking table
/// until the last file is committed, so concurrent runs queue up and the later one finds the
/// work done. Edited applied files abort the run before anything is applied.
pub async fn apply(
    url: &DatabaseUrl,
    dir: &Path,
    on_event: &mut (dyn FnMut(Event<'_>) + Send),
) -> Result<Vec<String>, MigrateError> {
    let local = files::read_migrations(dir)?;
    let mut client = db::connect(url).await?;
    if !db::try_lock(&client).await? {
        on_event(Event::WaitingForLock);
        db::lock(&client).await?;
    }
    let result = apply_locked(&mut client, &local, on_event).await;
    // Closing the connection releases the lock anyway, so a failed unlock changes nothing:
    // it must not turn a successful run into a reported failure.
    let _ = db::unlock(&client).await;
    result
}

async fn apply_locked(
    client: &mut tokio_postgres::Client,
    local: &[plan::LocalMigration],
    on_event: &mut (dyn FnMut(Event<'_>) + Send),
) -> Result<Vec<String>, MigrateError> {
    db::ensure_table(client).await?;
    let plan = Plan::new(local, &db::applied(client).await?);
    refuse_changed(&plan)?;
    for name in plan.names(State::Missing) {
        on_event(Event::MissingOnDisk { name });
    }
    let mut applied = Vec::new();
    for migration in plan.pending(local) {
        let name = migration.name.as_str();
        on_event(Event::Applying { name });
        let started = Instant::now();
        if let Err(reason) = db::apply(client, migration).await {
            on_event(Event::Failed {
                name,
                elapsed: started.elapsed(),
            });
            return Err(MigrateError::Failed {
                name: name.to_string(),
                reason,
            });
        }
        on_event(Event::Applied {
            name,
            elapsed: started.elapsed(),
        });
        applied.push(name.to_string());
    }
    Ok(applied)
}

/// Compares `dir` with the database without changing anything (not even creating the
/// tracking table): what `migrate status` shows.
pub async fn status(url: &DatabaseUrl, dir: &Path) -> Result<Plan, MigrateError> {
    let local = files::read_migrations(dir)?;
    let client = db::connect(url).await?;
    Ok(Plan::new(&local, &db::applied(&client).await?))
}

/// What `migrate --dry-run` would apply: [`status`], refusing edited files as a real run would.
pub async fn dry_run(url: &DatabaseUrl, dir: &Path) -> Result<Plan, MigrateError> {
    let plan = status(url, dir).await?;
    refuse_changed(&plan)?;
    Ok(plan)
}

fn refuse_changed(plan: &Plan) -> Result<(), MigrateError> {
    let changed = plan.names(State::Changed);
    if changed.is_empty() {
        return Ok(());
    }
    Err(MigrateError::Changed {
        names: changed.into_iter().map(str::to_string).collect(),
    })
}

/// The `--dry-run` report: one `would apply` line per pending file.
pub fn render_dry_run(plan: &Plan) -> String {
    let pending = plan.names(State::Pending);
    if pending.is_empty() {
        return format!(
            "nothing to apply ({} already applied)\n",
            plural(plan.names(State::Applied).len(), "migration", "migrations")
        );
    }
    let mut out: String = pending
        .iter()
        .map(|name| format!("would apply {name}\n"))
        .collect();
    out.push_str(&format!(
        "{} to apply (dry run: nothing was changed)\n",
        plural(pending.len(), "migration", "migrations")
    ));
    out
}

/// Warning text for a migration recorded in the database but absent from disk.
pub fn missing_warning(name: &str) -> String {
    format!("warning: {name} is recorded as applied but is not in the migrations directory")
}

#[cfg(test)]
mod tests {
    use super::plan::{AppliedMigration, LocalMigration};
    use super::*;

    #[test]
    fn dry_run_lists_pending_files() {
        let local = [
            LocalMigration::new("0001_a.sql", "a"),
            LocalMigration::new("0002_b.sql", "b"),
        ];
        let applied = [AppliedMigration {
            name: "0001_a.sql".into(),
            checksum: local[0].checksum.clone(),
            applied_at: "t".into(),
        }];
        assert_eq!(
            render_dry_run(&Plan::new(&local, &applied)),
            "would apply 0002_b.sql\n1 migration to apply (dry run: nothing was changed)\n"
        );
        assert_eq!(
            render_dry_run(&Plan::new(&local[..1], &applied)),
            "nothing to apply (1 migration already applied)\n"
        );
    }

    #[test]
    fn changed_files_are_refused_by_name() {
        let local = [LocalMigration::new("0001_a.sql", "a v2")];
        let applied = [AppliedMigration {
            name: "0001_a.sql".into(),
            checksum: LocalMigration::new("x", "a").checksum,
            applied_at: "t".into(),
        }];
        let err = refuse_changed(&Plan::new(&local, &applied)).unwrap_err();
        assert!(err
            .to_string()
            .contains("1 file changed after being applied (0001_a.sql)"));
        assert!(!err.is_usage());
    }
}

//! `strata-dev migrate`: applies `migrations/pg/*.sql` to Postgres, each file once, in name
//! order, recording each in `strata_migrations` — without taking the database down.
//!
//! Three guards stand between a migration and an outage:
//! * **Lint first.** Every pending file goes through squawk ([`lint`]) before anything is
//!   applied; a file with a locking or breaking statement is refused with the rule, the line
//!   and the safe rewrite, and nothing runs.
//! * **Never queue the application.** A statement waiting for a lock makes every later query
//!   on that table wait behind it, so each migration runs with a short `lock_timeout` (and a
//!   `statement_timeout`). A lock not granted (55P03) rolls the migration back and it is
//!   tried again after a growing pause, a few times; then the run stops, reported.
//! * **No-transaction files** (headed `-- strata:no-transaction`) run statement by
//!   statement, for `CREATE INDEX CONCURRENTLY`; the invalid index a failed build leaves is
//!   dropped, and a re-run resumes cleanly.
//!
//! Layout: [`plan`] compares files with tracking rows (pure), `files` reads the directory,
//! [`lint`] runs squawk, [`split`] cuts no-transaction files into statements, `db` talks to
//! Postgres. This module strings them together and reports progress as [`Event`]s, so the
//! binary decides how they look and tests can check them directly.

mod db;
mod files;
pub mod lint;
pub mod plan;
pub mod split;

use std::path::Path;
use std::time::{Duration, Instant};

use crate::dburl::{DatabaseUrl, UrlError};
pub use db::LOCK_KEY;
use db::{RunError, Timeouts};
// The connection and error text `read-role` shares.
pub(crate) use db::{connect, describe};
// The directory reading `d1-check` shares.
pub(crate) use files::read_migrations;
pub use lint::{Finding, Squawk};
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
    /// A statement of a no-transaction migration failed. The statements before it took
    /// effect (they are written to be re-run), the file is not recorded, and the next run
    /// starts it again from the top.
    #[error(
        "migration {name} (no transaction) failed at its statement on line {line}: {reason}; \
         the statements before it took effect and will run again (idempotent) next time; \
         the file is not recorded as applied"
    )]
    FailedStatement {
        name: String,
        line: usize,
        reason: String,
    },
    /// A migration could not get a lock in any attempt: something (a long transaction, a
    /// long query) holds a conflicting lock on a table it changes. Waiting longer would have
    /// made the application's queries queue behind the migration.
    #[error(
        "migration {name} gave up: a lock it needs was not granted within {lock_timeout_ms} ms \
         in any of {attempts} attempts ({reason}); {undone}. The release stops here. Find the \
         session holding the lock (SELECT pid, state, xact_start, query FROM pg_stat_activity \
         WHERE pid = ANY(pg_blocking_pids(<pid>)) while it waits), let it finish, and run again"
    )]
    LockNotGranted {
        name: String,
        attempts: u32,
        lock_timeout_ms: u128,
        reason: String,
        /// What became of the migration: rolled back whole, or where a no-transaction file
        /// stopped.
        undone: String,
    },
    /// squawk refused pending files; nothing was applied.
    #[error(
        "refusing to migrate: squawk found statements that lock or break the database\n{}",
        lint::render_findings(findings)
    )]
    Lint { findings: Vec<Finding> },
    /// squawk is missing or failed to run.
    #[error("cannot lint the migrations: {0}")]
    Linter(String),
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

/// How [`apply`] runs migrations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The linter every pending file goes through first.
    pub squawk: Squawk,
    /// `lock_timeout` of every migration: how long the application may be queued behind it.
    pub lock_timeout: Duration,
    /// `statement_timeout` of every statement (a file may raise its own).
    pub statement_timeout: Duration,
    /// Attempts per migration when its lock is not granted (at least 1).
    pub lock_attempts: u32,
    /// Pause after the first lock timeout; it doubles after each further one.
    pub first_backoff: Duration,
}

impl Options {
    /// Default lock timeout: one second of the application waiting is the most a migration
    /// may cost it; DDL that needs longer than that to get its lock is waiting behind
    /// something and should not stand at the head of the queue.
    pub const LOCK_TIMEOUT: Duration = Duration::from_secs(1);
    /// Default statement timeout: long enough for a real schema change or a modest backfill,
    /// short enough that a runaway statement does not hold its locks for long.
    pub const STATEMENT_TIMEOUT: Duration = Duration::from_secs(60);
    /// Default attempts: with the doubling pauses, about ten seconds of trying in all.
    pub const LOCK_ATTEMPTS: u32 = 5;
    /// Default first pause between attempts.
    pub const FIRST_BACKOFF: Duration = Duration::from_millis(250);

    /// The defaults, with `squawk`.
    pub fn new(squawk: Squawk) -> Self {
        Options {
            squawk,
            lock_timeout: Self::LOCK_TIMEOUT,
            statement_timeout: Self::STATEMENT_TIMEOUT,
            lock_attempts: Self::LOCK_ATTEMPTS,
            first_backoff: Self::FIRST_BACKOFF,
        }
    }

    fn timeouts(&self) -> Timeouts {
        Timeouts {
            lock: self.lock_timeout,
            statement: self.statement_timeout,
        }
    }

    /// The pause after failed attempt `attempt` (1-based): first, 2×, 4×, … capped at 8 s.
    fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32 << attempt.saturating_sub(1).min(8);
        (self.first_backoff * factor).min(Duration::from_secs(8))
    }
}

/// Progress of [`apply`], reported as it happens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event<'a> {
    /// Another run holds the lock; this one waits for it to finish.
    WaitingForLock,
    /// squawk checked the pending files and found nothing to refuse.
    Linted { files: usize },
    /// A file waives a squawk rule with a comment; shown so the waiver is never silent.
    Waived {
        name: &'a str,
        line: usize,
        text: &'a str,
    },
    /// A lock was not granted within the lock timeout; everything of the attempt was rolled
    /// back, and the next attempt follows after `retry_in`.
    LockTimeout {
        name: &'a str,
        attempt: u32,
        attempts: u32,
        waited: Duration,
        retry_in: Duration,
    },
    /// The last attempt timed out too; [`apply`] returns [`MigrateError::LockNotGranted`].
    GaveUp {
        name: &'a str,
        attempts: u32,
        waited: Duration,
    },
    /// An invalid index (a failed concurrent build's leftover) was dropped, before rebuilding
    /// it or after the build failed.
    DroppedInvalidIndex { name: &'a str, index: &'a str },
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
/// work done. Edited applied files, and pending files squawk refuses, abort the run before
/// anything is applied.
pub async fn apply(
    url: &DatabaseUrl,
    dir: &Path,
    options: &Options,
    on_event: &mut (dyn FnMut(Event<'_>) + Send),
) -> Result<Vec<String>, MigrateError> {
    let local = files::read_migrations(dir)?;
    let mut client = db::connect(url).await?;
    if !db::try_lock(&client).await? {
        on_event(Event::WaitingForLock);
        db::lock(&client).await?;
    }
    let result = apply_locked(&mut client, &local, options, on_event).await;
    // Closing the connection releases the lock anyway, so a failed unlock changes nothing:
    // it must not turn a successful run into a reported failure.
    let _ = db::unlock(&client).await;
    result
}

async fn apply_locked(
    client: &mut tokio_postgres::Client,
    local: &[plan::LocalMigration],
    options: &Options,
    on_event: &mut (dyn FnMut(Event<'_>) + Send),
) -> Result<Vec<String>, MigrateError> {
    db::ensure_table(client).await?;
    let plan = Plan::new(local, &db::applied(client).await?);
    refuse_changed(&plan)?;
    for name in plan.names(State::Missing) {
        on_event(Event::MissingOnDisk { name });
    }
    let pending = plan.pending(local);
    let version = db::server_version(client).await?;
    lint_all(&options.squawk, &pending, Some(&version), on_event)?;
    let mut applied = Vec::new();
    for migration in pending {
        let name = migration.name.as_str();
        on_event(Event::Applying { name });
        let started = Instant::now();
        let outcome = if migration.runs_in_transaction() {
            apply_file(client, migration, options, on_event).await
        } else {
            apply_statements(client, migration, options, on_event).await
        };
        if let Err(error) = outcome {
            on_event(Event::Failed {
                name,
                elapsed: started.elapsed(),
            });
            return Err(error);
        }
        on_event(Event::Applied {
            name,
            elapsed: started.elapsed(),
        });
        applied.push(name.to_string());
    }
    Ok(applied)
}

/// Lints `pending` with squawk, reporting waivers; any finding refuses the whole run.
fn lint_all(
    squawk: &Squawk,
    pending: &[&plan::LocalMigration],
    pg_version: Option<&str>,
    on_event: &mut (dyn FnMut(Event<'_>) + Send),
) -> Result<(), MigrateError> {
    let mut findings = Vec::new();
    for migration in pending {
        findings.extend(squawk.check(migration, pg_version)?);
    }
    if !findings.is_empty() {
        return Err(MigrateError::Lint { findings });
    }
    for migration in pending {
        for waiver in lint::waivers(&migration.sql) {
            on_event(Event::Waived {
                name: &migration.name,
                line: waiver.line,
                text: &waiver.text,
            });
        }
    }
    on_event(Event::Linted {
        files: pending.len(),
    });
    Ok(())
}

/// What one try of a piece of work came to.
enum Attempted {
    Done,
    /// Every attempt hit the lock timeout; the last error's text.
    GaveUp(String),
    /// Failed for another reason.
    Failed(String),
}

/// Which piece of work [`retrying`] runs: the work itself, not a closure over the client, so
/// the client can be borrowed mutably for each try.
enum Work<'a> {
    File(&'a plan::LocalMigration),
    Statement(&'a split::Statement<'a>),
    DropIndex(&'a str),
}

/// Runs `work` until it is done, fails for a reason other than a lock, or has hit the lock
/// timeout `options.lock_attempts` times, pausing ever longer between tries.
async fn retrying(
    client: &mut tokio_postgres::Client,
    name: &str,
    work: Work<'_>,
    options: &Options,
    on_event: &mut (dyn FnMut(Event<'_>) + Send),
) -> Attempted {
    let attempts = options.lock_attempts.max(1);
    for attempt in 1..=attempts {
        let started = Instant::now();
        let result = match &work {
            Work::File(migration) => {
                db::apply_in_transaction(client, migration, options.timeouts()).await
            }
            Work::Statement(statement) => {
                db::run_statement(client, statement.sql, statement.line).await
            }
            Work::DropIndex(index) => db::drop_index(client, index).await,
        };
        let waited = started.elapsed();
        match result {
            Ok(()) => return Attempted::Done,
            Err(RunError::Failed(reason)) => return Attempted::Failed(reason),
            Err(RunError::LockNotGranted(reason)) if attempt == attempts => {
                on_event(Event::GaveUp {
                    name,
                    attempts,
                    waited,
                });
                return Attempted::GaveUp(reason);
            }
            Err(RunError::LockNotGranted(_)) => {
                let retry_in = options.backoff(attempt);
                on_event(Event::LockTimeout {
                    name,
                    attempt,
                    attempts,
                    waited,
                    retry_in,
                });
                tokio::time::sleep(retry_in).await;
            }
        }
    }
    // Not reached: the last attempt returns above. Kept total rather than panicking.
    Attempted::GaveUp(String::new())
}

/// A transactional file: all of it and its tracking row, or (rolled back) none of it.
async fn apply_file(
    client: &mut tokio_postgres::Client,
    migration: &plan::LocalMigration,
    options: &Options,
    on_event: &mut (dyn FnMut(Event<'_>) + Send),
) -> Result<(), MigrateError> {
    match retrying(
        client,
        &migration.name,
        Work::File(migration),
        options,
        on_event,
    )
    .await
    {
        Attempted::Done => Ok(()),
        Attempted::Failed(reason) => Err(MigrateError::Failed {
            name: migration.name.clone(),
            reason,
        }),
        Attempted::GaveUp(reason) => Err(MigrateError::LockNotGranted {
            name: migration.name.clone(),
            attempts: options.lock_attempts.max(1),
            lock_timeout_ms: options.lock_timeout.as_millis(),
            reason,
            undone: "every attempt was rolled back, so nothing of it was applied".into(),
        }),
    }
}

/// A `-- strata:no-transaction` file: each statement on its own, then the tracking row.
///
/// Before a concurrent index build, an invalid index of that name (an earlier failed or
/// interrupted build) is dropped, since `IF NOT EXISTS` would otherwise keep it; after a
/// failed build, the invalid index it just left is dropped too, so a failure leaves nothing
/// behind that slows writes.
async fn apply_statements(
    client: &mut tokio_postgres::Client,
    migration: &plan::LocalMigration,
    options: &Options,
    on_event: &mut (dyn FnMut(Event<'_>) + Send),
) -> Result<(), MigrateError> {
    let name = migration.name.as_str();
    let failed = |line: usize, reason: String| MigrateError::FailedStatement {
        name: name.to_string(),
        line,
        reason,
    };
    db::set_session_timeouts(client, options.timeouts())
        .await
        .map_err(|e| failed(1, e.text().to_string()))?;
    let statements = split::statements(&migration.sql);
    for statement in &statements {
        let target = split::concurrent_index(statement.sql);
        if let Some(target) = &target {
            drop_invalid_index(client, name, target, options, on_event)
                .await
                .map_err(|e| failed(statement.line, e))?;
        }
        let outcome = retrying(client, name, Work::Statement(statement), options, on_event).await;
        let error = match outcome {
            Attempted::Done => continue,
            Attempted::Failed(reason) => failed(statement.line, reason),
            Attempted::GaveUp(reason) => MigrateError::LockNotGranted {
                name: name.to_string(),
                attempts: options.lock_attempts.max(1),
                lock_timeout_ms: options.lock_timeout.as_millis(),
                reason,
                undone: format!(
                    "it stopped at its statement on line {}: that statement did not take \
                     effect, those before it did and will run again (idempotent) next time, \
                     and the file is not recorded as applied",
                    statement.line
                ),
            },
        };
        if let Some(target) = &target {
            // Best effort: if the clean-up fails too, the next run finds and drops the
            // leftover before building again, and the error at hand is the one to report.
            let _ = drop_invalid_index(client, name, target, options, on_event).await;
        }
        let _ = db::reset(client).await;
        return Err(error);
    }
    db::record(client, migration).await.map_err(|e| {
        failed(
            statements.last().map_or(1, |s| s.line),
            e.text().to_string(),
        )
    })?;
    db::reset(client)
        .await
        .map_err(|e| failed(1, e.text().to_string()))
}

/// Drops the invalid index `target` names, if there is one, reporting it.
async fn drop_invalid_index(
    client: &mut tokio_postgres::Client,
    name: &str,
    target: &split::IndexTarget,
    options: &Options,
    on_event: &mut (dyn FnMut(Event<'_>) + Send),
) -> Result<(), String> {
    let Some(index) = db::invalid_index(client, &target.name, &target.table)
        .await
        .map_err(|e| e.text().to_string())?
    else {
        return Ok(());
    };
    match retrying(client, name, Work::DropIndex(&index), options, on_event).await {
        Attempted::Done => {
            on_event(Event::DroppedInvalidIndex {
                name,
                index: &index,
            });
            Ok(())
        }
        Attempted::Failed(reason) | Attempted::GaveUp(reason) => Err(format!(
            "cannot drop the invalid index {index} an earlier build left: {reason}"
        )),
    }
}

/// Compares `dir` with the database without changing anything (not even creating the
/// tracking table): what `migrate status` shows.
pub async fn status(url: &DatabaseUrl, dir: &Path) -> Result<Plan, MigrateError> {
    let local = files::read_migrations(dir)?;
    let client = db::connect(url).await?;
    Ok(Plan::new(&local, &db::applied(&client).await?))
}

/// What `migrate --dry-run` would apply: [`status`], refusing edited files and files squawk
/// refuses, as a real run would.
pub async fn dry_run(url: &DatabaseUrl, dir: &Path, squawk: &Squawk) -> Result<Plan, MigrateError> {
    let local = files::read_migrations(dir)?;
    let client = db::connect(url).await?;
    let plan = Plan::new(&local, &db::applied(&client).await?);
    refuse_changed(&plan)?;
    let version = db::server_version(&client).await?;
    lint_all(squawk, &plan.pending(&local), Some(&version), &mut |_| {})?;
    Ok(plan)
}

/// What `migrate --lint-only` checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LintReport {
    /// The files squawk checked, in order.
    pub files: Vec<String>,
    /// The waivers in them: (file, line, comment text).
    pub waivers: Vec<(String, usize, String)>,
}

/// `migrate --lint-only`: squawk over the pending files when a database is given (for its
/// version and to know what is pending), over every file when not. Changes nothing.
pub async fn lint_only(
    url: Option<&DatabaseUrl>,
    dir: &Path,
    squawk: &Squawk,
) -> Result<LintReport, MigrateError> {
    let local = files::read_migrations(dir)?;
    let (pending, version) = match url {
        Some(url) => {
            let client = db::connect(url).await?;
            let plan = Plan::new(&local, &db::applied(&client).await?);
            (
                plan.pending(&local),
                Some(db::server_version(&client).await?),
            )
        }
        None => (local.iter().collect(), None),
    };
    lint_all(squawk, &pending, version.as_deref(), &mut |_| {})?;
    Ok(LintReport {
        files: pending.iter().map(|m| m.name.clone()).collect(),
        waivers: pending
            .iter()
            .flat_map(|m| {
                lint::waivers(&m.sql)
                    .into_iter()
                    .map(|w| (m.name.clone(), w.line, w.text))
            })
            .collect(),
    })
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

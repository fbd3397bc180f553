//! The `strata-dev` command line: argument parsing, printing and exit codes only; the work is
//! in the library so it is tested without spawning processes.

// A host-only tool, never part of the Worker: it has a real clock (the ban is
// for wasm32, see clippy.toml).
#![allow(clippy::disallowed_methods)]

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use strata_devtools::d1check;
use strata_devtools::dburl::DatabaseUrl;
use strata_devtools::keygen::{self, ApiKey, IssuedKey, KeyId, KeygenError, Scope};
use strata_devtools::migrate::{self, Event, MigrateError, Options, Squawk};
use strata_devtools::read_role::{self, ReadRoleError};

/// Developer tools for Strata.
#[derive(Parser)]
#[command(name = "strata-dev", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create an API key and its API_KEYS entry (or the entry for an existing key).
    Keygen(KeygenArgs),
    /// Apply migrations/pg/*.sql to Postgres, each file once, in name order.
    Migrate(MigrateArgs),
    /// Create or update the SELECT-only role for DATABASE_URL_READ; prints that URL.
    ReadRole(ReadRoleArgs),
    /// Check migrations/d1 in SQLite: table rebuilds, foreign keys without an index.
    D1Check(D1CheckArgs),
    /// Move a REST table between D1 and Postgres while in use, verified, through Strata's API.
    Graduate(GraduateArgs),
}

#[derive(Args)]
struct GraduateArgs {
    /// The REST table
    table: String,
    /// Where to move it
    #[arg(long, value_parser = ["pg", "d1"])]
    to: Option<String>,
    /// The Worker's URL
    #[arg(long, env = "STRATA_API", default_value = "http://127.0.0.1:8787")]
    api: String,
    /// An API key with scopes sql and admin (or admin alone)
    #[arg(long, env = "STRATA_KEY", hide_env_values = true)]
    key: String,
    /// Print the target DDL and the values that would not fit; change nothing
    #[arg(long)]
    dry_run: bool,
    /// Put the table back to ready on the store serving it (its source while moving)
    #[arg(long)]
    abort: bool,
    /// After a verified flip, drop the source table
    #[arg(long)]
    drop_source: bool,
    /// Rows per keyset page
    #[arg(long, default_value_t = 500)]
    batch: usize,
}

#[derive(Args)]
struct D1CheckArgs {
    /// Directory of wrangler's D1 migration files
    #[arg(long, default_value = "migrations/d1")]
    dir: PathBuf,
}

#[derive(Args)]
struct KeygenArgs {
    /// Key id, the property name in API_KEYS [default: key-<8 random hex digits>]
    #[arg(long)]
    id: Option<String>,
    /// Comma-separated scopes [default: all: d1:read,d1:write,pg:read,pg:write,
    /// objects:read,objects:write,sql,admin]
    #[arg(long)]
    scopes: Option<String>,
    /// Build the entry for this key instead of generating one
    #[arg(long)]
    key: Option<String>,
    /// stdout format: `text` is the key then the entry, one per line
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// An access key pair for the S3-compatible API (S3_CREDENTIALS) instead of an API key;
    /// --scopes defaults to objects:read,objects:write; `text` prints the id, the secret and
    /// the entry
    #[arg(long, conflicts_with_all = ["id", "key"])]
    s3: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Json,
}

#[derive(Args)]
struct MigrateArgs {
    #[command(subcommand)]
    action: Option<MigrateAction>,
    /// Postgres URL; TLS unless the host is local or sslmode=disable
    // The value is hidden from --help: it carries the password.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, global = true)]
    database_url: Option<String>,
    /// Directory of *.sql migration files
    #[arg(long, default_value = "migrations/pg", global = true)]
    dir: PathBuf,
    /// List what would be applied, change nothing
    #[arg(long)]
    dry_run: bool,
    /// Only lint: the pending files (every file when no database URL is given), change nothing
    #[arg(long, conflicts_with = "dry_run")]
    lint_only: bool,
    /// squawk executable [default: .venv/bin/squawk or node_modules/.bin/squawk in this
    /// directory or a parent, else squawk on PATH]
    #[arg(long, env = "STRATA_SQUAWK", global = true)]
    squawk: Option<PathBuf>,
    /// lock_timeout of each migration (e.g. 1s, 500ms): longer and the application's queries
    /// queue behind it
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    lock_timeout: Duration,
    /// statement_timeout of each statement (a file may SET a longer one itself)
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    statement_timeout: Duration,
    /// Attempts per migration when its lock is not granted (pauses of 250 ms, 500 ms, 1 s, ...
    /// between them)
    #[arg(long, default_value_t = Options::LOCK_ATTEMPTS, value_parser = clap::value_parser!(u32).range(1..=20))]
    lock_attempts: u32,
}

/// `1500ms`, `2s`, `1min`: whole numbers with a unit, as Postgres' own settings are written.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("{text:?} has no unit: write e.g. 500ms, 2s or 1min"))?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} does not start with a whole number"))?;
    let duration = match unit {
        "ms" => Duration::from_millis(number),
        "s" => Duration::from_secs(number),
        "min" => Duration::from_secs(number.saturating_mul(60)),
        _ => {
            return Err(format!(
                "unknown unit {unit:?} in {text:?}: use ms, s or min"
            ))
        }
    };
    if duration.is_zero() {
        // 0 means "no timeout" to Postgres: the very thing this option is there to prevent.
        return Err("a timeout of 0 would mean no timeout at all".into());
    }
    Ok(duration)
}

#[derive(Args)]
struct ReadRoleArgs {
    /// Postgres URL of the role that owns the tables (runs the migrations)
    // Hidden from --help: it carries the password.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// Name of the read role
    #[arg(long, default_value = read_role::DEFAULT_ROLE)]
    role: String,
    /// Keep the role's password in this file (generated on first use) [default: a new
    /// password every run]
    #[arg(long)]
    password_file: Option<PathBuf>,
}

#[derive(Subcommand)]
enum MigrateAction {
    /// List applied, pending, changed and missing migrations
    Status,
}

/// Exit status for a usage error, as clap uses for its own.
const USAGE: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Keygen(args) => match run_keygen(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(&e, e.is_usage()),
        },
        Command::Migrate(args) => match run_migrate(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(&e, e.is_usage()),
        },
        Command::ReadRole(args) => match run_read_role(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(&e, e.is_usage()),
        },
        Command::D1Check(args) => run_d1_check(&args),
        Command::Graduate(args) => run_graduate(&args),
    }
}

fn run_graduate(args: &GraduateArgs) -> ExitCode {
    use std::io::IsTerminal;
    use strata_devtools::graduate::{self, Api, Side};
    let to = match (args.to.as_deref().and_then(Side::parse), args.abort) {
        (Some(to), _) => to,
        // --abort needs no target: the table goes back to where it is served from.
        (None, true) => Side::Pg,
        (None, false) => return fail(&"--to pg|d1 is required (or --abort)", true),
    };
    let opts = graduate::Options {
        table: args.table.clone(),
        to,
        dry_run: args.dry_run,
        abort: args.abort,
        drop_source: args.drop_source,
        batch: args.batch,
    };
    let api = Api::new(&args.api, &args.key);
    let terminal = std::io::stderr().is_terminal();
    let mut progress = |event: &serde_json::Value| {
        if terminal && event["event"] == "copy" {
            let eta = event["etaSeconds"]
                .as_f64()
                .map(|s| format!(", ETA {s}s"))
                .unwrap_or_default();
            eprint!(
                "\rcopied {} of {} rows, {} rows/s{eta}   ",
                event["rows"], event["total"], event["rowsPerSecond"]
            );
        } else if terminal && event["event"] == "plan" {
            eprintln!("{}", event["ddl"].as_str().unwrap_or(""));
            eprintln!(
                "{}",
                serde_json::to_string_pretty(event).unwrap_or_default()
            );
        } else if terminal {
            eprintln!("\n{event}");
        } else {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{event}");
            let _ = out.flush();
        }
    };
    match graduate::run(&api, &opts, &mut progress) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => fail(&e, false),
    }
}

fn fail(error: &dyn std::fmt::Display, usage: bool) -> ExitCode {
    eprintln!("error: {error}");
    ExitCode::from(if usage { USAGE } else { 1 })
}

fn run_keygen(args: KeygenArgs) -> Result<(), KeygenError> {
    if args.s3 {
        let scopes = match args.scopes.as_deref() {
            Some(list) => keygen::parse_scopes(list)?,
            None => vec![Scope::ObjectsRead, Scope::ObjectsWrite],
        };
        let pair = keygen::S3Pair::generate(scopes)?;
        eprint!("{}", pair.advice());
        match args.format {
            Format::Text => print!("{}", pair.to_text()),
            Format::Json => println!("{}", pair.to_json()),
        }
        return Ok(());
    }
    let scopes = match args.scopes.as_deref() {
        Some(list) => keygen::parse_scopes(list)?,
        None => Scope::ALL.to_vec(),
    };
    let id = match args.id.as_deref() {
        Some(id) => KeyId::parse(id)?,
        None => KeyId::random()?,
    };
    let generated = args.key.is_none();
    let key = match args.key.as_deref() {
        Some(key) => ApiKey::parse(key)?,
        None => ApiKey::generate()?,
    };
    let issued = IssuedKey { id, key, scopes };
    eprint!("{}", issued.advice(generated));
    match args.format {
        Format::Text => print!("{}", issued.to_text()),
        Format::Json => println!("{}", issued.to_json()),
    }
    Ok(())
}

fn run_migrate(args: MigrateArgs) -> Result<(), MigrateError> {
    let url = args
        .database_url
        .as_deref()
        .map(DatabaseUrl::parse)
        .transpose()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| MigrateError::Db {
            action: "start the async runtime",
            reason: e.to_string(),
        })?;
    // `status` needs no linter; everything else lints first.
    let squawk = || match &args.squawk {
        Some(path) => Squawk::at(path),
        None => Squawk::find(),
    };
    runtime.block_on(async {
        if args.lint_only && args.action.is_none() {
            let report = migrate::lint_only(url.as_ref(), &args.dir, &squawk()?).await?;
            for (name, line, text) in &report.waivers {
                eprintln!("note: {name}:{line} waives a squawk rule ({text})");
            }
            let scope = if url.is_some() {
                "pending"
            } else {
                "(no database: every file)"
            };
            println!(
                "lint passed: {} {scope} checked with squawk, nothing locks or breaks the database",
                match report.files.len() {
                    1 => "1 migration".to_string(),
                    n => format!("{n} migrations"),
                }
            );
            return Ok(());
        }
        let url = url.as_ref().ok_or(MigrateError::NoDatabaseUrl)?;
        match (args.action, args.dry_run) {
            (Some(MigrateAction::Status), _) => {
                print!("{}", migrate::status(url, &args.dir).await?.render_status());
            }
            (None, true) => {
                let plan = migrate::dry_run(url, &args.dir, &squawk()?).await?;
                for name in plan.names(migrate::State::Missing) {
                    eprintln!("{}", migrate::missing_warning(name));
                }
                print!("{}", migrate::render_dry_run(&plan));
            }
            (None, false) => {
                let options = Options {
                    lock_timeout: args.lock_timeout,
                    statement_timeout: args.statement_timeout,
                    lock_attempts: args.lock_attempts,
                    ..Options::new(squawk()?)
                };
                eprintln!(
                    "migrating {} from {} (lock_timeout {} ms, statement_timeout {} ms)",
                    url.redacted(),
                    args.dir.display(),
                    options.lock_timeout.as_millis(),
                    options.statement_timeout.as_millis()
                );
                let applied = migrate::apply(url, &args.dir, &options, &mut print_event).await?;
                match applied.len() {
                    0 => println!("nothing to apply: the database is up to date"),
                    1 => println!("applied 1 migration"),
                    n => println!("applied {n} migrations"),
                }
            }
        }
        Ok(())
    })
}

fn run_d1_check(args: &D1CheckArgs) -> ExitCode {
    let findings = match d1check::check(&args.dir) {
        Ok(findings) => findings,
        Err(e) => return fail(&e, false),
    };
    for finding in &findings {
        eprintln!("{}", finding.render());
    }
    let refused = findings.iter().filter(|f| !f.waived).count();
    if refused > 0 {
        eprintln!(
            "error: {refused} D1 migration {} (waive one reviewed as harmless with \
             `-- strata:allow <rule>` in its file)",
            if refused == 1 { "finding" } else { "findings" }
        );
        return ExitCode::FAILURE;
    }
    println!("d1-check passed: {}", args.dir.display());
    ExitCode::SUCCESS
}

fn run_read_role(args: ReadRoleArgs) -> Result<(), ReadRoleError> {
    let raw = args.database_url.ok_or(MigrateError::NoDatabaseUrl)?;
    let url = DatabaseUrl::parse(&raw).map_err(MigrateError::from)?;
    read_role::check_name(&args.role)?;
    let password = match &args.password_file {
        Some(path) => read_role::password_from_file(path)?,
        None => read_role::generate_password()?,
    };
    let read_url = read_role::read_url(&raw, &args.role, &password)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| ReadRoleError::Db {
            action: "start the async runtime",
            reason: e.to_string(),
        })?;
    runtime.block_on(read_role::ensure(&url, &args.role, &password))?;
    eprintln!(
        "read role {} ready on {} (SELECT only, default_transaction_read_only = on)",
        args.role,
        url.redacted()
    );
    // stdout is the DATABASE_URL_READ value and nothing else, for scripts.
    println!("{read_url}");
    Ok(())
}

fn print_event(event: Event<'_>) {
    match event {
        Event::WaitingForLock => {
            eprintln!("waiting for another migrate run to finish (advisory lock)")
        }
        Event::MissingOnDisk { name } => eprintln!("{}", migrate::missing_warning(name)),
        Event::Linted { files: 0 } => {}
        Event::Linted { files } => eprintln!(
            "lint passed: {files} pending {} checked with squawk",
            if files == 1 {
                "migration"
            } else {
                "migrations"
            }
        ),
        Event::Waived { name, line, text } => {
            eprintln!("note: {name}:{line} waives a squawk rule ({text})")
        }
        Event::Applying { name } => progress(format_args!("applying {name} ... ")),
        Event::LockTimeout {
            attempt,
            attempts,
            waited,
            retry_in,
            ..
        } => progress(format_args!(
            "lock not granted in {} ms (attempt {attempt} of {attempts}), retrying in {} ms ... ",
            waited.as_millis(),
            retry_in.as_millis()
        )),
        Event::GaveUp {
            attempts, waited, ..
        } => progress(format_args!(
            "lock not granted in {} ms (attempt {attempts} of {attempts}), giving up ... ",
            waited.as_millis()
        )),
        Event::DroppedInvalidIndex { index, .. } => progress(format_args!(
            "dropped the invalid index {index} a failed build left ... "
        )),
        Event::Applied { elapsed, .. } => println!("ok ({} ms)", elapsed.as_millis()),
        Event::Failed { elapsed, .. } => println!("FAILED ({} ms)", elapsed.as_millis()),
    }
}

/// Part of a progress line: shown at once, before a slow step ends.
fn progress(text: std::fmt::Arguments<'_>) {
    print!("{text}");
    // A failed flush only delays the text.
    let _ = std::io::stdout().flush();
}

//! The pre-flight check of `migrate`: every pending file goes through squawk, the Postgres
//! migration linter, and a file with any finding is refused before anything is applied.
//!
//! squawk is a real parser (Postgres' own grammar) with rules written from outages, so Strata
//! does not grow a look-alike; this module runs it, keeps the rules that are about taking the
//! database down or breaking the running application, and turns each finding into the line
//! of the file, why it hurts and the safe rewrite.
//!
//! Opting out is squawk's own comment, `-- squawk-ignore <rule>` on the line before the
//! statement (or `-- squawk-ignore-file <rule>`): visible in review, one rule at a time.
//! Strata reports every such waiver when it applies the file, and refuses a bare
//! `-- squawk-ignore-file` that would silence every rule.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::plan::LocalMigration;
use super::{split, MigrateError};

/// The header line that makes a migration run outside a transaction.
pub const NO_TRANSACTION_MARKER: &str = "-- strata:no-transaction";

/// squawk rules turned off, with the reason each is not about availability here.
///
/// * `require-timeout-settings`: `migrate` sets `lock_timeout` and `statement_timeout` on
///   every migration itself, so files need not.
/// * The rest are schema style (bigint over int, identity over serial, text over varchar,
///   timestamptz): good advice, but they never lock anything and are not this check's job.
pub const EXCLUDED_RULES: &[&str] = &[
    "require-timeout-settings",
    "prefer-bigint-over-int",
    "prefer-bigint-over-smallint",
    "prefer-identity",
    "prefer-text-field",
    "prefer-timestamp-tz",
    "ban-char-field",
];

/// Where `migrate` looks for squawk when not told, relative to the working directory and each
/// of its parents: the project's venv (scripts/tools.sh installs it there), then npm's.
const CANDIDATES: &[&str] = &[".venv/bin/squawk", "node_modules/.bin/squawk"];

/// A squawk executable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Squawk {
    path: PathBuf,
}

impl Squawk {
    /// squawk at `path`, which must exist.
    pub fn at(path: impl Into<PathBuf>) -> Result<Squawk, MigrateError> {
        let path = path.into();
        if !path.is_file() {
            return Err(MigrateError::Linter(format!(
                "squawk not found at {} (scripts/tools.sh installs it into .venv)",
                path.display()
            )));
        }
        Ok(Squawk { path })
    }

    /// The project's squawk: `.venv/bin/squawk` (or `node_modules/.bin/squawk`) in the working
    /// directory or the nearest parent that has one, else `squawk` on `PATH`.
    pub fn find() -> Result<Squawk, MigrateError> {
        let cwd = std::env::current_dir().ok();
        let local = cwd
            .iter()
            .flat_map(|dir| dir.ancestors())
            .find_map(|dir| CANDIDATES.iter().map(|c| dir.join(c)).find(|p| p.is_file()));
        if let Some(path) = local {
            return Ok(Squawk { path });
        }
        let on_path = std::env::var_os("PATH")
            .iter()
            .flat_map(std::env::split_paths)
            .map(|dir| dir.join("squawk"))
            .find(|p| p.is_file());
        on_path.map(|path| Squawk { path }).ok_or_else(|| {
            MigrateError::Linter(
                "squawk (the Postgres migration linter) is not installed: run scripts/tools.sh \
                 (make tools), which puts it in .venv/bin, or pass --squawk PATH"
                    .into(),
            )
        })
    }

    /// Where the executable is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Lints one migration; `pg_version` (`"15.4"`) lets rules that depend on the server
    /// version (a volatile `DEFAULT` rewrites the table before 11) answer for that server.
    pub fn check(
        &self,
        migration: &LocalMigration,
        pg_version: Option<&str>,
    ) -> Result<Vec<Finding>, MigrateError> {
        let mut findings = Vec::new();
        let mut command = Command::new(&self.path);
        command
            .arg("--reporter=json")
            .arg(format!("--stdin-filepath={}", migration.name))
            .arg(format!("--exclude={}", EXCLUDED_RULES.join(",")));
        // A transactional file is wrapped in one by `migrate`: squawk then knows that a table
        // created earlier in the file is new (its index need not be concurrent) and that
        // `CONCURRENTLY` or NOT VALID + VALIDATE together are wrong. A no-transaction file is
        // checked as one, where prefer-robust-stmts asks for re-runnable statements.
        if migration.runs_in_transaction() {
            command.arg("--assume-in-transaction");
        } else {
            command.arg("--no-assume-in-transaction");
        }
        if let Some(version) = pg_version {
            command.arg(format!("--pg-version={version}"));
        }
        let output = run_with_stdin(&mut command, migration.sql.as_bytes()).map_err(|e| {
            MigrateError::Linter(format!("cannot run {}: {e}", self.path.display()))
        })?;
        // squawk exits 1 when it found something and 0 when not; anything else (2: bad
        // arguments) is the tool failing, and must not pass for a clean file.
        if !matches!(output.status.code(), Some(0 | 1)) {
            return Err(MigrateError::Linter(format!(
                "{} failed ({}): {}",
                self.path.display(),
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            )));
        }
        let reported = parse_report(&output.stdout)?;
        if output.status.code() == Some(1) && reported.is_empty() {
            return Err(MigrateError::Linter(format!(
                "squawk failed on {} without a finding: {}",
                migration.name,
                String::from_utf8_lossy(&output.stderr).trim()
            )));
        }
        findings.extend(reported.into_iter().map(|f| Finding {
            file: migration.name.clone(),
            line: f.line + 1,
            column: f.column + 1,
            source: source_line(&migration.sql, f.line),
            rule: f.rule_name,
            message: f.message,
            help: f.help,
        }));
        // squawk reports CONCURRENTLY in a transaction itself when the file has other
        // statements too; one finding per line is enough.
        let squawk_lines: Vec<usize> = findings
            .iter()
            .filter(|f| f.rule == "ban-concurrent-index-creation-in-transaction")
            .map(|f| f.line)
            .collect();
        let own: Vec<Finding> = strata_checks(migration)
            .into_iter()
            .filter(|f| {
                f.rule != "strata-concurrently-in-transaction" || !squawk_lines.contains(&f.line)
            })
            .collect();
        findings.extend(own);
        findings.sort_by_key(|f| (f.line, f.column));
        Ok(findings)
    }
}

fn run_with_stdin(command: &mut Command, input: &[u8]) -> std::io::Result<std::process::Output> {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    // Written from a thread: a file larger than the pipe buffer would otherwise deadlock
    // against squawk writing its report before it has read all of its input.
    let mut stdin = child.stdin.take();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || match stdin.as_mut() {
        Some(pipe) => pipe.write_all(&input),
        None => Ok(()),
    });
    let output = child.wait_with_output()?;
    writer
        .join()
        .map_err(|_| std::io::Error::other("writing to squawk panicked"))??;
    Ok(output)
}

/// One finding as squawk's JSON reporter prints it (lines and columns 0-based).
struct SquawkFinding {
    line: usize,
    column: usize,
    rule_name: String,
    message: String,
    help: Option<String>,
}

/// squawk's `--reporter=json` output: an array of findings. Read through `serde_json::Value`
/// (the crate has no serde derive), taking only the fields used.
fn parse_report(stdout: &[u8]) -> Result<Vec<SquawkFinding>, MigrateError> {
    let unexpected =
        |why: String| MigrateError::Linter(format!("unexpected output from squawk: {why}"));
    let value: serde_json::Value =
        serde_json::from_slice(stdout).map_err(|e| unexpected(e.to_string()))?;
    let items = value
        .as_array()
        .ok_or_else(|| unexpected("not a JSON array".into()))?;
    items
        .iter()
        .map(|item| {
            let number = |key: &str| {
                item.get(key)
                    .and_then(serde_json::Value::as_u64)
                    .and_then(|n| usize::try_from(n).ok())
                    .ok_or_else(|| unexpected(format!("a finding without {key}")))
            };
            let text = |key: &str| {
                item.get(key)
                    .and_then(serde_json::Value::as_str)
                    .map(str::to_string)
            };
            Ok(SquawkFinding {
                line: number("line")?,
                column: number("column")?,
                rule_name: text("rule_name")
                    .ok_or_else(|| unexpected("a finding without rule_name".into()))?,
                message: text("message").unwrap_or_default(),
                help: text("help"),
            })
        })
        .collect()
}

/// One reason to refuse a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Migration file name.
    pub file: String,
    /// 1-based line and column of the offending part.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// squawk's rule name (`require-concurrent-index-creation`), or a `strata-…` check.
    pub rule: String,
    /// squawk's (or Strata's) description of the problem.
    pub message: String,
    /// squawk's suggestion, when it has one.
    pub help: Option<String>,
    /// The file's text on `line`.
    pub source: String,
}

impl Finding {
    /// The finding as a reviewer needs it: where, which rule, the line itself, why it takes
    /// the database down or breaks the application, the safe rewrite, and how to waive it.
    pub fn render(&self) -> String {
        let (why, rewrite) = guidance(&self.rule).unwrap_or((self.message.as_str(), ""));
        let rewrite = if rewrite.is_empty() {
            self.help
                .as_deref()
                .unwrap_or("see the rule's documentation")
        } else {
            rewrite
        };
        let mut text = format!(
            "{}:{}:{}: [{}] {}\n    {}\n  safe rewrite: {}\n",
            self.file,
            self.line,
            self.column,
            self.rule,
            why,
            self.source.trim_end(),
            rewrite
        );
        if !self.rule.starts_with("strata-") && self.rule != "syntax-error" {
            text.push_str(&format!(
                "  rule: https://squawkhq.com/docs/{} ; to waive it after review, put \
                 `-- squawk-ignore {}` on the line before the statement\n",
                self.rule, self.rule
            ));
        }
        text
    }
}

/// Strata's words for the rules that matter most: (why it hurts, the safe rewrite).
fn guidance(rule: &str) -> Option<(&'static str, &'static str)> {
    Some(match rule {
        "require-concurrent-index-creation" => (
            "CREATE INDEX without CONCURRENTLY blocks every write to the table until the index is built",
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS <name> ON ... in its own migration file headed \
             `-- strata:no-transaction` (CONCURRENTLY cannot run in a transaction)",
        ),
        "require-concurrent-index-deletion" => (
            "DROP INDEX without CONCURRENTLY takes an ACCESS EXCLUSIVE lock: reads and writes wait",
            "DROP INDEX CONCURRENTLY IF EXISTS <name> in a file headed `-- strata:no-transaction`",
        ),
        "ban-concurrent-index-creation-in-transaction" => (
            "CONCURRENTLY cannot run inside a transaction, and migrate runs this file in one",
            "move the statement to its own file headed `-- strata:no-transaction`",
        ),
        "adding-required-field" => (
            "a NOT NULL column without a default makes every INSERT of the running application \
             fail (and fails outright on a table with rows)",
            "add the column nullable or with a constant DEFAULT; backfill; then enforce it in a \
             later release (docs/migrations.md, \"Adding a required column\")",
        ),
        "adding-not-nullable-field" => (
            "SET NOT NULL scans the whole table under an ACCESS EXCLUSIVE lock: reads and writes wait",
            "ADD CONSTRAINT <c> CHECK (<col> IS NOT NULL) NOT VALID; VALIDATE CONSTRAINT <c> in a \
             later migration; then SET NOT NULL uses the validated check and does not scan",
        ),
        "adding-field-with-default" => (
            "a volatile DEFAULT (or any DEFAULT before Postgres 11) rewrites the whole table under \
             an ACCESS EXCLUSIVE lock",
            "add the column without a default, SET DEFAULT separately, backfill existing rows in batches",
        ),
        "changing-column-type" => (
            "changing a column's type rewrites the table under an ACCESS EXCLUSIVE lock, and the \
             running application may not read the new type",
            "expand and contract: add a column of the new type, write both, backfill, switch reads, \
             drop the old one in a later release (docs/migrations.md)",
        ),
        "constraint-missing-not-valid" => (
            "adding a constraint validates every row while holding a lock that blocks writes \
             (NOT VALID and VALIDATE in one transaction is no better)",
            "ADD CONSTRAINT ... NOT VALID in one migration, ALTER TABLE ... VALIDATE CONSTRAINT \
             in a later migration file",
        ),
        "adding-foreign-key-constraint" => (
            "a new foreign key scans the table under a lock that blocks writes on both tables",
            "ADD CONSTRAINT ... FOREIGN KEY ... NOT VALID in one migration, VALIDATE CONSTRAINT in \
             a later migration file",
        ),
        "disallowed-unique-constraint" => (
            "ADD CONSTRAINT ... UNIQUE builds its index under an ACCESS EXCLUSIVE lock",
            "CREATE UNIQUE INDEX CONCURRENTLY (no-transaction file), then ADD CONSTRAINT <c> \
             UNIQUE USING INDEX <index>",
        ),
        "adding-serial-primary-key-field" => (
            "ADD PRIMARY KEY builds its index under an ACCESS EXCLUSIVE lock",
            "CREATE UNIQUE INDEX CONCURRENTLY (no-transaction file), then ADD CONSTRAINT <c> \
             PRIMARY KEY USING INDEX <index>",
        ),
        "renaming-column" => (
            "the running application still uses the old name and fails as soon as this commits",
            "expand and contract: add the new column, write both, backfill, switch reads, drop the \
             old one in a later release (docs/migrations.md, \"Renaming a column\")",
        ),
        "renaming-table" => (
            "the running application still uses the old name and fails as soon as this commits",
            "create the new table (or a view under the new name), move the application, drop the \
             old name in a later release",
        ),
        "ban-drop-column" => (
            "the running application may still read or write the column",
            "first release an application that no longer uses it; then drop it in a later \
             migration with `-- squawk-ignore ban-drop-column` above, saying so",
        ),
        "ban-drop-table" => (
            "the running application may still use the table",
            "first release an application that no longer uses it; then drop it in a later \
             migration with `-- squawk-ignore ban-drop-table` above, saying so",
        ),
        "prefer-robust-stmts" => (
            "a no-transaction migration that fails is re-run from its first statement, so each \
             statement must succeed when it already took effect",
            "IF NOT EXISTS / IF EXISTS on every statement (named indexes: CREATE INDEX \
             CONCURRENTLY IF NOT EXISTS <name>)",
        ),
        "transaction-nesting" | "ban-uncommitted-transaction" => (
            "migrate runs each file in its own transaction; BEGIN/COMMIT in the file breaks that",
            "remove BEGIN/COMMIT; for statements that cannot run in a transaction, head the file \
             `-- strata:no-transaction`",
        ),
        "unused-ignore" => (
            "a squawk-ignore comment names an unknown rule or waives nothing; a mistyped waiver \
             must not pass for a reviewed one",
            "write `-- squawk-ignore <rule-name>` alone on the line right before the statement",
        ),
        "syntax-error" => ("squawk cannot parse the file", "fix the SQL"),
        "strata-blanket-ignore" => (
            "a bare `squawk-ignore-file` silences every rule",
            "waive one rule: `-- squawk-ignore <rule>` before the statement, or \
             `-- squawk-ignore-file <rule>`",
        ),
        "strata-concurrently-in-transaction" => (
            "CONCURRENTLY cannot run inside a transaction, and migrate runs this file in one",
            "put the statement in its own file headed `-- strata:no-transaction` (with IF NOT \
             EXISTS / IF EXISTS, so a re-run after a failure is safe)",
        ),
        "strata-misplaced-marker" => (
            "`-- strata:no-transaction` only counts in the comment header before the first \
             statement; here it would be ignored and the file would run in a transaction",
            "move it to the top of the file",
        ),
        _ => return None,
    })
}

/// Strata's own checks, which squawk has no rule for.
fn strata_checks(migration: &LocalMigration) -> Vec<Finding> {
    let mut findings = Vec::new();
    let header = header_lines(&migration.sql);
    for (index, line) in migration.sql.lines().enumerate() {
        let trimmed = line.trim();
        let finding = |rule: &str, message: &str| Finding {
            file: migration.name.clone(),
            line: index + 1,
            column: line.len() - line.trim_start().len() + 1,
            rule: rule.into(),
            message: message.into(),
            help: None,
            source: line.to_string(),
        };
        if trimmed == NO_TRANSACTION_MARKER && index >= header {
            findings.push(finding("strata-misplaced-marker", "misplaced marker"));
        }
        if let Some(rest) = comment_text(trimmed).and_then(|c| c.strip_prefix("squawk-ignore-file"))
        {
            if rest.trim().is_empty() {
                findings.push(finding("strata-blanket-ignore", "blanket ignore"));
            }
        }
    }
    // squawk lets a file whose only statement is `CREATE INDEX CONCURRENTLY` pass even when
    // told files run in a transaction (some tools run such files outside one); migrate does
    // not, so Strata checks it: the statement would fail at run time, and the fix is the
    // header, which a reviewer should see asked for here.
    if migration.runs_in_transaction() {
        for statement in split::statements(&migration.sql) {
            let words = split::words(statement.sql);
            let concurrently = |w: &String| w.eq_ignore_ascii_case("concurrently");
            // CREATE [UNIQUE] INDEX / DROP INDEX / REINDEX ... CONCURRENTLY near the start;
            // ALTER TABLE ... DETACH PARTITION ... CONCURRENTLY at the end.
            let detach = words
                .first()
                .is_some_and(|w| w.eq_ignore_ascii_case("alter"))
                && words.last().is_some_and(concurrently);
            if words.iter().take(5).any(concurrently) || detach {
                let line = migration
                    .sql
                    .lines()
                    .nth(statement.line - 1)
                    .unwrap_or_default();
                findings.push(Finding {
                    file: migration.name.clone(),
                    line: statement.line,
                    column: line.len() - line.trim_start().len() + 1,
                    rule: "strata-concurrently-in-transaction".into(),
                    message: "CONCURRENTLY in a transaction".into(),
                    help: None,
                    source: line.to_string(),
                });
            }
        }
    }
    findings
}

/// The text of a `--` comment line, trimmed.
fn comment_text(line: &str) -> Option<&str> {
    line.strip_prefix("--").map(str::trim)
}

/// How many lines the leading comment header has (blank lines and `--` comments before the
/// first statement).
pub fn header_lines(sql: &str) -> usize {
    sql.lines()
        .take_while(|l| l.trim().is_empty() || l.trim_start().starts_with("--"))
        .count()
}

/// Whether `sql` is headed by [`NO_TRANSACTION_MARKER`].
pub fn is_no_transaction(sql: &str) -> bool {
    sql.lines()
        .take(header_lines(sql))
        .any(|l| l.trim() == NO_TRANSACTION_MARKER)
}

/// A waiver in a file: `-- squawk-ignore rule` or `-- squawk-ignore-file rule`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiver {
    /// 1-based line of the comment.
    pub line: usize,
    /// The comment's text after `--`, e.g. `squawk-ignore ban-drop-column`.
    pub text: String,
}

/// Every waiver comment in `sql`, so a run can say which rules it was told to skip.
pub fn waivers(sql: &str) -> Vec<Waiver> {
    sql.lines()
        .enumerate()
        .filter_map(|(index, line)| {
            let text = comment_text(line.trim())?;
            text.starts_with("squawk-ignore").then(|| Waiver {
                line: index + 1,
                text: text.to_string(),
            })
        })
        .collect()
}

fn source_line(sql: &str, zero_based: usize) -> String {
    sql.lines().nth(zero_based).unwrap_or_default().to_string()
}

/// The refusal text: every finding, then what happens next.
pub fn render_findings(findings: &[Finding]) -> String {
    let mut text: String = findings.iter().map(Finding::render).collect();
    let mut files: Vec<&str> = findings.iter().map(|f| f.file.as_str()).collect();
    files.dedup();
    text.push_str(&format!(
        "{} in {} ({}); nothing was applied",
        plural(findings.len(), "finding", "findings"),
        plural(files.len(), "file", "files"),
        files.join(", ")
    ));
    text
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_marker_counts_only_in_the_header() {
        assert!(is_no_transaction(
            "-- Build the index online.\n\n-- strata:no-transaction\nCREATE INDEX CONCURRENTLY i ON t (a);\n"
        ));
        assert!(!is_no_transaction(
            "CREATE TABLE t (a int);\n-- strata:no-transaction\n"
        ));
        assert!(!is_no_transaction(
            "-- strata:no-transactional\nSELECT 1;\n"
        ));
        let late = LocalMigration::new("x.sql", "SELECT 1;\n  -- strata:no-transaction\n");
        let findings = strata_checks(&late);
        assert_eq!(findings.len(), 1);
        assert_eq!((findings[0].line, findings[0].column), (2, 3));
        assert_eq!(findings[0].rule, "strata-misplaced-marker");
    }

    #[test]
    fn a_bare_ignore_file_is_refused_and_waivers_are_listed() {
        let sql = "-- squawk-ignore-file\n-- squawk-ignore ban-drop-column\nALTER TABLE t DROP COLUMN a;\n";
        let findings = strata_checks(&LocalMigration::new("x.sql", sql));
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].rule, "strata-blanket-ignore");
        assert_eq!(
            waivers(sql),
            vec![
                Waiver {
                    line: 1,
                    text: "squawk-ignore-file".into()
                },
                Waiver {
                    line: 2,
                    text: "squawk-ignore ban-drop-column".into()
                },
            ]
        );
    }

    #[test]
    fn findings_render_with_line_rule_source_and_rewrite() {
        let finding = Finding {
            file: "0002_idx.sql".into(),
            line: 3,
            column: 1,
            rule: "require-concurrent-index-creation".into(),
            message: "squawk's words".into(),
            help: None,
            source: "CREATE INDEX i ON t (a);".into(),
        };
        let text = finding.render();
        assert!(text.starts_with("0002_idx.sql:3:1: [require-concurrent-index-creation] CREATE INDEX without CONCURRENTLY blocks every write"), "{text}");
        assert!(text.contains("\n    CREATE INDEX i ON t (a);\n"), "{text}");
        assert!(
            text.contains("safe rewrite: CREATE INDEX CONCURRENTLY IF NOT EXISTS"),
            "{text}"
        );
        assert!(
            text.contains("-- squawk-ignore require-concurrent-index-creation"),
            "{text}"
        );
        let unknown = Finding {
            rule: "some-new-rule".into(),
            help: Some("do this".into()),
            ..finding
        };
        assert!(unknown.render().contains("] squawk's words\n"));
        assert!(unknown.render().contains("safe rewrite: do this\n"));
    }
}

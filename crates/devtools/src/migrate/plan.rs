//! What a migrate run would do: files on disk compared with rows of `strata_migrations`.
//!
//! Pure: no file system, no database. `mod.rs` gathers both sides and acts on the [`Plan`].

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::digest::sha256_hex;

/// A `.sql` file from the migrations directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalMigration {
    /// File name, e.g. `0001_init.sql`; also the key in `strata_migrations`.
    pub name: String,
    /// The file's text, sent to the server as one batch.
    pub sql: String,
    /// Lowercase hex SHA-256 of the file bytes.
    pub checksum: String,
}

impl LocalMigration {
    /// A migration from its file name and contents.
    pub fn new(name: impl Into<String>, sql: impl Into<String>) -> Self {
        let sql = sql.into();
        LocalMigration {
            name: name.into(),
            checksum: sha256_hex(sql.as_bytes()),
            sql,
        }
    }

    /// False for a file headed `-- strata:no-transaction`, which runs statement by statement
    /// in autocommit (`CREATE INDEX CONCURRENTLY`); true for every other file.
    pub fn runs_in_transaction(&self) -> bool {
        !super::lint::is_no_transaction(&self.sql)
    }
}

/// A row of `strata_migrations`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedMigration {
    /// File name the row was recorded under.
    pub name: String,
    /// Checksum of the file as it was applied.
    pub checksum: String,
    /// When it was applied, as the server formats a `timestamptz`.
    pub applied_at: String,
}

/// Where one migration stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Applied, and the file is unchanged since.
    Applied,
    /// On disk, not yet applied.
    Pending,
    /// Applied, but the file has been edited since: the database no longer matches the file,
    /// so nothing is applied until someone decides what to do.
    Changed,
    /// Recorded as applied, but no file on disk (deleted or renamed, or a branch switch).
    Missing,
}

impl State {
    fn label(self) -> &'static str {
        match self {
            State::Applied => "applied",
            State::Pending => "pending",
            State::Changed => "changed",
            State::Missing => "missing",
        }
    }
}

/// One line of the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Migration file name.
    pub name: String,
    /// Where it stands.
    pub state: State,
    /// When it was applied, if it was.
    pub applied_at: Option<String>,
}

/// Every migration known on either side, in name order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    entries: Vec<Entry>,
}

impl Plan {
    /// Compares the files with the tracking rows. Order is by file name (byte order), which is
    /// why migration names start with a zero-padded number.
    pub fn new(local: &[LocalMigration], applied: &[AppliedMigration]) -> Self {
        let mut by_name: BTreeMap<&str, Entry> = BTreeMap::new();
        for row in applied {
            let entry = Entry {
                name: row.name.clone(),
                state: State::Missing,
                applied_at: Some(row.applied_at.clone()),
            };
            by_name.insert(&row.name, entry);
        }
        for file in local {
            let recorded = applied.iter().find(|row| row.name == file.name);
            let state = match recorded {
                None => State::Pending,
                Some(row) if row.checksum == file.checksum => State::Applied,
                Some(_) => State::Changed,
            };
            let applied_at = recorded.map(|row| row.applied_at.clone());
            let entry = Entry {
                name: file.name.clone(),
                state,
                applied_at,
            };
            by_name.insert(&file.name, entry);
        }
        Plan {
            entries: by_name.into_values().collect(),
        }
    }

    /// All entries, in name order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Names in `state`, in name order.
    pub fn names(&self, state: State) -> Vec<&str> {
        self.entries
            .iter()
            .filter(|e| e.state == state)
            .map(|e| e.name.as_str())
            .collect()
    }

    /// The files to apply, in order.
    pub fn pending<'a>(&self, local: &'a [LocalMigration]) -> Vec<&'a LocalMigration> {
        let pending = self.names(State::Pending);
        let mut files: Vec<&LocalMigration> = local
            .iter()
            .filter(|m| pending.contains(&m.name.as_str()))
            .collect();
        files.sort_by(|a, b| a.name.cmp(&b.name));
        files
    }

    /// The `migrate status` table plus a one-line summary.
    pub fn render_status(&self) -> String {
        let width = self
            .entries
            .iter()
            .map(|e| e.name.len())
            .max()
            .unwrap_or(0)
            .max("migration".len());
        let mut out = format!("{:<8} {:<width$}  applied at\n", "state", "migration");
        for entry in &self.entries {
            let applied_at = entry.applied_at.as_deref().unwrap_or("-");
            let note = match entry.state {
                State::Changed => "  (file edited after it was applied)",
                State::Missing => "  (applied, but no file on disk)",
                State::Applied | State::Pending => "",
            };
            let line = format!(
                "{:<8} {:<width$}  {applied_at}{note}",
                entry.state.label(),
                entry.name
            );
            out.push_str(line.trim_end());
            out.push('\n');
        }
        let counts: Vec<String> = [
            State::Applied,
            State::Pending,
            State::Changed,
            State::Missing,
        ]
        .into_iter()
        .map(|s| format!("{} {}", self.names(s).len(), s.label()))
        .collect();
        let _ = writeln!(out, "{}", counts.join(", "));
        out
    }
}

/// Whether a directory entry is a migration: a `.sql` file, not hidden (editors leave
/// `.#name.sql` lock files and the like).
pub fn is_migration_file(name: &str) -> bool {
    name.ends_with(".sql") && name.len() > ".sql".len() && !name.starts_with('.')
}

/// 1-based (line, column) of a 1-based character position in `sql`, as Postgres reports error
/// positions; `None` if the position is past the end.
pub fn line_and_column(sql: &str, position: u32) -> Option<(usize, usize)> {
    let index = usize::try_from(position).ok()?.checked_sub(1)?;
    let before: String = sql.chars().take(index).collect();
    if before.chars().count() < index {
        return None;
    }
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    Some((line, column))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, sql: &str) -> AppliedMigration {
        AppliedMigration {
            name: name.into(),
            checksum: sha256_hex(sql.as_bytes()),
            applied_at: "2025-01-01 00:00:00+00".into(),
        }
    }

    #[test]
    fn checksum_is_sha256_of_the_file_bytes() {
        assert_eq!(
            LocalMigration::new("a.sql", "abc").checksum,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn classifies_every_state_in_name_order() {
        let local = vec![
            LocalMigration::new("0003_c.sql", "c"),
            LocalMigration::new("0001_a.sql", "a"),
            LocalMigration::new("0002_b.sql", "b edited"),
        ];
        let applied = vec![
            row("0002_b.sql", "b"),
            row("0001_a.sql", "a"),
            row("0000_z.sql", "z"),
        ];
        let plan = Plan::new(&local, &applied);
        let states: Vec<(&str, State)> = plan
            .entries()
            .iter()
            .map(|e| (e.name.as_str(), e.state))
            .collect();
        assert_eq!(
            states,
            vec![
                ("0000_z.sql", State::Missing),
                ("0001_a.sql", State::Applied),
                ("0002_b.sql", State::Changed),
                ("0003_c.sql", State::Pending),
            ]
        );
    }

    #[test]
    fn pending_files_come_in_name_order() {
        let local = vec![
            LocalMigration::new("0010_j.sql", "j"),
            LocalMigration::new("0002_b.sql", "b"),
            LocalMigration::new("0001_a.sql", "a"),
        ];
        let plan = Plan::new(&local, &[row("0001_a.sql", "a")]);
        let names: Vec<&str> = plan
            .pending(&local)
            .iter()
            .map(|m| m.name.as_str())
            .collect();
        assert_eq!(names, vec!["0002_b.sql", "0010_j.sql"]);
    }

    #[test]
    fn status_table_names_states_and_counts() {
        let local = vec![
            LocalMigration::new("0001_a.sql", "a"),
            LocalMigration::new("0002_b.sql", "b"),
        ];
        let text = Plan::new(&local, &[row("0001_a.sql", "a")]).render_status();
        assert_eq!(
            text,
            "state    migration   applied at\n\
             applied  0001_a.sql  2025-01-01 00:00:00+00\n\
             pending  0002_b.sql  -\n\
             1 applied, 1 pending, 0 changed, 0 missing\n"
        );
    }

    #[test]
    fn only_visible_sql_files_are_migrations() {
        assert!(is_migration_file("0001_init.sql"));
        for name in [
            "README.md",
            ".#0001_init.sql",
            ".sql",
            "0001_init.sql~",
            "x.SQL.bak",
        ] {
            assert!(!is_migration_file(name), "{name}");
        }
    }

    #[test]
    fn error_positions_become_line_and_column() {
        let sql = "create table a (id int);\nselect nope;\n";
        assert_eq!(line_and_column(sql, 1), Some((1, 1)));
        assert_eq!(line_and_column(sql, 33), Some((2, 8)));
        assert_eq!(line_and_column(sql, 0), None);
        assert_eq!(line_and_column(sql, 500), None);
        assert_eq!(line_and_column("é\nx", 3), Some((2, 1)));
    }
}

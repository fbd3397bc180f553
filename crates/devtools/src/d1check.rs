//! `strata-dev d1-check`: the D1 migrations (`migrations/d1`, applied by wrangler) checked for
//! the SQLite changes that hurt on D1, by running them in a real SQLite (in memory) and
//! comparing the schema before and after each file:
//!
//! * **Table rebuilds.** SQLite's `ALTER TABLE` cannot change a column's type or add a
//!   constraint, so such changes re-create the table (new table, `INSERT … SELECT`, drop,
//!   rename), and `DROP COLUMN` rewrites every row. A D1 database runs one query at a time, so
//!   every request waits while the copy runs, and a copy longer than D1's 30-second query
//!   limit fails. Found as a table whose storage (rootpage) changed or which lost a column.
//! * **Foreign keys without an index.** D1 enforces foreign keys; deleting or updating a
//!   parent row then searches the child table for references, a full scan per row when no
//!   index starts with the child columns. Found on the final schema, reported against the
//!   file that added the key.
//!
//! What it cannot know is how large a table is in production; a rebuild of a table known to
//! be small is waived with `-- strata:allow d1-table-rebuild` in the file (and an unindexed
//! key on purpose with `-- strata:allow d1-unindexed-foreign-key`), reported on every run.
//! Every file is checked, not only pending ones: wrangler keeps what it applied in the remote
//! database, which this check does not reach. wrangler tracks files by name only, so adding
//! a waiver comment to an applied file changes nothing there.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use rusqlite::Connection;

use crate::migrate::plan::LocalMigration;
use crate::migrate::{read_migrations, MigrateError};

/// Rule of a rebuilt (or column-dropped) table.
pub const TABLE_REBUILD: &str = "d1-table-rebuild";
/// Rule of a foreign key whose child columns no index covers.
pub const UNINDEXED_FOREIGN_KEY: &str = "d1-unindexed-foreign-key";

/// Why the check could not run.
#[derive(Debug, thiserror::Error)]
pub enum D1CheckError {
    /// The directory or a file could not be read.
    #[error(transparent)]
    Read(#[from] MigrateError),
    /// A file failed in SQLite: it would fail on D1 too.
    #[error("{file} fails in SQLite: {reason}")]
    Sqlite { file: String, reason: String },
}

/// One problem in one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct D1Finding {
    /// Migration file name.
    pub file: String,
    /// [`TABLE_REBUILD`] or [`UNINDEXED_FOREIGN_KEY`].
    pub rule: &'static str,
    /// The table concerned.
    pub table: String,
    /// What was found, and the way around it.
    pub detail: String,
    /// Waived by a `-- strata:allow <rule>` comment in the file.
    pub waived: bool,
}

impl D1Finding {
    /// One line: `file: [rule] detail`, marked when waived.
    pub fn render(&self) -> String {
        let waived = if self.waived {
            " (waived in the file)"
        } else {
            ""
        };
        format!("{}: [{}]{waived} {}", self.file, self.rule, self.detail)
    }
}

/// Runs every migration in `dir`, in name order, and returns what it found (waived ones
/// included; the caller refuses the rest).
pub fn check(dir: &Path) -> Result<Vec<D1Finding>, D1CheckError> {
    let migrations = read_migrations(dir)?;
    check_migrations(&migrations)
}

/// [`check`] over migrations already read.
pub fn check_migrations(migrations: &[LocalMigration]) -> Result<Vec<D1Finding>, D1CheckError> {
    let sqlite = |file: &str| {
        let file = file.to_string();
        move |e: rusqlite::Error| D1CheckError::Sqlite {
            file: file.clone(),
            reason: e.to_string(),
        }
    };
    let db = Connection::open_in_memory().map_err(sqlite("(in-memory database)"))?;
    // D1 enforces foreign keys, as this does.
    db.execute_batch("PRAGMA foreign_keys = ON")
        .map_err(sqlite("(in-memory database)"))?;
    let mut findings = Vec::new();
    // Each foreign key, with the file that added it.
    let mut added_by: BTreeMap<ForeignKey, String> = BTreeMap::new();
    for migration in migrations {
        let name = migration.name.as_str();
        let before = tables(&db).map_err(sqlite(name))?;
        let keys_before = foreign_keys(&db, before.keys()).map_err(sqlite(name))?;
        db.execute_batch(&migration.sql).map_err(sqlite(name))?;
        let after = tables(&db).map_err(sqlite(name))?;
        for (table, now) in &after {
            let Some(was) = before.get(table) else {
                continue;
            };
            let lost: Vec<&str> = was
                .columns
                .iter()
                .filter(|c| !now.columns.contains(c))
                .map(String::as_str)
                .collect();
            let detail = if now.rootpage != was.rootpage {
                format!(
                    "table {table} is rebuilt (dropped and re-created): on D1 the copy runs \
                     inside the migration while every request to the database waits, and \
                     fails past the 30-second query limit on a large table. For a large \
                     table: add nullable columns with ALTER TABLE ADD COLUMN instead, or \
                     create the new table, copy in batches, and switch in a later release"
                )
            } else if !lost.is_empty() {
                format!(
                    "DROP COLUMN {} rewrites every row of {table} while every request to the \
                     database waits; on a large table, stop using the column and leave it, \
                     or drop it when the table is small",
                    lost.join(", ")
                )
            } else {
                continue;
            };
            findings.push(finding(migration, TABLE_REBUILD, table, detail));
        }
        for key in foreign_keys(&db, after.keys()).map_err(sqlite(name))? {
            if !keys_before.contains(&key) {
                added_by.entry(key).or_insert_with(|| name.to_string());
            }
        }
    }
    let last = tables(&db).map_err(sqlite("(final schema)"))?;
    let present = foreign_keys(&db, last.keys()).map_err(sqlite("(final schema)"))?;
    for (key, file) in &added_by {
        if !present.contains(key) || indexed(&db, key).map_err(sqlite(file))? {
            continue;
        }
        let Some(migration) = migrations.iter().find(|m| &m.name == file) else {
            continue;
        };
        let columns = key.columns.join(", ");
        let detail = format!(
            "foreign key {}({columns}) → {} has no index on {}({columns}): every delete or \
             key update in {} scans {} in full. Add CREATE INDEX IF NOT EXISTS {}_{} ON {} \
             ({columns})",
            key.table,
            key.parent,
            key.table,
            key.parent,
            key.table,
            key.table,
            key.columns.join("_"),
            key.table
        );
        findings.push(finding(
            migration,
            UNINDEXED_FOREIGN_KEY,
            &key.table,
            detail,
        ));
    }
    Ok(findings)
}

fn finding(
    migration: &LocalMigration,
    rule: &'static str,
    table: &str,
    detail: String,
) -> D1Finding {
    let waiver = format!("strata:allow {rule}");
    let waived = migration
        .sql
        .lines()
        .any(|l| l.trim().strip_prefix("--").map(str::trim) == Some(waiver.as_str()));
    D1Finding {
        file: migration.name.clone(),
        rule,
        table: table.to_string(),
        detail,
        waived,
    }
}

/// A table's storage and columns.
struct Table {
    /// Where its b-tree starts: a new one means the table was created anew.
    rootpage: i64,
    columns: Vec<String>,
}

/// The application's tables (not SQLite's own, nor D1's `_cf_` and wrangler's
/// `d1_migrations`, which the local run does not have anyway).
fn tables(db: &Connection) -> rusqlite::Result<BTreeMap<String, Table>> {
    let mut statement = db.prepare(
        "SELECT name, rootpage FROM sqlite_schema
          WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'",
    )?;
    let rows = statement.query_map([], |row| {
        Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
    })?;
    let mut out = BTreeMap::new();
    for row in rows {
        let (name, rootpage) = row?;
        let mut columns = db.prepare("SELECT name FROM pragma_table_info(?1)")?;
        let columns = columns
            .query_map([&name], |r| r.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<String>>>()?;
        out.insert(name, Table { rootpage, columns });
    }
    Ok(out)
}

/// A foreign key: child table and columns (in key order), parent table.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct ForeignKey {
    table: String,
    columns: Vec<String>,
    parent: String,
}

fn foreign_keys<'a>(
    db: &Connection,
    tables: impl Iterator<Item = &'a String>,
) -> rusqlite::Result<BTreeSet<ForeignKey>> {
    let mut out = BTreeSet::new();
    let mut statement = db.prepare(
        r#"SELECT id, "table", "from" FROM pragma_foreign_key_list(?1) ORDER BY id, seq"#,
    )?;
    for table in tables {
        let mut keys: BTreeMap<i64, ForeignKey> = BTreeMap::new();
        let rows = statement.query_map([table], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        for row in rows {
            let (id, parent, column) = row?;
            keys.entry(id)
                .or_insert_with(|| ForeignKey {
                    table: table.clone(),
                    columns: Vec::new(),
                    parent,
                })
                .columns
                .push(column);
        }
        out.extend(keys.into_values());
    }
    Ok(out)
}

/// Whether an index (or the rowid) lets SQLite find the child rows of `key` without a scan:
/// an index whose leading columns are the key's columns, in any order.
fn indexed(db: &Connection, key: &ForeignKey) -> rusqlite::Result<bool> {
    let wanted: BTreeSet<&str> = key.columns.iter().map(String::as_str).collect();
    // An INTEGER PRIMARY KEY is the rowid itself: the table is the index.
    let rowid: Option<String> = db
        .query_row(
            "SELECT name FROM pragma_table_info(?1)
              WHERE pk = 1 AND upper(type) = 'INTEGER'
                AND (SELECT count(*) FROM pragma_table_info(?1) WHERE pk > 0) = 1
                AND NOT EXISTS (SELECT 1 FROM sqlite_schema WHERE name = ?1
                                 AND sql LIKE '%WITHOUT%ROWID%')",
            [&key.table],
            |r| r.get(0),
        )
        .map(Some)
        .or_else(|e| match e {
            rusqlite::Error::QueryReturnedNoRows => Ok(None),
            e => Err(e),
        })?;
    if key.columns.len() == 1 && rowid.as_deref() == Some(key.columns[0].as_str()) {
        return Ok(true);
    }
    let mut list = db.prepare("SELECT name FROM pragma_index_list(?1)")?;
    let indexes = list
        .query_map([&key.table], |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<String>>>()?;
    let mut info = db.prepare("SELECT name FROM pragma_index_info(?1) ORDER BY seqno")?;
    for index in indexes {
        let columns = info
            .query_map([&index], |r| r.get::<_, Option<String>>(0))?
            .collect::<rusqlite::Result<Vec<Option<String>>>>()?;
        let leading: BTreeSet<&str> = columns
            .iter()
            .take(key.columns.len())
            .filter_map(|c| c.as_deref())
            .collect();
        if leading == wanted {
            return Ok(true);
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(files: &[(&str, &str)]) -> Vec<(String, &'static str, String, bool)> {
        let migrations: Vec<LocalMigration> = files
            .iter()
            .map(|(n, s)| LocalMigration::new(*n, *s))
            .collect();
        check_migrations(&migrations)
            .expect("check")
            .into_iter()
            .map(|f| (f.file, f.rule, f.table, f.waived))
            .collect()
    }

    const BASE: &str = "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT, age TEXT);\n\
                        INSERT INTO users (email, age) VALUES ('a@example.com', '30');\n";

    #[test]
    fn a_table_rebuild_is_found_in_the_file_that_does_it() {
        let rebuild =
            "CREATE TABLE users_new (id INTEGER PRIMARY KEY, email TEXT NOT NULL, age INTEGER);\n\
                       INSERT INTO users_new SELECT id, email, CAST(age AS INTEGER) FROM users;\n\
                       DROP TABLE users;\n\
                       ALTER TABLE users_new RENAME TO users;\n";
        assert_eq!(
            run(&[("0001_users.sql", BASE), ("0002_rebuild.sql", rebuild)]),
            [(
                "0002_rebuild.sql".into(),
                TABLE_REBUILD,
                "users".into(),
                false
            )]
        );
        let waived = format!(
            "-- users holds a handful of rows.\n-- strata:allow d1-table-rebuild\n{rebuild}"
        );
        assert_eq!(
            run(&[("0001_users.sql", BASE), ("0002_rebuild.sql", &waived)]),
            [(
                "0002_rebuild.sql".into(),
                TABLE_REBUILD,
                "users".into(),
                true
            )]
        );
    }

    #[test]
    fn drop_column_is_a_rewrite_and_add_column_is_not() {
        assert_eq!(
            run(&[
                ("0001_users.sql", BASE),
                ("0002_add.sql", "ALTER TABLE users ADD COLUMN plan TEXT DEFAULT 'free';\nCREATE INDEX users_email ON users (email);\n"),
                ("0003_drop.sql", "ALTER TABLE users DROP COLUMN age;\n"),
            ]),
            [("0003_drop.sql".into(), TABLE_REBUILD, "users".into(), false)]
        );
    }

    #[test]
    fn a_foreign_key_needs_an_index_on_its_child_columns() {
        let posts = "CREATE TABLE posts (id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES users (id), body TEXT);\n";
        assert_eq!(
            run(&[("0001_users.sql", BASE), ("0002_posts.sql", posts)]),
            [(
                "0002_posts.sql".into(),
                UNINDEXED_FOREIGN_KEY,
                "posts".into(),
                false
            )]
        );
        // An index in a later file covers it, as does a composite index led by the column.
        assert!(run(&[
            ("0001_users.sql", BASE),
            ("0002_posts.sql", posts),
            (
                "0003_index.sql",
                "CREATE INDEX posts_user ON posts (user_id, id);\n"
            ),
        ])
        .is_empty());
        // The key being the table's own INTEGER PRIMARY KEY (the rowid) needs nothing more.
        assert!(run(&[
            ("0001_users.sql", BASE),
            ("0002_profiles.sql", "CREATE TABLE profiles (user_id INTEGER PRIMARY KEY REFERENCES users (id), bio TEXT);\n"),
        ])
        .is_empty());
        // Composite keys: the index must lead with all of its columns.
        let pairs = "CREATE TABLE pairs (a INTEGER, b INTEGER, PRIMARY KEY (a, b));\n\
                     CREATE TABLE links (x INTEGER, y INTEGER, z INTEGER, FOREIGN KEY (x, y) REFERENCES pairs (a, b));\n\
                     CREATE INDEX links_x ON links (x, z);\n";
        assert_eq!(
            run(&[("0001_pairs.sql", pairs)]),
            [(
                "0001_pairs.sql".into(),
                UNINDEXED_FOREIGN_KEY,
                "links".into(),
                false
            )]
        );
    }

    #[test]
    fn a_file_that_fails_in_sqlite_is_named() {
        let migrations = [LocalMigration::new("0001_bad.sql", "CREATE TABLE t (;\n")];
        let err = check_migrations(&migrations).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("0001_bad.sql fails in SQLite: "),
            "{err}"
        );
    }
}

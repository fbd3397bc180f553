//! Reading the migrations directory.

use std::path::Path;

use super::plan::{is_migration_file, LocalMigration};
use super::MigrateError;

/// Every migration file in `dir`, sorted by name. Read before connecting, so a wrong `--dir`
/// fails without touching the database.
pub fn read_migrations(dir: &Path) -> Result<Vec<LocalMigration>, MigrateError> {
    let dir_error = |source: std::io::Error| MigrateError::Dir {
        dir: dir.display().to_string(),
        source,
    };
    let mut migrations = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(dir_error)? {
        let entry = entry.map_err(dir_error)?;
        let path = entry.path();
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            // A non-UTF-8 name cannot be recorded in a text column; better loud than skipped.
            return Err(MigrateError::File {
                path: path.display().to_string(),
                reason: "the file name is not valid UTF-8".into(),
            });
        };
        if !is_migration_file(&name) || !path.is_file() {
            continue;
        }
        let bytes = std::fs::read(&path).map_err(|e| MigrateError::File {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        let sql = String::from_utf8(bytes).map_err(|_| MigrateError::File {
            path: path.display().to_string(),
            reason: "the file is not valid UTF-8".into(),
        })?;
        migrations.push(LocalMigration::new(name, sql));
    }
    migrations.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(migrations)
}

//! Finding the server binaries (`initdb`, `postgres`): `$PG_BIN_DIR`, `PATH`, then Debian's
//! versioned directories.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use crate::ClusterError;

/// Finds a server binary: `$PG_BIN_DIR`, then `PATH`, then Debian's versioned directories.
pub(crate) fn find_binary(name: &str) -> Result<PathBuf, ClusterError> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(dir) = std::env::var_os("PG_BIN_DIR") {
        candidates.push(PathBuf::from(dir).join(name));
    }
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path).map(|dir| dir.join(name)));
    }
    if let Ok(entries) = fs::read_dir("/usr/lib/postgresql") {
        let mut versions: Vec<PathBuf> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
        // Highest major version first: "9" < "15" numerically, not as text.
        versions.sort_by_key(|p| {
            std::cmp::Reverse(
                p.file_name()
                    .and_then(|n| n.to_str())
                    .and_then(|n| n.parse::<u32>().ok()),
            )
        });
        candidates.extend(versions.into_iter().map(|v| v.join("bin").join(name)));
    }
    candidates
        .into_iter()
        .find(|p| {
            p.metadata()
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
        .ok_or_else(|| {
            ClusterError::Setup(format!(
                "`{name}` not found on PATH or in /usr/lib/postgresql/*/bin: install the \
                 PostgreSQL server (Debian: postgresql) or set PG_BIN_DIR"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binaries_are_found() {
        assert!(find_binary("initdb").is_ok());
        assert!(find_binary("no-such-binary-pgcluster").is_err());
    }
}

//! The private runtime directory of a cluster: the server's Unix socket and log (and, for a
//! temporary cluster, the data), owned by the server's account, removed on drop; directories
//! that killed processes left behind are cleaned up on the next start.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::account::RunAs;
use crate::random::random_token;
use crate::ClusterError;

/// A private directory owned by the server's account, removed on drop.
pub(crate) struct RuntimeDir(pub(crate) PathBuf);

impl RuntimeDir {
    pub(crate) fn create(run_as: RunAs) -> Result<RuntimeDir, ClusterError> {
        let base = std::env::temp_dir();
        remove_orphaned_runtime_dirs(&base);
        for _ in 0..16 {
            let path = base.join(format!(
                "pgcluster-{}-{}",
                std::process::id(),
                random_token(8)
            ));
            match fs::create_dir(&path) {
                Ok(()) => {
                    let dir = RuntimeDir(path);
                    fs::set_permissions(&dir.0, fs::Permissions::from_mode(0o700))
                        .map_err(|e| ClusterError::io(format!("chmod {}", dir.0.display()), e))?;
                    run_as.give(&dir.0)?;
                    run_as.check_reachable(&dir.0)?;
                    return Ok(dir);
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(ClusterError::io(format!("creating {}", path.display()), e)),
            }
        }
        Err(ClusterError::Setup(
            "could not create a unique temporary directory".into(),
        ))
    }
}

/// Removes `pgcluster-<pid>-*` directories left by processes that were killed (their `Drop`
/// never ran). The server itself died with its parent; only the files remain. A directory is
/// left alone while its creator or its server still runs.
fn remove_orphaned_runtime_dirs(base: &Path) {
    let Ok(entries) = fs::read_dir(base) else {
        return;
    };
    for entry in entries.filter_map(|e| e.ok()) {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("pgcluster-"))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        let path = entry.path();
        if process_alive(pid) || server_alive(&path.join("data")) || !path.is_dir() {
            continue;
        }
        let _ = fs::remove_dir_all(&path);
    }
}

/// Whether `data_dir/postmaster.pid` names a running process.
fn server_alive(data_dir: &Path) -> bool {
    fs::read_to_string(data_dir.join("postmaster.pid"))
        .ok()
        .and_then(|text| {
            text.lines()
                .next()
                .and_then(|l| l.trim().parse::<u32>().ok())
        })
        .is_some_and(process_alive)
}

fn process_alive(pid: u32) -> bool {
    Path::new("/proc").join(pid.to_string()).exists()
}

impl Drop for RuntimeDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

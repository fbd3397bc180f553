//! Which account the server runs as, and giving it the files it needs.
//!
//! `initdb` and `postgres` refuse to run as root. CI and these machines run as root, while a
//! developer's laptop does not, so: as root, everything runs as the `postgres` system user and
//! every file the cluster uses is handed to it; as anyone else, it runs as that user directly.

use std::ffi::{CStr, CString};
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use crate::ClusterError;

/// The system account whose server processes we start when we are root.
const SERVICE_USER: &str = "postgres";

/// Who `initdb` and `postgres` run as.
#[derive(Debug, Clone, Copy)]
pub(crate) enum RunAs {
    /// Ourselves (not root): no switching, no chown.
    Current,
    /// The `postgres` system user (we are root).
    Service { uid: u32, gid: u32 },
}

impl RunAs {
    /// Decides from the effective uid.
    pub(crate) fn detect() -> Result<RunAs, ClusterError> {
        // SAFETY: geteuid has no preconditions and cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            return Ok(RunAs::Current);
        }
        let (uid, gid) = lookup_user(SERVICE_USER)?.ok_or_else(|| {
            ClusterError::Setup(format!(
                "running as root, but there is no `{SERVICE_USER}` system user to run PostgreSQL \
                 as (initdb and postgres refuse to run as root); create it or run as a normal user"
            ))
        })?;
        Ok(RunAs::Service { uid, gid })
    }

    /// Gives `path` to the server's account (no-op when we are that account).
    pub(crate) fn give(&self, path: &Path) -> Result<(), ClusterError> {
        if let RunAs::Service { uid, gid } = *self {
            std::os::unix::fs::chown(path, Some(uid), Some(gid))
                .map_err(|e| ClusterError::io(format!("chown {}", path.display()), e))?;
        }
        Ok(())
    }

    /// Checks the server's account can reach `dir` (every ancestor searchable), so a data
    /// directory under e.g. `/root` fails here with a clear message instead of deep in initdb.
    pub(crate) fn check_reachable(&self, dir: &Path) -> Result<(), ClusterError> {
        let RunAs::Service { uid, gid } = *self else {
            return Ok(());
        };
        for ancestor in dir.ancestors().skip(1) {
            let meta = match std::fs::metadata(ancestor) {
                Ok(meta) => meta,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(ClusterError::io(format!("stat {}", ancestor.display()), e)),
            };
            let mode = meta.permissions().mode();
            let searchable = if meta.uid() == uid {
                mode & 0o100 != 0
            } else if meta.gid() == gid {
                mode & 0o010 != 0
            } else {
                mode & 0o001 != 0
            };
            if !searchable {
                return Err(ClusterError::Setup(format!(
                    "the `{SERVICE_USER}` user cannot reach {} because {} is not searchable by \
                     it (mode {:o}); choose a data directory elsewhere (e.g. under /tmp or the \
                     project folder)",
                    dir.display(),
                    ancestor.display(),
                    mode & 0o7777
                )));
            }
        }
        Ok(())
    }
}

/// Looks a user up in the password database: `Some((uid, gid))`, or `None` if absent.
fn lookup_user(name: &str) -> Result<Option<(u32, u32)>, ClusterError> {
    let c_name = CString::new(name).map_err(|_| ClusterError::Setup("bad user name".into()))?;
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    // SAFETY: a zeroed passwd is a valid out-parameter; getpwnam_r writes into it and `buf`.
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: all pointers are valid for the duration of the call and buf.len() is its size.
    let rc = unsafe {
        libc::getpwnam_r(
            c_name.as_ptr(),
            &mut pwd,
            buf.as_mut_ptr(),
            buf.len(),
            &mut result,
        )
    };
    if rc != 0 {
        return Err(ClusterError::io(
            format!("looking up user {name}"),
            io::Error::from_raw_os_error(rc),
        ));
    }
    if result.is_null() {
        return Ok(None);
    }
    // pw_name is only read to make sure the entry is the one asked for.
    // SAFETY: on success pw_name points into `buf`, NUL-terminated.
    let found = unsafe { CStr::from_ptr(pwd.pw_name) };
    if found.to_bytes() != name.as_bytes() {
        return Ok(None);
    }
    Ok(Some((pwd.pw_uid, pwd.pw_gid)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_exists_and_nobody_made_up_does_not() {
        assert_eq!(lookup_user("root").unwrap(), Some((0, 0)));
        assert_eq!(lookup_user("no-such-user-pgcluster").unwrap(), None);
    }
}

//! A persistent data directory: created on first use, refused when it is foreign, and paired
//! with the credentials it was initialised with.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::account::RunAs;
use crate::credentials::{read_credentials, write_credentials, Credentials};
use crate::random::random_password;
use crate::{ClusterError, ClusterOptions};

/// Readies a persistent data directory: creates it, decides whether it needs `initdb`, and
/// finds the credentials to use.
pub(crate) fn prepare_persistent(
    dir: &Path,
    opts: &ClusterOptions,
    run_as: RunAs,
) -> Result<(PathBuf, Credentials), ClusterError> {
    let dir = std::path::absolute(dir)
        .map_err(|e| ClusterError::io(format!("resolving {}", dir.display()), e))?;
    let mut file_name = dir
        .file_name()
        .ok_or_else(|| {
            ClusterError::Setup(format!("{} is not a usable data directory", dir.display()))
        })?
        .to_os_string();
    file_name.push(".credentials");
    let credentials_path = dir.with_file_name(file_name);

    let empty = match fs::read_dir(&dir) {
        Ok(mut entries) => entries.next().is_none(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::create_dir_all(&dir)
                .map_err(|e| ClusterError::io(format!("creating {}", dir.display()), e))?;
            true
        }
        Err(e) => return Err(ClusterError::io(format!("reading {}", dir.display()), e)),
    };
    run_as.check_reachable(&dir)?;

    if empty {
        // initdb insists on owning the directory and on 0700.
        run_as.give(&dir)?;
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))
            .map_err(|e| ClusterError::io(format!("chmod {}", dir.display()), e))?;
        let credentials = Credentials {
            user: opts.user.clone(),
            password: opts.password.clone().unwrap_or_else(random_password),
            fresh: true,
            stored: Some(credentials_path),
        };
        return Ok((dir, credentials));
    }

    if !dir.join("PG_VERSION").is_file() {
        return Err(ClusterError::Setup(format!(
            "{} is neither empty nor a PostgreSQL data directory; refusing to touch it",
            dir.display()
        )));
    }
    let (user, password) = match read_credentials(&credentials_path)? {
        Some((user, password)) => (user, password),
        None => match &opts.password {
            // Without the file we can only trust a password the caller gives us.
            Some(password) => {
                write_credentials(&credentials_path, &opts.user, password)?;
                (opts.user.clone(), password.clone())
            }
            None => {
                return Err(ClusterError::Setup(format!(
                    "{} exists but {} is missing, so its password is unknown; pass a password \
                     or delete the data directory to start afresh",
                    dir.display(),
                    credentials_path.display()
                )))
            }
        },
    };
    if user != opts.user {
        return Err(ClusterError::Setup(format!(
            "{} was initialised for user `{user}` (see {}), not `{}`",
            dir.display(),
            credentials_path.display(),
            opts.user
        )));
    }
    let credentials = Credentials {
        user,
        password,
        fresh: false,
        stored: Some(credentials_path),
    };
    Ok((dir, credentials))
}

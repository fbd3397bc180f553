//! The superuser's credentials a cluster starts with, and the `<data_dir>.credentials` file a
//! persistent cluster keeps them in (readable by us only).

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::ClusterError;

/// The password (and who it belongs to) the server is started with.
pub(crate) struct Credentials {
    pub(crate) user: String,
    pub(crate) password: String,
    /// The data directory still needs `initdb`.
    pub(crate) fresh: bool,
    /// Where a persistent cluster keeps them (`<data_dir>.credentials`).
    pub(crate) stored: Option<PathBuf>,
}

pub(crate) fn read_credentials(path: &Path) -> Result<Option<(String, String)>, ClusterError> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(ClusterError::io(format!("reading {}", path.display()), e)),
    };
    let mut user = None;
    let mut password = None;
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("user=") {
            user = Some(v.to_owned());
        } else if let Some(v) = line.strip_prefix("password=") {
            password = Some(v.to_owned());
        }
    }
    match (user, password) {
        (Some(user), Some(password)) => Ok(Some((user, password))),
        _ => Err(ClusterError::Setup(format!(
            "{} is malformed (expected user= and password= lines)",
            path.display()
        ))),
    }
}

pub(crate) fn write_credentials(
    path: &Path,
    user: &str,
    password: &str,
) -> Result<(), ClusterError> {
    if user.contains('\n') || password.contains('\n') {
        return Err(ClusterError::Setup(
            "user and password must not contain newlines".into(),
        ));
    }
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| ClusterError::io(format!("writing {}", path.display()), e))?;
    let text = format!(
        "# pgcluster: the superuser of the data directory next to this file; reused on every start\nuser={user}\npassword={password}\n"
    );
    file.write_all(text.as_bytes())
        .map_err(|e| ClusterError::io(format!("writing {}", path.display()), e))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::random::random_token;

    #[test]
    fn credentials_file_round_trip() {
        let dir = std::env::temp_dir().join(format!("pgcluster-cred-test-{}", random_token(6)));
        fs::create_dir(&dir).unwrap();
        let path = dir.join("pg.credentials");
        assert_eq!(read_credentials(&path).unwrap(), None);
        write_credentials(&path, "u", "p w").unwrap();
        assert_eq!(
            read_credentials(&path).unwrap(),
            Some(("u".into(), "p w".into()))
        );
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(write_credentials(&path, "u", "a\nb").is_err());
        fs::write(&path, "nonsense").unwrap();
        assert!(read_credentials(&path).is_err());
        fs::remove_dir_all(&dir).unwrap();
    }
}

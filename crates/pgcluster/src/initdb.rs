//! Running `initdb` on a new data directory, with the superuser and password of its
//! credentials.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use crate::account::RunAs;
use crate::credentials::Credentials;
use crate::ClusterError;

pub(crate) fn run_initdb(
    initdb: &Path,
    data_dir: &Path,
    credentials: &Credentials,
    runtime_dir: &Path,
    run_as: RunAs,
) -> Result<(), ClusterError> {
    let pwfile = runtime_dir.join("pwfile");
    {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&pwfile)
            .map_err(|e| ClusterError::io("writing the initdb password file", e))?;
        file.write_all(credentials.password.as_bytes())
            .map_err(|e| ClusterError::io("writing the initdb password file", e))?;
    }
    run_as.give(&pwfile)?;

    let mut command = Command::new(initdb);
    command
        .arg("-D")
        .arg(data_dir)
        .args([
            "-A",
            "scram-sha-256",
            "-U",
            &credentials.user,
            "-E",
            "UTF8",
            "--locale=C",
        ])
        // Skipping fsync saves most of initdb's time; a crash during initdb just means rerun.
        .arg("--no-sync")
        .arg(format!("--pwfile={}", pwfile.display()))
        .current_dir(runtime_dir)
        .env("LC_ALL", "C");
    if let RunAs::Service { uid, gid } = run_as {
        command.uid(uid).gid(gid);
    }
    let output = command.output();
    let _ = fs::remove_file(&pwfile);
    let output =
        output.map_err(|e| ClusterError::io(format!("running {}", initdb.display()), e))?;
    if !output.status.success() {
        return Err(ClusterError::InitDb {
            output: format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ),
        });
    }
    Ok(())
}

//! The `postgres` server process: started as our direct child, tied to our lifetime, stopped
//! with a fast shutdown.
//!
//! Why not `pg_ctl start`: pg_ctl daemonizes, so a test run that is killed (SIGKILL, a CI
//! timeout, a panicking harness) leaves a server running forever, holding its port and data
//! directory. A direct child with `PR_SET_PDEATHSIG` is signalled by the kernel the moment its
//! parent goes away, however it goes.

use std::fs::File;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::account::RunAs;
use crate::ClusterError;

/// How long a fast shutdown may take before escalating to an immediate one, then to SIGKILL.
const FAST_SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
const IMMEDIATE_SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A running (or exited) postmaster.
///
/// The process is spawned by a dedicated thread that lives exactly as long as the server: the
/// parent-death signal fires when the *thread* that forked exits, not the process, so spawning
/// from a short-lived thread (e.g. a `spawn_blocking` task) would kill the server when that
/// thread is recycled. That thread waits on the child and records its exit status.
pub(crate) struct Postmaster {
    pid: libc::pid_t,
    status: Arc<Mutex<Option<ExitStatus>>>,
    waiter: Option<JoinHandle<()>>,
}

impl Postmaster {
    /// Spawns `command` (already carrying its arguments) with stdout/stderr going to `log`.
    pub(crate) fn spawn(
        mut command: Command,
        run_as: RunAs,
        log: File,
    ) -> Result<Postmaster, ClusterError> {
        let log_err = log
            .try_clone()
            .map_err(|e| ClusterError::io("duplicating the log file handle", e))?;
        command
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            // Own process group: a Ctrl-C in the terminal reaches us, and we stop the server in
            // order, instead of the server racing our shutdown.
            .process_group(0);
        if let RunAs::Service { uid, gid } = run_as {
            command.uid(uid).gid(gid);
        }
        // SAFETY: getpid is async-signal-safe and has no preconditions.
        let parent = unsafe { libc::getpid() };
        // SAFETY: the closure only calls async-signal-safe functions (prctl, getppid), as
        // required between fork and exec. It runs after std has switched uid/gid, which matters:
        // a credential change clears the parent-death signal.
        unsafe {
            command.pre_exec(move || {
                if libc::prctl(
                    libc::PR_SET_PDEATHSIG,
                    libc::SIGINT as libc::c_ulong,
                    0,
                    0,
                    0,
                ) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                // The parent may have died before prctl: then we were re-parented already.
                if libc::getppid() != parent {
                    return Err(std::io::Error::other("parent exited during spawn"));
                }
                Ok(())
            });
        }

        let (tx, rx) = std::sync::mpsc::channel::<std::io::Result<libc::pid_t>>();
        let status = Arc::new(Mutex::new(None));
        let status_for_thread = Arc::clone(&status);
        let waiter = std::thread::Builder::new()
            .name("postmaster-waiter".into())
            .spawn(move || {
                let mut child: Child = match command.spawn() {
                    Ok(child) => child,
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                };
                let pid = child.id();
                // Linux pids are positive i32s; the cast cannot truncate.
                let _ = tx.send(Ok(pid as libc::pid_t));
                wait_without_reaping(pid);
                // Reap while holding the lock that `signal` takes: a signal is then sent either
                // before the reap (to our zombie at worst) or never, never to a recycled pid.
                let mut slot = match status_for_thread.lock() {
                    Ok(slot) => slot,
                    Err(poisoned) => poisoned.into_inner(),
                };
                let exit = child.wait().unwrap_or_else(|_| ExitStatusExt::from_raw(-1));
                *slot = Some(exit);
            })
            .map_err(|e| ClusterError::io("starting the postmaster waiter thread", e))?;

        let pid = match rx.recv() {
            Ok(Ok(pid)) => pid,
            Ok(Err(e)) => {
                let _ = waiter.join();
                return Err(ClusterError::io("spawning postgres", e));
            }
            Err(_) => {
                let _ = waiter.join();
                return Err(ClusterError::Setup(
                    "the postmaster waiter thread died".into(),
                ));
            }
        };
        Ok(Postmaster {
            pid,
            status,
            waiter: Some(waiter),
        })
    }

    /// The exit status, if the server has exited.
    pub(crate) fn exit_status(&self) -> Option<ExitStatus> {
        self.status.lock().ok().and_then(|s| *s)
    }

    /// Sends `signal` unless the server has already exited; says whether it was sent.
    fn signal(&self, signal: libc::c_int) -> bool {
        let slot = match self.status.lock() {
            Ok(slot) => slot,
            Err(poisoned) => poisoned.into_inner(),
        };
        if slot.is_some() {
            return false;
        }
        // SAFETY: kill has no memory-safety preconditions. While `slot` is None and locked the
        // child is not reaped, so the pid still names it (see the waiter thread).
        unsafe { libc::kill(self.pid, signal) };
        true
    }

    /// Fast shutdown (SIGINT: disconnect clients, checkpoint, exit) and wait for the exit.
    /// Escalates to an immediate shutdown (SIGQUIT), then SIGKILL, if the server hangs.
    pub(crate) fn stop(&mut self) {
        let Some(waiter) = self.waiter.take() else {
            return;
        };
        for (signal, grace) in [
            (libc::SIGINT, FAST_SHUTDOWN_GRACE),
            (libc::SIGQUIT, IMMEDIATE_SHUTDOWN_GRACE),
            (libc::SIGKILL, Duration::from_secs(60)),
        ] {
            if !self.signal(signal) {
                break;
            }
            let deadline = Instant::now() + grace;
            while self.exit_status().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        let _ = waiter.join();
    }
}

/// Blocks until child `pid` has exited, leaving it a zombie (`WNOWAIT`) so its pid stays taken.
fn wait_without_reaping(pid: u32) {
    loop {
        // SAFETY: a zeroed siginfo_t is a valid out-parameter for waitid.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: `info` is valid for writes; waitid has no other preconditions.
        let rc = unsafe {
            libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOWAIT,
            )
        };
        if rc == 0 || std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            return;
        }
    }
}

impl Drop for Postmaster {
    fn drop(&mut self) {
        self.stop();
    }
}

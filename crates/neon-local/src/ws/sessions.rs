//! The set of open WebSocket sessions: the bound on how many there are, and the shutdown
//! signal every one of them listens to.
//!
//! Each session is a PostgreSQL backend, so the bound keeps the endpoint (together with the
//! HTTP pool) below the server's `max_connections` instead of letting the server refuse logins
//! at random. A session holds a permit for its whole life; shutting down tells every session to
//! close and then waits until all permits are back (bounded in time), so PostgreSQL is stopped
//! only after the sessions have said goodbye to their clients.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

/// Open sessions and the shutdown signal.
#[derive(Debug)]
pub struct Sessions {
    permits: Arc<Semaphore>,
    max: usize,
    shutdown: watch::Sender<bool>,
}

/// A session's place: held until the session ends.
#[derive(Debug)]
pub struct SessionPermit {
    _permit: OwnedSemaphorePermit,
}

/// Why a session gets no place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoPlace {
    /// All `max` places are taken.
    Full,
    /// The endpoint is shutting down.
    ShuttingDown,
}

impl Sessions {
    /// Room for `max` concurrent sessions.
    pub fn new(max: usize) -> Sessions {
        Sessions {
            permits: Arc::new(Semaphore::new(max)),
            max,
            shutdown: watch::channel(false).0,
        }
    }

    /// The bound.
    pub fn max(&self) -> usize {
        self.max
    }

    /// Sessions open now.
    pub fn open(&self) -> usize {
        self.max.saturating_sub(self.permits.available_permits())
    }

    /// A place for a new session. Never waits: a client beyond the bound gets a clear error
    /// at once rather than a hang.
    pub fn try_admit(&self) -> Result<SessionPermit, NoPlace> {
        if *self.shutdown.borrow() {
            return Err(NoPlace::ShuttingDown);
        }
        Arc::clone(&self.permits)
            .try_acquire_owned()
            .map(|permit| SessionPermit { _permit: permit })
            .map_err(|_| NoPlace::Full)
    }

    /// Changes to `true` when the endpoint shuts down.
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// Tells every session to close and waits until they have, at most `grace`. Returns the
    /// number still open when it gave up (their tasks are dropped with the runtime, which
    /// closes their sockets all the same).
    pub async fn close_all(&self, grace: Duration) -> usize {
        self.shutdown.send_replace(true);
        let all = u32::try_from(self.max).unwrap_or(u32::MAX);
        match tokio::time::timeout(grace, self.permits.acquire_many(all)).await {
            Ok(Ok(_all_back)) => 0,
            _ => self.open(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bounded_and_closed_on_shutdown() {
        let sessions = Sessions::new(2);
        let a = sessions.try_admit();
        let b = sessions.try_admit();
        assert!(a.is_ok() && b.is_ok());
        assert_eq!(
            sessions.try_admit().err(),
            Some(NoPlace::Full),
            "a third is refused"
        );
        assert_eq!(sessions.open(), 2);
        drop(a);
        assert_eq!(sessions.open(), 1);

        let mut signal = sessions.shutdown_signal();
        let session = tokio::spawn(async move {
            let _ = signal.wait_for(|down| *down).await;
            drop(b);
        });
        assert_eq!(sessions.close_all(Duration::from_secs(5)).await, 0);
        assert!(session.await.is_ok());
        assert_eq!(
            sessions.try_admit().err(),
            Some(NoPlace::ShuttingDown),
            "no new sessions while shutting down"
        );
    }

    #[tokio::test]
    async fn gives_up_after_the_grace_period() {
        let sessions = Sessions::new(1);
        let _stuck = sessions.try_admit();
        assert_eq!(sessions.close_all(Duration::from_millis(50)).await, 1);
    }
}

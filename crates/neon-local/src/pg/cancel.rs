//! Cancelling a query that nobody waits for any more.
//!
//! When the HTTP client disconnects, hyper drops the request's future; the query it was running
//! would go on in Postgres until it finished (a `pg_sleep(3600)` for an hour). Neon's proxy
//! cancels it; so do we: the guard armed around each query sends a `CancelRequest` for the
//! backend from its `Drop` if it was not disarmed by the query completing.

use std::net::SocketAddr;

use bytes::BytesMut;
use postgres_protocol::message::frontend;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// What a `CancelRequest` needs: where the server is and the backend's key.
#[derive(Debug, Clone, Copy)]
pub struct CancelToken {
    /// The server the backend belongs to.
    pub addr: SocketAddr,
    /// Backend process id (from `BackendKeyData`).
    pub process_id: i32,
    /// Backend secret key (from `BackendKeyData`).
    pub secret_key: i32,
}

impl CancelToken {
    /// Asks the server to cancel whatever the backend is running. Best effort: errors are
    /// ignored, since the backend may simply have finished meanwhile.
    pub async fn cancel(self) {
        let mut buf = BytesMut::new();
        frontend::cancel_request(self.process_id, self.secret_key, &mut buf);
        if let Ok(mut stream) = TcpStream::connect(self.addr).await {
            let _ = stream.write_all(&buf).await;
            let _ = stream.shutdown().await;
        }
    }
}

/// Sends a cancel for its token when dropped while still armed.
pub struct CancelOnDrop {
    token: Option<CancelToken>,
}

impl CancelOnDrop {
    /// Arms a guard for a query about to run.
    pub fn arm(token: Option<CancelToken>) -> CancelOnDrop {
        CancelOnDrop { token }
    }

    /// The query finished (successfully or not): nothing to cancel.
    pub fn disarm(mut self) {
        self.token = None;
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(token) = self.token.take() {
            // Drop cannot await; the cancel goes out on the runtime we were running on.
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(token.cancel());
            }
        }
    }
}

//! Reusing logged-in PostgreSQL connections across HTTP requests, as Neon's proxy does.
//!
//! # Why
//!
//! A fresh connection per request costs a backend `fork` plus a SCRAM-SHA-256 exchange on both
//! sides (4096 PBKDF2 rounds each). On a 2-core machine that caps the endpoint at ~130 requests
//! per second with ~240 ms median latency under 32 concurrent clients; a reused connection costs
//! one extra round trip for the reset instead (numbers in the crate README).
//!
//! # What makes reuse safe
//!
//! * **Credentials.** Connections are grouped by [`PoolKey`]: user, password, database and
//!   `application_name` (the startup parameters we send; `application_name` because `RESET ALL`
//!   returns it to the value the connection logged in with). A connection is never handed to a
//!   request with a different key, so a wrong password never finds a pooled connection: it goes
//!   to PostgreSQL and gets 28P01 as before. Passwords are compared in constant time and never
//!   appear in `Debug` output.
//! * **Session state.** Before a connection goes back, the request's session is undone in
//!   [`Connection::reset`](crate::pg::Connection::reset): `ROLLBACK` if it is inside a (possibly
//!   failed) transaction, then `DISCARD ALL`. Anything unexpected during that — an error, a
//!   transaction status other than idle afterwards, unread bytes — closes the connection
//!   instead. So does a broken connection, a response cut off at the size limit, and a request
//!   dropped mid-query (client disconnect): the dropped [`Slot`] just frees its place and the
//!   connection is closed, never returned.
//! * **Dead connections.** An idle connection whose backend went away (server restart,
//!   `pg_terminate_backend`, `idle_session_timeout`) has its EOF or `FATAL` message waiting in the
//!   socket; [`Connection::check_idle`](crate::pg::Connection::check_idle) looks for exactly that
//!   before a connection is handed out, so such a connection is closed and the request gets
//!   another one.
//!
//! # Bounds
//!
//! [`PoolConfig::max_per_key`] and [`PoolConfig::max_total`] bound the connections *open*
//! (idle + in use), not only the idle ones: a request that finds all of its key's connections
//! busy waits for one (up to the connect timeout) instead of opening more. That keeps the
//! endpoint below PostgreSQL's `max_connections` however many clients there are, and on a small
//! machine a few busy backends serve more requests than many contending ones. When the overall
//! bound is reached, the least recently used idle connection of another key is closed to make
//! room. Idle connections are closed after [`PoolConfig::idle_timeout`], and every connection
//! after [`PoolConfig::max_lifetime`], so e.g. a changed password or role setting takes effect
//! within a bounded time.

use std::collections::HashMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::pg::Connection;

/// How connections are pooled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolConfig {
    /// Most connections open at once (idle or in use) for one [`PoolKey`]. 0 turns pooling
    /// off: every request opens its own connection and closes it at the end, without a bound.
    pub max_per_key: usize,
    /// Most connections open at once over all keys. 0 also turns pooling off.
    pub max_total: usize,
    /// An idle connection unused for this long is closed.
    pub idle_timeout: Duration,
    /// A connection this old is closed instead of being reused.
    pub max_lifetime: Duration,
}

impl PoolConfig {
    /// No pooling: a fresh connection for every request.
    pub fn disabled() -> PoolConfig {
        PoolConfig {
            max_per_key: 0,
            max_total: 0,
            ..PoolConfig::default()
        }
    }

    /// Whether connections are reused at all.
    pub fn enabled(&self) -> bool {
        self.max_per_key > 0 && self.max_total > 0
    }
}

impl Default for PoolConfig {
    /// 16 per key and 64 overall (PostgreSQL's default `max_connections` is 100), 30 s idle,
    /// 5 min lifetime.
    fn default() -> Self {
        PoolConfig {
            max_per_key: 16,
            max_total: 64,
            idle_timeout: Duration::from_secs(30),
            max_lifetime: Duration::from_secs(300),
        }
    }
}

/// Who a connection is logged in as: only requests with an equal key may use it.
///
/// `Hash` covers everything but the password, and `Eq` compares the password in constant time,
/// so a lookup never branches on how much of a guessed password matches.
#[derive(Clone)]
pub struct PoolKey {
    /// Role name.
    pub user: String,
    /// The role's password as the request gave it.
    pub password: String,
    /// Database name.
    pub database: String,
    /// The `application_name` startup parameter, if any.
    pub application_name: Option<String>,
}

impl Hash for PoolKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.user.hash(state);
        self.database.hash(state);
        self.application_name.hash(state);
    }
}

impl PartialEq for PoolKey {
    fn eq(&self, other: &Self) -> bool {
        // Evaluate both sides fully (no `&&` short-circuit around the password compare).
        let password = constant_time_eq(self.password.as_bytes(), other.password.as_bytes());
        password
            & (self.user == other.user)
            & (self.database == other.database)
            & (self.application_name == other.application_name)
    }
}

impl Eq for PoolKey {}

impl fmt::Debug for PoolKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolKey")
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .field("database", &self.database)
            .field("application_name", &self.application_name)
            .finish()
    }
}

/// Equality whose running time depends only on the lengths, not on where the bytes differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = u8::from(a.len() != b.len());
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= x ^ y;
    }
    // Keeps the optimiser from turning the loop into an early-exit comparison.
    std::hint::black_box(diff) == 0
}

/// Why no connection could be had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PoolError {
    /// Every connection this key may have is in use, and none came back in time.
    Busy {
        /// [`PoolConfig::max_per_key`].
        per_key: usize,
        /// [`PoolConfig::max_total`].
        total: usize,
        /// How long the request waited.
        waited: Duration,
    },
    /// The endpoint is shutting down.
    Closed,
}

impl fmt::Display for PoolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PoolError::Busy {
                per_key,
                total,
                waited,
            } => write!(
                f,
                "all database connections are busy (at most {per_key} per user and database, \
                 {total} in all; waited {:.1} s)",
                waited.as_secs_f64()
            ),
            PoolError::Closed => f.write_str("the endpoint is shutting down"),
        }
    }
}

impl std::error::Error for PoolError {}

/// What [`Pool::try_take`] found for a key.
enum Take {
    /// An idle connection; its place now belongs to the caller.
    Idle(Connection),
    /// A newly reserved place: the caller opens the connection.
    Reserved,
    /// The key, or the pool as a whole, is at its bound.
    Full,
}

/// A connection waiting in the pool.
struct Idle {
    conn: Connection,
    /// When it came back; the least recently used one is evicted first.
    since: Instant,
}

/// The connections of one key.
#[derive(Default)]
struct Bucket {
    /// Most recently returned last, and taken from the end: a few connections stay warm and
    /// the rest reach their idle timeout.
    idle: Vec<Idle>,
    /// Connections counted against the bounds: idle ones, ones in use, and places reserved by a
    /// request that is connecting.
    open: usize,
}

#[derive(Default)]
struct State {
    buckets: HashMap<Arc<PoolKey>, Bucket>,
    /// Sum of every bucket's `open`.
    open: usize,
    /// Set on shutdown: nothing goes back in, nothing comes out.
    closed: bool,
}

/// The pool. Shared by every request of one endpoint (`Arc`).
pub struct Pool {
    config: PoolConfig,
    state: Mutex<State>,
    /// Signalled whenever a place frees up or a connection comes back, for waiting requests.
    released: Notify,
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (open, idle) = self.counts();
        f.debug_struct("Pool")
            .field("config", &self.config)
            .field("open", &open)
            .field("idle", &idle)
            .finish()
    }
}

/// What [`Pool::acquire`] hands out: a place in the pool, and a checked idle connection for it
/// if there was one (otherwise the caller connects, within the same place).
pub struct Lease {
    /// Counts against the bounds until dropped or [`Slot::put_back`].
    pub slot: Slot,
    /// A reset, live connection logged in with the request's key; `None` = connect a new one.
    pub conn: Option<Connection>,
}

/// One counted place in the pool, held by a request while it uses (or opens) a connection.
///
/// Dropping it frees the place: that is what happens when a request fails, its connection
/// breaks, or hyper drops the request because the client went away. Only [`Slot::put_back`]
/// returns a connection for reuse.
pub struct Slot {
    pool: Arc<Pool>,
    key: Arc<PoolKey>,
    /// False once the place was handed back with a connection (by `put_back`).
    held: bool,
}

impl Slot {
    /// Returns a connection that [`Connection::reset`](crate::pg::Connection::reset) succeeded
    /// on, for the next request with the same key.
    pub fn put_back(mut self, conn: Connection) {
        self.held = false;
        let pool = Arc::clone(&self.pool);
        pool.put(&self.key, conn);
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if self.held {
            self.pool.release(&self.key);
        }
    }
}

impl Pool {
    /// An empty pool.
    pub fn new(config: PoolConfig) -> Pool {
        Pool {
            config,
            state: Mutex::new(State::default()),
            released: Notify::new(),
        }
    }

    /// Its configuration.
    pub fn config(&self) -> &PoolConfig {
        &self.config
    }

    /// (connections counted as open, of which idle).
    pub fn counts(&self) -> (usize, usize) {
        let state = self.lock();
        let idle = state.buckets.values().map(|b| b.idle.len()).sum();
        (state.open, idle)
    }

    /// The state is only ever changed by short, non-panicking sections, so a poisoned lock
    /// still holds consistent counts.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A place for `key`, with an idle connection if one is there and alive; waits up to `wait`
    /// while the key (or the whole pool) is at its bound.
    pub async fn acquire(
        self: &Arc<Self>,
        key: PoolKey,
        wait: Duration,
    ) -> Result<Lease, PoolError> {
        let key = Arc::new(key);
        let started = Instant::now();
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            // Registered before looking, so a release between the look and the wait is not
            // missed.
            let notified = self.released.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();

            let (taken, evicted) = self.try_take(&key)?;
            close_in_background(evicted);
            let slot = || Slot {
                pool: Arc::clone(self),
                key: Arc::clone(&key),
                held: true,
            };
            match taken {
                Take::Idle(conn) => {
                    let slot = slot();
                    let conn = self.check_out(&slot, conn);
                    return Ok(Lease { slot, conn });
                }
                Take::Reserved => {
                    return Ok(Lease {
                        slot: slot(),
                        conn: None,
                    })
                }
                Take::Full => {}
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Err(PoolError::Busy {
                    per_key: self.config.max_per_key,
                    total: self.config.max_total,
                    waited: started.elapsed(),
                });
            }
        }
    }

    /// Checks an idle connection just taken for `slot`; if its backend is gone, closes it and
    /// tries the key's next idle one in the same place. `None` = connect a new one.
    fn check_out(&self, slot: &Slot, mut conn: Connection) -> Option<Connection> {
        loop {
            match conn.check_idle() {
                Ok(alive) => return Some(alive),
                // The dead connection's socket is closed by dropping it.
                Err(_) => conn = self.take_another(&slot.key)?,
            }
        }
    }

    /// Under the lock: an idle connection of `key`, else a new place if the bounds allow (after
    /// evicting another key's least recently used idle connection if only the overall bound is
    /// in the way). Also returns connections to close (expired, or evicted).
    fn try_take(&self, key: &Arc<PoolKey>) -> Result<(Take, Vec<Connection>), PoolError> {
        let now = Instant::now();
        let mut evicted = Vec::new();
        let mut state = self.lock();
        if state.closed {
            return Err(PoolError::Closed);
        }
        let State { buckets, open, .. } = &mut *state;

        if let Some(bucket) = buckets.get_mut(key) {
            while let Some(idle) = bucket.idle.pop() {
                if self.expired(&idle, now) {
                    bucket.open -= 1;
                    *open -= 1;
                    evicted.push(idle.conn);
                    continue;
                }
                // Idle → in use: the counts do not change.
                return Ok((Take::Idle(idle.conn), evicted));
            }
            if bucket.open >= self.config.max_per_key {
                return Ok((Take::Full, evicted));
            }
        }

        if *open >= self.config.max_total {
            // Make room by closing the least recently used idle connection of another key.
            let oldest = buckets
                .iter()
                .filter_map(|(k, b)| b.idle.first().map(|idle| (idle.since, Arc::clone(k))))
                .min_by_key(|(since, _)| *since)
                .map(|(_, k)| k);
            let Some(victim_key) = oldest else {
                // Expired connections of this key may have emptied its bucket just now.
                if buckets.get(key).is_some_and(|b| b.open == 0) {
                    buckets.remove(key);
                }
                return Ok((Take::Full, evicted));
            };
            if let Some(victim) = buckets.get_mut(&victim_key) {
                if !victim.idle.is_empty() {
                    evicted.push(victim.idle.remove(0).conn);
                    victim.open -= 1;
                    *open -= 1;
                }
                if victim.open == 0 {
                    buckets.remove(&victim_key);
                }
            }
            if *open >= self.config.max_total {
                return Ok((Take::Full, evicted));
            }
        }

        buckets.entry(Arc::clone(key)).or_default().open += 1;
        *open += 1;
        Ok((Take::Reserved, evicted))
    }

    /// Another idle connection of `key` for a place already held (whose own connection turned
    /// out dead): the two places merge into one.
    fn take_another(&self, key: &Arc<PoolKey>) -> Option<Connection> {
        let now = Instant::now();
        let mut evicted = Vec::new();
        let mut state = self.lock();
        let State { buckets, open, .. } = &mut *state;
        let bucket = buckets.get_mut(key)?;
        let mut found = None;
        while let Some(idle) = bucket.idle.pop() {
            bucket.open -= 1;
            *open -= 1;
            if self.expired(&idle, now) {
                evicted.push(idle.conn);
            } else {
                found = Some(idle.conn);
                break;
            }
        }
        drop(state);
        if found.is_some() || !evicted.is_empty() {
            // Places were freed (the merged one, expired ones).
            self.released.notify_waiters();
        }
        close_in_background(evicted);
        found
    }

    fn expired(&self, idle: &Idle, now: Instant) -> bool {
        now.saturating_duration_since(idle.since) >= self.config.idle_timeout
            || idle.conn.age() >= self.config.max_lifetime
    }

    /// A reset connection comes back into its place.
    fn put(&self, key: &Arc<PoolKey>, conn: Connection) {
        let mut state = self.lock();
        let reusable = !state.closed && conn.age() < self.config.max_lifetime;
        match state.buckets.get_mut(key) {
            Some(bucket) if reusable => {
                bucket.idle.push(Idle {
                    conn,
                    since: Instant::now(),
                });
                drop(state);
                self.released.notify_waiters();
            }
            _ => {
                drop(state);
                self.release(key);
                close_in_background(vec![conn]);
            }
        }
    }

    /// A place is given up without a connection.
    fn release(&self, key: &Arc<PoolKey>) {
        let mut state = self.lock();
        let State { buckets, open, .. } = &mut *state;
        if let Some(bucket) = buckets.get_mut(key) {
            bucket.open = bucket.open.saturating_sub(1);
            *open = open.saturating_sub(1);
            if bucket.open == 0 {
                buckets.remove(key);
            }
        }
        drop(state);
        self.released.notify_waiters();
    }

    /// Closes idle connections past their idle timeout or lifetime. Returns how many.
    pub async fn close_expired(&self) -> usize {
        let now = Instant::now();
        let mut expired = Vec::new();
        {
            let mut state = self.lock();
            let State { buckets, open, .. } = &mut *state;
            buckets.retain(|_, bucket| {
                let before = bucket.idle.len();
                let mut kept = Vec::with_capacity(before);
                for idle in bucket.idle.drain(..) {
                    if self.expired(&idle, now) {
                        expired.push(idle.conn);
                    } else {
                        kept.push(idle);
                    }
                }
                bucket.idle = kept;
                let closed = before - bucket.idle.len();
                bucket.open -= closed;
                *open -= closed;
                bucket.open > 0
            });
        }
        let n = expired.len();
        if n > 0 {
            self.released.notify_waiters();
        }
        for conn in expired {
            conn.close().await;
        }
        n
    }

    /// Closes idle connections as they expire, until the task is dropped. Spawned by
    /// [`serve`](crate::serve), so idle backends do not linger (they would e.g. make a
    /// `DROP DATABASE` fail) after their idle timeout.
    pub async fn run_reaper(self: Arc<Self>) {
        let period =
            (self.config.idle_timeout / 4).clamp(Duration::from_millis(50), Duration::from_secs(5));
        let mut ticks = tokio::time::interval(period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            self.close_expired().await;
        }
    }

    /// Shutdown: refuses further use and closes every idle connection politely (connections
    /// still in use are closed by their requests when those end or are dropped).
    pub async fn close(&self) {
        let idle: Vec<Connection> = {
            let mut state = self.lock();
            state.closed = true;
            let State { buckets, open, .. } = &mut *state;
            let mut idle = Vec::new();
            for bucket in buckets.values_mut() {
                bucket.open -= bucket.idle.len();
                *open -= bucket.idle.len();
                idle.extend(bucket.idle.drain(..).map(|i| i.conn));
            }
            buckets.retain(|_, b| b.open > 0);
            idle
        };
        self.released.notify_waiters();
        // Concurrently, so the whole shutdown takes at most one close's time limit.
        let mut closing = tokio::task::JoinSet::new();
        for conn in idle {
            closing.spawn(conn.close());
        }
        while closing.join_next().await.is_some() {}
    }
}

/// Says goodbye to connections leaving the pool without holding up the request at hand.
fn close_in_background(conns: Vec<Connection>) {
    if conns.is_empty() {
        return;
    }
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => {
            runtime.spawn(async move {
                for conn in conns {
                    conn.close().await;
                }
            });
        }
        // Outside a runtime: dropping closes the sockets all the same, just without `Terminate`.
        Err(_) => drop(conns),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(password: &str) -> PoolKey {
        PoolKey {
            user: "u".into(),
            password: password.into(),
            database: "d".into(),
            application_name: None,
        }
    }

    #[test]
    fn keys_compare_every_part() {
        assert_eq!(key("secret"), key("secret"));
        assert_ne!(key("secret"), key("secreT"));
        assert_ne!(key("secret"), key("secret2"));
        assert_ne!(key("secret"), key(""));
        assert_ne!(
            key("p"),
            PoolKey {
                user: "v".into(),
                ..key("p")
            }
        );
        assert_ne!(
            key("p"),
            PoolKey {
                database: "e".into(),
                ..key("p")
            }
        );
        assert_ne!(
            key("p"),
            PoolKey {
                application_name: Some("a".into()),
                ..key("p")
            }
        );
        assert!(!format!("{:?}", key("hunter2")).contains("hunter2"));
    }

    #[test]
    fn constant_time_eq_is_equality() {
        assert!(constant_time_eq(b"", b""));
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(!constant_time_eq(b"ab\0", b"ab"));
        assert!(!constant_time_eq(b"", b"\0"));
    }

    #[tokio::test]
    async fn places_are_bounded_per_key_and_overall() {
        let pool = Arc::new(Pool::new(PoolConfig {
            max_per_key: 2,
            max_total: 3,
            ..PoolConfig::default()
        }));
        let wait = Duration::from_millis(30);
        let a1 = pool.acquire(key("a"), wait).await.unwrap();
        let a2 = pool.acquire(key("a"), wait).await.unwrap();
        assert!(a1.conn.is_none() && a2.conn.is_none());
        assert!(matches!(
            pool.acquire(key("a"), wait).await,
            Err(PoolError::Busy { per_key: 2, .. })
        ));
        let b1 = pool.acquire(key("b"), wait).await.unwrap();
        assert_eq!(pool.counts(), (3, 0));
        assert!(pool.acquire(key("c"), wait).await.is_err(), "total bound");
        drop(a1);
        assert_eq!(pool.counts(), (2, 0));
        let c1 = pool.acquire(key("c"), wait).await.unwrap();
        drop((a2, b1, c1));
        assert_eq!(pool.counts(), (0, 0));
        assert!(pool.lock().buckets.is_empty(), "empty buckets are removed");
    }

    #[tokio::test]
    async fn a_waiting_request_gets_the_freed_place() {
        let pool = Arc::new(Pool::new(PoolConfig {
            max_per_key: 1,
            ..PoolConfig::default()
        }));
        let held = pool
            .acquire(key("a"), Duration::from_secs(1))
            .await
            .unwrap();
        let waiter = {
            let pool = Arc::clone(&pool);
            tokio::spawn(async move { pool.acquire(key("a"), Duration::from_secs(5)).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiter.is_finished());
        drop(held);
        let lease = waiter.await.unwrap().unwrap();
        assert_eq!(pool.counts(), (1, 0));
        drop(lease);
    }

    #[tokio::test]
    async fn closed_pool_refuses() {
        let pool = Arc::new(Pool::new(PoolConfig::default()));
        pool.close().await;
        assert_eq!(
            pool.acquire(key("a"), Duration::from_millis(10))
                .await
                .err(),
            Some(PoolError::Closed)
        );
    }
}

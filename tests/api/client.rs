//! Typed HTTP helpers for the tests: every request goes through [`call`].

use crate::stack::Stack;
use std::borrow::Cow;
use std::io::Read;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A response, fully read: the body as text (`Reply`, from [`call`]) or as
/// bytes (`Reply<Vec<u8>>`, for byte-exact object bodies).
pub struct Reply<B = String> {
    /// Status code.
    pub status: u16,
    /// Headers, names lowercase.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: B,
}

impl<B: AsRef<[u8]>> Reply<B> {
    /// A header's value (first occurrence).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as text, for messages (bytes that are not UTF-8 replaced).
    pub fn text(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(self.body.as_ref())
    }

    /// The body as JSON; panics with the body when it is not JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(self.body.as_ref())
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.text()))
    }

    /// Asserts the status; returns the reply for a look at the rest.
    pub fn assert_status(&self, status: u16) -> &Self {
        assert_eq!(self.status, status, "status; body: {}", self.text());
        self
    }

    /// Asserts the body is the project's error format with this code and status.
    pub fn assert_error(&self, status: u16, code: &str) -> serde_json::Value {
        self.assert_status(status);
        assert_eq!(
            self.header("content-type"),
            Some("application/json"),
            "error content type"
        );
        let v = self.json();
        let obj = v.as_object().expect("error body is an object");
        for key in ["code", "message", "details", "hint"] {
            assert!(obj.contains_key(key), "error body lacks {key}: {v}");
        }
        assert_eq!(v["code"], code, "error code; body: {v}");
        assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()));
        v
    }

    /// Asserts the project's error format with one of these statuses and
    /// codes, for a case that more than one refusal may answer (`what` names
    /// it in the failure).
    pub fn assert_error_in(&self, expected: &[(u16, &str)], what: &str) -> serde_json::Value {
        let code = self.json()["code"].as_str().unwrap_or_default().to_string();
        assert!(
            expected.contains(&(self.status, code.as_str())),
            "{what}: {} {code}, expected one of {expected:?}; body: {}",
            self.status,
            self.text()
        );
        self.assert_error(self.status, &code)
    }
}

/// The agent for ordinary calls: a hung Worker fails the test within 60 s.
fn agent() -> &'static ureq::Agent {
    static AGENT: OnceLock<ureq::Agent> = OnceLock::new();
    AGENT.get_or_init(|| make_agent(60))
}

/// The agent for large transfers (hundreds of MiB through the objects routes).
fn transfer_agent() -> &'static ureq::Agent {
    static AGENT: OnceLock<ureq::Agent> = OnceLock::new();
    AGENT.get_or_init(|| make_agent(600))
}

fn make_agent(seconds: u64) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        // Every answer as sent: the API redirects nowhere, and its one 3xx
        // (`300 PGRST201`, an ambiguous embed) has no Location to follow.
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(seconds)))
        .build()
        .into()
}

/// A request body.
pub enum Body<'a> {
    None,
    Bytes(&'a [u8]),
    /// Streamed; sent chunked unless the headers give a Content-Length.
    Reader(Box<dyn Read + Send + 'static>),
}

/// Sends one request and returns the response with its body unread: the
/// one place requests are built. `transfer` allows large bodies ten minutes.
pub fn send(
    base: &str,
    method: &str,
    path: &str,
    key: Option<&str>,
    headers: &[(&str, &str)],
    body: Body,
    transfer: bool,
) -> ureq::http::Response<ureq::Body> {
    let mut builder = ureq::http::Request::builder()
        .method(method)
        .uri(format!("{base}{path}"));
    if let Some(key) = key {
        builder = builder.header("authorization", format!("Bearer {key}"));
    }
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let agent = if transfer { transfer_agent() } else { agent() };
    let result = match body {
        Body::None => agent.run(builder.body(()).expect("valid request")),
        Body::Bytes(b) => agent.run(builder.body(b.to_vec()).expect("valid request")),
        Body::Reader(r) => agent.run(
            builder
                .body(ureq::SendBody::from_owned_reader(r))
                .expect("valid request"),
        ),
    };
    result.unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

/// The response's headers, names lowercase.
fn header_list(resp: &ureq::http::Response<ureq::Body>) -> Vec<(String, String)> {
    resp.headers()
        .iter()
        .map(|(n, v)| (n.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
        .collect()
}

/// Sends a request to the Worker. `key` becomes `Authorization: Bearer <key>`.
pub fn call(
    s: &Stack,
    method: &str,
    path: &str,
    key: Option<&str>,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Reply {
    call_base(&s.base, method, path, key, headers, body)
}

/// Like [`call`], against any Worker base URL (e.g. a second worker).
pub fn call_base(
    base: &str,
    method: &str,
    path: &str,
    key: Option<&str>,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Reply {
    let body = body.map_or(Body::None, Body::Bytes);
    let r = fetch(base, method, path, key, headers, body, false);
    let body = String::from_utf8(r.body)
        .unwrap_or_else(|e| panic!("{method} {path}: the body is not UTF-8: {e}"));
    Reply {
        status: r.status,
        headers: r.headers,
        body,
    }
}

/// Sends one request (see [`send`]) and reads the whole response, the body
/// as bytes (none for `HEAD`).
pub fn fetch(
    base: &str,
    method: &str,
    path: &str,
    key: Option<&str>,
    headers: &[(&str, &str)],
    body: Body,
    transfer: bool,
) -> Reply<Vec<u8>> {
    // A body we can send again, should the local runtime restart under it.
    let again = match &body {
        Body::None => Some(Body::None),
        Body::Bytes(b) => Some(Body::Bytes(b)),
        Body::Reader(_) => None,
    };
    let reply = fetch_once(base, method, path, key, headers, body, transfer);
    match again {
        Some(body) if restarted_mid_request(&reply) => {
            // `wrangler dev`'s proxy answers this (plain text, never the
            // Worker's JSON) when workerd restarted while the request was in
            // flight, and retries only GET and HEAD by itself. The request
            // did not reach the Worker; send it once more, and say so.
            eprintln!("{method} {path}: the local runtime restarted mid-request; sending it again");
            fetch_once(base, method, path, key, headers, body, transfer)
        }
        _ => reply,
    }
}

/// Whether a reply is `wrangler dev`'s own "restarted mid-request" 503.
fn restarted_mid_request(reply: &Reply<Vec<u8>>) -> bool {
    reply.status == 503 && reply.body.starts_with(b"Your worker restarted mid-request")
}

fn fetch_once(
    base: &str,
    method: &str,
    path: &str,
    key: Option<&str>,
    headers: &[(&str, &str)],
    body: Body,
    transfer: bool,
) -> Reply<Vec<u8>> {
    let mut resp = send(base, method, path, key, headers, body, transfer);
    let status = resp.status().as_u16();
    let headers = header_list(&resp);
    let mut bytes = Vec::new();
    if method != "HEAD" {
        resp.body_mut()
            .as_reader()
            .read_to_end(&mut bytes)
            .unwrap_or_else(|e| panic!("{method} {path}: reading body: {e}"));
    }
    Reply {
        status,
        headers,
        body: bytes,
    }
}

/// `GET` with the admin key.
pub fn get(s: &Stack, path: &str) -> Reply {
    call(s, "GET", path, Some(&s.admin_key), &[], None)
}

/// Runs one statement with the admin key on `store` (`d1` or `pg`); it must succeed.
pub fn admin_sql(s: &Stack, store: &str, sql: &str) {
    let body = serde_json::json!({ "sql": sql }).to_string();
    let r = call(
        s,
        "POST",
        &format!("/v1/{store}/query"),
        Some(&s.admin_key),
        &[("content-type", "application/json")],
        Some(body.as_bytes()),
    );
    assert_eq!(r.status, 200, "{store}: {sql}: {}", r.body);
}

/// `POST`s `body` as JSON to any Worker base URL with `key`.
pub fn post_json(base: &str, path: &str, key: &str, body: &serde_json::Value) -> Reply {
    call_base(
        base,
        "POST",
        path,
        Some(key),
        &[("content-type", "application/json")],
        Some(body.to_string().as_bytes()),
    )
}

/// A name no other test uses, in this run or an earlier one against the same
/// stores (`STRATA_TEST_DATABASE_URL`): `{prefix}_{pid}_{start}_{n}`. A valid
/// SQL identifier, and object key segment, when `prefix` is one.
pub fn unique(prefix: &str) -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    static START: OnceLock<u64> = OnceLock::new();
    format!(
        "{prefix}_{}_{}_{}",
        std::process::id(),
        START.get_or_init(unix_now),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

/// Seconds since the epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Runs a real client's own test program (node's test runner, the venv's
/// python) from the repository root against this stack, with `env` set, and
/// returns everything it printed; fails the test if it failed.
pub fn run_client_suite(
    what: &str,
    program: &std::path::Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> Result<String, libtest_mimic::Failed> {
    let root = crate::stack::repo_root();
    let out = std::process::Command::new(program)
        .current_dir(&root)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", program.display()))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() {
        return Err(format!("{what} failed:\n{text}").into());
    }
    Ok(text)
}

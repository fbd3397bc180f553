//! What a handler gets besides the request: the environment, the matched
//! route, and — for routes that take a credential — who is calling.
//!
//! Its own module so that the pipeline (`app`) and the handlers (`routes/`)
//! both depend on it and not on each other.

use strata_core::auth::Principal;
use strata_core::http::RequestHead;
use strata_core::request_id::RequestId;
use strata_core::router::Matched;
use worker::Env;

/// The authenticated caller of a [`strata_core::router::Auth::Credential`]
/// route: checked once by the pipeline before the handler runs.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Who is calling and what it may do.
    pub principal: Principal,
    /// The `exp` of the JWT it authenticated with; `None` for an API key
    /// (keys do not expire: removing them from `API_KEYS` revokes them).
    /// What a caller makes with its credential, a signed URL, must not
    /// outlive it.
    pub token_expires: Option<u64>,
}

/// One request's context.
pub struct Ctx {
    /// The bindings, vars and secrets.
    pub env: Env,
    /// The request's method, URL and headers, read once (`http::head`).
    pub head: RequestHead,
    /// The request's id, as the response's `x-request-id` and log line name it.
    pub request_id: RequestId,
    /// The matched route and its path parameters.
    pub route: Matched,
    /// The key id the log line names: the caller's, or the signer's on a
    /// signed-URL route.
    pub key_id: Option<String>,
}

//! Reading the Worker's vars and secrets into the core's typed settings.
//!
//! Settings are validated where they are read, and errors name the setting
//! (never its value). The parsed key ring is cached per isolate, keyed by the
//! secret's text, so a rotated secret takes effect on the next request.

use std::cell::RefCell;
use std::rc::Rc;
use std::thread::LocalKey;
use strata_core::auth::KeyRing;
use strata_core::config::NeonConfig;
use strata_core::cors::CorsPolicy;
use strata_core::jwt::JwtConfig;
use strata_core::ApiError;
use worker::Env;

/// A secret or var as text, `None` when it is not set.
pub fn text(env: &Env, name: &str) -> Option<String> {
    env.secret(name)
        .map(|s| s.to_string())
        .or_else(|_| env.var(name).map(|v| v.to_string()))
        .ok()
}

/// A positive integer var with a default; an unparsable value is an error
/// naming the var.
pub fn number(env: &Env, name: &'static str, default: u64) -> Result<u64, ApiError> {
    match text(env, name) {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| ApiError::config(name, "is not a positive integer")),
    }
}

thread_local! {
    static KEY_RING: RefCell<Option<(String, Rc<KeyRing>)>> = const { RefCell::new(None) };
}

/// The parsed `API_KEYS`.
pub fn key_ring(env: &Env) -> Result<Rc<KeyRing>, ApiError> {
    let raw = text(env, "API_KEYS").ok_or_else(|| ApiError::config("API_KEYS", "is not set"))?;
    if let Some(ring) = KEY_RING.with(|c| {
        c.borrow()
            .as_ref()
            .filter(|(cached, _)| *cached == raw)
            .map(|(_, r)| r.clone())
    }) {
        return Ok(ring);
    }
    let ring = Rc::new(KeyRing::parse(&raw)?);
    KEY_RING.with(|c| *c.borrow_mut() = Some((raw, ring.clone())));
    Ok(ring)
}

/// How to reach Neon.
pub fn neon(env: &Env) -> Result<NeonConfig, ApiError> {
    NeonConfig::from_settings(
        text(env, "DATABASE_URL").as_deref(),
        text(env, "NEON_SQL_URL").as_deref(),
    )
}

/// How to reach Neon for statements that may only read: `DATABASE_URL_READ`
/// (a role with `SELECT` only, or a read replica) when it is set, so the
/// database itself refuses writes; `DATABASE_URL` otherwise.
pub fn neon_read(env: &Env) -> Result<NeonConfig, ApiError> {
    NeonConfig::for_reads(
        text(env, "DATABASE_URL_READ").as_deref(),
        text(env, "DATABASE_URL").as_deref(),
        text(env, "NEON_SQL_URL").as_deref(),
    )
}

/// How long a store call may take before the request answers 504 (ms).
pub fn store_timeout_ms(env: &Env) -> Result<u64, ApiError> {
    number(env, "STORE_TIMEOUT_MS", 10_000)
}

/// `MAX_RESULT_BYTES`: the most a store's answer may hold (default 4 MiB,
/// well inside a Worker's 128 MB, and under Neon's own 10 MB cap).
pub fn max_result_bytes(env: &Env) -> Result<u64, ApiError> {
    number(
        env,
        "MAX_RESULT_BYTES",
        strata_core::body::DEFAULT_MAX_RESULT_BYTES,
    )
}

/// Settings parsed together, with the raw values they were parsed from.
type Parsed<T> = RefCell<Option<(Vec<Option<String>>, T)>>;

thread_local! {
    static JWT: Parsed<Option<Rc<JwtConfig>>> = const { RefCell::new(None) };
    static CORS: Parsed<Rc<CorsPolicy>> = const { RefCell::new(None) };
}

/// The JWT settings (`None`: JWT bearer tokens are not enabled).
pub fn jwt(env: &Env) -> Result<Option<Rc<JwtConfig>>, ApiError> {
    parsed(&JWT, env, &strata_core::jwt::config::SETTINGS, |get| {
        Ok(JwtConfig::from_settings(get)?.map(Rc::new))
    })
}

/// The CORS policy.
pub fn cors(env: &Env) -> Result<Rc<CorsPolicy>, ApiError> {
    parsed(&CORS, env, &strata_core::cors::SETTINGS, |get| {
        Ok(Rc::new(CorsPolicy::from_settings(get)?))
    })
}

/// Parses a group of settings once per isolate, and again whenever one of
/// their values changes (a rotated secret takes effect on the next request).
fn parsed<T: Clone>(
    cache: &'static LocalKey<Parsed<T>>,
    env: &Env,
    names: &[&str],
    parse: impl FnOnce(&dyn Fn(&str) -> Option<String>) -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    let values: Vec<Option<String>> = names.iter().map(|n| text(env, n)).collect();
    let hit = cache.with(|c| {
        c.borrow()
            .as_ref()
            .filter(|(raw, _)| *raw == values)
            .map(|(_, v)| v.clone())
    });
    if let Some(v) = hit {
        return Ok(v);
    }
    let get = |name: &str| {
        names
            .iter()
            .position(|n| *n == name)
            .and_then(|i| values[i].clone())
    };
    let v = parse(&get)?;
    cache.with(|c| *c.borrow_mut() = Some((values, v.clone())));
    Ok(v)
}

//! Reading the Worker's vars and secrets into the core's typed settings.
//!
//! Settings are validated where they are read, and errors name the setting
//! (never its value).
//!
//! Reading a setting from the runtime costs several JS crossings (and, for
//! one that is not set, two error values), and the CORS and JWT groups alone
//! are a dozen names, so every value is read once per isolate and kept, and
//! so are the parsed groups (the key ring, JWT, CORS, Neon). An isolate's
//! `env` never changes: a new deploy, a rotated secret or a reload of `wrangler
//! dev` starts new isolates, or hands over a new `env` object, which
//! [`attach`] notices (by identity) and which drops everything cached.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::thread::LocalKey;
use strata_core::auth::KeyRing;
use strata_core::config::NeonConfig;
use strata_core::cors::CorsPolicy;
use strata_core::jwt::JwtConfig;
use strata_core::ApiError;
use worker::Env;

thread_local! {
    /// The `env` the cached settings come from.
    static ENV: RefCell<Option<wasm_bindgen::JsValue>> = const { RefCell::new(None) };
    /// Bumped whenever `ENV` changes: a parsed group from another generation is stale.
    static GENERATION: Cell<u64> = const { Cell::new(0) };
    /// Every setting read so far, by name (`None`: not set).
    static VALUES: RefCell<HashMap<String, Option<String>>> = RefCell::new(HashMap::new());
}

/// Called first for every request: an `env` other than the one the cached
/// settings were read from (compared by identity, one JS crossing) drops them.
pub fn attach(env: &Env) {
    let env: &wasm_bindgen::JsValue = env.as_ref();
    if ENV.with(|cached| cached.borrow().as_ref() == Some(env)) {
        return;
    }
    ENV.with(|cached| *cached.borrow_mut() = Some(env.clone()));
    GENERATION.with(|g| g.set(g.get().wrapping_add(1)));
    VALUES.with(|values| values.borrow_mut().clear());
}

/// A secret or var as text, `None` when it is not set.
pub fn text(env: &Env, name: &str) -> Option<String> {
    if let Some(value) = VALUES.with(|values| values.borrow().get(name).cloned()) {
        return value;
    }
    let value = env
        .secret(name)
        .map(|s| s.to_string())
        .or_else(|_| env.var(name).map(|v| v.to_string()))
        .ok();
    VALUES.with(|values| values.borrow_mut().insert(name.to_string(), value.clone()));
    value
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

/// The parsed `API_KEYS`.
pub fn key_ring(env: &Env) -> Result<Rc<KeyRing>, ApiError> {
    parsed(&KEY_RING, env, &["API_KEYS"], |get| {
        let raw = get("API_KEYS").ok_or_else(|| ApiError::config("API_KEYS", "is not set"))?;
        Ok(Rc::new(KeyRing::parse(&raw)?))
    })
}

/// How to reach Neon.
pub fn neon(env: &Env) -> Result<NeonConfig, ApiError> {
    parsed(&NEON, env, &["DATABASE_URL", "NEON_SQL_URL"], |get| {
        NeonConfig::from_settings(
            get("DATABASE_URL").as_deref(),
            get("NEON_SQL_URL").as_deref(),
        )
    })
}

/// How to reach Neon for statements that may only read: `DATABASE_URL_READ`
/// (a role with `SELECT` only, or a read replica) when it is set, so the
/// database itself refuses writes; `DATABASE_URL` otherwise.
pub fn neon_read(env: &Env) -> Result<NeonConfig, ApiError> {
    let names = ["DATABASE_URL_READ", "DATABASE_URL", "NEON_SQL_URL"];
    parsed(&NEON_READ, env, &names, |get| {
        NeonConfig::for_reads(
            get("DATABASE_URL_READ").as_deref(),
            get("DATABASE_URL").as_deref(),
            get("NEON_SQL_URL").as_deref(),
        )
    })
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

/// Settings parsed together, with the generation of `env` they were parsed from.
type Parsed<T> = RefCell<Option<(u64, T)>>;

thread_local! {
    static KEY_RING: Parsed<Rc<KeyRing>> = const { RefCell::new(None) };
    static NEON: Parsed<NeonConfig> = const { RefCell::new(None) };
    static NEON_READ: Parsed<NeonConfig> = const { RefCell::new(None) };
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

/// Parses a group of settings once per `env` (see [`attach`]). A group
/// that fails to parse is not kept: each request answers its error again.
/// `parse` may read only the group's own `names`.
fn parsed<T: Clone>(
    cache: &'static LocalKey<Parsed<T>>,
    env: &Env,
    names: &[&str],
    parse: impl FnOnce(&dyn Fn(&str) -> Option<String>) -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    let generation = GENERATION.with(Cell::get);
    let hit = cache.with(|c| {
        c.borrow()
            .as_ref()
            .filter(|(cached, _)| *cached == generation)
            .map(|(_, v)| v.clone())
    });
    if let Some(v) = hit {
        return Ok(v);
    }
    let get = |name: &str| names.contains(&name).then(|| text(env, name)).flatten();
    let v = parse(&get)?;
    cache.with(|c| *c.borrow_mut() = Some((generation, v.clone())));
    Ok(v)
}

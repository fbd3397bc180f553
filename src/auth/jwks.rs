//! The JWKS: fetched with the Worker's `fetch`, cached per isolate.
//!
//! A fetched set is used for `JWT_JWKS_CACHE_SECONDS`, then fetched again.
//! A token whose `kid` the set lacks triggers one early refetch, but
//! fetches are at least `JWT_JWKS_MIN_REFRESH_SECONDS` apart (the policy is
//! `strata_core::jwt::jwks::KeySetCache`). When the set cannot be fetched,
//! tokens that need it are answered `503` — never accepted unchecked, and
//! never checked against an expired set. Concurrent requests on a cold
//! isolate may each fetch once; that is bounded by the isolate's
//! concurrency and not worth a shared future.

use super::webcrypto;
use crate::settings;
use crate::stores::{self, StoreError};
use std::cell::RefCell;
use std::rc::Rc;
use strata_core::jwt::jwks::{JwkSet, KeyChoice, KeySetCache, MAX_JWKS_BYTES};
use strata_core::jwt::{JwtConfig, TokenError, UnverifiedToken};
use strata_core::ApiError;
use wasm_bindgen::JsValue;
use worker::Env;

/// A fetched key set and the `CryptoKey`s imported from it so far.
struct Keys {
    set: JwkSet,
    imported: RefCell<Vec<Option<JsValue>>>,
}

impl Keys {
    fn new(set: JwkSet) -> Keys {
        let imported = RefCell::new(vec![None; set.keys().len()]);
        Keys { set, imported }
    }

    /// The `CryptoKey` of key `index`, imported once per fetched set.
    async fn crypto_key(&self, index: usize) -> Result<JsValue, ApiError> {
        if let Some(Some(key)) = self.imported.borrow().get(index) {
            return Ok(key.clone());
        }
        let jwk = self.set.keys().get(index).ok_or_else(ApiError::internal)?;
        let key = webcrypto::import_public_jwk(jwk.alg(), jwk.public_jwk_json())
            .await
            .map_err(|e| unavailable(format!("key {:?} cannot be imported: {e}", jwk.kid())))?;
        if let Some(slot) = self.imported.borrow_mut().get_mut(index) {
            *slot = Some(key.clone());
        }
        Ok(key)
    }
}

thread_local! {
    /// The key set of one URL (a changed `JWT_JWKS_URL` starts afresh).
    static CACHE: RefCell<(String, KeySetCache<Rc<Keys>>)> = RefCell::new((String::new(), KeySetCache::default()));
}

fn with_cache<R>(url: &str, f: impl FnOnce(&mut KeySetCache<Rc<Keys>>) -> R) -> R {
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.0 != url {
            *c = (url.to_string(), KeySetCache::default());
        }
        f(&mut c.1)
    })
}

fn unavailable(cause: impl std::fmt::Display) -> ApiError {
    // Logs the cause; the client sees only that the key set is unavailable.
    StoreError::unavailable("jwks", cause).into()
}

/// Checks `token`'s signature with the key set at `url`: `Ok(false)` when
/// no candidate key verifies it, `Err` 401 for an unknown key or a key of
/// another algorithm, `Err` 503 when the set cannot be had.
pub async fn verify(
    env: &Env,
    config: &JwtConfig,
    url: &str,
    token: &UnverifiedToken<'_>,
) -> Result<bool, ApiError> {
    let lifetime_ms = config.jwks_cache_seconds * 1000;
    let min_interval_ms = config.jwks_min_refresh_seconds * 1000;
    let cached = with_cache(url, |c| {
        c.current(crate::http::now_ms(), lifetime_ms).cloned()
    });
    let mut keys = match cached {
        Some(keys) => keys,
        None => refetch(env, url, min_interval_ms).await?,
    };
    let candidates = match keys.set.select(token)? {
        KeyChoice::Candidates(c) => c,
        KeyChoice::Unknown => {
            // Perhaps the issuer rotated its keys: fetch again, unless a
            // fetch was tried too recently.
            if !with_cache(url, |c| c.may_fetch(crate::http::now_ms(), min_interval_ms)) {
                return Err(TokenError::UnknownKey.into());
            }
            keys = refetch(env, url, min_interval_ms).await?;
            match keys.set.select(token)? {
                KeyChoice::Candidates(c) => c,
                KeyChoice::Unknown => return Err(TokenError::UnknownKey.into()),
            }
        }
    };
    for index in candidates {
        let key = keys.crypto_key(index).await?;
        match webcrypto::verify(token.alg(), &key, token.signature(), token.signing_input()).await {
            Ok(true) => return Ok(true),
            Ok(false) => {}
            // Not the client's doing to report as 503, and never a pass.
            Err(e) => worker::console_error!("jwks: signature check failed to run: {e}"),
        }
    }
    Ok(false)
}

/// Fetches the set now (if fetches are not being spaced out) and caches it.
async fn refetch(env: &Env, url: &str, min_interval_ms: u64) -> Result<Rc<Keys>, ApiError> {
    let may = with_cache(url, |c| {
        let may = c.may_fetch(crate::http::now_ms(), min_interval_ms);
        if may {
            c.fetch_started(crate::http::now_ms());
        }
        may
    });
    if !may {
        return Err(unavailable(
            "the last fetch failed moments ago; waiting before the next",
        ));
    }
    let keys = Rc::new(Keys::new(fetch(env, url).await?));
    with_cache(url, |c| c.fetched(crate::http::now_ms(), keys.clone()));
    Ok(keys)
}

async fn fetch(env: &Env, url: &str) -> Result<JwkSet, ApiError> {
    let timeout = settings::store_timeout_ms(env)?;
    let mut headers = serde_json::Map::new();
    headers.insert("accept".into(), "application/json".into());
    let request = stores::Subrequest {
        method: "GET",
        url,
        headers: &headers,
        body: None,
        follow_redirects: true,
    };
    let invalid = || StoreError::Config(ApiError::config("JWT_JWKS_URL", "is not a valid URL"));
    let read = async {
        let answer =
            stores::fetch_capped_within("jwks", timeout, MAX_JWKS_BYTES as u64, request, invalid)
                .await?;
        if answer.status != 200 {
            return Err(StoreError::unavailable(
                "jwks",
                format!("HTTP {}", answer.status),
            ));
        }
        let body = answer
            .body
            .ok_or_else(|| StoreError::unavailable("jwks", "the key set is larger than 64 KiB"))?;
        JwkSet::parse(&body).map_err(|e| StoreError::unavailable("jwks", e.0))
    };
    match read.await {
        Ok(set) => Ok(set),
        Err(StoreError::Timeout { .. }) => Err(unavailable("no answer within STORE_TIMEOUT_MS")),
        Err(e) => Err(e.into()),
    }
}

//! Bearer JWTs: the Worker's half of `strata_core::jwt`.
//!
//! [`authenticate`] is the one place a request's credential is checked: the
//! pipeline calls it once for every route that takes a credential, before the
//! handler runs, and hands the handler the [`Caller`]. An API key is checked
//! against `API_KEYS`; a JWT (which may need the JWKS fetched) as below.
//! HS256 is checked in the core (`hmac`); RS256/ES256 signatures by
//! WebCrypto ([`webcrypto`]) with keys from the cached key set ([`jwks`]).

mod jwks;
mod webcrypto;

use crate::ctx::Caller;
use crate::settings;
use strata_core::auth::{bearer_token, Principal};
use strata_core::http::RequestHead;
use strata_core::jwt::{self, Alg, TokenError, UnverifiedToken};
use strata_core::ApiError;
use worker::Env;

/// Checks the request's bearer credential: a JWT (see [`verify_bearer_jwt`])
/// or an API key against `API_KEYS`. `401` without a valid one.
pub async fn authenticate(head: &RequestHead, env: &Env) -> Result<Caller, ApiError> {
    if let Some(verified) = verify_bearer_jwt(head, env).await {
        let (principal, expires) = verified?;
        return Ok(Caller {
            principal,
            token_expires: Some(expires),
        });
    }
    let keys = settings::key_ring(env)?;
    Ok(Caller {
        principal: keys.authenticate(head.header("authorization"))?,
        token_expires: None,
    })
}

/// Verifies the request's bearer credential if it is a JWT, answering who
/// is calling and the token's `exp`; `None` when there is none or it is an
/// API key (the key ring checks those).
pub async fn verify_bearer_jwt(
    head: &RequestHead,
    env: &Env,
) -> Option<Result<(Principal, u64), ApiError>> {
    let token = bearer_token(head.header("authorization")?)?;
    if !jwt::is_jwt(token) {
        return None;
    }
    Some(verify(env, token).await)
}

async fn verify(env: &Env, token: &str) -> Result<(Principal, u64), ApiError> {
    let config = settings::jwt(env)?.ok_or(TokenError::NotEnabled)?;
    let token = UnverifiedToken::decode(token)?;
    let verified = match token.alg() {
        Alg::Hs256 => {
            let secret = config.hs256.as_ref().ok_or(TokenError::AlgNotAllowed)?;
            token.verify_hs256(secret)?
        }
        Alg::Rs256 | Alg::Es256 => {
            let url = config
                .jwks_url
                .as_deref()
                .ok_or(TokenError::AlgNotAllowed)?;
            let valid = jwks::verify(env, &config, url, &token).await?;
            token.verified_externally(valid)?
        }
    };
    let now = crate::http::now_secs();
    let principal = verified.principal(&config.rules, now)?;
    // `principal` refused a token without a usable exp.
    let expires = verified.expires().ok_or(TokenError::MissingExpiry)?;
    Ok((principal, expires))
}

//! Bearer JWTs: the Worker's half of `strata_core::jwt`.
//!
//! A JWT is verified before the route runs, because RS256/ES256 keys may
//! have to be fetched (the JWKS) and `Ctx::authenticate` is synchronous; the
//! route then gets the result from `authenticate` exactly as for an API key.
//! HS256 is checked in the core (`hmac`); RS256/ES256 signatures by
//! WebCrypto ([`webcrypto`]) with keys from the cached key set ([`jwks`]).

mod jwks;
mod webcrypto;

use crate::settings;
use strata_core::auth::{bearer_token, Principal};
use strata_core::jwt::{self, Alg, TokenError, UnverifiedToken};
use strata_core::ApiError;
use worker::{Date, Env, Request};

/// Verifies the request's bearer credential if it is a JWT, answering who
/// is calling and the token's `exp`; `None` when there is none or it is an
/// API key (the key ring checks those).
pub async fn verify_bearer_jwt(
    req: &Request,
    env: &Env,
) -> Option<Result<(Principal, u64), ApiError>> {
    let header = req.headers().get("authorization").ok().flatten()?;
    let token = bearer_token(&header)?;
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
    let now = Date::now().as_millis() / 1000;
    let principal = verified.principal(&config.rules, now)?;
    // `principal` refused a token without a usable exp.
    let expires = verified.expires().ok_or(TokenError::MissingExpiry)?;
    Ok((principal, expires))
}

//! Signed URLs: `POST /v1/signed-urls` makes them, `/v1/signed/objects/{key}`
//! serves them.
//!
//! Making one needs the scope its method needs (`objects:read` for GET,
//! `objects:write` for PUT); a URL made with a JWT cannot outlive the token.
//! Using one needs no API key: the signature
//! (`strata_core::objects::signing`) is checked, and so is the signer
//! against the current `API_KEYS` (a removed key, or one without the scope
//! any more, revokes its URLs); the request then runs exactly like
//! `GET`/`HEAD`/`PUT` on `/v1/objects/{key}` — same conditionals, ranges,
//! metadata and checksums. Responses carry
//! `Access-Control-Allow-Origin: *` and preflights are answered, so a page
//! on any origin can upload or download with the URL alone; the URL is the
//! credential, so no cookie is involved.

use crate::ctx::{Caller, Ctx};
use crate::http::Out;
use crate::routes::objects;
use crate::{http, settings};
use strata_core::auth::Scope;
use strata_core::objects::service::Command;
use strata_core::objects::signing::{CredentialsInForce, SignRequest, Signer, SECRET_SETTING};
use strata_core::objects::ObjectKey;
use strata_core::ApiError;
use worker::Request;

/// Response headers a page may read from a signed response.
const EXPOSED: &str = "ETag, Last-Modified, Content-Length, Content-Range, Accept-Ranges, Content-Type, \
    Content-Encoding, Content-Disposition, Cache-Control, Expires, x-request-id, x-strata-checksum-sha256";

/// `POST /v1/signed-urls` with `{"method", "key", "expiresIn"}`.
pub async fn create(mut req: Request, ctx: &Ctx, caller: &Caller) -> Result<Out, ApiError> {
    // Any objects scope may ask; the method's own scope is checked below.
    caller.principal.require(Scope::ObjectsRead)?;
    let body = http::read_json_body(&mut req, ctx).await?;
    let grant = SignRequest::parse(&body)?.grant(
        &caller.principal,
        caller.token_expires,
        http::now_secs(),
    )?;
    let signer = signer(ctx)?;
    let url = format!("{}{}", ctx.head.origin(), grant.path_and_query(&signer));
    http::json(200, &grant.to_json(&url))
}

/// `GET`, `HEAD`, `PUT` and `OPTIONS` on `/v1/signed/objects/{key}`.
pub async fn access(mut req: Request, ctx: &mut Ctx) -> Result<Out, ApiError> {
    let method = ctx.head.method.clone();
    if method == "OPTIONS" {
        return Ok(preflight());
    }
    let result = serve(&mut req, ctx, &method).await;
    match result {
        Ok(response) => Ok(response
            .with_header("access-control-allow-origin", "*")
            .with_header("access-control-expose-headers", EXPOSED)),
        Err(e) => Err(e
            .with_header("Access-Control-Allow-Origin", "*")
            .with_header("Access-Control-Expose-Headers", EXPOSED)),
    }
}

/// The signature and its signer checked, the request runs as the same
/// command on `/v1/objects/{key}` would.
async fn serve(req: &mut Request, ctx: &mut Ctx, method: &str) -> Result<Out, ApiError> {
    let key = ObjectKey::from_path(ctx.route.param("key"))?;
    let signer = signer(ctx)?;
    let keys = settings::key_ring(&ctx.env)?;
    let in_force = CredentialsInForce {
        keys: &keys,
        // JWT settings that do not parse accept no token (authenticated
        // routes answer 500 for them), so they accept no JWT's URL either;
        // URLs signed with API keys do not depend on them.
        jwt_accepted: matches!(settings::jwt(&ctx.env), Ok(Some(_))),
    };
    let grant = signer.verify(
        method,
        &key,
        ctx.head.raw_query(),
        http::now_secs(),
        &in_force,
    )?;
    // Logged as the key that signed the URL, marked as such.
    ctx.key_id = Some(grant.principal().key_id);
    let command = Command::signed(grant.method, method, key, &ctx.head.headers)?;
    objects::run(req, ctx, command).await
}

/// The CORS preflight: any origin, the methods signed URLs serve, any
/// request header (no credentials are involved).
fn preflight() -> Out {
    Out::new(204)
        .with_header("access-control-allow-origin", "*")
        .with_header("access-control-allow-methods", "GET, HEAD, PUT")
        .with_header("access-control-allow-headers", "*")
        .with_header("access-control-max-age", "86400")
}

fn signer(ctx: &Ctx) -> Result<Signer, ApiError> {
    Signer::from_secret(settings::text(&ctx.env, SECRET_SETTING).as_deref())
}

//! Signed URLs: one method on one key until a time, without an API key.
//!
//! `POST /v1/signed-urls` (authenticated) returns
//! `/v1/signed/objects/<key>?method=GET&expires=<unix>&keyId=<id>&signature=<hex>`.
//! The signature is HMAC-SHA256, keyed with the secret `SIGNING_SECRET`, over
//! a canonical string that names every field unambiguously (lengths prefix
//! the two free-form ones, so no choice of key or key id can imitate
//! another):
//!
//! ```text
//! <DOMAIN>\n<METHOD>\n<expires>\n<len>:<key id>\n<len>:<object key>
//! ```
//!
//! The domain says which kind of credential signed: `STRATA-SIGNED-URL-V1`
//! for an API key (`keyId` is its id in `API_KEYS`), `STRATA-SIGNED-URL-JWT-V1`
//! for a JWT (`keyId` is `jwt:<sub>`). It is signed, not sent, so a URL
//! cannot claim to be of the other kind: checking tries both and accepts the
//! one whose MAC matches.
//!
//! A URL is worth no more than the credential that made it:
//!
//! * An API key's URL is checked against the key ring *when it is used*: a
//!   key removed from `API_KEYS`, or without the method's scope any more,
//!   revokes every URL it signed.
//! * A JWT's URL cannot outlive the token: `expires` may not exceed its
//!   `exp` (an explicit `expiresIn` beyond it is a 400; the default hour is
//!   shortened to it). Strata keeps no list of JWT subjects to revoke from,
//!   so such URLs are refused only once JWTs are no longer accepted at all
//!   (or `SIGNING_SECRET` rotates).
//!
//! Checking a URL recomputes the MAC and compares in constant time (the
//! `hmac` crate's `verify_slice`), then checks the method, the expiry and
//! the signer. Every failure is 403 `signature_invalid`; a revoked signer is
//! told apart from an unknown one in no way (nor are key ids ever named).
//! A GET URL also serves HEAD. Rotating `SIGNING_SECRET` revokes every URL
//! signed with the old one.

use super::key::ObjectKey;
use super::time::{http_date, rfc3339_millis};
use super::{decode_hex, hex, invalid, query};
use crate::auth::{KeyRing, Principal, Scope};
use crate::error::{ApiError, ErrorCode};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

/// The secret's name, for configuration errors.
pub const SECRET_SETTING: &str = "SIGNING_SECRET";
/// Shortest secret accepted: 32 bytes, HMAC-SHA256's own strength.
pub const MIN_SECRET_BYTES: usize = 32;
/// Longest validity a URL may be given: 7 days.
pub const MAX_EXPIRES_IN: u64 = 7 * 24 * 3600;
/// Validity when the request does not say.
pub const DEFAULT_EXPIRES_IN: u64 = 3600;
/// Path prefix signed URLs are served under.
pub const SIGNED_PATH_PREFIX: &str = "/v1/signed/objects/";

/// The canonical string's domain for URLs signed with an API key (the
/// original format: URLs made before JWT URLs had their own still verify).
const DOMAIN_API_KEY: &str = "STRATA-SIGNED-URL-V1";
/// The domain for URLs signed with a JWT.
const DOMAIN_JWT: &str = "STRATA-SIGNED-URL-JWT-V1";

/// The method a URL is signed for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignedMethod {
    /// Download (also allows HEAD).
    Get,
    /// Upload.
    Put,
}

impl SignedMethod {
    /// `GET` or `PUT`.
    pub fn as_str(self) -> &'static str {
        match self {
            SignedMethod::Get => "GET",
            SignedMethod::Put => "PUT",
        }
    }

    fn parse(text: &str) -> Option<SignedMethod> {
        match text {
            "GET" => Some(SignedMethod::Get),
            "PUT" => Some(SignedMethod::Put),
            _ => None,
        }
    }

    /// Whether a request with `method` may use a URL signed for `self`.
    pub fn allows(self, method: &str) -> bool {
        match self {
            SignedMethod::Get => method == "GET" || method == "HEAD",
            SignedMethod::Put => method == "PUT",
        }
    }

    /// The scope a key needs to sign for this method, and to keep to have
    /// its URLs work.
    pub fn scope(self) -> Scope {
        match self {
            SignedMethod::Get => Scope::ObjectsRead,
            SignedMethod::Put => Scope::ObjectsWrite,
        }
    }
}

/// The credential that signed a URL, by the id the URL carries as `keyId`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignedBy {
    /// An API key, by its id in `API_KEYS`.
    ApiKey(String),
    /// A JWT, by its principal id (`jwt:<sub>`, or `jwt` without a `sub`).
    Jwt(String),
}

impl SignedBy {
    /// The id the URL carries as `keyId` (and the log names).
    pub fn id(&self) -> &str {
        match self {
            SignedBy::ApiKey(id) | SignedBy::Jwt(id) => id,
        }
    }

    fn domain(&self) -> &'static str {
        match self {
            SignedBy::ApiKey(_) => DOMAIN_API_KEY,
            SignedBy::Jwt(_) => DOMAIN_JWT,
        }
    }
}

/// The credentials in force when a signed URL is used: a URL works only
/// while the credential that signed it would still be allowed to sign it.
#[derive(Clone, Copy)]
pub struct CredentialsInForce<'a> {
    /// `API_KEYS` as configured now.
    pub keys: &'a KeyRing,
    /// Whether this deployment accepts JWTs now.
    pub jwt_accepted: bool,
}

impl CredentialsInForce<'_> {
    /// Whether `signed_by` may still grant `method`.
    fn allow(&self, signed_by: &SignedBy, method: SignedMethod) -> bool {
        match signed_by {
            SignedBy::ApiKey(id) => self
                .keys
                .principal(id)
                .is_some_and(|key| key.allows(method.scope())),
            // Bounded by the token's exp when signed; nothing to look up.
            SignedBy::Jwt(_) => self.jwt_accepted,
        }
    }
}

/// The body of `POST /v1/signed-urls`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignRequest {
    /// What the URL may do.
    pub method: SignedMethod,
    /// On which object.
    pub key: ObjectKey,
    /// For how many seconds from now; `None` for the default
    /// ([`DEFAULT_EXPIRES_IN`], shortened to a signing token's lifetime).
    pub expires_in: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SignBody {
    method: String,
    key: String,
    expires_in: Option<serde_json::Value>,
}

impl SignRequest {
    /// Parses `{"method": "GET"|"PUT", "key": "...", "expiresIn": seconds}`;
    /// `expiresIn` defaults to an hour and may be at most 7 days — longer is
    /// a 400, not a silently shorter URL.
    pub fn parse(body: &[u8]) -> Result<SignRequest, ApiError> {
        let body: SignBody = serde_json::from_slice(body).map_err(|e| {
            if e.is_data() {
                invalid(format!(
                    "the body must be {{\"method\": \"GET\"|\"PUT\", \"key\": \"...\", \"expiresIn\": seconds}}: {e}"
                ))
            } else {
                ApiError::new(ErrorCode::InvalidJson, "the body is not valid JSON")
            }
        })?;
        let method = SignedMethod::parse(&body.method)
            .ok_or_else(|| invalid("method must be \"GET\" or \"PUT\""))?;
        let key = ObjectKey::new(body.key)?;
        let expires_in = match body.expires_in {
            None => None,
            Some(v) => Some(
                v.as_u64()
                    .filter(|n| (1..=MAX_EXPIRES_IN).contains(n))
                    .ok_or_else(|| {
                        invalid(format!(
                        "expiresIn must be a whole number of seconds from 1 to {MAX_EXPIRES_IN} (7 days)"
                    ))
                        .with_details(serde_json::json!({ "maxExpiresIn": MAX_EXPIRES_IN }))
                    })?,
            ),
        };
        Ok(SignRequest {
            method,
            key,
            expires_in,
        })
    }

    /// The grant `principal` asks for at `now` (Unix seconds): 403 without
    /// the method's scope. `token_expires` is the `exp` of the JWT the
    /// request was authenticated with (`None` for an API key): the URL may
    /// not outlive it — an explicit `expiresIn` beyond it is a 400 naming
    /// the most that is left, the default hour is shortened to it.
    pub fn grant(
        self,
        principal: &Principal,
        token_expires: Option<u64>,
        now: u64,
    ) -> Result<Grant, ApiError> {
        principal.require(self.method.scope())?;
        let asked = now.saturating_add(self.expires_in.unwrap_or(DEFAULT_EXPIRES_IN));
        let (expires, signed_by) = match token_expires {
            None => (asked, SignedBy::ApiKey(principal.key_id.clone())),
            Some(exp) => {
                let explicit = self.expires_in.is_some();
                if exp <= now || (explicit && asked > exp) {
                    return Err(outlives_token(exp, now));
                }
                (asked.min(exp), SignedBy::Jwt(principal.key_id.clone()))
            }
        };
        Ok(Grant {
            method: self.method,
            key: self.key,
            expires,
            signed_by,
        })
    }
}

/// 400 for a URL that would outlive the JWT asking for it.
fn outlives_token(exp: u64, now: u64) -> ApiError {
    let left = exp.saturating_sub(now);
    let message = if left == 0 {
        "the token signing this URL expires now, so the URL could not outlive it: sign with a fresh token".to_string()
    } else {
        format!(
            "a signed URL may not outlive the token that signs it: the token expires at {} ({left} seconds from now), so expiresIn may be at most {left}",
            http_date(exp)
        )
    };
    invalid(message)
        .with_details(serde_json::json!({ "maxExpiresIn": left, "tokenExpires": exp }))
        .with_hint("ask for a shorter expiresIn, or sign with a token that lives longer")
}

/// What a signed URL grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The method.
    pub method: SignedMethod,
    /// The object.
    pub key: ObjectKey,
    /// Unix time (seconds) after which the URL is refused.
    pub expires: u64,
    /// The credential that signed it.
    pub signed_by: SignedBy,
}

impl Grant {
    /// Path and query of the URL (the caller adds the origin).
    pub fn path_and_query(&self, signer: &Signer) -> String {
        format!(
            "{SIGNED_PATH_PREFIX}{}?method={}&expires={}&keyId={}&signature={}",
            self.key.to_url_path(),
            self.method.as_str(),
            self.expires,
            query::percent_encode(self.signed_by.id(), false),
            hex(&signer.signature(self)),
        )
    }

    /// The answer to `POST /v1/signed-urls`, given the URL.
    pub fn to_json(&self, url: &str) -> serde_json::Value {
        serde_json::json!({
            "url": url,
            "method": self.method.as_str(),
            "key": self.key.as_str(),
            "expires": self.expires,
            "expiresAt": rfc3339_millis(self.expires.saturating_mul(1000)),
        })
    }

    /// Who a request through the URL acts as: `signed-url:<key id>` in the
    /// log, with only the method's scope.
    pub fn principal(&self) -> Principal {
        Principal {
            key_id: format!("signed-url:{}", self.signed_by.id()),
            scopes: vec![self.method.scope()],
        }
    }
}

/// Signs and checks URLs with `SIGNING_SECRET`. Its `Debug` never shows
/// the secret.
#[derive(Clone)]
pub struct Signer {
    mac: Hmac<Sha256>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer { .. }")
    }
}

fn refused(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::SignatureInvalid, message)
}

impl Signer {
    /// Builds the signer from the secret: 500 `config_invalid` naming
    /// `SIGNING_SECRET` when it is missing or shorter than 32 bytes.
    pub fn from_secret(secret: Option<&str>) -> Result<Signer, ApiError> {
        let secret = secret
            .filter(|s| !s.is_empty())
            .ok_or_else(|| ApiError::config(SECRET_SETTING, "is not set"))?;
        if secret.len() < MIN_SECRET_BYTES {
            return Err(ApiError::config(
                SECRET_SETTING,
                &format!("is shorter than {MIN_SECRET_BYTES} bytes"),
            ));
        }
        let mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
            .map_err(|_| ApiError::config(SECRET_SETTING, "cannot be used as an HMAC key"))?;
        Ok(Signer { mac })
    }

    fn mac_for(
        &self,
        method: SignedMethod,
        expires: u64,
        signed_by: &SignedBy,
        key: &ObjectKey,
    ) -> Hmac<Sha256> {
        let mut mac = self.mac.clone();
        let key_id = signed_by.id();
        let canonical = format!(
            "{}\n{}\n{expires}\n{}:{key_id}\n{}:{}",
            signed_by.domain(),
            method.as_str(),
            key_id.len(),
            key.as_str().len(),
            key.as_str()
        );
        mac.update(canonical.as_bytes());
        mac
    }

    /// The signature of a grant.
    pub fn signature(&self, grant: &Grant) -> [u8; 32] {
        self.mac_for(grant.method, grant.expires, &grant.signed_by, &grant.key)
            .finalize()
            .into_bytes()
            .into()
    }

    /// Checks a request to a signed URL: its raw query, the key its path
    /// names, its method, the current time (Unix seconds), and whether the
    /// credential that signed it is still `in_force`.
    pub fn verify(
        &self,
        request_method: &str,
        key: &ObjectKey,
        raw_query: Option<&str>,
        now: u64,
        in_force: &CredentialsInForce<'_>,
    ) -> Result<Grant, ApiError> {
        let params = query::parse(raw_query)
            .map_err(|_| refused("the signed URL's query string is malformed"))?;
        let allowed = ["method", "expires", "keyId", "signature"];
        if params.iter().any(|p| !allowed.contains(&p.name.as_str())) {
            return Err(refused(
                "the signed URL has parameters it was not signed with",
            ));
        }
        let field = |name: &str| {
            query::value(&params, name)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| refused(format!("the signed URL lacks {name}")))
        };
        let method = SignedMethod::parse(field("method")?)
            .ok_or_else(|| refused("the signed URL's method is not GET or PUT"))?;
        let expires_text = field("expires")?;
        let expires = expires_text
            .bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| expires_text.parse::<u64>().ok())
            .flatten()
            .ok_or_else(|| refused("the signed URL's expiry is not a number"))?;
        let key_id = field("keyId")?;
        let signature = decode_hex::<32>(field("signature")?)
            .ok_or_else(|| refused("the signature is not 64 hexadecimal digits"))?;
        // The kind of signer is not in the URL: it is whichever domain the
        // MAC matches (at most one can).
        let signed_by = [
            SignedBy::ApiKey(key_id.to_string()),
            SignedBy::Jwt(key_id.to_string()),
        ]
        .into_iter()
        .find(|by| {
            self.mac_for(method, expires, by, key)
                .verify_slice(&signature)
                .is_ok()
        })
        .ok_or_else(|| {
            refused(
                "the signature does not match: the URL was altered, or signed with another secret",
            )
        })?;
        if !method.allows(request_method) {
            return Err(refused(format!(
                "this URL is signed for {} requests, not {request_method}",
                method.as_str()
            )));
        }
        if now >= expires {
            return Err(refused(format!(
                "this URL expired at {}",
                http_date(expires)
            )));
        }
        // One message whether the signer is gone or lost the scope, and it
        // names no key: a URL's holder learns nothing about the key ring.
        if !in_force.allow(&signed_by, method) {
            return Err(refused(
                "the credential that signed this URL has been revoked or no longer has the scope for it",
            ));
        }
        Ok(Grant {
            method,
            key: key.clone(),
            expires,
            signed_by,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::key_hash_hex;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";
    const NOW: u64 = 1_700_000_000;

    fn signer() -> Signer {
        Signer::from_secret(Some(SECRET)).unwrap()
    }

    fn key(k: &str) -> ObjectKey {
        ObjectKey::new(k.into()).unwrap()
    }

    fn grant(method: SignedMethod, k: &str) -> Grant {
        Grant {
            method,
            key: key(k),
            expires: NOW + 60,
            signed_by: SignedBy::ApiKey("ci key".into()),
        }
    }

    /// A key ring with `ci key` (objects:write), `reader` (objects:read)
    /// and `jwt:alice` (d1:read: an API key whose id looks like a JWT's).
    fn ring() -> KeyRing {
        KeyRing::parse(&format!(
            r#"{{"ci key": {{"sha256": "{}", "scopes": ["objects:write"]}},
                "reader": {{"sha256": "{}", "scopes": ["objects:read"]}},
                "jwt:alice": {{"sha256": "{}", "scopes": ["d1:read"]}}}}"#,
            key_hash_hex("k1"),
            key_hash_hex("k2"),
            key_hash_hex("k3"),
        ))
        .unwrap()
    }

    /// Verifies against [`ring`], with JWTs accepted.
    fn check(
        s: &Signer,
        method: &str,
        k: &ObjectKey,
        q: Option<&str>,
        now: u64,
    ) -> Result<Grant, ApiError> {
        let keys = ring();
        let in_force = CredentialsInForce {
            keys: &keys,
            jwt_accepted: true,
        };
        s.verify(method, k, q, now, &in_force)
    }

    /// Splits a signed URL into the key its path names and its query.
    fn split(url: &str) -> (ObjectKey, String) {
        let rest = url.strip_prefix(SIGNED_PATH_PREFIX).unwrap();
        let (path, query) = rest.split_once('?').unwrap();
        (ObjectKey::from_path(Some(path)).unwrap(), query.to_string())
    }

    #[test]
    fn signed_urls_verify_for_their_method_key_and_time() {
        let s = signer();
        for k in ["a/b.txt", "a/../b", "ü nicode/ +?#&=%", "../x"] {
            let g = grant(SignedMethod::Get, k);
            let (path_key, q) = split(&g.path_and_query(&s));
            assert_eq!(path_key, key(k));
            assert_eq!(check(&s, "GET", &path_key, Some(&q), NOW).unwrap(), g);
            assert_eq!(check(&s, "HEAD", &path_key, Some(&q), NOW + 59).unwrap(), g);
        }
        let g = grant(SignedMethod::Put, "up.bin");
        let (k, q) = split(&g.path_and_query(&s));
        assert!(check(&s, "PUT", &k, Some(&q), NOW).is_ok());
    }

    fn refused_with(result: Result<Grant, ApiError>, fragment: &str) {
        let e = result.unwrap_err();
        assert_eq!((e.status(), e.code.as_str()), (403, "signature_invalid"));
        assert!(
            e.message.contains(fragment),
            "{:?} lacks {fragment:?}",
            e.message
        );
    }

    #[test]
    fn expired_wrong_method_and_tampered_urls_are_403() {
        let s = signer();
        let g = grant(SignedMethod::Get, "a.txt");
        let (k, q) = split(&g.path_and_query(&s));
        refused_with(check(&s, "GET", &k, Some(&q), NOW + 60), "expired");
        refused_with(check(&s, "PUT", &k, Some(&q), NOW), "signed for GET");
        refused_with(check(&s, "DELETE", &k, Some(&q), NOW), "signed for GET");
        // Another key, a changed expiry or method, another key id.
        refused_with(
            check(&s, "GET", &key("b.txt"), Some(&q), NOW),
            "does not match",
        );
        let later = q.replace(
            &format!("expires={}", NOW + 60),
            &format!("expires={}", NOW + 6000),
        );
        refused_with(check(&s, "GET", &k, Some(&later), NOW), "does not match");
        let put = q.replace("method=GET", "method=PUT");
        refused_with(check(&s, "PUT", &k, Some(&put), NOW), "does not match");
        let other_id = q.replace("keyId=ci%20key", "keyId=admin");
        refused_with(check(&s, "GET", &k, Some(&other_id), NOW), "does not match");
        // A flipped signature digit.
        let sig_at = q.find("signature=").unwrap() + "signature=".len();
        let mut flipped = q.clone().into_bytes();
        flipped[sig_at] = if flipped[sig_at] == b'0' { b'1' } else { b'0' };
        refused_with(
            check(
                &s,
                "GET",
                &k,
                Some(std::str::from_utf8(&flipped).unwrap()),
                NOW,
            ),
            "does not match",
        );
        // Another secret.
        let other = Signer::from_secret(Some("fedcba9876543210fedcba9876543210")).unwrap();
        refused_with(check(&other, "GET", &k, Some(&q), NOW), "does not match");
    }

    #[test]
    fn incomplete_or_extended_urls_are_403() {
        let s = signer();
        let g = grant(SignedMethod::Get, "a.txt");
        let (k, q) = split(&g.path_and_query(&s));
        refused_with(check(&s, "GET", &k, None, NOW), "lacks method");
        refused_with(
            check(&s, "GET", &k, Some(&format!("{q}&uploads")), NOW),
            "not signed with",
        );
        refused_with(
            check(
                &s,
                "GET",
                &k,
                Some(&q.replace("signature=", "signature=0")),
                NOW,
            ),
            "64 hexadecimal",
        );
        refused_with(
            check(
                &s,
                "GET",
                &k,
                Some(&q.replace("expires=", "expires=x")),
                NOW,
            ),
            "not a number",
        );
        refused_with(
            check(
                &s,
                "GET",
                &k,
                Some(&q.replace("method=GET", "method=DELETE")),
                NOW,
            ),
            "not GET or PUT",
        );
        refused_with(
            check(
                &s,
                "GET",
                &k,
                Some("method=GET&expires=1&keyId=a&signature=%zz"),
                NOW,
            ),
            "malformed",
        );
    }

    #[test]
    fn the_canonical_string_separates_key_id_from_key() {
        let s = signer();
        // Same concatenation of key id and key, different split.
        let a = Grant {
            signed_by: SignedBy::ApiKey("ab".into()),
            key: key("c"),
            ..grant(SignedMethod::Get, "x")
        };
        let b = Grant {
            signed_by: SignedBy::ApiKey("a".into()),
            key: key("bc"),
            ..grant(SignedMethod::Get, "x")
        };
        assert_ne!(s.signature(&a), s.signature(&b));
    }

    #[test]
    fn api_key_urls_keep_the_v1_canonical_string() {
        // URLs made before JWT URLs got their own domain still verify.
        let g = grant(SignedMethod::Get, "a/b.txt");
        let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
        mac.update(
            format!(
                "STRATA-SIGNED-URL-V1\nGET\n{}\n6:ci key\n7:a/b.txt",
                NOW + 60
            )
            .as_bytes(),
        );
        let v1: [u8; 32] = mac.finalize().into_bytes().into();
        assert_eq!(signer().signature(&g), v1);
    }

    #[test]
    fn secrets_are_checked_and_never_shown() {
        for secret in [None, Some(""), Some("tiny-secret")] {
            let e = Signer::from_secret(secret).unwrap_err();
            assert_eq!((e.status(), e.code.as_str()), (500, "config_invalid"));
            assert!(e.message.contains(SECRET_SETTING));
            assert!(!e.body().contains("tiny-secret"));
        }
        assert!(!format!("{:?}", signer()).contains(SECRET));
    }

    #[test]
    fn sign_requests() {
        let r = SignRequest::parse(br#"{"method":"PUT","key":"a/b","expiresIn":604800}"#).unwrap();
        assert_eq!(
            r,
            SignRequest {
                method: SignedMethod::Put,
                key: key("a/b"),
                expires_in: Some(MAX_EXPIRES_IN)
            }
        );
        assert_eq!(
            SignRequest::parse(br#"{"method":"GET","key":"a"}"#)
                .unwrap()
                .expires_in,
            None
        );
        assert_eq!(SignedMethod::Get.scope(), Scope::ObjectsRead);
        assert_eq!(SignedMethod::Put.scope(), Scope::ObjectsWrite);
        for body in [
            r#"{"method":"DELETE","key":"a"}"#,
            r#"{"method":"get","key":"a"}"#,
            r#"{"method":"GET","key":""}"#,
            r#"{"method":"GET","key":"a","expiresIn":0}"#,
            r#"{"method":"GET","key":"a","expiresIn":604801}"#,
            r#"{"method":"GET","key":"a","expiresIn":1.5}"#,
            r#"{"method":"GET","key":"a","expiresIn":"60"}"#,
            r#"{"method":"GET","key":"a","expires":60}"#,
            r#"{"key":"a"}"#,
        ] {
            let e = SignRequest::parse(body.as_bytes()).unwrap_err();
            assert_eq!(
                (e.status(), e.code.as_str()),
                (400, "invalid_request"),
                "{body}: {}",
                e.message
            );
        }
        assert_eq!(
            SignRequest::parse(b"{").unwrap_err().code.as_str(),
            "invalid_json"
        );
    }

    #[test]
    fn grant_json() {
        let g = grant(SignedMethod::Get, "a b");
        let v = g.to_json("https://x/y");
        assert_eq!(v["url"], "https://x/y");
        assert_eq!(v["method"], "GET");
        assert_eq!(v["key"], "a b");
        assert_eq!(v["expires"], NOW + 60);
        assert_eq!(v["expiresAt"], "2023-11-14T22:14:20.000Z");
    }

    #[test]
    fn removing_a_key_or_its_scope_revokes_its_urls() {
        let s = signer();
        let get = grant(SignedMethod::Get, "a.txt");
        let put = grant(SignedMethod::Put, "a.txt");
        let (k, get_q) = split(&get.path_and_query(&s));
        let (_, put_q) = split(&put.path_and_query(&s));
        let verify = |ring: &str, method: &str, q: &str| {
            let keys = KeyRing::parse(ring).unwrap();
            let in_force = CredentialsInForce {
                keys: &keys,
                jwt_accepted: true,
            };
            s.verify(method, &k, Some(q), NOW, &in_force)
        };
        let hash = key_hash_hex("k1");
        let with =
            |scopes: &str| format!(r#"{{"ci key": {{"sha256": "{hash}", "scopes": {scopes}}}}}"#);
        // In the ring with the scope: works.
        assert_eq!(
            verify(&with(r#"["objects:write"]"#), "GET", &get_q).unwrap(),
            get
        );
        assert_eq!(verify(&with(r#"["admin"]"#), "PUT", &put_q).unwrap(), put);
        // Down to objects:read: GET URLs still work, PUT URLs do not.
        assert!(verify(&with(r#"["objects:read"]"#), "GET", &get_q).is_ok());
        let revoked = "has been revoked";
        refused_with(verify(&with(r#"["objects:read"]"#), "PUT", &put_q), revoked);
        refused_with(verify(&with(r#"["d1:write"]"#), "GET", &get_q), revoked);
        // Gone from the ring (another key with its hash changes nothing).
        let gone = format!(r#"{{"other": {{"sha256": "{hash}", "scopes": ["admin"]}}}}"#);
        refused_with(verify(&gone, "GET", &get_q), revoked);
        refused_with(verify("{}", "PUT", &put_q), revoked);
        // Revoked and unknown say the same, and name no key.
        let e = verify("{}", "GET", &get_q).unwrap_err();
        assert_eq!(
            e.message,
            verify(&with("[]"), "GET", &get_q).unwrap_err().message
        );
        assert!(!e.body().contains("ci key") && !e.body().contains("other"));
        // Checked after the signature: a forged URL says only that.
        let forged = get_q.replace("keyId=ci%20key", "keyId=other");
        refused_with(verify(&gone, "GET", &forged), "does not match");
    }

    #[test]
    fn jwt_urls_are_their_own_kind_and_need_jwts_accepted() {
        let s = signer();
        let g = Grant {
            signed_by: SignedBy::Jwt("jwt:alice".into()),
            ..grant(SignedMethod::Get, "a.txt")
        };
        let (k, q) = split(&g.path_and_query(&s));
        assert!(q.contains("keyId=jwt%3Aalice"), "{q}");
        // Not looked up in the ring, though an API key there has the same id
        // (and lacks the scope): the MAC says it is a JWT's URL.
        assert_eq!(check(&s, "GET", &k, Some(&q), NOW).unwrap(), g);
        let keys = ring();
        let off = CredentialsInForce {
            keys: &keys,
            jwt_accepted: false,
        };
        refused_with(s.verify("GET", &k, Some(&q), NOW, &off), "has been revoked");
        // The same fields signed by the API key `jwt:alice` are that key's
        // URL, and that key may not read objects.
        let as_key = Grant {
            signed_by: SignedBy::ApiKey("jwt:alice".into()),
            ..g.clone()
        };
        assert_ne!(s.signature(&as_key), s.signature(&g));
        let (_, key_q) = split(&as_key.path_and_query(&s));
        refused_with(check(&s, "GET", &k, Some(&key_q), NOW), "has been revoked");
        // A JWT URL moved to another key id does not verify as either kind.
        let moved = q.replace("keyId=jwt%3Aalice", "keyId=jwt%3Amallory");
        refused_with(check(&s, "GET", &k, Some(&moved), NOW), "does not match");
    }

    fn principal(id: &str, scopes: &[Scope]) -> Principal {
        Principal {
            key_id: id.into(),
            scopes: scopes.to_vec(),
        }
    }

    fn ask(body: &str) -> SignRequest {
        SignRequest::parse(body.as_bytes()).unwrap()
    }

    #[test]
    fn api_keys_get_what_they_ask_for_with_their_scope() {
        let reader = principal("reader", &[Scope::ObjectsRead]);
        let g = ask(r#"{"method":"GET","key":"a"}"#)
            .grant(&reader, None, NOW)
            .unwrap();
        assert_eq!(g.expires, NOW + DEFAULT_EXPIRES_IN);
        assert_eq!(g.signed_by, SignedBy::ApiKey("reader".into()));
        let g = ask(r#"{"method":"GET","key":"a","expiresIn":604800}"#)
            .grant(&reader, None, NOW)
            .unwrap();
        assert_eq!(g.expires, NOW + MAX_EXPIRES_IN);
        assert_eq!(
            g.principal(),
            principal("signed-url:reader", &[Scope::ObjectsRead])
        );
        let e = ask(r#"{"method":"PUT","key":"a"}"#)
            .grant(&reader, None, NOW)
            .unwrap_err();
        assert_eq!((e.status(), e.code.as_str()), (403, "forbidden"));
    }

    #[test]
    fn jwt_urls_never_outlive_the_token() {
        let alice = principal("jwt:alice", &[Scope::ObjectsWrite]);
        let exp = NOW + 300;
        let grant = |body: &str, exp: u64| ask(body).grant(&alice, Some(exp), NOW);
        // Within the token's life: as asked.
        let g = grant(r#"{"method":"PUT","key":"a","expiresIn":60}"#, exp).unwrap();
        assert_eq!(g.expires, NOW + 60);
        assert_eq!(g.signed_by, SignedBy::Jwt("jwt:alice".into()));
        assert_eq!(
            grant(r#"{"method":"GET","key":"a","expiresIn":300}"#, exp)
                .unwrap()
                .expires,
            exp
        );
        // The default hour is shortened to the token's life.
        assert_eq!(
            grant(r#"{"method":"GET","key":"a"}"#, exp).unwrap().expires,
            exp
        );
        assert_eq!(
            grant(r#"{"method":"GET","key":"a"}"#, NOW + 7200)
                .unwrap()
                .expires,
            NOW + DEFAULT_EXPIRES_IN
        );
        // Asking for more is a 400 saying how much is left.
        let e = grant(r#"{"method":"GET","key":"a","expiresIn":301}"#, exp).unwrap_err();
        assert_eq!((e.status(), e.code.as_str()), (400, "invalid_request"));
        assert!(
            e.message.contains("may not outlive the token"),
            "{}",
            e.message
        );
        assert_eq!(e.details.as_ref().unwrap()["maxExpiresIn"], 300);
        assert_eq!(e.details.as_ref().unwrap()["tokenExpires"], exp);
        // A token at its very end (accepted within the clock skew) signs nothing.
        for body in [
            r#"{"method":"GET","key":"a"}"#,
            r#"{"method":"GET","key":"a","expiresIn":1}"#,
        ] {
            for exp in [NOW, NOW - 30] {
                let e = grant(body, exp).unwrap_err();
                assert_eq!(e.status(), 400);
                assert_eq!(e.details.as_ref().unwrap()["maxExpiresIn"], 0);
            }
        }
    }
}

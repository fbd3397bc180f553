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
//! STRATA-SIGNED-URL-V1\n<METHOD>\n<expires>\n<len>:<key id>\n<len>:<object key>
//! ```
//!
//! Checking a URL recomputes the MAC and compares in constant time (the
//! `hmac` crate's `verify_slice`), then checks the method and the expiry.
//! Every failure is 403 `signature_invalid`. A GET URL also serves HEAD.
//! Rotating `SIGNING_SECRET` revokes every URL signed with the old one.

use super::key::ObjectKey;
use super::time::{http_date, rfc3339_millis};
use super::{decode_hex, hex, invalid, query};
use crate::auth::Scope;
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

const DOMAIN: &str = "STRATA-SIGNED-URL-V1";

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

    /// The scope a key needs to sign for this method.
    pub fn scope(self) -> Scope {
        match self {
            SignedMethod::Get => Scope::ObjectsRead,
            SignedMethod::Put => Scope::ObjectsWrite,
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
    /// For how many seconds from now.
    pub expires_in: u64,
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
            None => DEFAULT_EXPIRES_IN,
            Some(v) => v
                .as_u64()
                .filter(|n| (1..=MAX_EXPIRES_IN).contains(n))
                .ok_or_else(|| {
                    invalid(format!(
                        "expiresIn must be a whole number of seconds from 1 to {MAX_EXPIRES_IN} (7 days)"
                    ))
                    .with_details(serde_json::json!({ "maxExpiresIn": MAX_EXPIRES_IN }))
                })?,
        };
        Ok(SignRequest {
            method,
            key,
            expires_in,
        })
    }
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
    /// The API key id that signed it (shown in logs).
    pub key_id: String,
}

impl Grant {
    /// Path and query of the URL (the caller adds the origin).
    pub fn path_and_query(&self, signer: &Signer) -> String {
        format!(
            "{SIGNED_PATH_PREFIX}{}?method={}&expires={}&keyId={}&signature={}",
            self.key.to_url_path(),
            self.method.as_str(),
            self.expires,
            query::percent_encode(&self.key_id, false),
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
        key_id: &str,
        key: &ObjectKey,
    ) -> Hmac<Sha256> {
        let mut mac = self.mac.clone();
        let canonical = format!(
            "{DOMAIN}\n{}\n{expires}\n{}:{key_id}\n{}:{}",
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
        self.mac_for(grant.method, grant.expires, &grant.key_id, &grant.key)
            .finalize()
            .into_bytes()
            .into()
    }

    /// Checks a request to a signed URL: its raw query, the key its path
    /// names, its method, and the current time (Unix seconds).
    pub fn verify(
        &self,
        request_method: &str,
        key: &ObjectKey,
        raw_query: Option<&str>,
        now: u64,
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
        self.mac_for(method, expires, key_id, key)
            .verify_slice(&signature)
            .map_err(|_| {
                refused("the signature does not match: the URL was altered, or signed with another secret")
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
        Ok(Grant {
            method,
            key: key.clone(),
            expires,
            key_id: key_id.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            key_id: "ci key".into(),
        }
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
            assert_eq!(s.verify("GET", &path_key, Some(&q), NOW).unwrap(), g);
            assert_eq!(s.verify("HEAD", &path_key, Some(&q), NOW + 59).unwrap(), g);
        }
        let g = grant(SignedMethod::Put, "up.bin");
        let (k, q) = split(&g.path_and_query(&s));
        assert!(s.verify("PUT", &k, Some(&q), NOW).is_ok());
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
        refused_with(s.verify("GET", &k, Some(&q), NOW + 60), "expired");
        refused_with(s.verify("PUT", &k, Some(&q), NOW), "signed for GET");
        refused_with(s.verify("DELETE", &k, Some(&q), NOW), "signed for GET");
        // Another key, a changed expiry or method, another key id.
        refused_with(
            s.verify("GET", &key("b.txt"), Some(&q), NOW),
            "does not match",
        );
        let later = q.replace(
            &format!("expires={}", NOW + 60),
            &format!("expires={}", NOW + 6000),
        );
        refused_with(s.verify("GET", &k, Some(&later), NOW), "does not match");
        let put = q.replace("method=GET", "method=PUT");
        refused_with(s.verify("PUT", &k, Some(&put), NOW), "does not match");
        let other_id = q.replace("keyId=ci%20key", "keyId=admin");
        refused_with(s.verify("GET", &k, Some(&other_id), NOW), "does not match");
        // A flipped signature digit.
        let sig_at = q.find("signature=").unwrap() + "signature=".len();
        let mut flipped = q.clone().into_bytes();
        flipped[sig_at] = if flipped[sig_at] == b'0' { b'1' } else { b'0' };
        refused_with(
            s.verify("GET", &k, Some(std::str::from_utf8(&flipped).unwrap()), NOW),
            "does not match",
        );
        // Another secret.
        let other = Signer::from_secret(Some("fedcba9876543210fedcba9876543210")).unwrap();
        refused_with(other.verify("GET", &k, Some(&q), NOW), "does not match");
    }

    #[test]
    fn incomplete_or_extended_urls_are_403() {
        let s = signer();
        let g = grant(SignedMethod::Get, "a.txt");
        let (k, q) = split(&g.path_and_query(&s));
        refused_with(s.verify("GET", &k, None, NOW), "lacks method");
        refused_with(
            s.verify("GET", &k, Some(&format!("{q}&uploads")), NOW),
            "not signed with",
        );
        refused_with(
            s.verify(
                "GET",
                &k,
                Some(&q.replace("signature=", "signature=0")),
                NOW,
            ),
            "64 hexadecimal",
        );
        refused_with(
            s.verify("GET", &k, Some(&q.replace("expires=", "expires=x")), NOW),
            "not a number",
        );
        refused_with(
            s.verify(
                "GET",
                &k,
                Some(&q.replace("method=GET", "method=DELETE")),
                NOW,
            ),
            "not GET or PUT",
        );
        refused_with(
            s.verify(
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
            key_id: "ab".into(),
            key: key("c"),
            ..grant(SignedMethod::Get, "x")
        };
        let b = Grant {
            key_id: "a".into(),
            key: key("bc"),
            ..grant(SignedMethod::Get, "x")
        };
        assert_ne!(s.signature(&a), s.signature(&b));
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
                expires_in: MAX_EXPIRES_IN
            }
        );
        assert_eq!(
            SignRequest::parse(br#"{"method":"GET","key":"a"}"#)
                .unwrap()
                .expires_in,
            3600
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
}

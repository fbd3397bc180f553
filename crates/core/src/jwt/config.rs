//! The JWT settings, read and validated once.
//!
//! JWTs are enabled when `JWT_HS256_SECRET` or `JWT_JWKS_URL` is set; then
//! `JWT_ISSUER` and `JWT_AUDIENCE` are required, so every accepted token was
//! issued by the configured issuer *for this API* (a key set shared by many
//! applications must not let their tokens in). Errors name the setting,
//! never its value.

use super::{ClaimRules, Hs256Secret};
use crate::error::ApiError;

/// Every setting this module reads, for callers that cache by their values.
pub const SETTINGS: [&str; 8] = [
    "JWT_HS256_SECRET",
    "JWT_JWKS_URL",
    "JWT_ISSUER",
    "JWT_AUDIENCE",
    "JWT_CLOCK_SKEW_SECONDS",
    "JWT_SCOPES_CLAIM",
    "JWT_JWKS_CACHE_SECONDS",
    "JWT_JWKS_MIN_REFRESH_SECONDS",
];

/// Default `JWT_CLOCK_SKEW_SECONDS`.
pub const DEFAULT_CLOCK_SKEW_SECONDS: u64 = 60;
/// Largest `JWT_CLOCK_SKEW_SECONDS`: a skew is for clocks, not for lifetimes.
pub const MAX_CLOCK_SKEW_SECONDS: u64 = 300;
/// Default `JWT_JWKS_CACHE_SECONDS`.
pub const DEFAULT_JWKS_CACHE_SECONDS: u64 = 600;
/// Largest `JWT_JWKS_CACHE_SECONDS`: a revoked key stops working within a day.
pub const MAX_JWKS_CACHE_SECONDS: u64 = 86_400;
/// Default `JWT_JWKS_MIN_REFRESH_SECONDS`.
pub const DEFAULT_JWKS_MIN_REFRESH_SECONDS: u64 = 30;

/// Validated JWT settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtConfig {
    /// The HS256 secret, if HS256 tokens are accepted.
    pub hs256: Option<Hs256Secret>,
    /// Where the RS256/ES256 keys are, if such tokens are accepted.
    pub jwks_url: Option<String>,
    /// The claim checks.
    pub rules: ClaimRules,
    /// How long a fetched key set is used before it is fetched again.
    pub jwks_cache_seconds: u64,
    /// The least time between two fetches (after a failure, or for an
    /// unknown `kid`), so bad tokens cannot make the Worker hammer the issuer.
    pub jwks_min_refresh_seconds: u64,
}

impl JwtConfig {
    /// Reads the settings through `setting` (name → value; unset or blank is
    /// `None`). `Ok(None)` when JWTs are not enabled.
    pub fn from_settings(
        setting: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<JwtConfig>, ApiError> {
        let get = |name: &str| {
            setting(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let hs256 =
            match setting("JWT_HS256_SECRET").filter(|v| !v.trim().is_empty()) {
                None => None,
                // The secret is used byte for byte, surrounding spaces included.
                Some(secret) => Some(Hs256Secret::new(secret.as_bytes()).ok_or_else(|| {
                    ApiError::config("JWT_HS256_SECRET", "is shorter than 32 bytes")
                })?),
            };
        let jwks_url = match get("JWT_JWKS_URL") {
            None => None,
            Some(url) if is_allowed_jwks_url(&url) => Some(url),
            Some(_) => {
                return Err(ApiError::config(
                    "JWT_JWKS_URL",
                    "is not an https:// URL (http:// only for localhost)",
                ))
            }
        };
        if hs256.is_none() && jwks_url.is_none() {
            return Ok(None);
        }
        let required = |name: &'static str| {
            get(name).ok_or_else(|| {
                ApiError::config(
                    name,
                    "is not set (required when JWT bearer tokens are enabled)",
                )
            })
        };
        let number = |name: &'static str, default: u64, min: u64, max: u64| match get(name) {
            None => Ok(default),
            Some(v) => v
                .parse::<u64>()
                .ok()
                .filter(|n| (min..=max).contains(n))
                .ok_or_else(|| {
                    ApiError::config(name, &format!("is not a whole number from {min} to {max}"))
                }),
        };
        let rules = ClaimRules {
            issuer: required("JWT_ISSUER")?,
            audience: required("JWT_AUDIENCE")?,
            clock_skew_seconds: number(
                "JWT_CLOCK_SKEW_SECONDS",
                DEFAULT_CLOCK_SKEW_SECONDS,
                0,
                MAX_CLOCK_SKEW_SECONDS,
            )?,
            scopes_claim: get("JWT_SCOPES_CLAIM").unwrap_or_else(|| "scope".to_string()),
        };
        let jwks_cache_seconds = number(
            "JWT_JWKS_CACHE_SECONDS",
            DEFAULT_JWKS_CACHE_SECONDS,
            1,
            MAX_JWKS_CACHE_SECONDS,
        )?;
        let jwks_min_refresh_seconds = number(
            "JWT_JWKS_MIN_REFRESH_SECONDS",
            DEFAULT_JWKS_MIN_REFRESH_SECONDS.min(jwks_cache_seconds),
            1,
            jwks_cache_seconds,
        )?;
        Ok(Some(JwtConfig {
            hs256,
            jwks_url,
            rules,
            jwks_cache_seconds,
            jwks_min_refresh_seconds,
        }))
    }
}

/// `https://host/...`, or `http://` to a loopback host (local development
/// and tests). No user info: a key set is public.
fn is_allowed_jwks_url(url: &str) -> bool {
    let (https, rest) = match (url.strip_prefix("https://"), url.strip_prefix("http://")) {
        (Some(rest), _) => (true, rest),
        (None, Some(rest)) => (false, rest),
        _ => return false,
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.is_empty() || authority.contains('@') || url.contains(char::is_whitespace) {
        return false;
    }
    let host = if authority.starts_with('[') {
        authority.split_inclusive(']').next().unwrap_or("")
    } else {
        authority.split(':').next().unwrap_or("")
    };
    !host.is_empty() && (https || matches!(host, "127.0.0.1" | "localhost" | "[::1]"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn parse(pairs: &[(&str, &str)]) -> Result<Option<JwtConfig>, ApiError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        JwtConfig::from_settings(|name| map.get(name).cloned())
    }

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn disabled_without_a_secret_or_a_key_set() {
        assert_eq!(parse(&[]).unwrap(), None);
        assert_eq!(
            parse(&[("JWT_HS256_SECRET", "  "), ("JWT_ISSUER", "x")]).unwrap(),
            None
        );
    }

    #[test]
    fn defaults() {
        let c = parse(&[
            ("JWT_HS256_SECRET", SECRET),
            ("JWT_ISSUER", "https://issuer.example"),
            ("JWT_AUDIENCE", "strata"),
        ])
        .unwrap()
        .unwrap();
        assert!(c.hs256.is_some());
        assert_eq!(c.jwks_url, None);
        assert_eq!(c.rules.clock_skew_seconds, 60);
        assert_eq!(c.rules.scopes_claim, "scope");
        assert_eq!(c.jwks_cache_seconds, 600);
        assert_eq!(c.jwks_min_refresh_seconds, 30);
    }

    #[test]
    fn every_setting_is_read() {
        let c = parse(&[
            (
                "JWT_JWKS_URL",
                "https://issuer.example/.well-known/jwks.json",
            ),
            ("JWT_ISSUER", "https://issuer.example/"),
            ("JWT_AUDIENCE", "api://strata"),
            ("JWT_CLOCK_SKEW_SECONDS", "0"),
            ("JWT_SCOPES_CLAIM", "permissions"),
            ("JWT_JWKS_CACHE_SECONDS", "120"),
            ("JWT_JWKS_MIN_REFRESH_SECONDS", "5"),
        ])
        .unwrap()
        .unwrap();
        assert!(c.hs256.is_none());
        assert_eq!(
            c.jwks_url.as_deref(),
            Some("https://issuer.example/.well-known/jwks.json")
        );
        assert_eq!(c.rules.issuer, "https://issuer.example/");
        assert_eq!(c.rules.audience, "api://strata");
        assert_eq!(c.rules.clock_skew_seconds, 0);
        assert_eq!(c.rules.scopes_claim, "permissions");
        assert_eq!((c.jwks_cache_seconds, c.jwks_min_refresh_seconds), (120, 5));
        // A short cache lifetime lowers the default refresh interval with it.
        let c = parse(&[
            ("JWT_JWKS_URL", "https://i.example/jwks"),
            ("JWT_ISSUER", "i"),
            ("JWT_AUDIENCE", "a"),
            ("JWT_JWKS_CACHE_SECONDS", "10"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(c.jwks_min_refresh_seconds, 10);
    }

    #[test]
    fn loopback_key_sets_may_be_plain_http() {
        for url in [
            "http://127.0.0.1:8899/jwks",
            "http://localhost/jwks",
            "http://[::1]:80/k",
        ] {
            assert!(is_allowed_jwks_url(url), "{url}");
        }
        for url in [
            "http://issuer.example/jwks",
            "http://127.0.0.1.evil.example/jwks",
            "ftp://issuer.example/jwks",
            "https://user:pw@issuer.example/jwks",
            "https:///jwks",
            "https://issuer.example/jw ks",
            "issuer.example/jwks",
        ] {
            assert!(!is_allowed_jwks_url(url), "{url}");
        }
    }

    #[test]
    fn errors_name_the_setting_never_the_value() {
        let secret_like = "short-secret-value";
        for (pairs, setting) in [
            (vec![("JWT_HS256_SECRET", secret_like)], "JWT_HS256_SECRET"),
            (vec![("JWT_HS256_SECRET", SECRET)], "JWT_ISSUER"),
            (
                vec![("JWT_HS256_SECRET", SECRET), ("JWT_ISSUER", "i")],
                "JWT_AUDIENCE",
            ),
            (
                vec![("JWT_JWKS_URL", "http://issuer.example/short-secret-value")],
                "JWT_JWKS_URL",
            ),
            (
                vec![
                    ("JWT_HS256_SECRET", SECRET),
                    ("JWT_ISSUER", "i"),
                    ("JWT_AUDIENCE", "a"),
                    ("JWT_CLOCK_SKEW_SECONDS", "301"),
                ],
                "JWT_CLOCK_SKEW_SECONDS",
            ),
            (
                vec![
                    ("JWT_HS256_SECRET", SECRET),
                    ("JWT_ISSUER", "i"),
                    ("JWT_AUDIENCE", "a"),
                    ("JWT_JWKS_CACHE_SECONDS", "0"),
                ],
                "JWT_JWKS_CACHE_SECONDS",
            ),
            (
                vec![
                    ("JWT_HS256_SECRET", SECRET),
                    ("JWT_ISSUER", "i"),
                    ("JWT_AUDIENCE", "a"),
                    ("JWT_JWKS_CACHE_SECONDS", "60"),
                    ("JWT_JWKS_MIN_REFRESH_SECONDS", "61"),
                ],
                "JWT_JWKS_MIN_REFRESH_SECONDS",
            ),
        ] {
            let e = parse(&pairs).unwrap_err();
            assert_eq!(e.status(), 500);
            assert_eq!(e.details, Some(serde_json::json!({ "setting": setting })));
            assert!(!e.body().contains(secret_like), "{}", e.body());
        }
    }
}

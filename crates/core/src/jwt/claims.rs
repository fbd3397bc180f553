//! Checking a verified token's claims and mapping them to a [`Principal`].

use super::TokenError;
use crate::auth::{Principal, Scope};
use serde_json::{Map, Value};

/// Longest `sub` accepted: it becomes the principal's id in logs and in
/// signed URLs.
pub const MAX_SUBJECT_BYTES: usize = 255;

/// What a token's claims must satisfy (from `JWT_ISSUER`, `JWT_AUDIENCE`,
/// `JWT_CLOCK_SKEW_SECONDS`, `JWT_SCOPES_CLAIM`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimRules {
    /// The only accepted `iss`.
    pub issuer: String,
    /// The audience `aud` must be or contain.
    pub audience: String,
    /// Seconds of clock difference tolerated for `exp` and `nbf`.
    pub clock_skew_seconds: u64,
    /// The claim holding the scopes: a space-separated string or an array of strings.
    pub scopes_claim: String,
}

impl ClaimRules {
    /// Checks `exp`, `nbf`, `iss` and `aud` at `now` (seconds since the
    /// epoch) and returns the principal: id `jwt:<sub>` (`jwt` without a
    /// `sub`), scopes from the scopes claim, unknown scope names ignored.
    pub fn principal(&self, payload: &[u8], now: u64) -> Result<Principal, TokenError> {
        let claims: Map<String, Value> = serde_json::from_slice(payload)
            .map_err(|_| TokenError::Malformed("the payload is not a JSON object"))?;
        let now = now as f64;
        let skew = self.clock_skew_seconds as f64;

        // RFC 7519 §4.1.4: the token is valid *before* exp.
        let exp = numeric_date(&claims, "exp")?.ok_or(TokenError::MissingExpiry)?;
        if now >= exp + skew {
            return Err(TokenError::Expired);
        }
        if let Some(nbf) = numeric_date(&claims, "nbf")? {
            if now + skew < nbf {
                return Err(TokenError::NotYetValid);
            }
        }
        match claims.get("iss") {
            Some(Value::String(iss)) if *iss == self.issuer => {}
            _ => return Err(TokenError::WrongIssuer),
        }
        let audience_ok = match claims.get("aud") {
            Some(Value::String(aud)) => *aud == self.audience,
            Some(Value::Array(auds)) => auds.iter().any(|a| a.as_str() == Some(&self.audience)),
            _ => false,
        };
        if !audience_ok {
            return Err(TokenError::WrongAudience);
        }
        let key_id = match claims.get("sub") {
            None | Some(Value::Null) => "jwt".to_string(),
            Some(Value::String(sub)) if !sub.is_empty() && sub.len() <= MAX_SUBJECT_BYTES => {
                format!("jwt:{sub}")
            }
            Some(_) => {
                return Err(TokenError::Malformed(
                    "sub is not a string of 1 to 255 bytes",
                ))
            }
        };
        let scopes = match claims.get(&self.scopes_claim) {
            None | Some(Value::Null) => Vec::new(),
            Some(value) => scopes_from(value)?,
        };
        Ok(Principal { key_id, scopes })
    }
}

/// A NumericDate claim (RFC 7519 §2: seconds, possibly fractional).
pub(super) fn numeric_date(
    claims: &Map<String, Value>,
    name: &'static str,
) -> Result<Option<f64>, TokenError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => n
            .as_f64()
            .filter(|v| v.is_finite())
            .map(Some)
            .ok_or(TokenError::Malformed("a date claim is not a number")),
        Some(_) => Err(TokenError::Malformed("a date claim is not a number")),
    }
}

/// Scopes from a space-separated string (OAuth 2.0's `scope`) or an array
/// of strings. Names that are not Strata scopes are ignored: an identity
/// provider issues scopes for other APIs too. Duplicates collapse.
pub fn scopes_from(value: &Value) -> Result<Vec<Scope>, TokenError> {
    let names: Vec<&str> = match value {
        Value::String(s) => s.split_whitespace().collect(),
        Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
        _ => {
            return Err(TokenError::Malformed(
                "the scopes claim is not a string or an array",
            ))
        }
    };
    let mut scopes: Vec<Scope> = names.into_iter().filter_map(Scope::parse).collect();
    crate::sort::sort(&mut scopes);
    scopes.dedup();
    Ok(scopes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: u64 = 1_800_000_000;

    fn rules() -> ClaimRules {
        ClaimRules {
            issuer: "https://issuer.example".into(),
            audience: "strata".into(),
            clock_skew_seconds: 60,
            scopes_claim: "scope".into(),
        }
    }

    fn claims(extra: Value) -> Vec<u8> {
        let mut base = json!({
            "iss": "https://issuer.example",
            "aud": "strata",
            "sub": "alice",
            "exp": NOW + 300,
            "scope": "d1:read pg:write",
        });
        for (k, v) in extra.as_object().unwrap() {
            if v.is_null() {
                base.as_object_mut().unwrap().remove(k);
            } else {
                base[k] = v.clone();
            }
        }
        serde_json::to_vec(&base).unwrap()
    }

    fn check(extra: Value) -> Result<Principal, TokenError> {
        rules().principal(&claims(extra), NOW)
    }

    #[test]
    fn a_valid_token_is_a_principal() {
        let p = check(json!({})).unwrap();
        assert_eq!(p.key_id, "jwt:alice");
        assert_eq!(p.scopes, vec![Scope::D1Read, Scope::PgWrite]);
        assert!(p.allows(Scope::PgRead));
        assert!(!p.allows(Scope::Sql));
    }

    #[test]
    fn expiry_is_required_and_checked_with_the_skew() {
        assert_eq!(
            check(json!({"exp": null})).unwrap_err(),
            TokenError::MissingExpiry
        );
        assert_eq!(
            check(json!({"exp": NOW - 61})).unwrap_err(),
            TokenError::Expired
        );
        assert_eq!(
            check(json!({"exp": NOW - 60})).unwrap_err(),
            TokenError::Expired
        );
        assert!(check(json!({"exp": NOW - 59})).is_ok());
        assert!(check(json!({"exp": (NOW as f64) + 0.5})).is_ok());
        assert!(matches!(
            check(json!({"exp": "soon"})).unwrap_err(),
            TokenError::Malformed(_)
        ));
        let strict = ClaimRules {
            clock_skew_seconds: 0,
            ..rules()
        };
        assert_eq!(
            strict
                .principal(&claims(json!({"exp": NOW})), NOW)
                .unwrap_err(),
            TokenError::Expired
        );
    }

    #[test]
    fn not_before_is_checked_with_the_skew() {
        assert!(check(json!({"nbf": NOW})).is_ok());
        assert!(check(json!({"nbf": NOW + 60})).is_ok());
        assert_eq!(
            check(json!({"nbf": NOW + 61})).unwrap_err(),
            TokenError::NotYetValid
        );
        assert!(matches!(
            check(json!({"nbf": true})).unwrap_err(),
            TokenError::Malformed(_)
        ));
    }

    #[test]
    fn issuer_must_match_exactly() {
        for iss in [
            json!(null),
            json!("https://issuer.example/"),
            json!("https://evil.example"),
            json!(["https://issuer.example"]),
        ] {
            assert_eq!(
                check(json!({ "iss": iss })).unwrap_err(),
                TokenError::WrongIssuer,
                "{iss}"
            );
        }
    }

    #[test]
    fn audience_may_be_a_string_or_an_array() {
        assert!(check(json!({"aud": ["other", "strata"]})).is_ok());
        for aud in [
            json!(null),
            json!("other"),
            json!([]),
            json!(["other"]),
            json!("Strata"),
            json!(7),
        ] {
            assert_eq!(
                check(json!({ "aud": aud })).unwrap_err(),
                TokenError::WrongAudience,
                "{aud}"
            );
        }
    }

    #[test]
    fn scopes_come_from_the_configured_claim() {
        assert_eq!(
            check(json!({"scope": ["sql", "admin", "sql"]}))
                .unwrap()
                .scopes,
            vec![Scope::Sql, Scope::Admin]
        );
        assert_eq!(
            check(json!({"scope": "openid profile objects:read email"}))
                .unwrap()
                .scopes,
            vec![Scope::ObjectsRead]
        );
        assert!(check(json!({"scope": null})).unwrap().scopes.is_empty());
        assert!(matches!(
            check(json!({"scope": 3})).unwrap_err(),
            TokenError::Malformed(_)
        ));
        let custom = ClaimRules {
            scopes_claim: "https://strata.example/scopes".into(),
            ..rules()
        };
        let payload = claims(json!({"https://strata.example/scopes": ["d1:write"]}));
        assert_eq!(
            custom.principal(&payload, NOW).unwrap().scopes,
            vec![Scope::D1Write]
        );
    }

    #[test]
    fn subject_becomes_the_logged_id() {
        assert_eq!(check(json!({"sub": null})).unwrap().key_id, "jwt");
        for sub in [json!(""), json!(42), json!("x".repeat(256))] {
            assert!(matches!(
                check(json!({ "sub": sub })).unwrap_err(),
                TokenError::Malformed(_)
            ));
        }
    }

    #[test]
    fn the_payload_must_be_an_object() {
        for payload in [&b"[]"[..], b"null", b"not json", b"{\"exp\":"] {
            assert!(matches!(
                rules().principal(payload, NOW).unwrap_err(),
                TokenError::Malformed(_)
            ));
        }
    }
}

//! The `S3_CREDENTIALS` secret: access key ids and their secret keys.
//!
//! ```json
//! {"<access key id>": {"secret": "<secret access key>", "scopes": ["objects:read", "objects:write"]}}
//! ```
//!
//! SigV4 signs with the secret itself (an HMAC key derived from it), so
//! unlike `API_KEYS` the secret cannot be stored as a hash: the setting is a
//! Worker secret and is never logged. Parsed and validated once; errors name
//! the problem and the key id, never a secret.

use crate::auth::{Principal, Scope};
use crate::error::{ApiError, ErrorCode};

/// The setting's name.
pub const SETTING: &str = "S3_CREDENTIALS";
/// Shortest secret accepted (AWS's own secrets are 40 characters).
pub const MIN_SECRET_CHARS: usize = 32;
/// The scopes an S3 credential may hold: the S3 API reaches objects only.
const ALLOWED_SCOPES: [Scope; 2] = [Scope::ObjectsRead, Scope::ObjectsWrite];

/// One access key.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Credential {
    /// The access key id (safe to log).
    pub access_key_id: String,
    secret: String,
    /// What the key may do.
    pub scopes: Vec<Scope>,
}

impl std::fmt::Debug for S3Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Credential")
            .field("access_key_id", &self.access_key_id)
            .field("secret", &"<redacted>")
            .field("scopes", &self.scopes)
            .finish()
    }
}

impl S3Credential {
    /// The secret access key (for signing keys only).
    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// The principal requests signed with this key act as.
    pub fn principal(&self) -> Principal {
        Principal {
            key_id: format!("s3:{}", self.access_key_id),
            scopes: self.scopes.clone(),
        }
    }
}

/// The configured credentials, validated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct S3Credentials {
    keys: Vec<S3Credential>,
}

impl S3Credentials {
    /// Parses and validates the setting's JSON.
    pub fn parse(json: &str) -> Result<S3Credentials, ApiError> {
        let config = |m: String| ApiError::new(ErrorCode::ConfigInvalid, format!("{SETTING}: {m}"));
        // Read through `serde_json::Value`, which the Worker already
        // carries, rather than a derived type of its own (bundle size).
        let shape = || {
            config(
                "not a JSON object of {\"<access key id>\": {\"secret\", \"scopes\"}}".to_string(),
            )
        };
        let raw: serde_json::Value =
            serde_json::from_slice(json.as_bytes()).map_err(|_| shape())?;
        let raw = raw.as_object().ok_or_else(shape)?;
        let mut keys = Vec::with_capacity(raw.len());
        for (id, cred) in raw {
            let id = id.clone();
            let fields = cred.as_object().ok_or_else(shape)?;
            if fields.keys().any(|k| k != "secret" && k != "scopes") {
                return Err(shape());
            }
            let secret = fields
                .get("secret")
                .and_then(serde_json::Value::as_str)
                .ok_or_else(shape)?
                .to_string();
            let scope_names: Vec<&str> = fields
                .get("scopes")
                .and_then(serde_json::Value::as_array)
                .ok_or_else(shape)?
                .iter()
                .map(|v| v.as_str().ok_or_else(shape))
                .collect::<Result<_, _>>()?;
            let id_ok = (3..=128).contains(&id.len())
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            if !id_ok {
                return Err(config(
                    "an access key id must be 3-128 characters of A-Z, a-z, 0-9, _ and -"
                        .to_string(),
                ));
            }
            if secret.chars().count() < MIN_SECRET_CHARS
                || !secret.bytes().all(|b| b.is_ascii_graphic())
            {
                return Err(config(format!(
                    "the secret of {id} must be at least {MIN_SECRET_CHARS} printable ASCII characters"
                )));
            }
            if scope_names.is_empty() {
                return Err(config(format!("{id} has no scopes")));
            }
            let mut scopes = Vec::new();
            for name in scope_names {
                match Scope::parse(name).filter(|s| ALLOWED_SCOPES.contains(s)) {
                    Some(s) if !scopes.contains(&s) => scopes.push(s),
                    Some(_) => {}
                    None => {
                        return Err(config(format!(
                            "{id}: scope {name:?} is not one of objects:read, objects:write"
                        )))
                    }
                }
            }
            keys.push(S3Credential {
                access_key_id: id,
                secret,
                scopes,
            });
        }
        Ok(S3Credentials { keys })
    }

    /// The credential with this access key id.
    pub fn get(&self, access_key_id: &str) -> Option<&S3Credential> {
        self.keys.iter().find(|k| k.access_key_id == access_key_id)
    }

    /// Whether no credential is configured (the S3 API then refuses all).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

    #[test]
    fn parses_keys_and_scopes() {
        let c = S3Credentials::parse(&format!(
            r#"{{"AKIDRW": {{"secret": "{SECRET}", "scopes": ["objects:read", "objects:write"]}},
                "AKIDRO": {{"secret": "{SECRET}", "scopes": ["objects:read"]}}}}"#
        ))
        .unwrap();
        let ro = c.get("AKIDRO").unwrap();
        assert_eq!(ro.secret(), SECRET);
        assert!(!ro.principal().allows(Scope::ObjectsWrite));
        assert!(ro.principal().allows(Scope::ObjectsRead));
        assert!(c
            .get("AKIDRW")
            .unwrap()
            .principal()
            .allows(Scope::ObjectsWrite));
        assert!(c.get("nope").is_none());
        assert!(!format!("{ro:?}").contains(SECRET));
    }

    #[test]
    fn refuses_bad_settings_without_echoing_secrets() {
        for bad in [
            "[]".to_string(),
            "not json".to_string(),
            r#"{"AKID": {"secret": "short", "scopes": ["objects:read"]}}"#.to_string(),
            format!(r#"{{"AKID": {{"secret": "{SECRET}", "scopes": []}}}}"#),
            format!(r#"{{"AKID": {{"secret": "{SECRET}", "scopes": ["sql"]}}}}"#),
            format!(r#"{{"AKID": {{"secret": "{SECRET}", "scopes": ["objects:read"], "x": 1}}}}"#),
            format!(r#"{{"a b": {{"secret": "{SECRET}", "scopes": ["objects:read"]}}}}"#),
            format!(r#"{{"AKID": {{"secret": "{SECRET} ", "scopes": ["objects:read"]}}}}"#),
        ] {
            let e = S3Credentials::parse(&bad).unwrap_err();
            assert_eq!(e.code, ErrorCode::ConfigInvalid, "{bad}");
            assert!(e.message.starts_with("S3_CREDENTIALS"), "{}", e.message);
            assert!(!e.message.contains(SECRET), "{}", e.message);
        }
    }
}

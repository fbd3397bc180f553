//! `strata-dev keygen`: a new API key (or a given one) and its `API_KEYS` entry.
//!
//! Strata never stores keys, only their SHA-256, in the secret
//! `API_KEYS = {"<id>": {"sha256": "<hex>", "scopes": [...]}}`. This module makes the key and
//! the entry; printing is left to the caller so everything here is testable as plain values.

use std::fmt;

use base64::Engine;
use serde_json::json;
/// The Worker's own scope type, so keygen can never offer a scope the Worker rejects.
pub use strata_core::auth::Scope;

use crate::digest::sha256_hex;

/// Why keygen could not produce a key. Never contains the key.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeygenError {
    /// A scope outside [`Scope::ALL`].
    #[error("unknown scope {given:?}; valid scopes: {}", scope_names().join(", "))]
    UnknownScope { given: String },
    /// `--scopes ""`: a key that can do nothing is almost certainly a typo.
    #[error("no scopes given; valid scopes: {}", scope_names().join(", "))]
    NoScopes,
    /// A key id outside `[A-Za-z0-9._-]{1,64}`.
    #[error("invalid key id {0:?}: use 1-64 characters from A-Z a-z 0-9 . _ -")]
    BadId(String),
    /// `--key` with an empty key or one containing whitespace or control characters, which
    /// would not survive an `Authorization` header intact.
    #[error("invalid key: it must be non-empty, without whitespace or control characters")]
    BadKey,
    /// `--s3` with a scope an S3 credential cannot hold.
    #[error("an S3 credential holds objects:read and/or objects:write, not {0}")]
    S3Scope(String),
    /// The operating system's random number generator failed.
    #[error("the OS random number generator failed: {0}")]
    Rng(getrandom::Error),
}

impl KeygenError {
    /// True when the user asked for something invalid (exit code 2), false for a failure.
    pub fn is_usage(&self) -> bool {
        !matches!(self, KeygenError::Rng(_))
    }
}

/// Every scope name, in [`Scope::ALL`] order, for error messages.
fn scope_names() -> Vec<&'static str> {
    Scope::ALL.iter().map(|s| s.as_str()).collect()
}

/// Parses a comma-separated scope list (`d1:read, pg:read`). The result is deduplicated and in
/// [`Scope::ALL`] order, so the same set always produces the same entry.
pub fn parse_scopes(list: &str) -> Result<Vec<Scope>, KeygenError> {
    let mut scopes = Vec::new();
    for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let scope = Scope::parse(name).ok_or_else(|| KeygenError::UnknownScope {
            given: name.to_string(),
        })?;
        scopes.push(scope);
    }
    if scopes.is_empty() {
        return Err(KeygenError::NoScopes);
    }
    scopes.sort();
    scopes.dedup();
    Ok(scopes)
}

/// A key id: the JSON property name in `API_KEYS`, shown in logs, so kept to a plain alphabet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyId(String);

impl KeyId {
    /// Validates a user-chosen id.
    pub fn parse(id: &str) -> Result<Self, KeygenError> {
        let ok = (1..=64).contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if ok {
            Ok(KeyId(id.to_string()))
        } else {
            Err(KeygenError::BadId(id.to_string()))
        }
    }

    /// `key-` and 8 random hex digits: short enough to read, random enough not to collide
    /// between developers adding keys to the same secret.
    pub fn random() -> Result<Self, KeygenError> {
        let mut bytes = [0u8; 4];
        getrandom::fill(&mut bytes).map_err(KeygenError::Rng)?;
        Ok(KeyId(format!("key-{}", hex(&bytes))))
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An API key. Deliberately not `Display`, so it is only printed where the caller means to.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(***)")
    }
}

/// Bytes of OS randomness in a generated key: 256 bits, beyond any guessing.
const KEY_BYTES: usize = 32;

impl ApiKey {
    /// A new key: `sk_` and 32 random bytes in unpadded base64url (43 characters), safe in
    /// headers, URLs and shell variables without quoting.
    pub fn generate() -> Result<Self, KeygenError> {
        let mut bytes = [0u8; KEY_BYTES];
        getrandom::fill(&mut bytes).map_err(KeygenError::Rng)?;
        Ok(ApiKey(format!(
            "sk_{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
        )))
    }

    /// An existing key (`--key`, e.g. `STRATA_DEV_KEY` for `make dev`).
    pub fn parse(key: &str) -> Result<Self, KeygenError> {
        if key.is_empty() || key.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(KeygenError::BadKey);
        }
        Ok(ApiKey(key.to_string()))
    }

    /// The key itself, for the one place it is printed.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Lowercase hex SHA-256 of the key string, as `API_KEYS` stores it.
    pub fn sha256(&self) -> String {
        sha256_hex(self.0.as_bytes())
    }
}

/// A key and everything needed to register it.
#[derive(Debug, Clone)]
pub struct IssuedKey {
    /// The id the entry is stored under.
    pub id: KeyId,
    /// The key to hand to the client.
    pub key: ApiKey,
    /// Granted scopes, in [`Scope::ALL`] order.
    pub scopes: Vec<Scope>,
}

impl IssuedKey {
    /// The `API_KEYS` fragment `{"<id>": {"sha256": ..., "scopes": [...]}}`, ready to merge.
    pub fn entry(&self) -> serde_json::Value {
        let scopes: Vec<&str> = self.scopes.iter().map(|s| s.as_str()).collect();
        json!({ self.id.as_str(): { "sha256": self.key.sha256(), "scopes": scopes } })
    }

    /// `--format json`: `{"id": .., "key": .., "entry": {..}}` on one line.
    pub fn to_json(&self) -> String {
        json!({ "id": self.id.as_str(), "key": self.key.expose(), "entry": self.entry() })
            .to_string()
    }

    /// The default stdout: the key on the first line, the entry on the second, so a script can
    /// take either with `sed -n 1p` / `sed -n 2p`.
    pub fn to_text(&self) -> String {
        format!("{}\n{}\n", self.key.expose(), self.entry())
    }

    /// Human guidance for stderr.
    pub fn advice(&self, generated: bool) -> String {
        let scopes: Vec<&str> = self.scopes.iter().map(|s| s.as_str()).collect();
        let mut lines = vec![format!(
            "API key {} with scopes: {}",
            self.id.as_str(),
            scopes.join(" ")
        )];
        if generated {
            lines.push("The key is shown only now: store it somewhere safe.".to_string());
        } else if self.key.expose().len() < 20 {
            lines.push("Warning: this key is short; use it only for local development.".into());
        }
        lines.push(
            "Merge the entry into the API_KEYS secret (a JSON object of all keys).".to_string(),
        );
        lines.join("\n") + "\n"
    }
}

/// An access key pair of the S3-compatible API (`keygen --s3`) and its `S3_CREDENTIALS`
/// entry. SigV4 signs with the secret itself, so the entry carries the secret (unlike
/// `API_KEYS`, which stores hashes): the setting must be a Worker secret.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Pair {
    /// `STRATA` and 14 random characters of `A-Z0-9` (20, like AWS's).
    pub access_key_id: String,
    secret: String,
    /// `objects:read` and/or `objects:write`.
    pub scopes: Vec<Scope>,
}

impl fmt::Debug for S3Pair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "S3Pair({}, ***)", self.access_key_id)
    }
}

impl S3Pair {
    /// A new pair: the id from 14 random characters, the secret 30 random bytes in base64
    /// (40 characters, as AWS's).
    pub fn generate(scopes: Vec<Scope>) -> Result<Self, KeygenError> {
        if let Some(s) = scopes
            .iter()
            .find(|s| !matches!(s, Scope::ObjectsRead | Scope::ObjectsWrite))
        {
            return Err(KeygenError::S3Scope(s.as_str().to_string()));
        }
        const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        let mut id = [0u8; 14];
        getrandom::fill(&mut id).map_err(KeygenError::Rng)?;
        let mut secret = [0u8; 30];
        getrandom::fill(&mut secret).map_err(KeygenError::Rng)?;
        Ok(S3Pair {
            access_key_id: format!(
                "STRATA{}",
                id.iter()
                    .map(|b| ALPHABET[(b & 31) as usize] as char)
                    .collect::<String>()
            ),
            secret: base64::engine::general_purpose::STANDARD.encode(secret),
            scopes,
        })
    }

    /// The secret access key, for the one place it is printed.
    pub fn expose_secret(&self) -> &str {
        &self.secret
    }

    /// The `S3_CREDENTIALS` fragment `{"<id>": {"secret": ..., "scopes": [...]}}`, ready to merge.
    pub fn entry(&self) -> serde_json::Value {
        let scopes: Vec<&str> = self.scopes.iter().map(|s| s.as_str()).collect();
        json!({ self.access_key_id.as_str(): { "secret": self.secret, "scopes": scopes } })
    }

    /// `--format json`: `{"accessKeyId", "secretAccessKey", "entry"}` on one line.
    pub fn to_json(&self) -> String {
        json!({
            "accessKeyId": self.access_key_id,
            "secretAccessKey": self.secret,
            "entry": self.entry(),
        })
        .to_string()
    }

    /// The default stdout: the access key id, the secret, the entry, one per line.
    pub fn to_text(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.access_key_id,
            self.secret,
            self.entry()
        )
    }

    /// Human guidance for stderr.
    pub fn advice(&self) -> String {
        let scopes: Vec<&str> = self.scopes.iter().map(|s| s.as_str()).collect();
        format!(
            "S3 access key {} with scopes: {}\nThe secret is shown only now: store it somewhere safe.\n\
             Merge the entry into the S3_CREDENTIALS secret (a JSON object of all pairs).\n",
            self.access_key_id,
            scopes.join(" ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse_dedup_and_order() {
        assert_eq!(
            parse_scopes(" sql,d1:read ,sql,,admin").unwrap(),
            vec![Scope::D1Read, Scope::Sql, Scope::Admin]
        );
        assert_eq!(parse_scopes(&scope_names().join(",")).unwrap(), Scope::ALL);
    }

    #[test]
    fn unknown_scope_is_named_in_the_error() {
        let err = parse_scopes("d1:read,d1:delete").unwrap_err();
        assert_eq!(
            err,
            KeygenError::UnknownScope {
                given: "d1:delete".into()
            }
        );
        assert!(err.to_string().contains("d1:delete"));
        assert!(err.to_string().contains("objects:write"));
        assert!(err.is_usage());
    }

    #[test]
    fn empty_scope_list_is_refused() {
        assert_eq!(parse_scopes(" , ").unwrap_err(), KeygenError::NoScopes);
    }

    #[test]
    fn key_ids_are_validated() {
        assert!(KeyId::parse("ci-2024.main_1").is_ok());
        for bad in ["", "has space", "quote\"", &"x".repeat(65)] {
            assert!(KeyId::parse(bad).is_err(), "{bad:?}");
        }
        let random = KeyId::random().unwrap();
        assert!(KeyId::parse(random.as_str()).is_ok());
        assert!(random.as_str().starts_with("key-") && random.as_str().len() == 12);
    }

    #[test]
    fn generated_keys_are_long_random_and_url_safe() {
        let a = ApiKey::generate().unwrap();
        let b = ApiKey::generate().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.expose().len(), 3 + 43);
        assert!(a.expose()[3..]
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
        assert!(!format!("{a:?}").contains(&a.expose()[3..]));
    }

    #[test]
    fn given_keys_are_validated() {
        assert!(ApiKey::parse("dev-key-123").is_ok());
        for bad in ["", "a b", "tab\there", "nl\n"] {
            assert_eq!(ApiKey::parse(bad).unwrap_err(), KeygenError::BadKey);
        }
    }

    #[test]
    fn entry_has_the_key_hash_and_scopes() {
        let issued = IssuedKey {
            id: KeyId::parse("local").unwrap(),
            key: ApiKey::parse("abc").unwrap(),
            scopes: vec![Scope::PgRead, Scope::Sql],
        };
        assert_eq!(
            issued.entry(),
            json!({"local": {
                "sha256": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
                "scopes": ["pg:read", "sql"]
            }})
        );
        let doc: serde_json::Value = serde_json::from_str(&issued.to_json()).unwrap();
        assert_eq!(doc["id"], "local");
        assert_eq!(doc["key"], "abc");
        assert_eq!(doc["entry"], issued.entry());
        assert_eq!(issued.to_text(), format!("abc\n{}\n", issued.entry()));
    }

    #[test]
    fn s3_pairs_are_what_the_worker_accepts() {
        let pair = S3Pair::generate(vec![Scope::ObjectsRead, Scope::ObjectsWrite]).unwrap();
        assert_eq!(pair.access_key_id.len(), 20);
        assert_eq!(pair.expose_secret().len(), 40);
        let parsed =
            strata_core::s3::credentials::S3Credentials::parse(&pair.entry().to_string()).unwrap();
        let c = parsed.get(&pair.access_key_id).unwrap();
        assert_eq!(c.secret(), pair.expose_secret());
        assert!(!format!("{pair:?}").contains(pair.expose_secret()));
        assert_ne!(
            S3Pair::generate(vec![Scope::ObjectsRead])
                .unwrap()
                .access_key_id,
            pair.access_key_id
        );
        assert_eq!(
            S3Pair::generate(vec![Scope::Sql]).unwrap_err(),
            KeygenError::S3Scope("sql".into())
        );
    }
}

//! API keys and scopes.
//!
//! Keys live in the secret `API_KEYS` as JSON:
//! `{"<key id>": {"sha256": "<hex SHA-256 of the key>", "scopes": ["d1:read", ...]}}`.
//! Only hashes are stored, so a leaked configuration does not leak keys. A
//! presented key is hashed and compared with *every* stored hash in constant
//! time, so neither the comparison nor the loop reveals how close a guess was
//! or which key it resembled.

use crate::error::ApiError;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// What a key may do. The store scopes govern the REST tables (reads and
/// writes separately) and the objects; raw SQL is a power tool with scopes of
/// its own, because SQL reaches every table of a store, not only the REST
/// ones: `sql:read` runs statements that cannot write, `sql` anything;
/// `admin` allows everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    /// Read the REST tables served by D1.
    D1Read,
    /// Write the REST tables served by D1 (implies [`Scope::D1Read`]).
    D1Write,
    /// Read the REST tables served by Postgres.
    PgRead,
    /// Write the REST tables served by Postgres (implies [`Scope::PgRead`]).
    PgWrite,
    /// Read objects.
    ObjectsRead,
    /// Write objects (implies [`Scope::ObjectsRead`]).
    ObjectsWrite,
    /// Run raw SQL that cannot write, on either SQL store: enforced by the
    /// database's read-only role on Postgres and a check proven against
    /// SQLite on D1.
    SqlRead,
    /// Run raw SQL, reads and writes, on either SQL store (implies
    /// [`Scope::SqlRead`]).
    Sql,
    /// Everything.
    Admin,
}

impl Scope {
    /// Every scope, in documentation order.
    pub const ALL: [Scope; 9] = [
        Scope::D1Read,
        Scope::D1Write,
        Scope::PgRead,
        Scope::PgWrite,
        Scope::ObjectsRead,
        Scope::ObjectsWrite,
        Scope::SqlRead,
        Scope::Sql,
        Scope::Admin,
    ];

    /// The name used in `API_KEYS` and in error messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::D1Read => "d1:read",
            Scope::D1Write => "d1:write",
            Scope::PgRead => "pg:read",
            Scope::PgWrite => "pg:write",
            Scope::ObjectsRead => "objects:read",
            Scope::ObjectsWrite => "objects:write",
            Scope::SqlRead => "sql:read",
            Scope::Sql => "sql",
            Scope::Admin => "admin",
        }
    }

    /// Parses a scope name; `None` for an unknown one.
    pub fn parse(name: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// The scope that also grants this one, if any (write grants read).
    fn implied_by(self) -> Option<Scope> {
        match self {
            Scope::D1Read => Some(Scope::D1Write),
            Scope::PgRead => Some(Scope::PgWrite),
            Scope::ObjectsRead => Some(Scope::ObjectsWrite),
            Scope::SqlRead => Some(Scope::Sql),
            _ => None,
        }
    }
}

/// Why `API_KEYS` could not be used. Names the problem, never a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRingError(pub String);

impl From<KeyRingError> for ApiError {
    fn from(e: KeyRingError) -> Self {
        ApiError::config("API_KEYS", &e.0)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyEntry {
    sha256: String,
    scopes: Vec<String>,
}

struct StoredKey {
    id: String,
    hash: [u8; 32],
    scopes: Vec<Scope>,
}

/// The configured keys, parsed and validated once.
pub struct KeyRing {
    keys: Vec<StoredKey>,
}

/// Who is calling: the key's id (safe to log) and what it may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The key id from `API_KEYS` (not the key).
    pub key_id: String,
    /// The key's scopes.
    pub scopes: Vec<Scope>,
}

impl Principal {
    /// Whether this principal may act with `scope`.
    pub fn allows(&self, scope: Scope) -> bool {
        self.scopes
            .iter()
            .any(|&s| s == scope || s == Scope::Admin || Some(s) == scope.implied_by())
    }

    /// `Ok` if allowed, else the 403 naming the scope.
    pub fn require(&self, scope: Scope) -> Result<(), ApiError> {
        if self.allows(scope) {
            Ok(())
        } else {
            Err(ApiError::forbidden_scope(scope.as_str()))
        }
    }
}

impl KeyRing {
    /// Parses the `API_KEYS` JSON. Rejects unknown scopes and malformed
    /// hashes instead of ignoring them, so a typo never silently widens or
    /// narrows access.
    pub fn parse(json: &str) -> Result<KeyRing, KeyRingError> {
        let entries: BTreeMap<String, KeyEntry> =
            serde_json::from_slice(json.as_bytes()).map_err(|_| {
                KeyRingError(
                "is not a JSON object of {\"<id>\": {\"sha256\": \"<hex>\", \"scopes\": [...]}}"
                    .into(),
            )
            })?;
        let mut keys = Vec::with_capacity(entries.len());
        for (id, entry) in entries {
            let hash = decode_hex32(&entry.sha256).ok_or_else(|| {
                KeyRingError(format!(
                    "entry {id:?} has a sha256 that is not 64 hex digits"
                ))
            })?;
            let mut scopes = Vec::with_capacity(entry.scopes.len());
            for name in &entry.scopes {
                let scope = Scope::parse(name).ok_or_else(|| {
                    KeyRingError(format!("entry {id:?} has an unknown scope {name:?}"))
                })?;
                scopes.push(scope);
            }
            keys.push(StoredKey { id, hash, scopes });
        }
        Ok(KeyRing { keys })
    }

    /// Number of configured keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no key is configured (then every authenticated route is 401).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The key with this id as it is configured now, if it still is: a
    /// credential made with a key (a signed URL) is checked against it when
    /// used, so removing the key or its scope revokes what it made.
    pub fn principal(&self, key_id: &str) -> Option<Principal> {
        self.keys
            .iter()
            .find(|key| key.id == key_id)
            .map(|key| Principal {
                key_id: key.id.clone(),
                scopes: key.scopes.clone(),
            })
    }

    /// Checks an `Authorization` header value and returns who is calling.
    pub fn authenticate(&self, authorization: Option<&str>) -> Result<Principal, ApiError> {
        let header = authorization.ok_or_else(|| ApiError::unauthorized("missing API key"))?;
        let token = bearer_token(header).ok_or_else(|| {
            ApiError::unauthorized("the Authorization header must be `Bearer <api key>`")
        })?;
        let presented: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        // Visit every key and never branch on the comparison, so timing does
        // not depend on which (if any) key matched.
        let mut found: Option<&StoredKey> = None;
        for key in &self.keys {
            let equal = constant_time_eq(&presented, &key.hash);
            if equal & found.is_none() {
                found = Some(key);
            }
        }
        let key = found.ok_or_else(|| ApiError::unauthorized("invalid API key"))?;
        Ok(Principal {
            key_id: key.id.clone(),
            scopes: key.scopes.clone(),
        })
    }
}

/// The token of a `Bearer` credential (scheme case-insensitive, RFC 7235).
pub fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Compares two digests without an early exit.
fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    // black_box keeps the optimiser from turning the fold into an early exit.
    std::hint::black_box(diff) == 0
}

fn decode_hex32(hex: &str) -> Option<[u8; 32]> {
    let bytes = hex.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        let hi = (pair[0] as char).to_digit(16)?;
        let lo = (pair[1] as char).to_digit(16)?;
        out[i] = (hi * 16 + lo) as u8;
    }
    Some(out)
}

/// Lowercase hex SHA-256 of a key: what `API_KEYS` stores for it.
pub fn key_hash_hex(key: &str) -> String {
    Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring() -> KeyRing {
        let json = format!(
            r#"{{"reader": {{"sha256": "{}", "scopes": ["d1:read"]}},
                "writer": {{"sha256": "{}", "scopes": ["pg:write", "objects:read"]}},
                "root": {{"sha256": "{}", "scopes": ["admin"]}}}}"#,
            key_hash_hex("r-key"),
            key_hash_hex("w-key").to_uppercase(),
            key_hash_hex("root-key"),
        );
        KeyRing::parse(&json).unwrap()
    }

    #[test]
    fn finds_the_matching_key() {
        let p = ring().authenticate(Some("Bearer w-key")).unwrap();
        assert_eq!(p.key_id, "writer");
        assert_eq!(p.scopes, vec![Scope::PgWrite, Scope::ObjectsRead]);
        assert_eq!(
            ring().authenticate(Some("bearer   r-key ")).unwrap().key_id,
            "reader"
        );
    }

    #[test]
    fn rejects_missing_malformed_and_wrong_keys() {
        let r = ring();
        for header in [
            None,
            Some(""),
            Some("Basic abc"),
            Some("Bearer"),
            Some("Bearer nope"),
        ] {
            let e = r.authenticate(header).unwrap_err();
            assert_eq!(e.status(), 401, "{header:?}");
            assert!(e.headers.iter().any(|(n, _)| *n == "WWW-Authenticate"));
        }
    }

    #[test]
    fn write_implies_read_and_admin_implies_all() {
        let w = ring().authenticate(Some("Bearer w-key")).unwrap();
        assert!(w.allows(Scope::PgRead));
        assert!(w.allows(Scope::PgWrite));
        assert!(!w.allows(Scope::D1Read));
        assert!(!w.allows(Scope::ObjectsWrite));
        assert!(!w.allows(Scope::Sql));
        assert_eq!(w.require(Scope::Sql).unwrap_err().status(), 403);
        let root = ring().authenticate(Some("Bearer root-key")).unwrap();
        assert!(Scope::ALL.iter().all(|&s| root.allows(s)));
        let reader = ring().authenticate(Some("Bearer r-key")).unwrap();
        assert!(!reader.allows(Scope::D1Write));
    }

    #[test]
    fn bad_configuration_is_reported_without_values() {
        for json in [
            "not json",
            r#"{"k": {"sha256": "abc", "scopes": []}}"#,
            r#"{"k": {"sha256": "zz00000000000000000000000000000000000000000000000000000000000000", "scopes": []}}"#,
            r#"{"k": {"sha256": "0000000000000000000000000000000000000000000000000000000000000000", "scopes": ["d1:admin"]}}"#,
            r#"{"k": {"hash": "x", "scopes": []}}"#,
        ] {
            let err = KeyRing::parse(json).err().expect(json);
            let api: ApiError = err.into();
            assert_eq!(api.status(), 500);
            assert!(api.message.contains("API_KEYS"));
        }
    }

    #[test]
    fn keys_are_found_by_id_as_configured_now() {
        let r = ring();
        let w = r.principal("writer").unwrap();
        assert_eq!(w, r.authenticate(Some("Bearer w-key")).unwrap());
        assert_eq!(r.principal("nobody"), None);
        assert_eq!(r.principal("Writer"), None);
    }

    #[test]
    fn empty_ring_authenticates_nobody() {
        let r = KeyRing::parse("{}").unwrap();
        assert!(r.is_empty());
        assert_eq!(r.authenticate(Some("Bearer x")).unwrap_err().status(), 401);
    }

    #[test]
    fn scope_names_round_trip() {
        for s in Scope::ALL {
            assert_eq!(Scope::parse(s.as_str()), Some(s));
        }
        assert_eq!(Scope::parse("D1:READ"), None);
    }
}

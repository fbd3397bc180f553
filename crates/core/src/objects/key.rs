//! Object keys.
//!
//! A key is what R2 stores: 1–1024 bytes of UTF-8. In a URL it is the rest of
//! the path after `/v1/objects/`, percent-decoded exactly once — so `%2F` is a
//! slash inside the key and `%252F` is the three characters `%2F`. Nothing is
//! normalised: `a/../b` is a key of six characters, never a way to reach `b`
//! (R2 keys are flat names, so there is nothing to traverse to).
//!
//! URL parsers (clients, and the Workers runtime itself) remove `.` and `..`
//! path *segments* before the Worker sees the path, also when written as
//! `%2E%2E`. A key with such a segment is therefore addressed with its
//! slashes encoded (`a%2F..%2Fb`); [`ObjectKey::to_url_path`] does that.
//! The keys `.` and `..` themselves cannot be written in a URL at all, so
//! they are refused wherever a key is given as text.

use super::invalid;
use super::query::{percent_decode, percent_encode, DecodeError};
use crate::error::ApiError;

/// R2's limit on a key's length, in bytes of UTF-8.
pub const MAX_KEY_BYTES: usize = 1024;

/// A valid object key. Once one exists it is non-empty, UTF-8 and at most
/// [`MAX_KEY_BYTES`] long.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey(String);

impl ObjectKey {
    /// The key named by a path's raw (still percent-encoded) tail; `None`
    /// when the path ends at `/v1/objects/`.
    pub fn from_path(raw: Option<&str>) -> Result<ObjectKey, ApiError> {
        let raw = raw.unwrap_or("");
        let decoded = percent_decode(raw, false).map_err(|e| match e {
            DecodeError::BadEscape => invalid(
                "the object key has an invalid percent-encoding (a % must be followed by two hex digits)",
            )
            .with_hint("write a literal % in a key as %25"),
            DecodeError::NotUtf8 => invalid("the object key is not UTF-8 once percent-decoded"),
        })?;
        ObjectKey::new(decoded)
    }

    /// A key given as text (e.g. in a JSON body), already decoded.
    pub fn new(key: String) -> Result<ObjectKey, ApiError> {
        if key.is_empty() {
            return Err(invalid("the object key is empty")
                .with_hint("name the object after /v1/objects/, e.g. /v1/objects/photos/cat.jpg"));
        }
        if key == "." || key == ".." {
            return Err(invalid(format!(
                "the object key {key:?} cannot be addressed: URL parsers remove . and .. path segments"
            )));
        }
        if key.len() > MAX_KEY_BYTES {
            return Err(invalid(format!(
                "the object key is {} bytes long; keys are at most {MAX_KEY_BYTES} bytes of UTF-8",
                key.len()
            ))
            .with_details(serde_json::json!({ "maxKeyBytes": MAX_KEY_BYTES })));
        }
        Ok(ObjectKey(key))
    }

    /// The key.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key as a URL path tail that decodes back to exactly this key.
    /// Slashes stay readable unless some segment is `.` or `..`, which URL
    /// parsers would remove; then every slash is encoded.
    pub fn to_url_path(&self) -> String {
        let dot_segment = self.0.split('/').any(|s| s == "." || s == "..");
        percent_encode(&self.0, !dot_segment)
    }
}

impl std::fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(raw: &str) -> Result<String, ApiError> {
        ObjectKey::from_path(Some(raw)).map(|k| k.as_str().to_string())
    }

    #[test]
    fn decodes_the_path_exactly_once() {
        assert_eq!(key("photos/cat.jpg").unwrap(), "photos/cat.jpg");
        assert_eq!(key("a%20b+c").unwrap(), "a b+c");
        assert_eq!(key("%252F").unwrap(), "%2F");
        assert_eq!(key("a%2F..%2Fb").unwrap(), "a/../b");
        assert_eq!(key("..%2F").unwrap(), "../");
        assert_eq!(key("%E6%97%A5%E6%9C%AC/%F0%9F%98%80").unwrap(), "日本/😀");
        assert_eq!(key("trailing/").unwrap(), "trailing/");
        assert_eq!(key("/leading//double").unwrap(), "/leading//double");
    }

    #[test]
    fn rejects_empty_long_and_undecodable_keys() {
        for raw in [None, Some("")] {
            let e = ObjectKey::from_path(raw).unwrap_err();
            assert_eq!(e.status(), 400);
            assert!(e.message.contains("empty"));
        }
        assert!(key(&"a".repeat(1024)).is_ok());
        let e = key(&"a".repeat(1025)).unwrap_err();
        assert!(e.message.contains("1025 bytes"), "{}", e.message);
        // 342 three-byte characters = 1026 bytes, though only 342 characters.
        assert!(key(&"%E2%82%AC".repeat(342)).is_err());
        assert!(key(&"%E2%82%AC".repeat(341)).is_ok());
        for raw in ["a%zz", "a%2", "%", "%C3%28", "%FF"] {
            assert_eq!(key(raw).unwrap_err().status(), 400, "{raw}");
        }
        assert!(key("a%zz")
            .unwrap_err()
            .hint
            .clone()
            .unwrap_or_default()
            .contains("%25"));
        for dots in [".", ".."] {
            assert_eq!(ObjectKey::new(dots.into()).unwrap_err().status(), 400);
        }
    }

    #[test]
    fn url_paths_round_trip_and_survive_dot_segment_removal() {
        for k in [
            "a/b c/ü?#%+",
            "a/../b",
            "../",
            "./x",
            "x/.",
            "a//b",
            "a..b/c",
            "...",
        ] {
            let key = ObjectKey::new(k.to_string()).unwrap();
            let path = key.to_url_path();
            assert_eq!(
                ObjectKey::from_path(Some(&path)).unwrap(),
                key,
                "{k} -> {path}"
            );
            let segments: Vec<&str> = path.split('/').collect();
            assert!(!segments.iter().any(|s| *s == "." || *s == ".."), "{path}");
        }
        assert_eq!(
            ObjectKey::new("a/b c".into()).unwrap().to_url_path(),
            "a/b%20c"
        );
        assert_eq!(
            ObjectKey::new("a/../b".into()).unwrap().to_url_path(),
            "a%2F..%2Fb"
        );
    }
}

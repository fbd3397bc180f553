//! Object metadata: what an upload's headers store, and what a download's
//! headers say.
//!
//! Six HTTP fields are stored as R2's HTTP metadata and sent back verbatim:
//! `Content-Type`, `Content-Encoding`, `Content-Language`,
//! `Content-Disposition`, `Cache-Control` and `Expires`. Every
//! `x-strata-meta-<name>` header is stored as custom metadata `<name>` (names
//! lowercase, as HTTP field names are case-insensitive) and sent back under
//! the same header. Custom values must be visible ASCII (plus space and tab):
//! header bytes beyond ASCII reach the Worker as Latin-1, so anything else
//! would come back changed — percent-encode such values.

use super::conditional::Validators;
use super::etag::EntityTag;
use super::time::{http_date, parse_http_date, rfc3339_millis};
use super::{hex, invalid, RequestHeaders};
use crate::error::ApiError;
use std::collections::BTreeMap;

/// Prefix of headers carrying custom metadata.
pub const META_PREFIX: &str = "x-strata-meta-";

/// Header carrying an upload's SHA-256 (64 hex digits), verified by R2, and
/// sent back on downloads of objects uploaded with it.
pub const SHA256_HEADER: &str = "x-strata-checksum-sha256";

/// Headers on every response that carries an object's body (`GET`, `HEAD`,
/// ranged or not, also through a signed URL). Objects are whatever a writer
/// uploaded, served from the API's own origin: `nosniff` keeps a browser to
/// the stored `Content-Type`, and the `sandbox` policy opens even an HTML
/// or SVG object in an opaque origin with scripts off, so it cannot act as
/// the API's origin (read its responses, use its cookies or storage).
pub const CONTENT_SAFETY_HEADERS: [(&str, &str); 2] = [
    ("x-content-type-options", "nosniff"),
    ("content-security-policy", "sandbox"),
];

/// R2's limit on custom metadata: names and values together, in bytes.
pub const MAX_CUSTOM_METADATA_BYTES: usize = 2048;

/// The HTTP metadata R2 stores with an object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpFields {
    /// `Content-Type`.
    pub content_type: Option<String>,
    /// `Content-Encoding`.
    pub content_encoding: Option<String>,
    /// `Content-Language`.
    pub content_language: Option<String>,
    /// `Content-Disposition`.
    pub content_disposition: Option<String>,
    /// `Cache-Control`.
    pub cache_control: Option<String>,
    /// `Expires`, milliseconds since the epoch (R2's `cacheExpiry`).
    pub expires_ms: Option<u64>,
}

/// What an upload's headers ask to store besides the bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UploadMetadata {
    /// HTTP metadata.
    pub http: HttpFields,
    /// Custom metadata, by lowercase name.
    pub custom: BTreeMap<String, String>,
}

impl UploadMetadata {
    /// Reads the six HTTP fields and every `x-strata-meta-*` header.
    pub fn from_headers(headers: &RequestHeaders) -> Result<UploadMetadata, ApiError> {
        let field = |name: &str| headers.get(name).map(str::to_string);
        let expires_ms = match headers.get("expires") {
            None => None,
            Some(v) => Some(
                parse_http_date(v)
                    .ok_or_else(|| {
                        invalid("Expires must be an HTTP date")
                            .with_hint("e.g. Expires: Wed, 21 Oct 2026 07:28:00 GMT")
                    })?
                    .saturating_mul(1000),
            ),
        };
        let http = HttpFields {
            content_type: field("content-type"),
            content_encoding: field("content-encoding"),
            content_language: field("content-language"),
            content_disposition: field("content-disposition"),
            cache_control: field("cache-control"),
            expires_ms,
        };
        let mut custom = BTreeMap::new();
        let mut total = 0;
        for (name, value) in headers.iter() {
            let Some(meta_name) = name.strip_prefix(META_PREFIX) else {
                continue;
            };
            if meta_name.is_empty() {
                return Err(invalid(format!(
                    "{META_PREFIX}<name> needs a name after the prefix"
                )));
            }
            if !value.chars().all(|c| c == '\t' || (' '..='~').contains(&c)) {
                return Err(invalid(format!(
                    "the value of {name} must be visible ASCII; percent-encode other characters"
                )));
            }
            total += meta_name.len() + value.len();
            custom.insert(meta_name.to_string(), value.to_string());
        }
        if total > MAX_CUSTOM_METADATA_BYTES {
            return Err(invalid(format!(
                "custom metadata is {total} bytes; R2 stores at most {MAX_CUSTOM_METADATA_BYTES} (names and values together)"
            ))
            .with_details(serde_json::json!({ "maxCustomMetadataBytes": MAX_CUSTOM_METADATA_BYTES })));
        }
        Ok(UploadMetadata { http, custom })
    }
}

/// An object as R2 describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectMeta {
    /// The key.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// R2's etag, without quotes.
    pub etag: String,
    /// Upload time, milliseconds since the epoch.
    pub uploaded_ms: u64,
    /// HTTP metadata.
    pub http: HttpFields,
    /// Custom metadata.
    pub custom: BTreeMap<String, String>,
    /// The SHA-256 R2 verified at upload, when the upload gave one.
    pub sha256: Option<[u8; 32]>,
}

impl ObjectMeta {
    /// `Last-Modified` in seconds: HTTP dates have no finer resolution, and
    /// conditionals compare what clients were shown.
    pub fn last_modified(&self) -> u64 {
        self.uploaded_ms / 1000
    }

    /// The quoted `ETag` header value.
    pub fn etag_header(&self) -> String {
        EntityTag::strong(self.etag.as_str()).to_header()
    }

    /// The validators preconditions are checked against.
    pub fn validators(&self) -> Validators {
        Validators {
            etag: EntityTag::strong(self.etag.as_str()),
            last_modified: self.last_modified(),
        }
    }

    /// Headers of a 304: the validators and the caching fields a 200 would
    /// carry (RFC 9110 §15.4.5), nothing describing the body.
    pub fn validator_headers(&self) -> Vec<(&'static str, String)> {
        let mut out = vec![
            ("etag", self.etag_header()),
            ("last-modified", http_date(self.last_modified())),
        ];
        if let Some(v) = &self.http.cache_control {
            out.push(("cache-control", v.clone()));
        }
        if let Some(ms) = self.http.expires_ms {
            out.push(("expires", http_date(ms / 1000)));
        }
        out
    }

    /// Headers of a 200, 206 or HEAD with names of our own, except
    /// `Content-Length` and `Content-Range`, which depend on the range sent;
    /// the custom metadata is [`ObjectMeta::metadata_headers`]. Objects
    /// stored without a `Content-Type` are `application/octet-stream`. The
    /// [`CONTENT_SAFETY_HEADERS`] come last, so nothing stored precedes or
    /// replaces them.
    pub fn representation_headers(&self) -> Vec<(&'static str, String)> {
        let mut out = self.validator_headers();
        out.push(("accept-ranges", "bytes".into()));
        let content_type = self
            .http
            .content_type
            .clone()
            .unwrap_or_else(|| "application/octet-stream".into());
        out.push(("content-type", content_type));
        for (name, value) in [
            ("content-encoding", &self.http.content_encoding),
            ("content-language", &self.http.content_language),
            ("content-disposition", &self.http.content_disposition),
        ] {
            if let Some(v) = value {
                out.push((name, v.clone()));
            }
        }
        if let Some(sha) = &self.sha256 {
            out.push((SHA256_HEADER, hex(sha)));
        }
        out.extend(
            CONTENT_SAFETY_HEADERS
                .iter()
                .map(|(name, value)| (*name, value.to_string())),
        );
        out
    }

    /// The custom metadata as `x-strata-meta-<name>` headers of a 200, 206
    /// or HEAD: names that are data, hence owned. Metadata that cannot be a
    /// header (written by another R2 client) is left out here; the listing
    /// still shows it. The prefix keeps every one of them apart from the
    /// names of [`ObjectMeta::representation_headers`].
    pub fn metadata_headers(&self) -> Vec<(String, String)> {
        self.custom
            .iter()
            .filter(|(name, value)| {
                !name.is_empty()
                    && name.bytes().all(is_tchar)
                    && value.chars().all(|c| c == '\t' || (' '..='~').contains(&c))
            })
            .map(|(name, value)| (format!("{META_PREFIX}{name}"), value.clone()))
            .collect()
    }

    /// The object as JSON: a listing entry and the answer to an upload.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "key": self.key,
            "size": self.size,
            "etag": self.etag_header(),
            "uploaded": rfc3339_millis(self.uploaded_ms),
            "contentType": self.http.content_type,
            "metadata": self.custom,
        })
    }
}

/// `tchar` of RFC 9110 §5.6.2: what a header name may contain.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> RequestHeaders {
        RequestHeaders::new(pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())))
    }

    #[test]
    fn reads_http_fields_and_custom_metadata() {
        let m = UploadMetadata::from_headers(&headers(&[
            ("Content-Type", "image/png"),
            ("Content-Encoding", "gzip"),
            ("Content-Language", "de-CH"),
            ("Content-Disposition", "attachment; filename=\"a b.png\""),
            ("Cache-Control", "public, max-age=60"),
            ("Expires", "Sun, 06 Nov 1994 08:49:37 GMT"),
            ("X-Strata-Meta-Owner", "ada"),
            ("x-strata-meta-empty", ""),
            ("authorization", "Bearer secret"),
            ("content-length", "3"),
        ]))
        .unwrap();
        assert_eq!(m.http.content_type.as_deref(), Some("image/png"));
        assert_eq!(m.http.content_encoding.as_deref(), Some("gzip"));
        assert_eq!(m.http.content_language.as_deref(), Some("de-CH"));
        assert_eq!(
            m.http.content_disposition.as_deref(),
            Some("attachment; filename=\"a b.png\"")
        );
        assert_eq!(m.http.cache_control.as_deref(), Some("public, max-age=60"));
        assert_eq!(m.http.expires_ms, Some(784_111_777_000));
        let custom: Vec<(&str, &str)> = m
            .custom
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(custom, [("empty", ""), ("owner", "ada")]);
    }

    #[test]
    fn rejects_bad_metadata() {
        for pairs in [
            &[("expires", "tomorrow")][..],
            &[("x-strata-meta-", "x")][..],
            &[("x-strata-meta-name", "caf\u{e9}")][..],
        ] {
            assert_eq!(
                UploadMetadata::from_headers(&headers(pairs))
                    .unwrap_err()
                    .status(),
                400,
                "{pairs:?}"
            );
        }
        let big = "v".repeat(2048 - 4);
        assert!(UploadMetadata::from_headers(&headers(&[("x-strata-meta-name", &big)])).is_ok());
        let bigger = "v".repeat(2048 - 3);
        let e =
            UploadMetadata::from_headers(&headers(&[("x-strata-meta-name", &bigger)])).unwrap_err();
        assert!(e.message.contains("2049 bytes"), "{}", e.message);
    }

    fn meta() -> ObjectMeta {
        ObjectMeta {
            key: "a/b.txt".into(),
            size: 3,
            etag: "abc".into(),
            uploaded_ms: 784_111_777_999,
            http: HttpFields {
                content_type: Some("text/plain".into()),
                content_encoding: Some("gzip".into()),
                cache_control: Some("no-cache".into()),
                expires_ms: Some(784_111_777_000),
                ..HttpFields::default()
            },
            custom: [
                ("owner".to_string(), "ada".to_string()),
                ("bad name".to_string(), "x".to_string()),
            ]
            .into_iter()
            .collect(),
            sha256: Some([0xab; 32]),
        }
    }

    #[test]
    fn download_headers() {
        let m = meta();
        let mut h: Vec<(String, String)> = m
            .representation_headers()
            .into_iter()
            .map(|(n, v)| (n.to_string(), v))
            .collect();
        h.extend(m.metadata_headers());
        let get = |n: &str| h.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
        assert_eq!(get("etag"), Some("\"abc\""));
        assert_eq!(get("last-modified"), Some("Sun, 06 Nov 1994 08:49:37 GMT"));
        assert_eq!(get("accept-ranges"), Some("bytes"));
        assert_eq!(get("content-type"), Some("text/plain"));
        assert_eq!(get("content-encoding"), Some("gzip"));
        assert_eq!(get("cache-control"), Some("no-cache"));
        assert_eq!(get("expires"), Some("Sun, 06 Nov 1994 08:49:37 GMT"));
        assert_eq!(get("x-strata-meta-owner"), Some("ada"));
        assert_eq!(get("x-strata-meta-bad name"), None);
        assert_eq!(get(SHA256_HEADER), Some("ab".repeat(32).as_str()));
        let plain = ObjectMeta::default().representation_headers();
        assert!(plain.contains(&("content-type", "application/octet-stream".into())));
    }

    #[test]
    fn bodies_are_served_nosniff_and_sandboxed() {
        let mut html = meta();
        html.http.content_type = Some("text/html".into());
        // Custom metadata cannot reach these names: it is prefixed.
        html.custom
            .insert("content-security-policy".into(), "script-src *".into());
        assert!(html
            .metadata_headers()
            .iter()
            .all(|(n, _)| n.starts_with(META_PREFIX)));
        for h in [
            html.representation_headers(),
            ObjectMeta::default().representation_headers(),
        ] {
            let get = |n: &str| {
                let values: Vec<&str> = h
                    .iter()
                    .filter(|(k, _)| *k == n)
                    .map(|(_, v)| v.as_str())
                    .collect();
                values
            };
            assert_eq!(get("x-content-type-options"), ["nosniff"]);
            assert_eq!(get("content-security-policy"), ["sandbox"]);
        }
    }

    #[test]
    fn not_modified_headers_are_validators_and_caching_only() {
        let names: Vec<&str> = meta()
            .validator_headers()
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(names, ["etag", "last-modified", "cache-control", "expires"]);
    }

    #[test]
    fn json_shape() {
        assert_eq!(
            meta().to_json(),
            serde_json::json!({
                "key": "a/b.txt", "size": 3, "etag": "\"abc\"", "uploaded": "1994-11-06T08:49:37.999Z",
                "contentType": "text/plain", "metadata": {"bad name": "x", "owner": "ada"}
            })
        );
        assert_eq!(meta().validators().last_modified, 784_111_777);
    }
}

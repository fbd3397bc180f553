//! `GET /v1/objects?prefix=&delimiter=&cursor=&limit=`: one page of keys.
//!
//! `limit` defaults to 1000 and larger values are capped at 1000 (R2's page
//! size); a page may still hold fewer entries than the limit, since R2
//! shortens pages that carry metadata, so clients page until `truncated` is
//! false, passing `cursor` back. With a `delimiter`, keys sharing a prefix
//! up to the next delimiter are rolled up into `prefixes`, as in S3.

use super::key::MAX_KEY_BYTES;
use super::query;
use super::{invalid, ObjectMeta};
use crate::error::ApiError;

/// The largest page R2 returns.
pub const MAX_LIST_LIMIT: u32 = 1000;

/// Longest cursor accepted; R2's are short base64 strings.
pub const MAX_CURSOR_BYTES: usize = 4096;

/// Longest `prefix`, `delimiter` or start-after key: a key's own limit, as
/// no key can start with (or follow) anything longer usefully.
pub const MAX_KEY_PARAM_BYTES: usize = MAX_KEY_BYTES;

/// A listing parameter's value checked against its limit: empty counts as
/// absent; too long, the message says which and how long it may be. Shared
/// by `/v1/objects` and S3's listings, which answer it in their own error
/// formats.
pub fn bounded_param(
    name: &str,
    value: Option<&str>,
    max: usize,
) -> Result<Option<String>, String> {
    match value {
        None | Some("") => Ok(None),
        Some(v) if v.len() > max => Err(format!("{name} is longer than {max} bytes")),
        Some(v) => Ok(Some(v.to_string())),
    }
}

/// A listing cursor checked before it reaches R2: at most
/// [`MAX_CURSOR_BYTES`] of the base64 alphabet (standard or URL-safe, with
/// padding), which every cursor R2 (and miniflare) issues is written in.
/// Anything else was not issued by R2 and is refused here, whatever R2
/// would make of it.
pub fn cursor_param(name: &str, value: Option<&str>) -> Result<Option<String>, String> {
    let cursor = bounded_param(name, value, MAX_CURSOR_BYTES)?;
    if let Some(c) = &cursor {
        let base64 =
            |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'-' | b'_' | b'=');
        if !c.bytes().all(base64) {
            return Err(format!("{name} is not a cursor this API issued"));
        }
    }
    Ok(cursor)
}

/// What to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListParams {
    /// Only keys starting with this.
    pub prefix: Option<String>,
    /// Roll keys up to the next occurrence of this into `prefixes`.
    pub delimiter: Option<String>,
    /// Continue where a previous page stopped.
    pub cursor: Option<String>,
    /// Only keys after this one (S3's `marker` and `start-after`).
    pub start_after: Option<String>,
    /// Page size, 1 to 1000.
    pub limit: u32,
}

impl ListParams {
    /// Parses the query string. Empty values count as absent; unknown
    /// parameters are a 400 (a misspelt `prefix` would otherwise list
    /// everything).
    pub fn parse(raw_query: Option<&str>) -> Result<ListParams, ApiError> {
        let params = query::parse(raw_query)?;
        query::only(
            &params,
            &["prefix", "delimiter", "cursor", "limit"],
            "listing",
        )?;
        let text = |name: &str| {
            bounded_param(name, query::value(&params, name), MAX_KEY_PARAM_BYTES).map_err(invalid)
        };
        let limit = match query::value(&params, "limit") {
            None | Some("") => MAX_LIST_LIMIT,
            Some(v) => {
                if !v.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(invalid("limit must be a positive integer"));
                }
                // All digits, so parsing fails only on overflow: far over the cap.
                let n: u64 = v.parse().unwrap_or(u64::MAX);
                if n == 0 {
                    return Err(invalid("limit must be a positive integer"));
                }
                n.min(u64::from(MAX_LIST_LIMIT)) as u32
            }
        };
        Ok(ListParams {
            prefix: text("prefix")?,
            delimiter: text("delimiter")?,
            cursor: cursor_param("cursor", query::value(&params, "cursor")).map_err(invalid)?,
            start_after: None,
            limit,
        })
    }
}

/// One page of a listing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListPage {
    /// Objects on this page.
    pub objects: Vec<ObjectMeta>,
    /// Rolled-up prefixes (with a delimiter).
    pub prefixes: Vec<String>,
    /// Where the next page starts, when there is one.
    pub cursor: Option<String>,
    /// Whether there are more entries.
    pub truncated: bool,
}

impl ListPage {
    /// `{"objects": [...], "prefixes": [...], "cursor": ..., "truncated": bool}`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "objects": self.objects.iter().map(ObjectMeta::to_json).collect::<Vec<_>>(),
            "prefixes": self.prefixes,
            "cursor": if self.truncated { self.cursor.clone() } else { None },
            "truncated": self.truncated,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(q: &str) -> Result<ListParams, ApiError> {
        ListParams::parse(Some(q))
    }

    #[test]
    fn defaults_and_values() {
        assert_eq!(
            ListParams::parse(None).unwrap(),
            ListParams {
                prefix: None,
                delimiter: None,
                cursor: None,
                start_after: None,
                limit: 1000
            }
        );
        assert_eq!(
            parse("prefix=photos%2F2024+x&delimiter=%2F&cursor=abc%3D&limit=10").unwrap(),
            ListParams {
                prefix: Some("photos/2024 x".into()),
                delimiter: Some("/".into()),
                cursor: Some("abc=".into()),
                start_after: None,
                limit: 10
            }
        );
        assert_eq!(
            parse("prefix=&delimiter=&limit=").unwrap(),
            ListParams::parse(None).unwrap()
        );
    }

    #[test]
    fn limit_is_capped_at_1000() {
        assert_eq!(parse("limit=1").unwrap().limit, 1);
        assert_eq!(parse("limit=1000").unwrap().limit, 1000);
        assert_eq!(parse("limit=1001").unwrap().limit, 1000);
        assert_eq!(parse("limit=99999999999999999999999").unwrap().limit, 1000);
        for bad in ["limit=0", "limit=-1", "limit=ten", "limit=1.5", "limit=+5"] {
            let e = parse(bad).unwrap_err();
            assert_eq!(e.status(), 400, "{bad}");
            assert!(e.message.contains("limit"));
        }
    }

    #[test]
    fn rejects_unknown_and_oversized_parameters() {
        assert_eq!(parse("perfix=a").unwrap_err().status(), 400);
        assert_eq!(
            parse(&format!("prefix={}", "a".repeat(1025)))
                .unwrap_err()
                .status(),
            400
        );
        assert!(parse(&format!("prefix={}", "a".repeat(1024))).is_ok());
        assert_eq!(parse("prefix=%zz").unwrap_err().status(), 400);
        assert!(parse(&format!("cursor={}", "A".repeat(4096))).is_ok());
        for bad in [
            format!("cursor={}", "A".repeat(4097)),
            "cursor=a%20b".to_string(),
            "cursor=a%00".to_string(),
            "cursor=%3Cx%3E".to_string(),
        ] {
            assert_eq!(parse(&bad).unwrap_err().status(), 400, "{bad}");
        }
        assert_eq!(
            parse("cursor=aGVsbG8-_%2B%2F%3D")
                .unwrap()
                .cursor
                .as_deref(),
            Some("aGVsbG8-_+/=")
        );
    }

    #[test]
    fn page_json() {
        let page = ListPage {
            objects: vec![ObjectMeta {
                key: "a".into(),
                size: 1,
                etag: "e".into(),
                ..ObjectMeta::default()
            }],
            prefixes: vec!["p/".into()],
            cursor: Some("c".into()),
            truncated: true,
        };
        let v = page.to_json();
        assert_eq!(v["objects"][0]["key"], "a");
        assert_eq!(v["objects"][0]["etag"], "\"e\"");
        assert_eq!(v["prefixes"], serde_json::json!(["p/"]));
        assert_eq!(v["cursor"], "c");
        assert_eq!(v["truncated"], true);
        let last = ListPage {
            truncated: false,
            cursor: Some("stale".into()),
            ..ListPage::default()
        };
        assert_eq!(last.to_json()["cursor"], serde_json::Value::Null);
    }
}

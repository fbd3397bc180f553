//! Body size policy: request bodies every route reads, and the store results
//! the Worker reads.

use crate::error::{ApiError, ErrorCode};

/// Default request body limit (bytes), overridable with `MAX_BODY_BYTES`.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 1024 * 1024;

/// Default cap on a store's answer (bytes), overridable with `MAX_RESULT_BYTES`.
pub const DEFAULT_MAX_RESULT_BYTES: u64 = 4 * 1024 * 1024;

/// Accepts a missing `Content-Type` or a JSON one (`application/json`,
/// `application/*+json`, any parameters); anything else is 415.
pub fn ensure_json(content_type: Option<&str>) -> Result<(), ApiError> {
    let Some(ct) = content_type else {
        return Ok(());
    };
    let media = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if media == "application/json"
        || (media.starts_with("application/") && media.ends_with("+json"))
    {
        Ok(())
    } else {
        Err(
            ApiError::new(ErrorCode::UnsupportedMediaType, "the body must be JSON")
                .with_hint("send Content-Type: application/json"),
        )
    }
}

/// 413 for a body over `limit` bytes.
pub fn too_large(limit: u64) -> ApiError {
    ApiError::new(
        ErrorCode::PayloadTooLarge,
        format!("the request body is larger than {limit} bytes"),
    )
    .with_details(serde_json::json!({ "limit": limit }))
}

/// Whether `read` bytes already taken plus a `next` chunk would pass the
/// limit (checked before the chunk is kept, so a streamed body stops at the
/// first chunk too many).
pub fn exceeds(read: usize, next: usize, limit: u64) -> bool {
    (read as u64).saturating_add(next as u64) > limit
}

/// Checks a declared `Content-Length` against the limit before reading.
pub fn check_declared_length(content_length: Option<&str>, limit: u64) -> Result<(), ApiError> {
    match content_length.map(|v| v.trim().parse::<u64>()) {
        Some(Ok(n)) if n > limit => Err(too_large(limit)),
        Some(Err(_)) => Err(ApiError::new(
            ErrorCode::InvalidRequest,
            "Content-Length is not a number",
        )),
        _ => Ok(()),
    }
}

/// The length of a body that may be read whole in one step (one
/// `arrayBuffer()` instead of a chunk-by-chunk read): its `Content-Length`
/// is declared, within `limit`, and counts the bytes that will be read —
/// no `Content-Encoding` other than `identity`, which the runtime could
/// decode into more bytes than declared. The runtime holds a body to its
/// declared length, so such a read can never hold more than `limit`.
/// `None`: read chunk by chunk, stopping at the limit.
pub fn whole_read_length(
    content_length: Option<&str>,
    content_encoding: Option<&str>,
    limit: u64,
) -> Option<u64> {
    let identity = content_encoding.is_none_or(|e| e.trim().eq_ignore_ascii_case("identity"));
    let n = content_length?.trim().parse::<u64>().ok()?;
    (identity && n <= limit).then_some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_media_types() {
        for ok in [
            None,
            Some("application/json"),
            Some("Application/JSON; charset=utf-8"),
            Some("application/vnd.api+json"),
        ] {
            assert!(ensure_json(ok).is_ok(), "{ok:?}");
        }
        for bad in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "",
        ] {
            assert_eq!(ensure_json(Some(bad)).unwrap_err().status(), 415, "{bad}");
        }
    }

    #[test]
    fn streamed_bodies_stop_at_the_limit() {
        assert!(!exceeds(0, 10, 10));
        assert!(exceeds(5, 6, 10));
        assert!(!exceeds(0, 0, 0));
        assert!(exceeds(usize::MAX, usize::MAX, u64::MAX - 1));
    }

    #[test]
    fn declared_lengths() {
        assert!(check_declared_length(Some("10"), 10).is_ok());
        assert!(check_declared_length(None, 10).is_ok());
        assert_eq!(
            check_declared_length(Some("11"), 10).unwrap_err().status(),
            413
        );
        assert_eq!(
            check_declared_length(Some("x"), 10).unwrap_err().status(),
            400
        );
    }

    #[test]
    fn whole_reads_only_for_declared_unencoded_lengths_within_the_limit() {
        assert_eq!(whole_read_length(Some("12"), None, 100), Some(12));
        assert_eq!(
            whole_read_length(Some(" 100 "), Some("identity"), 100),
            Some(100)
        );
        assert_eq!(whole_read_length(Some("0"), None, 100), Some(0));
        // Over the limit, undeclared, unreadable: chunk by chunk.
        assert_eq!(whole_read_length(Some("101"), None, 100), None);
        assert_eq!(whole_read_length(None, None, 100), None);
        assert_eq!(whole_read_length(Some("12x"), None, 100), None);
        assert_eq!(whole_read_length(Some("-1"), None, 100), None);
        // An encoded body may decode to more than its declared length.
        assert_eq!(whole_read_length(Some("12"), Some("gzip"), 100), None);
        assert_eq!(whole_read_length(Some("12"), Some("br"), 100), None);
    }
}

//! Objects in R2 with the semantics HTTP promises.
//!
//! Everything the object routes decide without touching R2 lives here, so it
//! runs under a plain `cargo test` on the host: which object a path names,
//! which operation a method and query select, whether preconditions hold (in
//! RFC 9110's order), which bytes a `Range` asks for, what metadata an upload
//! carries, how listings are paged, and how signed URLs are made and checked.
//! [`service`] puts them together: one call turns a request into a
//! command, one runs it against the [`crate::store::ObjectStore`] seam and
//! encodes the answer. The Worker's route (`src/routes/objects.rs`) only
//! reads the request's parts and copies the answer into a response; R2 is
//! behind the seam in `src/stores/r2.rs`.
//!
//! # Layout
//!
//! * [`service`] — the request as a [`service::Command`], run and encoded
//!   by [`service::execute`]: ranged reads and their retries, conditional
//!   reads and writes, uploads, multipart steps, the error per store failure.
//! * [`key`] — object keys: percent-decoded from the path exactly once,
//!   UTF-8, 1–1024 bytes; `..` is plain text.
//! * [`query`] — strict query-string decoding shared by the other parsers.
//! * [`operation`] — which operation a method and its S3-like query select
//!   (plain object operations, multipart uploads).
//! * [`etag`] — entity tags and `If-Match` / `If-None-Match` lists.
//! * [`conditional`] — preconditions evaluated in RFC 9110 §13.2.2 order.
//! * [`range`] — `Range` and `If-Range`: one byte range, or the whole object.
//! * [`metadata`] — stored HTTP and custom metadata, in and out of headers.
//! * [`upload`] — upload bodies: declared length, size limits, checksums.
//! * [`list`] — listing parameters and the listing JSON.
//! * [`multipart`] — the complete-upload body.
//! * [`signing`] — HMAC-signed URLs for one method on one key, with expiry,
//!   valid only while the key (or token) that signed them is.
//! * [`r2_error`] — R2's error codes mapped to client errors.
//! * [`time`] — HTTP dates and RFC 3339 timestamps.

pub mod conditional;
pub mod etag;
pub mod key;
pub mod list;
pub mod metadata;
pub mod multipart;
pub mod operation;
pub mod query;
pub mod r2_error;
pub mod range;
pub mod service;
pub mod signing;
pub mod time;
pub mod upload;

pub use key::ObjectKey;
pub use metadata::{HttpFields, ObjectMeta};

use crate::error::{ApiError, ErrorCode};

const MIB: u64 = 1024 * 1024;

/// The largest object one `PUT` may store: R2's single-upload limit
/// (5 GiB minus 5 MiB). Larger objects go through a multipart upload.
pub const MAX_PUT_BYTES: u64 = 5 * 1024 * MIB - 5 * MIB;

/// The largest multipart part R2 accepts (the same limit as a single upload).
pub const MAX_PART_BYTES: u64 = MAX_PUT_BYTES;

/// R2's minimum size of every multipart part except the last.
pub const MIN_PART_BYTES: u64 = 5 * MIB;

/// Part numbers run from 1 to this (R2 and S3 both allow 10 000 parts).
pub const MAX_PART_NUMBER: u16 = 10_000;

pub use crate::http::RequestHeaders;

/// 404 for a key that holds no object.
pub fn object_not_found() -> ApiError {
    ApiError::new(ErrorCode::ObjectNotFound, "no object has this key")
}

/// 412 for a precondition that does not hold; nothing was read or written.
pub fn precondition_failed() -> ApiError {
    ApiError::new(
        ErrorCode::PreconditionFailed,
        "a precondition (If-Match, If-None-Match or If-Unmodified-Since) does not hold",
    )
    .with_hint("fetch the object's current ETag and retry")
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::InvalidRequest, message)
}

/// Lowercase hexadecimal.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Decodes hexadecimal (either case) of exactly `N` bytes.
pub fn decode_hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    let bytes = text.as_bytes();
    if bytes.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        let hi = (pair[0] as char).to_digit(16)?;
        let lo = (pair[1] as char).to_digit(16)?;
        out[i] = (hi * 16 + lo) as u8;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_case_insensitive() {
        let h = RequestHeaders::new([("If-Match".to_string(), "\"a\"".to_string())]);
        assert_eq!(h.get("if-match"), Some("\"a\""));
        assert_eq!(h.get("if-none-match"), None);
    }

    #[test]
    fn hex_round_trips() {
        let bytes = [0u8, 1, 0xab, 0xff];
        assert_eq!(hex(&bytes), "0001abff");
        assert_eq!(decode_hex::<4>("0001ABff"), Some(bytes));
        assert_eq!(decode_hex::<4>("0001abf"), None);
        assert_eq!(decode_hex::<4>("0001abfg"), None);
    }

    #[test]
    fn object_routes() {
        use crate::router::{route, RouteId};
        let m = route("PUT", "/v1/objects/a%2F..%2Fb/c d").unwrap();
        assert_eq!(
            (m.id, m.param("key")),
            (RouteId::Object, Some("a%2F..%2Fb/c d"))
        );
        let m = route("POST", "/v1/objects/").unwrap();
        assert_eq!((m.id, m.param("key")), (RouteId::Object, None));
        assert_eq!(route("HEAD", "/v1/objects/k").unwrap().id, RouteId::Object);
        assert_eq!(route("GET", "/v1/objects").unwrap().id, RouteId::ObjectList);
        assert_eq!(
            route("POST", "/v1/signed-urls").unwrap().id,
            RouteId::SignedUrls
        );
        let m = route("OPTIONS", "/v1/signed/objects/a/b").unwrap();
        assert_eq!((m.id, m.param("key")), (RouteId::SignedObject, Some("a/b")));
        let e = route("PATCH", "/v1/objects/k").unwrap_err();
        assert_eq!(
            e.headers,
            vec![("Allow", "GET, HEAD, PUT, DELETE, POST".to_string())]
        );
        assert_eq!(
            route("DELETE", "/v1/signed/objects/k")
                .unwrap_err()
                .status(),
            405
        );
        assert_eq!(route("PUT", "/v1/objects").unwrap_err().status(), 405);
    }

    #[test]
    fn limits_match_r2() {
        assert_eq!(MAX_PUT_BYTES, 5_363_466_240);
        assert_eq!(MIN_PART_BYTES, 5_242_880);
    }
}

//! R2's errors, told apart by their numeric code.
//!
//! The R2 binding throws errors whose message ends in R2's code in
//! parentheses (`put: The MD5 checksum you specified did not match what we
//! received. … (10037)`). Codes the client caused become 4xx errors here;
//! everything else is the store's failure (503, cause to the log only).
//! Message texts are never forwarded: they can echo internal detail.
//!
//! One code means two things: completing or aborting an upload id R2 never
//! issued for the key answers `InternalError` (10001), where `uploadPart`
//! answers `NoSuchUpload` (10024) — miniflare reproduces R2 exactly so. For
//! those two calls [`finishing_upload_error`] reads 10001 as the client's
//! `404 upload_not_found`; everywhere else it stays the store's 503.

use super::{invalid, object_not_found, precondition_failed, MIN_PART_BYTES};
use crate::body::too_large;
use crate::error::{ApiError, ErrorCode};

/// `BadDigest`: the body does not match the checksum sent with it.
pub const BAD_DIGEST: u32 = 10037;
/// `NoSuchUpload`: the multipart upload does not exist (any more).
pub const NO_SUCH_UPLOAD: u32 = 10024;
/// `InternalError`: R2's own failure — or, when completing or aborting, an
/// upload id R2 never issued for this key.
pub const INTERNAL_ERROR: u32 = 10001;

/// R2's code at the end of an error message, e.g. `… (10037)`.
pub fn code_in(message: &str) -> Option<u32> {
    let inner = message.trim_end().strip_suffix(')')?;
    let open = inner.rfind('(')?;
    let digits = &inner[open + 1..];
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

/// The client error an R2 code means, or `None` when the failure is the
/// store's own.
pub fn client_error(code: u32) -> Option<ApiError> {
    Some(match code {
        BAD_DIGEST => ApiError::new(
            ErrorCode::ChecksumMismatch,
            "the body does not match its checksum; nothing was stored",
        ),
        10031 => precondition_failed(),
        NO_SUCH_UPLOAD => upload_not_found(),
        10007 => object_not_found(),
        10025 => invalid(
            "a listed part was not uploaded to this upload, or its ETag differs from the one its upload answered",
        ),
        10011 => invalid(format!(
            "every part but the last must be at least {MIN_PART_BYTES} bytes (5 MiB)"
        )),
        // R2 answers BadUpload when part sizes differ (miniflare does so
        // exactly then; R2 documents the equal-size rule).
        10048 => invalid(
            "R2 refused the parts: all parts but the last must have the same size (at least 5 MiB), and the last may not be larger",
        ),
        100100 => too_large(super::MAX_PUT_BYTES),
        10012 => invalid("custom metadata is larger than R2 stores (2048 bytes)"),
        10020 => invalid("R2 does not accept this object key"),
        // Every argument Strata passes on comes from the request (a listing
        // cursor is passed through unread), so R2 refusing one is the
        // client's error.
        10029 => invalid("R2 refused an argument of the request (for example a listing cursor it did not issue)"),
        _ => return None,
    })
}

/// The client error an R2 code means when completing or aborting a
/// multipart upload: as [`client_error`], except that `InternalError` is
/// how R2 answers an upload id it never issued for the key there, so it is
/// `404 upload_not_found` — with a hint, since a genuine internal error of
/// R2's reads the same.
pub fn finishing_upload_error(code: u32) -> Option<ApiError> {
    if code == INTERNAL_ERROR {
        return Some(upload_not_found().with_hint(
            "R2 answers an uploadId it never issued for this key and its own internal errors alike here: if the upload is surely in progress, retry",
        ));
    }
    client_error(code)
}

/// 404 for an upload id that names no upload in progress for this key.
pub fn upload_not_found() -> ApiError {
    ApiError::new(
        ErrorCode::UploadNotFound,
        "no multipart upload in progress has this uploadId for this key (it was completed, aborted, or never started)",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_code() {
        assert_eq!(
            code_in(
                "put: The MD5 checksum you specified did not match.\nActual MD5 was: 5d (10037)"
            ),
            Some(10037)
        );
        assert_eq!(
            code_in("uploadPart: The specified multipart upload does not exist. (10024) "),
            Some(10024)
        );
        assert_eq!(
            code_in("TypeError: Provided readable stream must have a known length"),
            None
        );
        assert_eq!(code_in("x ()"), None);
        assert_eq!(code_in("x (1a)"), None);
        assert_eq!(code_in(")"), None);
    }

    #[test]
    fn maps_client_codes() {
        let status = |c| client_error(c).map(|e| (e.status(), e.code.as_str()));
        assert_eq!(status(BAD_DIGEST), Some((400, "checksum_mismatch")));
        assert_eq!(status(10031), Some((412, "precondition_failed")));
        assert_eq!(status(NO_SUCH_UPLOAD), Some((404, "upload_not_found")));
        assert_eq!(status(10007), Some((404, "object_not_found")));
        assert_eq!(status(10025), Some((400, "invalid_request")));
        assert_eq!(status(10011), Some((400, "invalid_request")));
        assert_eq!(status(10048), Some((400, "invalid_request")));
        assert_eq!(status(100100), Some((413, "payload_too_large")));
        assert_eq!(status(10029), Some((400, "invalid_request")));
        // Store failures stay store failures.
        assert_eq!(status(INTERNAL_ERROR), None);
        assert_eq!(status(10039), None);
    }

    #[test]
    fn finishing_an_unknown_upload_is_404() {
        let status = |c| finishing_upload_error(c).map(|e| (e.status(), e.code.as_str()));
        assert_eq!(status(INTERNAL_ERROR), Some((404, "upload_not_found")));
        assert!(finishing_upload_error(INTERNAL_ERROR)
            .and_then(|e| e.hint.clone())
            .is_some_and(|h| h.contains("retry")));
        // Everything else as for any other call.
        assert_eq!(status(NO_SUCH_UPLOAD), Some((404, "upload_not_found")));
        assert_eq!(status(10025), Some((400, "invalid_request")));
        assert_eq!(status(10048), Some((400, "invalid_request")));
        assert_eq!(status(10039), None);
    }
}

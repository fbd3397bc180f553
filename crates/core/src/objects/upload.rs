//! Upload bodies: their declared length and the checksum R2 verifies.
//!
//! Bodies are streamed into R2 without passing through the Worker's
//! memory, and R2 accepts a stream only when its length is known in
//! advance. So an upload must declare `Content-Length`; a chunked body is
//! refused with 411 before anything is read.
//!
//! An upload may carry one checksum, which R2 computes over the bytes it
//! receives and compares before the object becomes visible, so a mismatch
//! stores nothing: `Content-MD5` (base64 of the 16-byte digest, RFC 1864) or
//! `x-strata-checksum-sha256` (64 hex digits, what `sha256sum` prints).

use super::metadata::SHA256_HEADER;
use super::{decode_hex, invalid, RequestHeaders};
use crate::body::too_large;
use crate::error::{ApiError, ErrorCode};

/// The body length an upload declares: 411 without one, 400 when it is not
/// a number, 413 over `max` (with the way around it in the hint).
pub fn declared_length(headers: &RequestHeaders, max: u64) -> Result<u64, ApiError> {
    let value = headers.get("content-length").ok_or_else(|| {
        ApiError::new(
            ErrorCode::LengthRequired,
            "the upload has no Content-Length; R2 stores bodies of known length only",
        )
        .with_hint("send the body with a Content-Length (not chunked)")
    })?;
    let value = value.trim();
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid("Content-Length is not a number"));
    }
    let length: u64 = value
        .parse()
        .map_err(|_| invalid("Content-Length is not a number"))?;
    if length > max {
        return Err(too_large(max).with_hint(
            "upload objects over 5 GiB in parts: POST ?uploads, PUT ?uploadId=&partNumber=, POST ?uploadId=",
        ));
    }
    Ok(length)
}

/// A digest of the body, for R2 to verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checksum {
    /// From `Content-MD5`.
    Md5([u8; 16]),
    /// From `x-strata-checksum-sha256`.
    Sha256([u8; 32]),
}

/// Reads the upload's checksum header, if any. R2 verifies one algorithm
/// per upload, so sending both is a 400 rather than a silent choice.
pub fn checksum(headers: &RequestHeaders) -> Result<Option<Checksum>, ApiError> {
    let md5 = headers.get("content-md5");
    let sha256 = headers.get(SHA256_HEADER);
    match (md5, sha256) {
        (Some(_), Some(_)) => Err(invalid(format!(
            "send either Content-MD5 or {SHA256_HEADER}, not both: R2 verifies one checksum per upload"
        ))),
        (Some(v), None) => crate::encoding::STANDARD
            .decode(v.trim())
            .ok()
            .and_then(|bytes| <[u8; 16]>::try_from(bytes).ok())
            .map(|d| Some(Checksum::Md5(d)))
            .ok_or_else(|| invalid("Content-MD5 must be the base64 of a 16-byte MD5 digest")),
        (None, Some(v)) => decode_hex::<32>(v.trim())
            .map(|d| Some(Checksum::Sha256(d)))
            .ok_or_else(|| invalid(format!("{SHA256_HEADER} must be 64 hexadecimal digits"))),
        (None, None) => Ok(None),
    }
}

/// Rejects checksum headers where R2 cannot verify them (multipart parts):
/// ignoring one would let a client believe its bytes were checked.
pub fn refuse_checksum(headers: &RequestHeaders, context: &str) -> Result<(), ApiError> {
    if headers.get("content-md5").is_some() || headers.get(SHA256_HEADER).is_some() {
        return Err(invalid(format!(
            "{context} cannot be verified against a checksum: R2 checks checksums of whole uploads only"
        ))
        .with_hint("verify the whole object after completing the upload (GET it and hash it)"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> RequestHeaders {
        RequestHeaders::new(pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())))
    }

    #[test]
    fn lengths() {
        assert_eq!(
            declared_length(&headers(&[("content-length", "0")]), 10).unwrap(),
            0
        );
        assert_eq!(
            declared_length(&headers(&[("content-length", "10")]), 10).unwrap(),
            10
        );
        let e = declared_length(&headers(&[]), 10).unwrap_err();
        assert_eq!((e.status(), e.code.as_str()), (411, "length_required"));
        assert_eq!(
            declared_length(&headers(&[("content-length", "11")]), 10)
                .unwrap_err()
                .status(),
            413
        );
        for bad in ["", "-1", "+1", "1.0", "0x10", "99999999999999999999999"] {
            assert_eq!(
                declared_length(&headers(&[("content-length", bad)]), 10)
                    .unwrap_err()
                    .status(),
                400,
                "{bad}"
            );
        }
    }

    #[test]
    fn checksums() {
        // MD5("hello") = 5d41402abc4b2a76b9719d911017c592
        let md5 = headers(&[("content-md5", "XUFAKrxLKna5cZ2REBfFkg==")]);
        assert_eq!(
            checksum(&md5).unwrap(),
            Some(Checksum::Md5(
                decode_hex("5d41402abc4b2a76b9719d911017c592").unwrap()
            ))
        );
        let sha = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
        let h = headers(&[(SHA256_HEADER, &sha.to_uppercase())]);
        assert_eq!(
            checksum(&h).unwrap(),
            Some(Checksum::Sha256(decode_hex(sha).unwrap()))
        );
        assert_eq!(checksum(&headers(&[])).unwrap(), None);
        for pairs in [
            &[("content-md5", "not base64!")][..],
            &[("content-md5", "aGVsbG8=")][..],
            &[(SHA256_HEADER, "abc")][..],
            &[
                ("content-md5", "XUFAKrxLKna5cZ2REBfFkg=="),
                (SHA256_HEADER, sha),
            ][..],
        ] {
            assert_eq!(
                checksum(&headers(pairs)).unwrap_err().status(),
                400,
                "{pairs:?}"
            );
        }
    }

    #[test]
    fn parts_refuse_checksums() {
        assert!(refuse_checksum(&headers(&[]), "a part").is_ok());
        assert_eq!(
            refuse_checksum(&headers(&[("content-md5", "x")]), "a part")
                .unwrap_err()
                .status(),
            400
        );
    }
}

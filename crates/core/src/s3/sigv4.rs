//! AWS Signature Version 4, as S3 checks it: the `Authorization` header
//! and presigned query strings (`X-Amz-*`).
//!
//! The canonical request is rebuilt from what arrived, the way AWS builds
//! it: the path decoded once and re-encoded with AWS's `UriEncode`
//! (everything but `A-Za-z0-9-._~` and `/`), the query's names and values
//! decoded and re-encoded the same way and sorted, the signed headers
//! lowercased with their values trimmed and inner runs of spaces collapsed.
//! The signature is compared in constant time (`hmac`'s `verify_slice`).
//!
//! Checks, in S3's order and with S3's codes: the credential's scope
//! (`<date>/<region>/s3/aws4_request`, region `auto`, `us-east-1` or empty),
//! a known access key (`InvalidAccessKeyId`), the time (header auth: at
//! most 15 minutes from now, `RequestTimeTooSkewed`; presigned: not yet
//! expired, `X-Amz-Expires` at most 7 days), then the signature
//! (`SignatureDoesNotMatch`). The payload mode (`x-amz-content-sha256`)
//! is part of what is signed and says how the body must be checked
//! ([`Payload`]); aws-chunked bodies continue the signature chain
//! ([`ChunkSigner`]).

use super::credentials::{S3Credential, S3Credentials};
use super::S3Error;
use crate::http::RequestHeaders;
use crate::objects::{decode_hex, hex};
use crate::percent;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// The only algorithm S3 accepts for SigV4.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// Regions a credential scope may name.
pub const REGIONS: [&str; 3] = ["auto", "us-east-1", ""];
/// Largest difference between the request's time and ours (S3's 15 minutes).
pub const MAX_SKEW_SECS: u64 = 15 * 60;
/// Longest validity of a presigned URL (S3's 7 days).
pub const MAX_PRESIGNED_EXPIRES: u64 = 7 * 24 * 3600;

/// `x-amz-content-sha256: UNSIGNED-PAYLOAD`.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
/// aws-chunked, every chunk signed.
pub const STREAMING_SIGNED: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD";
/// aws-chunked, every chunk signed, signed trailers.
pub const STREAMING_SIGNED_TRAILER: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER";
/// aws-chunked, unsigned chunks, unsigned trailers (the SDKs' default for streams).
pub const STREAMING_UNSIGNED_TRAILER: &str = "STREAMING-UNSIGNED-PAYLOAD-TRAILER";

/// The hex SHA-256 of nothing.
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// What the request promised its body is, and so how it must be checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload {
    /// Exactly the bytes with this SHA-256 (`XAmzContentSHA256Mismatch` otherwise).
    Sha256([u8; 32]),
    /// Not covered by the signature.
    Unsigned,
    /// aws-chunked (`content-encoding: aws-chunked`).
    Chunked {
        /// Each chunk carries a signature continuing the request's.
        signed: bool,
        /// Trailing headers follow the last chunk (signed when `signed`).
        trailer: bool,
    },
}

impl Payload {
    fn parse(value: &str) -> Option<Payload> {
        Some(match value {
            UNSIGNED_PAYLOAD => Payload::Unsigned,
            STREAMING_SIGNED => Payload::Chunked {
                signed: true,
                trailer: false,
            },
            STREAMING_SIGNED_TRAILER => Payload::Chunked {
                signed: true,
                trailer: true,
            },
            STREAMING_UNSIGNED_TRAILER => Payload::Chunked {
                signed: false,
                trailer: true,
            },
            hex => Payload::Sha256(decode_hex::<32>(hex)?),
        })
    }
}

/// The parts of a request that SigV4 covers, as they arrived.
#[derive(Debug, Clone, Copy)]
pub struct SignedRequest<'a> {
    /// The method (`GET`, `PUT`, ...).
    pub method: &'a str,
    /// The path as received, still percent-encoded (with the `/s3` prefix:
    /// clients sign the whole path).
    pub path: &'a str,
    /// The query string as received, without `?`.
    pub query: Option<&'a str>,
    /// The request's headers.
    pub headers: &'a RequestHeaders,
}

/// A request whose signature holds.
#[derive(Debug, Clone)]
pub struct Authenticated {
    /// The credential that signed.
    pub credential: S3Credential,
    /// How the body must be checked.
    pub payload: Payload,
    /// For signed aws-chunked bodies: the chain the chunk signatures continue.
    pub chunk_signer: Option<ChunkSigner>,
    /// Whether the credential came in the query string (a presigned URL).
    pub presigned: bool,
}

/// Continues a request's signature over aws-chunked chunks and trailers:
/// each signature covers the one before, so chunks cannot be dropped,
/// reordered or replaced.
#[derive(Clone)]
pub struct ChunkSigner {
    key: [u8; 32],
    amz_date: String,
    scope: String,
    previous: String,
}

impl std::fmt::Debug for ChunkSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChunkSigner")
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl ChunkSigner {
    /// Checks the signature of the chunk whose bytes hash to `chunk_sha256`;
    /// on success it becomes the previous signature.
    pub fn verify_chunk(&mut self, chunk_sha256: &[u8; 32], signature: &str) -> bool {
        let to_sign = format!(
            "AWS4-HMAC-SHA256-PAYLOAD\n{}\n{}\n{}\n{EMPTY_SHA256}\n{}",
            self.amz_date,
            self.scope,
            self.previous,
            hex(chunk_sha256)
        );
        self.verify(&to_sign, signature)
    }

    /// Checks the trailer's signature (`x-amz-trailer-signature`) over the
    /// trailer lines as `name:value\n`, hashed to `trailer_sha256`.
    pub fn verify_trailer(&mut self, trailer_sha256: &[u8; 32], signature: &str) -> bool {
        let to_sign = format!(
            "AWS4-HMAC-SHA256-TRAILER\n{}\n{}\n{}\n{}",
            self.amz_date,
            self.scope,
            self.previous,
            hex(trailer_sha256)
        );
        self.verify(&to_sign, signature)
    }

    fn verify(&mut self, to_sign: &str, signature: &str) -> bool {
        let Some(given) = decode_hex::<32>(signature) else {
            return false;
        };
        let mut m = mac(&self.key);
        m.update(to_sign.as_bytes());
        if m.verify_slice(&given).is_ok() {
            self.previous = hex(&given);
            true
        } else {
            false
        }
    }
}

fn mac(key: &[u8]) -> Hmac<Sha256> {
    match Hmac::<Sha256>::new_from_slice(key) {
        Ok(m) => m,
        // HMAC takes keys of any length.
        Err(_) => unreachable!("HMAC-SHA256 accepts any key length"),
    }
}

fn hmac(key: &[u8], data: &str) -> [u8; 32] {
    let mut m = mac(key);
    m.update(data.as_bytes());
    m.finalize().into_bytes().into()
}

/// The signing key for a secret on a day (`YYYYMMDD`) and region.
pub fn signing_key(secret: &str, date: &str, region: &str) -> [u8; 32] {
    let k = hmac(format!("AWS4{secret}").as_bytes(), date);
    let k = hmac(&k, region);
    let k = hmac(&k, "s3");
    hmac(&k, "aws4_request")
}

/// Seconds since the epoch of an ISO 8601 basic time (`20130524T000000Z`).
pub fn parse_amz_date(text: &str) -> Option<u64> {
    let b = text.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u64> {
        let s = text.get(r)?;
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    let (y, mo, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (h, mi, s) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm), years >= 1970.
    if y < 1970 {
        return None;
    }
    let (y, m) = if mo <= 2 {
        (y - 1, mo + 9)
    } else {
        (y, mo - 3)
    };
    let era = y / 400;
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = (era * 146_097 + doe).checked_sub(719_468)?;
    Some(days * 86_400 + h * 3600 + mi * 60 + s)
}

/// `(name, value)` pairs of a query string, decoded once (`+` is a space).
pub(super) fn query_pairs(query: Option<&str>) -> Result<Vec<(String, String)>, S3Error> {
    percent::decode_query(query)
        .map_err(|_| S3Error::new("InvalidURI", 400, "Couldn't parse the specified URI."))
}

/// The canonical request of SigV4.
fn canonical_request(
    req: &SignedRequest,
    query: &[(String, String)],
    signed_headers: &[&str],
    payload_hash: &str,
) -> Result<String, S3Error> {
    let path = percent::decode(req.path, false)
        .map_err(|_| S3Error::new("InvalidURI", 400, "Couldn't parse the specified URI."))?;
    let mut q: Vec<(String, String)> = query
        .iter()
        .filter(|(n, _)| n != "X-Amz-Signature")
        .map(|(n, v)| (percent::encode(n, false), percent::encode(v, false)))
        .collect();
    crate::sort::sort(&mut q);
    let query = q
        .iter()
        .map(|(n, v)| format!("{n}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let mut headers = String::new();
    for name in signed_headers {
        let values: Vec<&str> = req
            .headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v)
            .collect();
        if values.is_empty() {
            return Err(S3Error::access_denied(format!(
                "There were headers present in the request which were not signed: {name} is signed but absent"
            )));
        }
        let value = values
            .iter()
            .map(|v| collapse_spaces(v))
            .collect::<Vec<_>>()
            .join(",");
        headers.push_str(name);
        headers.push(':');
        headers.push_str(&value);
        headers.push('\n');
    }
    Ok(format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        req.method,
        percent::encode(&path, true),
        query,
        headers,
        signed_headers.join(";"),
        payload_hash
    ))
}

fn collapse_spaces(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The parts every SigV4 credential names.
struct Claim<'a> {
    access_key_id: &'a str,
    date: &'a str,
    region: &'a str,
    signed_headers: Vec<&'a str>,
    signature: &'a str,
    amz_date: &'a str,
}

fn parse_scope(
    credential: &str,
    malformed: fn(String) -> S3Error,
) -> Result<(&str, &str, &str), S3Error> {
    // The access key id cannot contain '/', so split from the right.
    let mut parts = credential.rsplitn(5, '/');
    let (Some(terminal), Some(service), Some(region), Some(date), Some(id)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(malformed(
            "the Credential is mal-formed; expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\"."
                .to_string(),
        ));
    };
    if service != "s3" || terminal != "aws4_request" {
        return Err(malformed(format!(
            "the credential scope must end in s3/aws4_request, not {service}/{terminal}"
        )));
    }
    if !REGIONS.contains(&region) {
        return Err(malformed(format!(
            "the region '{region}' is wrong; expecting '{}'",
            super::REGION
        )));
    }
    Ok((id, date, region))
}

/// Authenticates a request signed with SigV4, in the header or the query.
/// `now` is the current time in seconds since the epoch.
pub fn authenticate(
    req: &SignedRequest,
    credentials: &S3Credentials,
    now: u64,
) -> Result<Authenticated, S3Error> {
    let query = query_pairs(req.query)?;
    let q = |name: &str| -> Result<Option<&str>, S3Error> {
        let mut found = query.iter().filter(|(n, _)| n == name);
        let first = found.next().map(|(_, v)| v.as_str());
        if found.next().is_some() {
            return Err(S3Error::authorization_query_parameters_error(format!(
                "{name} is given more than once"
            )));
        }
        Ok(first)
    };
    let authorization = req.headers.get("authorization");
    let presigned = q("X-Amz-Algorithm")?.is_some() || q("X-Amz-Signature")?.is_some();
    if presigned && authorization.is_some() {
        return Err(S3Error::invalid_argument(
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or the Authorization header should be specified",
        ));
    }

    let (claim, payload_hash) = if presigned {
        let need = |name: &'static str| -> Result<&str, S3Error> {
            q(name)?.ok_or_else(|| {
                S3Error::authorization_query_parameters_error(format!(
                    "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters; {name} is missing."
                ))
            })
        };
        if need("X-Amz-Algorithm")? != ALGORITHM {
            return Err(S3Error::authorization_query_parameters_error(
                "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"",
            ));
        }
        let credential = need("X-Amz-Credential")?;
        let (access_key_id, date, region) =
            parse_scope(credential, S3Error::authorization_query_parameters_error)?;
        let amz_date = need("X-Amz-Date")?;
        let expires: u64 = need("X-Amz-Expires")?.parse().map_err(|_| {
            S3Error::authorization_query_parameters_error("X-Amz-Expires should be a number")
        })?;
        if expires > MAX_PRESIGNED_EXPIRES {
            return Err(S3Error::authorization_query_parameters_error(
                "X-Amz-Expires must be less than a week (in seconds) that is; the maximum expires is 604800 seconds",
            ));
        }
        let start = parse_amz_date(amz_date).ok_or_else(|| {
            S3Error::authorization_query_parameters_error(
                "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"",
            )
        })?;
        if start > now + MAX_SKEW_SECS {
            return Err(S3Error::access_denied("Request is not valid yet"));
        }
        if now > start + expires {
            return Err(S3Error::access_denied("Request has expired")
                .with_header("x-amz-expires", expires.to_string()));
        }
        let claim = Claim {
            access_key_id,
            date,
            region,
            signed_headers: need("X-Amz-SignedHeaders")?.split(';').collect(),
            signature: need("X-Amz-Signature")?,
            amz_date,
        };
        let payload = req
            .headers
            .get("x-amz-content-sha256")
            .unwrap_or(UNSIGNED_PAYLOAD);
        (claim, payload)
    } else {
        let Some(authorization) = authorization else {
            return Err(S3Error::access_denied("Anonymous access is forbidden"));
        };
        let Some(fields) = authorization
            .strip_prefix(ALGORITHM)
            .and_then(|r| r.strip_prefix(' '))
        else {
            return Err(S3Error::invalid_argument(
                "Unsupported Authorization Type: Strata accepts AWS Signature Version 4 (AWS4-HMAC-SHA256) only",
            ));
        };
        let (mut credential, mut signed, mut signature) = (None, None, None);
        for field in fields.split(',').map(str::trim) {
            match field.split_once('=') {
                Some(("Credential", v)) => credential = Some(v),
                Some(("SignedHeaders", v)) => signed = Some(v),
                Some(("Signature", v)) => signature = Some(v),
                _ => {}
            }
        }
        let (Some(credential), Some(signed), Some(signature)) = (credential, signed, signature)
        else {
            return Err(S3Error::authorization_header_malformed(
                "The authorization header is malformed; it must name Credential, SignedHeaders and Signature.",
            ));
        };
        let (access_key_id, date, region) =
            parse_scope(credential, S3Error::authorization_header_malformed)?;
        let amz_date = req.headers.get("x-amz-date").ok_or_else(|| {
            S3Error::access_denied("AWS authentication requires a valid Date or x-amz-date header")
        })?;
        let at = parse_amz_date(amz_date).ok_or_else(|| {
            S3Error::access_denied("AWS authentication requires a valid Date or x-amz-date header")
        })?;
        if at.abs_diff(now) > MAX_SKEW_SECS {
            return Err(S3Error::request_time_too_skewed(
                "The difference between the request time and the current time is too large.",
            ));
        }
        let payload = req.headers.get("x-amz-content-sha256").ok_or_else(|| {
            S3Error::invalid_request(
                "Missing required header for this request: x-amz-content-sha256",
            )
        })?;
        let claim = Claim {
            access_key_id,
            date,
            region,
            signed_headers: signed.split(';').collect(),
            signature,
            amz_date,
        };
        (claim, payload)
    };

    if claim.amz_date.get(..8) != Some(claim.date) {
        return Err(S3Error::signature_does_not_match(
            "The credential's date does not match the request's date.",
        ));
    }
    let payload = Payload::parse(payload_hash).ok_or_else(|| {
        S3Error::invalid_argument(
            "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER], or a valid sha256 value.",
        )
    })?;
    let ordered = claim.signed_headers.windows(2).all(|w| w[0] < w[1]);
    if !ordered
        || !claim.signed_headers.contains(&"host")
        || claim
            .signed_headers
            .iter()
            .any(|h| h.is_empty() || h.bytes().any(|b| b.is_ascii_uppercase()))
    {
        return Err(S3Error::signature_does_not_match(
            "SignedHeaders must be lowercase, sorted, and include host.",
        ));
    }
    // S3's rule: every `x-amz-*` header sent is signed. An unsigned one
    // could be added to a captured request or a presigned URL — metadata,
    // a content length of 0 for an aws-chunked body, a trailer — and change
    // what is stored.
    if let Some((name, _)) = req
        .headers
        .iter()
        .find(|(n, _)| n.starts_with("x-amz-") && !claim.signed_headers.contains(n))
    {
        return Err(S3Error::access_denied(format!(
            "There were headers present in the request which were not signed: {name}"
        )));
    }
    let credential = credentials
        .get(claim.access_key_id)
        .ok_or_else(|| {
            S3Error::invalid_access_key_id(
                "The AWS Access Key Id you provided does not exist in our records.",
            )
        })?
        .clone();

    let canonical = canonical_request(req, &query, &claim.signed_headers, payload_hash)?;
    let scope = format!("{}/{}/s3/aws4_request", claim.date, claim.region);
    let to_sign = format!(
        "{ALGORITHM}\n{}\n{scope}\n{}",
        claim.amz_date,
        hex(&Sha256::digest(canonical.as_bytes()))
    );
    let key = signing_key(credential.secret(), claim.date, claim.region);
    let mismatch = || {
        S3Error::signature_does_not_match(
            "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
        )
    };
    let given = decode_hex::<32>(claim.signature).ok_or_else(mismatch)?;
    let mut m = mac(&key);
    m.update(to_sign.as_bytes());
    m.verify_slice(&given).map_err(|_| mismatch())?;

    let chunk_signer =
        matches!(payload, Payload::Chunked { signed: true, .. }).then(|| ChunkSigner {
            key,
            amz_date: claim.amz_date.to_string(),
            scope,
            previous: hex(&given),
        });
    if presigned && matches!(payload, Payload::Chunked { .. }) {
        return Err(S3Error::invalid_request(
            "aws-chunked bodies cannot be sent to a presigned URL",
        ));
    }
    Ok(Authenticated {
        credential,
        payload,
        chunk_signer,
        presigned,
    })
}

#[cfg(test)]
mod tests;

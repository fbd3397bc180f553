//! S3's flexible checksums: `x-amz-checksum-crc32|crc32c|crc64nvme|sha1|sha256`, a
//! base64 digest of the object's bytes, sent as a header or as an
//! aws-chunked trailer (named by `x-amz-trailer`). The AWS SDKs send a
//! CRC32 by default since early 2025. R2 cannot verify CRCs, so the Worker
//! computes the one the client named over the bytes as they stream; a
//! mismatch is `BadDigest` and stores nothing.

use super::S3Error;
use crate::encoding::STANDARD;
use sha2::{Digest, Sha256};

/// A checksum algorithm S3 clients send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// CRC-32 (ISO-HDLC), the SDKs' default.
    Crc32,
    /// CRC-32C (Castagnoli).
    Crc32c,
    /// CRC-64/NVME (the SDKs' choice for full-object checksums).
    Crc64Nvme,
    /// SHA-1.
    Sha1,
    /// SHA-256.
    Sha256,
}

impl Algorithm {
    /// Every algorithm, in S3's documentation order.
    pub const ALL: [Algorithm; 5] = [
        Algorithm::Crc32,
        Algorithm::Crc32c,
        Algorithm::Crc64Nvme,
        Algorithm::Sha1,
        Algorithm::Sha256,
    ];

    /// The header (or trailer) carrying this checksum.
    pub fn header(self) -> &'static str {
        match self {
            Algorithm::Crc32 => "x-amz-checksum-crc32",
            Algorithm::Crc32c => "x-amz-checksum-crc32c",
            Algorithm::Crc64Nvme => "x-amz-checksum-crc64nvme",
            Algorithm::Sha1 => "x-amz-checksum-sha1",
            Algorithm::Sha256 => "x-amz-checksum-sha256",
        }
    }

    /// The name S3's messages use (`CRC32`, `SHA256`, ...): the header's
    /// suffix in capitals.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Crc32 => "CRC32",
            Algorithm::Crc32c => "CRC32C",
            Algorithm::Crc64Nvme => "CRC64NVME",
            Algorithm::Sha1 => "SHA1",
            Algorithm::Sha256 => "SHA256",
        }
    }

    /// The algorithm a header (or trailer) name carries, lowercase.
    pub fn from_header(name: &str) -> Option<Algorithm> {
        Algorithm::ALL.into_iter().find(|a| a.header() == name)
    }

    fn digest_len(self) -> usize {
        match self {
            Algorithm::Crc32 | Algorithm::Crc32c => 4,
            Algorithm::Crc64Nvme => 8,
            Algorithm::Sha1 => 20,
            Algorithm::Sha256 => 32,
        }
    }
}

/// A checksum the client promised: the algorithm and the digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    /// Which algorithm.
    pub algorithm: Algorithm,
    /// The digest's bytes.
    pub digest: Vec<u8>,
}

impl Expected {
    /// Parses a base64 digest for `algorithm` (`InvalidRequest` when it is
    /// not one).
    pub fn parse(algorithm: Algorithm, value: &str) -> Result<Expected, S3Error> {
        match STANDARD.decode(value.trim()) {
            Ok(digest) if digest.len() == algorithm.digest_len() => {
                Ok(Expected { algorithm, digest })
            }
            _ => Err(S3Error::invalid_request(format!(
                "Value for {} header is invalid.",
                algorithm.header()
            ))),
        }
    }

    /// The checksum a request's headers promise, if any (at most one). An
    /// `x-amz-checksum-<name>` of an algorithm not known here is refused,
    /// never ignored.
    pub fn from_headers(
        headers: &crate::http::RequestHeaders,
    ) -> Result<Option<Expected>, S3Error> {
        if let Some((name, _)) = headers.iter().find(|(n, _)| {
            n.strip_prefix("x-amz-checksum-").is_some_and(|a| {
                !matches!(a, "type" | "algorithm" | "mode") && Algorithm::from_header(n).is_none()
            })
        }) {
            return Err(S3Error::invalid_request(format!(
                "The checksum {name} is not supported: send crc32, crc32c, crc64nvme, sha1 or sha256"
            )));
        }
        let mut found = None;
        for algorithm in Algorithm::ALL {
            if let Some(v) = headers.get(algorithm.header()) {
                if found.is_some() {
                    return Err(S3Error::invalid_request(
                        "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.",
                    ));
                }
                found = Some(Expected::parse(algorithm, v)?);
            }
        }
        Ok(found)
    }

    /// The digest as the header shows it.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(&self.digest)
    }
}

/// Computes a checksum over bytes as they stream.
#[derive(Clone)]
pub enum Hasher {
    /// CRC-32, CRC-32C or CRC-64/NVME.
    Crc(Crc),
    /// SHA-1.
    Sha1(sha1::Sha1),
    /// SHA-256.
    Sha256(Sha256),
}

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hasher")
    }
}

/// A running CRC: one table-driven, reflected algorithm for all three.
///
/// The table (2 KiB) is built when the hasher is (2048 shifts), not stored
/// in the Worker: three compile-time tables were 4 KiB of incompressible
/// data in the upload (BENCHMARKS.md, "Bundle size"). One table of 256
/// entries instead of a crate's slice-by-16 tables (16 KiB each), at a
/// speed that is plenty next to the network.
#[derive(Clone)]
pub struct Crc {
    /// The register (32-bit CRCs use its low half).
    state: u64,
    table: Box<[u64; 256]>,
    /// The digest's length in bytes: 4 or 8.
    width: usize,
}

impl Crc {
    fn new(poly: u64, width: usize) -> Crc {
        Crc {
            state: u64::MAX >> (64 - 8 * width),
            table: Box::new(crc_table(poly)),
            width,
        }
    }

    fn update(&mut self, bytes: &[u8]) {
        let mut c = self.state;
        for &b in bytes {
            c = self.table[((c ^ u64::from(b)) & 0xff) as usize] ^ (c >> 8);
        }
        self.state = c;
    }

    fn finish(&self) -> Vec<u8> {
        (!self.state).to_be_bytes()[8 - self.width..].to_vec()
    }
}

/// The reflected CRC table for `poly`.
fn crc_table(poly: u64) -> [u64; 256] {
    let mut table = [0u64; 256];
    for (i, entry) in table.iter_mut().enumerate() {
        let mut c = i as u64;
        for _ in 0..8 {
            c = if c & 1 != 0 { (c >> 1) ^ poly } else { c >> 1 };
        }
        *entry = c;
    }
    table
}

impl Hasher {
    /// A fresh hasher for `algorithm`.
    pub fn new(algorithm: Algorithm) -> Hasher {
        match algorithm {
            // CRC-32 (ISO-HDLC), CRC-32C (Castagnoli) and CRC-64/NVME by
            // their reflected polynomials.
            Algorithm::Crc32 => Hasher::Crc(Crc::new(0xEDB8_8320, 4)),
            Algorithm::Crc32c => Hasher::Crc(Crc::new(0x82F6_3B78, 4)),
            Algorithm::Crc64Nvme => Hasher::Crc(Crc::new(0x9A6C_9329_AC4B_C9B5, 8)),
            Algorithm::Sha1 => Hasher::Sha1(sha1::Sha1::new()),
            Algorithm::Sha256 => Hasher::Sha256(Sha256::new()),
        }
    }

    /// Adds bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        match self {
            Hasher::Crc(c) => c.update(bytes),
            Hasher::Sha1(h) => h.update(bytes),
            Hasher::Sha256(h) => h.update(bytes),
        }
    }

    /// The digest of everything added.
    pub fn finish(self) -> Vec<u8> {
        match self {
            Hasher::Crc(c) => c.finish(),
            Hasher::Sha1(h) => h.finalize().to_vec(),
            Hasher::Sha256(h) => h.finalize().to_vec(),
        }
    }
}

/// Checks a body against what the request promised, as its bytes stream:
/// the signed SHA-256 (`x-amz-content-sha256`) and a flexible checksum.
#[derive(Debug, Clone)]
pub struct BodyCheck {
    sha256: Option<([u8; 32], Sha256)>,
    checksum: Option<(Expected, Hasher)>,
    length: u64,
}

impl BodyCheck {
    /// Checks `sha256` (the signed payload hash) and `checksum`, either may be absent.
    pub fn new(sha256: Option<[u8; 32]>, checksum: Option<Expected>) -> BodyCheck {
        BodyCheck {
            sha256: sha256.map(|h| (h, Sha256::new())),
            checksum: checksum.map(|e| {
                let h = Hasher::new(e.algorithm);
                (e, h)
            }),
            length: 0,
        }
    }

    /// Whether anything is checked at all (if not, the body need not pass
    /// through the Worker).
    pub fn is_needed(&self) -> bool {
        self.sha256.is_some() || self.checksum.is_some()
    }

    /// Adds bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        self.length += bytes.len() as u64;
        if let Some((_, h)) = &mut self.sha256 {
            h.update(bytes);
        }
        if let Some((_, h)) = &mut self.checksum {
            h.update(bytes);
        }
    }

    /// Bytes seen so far.
    pub fn length(&self) -> u64 {
        self.length
    }

    /// Checks the digests: `XAmzContentSHA256Mismatch` or `BadDigest`.
    pub fn finish(self) -> Result<(), S3Error> {
        if let Some((want, h)) = self.sha256 {
            if <[u8; 32]>::from(h.finalize()) != want {
                return Err(S3Error::content_sha256_mismatch(
                    "The provided 'x-amz-content-sha256' header does not match what was computed.",
                ));
            }
        }
        if let Some((want, h)) = self.checksum {
            if h.finish() != want.digest {
                return Err(S3Error::bad_digest(format!(
                    "The {} you specified did not match the calculated checksum.",
                    want.algorithm.name()
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(algorithm: Algorithm, bytes: &[u8]) -> String {
        let mut h = Hasher::new(algorithm);
        h.update(bytes);
        STANDARD.encode(h.finish())
    }

    #[test]
    fn names_are_the_header_suffixes_in_capitals() {
        for a in Algorithm::ALL {
            let suffix = a.header().trim_start_matches("x-amz-checksum-");
            assert_eq!(a.name(), suffix.to_uppercase());
        }
    }

    #[test]
    fn known_digests() {
        // "123456789" is every CRC's check value.
        let mut h = Hasher::new(Algorithm::Crc32);
        h.update(b"1234");
        h.update(b"56789");
        assert_eq!(h.finish(), 0xCBF4_3926u32.to_be_bytes());
        let mut h = Hasher::new(Algorithm::Crc32c);
        h.update(b"123456789");
        assert_eq!(h.finish(), 0xE306_9283u32.to_be_bytes());
        let mut h = Hasher::new(Algorithm::Crc64Nvme);
        h.update(b"12345");
        h.update(b"6789");
        assert_eq!(h.finish(), 0xAE8B_1486_0A79_9888u64.to_be_bytes());
        // The SDKs' CRC32 of an empty body, as presigned PUTs carry it.
        assert_eq!(b64(Algorithm::Crc32, b""), "AAAAAA==");
        assert_eq!(b64(Algorithm::Sha1, b"abc"), "qZk+NkcGgWq6PiVxeFDCbJzQ2J0=");
        assert_eq!(
            b64(Algorithm::Sha256, b""),
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
    }

    #[test]
    fn body_check_finds_mismatches() {
        let headers = crate::http::RequestHeaders::new([(
            "x-amz-checksum-crc32".to_string(),
            b64(Algorithm::Crc32, b"Hello R2!"),
        )]);
        let expected = Expected::from_headers(&headers).unwrap();
        let mut ok = BodyCheck::new(None, expected.clone());
        ok.update(b"Hello ");
        ok.update(b"R2!");
        assert!(ok.is_needed());
        assert_eq!(ok.length(), 9);
        ok.finish().unwrap();
        let mut bad = BodyCheck::new(None, expected);
        bad.update(b"Hello R3!");
        assert_eq!(bad.finish().unwrap_err().code, "BadDigest");
        let sha: [u8; 32] = Sha256::digest(b"x").into();
        let mut bad = BodyCheck::new(Some(sha), None);
        bad.update(b"y");
        assert_eq!(bad.finish().unwrap_err().code, "XAmzContentSHA256Mismatch");
        assert!(!BodyCheck::new(None, None).is_needed());
    }

    #[test]
    fn refuses_malformed_and_several_checksums() {
        let one = |n: &str, v: &str| {
            Expected::from_headers(&crate::http::RequestHeaders::new([(
                n.to_string(),
                v.to_string(),
            )]))
        };
        assert_eq!(
            one("x-amz-checksum-crc32", "AAAA").unwrap_err().code,
            "InvalidRequest"
        );
        assert_eq!(
            one("x-amz-checksum-sha1", "AAAAAA==").unwrap_err().code,
            "InvalidRequest"
        );
        let two = crate::http::RequestHeaders::new([
            ("x-amz-checksum-crc32".to_string(), "AAAAAA==".to_string()),
            ("x-amz-checksum-crc32c".to_string(), "AAAAAA==".to_string()),
        ]);
        assert!(Expected::from_headers(&two).is_err());
        // An algorithm not known here is refused, not ignored; the other
        // x-amz-checksum-* headers are not digests.
        assert_eq!(
            one("x-amz-checksum-crc128", "AAAAAA==").unwrap_err().code,
            "InvalidRequest"
        );
        for name in [
            "x-amz-checksum-type",
            "x-amz-checksum-algorithm",
            "x-amz-checksum-mode",
        ] {
            assert_eq!(one(name, "CRC32").unwrap(), None);
        }
        assert!(one("x-amz-checksum-crc64nvme", "AAAAAAAAAAA=")
            .unwrap()
            .is_some());
    }
}

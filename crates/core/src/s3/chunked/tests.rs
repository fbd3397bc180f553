//! The S3 reference's chunked-upload example, the SDKs' unsigned form with
//! a CRC32 trailer, fed in every piece size, and each way a body can be
//! wrong.

use super::*;
use crate::http::RequestHeaders;
use crate::s3::credentials::S3Credentials;
use crate::s3::sigv4::{authenticate, SignedRequest};
use base64::Engine;

const T0: u64 = 1_369_353_600;
const SIGS: [&str; 3] = [
    "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
    "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
    "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
];

fn example_signer() -> ChunkSigner {
    let creds = S3Credentials::parse(
        r#"{"AKIAIOSFODNN7EXAMPLE": {"secret": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "scopes": ["objects:write"]}}"#,
    )
    .unwrap();
    let headers = RequestHeaders::new(
        [
            ("content-encoding", "aws-chunked"),
            ("content-length", "66824"),
            ("host", "s3.amazonaws.com"),
            ("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"),
            ("x-amz-date", "20130524T000000Z"),
            ("x-amz-decoded-content-length", "66560"),
            ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
            ("authorization", "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class,Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"),
        ]
        .map(|(n, v)| (n.to_string(), v.to_string())),
    );
    let req = SignedRequest {
        method: "PUT",
        path: "/examplebucket/chunkObject.txt",
        query: None,
        headers: &headers,
    };
    authenticate(&req, &creds, T0)
        .unwrap()
        .chunk_signer
        .unwrap()
}

fn example_body() -> Vec<u8> {
    let mut body = Vec::new();
    for (size, sig) in [(65536usize, SIGS[0]), (1024, SIGS[1]), (0, SIGS[2])] {
        body.extend_from_slice(format!("{size:x};chunk-signature={sig}\r\n").as_bytes());
        body.extend(std::iter::repeat_n(b'a', size));
        body.extend_from_slice(b"\r\n");
    }
    body
}

fn decode(
    mut d: ChunkedDecoder,
    body: &[u8],
    piece: usize,
) -> Result<(Vec<u8>, Option<Expected>), S3Error> {
    let mut out = Vec::new();
    for p in body.chunks(piece) {
        d.feed(p, &mut out)?;
    }
    let (n, checksum) = d.finish()?;
    assert_eq!(n as usize, out.len());
    Ok((out, checksum))
}

#[test]
fn aws_example_decodes_to_the_payload_in_any_pieces() {
    let body = example_body();
    assert_eq!(body.len(), 66824, "the example's content-length");
    for piece in [1, 2, 7, 86, 4096, 65536, body.len()] {
        let d = ChunkedDecoder::new(Some(example_signer()), None, None, Some(66560)).unwrap();
        let (out, checksum) = decode(d, &body, piece).unwrap();
        assert_eq!(out, vec![b'a'; 66560], "piece {piece}");
        assert_eq!(checksum, None);
    }
}

#[test]
fn signed_chunks_cannot_be_altered_or_reordered() {
    let body = example_body();
    let mut altered = body.clone();
    altered[200] = b'b';
    let d = ChunkedDecoder::new(Some(example_signer()), None, None, None).unwrap();
    assert_eq!(
        decode(d, &altered, 1000).unwrap_err().code,
        "SignatureDoesNotMatch"
    );
    let unsigned = String::from_utf8(body.clone())
        .unwrap()
        .replace(&format!(";chunk-signature={}", SIGS[0]), "");
    let d = ChunkedDecoder::new(Some(example_signer()), None, None, None).unwrap();
    assert_eq!(
        decode(d, unsigned.as_bytes(), 1000).unwrap_err().code,
        "SignatureDoesNotMatch"
    );
    let swapped = String::from_utf8(body).unwrap().replace(SIGS[1], SIGS[2]);
    let d = ChunkedDecoder::new(Some(example_signer()), None, None, None).unwrap();
    assert_eq!(
        decode(d, swapped.as_bytes(), 1000).unwrap_err().code,
        "SignatureDoesNotMatch"
    );
}

fn crc32_b64(bytes: &[u8]) -> String {
    let mut h = Hasher::new(Algorithm::Crc32);
    h.update(bytes);
    base64::engine::general_purpose::STANDARD.encode(h.finish())
}

/// What the JS SDK sends for a stream body by default:
/// `STREAMING-UNSIGNED-PAYLOAD-TRAILER` with `x-amz-trailer: x-amz-checksum-crc32`.
fn sdk_body(payload: &[u8], crc: &str) -> Vec<u8> {
    let mut body = Vec::new();
    for chunk in payload.chunks(65536) {
        body.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        body.extend_from_slice(chunk);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("0\r\nx-amz-checksum-crc32:{crc}\r\n\r\n").as_bytes());
    body
}

#[test]
fn unsigned_chunks_with_a_crc32_trailer() {
    let payload: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let body = sdk_body(&payload, &crc32_b64(&payload));
    for piece in [1, 13, 65536, body.len()] {
        let d =
            ChunkedDecoder::new(None, Some("x-amz-checksum-crc32"), None, Some(200_000)).unwrap();
        let (out, checksum) = decode(d, &body, piece).unwrap();
        assert_eq!(out, payload);
        assert_eq!(checksum.unwrap().algorithm, Algorithm::Crc32);
    }
    // An empty stream.
    let d = ChunkedDecoder::new(None, Some("x-amz-checksum-crc32"), None, Some(0)).unwrap();
    let (out, _) = decode(d, &sdk_body(b"", "AAAAAA=="), 3).unwrap();
    assert!(out.is_empty());
}

#[test]
fn each_malformed_body_is_refused() {
    let payload = b"Hello R2!".to_vec();
    let good = sdk_body(&payload, &crc32_b64(&payload));
    let new = |len: Option<u64>| {
        ChunkedDecoder::new(None, Some("x-amz-checksum-crc32"), None, len).unwrap()
    };
    let code = |d, body: &[u8]| decode(d, body, 5).unwrap_err().code;
    assert_eq!(
        code(new(None), &sdk_body(&payload, &crc32_b64(b"other"))),
        "BadDigest"
    );
    assert_eq!(
        code(new(None), &sdk_body(&payload, "AAAA")),
        "InvalidRequest"
    );
    assert_eq!(code(new(Some(10)), &good), "IncompleteBody");
    assert_eq!(code(new(None), &good[..good.len() - 2]), "IncompleteBody");
    let mut extra = good.clone();
    extra.extend_from_slice(b"x");
    assert_eq!(code(new(None), &extra), "IncompleteBody");
    let long_chunk = String::from_utf8(good.clone())
        .unwrap()
        .replacen("9\r\n", "8\r\n", 1);
    assert_eq!(code(new(None), long_chunk.as_bytes()), "IncompleteBody");
    assert_eq!(code(new(None), b"zz\r\n"), "IncompleteBody");
    assert_eq!(code(new(None), &vec![b'1'; MAX_LINE + 1]), "IncompleteBody");
    let undeclared = String::from_utf8(good.clone())
        .unwrap()
        .replace("x-amz-checksum-crc32:", "x-amz-meta-a:");
    assert_eq!(code(new(None), undeclared.as_bytes()), "InvalidRequest");
    let missing = String::from_utf8(good).unwrap().replace(
        &format!("x-amz-checksum-crc32:{}\r\n", crc32_b64(&payload)),
        "",
    );
    assert_eq!(code(new(None), missing.as_bytes()), "IncompleteBody");
    assert!(ChunkedDecoder::new(
        None,
        Some("x-amz-checksum-crc32,x-amz-checksum-sha1"),
        None,
        None
    )
    .is_err());
    assert!(ChunkedDecoder::new(None, Some("x-amz-meta-a"), None, None).is_err());
}

#[test]
fn a_checksum_header_is_verified_in_the_trailer_modes() {
    let payload = b"Hello R2!";
    let mut body = format!("{:x}\r\n", payload.len()).into_bytes();
    body.extend_from_slice(payload);
    body.extend_from_slice(b"\r\n0\r\n\r\n");
    let header = |value: &str| Expected::parse(Algorithm::Crc32, value).ok();
    // No trailer declared: the header's checksum is the one checked.
    let d = ChunkedDecoder::new(None, None, header(&crc32_b64(payload)), Some(9)).unwrap();
    let (out, checksum) = decode(d, &body, 4).unwrap();
    assert_eq!(
        (out.as_slice(), checksum.unwrap().algorithm),
        (&payload[..], Algorithm::Crc32)
    );
    let d = ChunkedDecoder::new(None, None, header(&crc32_b64(b"other")), Some(9)).unwrap();
    assert_eq!(decode(d, &body, 4).unwrap_err().code, "BadDigest");
    // A header and a trailer checksum both: refused before any byte.
    let e = ChunkedDecoder::new(
        None,
        Some("x-amz-checksum-crc32"),
        header(&crc32_b64(payload)),
        Some(9),
    )
    .unwrap_err();
    assert_eq!(e.code, "InvalidRequest");
    // A CRC64NVME trailer is verified like the others.
    let mut h = Hasher::new(Algorithm::Crc64Nvme);
    h.update(payload);
    let crc = base64::engine::general_purpose::STANDARD.encode(h.finish());
    let mut body = format!("{:x}\r\n", payload.len()).into_bytes();
    body.extend_from_slice(payload);
    body.extend_from_slice(format!("\r\n0\r\nx-amz-checksum-crc64nvme:{crc}\r\n\r\n").as_bytes());
    let d = ChunkedDecoder::new(None, Some("x-amz-checksum-crc64nvme"), None, Some(9)).unwrap();
    decode(d, &body, 5).unwrap();
    let bad = String::from_utf8(body)
        .unwrap()
        .replace(&crc, "AAAAAAAAAAA=");
    let d = ChunkedDecoder::new(None, Some("x-amz-checksum-crc64nvme"), None, Some(9)).unwrap();
    assert_eq!(decode(d, bad.as_bytes(), 5).unwrap_err().code, "BadDigest");
}

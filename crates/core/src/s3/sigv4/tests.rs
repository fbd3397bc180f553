//! SigV4 against AWS's published examples (the S3 API reference's
//! "Signature Calculations for the Authorization Header" and "Query
//! String" examples, and its chunked-upload example), then every refusal.

use super::*;
use crate::http::RequestHeaders;

const AKID: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
/// 2013-05-24T00:00:00Z, the examples' time.
const T0: u64 = 1_369_353_600;
const HOST: &str = "examplebucket.s3.amazonaws.com";

fn creds() -> S3Credentials {
    S3Credentials::parse(&format!(
        r#"{{"{AKID}": {{"secret": "{SECRET}", "scopes": ["objects:read", "objects:write"]}}}}"#
    ))
    .unwrap()
}

fn headers(pairs: &[(&str, &str)]) -> RequestHeaders {
    RequestHeaders::new(pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())))
}

fn auth(signed: &str, signature: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential={AKID}/20130524/us-east-1/s3/aws4_request,SignedHeaders={signed},Signature={signature}"
    )
}

fn check(
    method: &str,
    path: &str,
    query: Option<&str>,
    h: &RequestHeaders,
    now: u64,
) -> Result<Authenticated, S3Error> {
    authenticate(
        &SignedRequest {
            method,
            path,
            query,
            headers: h,
        },
        &creds(),
        now,
    )
}

#[test]
fn parses_amz_dates() {
    assert_eq!(parse_amz_date("20130524T000000Z"), Some(T0));
    assert_eq!(parse_amz_date("19700101T000000Z"), Some(0));
    assert_eq!(parse_amz_date("20240229T235959Z"), Some(1_709_251_199));
    for bad in [
        "2013-05-24T00:00:00Z",
        "20131324T000000Z",
        "20130524T000000",
        "2013052aT000000Z",
        "00000101T000000Z",
        "",
    ] {
        assert_eq!(parse_amz_date(bad), None, "{bad}");
    }
}

#[test]
fn aws_example_get_object_with_range() {
    let empty = EMPTY_SHA256;
    let h = headers(&[
        ("host", HOST),
        ("range", "bytes=0-9"),
        ("x-amz-content-sha256", empty),
        ("x-amz-date", "20130524T000000Z"),
        (
            "authorization",
            &auth(
                "host;range;x-amz-content-sha256;x-amz-date",
                "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
            ),
        ),
    ]);
    let ok = check("GET", "/test.txt", None, &h, T0).unwrap();
    assert_eq!(ok.credential.access_key_id, AKID);
    assert!(!ok.presigned);
    assert!(matches!(ok.payload, Payload::Sha256(_)));
    // Any change to a signed part breaks it.
    assert_eq!(
        check("GET", "/test.txT", None, &h, T0).unwrap_err().code,
        "SignatureDoesNotMatch"
    );
    assert_eq!(
        check("HEAD", "/test.txt", None, &h, T0).unwrap_err().code,
        "SignatureDoesNotMatch"
    );
    assert_eq!(
        check("GET", "/test.txt", Some("a=b"), &h, T0)
            .unwrap_err()
            .code,
        "SignatureDoesNotMatch"
    );
    // An x-amz-* header that was not signed cannot be added to it.
    let mut added: Vec<(String, String)> = h.iter().map(|(n, v)| (n.into(), v.into())).collect();
    added.push(("x-amz-meta-evil".into(), "1".into()));
    let e = check("GET", "/test.txt", None, &RequestHeaders::new(added), T0).unwrap_err();
    assert_eq!((e.code, e.status), ("AccessDenied", 403));
    // Clock skew: 15 minutes either way.
    assert!(check("GET", "/test.txt", None, &h, T0 + MAX_SKEW_SECS).is_ok());
    let e = check("GET", "/test.txt", None, &h, T0 + MAX_SKEW_SECS + 1).unwrap_err();
    assert_eq!((e.code, e.status), ("RequestTimeTooSkewed", 403));
    let e = check("GET", "/test.txt", None, &h, T0 - MAX_SKEW_SECS - 1).unwrap_err();
    assert_eq!(e.code, "RequestTimeTooSkewed");
}

#[test]
fn aws_example_put_object_encodes_the_path() {
    let h = headers(&[
        ("date", "Fri, 24 May 2013 00:00:00 GMT"),
        ("host", HOST),
        ("x-amz-date", "20130524T000000Z"),
        ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
        (
            "x-amz-content-sha256",
            "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072",
        ),
        (
            "authorization",
            &auth(
                "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
                "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd",
            ),
        ),
    ]);
    // `$` arrives encoded or not: the canonical URI is AWS's encoding either way.
    for path in ["/test%24file.text", "/test$file.text"] {
        let ok = check("PUT", path, None, &h, T0).unwrap();
        let Payload::Sha256(hash) = ok.payload else {
            panic!("{:?}", ok.payload)
        };
        assert_eq!(
            hash,
            <[u8; 32]>::from(Sha256::digest(b"Welcome to Amazon S3."))
        );
    }
}

#[test]
fn aws_example_query_parameters_are_canonicalised() {
    let empty = EMPTY_SHA256;
    let h = headers(&[
        ("host", HOST),
        ("x-amz-content-sha256", empty),
        ("x-amz-date", "20130524T000000Z"),
        (
            "authorization",
            &auth(
                "host;x-amz-content-sha256;x-amz-date",
                "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543",
            ),
        ),
    ]);
    check("GET", "/", Some("lifecycle"), &h, T0).unwrap();
    let h = headers(&[
        ("host", HOST),
        ("x-amz-content-sha256", empty),
        ("x-amz-date", "20130524T000000Z"),
        (
            "authorization",
            &auth(
                "host;x-amz-content-sha256;x-amz-date",
                "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7",
            ),
        ),
    ]);
    // Sorted whatever the order they came in.
    check("GET", "/", Some("max-keys=2&prefix=J"), &h, T0).unwrap();
    check("GET", "/", Some("prefix=J&max-keys=2"), &h, T0).unwrap();
}

const PRESIGNED: &str = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404";

#[test]
fn aws_example_presigned_get() {
    let h = headers(&[("host", HOST)]);
    let ok = check("GET", "/test.txt", Some(PRESIGNED), &h, T0 + 60).unwrap();
    assert!(ok.presigned);
    assert_eq!(ok.payload, Payload::Unsigned);
    // Valid until the last second of X-Amz-Expires.
    assert!(check("GET", "/test.txt", Some(PRESIGNED), &h, T0 + 86_400).is_ok());
    let e = check("GET", "/test.txt", Some(PRESIGNED), &h, T0 + 86_401).unwrap_err();
    assert_eq!(
        (e.code, e.status, e.message.as_str()),
        ("AccessDenied", 403, "Request has expired")
    );
    let e = check("GET", "/test.txt", Some(PRESIGNED), &h, T0 - 3600).unwrap_err();
    assert_eq!(e.code, "AccessDenied");
    // A tampered signature, a longer validity, the header too.
    let tampered = PRESIGNED.replace("Expires=86400", "Expires=86401");
    assert_eq!(
        check("GET", "/test.txt", Some(&tampered), &h, T0)
            .unwrap_err()
            .code,
        "SignatureDoesNotMatch"
    );
    let week = PRESIGNED.replace("Expires=86400", "Expires=604801");
    let e = check("GET", "/test.txt", Some(&week), &h, T0).unwrap_err();
    assert_eq!(
        (e.code, e.status),
        ("AuthorizationQueryParametersError", 400)
    );
    let both = headers(&[("host", HOST), ("authorization", "AWS4-HMAC-SHA256 x")]);
    assert_eq!(
        check("GET", "/test.txt", Some(PRESIGNED), &both, T0)
            .unwrap_err()
            .code,
        "InvalidArgument"
    );
    let missing = PRESIGNED.replace("&X-Amz-SignedHeaders=host", "");
    assert_eq!(
        check("GET", "/test.txt", Some(&missing), &h, T0)
            .unwrap_err()
            .code,
        "AuthorizationQueryParametersError"
    );
}

#[test]
fn refusals_name_s3_codes() {
    let empty = EMPTY_SHA256;
    let base = |authz: &str, date: &str| {
        headers(&[
            ("host", HOST),
            ("x-amz-content-sha256", empty),
            ("x-amz-date", date),
            ("authorization", authz),
        ])
    };
    let sig = "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41";
    let cases: Vec<(String, &str, &str, u16)> = vec![
        (
            auth("host;x-amz-content-sha256;x-amz-date", sig).replace(AKID, "AKIDUNKNOWN"),
            "20130524T000000Z",
            "InvalidAccessKeyId",
            403,
        ),
        (
            auth("host;x-amz-content-sha256;x-amz-date", sig).replace("us-east-1", "eu-west-1"),
            "20130524T000000Z",
            "AuthorizationHeaderMalformed",
            400,
        ),
        (
            auth("host;x-amz-content-sha256;x-amz-date", sig).replace("/s3/", "/ec2/"),
            "20130524T000000Z",
            "AuthorizationHeaderMalformed",
            400,
        ),
        (
            auth("host;x-amz-content-sha256;x-amz-date", sig),
            "20130525T000000Z",
            "RequestTimeTooSkewed",
            403,
        ),
        (
            auth("x-amz-content-sha256;x-amz-date", sig),
            "20130524T000000Z",
            "SignatureDoesNotMatch",
            403,
        ),
        (
            auth("host;x-amz-content-sha256;x-amz-date", "zz"),
            "20130524T000000Z",
            "SignatureDoesNotMatch",
            403,
        ),
        (
            "AWS4-HMAC-SHA256 Credential=x".to_string(),
            "20130524T000000Z",
            "AuthorizationHeaderMalformed",
            400,
        ),
        (
            "AWS AKID:sig".to_string(),
            "20130524T000000Z",
            "InvalidArgument",
            400,
        ),
        (
            auth("host;range;x-amz-content-sha256;x-amz-date", sig),
            "20130524T000000Z",
            "AccessDenied",
            403,
        ),
    ];
    for (authz, date, code, status) in cases {
        let h = base(&authz, date);
        let e = check("GET", "/test.txt", None, &h, T0).unwrap_err();
        assert_eq!((e.code, e.status), (code, status), "{authz}");
    }
    let anonymous = headers(&[("host", HOST)]);
    assert_eq!(
        check("GET", "/", None, &anonymous, T0).unwrap_err().code,
        "AccessDenied"
    );
    let no_hash = headers(&[
        ("host", HOST),
        ("x-amz-date", "20130524T000000Z"),
        ("authorization", &auth("host;x-amz-date", sig)),
    ]);
    assert_eq!(
        check("GET", "/", None, &no_hash, T0).unwrap_err().code,
        "InvalidRequest"
    );
}

#[test]
fn regions_auto_and_empty_are_accepted() {
    for region in ["auto", "us-east-1", ""] {
        let key = signing_key(SECRET, "20130524", region);
        let path = "/s3/strata/a%20b/c%21.txt";
        let canonical = format!(
            "PUT\n{path}\nx-id=PutObject\nhost:{HOST}\nx-amz-content-sha256:UNSIGNED-PAYLOAD\nx-amz-date:20130524T000000Z\n\nhost;x-amz-content-sha256;x-amz-date\nUNSIGNED-PAYLOAD"
        );
        let scope = format!("20130524/{region}/s3/aws4_request");
        let to_sign = format!(
            "AWS4-HMAC-SHA256\n20130524T000000Z\n{scope}\n{}",
            hex(&Sha256::digest(canonical.as_bytes()))
        );
        let sig = hex(&hmac(&key, &to_sign));
        let h = headers(&[
            ("host", HOST),
            ("x-amz-content-sha256", "UNSIGNED-PAYLOAD"),
            ("x-amz-date", "20130524T000000Z"),
            (
                "authorization",
                &format!("AWS4-HMAC-SHA256 Credential={AKID}/{scope}, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature={sig}"),
            ),
        ]);
        // `!` may arrive raw; AWS's canonical form encodes it.
        for p in [path, "/s3/strata/a%20b/c!.txt"] {
            let ok = check("PUT", p, Some("x-id=PutObject"), &h, T0).unwrap();
            assert_eq!(ok.payload, Payload::Unsigned, "{region}");
        }
    }
}

/// The S3 reference's chunked upload example: 66 560 bytes of `a` in
/// chunks of 65 536 and 1 024 bytes, then the empty chunk.
#[test]
fn aws_example_chunked_upload_signatures_chain() {
    let h = headers(&[
        ("content-encoding", "aws-chunked"),
        ("content-length", "66824"),
        ("host", "s3.amazonaws.com"),
        ("x-amz-content-sha256", STREAMING_SIGNED),
        ("x-amz-date", "20130524T000000Z"),
        ("x-amz-decoded-content-length", "66560"),
        ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
        (
            "authorization",
            &auth(
                "content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class",
                "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9",
            ),
        ),
    ]);
    let ok = check("PUT", "/examplebucket/chunkObject.txt", None, &h, T0).unwrap();
    assert_eq!(
        ok.payload,
        Payload::Chunked {
            signed: true,
            trailer: false
        }
    );
    let mut signer = ok.chunk_signer.unwrap();
    let digest = |n: usize| <[u8; 32]>::from(Sha256::digest(vec![b'a'; n]));
    let mut wrong = signer.clone();
    assert!(!wrong.verify_chunk(
        &digest(1024),
        "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648"
    ));
    assert!(signer.verify_chunk(
        &digest(65536),
        "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648"
    ));
    assert!(signer.verify_chunk(
        &digest(1024),
        "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497"
    ));
    assert!(signer.verify_chunk(
        &digest(0),
        "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9"
    ));
}

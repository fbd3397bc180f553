//! JWT bearer tokens against the real Worker: HS256 with the test secret,
//! RS256 and ES256 with keys made for this run and served as a JWKS by a
//! tiny HTTP server on 127.0.0.1 (the Worker fetches it as `JWT_JWKS_URL`).
//!
//! Every test worker gets the JWT settings ([`worker_vars`], added to the
//! stack's default vars), so a JWT works wherever an API key does.

use crate::client::{call, call_base, unix_now, Reply};
use crate::stack::{free_port, Stack};
use crate::{Outcome, TestFn};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use p256::ecdsa::SigningKey as EsKey;
use rsa::pkcs1v15::SigningKey as RsKey;
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use rsa::signature::{SignatureEncoding, Signer};
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use serde_json::{json, Value};
use sha2::Sha256;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// The Worker's `JWT_HS256_SECRET` in the tests.
pub const HS256_SECRET: &str = "strata-test-jwt-hs256-secret-not-for-production-use";
/// The Worker's `JWT_ISSUER` in the tests.
pub const ISSUER: &str = "https://issuer.strata.test";
/// The Worker's `JWT_AUDIENCE` in the tests.
pub const AUDIENCE: &str = "strata-tests";

/// The JWT settings every test worker gets. Starts the JWKS server.
pub fn worker_vars() -> Vec<(&'static str, String)> {
    vec![
        ("JWT_HS256_SECRET", HS256_SECRET.to_string()),
        ("JWT_JWKS_URL", jwks().url.clone()),
        ("JWT_ISSUER", ISSUER.to_string()),
        ("JWT_AUDIENCE", AUDIENCE.to_string()),
        // Short, so the key-rotation test need not wait long.
        ("JWT_JWKS_MIN_REFRESH_SECONDS", "1".to_string()),
    ]
}

pub fn tests() -> Vec<TestFn> {
    trials![
        auth::hs256_token_works_like_a_key_with_its_scopes,
        auth::rs256_and_es256_tokens_verify_with_the_jwks,
        auth::rejected_tokens_are_401_invalid_token,
        auth::clock_skew_is_tolerated,
        auth::an_unknown_kid_refreshes_the_jwks,
        auth::unknown_kids_do_not_hammer_the_jwks,
        auth::unreachable_jwks_is_503_never_a_pass,
        auth::log_has_the_subject_never_the_token,
    ]
}

// ---------------------------------------------------------------- keys and the JWKS server

struct TestKeys {
    rsa: RsaPrivateKey,
    es: EsKey,
    /// An EC key that is not in the JWKS at first (rotation), and one never in it.
    es_rotated: EsKey,
    es_stranger: EsKey,
}

fn keys() -> &'static TestKeys {
    static KEYS: OnceLock<TestKeys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let mut rng = rand_core::OsRng;
        TestKeys {
            rsa: RsaPrivateKey::new(&mut rng, 2048).expect("RSA key generation"),
            es: EsKey::random(&mut rng),
            es_rotated: EsKey::random(&mut rng),
            es_stranger: EsKey::random(&mut rng),
        }
    })
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn rsa_jwk(kid: &str) -> Value {
    let public = keys().rsa.to_public_key();
    json!({"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
           "n": b64(&public.n().to_bytes_be()), "e": b64(&public.e().to_bytes_be())})
}

fn ec_jwk(key: &EsKey, kid: &str) -> Value {
    let point = key.verifying_key().to_encoded_point(false);
    let (x, y) = (point.x().expect("x"), point.y().expect("y"));
    json!({"kty": "EC", "kid": kid, "crv": "P-256", "x": b64(x), "y": b64(y)})
}

struct JwksServer {
    url: String,
    keys: Arc<Mutex<Vec<Value>>>,
    hits: Arc<AtomicUsize>,
}

/// The JWKS server: serves `{"keys": [...]}` on any path, counts requests.
fn jwks() -> &'static JwksServer {
    static SERVER: OnceLock<JwksServer> = OnceLock::new();
    SERVER.get_or_init(|| {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the JWKS server");
        let port = listener.local_addr().expect("JWKS address").port();
        let set = Arc::new(Mutex::new(vec![
            rsa_jwk("rs-test"),
            ec_jwk(&keys().es, "es-test"),
            // Keys the Worker must skip or never use for other algorithms.
            json!({"kty": "oct", "kid": "hmac", "k": b64(HS256_SECRET.as_bytes())}),
        ]));
        let hits = Arc::new(AtomicUsize::new(0));
        let (served, counted) = (set.clone(), hits.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(&stream);
                let mut line = String::new();
                // Read the request head; a GET has no body.
                while reader.read_line(&mut line).map(|n| n > 2).unwrap_or(false) {
                    line.clear();
                }
                counted.fetch_add(1, Ordering::SeqCst);
                let body = json!({ "keys": *served.lock().unwrap_or_else(|e| e.into_inner()) }).to_string();
                let mut stream = &stream;
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        JwksServer {
            url: format!("http://127.0.0.1:{port}/.well-known/jwks.json"),
            keys: set,
            hits,
        }
    })
}

// ---------------------------------------------------------------- tokens

/// Valid claims for the test worker, with `changes` applied (null removes).
fn claims(changes: Value) -> Value {
    let mut c = json!({
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "alice",
        "iat": unix_now(),
        "exp": unix_now() + 300,
        "scope": "sql:read objects:write openid",
    });
    for (k, v) in changes.as_object().expect("changes are an object") {
        if v.is_null() {
            c.as_object_mut().expect("claims").remove(k);
        } else {
            c[k] = v.clone();
        }
    }
    c
}

fn signing_input(header: &Value, claims: &Value) -> String {
    format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    )
}

fn hmac_token(key: &[u8], header: Value, claims: &Value) -> String {
    hmac_raw(key, &header, claims.to_string().as_bytes())
}

/// An HMAC-signed token with any payload bytes.
fn hmac_raw(key: &[u8], header: &Value, payload: &[u8]) -> String {
    let input = format!("{}.{}", b64(header.to_string().as_bytes()), b64(payload));
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    mac.update(input.as_bytes());
    format!("{input}.{}", b64(&mac.finalize().into_bytes()))
}

fn hs256(claims: &Value) -> String {
    hmac_token(
        HS256_SECRET.as_bytes(),
        json!({"alg": "HS256", "typ": "JWT"}),
        claims,
    )
}

fn rs256_with(header: Value, claims: &Value) -> String {
    let input = signing_input(&header, claims);
    let signer = RsKey::<Sha256>::new(keys().rsa.clone());
    format!("{input}.{}", b64(&signer.sign(input.as_bytes()).to_vec()))
}

fn rs256(claims: &Value) -> String {
    rs256_with(
        json!({"alg": "RS256", "kid": "rs-test", "typ": "JWT"}),
        claims,
    )
}

fn es256_with(key: &EsKey, header: Value, claims: &Value) -> String {
    let input = signing_input(&header, claims);
    // JWS's ES256 signature: r || s, 64 bytes.
    let signature: p256::ecdsa::Signature = key.sign(input.as_bytes());
    format!("{input}.{}", b64(&signature.to_bytes()))
}

fn es256(claims: &Value) -> String {
    es256_with(
        &keys().es,
        json!({"alg": "ES256", "kid": "es-test"}),
        claims,
    )
}

// ---------------------------------------------------------------- requests

fn d1_select(base: &str, token: &str) -> Reply {
    let body = json!({"sql": "select 1 as one", "params": []}).to_string();
    call_base(
        base,
        "POST",
        "/v1/d1/query",
        Some(token),
        &[("content-type", "application/json")],
        Some(body.as_bytes()),
    )
}

fn assert_invalid_token(r: &Reply, case: &str) {
    assert_eq!(r.status, 401, "{case}: {}", r.body);
    r.assert_error(401, "unauthorized");
    let challenge = r.header("www-authenticate").unwrap_or_default();
    assert!(
        challenge.starts_with("Bearer ") && challenge.contains("error=\"invalid_token\""),
        "{case}: {challenge}"
    );
}

// ---------------------------------------------------------------- tests

fn hs256_token_works_like_a_key_with_its_scopes(s: &Stack) -> Outcome {
    let token = hs256(&claims(json!({})));
    let r = d1_select(&s.base, &token);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["rows"][0]["one"], 1);
    // objects:write implies objects:read.
    let r = call(s, "GET", "/v1/objects?limit=1", Some(&token), &[], None);
    assert_eq!(r.status, 200, "{}", r.body);
    // A scope the token lacks: 403 naming it, like a key (a store scope
    // grants REST tables, never raw SQL).
    let pg = json!({"sql": "select 1", "params": []}).to_string();
    let rest_only = hs256(&claims(json!({"scope": "pg:read pg:write"})));
    let r = call(
        s,
        "POST",
        "/v1/pg/query",
        Some(&rest_only),
        &[("content-type", "application/json")],
        Some(pg.as_bytes()),
    );
    let v = r.assert_error(403, "forbidden");
    assert_eq!(v["details"]["requiredScope"], "sql:read");
    // Scopes as an array claim; unknown names are ignored.
    let token = hs256(&claims(json!({"scope": ["sql:read", "calendar.read"]})));
    let r = call(
        s,
        "POST",
        "/v1/pg/query",
        Some(&token),
        &[("content-type", "application/json")],
        Some(pg.as_bytes()),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    // Signed URLs made with a token name it as their signer and work.
    let writer = hs256(&claims(json!({})));
    let sign = json!({"method": "PUT", "key": "jwt-signed/a.txt", "expiresIn": 60}).to_string();
    let r = call(
        s,
        "POST",
        "/v1/signed-urls",
        Some(&writer),
        &[("content-type", "application/json")],
        Some(sign.as_bytes()),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let url = r.json()["url"].as_str().unwrap_or_default().to_string();
    let path = url.strip_prefix(&s.base).unwrap_or_default();
    assert!(path.contains("keyId=jwt%3Aalice"), "{url}");
    let r = call(
        s,
        "PUT",
        path,
        None,
        &[("content-type", "text/plain")],
        Some(b"via a JWT-signed URL"),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    // No scope claim at all: authenticated, but allowed nothing.
    let token = hs256(&claims(json!({"scope": null})));
    d1_select(&s.base, &token).assert_error(403, "forbidden");
    Ok(())
}

fn rs256_and_es256_tokens_verify_with_the_jwks(s: &Stack) -> Outcome {
    for (name, token) in [
        ("RS256", rs256(&claims(json!({})))),
        ("ES256", es256(&claims(json!({})))),
        // Without a kid, every key of the algorithm is tried.
        (
            "RS256 without kid",
            rs256_with(json!({"alg": "RS256"}), &claims(json!({}))),
        ),
        (
            "ES256 without kid",
            es256_with(&keys().es, json!({"alg": "ES256"}), &claims(json!({}))),
        ),
        // aud as an array holding ours.
        (
            "ES256 aud array",
            es256(&claims(json!({"aud": ["other-api", AUDIENCE]}))),
        ),
    ] {
        let r = d1_select(&s.base, &token);
        assert_eq!(r.status, 200, "{name}: {}", r.body);
    }
    Ok(())
}

fn rejected_tokens_are_401_invalid_token(s: &Stack) -> Outcome {
    let ok = claims(json!({}));
    let rsa_pem = keys()
        .rsa
        .to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .expect("PEM");
    let tampered = {
        let token = rs256(&ok);
        let parts: Vec<&str> = token.split('.').collect();
        let forged = b64(claims(json!({"sub": "mallory", "scope": "admin"}))
            .to_string()
            .as_bytes());
        format!("{}.{forged}.{}", parts[0], parts[2])
    };
    let cases: Vec<(&str, String)> = vec![
        (
            "alg none",
            format!(
                "{}.",
                signing_input(&json!({"alg": "none", "typ": "JWT"}), &ok)
            ),
        ),
        (
            "alg none with a signature",
            format!(
                "{}.{}",
                signing_input(&json!({"alg": "none"}), &ok),
                b64(b"sig")
            ),
        ),
        // Algorithm confusion: HS256 "signed" with the RSA public key as the secret.
        (
            "HS256 keyed with the RSA public key (PEM)",
            hmac_token(
                rsa_pem.as_bytes(),
                json!({"alg": "HS256", "kid": "rs-test"}),
                &ok,
            ),
        ),
        (
            "HS256 keyed with the RSA modulus",
            hmac_token(
                &keys().rsa.to_public_key().n().to_bytes_be(),
                json!({"alg": "HS256", "kid": "rs-test"}),
                &ok,
            ),
        ),
        (
            "ES256 naming the RSA key",
            es256_with(&keys().es, json!({"alg": "ES256", "kid": "rs-test"}), &ok),
        ),
        (
            "RS256 naming the EC key",
            rs256_with(json!({"alg": "RS256", "kid": "es-test"}), &ok),
        ),
        (
            "RS256 naming the JWKS's oct key",
            rs256_with(json!({"alg": "RS256", "kid": "hmac"}), &ok),
        ),
        (
            "HS512",
            hmac_token(HS256_SECRET.as_bytes(), json!({"alg": "HS512"}), &ok),
        ),
        (
            "PS256",
            rs256_with(json!({"alg": "PS256", "kid": "rs-test"}), &ok),
        ),
        ("expired", hs256(&claims(json!({"exp": unix_now() - 120})))),
        (
            "expired (ES256)",
            es256(&claims(json!({"exp": unix_now() - 3600}))),
        ),
        ("no exp", hs256(&claims(json!({"exp": null})))),
        (
            "not yet valid",
            hs256(&claims(json!({"nbf": unix_now() + 600}))),
        ),
        (
            "wrong issuer",
            hs256(&claims(json!({"iss": "https://evil.example"}))),
        ),
        ("no issuer", rs256(&claims(json!({"iss": null})))),
        (
            "wrong audience",
            es256(&claims(json!({"aud": "another-api"}))),
        ),
        (
            "wrong audiences",
            hs256(&claims(json!({"aud": ["a", "b"]}))),
        ),
        ("no audience", hs256(&claims(json!({"aud": null})))),
        (
            "HS256 with another secret",
            hmac_token(
                b"another-secret-that-is-at-least-32-bytes",
                json!({"alg": "HS256"}),
                &ok,
            ),
        ),
        ("RS256 payload altered", tampered),
        (
            "ES256 by a key not in the JWKS",
            es256_with(
                &keys().es_stranger,
                json!({"alg": "ES256", "kid": "es-test"}),
                &ok,
            ),
        ),
        (
            "unknown kid",
            es256_with(
                &keys().es_stranger,
                json!({"alg": "ES256", "kid": "nobody"}),
                &ok,
            ),
        ),
        (
            "header not JSON",
            format!("{}.{}.{}", b64(b"not json"), b64(b"{}"), b64(&[0; 32])),
        ),
        // Correctly signed, so the payload itself is what is refused.
        (
            "payload not JSON",
            hmac_raw(
                HS256_SECRET.as_bytes(),
                &json!({"alg": "HS256"}),
                b"not json",
            ),
        ),
        (
            "payload a JSON array",
            hmac_raw(HS256_SECRET.as_bytes(), &json!({"alg": "HS256"}), b"[1]"),
        ),
        (
            "payload not base64url",
            format!("{}.A.{}", b64(br#"{"alg":"HS256"}"#), b64(&[0; 32])),
        ),
        (
            "crit header",
            hmac_token(
                HS256_SECRET.as_bytes(),
                json!({"alg": "HS256", "crit": ["exp"]}),
                &ok,
            ),
        ),
    ];
    for (case, token) in &cases {
        let r = d1_select(&s.base, token);
        assert_invalid_token(&r, case);
        assert!(
            !r.body.contains(token.as_str()),
            "{case}: the token is echoed"
        );
    }
    // A dotted credential that is not base64url is an (unknown) API key: 401 too.
    let r = d1_select(&s.base, "sk_not.a.jwt!");
    r.assert_error(401, "unauthorized");
    Ok(())
}

fn clock_skew_is_tolerated(s: &Stack) -> Outcome {
    // JWT_CLOCK_SKEW_SECONDS defaults to 60.
    let late = hs256(&claims(json!({"exp": unix_now() - 20})));
    assert_eq!(d1_select(&s.base, &late).status, 200);
    let early = es256(&claims(json!({"nbf": unix_now() + 20})));
    assert_eq!(d1_select(&s.base, &early).status, 200);
    Ok(())
}

fn an_unknown_kid_refreshes_the_jwks(s: &Stack) -> Outcome {
    let server = jwks();
    // Make sure the worker has a key set cached, then publish a new key.
    assert_eq!(d1_select(&s.base, &es256(&claims(json!({})))).status, 200);
    server
        .keys
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(ec_jwk(&keys().es_rotated, "es-rotated"));
    // JWT_JWKS_MIN_REFRESH_SECONDS is 1 in the tests.
    std::thread::sleep(Duration::from_millis(1100));
    let token = es256_with(
        &keys().es_rotated,
        json!({"alg": "ES256", "kid": "es-rotated"}),
        &claims(json!({})),
    );
    let r = d1_select(&s.base, &token);
    assert_eq!(
        r.status, 200,
        "a new kid is found after a refresh: {}",
        r.body
    );
    Ok(())
}

fn unknown_kids_do_not_hammer_the_jwks(s: &Stack) -> Outcome {
    let server = jwks();
    assert_eq!(d1_select(&s.base, &rs256(&claims(json!({})))).status, 200);
    let before = server.hits.load(Ordering::SeqCst);
    let started = std::time::Instant::now();
    for i in 0..20 {
        let kid = format!("made-up-{i}");
        let token = es256_with(
            &keys().es_stranger,
            json!({"alg": "ES256", "kid": kid}),
            &claims(json!({})),
        );
        assert_invalid_token(&d1_select(&s.base, &token), &kid);
    }
    let fetches = server.hits.load(Ordering::SeqCst) - before;
    // At most one fetch per second (JWT_JWKS_MIN_REFRESH_SECONDS=1) by
    // this worker, plus one another test may cause meanwhile.
    let allowed = started.elapsed().as_secs() as usize + 2;
    assert!(
        fetches <= allowed,
        "{fetches} JWKS fetches for 20 unknown kids (at most {allowed})"
    );
    Ok(())
}

fn unreachable_jwks_is_503_never_a_pass(s: &Stack) -> Outcome {
    let dead = format!("http://127.0.0.1:{}/jwks.json", free_port()?);
    let w = s.spawn_isolated_worker("wrangler-dead-jwks", &[("JWT_JWKS_URL", &dead)])?;
    for token in [
        rs256(&claims(json!({}))),
        es256(&claims(json!({}))),
        es256(&claims(json!({}))),
    ] {
        let r = d1_select(&w.base, &token);
        let v = r.assert_error(503, "store_unavailable");
        assert_eq!(v["details"]["store"], "jwks", "{v}");
        assert!(r.header("retry-after").is_some());
        assert!(!r.body.contains(&dead), "no internal address in the body");
    }
    // Tokens that need no JWKS, and API keys, still work there.
    assert_eq!(d1_select(&w.base, &hs256(&claims(json!({})))).status, 200);
    assert_eq!(d1_select(&w.base, &s.admin_key).status, 200);
    Ok(())
}

fn log_has_the_subject_never_the_token(s: &Stack) -> Outcome {
    let marker = "jwt-log-check-5c1e";
    let token = es256(&claims(json!({"sub": "log-subject-42"})));
    let body = json!({"sql": "select 1", "params": []}).to_string();
    let r = call(
        s,
        "POST",
        "/v1/d1/query",
        Some(&token),
        &[
            ("content-type", "application/json"),
            ("x-request-id", marker),
        ],
        Some(body.as_bytes()),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let v = s.log_record(marker);
    assert_eq!(v["keyId"], "jwt:log-subject-42");
    let log = s.worker_log();
    assert!(!log.contains(&token), "a token must never be logged");
    let signature = token.rsplit('.').next().unwrap_or_default();
    assert!(
        !log.contains(signature),
        "a token's signature must never be logged"
    );
    assert!(
        !log.contains(HS256_SECRET),
        "the secret must never be logged"
    );
    Ok(())
}

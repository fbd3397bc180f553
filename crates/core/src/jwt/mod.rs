//! JWT bearer tokens: an alternative to API keys.
//!
//! A bearer credential is a JWT when it has the shape of a compact JWS —
//! three base64url segments separated by dots ([`is_jwt`]); API keys
//! (`sk_...`) never contain a dot. A token becomes a [`Principal`] in three
//! steps, each a type, so a step cannot be skipped:
//!
//! 1. [`UnverifiedToken::decode`]: splits and decodes the token and reads the
//!    header. Only `HS256`, `RS256` and `ES256` are known; `alg: none`,
//!    anything else and any `crit` extension are rejected here.
//! 2. The signature: HS256 with the secret `JWT_HS256_SECRET`, here
//!    ([`UnverifiedToken::verify_hs256`]); RS256/ES256 with a key from the
//!    configured JWKS ([`jwks`]), verified by the Worker with WebCrypto and
//!    reported back with [`UnverifiedToken::verified_externally`]. The
//!    header's `alg` picks the verifier and a key is used only for the one
//!    algorithm its type allows, so a token cannot choose to be checked with
//!    an RSA public key as an HMAC secret (algorithm confusion).
//! 3. [`VerifiedToken::principal`]: `exp`, `nbf` (with the configured clock
//!    skew), `iss`, `aud`, then the scopes from the configured claim
//!    ([`claims`]).
//!
//! Every rejection is a [`TokenError`], a `401` with
//! `WWW-Authenticate: Bearer error="invalid_token"`. Messages are fixed
//! strings: they never echo a token, a claim or a secret.

pub mod claims;
pub mod config;
pub mod jwks;

pub use claims::ClaimRules;
pub use config::JwtConfig;

use crate::auth::Principal;
use crate::encoding::URL_SAFE_NO_PAD;
use crate::error::{ApiError, ErrorCode};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

/// Longest token accepted (bytes). Real tokens are well under 2 KiB; the cap
/// bounds the work an unauthenticated request can cause.
pub const MAX_TOKEN_BYTES: usize = 8192;

/// Whether a bearer credential is a JWT rather than an API key: exactly
/// three dot-separated segments of base64url characters. The first two must
/// not be empty; the third may be (that is how `alg: none` tokens look, and
/// they must be rejected as tokens, not looked up as keys).
pub fn is_jwt(credential: &str) -> bool {
    let mut segments = credential.split('.');
    let (Some(header), Some(payload), Some(signature), None) = (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) else {
        return false;
    };
    let base64url = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    !header.is_empty()
        && !payload.is_empty()
        && base64url(header)
        && base64url(payload)
        && base64url(signature)
}

/// A signature algorithm Strata accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    /// HMAC with SHA-256, keyed with `JWT_HS256_SECRET`.
    Hs256,
    /// RSASSA-PKCS1-v1_5 with SHA-256, an RSA key (≥ 2048 bits) from the JWKS.
    Rs256,
    /// ECDSA on P-256 with SHA-256, an EC key from the JWKS.
    Es256,
}

impl Alg {
    /// The JOSE name.
    pub fn as_str(self) -> &'static str {
        match self {
            Alg::Hs256 => "HS256",
            Alg::Rs256 => "RS256",
            Alg::Es256 => "ES256",
        }
    }

    /// Parses a JOSE `alg` (case-sensitive, as RFC 7515 says).
    fn parse(name: &str) -> Result<Alg, TokenError> {
        match name {
            "HS256" => Ok(Alg::Hs256),
            "RS256" => Ok(Alg::Rs256),
            "ES256" => Ok(Alg::Es256),
            _ if name.eq_ignore_ascii_case("none") => Err(TokenError::AlgNone),
            _ => Err(TokenError::AlgNotAllowed),
        }
    }
}

/// Why a token was refused. Every variant is a `401 invalid_token`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    /// Neither `JWT_HS256_SECRET` nor `JWT_JWKS_URL` is set.
    NotEnabled,
    /// Longer than [`MAX_TOKEN_BYTES`].
    TooLong,
    /// Not three base64url segments, or a header or payload that is not a
    /// JSON object of the expected shape (the reason is for tests and logs).
    Malformed(&'static str),
    /// `alg: none`: an unsigned token.
    AlgNone,
    /// An algorithm Strata does not accept, or one this deployment has no
    /// key for, or one the selected key may not be used with.
    AlgNotAllowed,
    /// The header names a critical extension (`crit`) we do not implement.
    CriticalHeader,
    /// No key in the JWKS has the token's `kid` (after a refresh, if one was allowed).
    UnknownKey,
    /// The signature does not verify.
    BadSignature,
    /// The token has no `exp`: tokens that never expire are refused.
    MissingExpiry,
    /// `exp` is in the past (beyond the clock skew).
    Expired,
    /// `nbf` is in the future (beyond the clock skew).
    NotYetValid,
    /// `iss` is not `JWT_ISSUER`.
    WrongIssuer,
    /// `aud` does not contain `JWT_AUDIENCE`.
    WrongAudience,
}

impl TokenError {
    /// A fixed, client-safe sentence.
    pub fn message(self) -> &'static str {
        match self {
            TokenError::NotEnabled => "JWT bearer tokens are not accepted by this deployment",
            TokenError::TooLong => "the token is too long",
            TokenError::Malformed(_) => "the token is malformed",
            TokenError::AlgNone => "unsigned tokens (alg none) are not accepted",
            TokenError::AlgNotAllowed => "the token's signature algorithm is not accepted",
            TokenError::CriticalHeader => {
                "the token uses a critical header extension that is not supported"
            }
            TokenError::UnknownKey => "the token's signing key is unknown",
            TokenError::BadSignature => "the token's signature is invalid",
            TokenError::MissingExpiry => "the token has no exp claim",
            TokenError::Expired => "the token has expired",
            TokenError::NotYetValid => "the token is not valid yet",
            TokenError::WrongIssuer => "the token's issuer is not accepted",
            TokenError::WrongAudience => "the token is not meant for this audience",
        }
    }
}

impl From<TokenError> for ApiError {
    fn from(e: TokenError) -> Self {
        // RFC 6750 §3: the challenge names the error; the description is one
        // of our fixed sentences (no quotes or backslashes to escape).
        ApiError::new(ErrorCode::Unauthorized, e.message())
            .with_header(
                "WWW-Authenticate",
                format!(
                    "Bearer realm=\"strata\", error=\"invalid_token\", error_description=\"{}\"",
                    e.message()
                ),
            )
            .with_hint("send Authorization: Bearer <api key or JWT from the configured issuer>")
    }
}

/// The JOSE header fields Strata reads. Duplicate names are an error
/// (serde rejects a repeated field), unknown ones are ignored — except that
/// `jku`, `jwk` and `x5u` are never used to find a key: keys come only from
/// the configuration.
#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    crit: Option<serde_json::Value>,
}

/// A decoded token whose signature has not been checked yet. Nothing in it
/// may be trusted except as input to choosing and running the verifier.
#[derive(Debug)]
pub struct UnverifiedToken<'a> {
    alg: Alg,
    kid: Option<String>,
    signing_input: &'a str,
    signature: Vec<u8>,
    payload: Vec<u8>,
}

impl<'a> UnverifiedToken<'a> {
    /// Splits and decodes a compact JWS and reads its header.
    pub fn decode(token: &'a str) -> Result<UnverifiedToken<'a>, TokenError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(TokenError::TooLong);
        }
        if !is_jwt(token) {
            return Err(TokenError::Malformed("not three base64url segments"));
        }
        // is_jwt guarantees exactly two dots.
        let (signing_input, signature) = token
            .rsplit_once('.')
            .ok_or(TokenError::Malformed("not three base64url segments"))?;
        let (header, payload) = signing_input
            .split_once('.')
            .ok_or(TokenError::Malformed("not three base64url segments"))?;
        let header = URL_SAFE_NO_PAD
            .decode(header)
            .map_err(|_| TokenError::Malformed("the header is not base64url"))?;
        // serde would also read a struct from a JSON array; a header is an object.
        if header.trim_ascii_start().first() != Some(&b'{') {
            return Err(TokenError::Malformed(
                "the header is not a JSON object with alg",
            ));
        }
        let header: Header = serde_json::from_slice(&header)
            .map_err(|_| TokenError::Malformed("the header is not a JSON object with alg"))?;
        let alg = Alg::parse(&header.alg)?;
        if header.crit.is_some() {
            return Err(TokenError::CriticalHeader);
        }
        let payload = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| TokenError::Malformed("the payload is not base64url"))?;
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| TokenError::Malformed("the signature is not base64url"))?;
        // The lengths each algorithm produces: HMAC-SHA256 32 bytes, ES256
        // r||s 64 bytes (JWS's form, also WebCrypto's), RS256 the modulus
        // length, at least 2048 bits (checked against the key later).
        let fits = match alg {
            Alg::Hs256 => signature.len() == 32,
            Alg::Es256 => signature.len() == 64,
            Alg::Rs256 => signature.len() >= 256,
        };
        if !fits {
            return Err(TokenError::BadSignature);
        }
        Ok(UnverifiedToken {
            alg,
            kid: header.kid,
            signing_input,
            signature,
            payload,
        })
    }

    /// The header's algorithm.
    pub fn alg(&self) -> Alg {
        self.alg
    }

    /// The header's key id, if any.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The bytes the signature covers (`<header>.<payload>`, as sent).
    pub fn signing_input(&self) -> &[u8] {
        self.signing_input.as_bytes()
    }

    /// The decoded signature.
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    /// Checks an HS256 signature with `secret`, in constant time. A token
    /// whose header says anything but HS256 is refused: the secret is never
    /// used for another algorithm, and no other key is ever used as an HMAC
    /// secret.
    pub fn verify_hs256(self, secret: &Hs256Secret) -> Result<VerifiedToken, TokenError> {
        if self.alg != Alg::Hs256 {
            return Err(TokenError::AlgNotAllowed);
        }
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&secret.0).map_err(|_| TokenError::BadSignature)?;
        mac.update(self.signing_input.as_bytes());
        mac.verify_slice(&self.signature)
            .map_err(|_| TokenError::BadSignature)?;
        Ok(VerifiedToken {
            payload: self.payload,
        })
    }

    /// Accepts the result of a signature check done elsewhere (WebCrypto,
    /// with a key [`jwks::JwkSet::select`] chose for this token's `alg`).
    pub fn verified_externally(self, signature_valid: bool) -> Result<VerifiedToken, TokenError> {
        if signature_valid {
            Ok(VerifiedToken {
                payload: self.payload,
            })
        } else {
            Err(TokenError::BadSignature)
        }
    }
}

/// A token whose signature verified; its claims are still to be checked.
#[derive(Debug)]
pub struct VerifiedToken {
    payload: Vec<u8>,
}

impl VerifiedToken {
    /// Checks the claims against `rules` at `now` (seconds since the epoch)
    /// and returns who is calling.
    pub fn principal(&self, rules: &ClaimRules, now: u64) -> Result<Principal, TokenError> {
        rules.principal(&self.payload, now)
    }

    /// The token's `exp` in whole seconds, rounded down: a credential made
    /// with the token (a signed URL) must not outlive it. `None` without a
    /// usable `exp`, which [`VerifiedToken::principal`] refuses anyway.
    pub fn expires(&self) -> Option<u64> {
        let claims: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(&self.payload).ok()?;
        let exp = claims::numeric_date(&claims, "exp").ok().flatten()?;
        // A finite float; `as` saturates above u64::MAX.
        Some(exp.max(0.0).floor() as u64)
    }
}

/// The HS256 secret (`JWT_HS256_SECRET`). Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Hs256Secret(Vec<u8>);

impl Hs256Secret {
    /// Shortest secret accepted: RFC 7518 §3.2 asks for a key at least as
    /// long as the hash output.
    pub const MIN_BYTES: usize = 32;

    /// Wraps a secret, refusing one shorter than [`Hs256Secret::MIN_BYTES`].
    pub fn new(secret: &[u8]) -> Option<Hs256Secret> {
        (secret.len() >= Self::MIN_BYTES).then(|| Hs256Secret(secret.to_vec()))
    }
}

impl std::fmt::Debug for Hs256Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hs256Secret(..)")
    }
}

#[cfg(test)]
pub(crate) mod test_tokens {
    //! Making tokens for the unit tests (HS256 only: RS256/ES256 signatures
    //! are checked by WebCrypto in the Worker and by the integration tests).

    use super::*;

    pub const SECRET: &[u8] = b"unit-test-secret-that-is-32-bytes-long!";

    pub fn b64(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// `<header>.<payload>.<HS256 signature with key>`.
    pub fn hs256_with(key: &[u8], header: &str, claims: &str) -> String {
        let input = format!("{}.{}", b64(header.as_bytes()), b64(claims.as_bytes()));
        let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
        mac.update(input.as_bytes());
        format!("{input}.{}", b64(&mac.finalize().into_bytes()))
    }

    pub fn hs256(claims: &str) -> String {
        hs256_with(SECRET, r#"{"alg":"HS256","typ":"JWT"}"#, claims)
    }
}

#[cfg(test)]
mod tests {
    use super::test_tokens::*;
    use super::*;

    fn secret() -> Hs256Secret {
        Hs256Secret::new(SECRET).unwrap()
    }

    #[test]
    fn tells_tokens_from_api_keys() {
        assert!(is_jwt("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"));
        assert!(is_jwt("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."));
        for not in [
            "sk_live_0123abcd",
            "sk_test_admin_00ff",
            "a.b",
            "a.b.c.d",
            ".b.c",
            "a..c",
            "a.b.c=",
            "a.b+/.c",
            "a b.c.d",
            "",
        ] {
            assert!(!is_jwt(not), "{not}");
        }
    }

    #[test]
    fn decodes_a_token_and_verifies_hs256() {
        let token = hs256(r#"{"sub":"alice","exp":2000000000}"#);
        let t = UnverifiedToken::decode(&token).unwrap();
        assert_eq!(t.alg(), Alg::Hs256);
        assert_eq!(t.kid(), None);
        assert_eq!(t.signature().len(), 32);
        assert!(token.starts_with(std::str::from_utf8(t.signing_input()).unwrap()));
        assert!(t.verify_hs256(&secret()).is_ok());
    }

    #[test]
    fn reads_the_expiry_rounded_down() {
        let expires = |payload: &str| {
            UnverifiedToken::decode(&hs256(payload))
                .unwrap()
                .verify_hs256(&secret())
                .unwrap()
                .expires()
        };
        assert_eq!(expires(r#"{"exp":2000000000}"#), Some(2_000_000_000));
        assert_eq!(expires(r#"{"exp":2000000000.9}"#), Some(2_000_000_000));
        assert_eq!(expires(r#"{"exp":-5}"#), Some(0));
        assert_eq!(expires(r#"{"exp":"soon"}"#), None);
        assert_eq!(expires(r#"{"sub":"alice"}"#), None);
    }

    #[test]
    fn reads_the_kid() {
        let token = hs256_with(SECRET, r#"{"alg":"HS256","kid":"k1"}"#, "{}");
        assert_eq!(UnverifiedToken::decode(&token).unwrap().kid(), Some("k1"));
    }

    #[test]
    fn a_wrong_secret_or_altered_token_is_a_bad_signature() {
        let other = hs256_with(
            b"another-secret-that-is-also-32-bytes!!",
            r#"{"alg":"HS256"}"#,
            "{}",
        );
        let e = UnverifiedToken::decode(&other)
            .unwrap()
            .verify_hs256(&secret());
        assert_eq!(e.unwrap_err(), TokenError::BadSignature);

        let token = hs256(r#"{"sub":"alice"}"#);
        let mut parts: Vec<&str> = token.split('.').collect();
        let forged = b64(br#"{"sub":"admin"}"#);
        parts[1] = &forged;
        let altered = parts.join(".");
        let e = UnverifiedToken::decode(&altered)
            .unwrap()
            .verify_hs256(&secret());
        assert_eq!(e.unwrap_err(), TokenError::BadSignature);
    }

    #[test]
    fn alg_none_is_refused_whatever_its_spelling() {
        for alg in ["none", "None", "NONE"] {
            let t = format!(
                "{}.{}.",
                b64(format!(r#"{{"alg":"{alg}"}}"#).as_bytes()),
                b64(br#"{"sub":"x"}"#)
            );
            assert_eq!(
                UnverifiedToken::decode(&t).unwrap_err(),
                TokenError::AlgNone
            );
        }
    }

    #[test]
    fn unknown_algorithms_are_refused() {
        for alg in ["HS512", "RS512", "PS256", "EdDSA", "hs256", ""] {
            let t = hs256_with(SECRET, &format!(r#"{{"alg":"{alg}"}}"#), "{}");
            assert_eq!(
                UnverifiedToken::decode(&t).unwrap_err(),
                TokenError::AlgNotAllowed,
                "{alg}"
            );
        }
    }

    #[test]
    fn the_secret_is_only_used_for_hs256() {
        // An RS256 header with an HMAC tag of the right length for RS256 is
        // still never checked with the secret.
        let input = format!("{}.{}", b64(br#"{"alg":"RS256"}"#), b64(b"{}"));
        let token = format!("{input}.{}", b64(&[7u8; 256]));
        let t = UnverifiedToken::decode(&token).unwrap();
        assert_eq!(
            t.verify_hs256(&secret()).unwrap_err(),
            TokenError::AlgNotAllowed
        );
    }

    #[test]
    fn signature_lengths_must_fit_the_algorithm() {
        for (alg, len) in [
            ("HS256", 31),
            ("HS256", 64),
            ("ES256", 63),
            ("ES256", 72),
            ("RS256", 128),
        ] {
            let input = format!(
                "{}.{}",
                b64(format!(r#"{{"alg":"{alg}"}}"#).as_bytes()),
                b64(b"{}")
            );
            let token = format!("{input}.{}", b64(&vec![1u8; len]));
            assert_eq!(
                UnverifiedToken::decode(&token).unwrap_err(),
                TokenError::BadSignature,
                "{alg} {len}"
            );
        }
    }

    #[test]
    fn malformed_tokens_are_refused() {
        let ok_payload = b64(b"{}");
        let sig = b64(&[0u8; 32]);
        for token in [
            "abc".to_string(),
            format!("{}.{ok_payload}.{sig}", b64(b"not json")),
            format!("{}.{ok_payload}.{sig}", b64(br#"{"typ":"JWT"}"#)),
            format!("{}.{ok_payload}.{sig}", b64(br#"{"alg":256}"#)),
            format!("{}.{ok_payload}.{sig}", b64(br#"["HS256"]"#)),
            format!(
                "{}.{ok_payload}.{sig}",
                b64(br#"{"alg":"HS256","alg":"HS256"}"#)
            ),
            // Padding and non-canonical trailing bits are not base64url.
            format!("{}=.{ok_payload}.{sig}", b64(br#"{"alg":"HS256"}"#)),
            format!("eyJhbGciOiJIUzI1NiJ8.{ok_payload}.{sig}"),
            format!("{}.{ok_payload}.A", b64(br#"{"alg":"HS256"}"#)),
        ] {
            let e = UnverifiedToken::decode(&token).unwrap_err();
            assert!(matches!(e, TokenError::Malformed(_)), "{token}: {e:?}");
        }
    }

    #[test]
    fn critical_extensions_and_oversized_tokens_are_refused() {
        let t = hs256_with(
            SECRET,
            r#"{"alg":"HS256","crit":["b64"],"b64":false}"#,
            "{}",
        );
        assert_eq!(
            UnverifiedToken::decode(&t).unwrap_err(),
            TokenError::CriticalHeader
        );
        let long = hs256(&format!(r#"{{"pad":"{}"}}"#, "x".repeat(MAX_TOKEN_BYTES)));
        assert_eq!(
            UnverifiedToken::decode(&long).unwrap_err(),
            TokenError::TooLong
        );
    }

    #[test]
    fn external_verification_gates_the_claims() {
        let t = hs256(r#"{"alg":"x"}"#);
        let bad = UnverifiedToken::decode(&t)
            .unwrap()
            .verified_externally(false);
        assert_eq!(bad.unwrap_err(), TokenError::BadSignature);
        assert!(UnverifiedToken::decode(&t)
            .unwrap()
            .verified_externally(true)
            .is_ok());
    }

    #[test]
    fn every_rejection_is_a_401_invalid_token_challenge() {
        for e in [
            TokenError::NotEnabled,
            TokenError::Malformed("x"),
            TokenError::AlgNone,
            TokenError::BadSignature,
            TokenError::Expired,
            TokenError::WrongAudience,
        ] {
            let api: ApiError = e.into();
            assert_eq!(api.status(), 401);
            assert_eq!(api.code, ErrorCode::Unauthorized);
            let (_, challenge) = api
                .headers
                .iter()
                .find(|(n, _)| *n == "WWW-Authenticate")
                .unwrap();
            assert!(challenge.starts_with("Bearer "), "{challenge}");
            assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
            assert!(!e.message().contains(['"', '\\']));
        }
    }

    #[test]
    fn short_secrets_are_refused_and_never_printed() {
        assert!(Hs256Secret::new(&[1u8; 31]).is_none());
        let s = Hs256Secret::new(b"a-secret-value-of-32-bytes-long!").unwrap();
        assert!(!format!("{s:?}").contains("secret-value"));
    }
}

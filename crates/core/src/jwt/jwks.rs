//! The JWKS (RFC 7517) that holds the RS256/ES256 verification keys: parsing
//! it, choosing the key for a token, and when to fetch it again.
//!
//! Only public signature keys usable with an accepted algorithm are kept:
//! RSA keys of at least 2048 bits (RS256) and EC P-256 keys (ES256). Keys
//! for other algorithms or curves, encryption keys (`use: enc`), keys whose
//! `key_ops` exclude `verify`, symmetric (`oct`) keys and any key carrying
//! private members are skipped, never an error: an issuer's set often holds
//! keys for other purposes. A key is used only for the algorithm its type
//! allows (and its `alg`, when it names one).

use super::{Alg, TokenError, UnverifiedToken};
use crate::encoding::URL_SAFE_NO_PAD;
use serde_json::{json, Map, Value};

/// Most entries a key set may have (issuers publish a handful).
pub const MAX_KEYS: usize = 64;
/// Largest key set document read (bytes).
pub const MAX_JWKS_BYTES: usize = 64 * 1024;

/// Why a fetched key set cannot be used (for the log; the client gets 503).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwksError(pub &'static str);

/// One usable verification key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Jwk {
    kid: Option<String>,
    alg: Alg,
    /// RSA modulus length in bytes (an RS256 signature has exactly this length).
    modulus_len: Option<usize>,
    /// The key's public members only, as JSON: what WebCrypto imports.
    public_jwk: String,
}

impl Jwk {
    /// The key id, if the set gave one.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The one algorithm this key verifies.
    pub fn alg(&self) -> Alg {
        self.alg
    }

    /// The public JWK as JSON (`kty` and the public parameters only), for
    /// `crypto.subtle.importKey("jwk", ...)`.
    pub fn public_jwk_json(&self) -> &str {
        &self.public_jwk
    }

    fn parse(entry: &Map<String, Value>) -> Option<Jwk> {
        let text = |name: &str| entry.get(name).and_then(Value::as_str);
        const PRIVATE: [&str; 7] = ["d", "p", "q", "dp", "dq", "qi", "k"];
        if PRIVATE.iter().any(|m| entry.contains_key(*m)) {
            return None;
        }
        if entry.get("use").is_some_and(|u| u != "sig") {
            return None;
        }
        if let Some(ops) = entry.get("key_ops") {
            let verifies = ops
                .as_array()
                .is_some_and(|ops| ops.iter().any(|o| o == "verify"));
            if !verifies {
                return None;
            }
        }
        let kid = match entry.get("kid") {
            None => None,
            Some(Value::String(kid)) => Some(kid.clone()),
            Some(_) => return None,
        };
        let (alg, modulus_len, public_jwk) = match text("kty")? {
            "RSA" => {
                let n = text("n")?;
                let e = text("e")?;
                let modulus = URL_SAFE_NO_PAD.decode(n).ok()?;
                let exponent = URL_SAFE_NO_PAD.decode(e).ok()?;
                let modulus_len = modulus.iter().skip_while(|b| **b == 0).count();
                // 2048 to 8192 bits; a public exponent of at most 64 bits.
                if !(256..=1024).contains(&modulus_len) || exponent.is_empty() || exponent.len() > 8
                {
                    return None;
                }
                let jwk = json!({ "kty": "RSA", "n": n, "e": e });
                (Alg::Rs256, Some(modulus_len), jwk)
            }
            "EC" => {
                if text("crv")? != "P-256" {
                    return None;
                }
                let (x, y) = (text("x")?, text("y")?);
                let coordinate = |c: &str| URL_SAFE_NO_PAD.decode(c).ok().filter(|b| b.len() == 32);
                coordinate(x)?;
                coordinate(y)?;
                let jwk = json!({ "kty": "EC", "crv": "P-256", "x": x, "y": y });
                (Alg::Es256, None, jwk)
            }
            _ => return None,
        };
        // A key that names an algorithm is used for that one only.
        if text("alg").is_some_and(|a| a != alg.as_str())
            || entry.get("alg").is_some_and(|a| !a.is_string())
        {
            return None;
        }
        Some(Jwk {
            kid,
            alg,
            modulus_len,
            public_jwk: public_jwk.to_string(),
        })
    }

    fn fits(&self, token: &UnverifiedToken<'_>) -> bool {
        self.alg == token.alg()
            && self
                .modulus_len
                .is_none_or(|len| len == token.signature().len())
    }
}

/// The usable keys of a key set.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct JwkSet {
    keys: Vec<Jwk>,
}

/// Which keys may have signed a token.
#[derive(Debug, PartialEq, Eq)]
pub enum KeyChoice {
    /// Indexes into [`JwkSet::keys`] of the keys to try, in order.
    Candidates(Vec<usize>),
    /// No key has the token's `kid` (or, without a `kid`, no key fits its
    /// algorithm): the set may be out of date.
    Unknown,
}

impl JwkSet {
    /// Parses `{"keys": [...]}`, keeping the usable keys.
    pub fn parse(bytes: &[u8]) -> Result<JwkSet, JwksError> {
        if bytes.len() > MAX_JWKS_BYTES {
            return Err(JwksError("the key set is larger than 64 KiB"));
        }
        let doc: Map<String, Value> = serde_json::from_slice(bytes)
            .map_err(|_| JwksError("the key set is not a JSON object"))?;
        let entries = doc
            .get("keys")
            .and_then(Value::as_array)
            .ok_or(JwksError("the key set has no keys array"))?;
        if entries.len() > MAX_KEYS {
            return Err(JwksError("the key set has more than 64 keys"));
        }
        let keys = entries
            .iter()
            .filter_map(Value::as_object)
            .filter_map(Jwk::parse)
            .collect();
        Ok(JwkSet { keys })
    }

    /// The usable keys.
    pub fn keys(&self) -> &[Jwk] {
        &self.keys
    }

    /// The keys that may have signed `token`. With a `kid`, only keys with
    /// that id; a known `kid` whose key does not fit the token's algorithm
    /// (an ES256 token naming an RSA key, say) is refused outright. Without
    /// a `kid`, every key for the token's algorithm. HS256 tokens have no
    /// key here: the key set never holds HMAC secrets.
    pub fn select(&self, token: &UnverifiedToken<'_>) -> Result<KeyChoice, TokenError> {
        if token.alg() == Alg::Hs256 {
            return Err(TokenError::AlgNotAllowed);
        }
        let named: Vec<usize> = match token.kid() {
            Some(kid) => (0..self.keys.len())
                .filter(|&i| self.keys[i].kid() == Some(kid))
                .collect(),
            None => (0..self.keys.len()).collect(),
        };
        let fitting: Vec<usize> = named
            .iter()
            .copied()
            .filter(|&i| self.keys[i].alg == token.alg())
            .collect();
        if fitting.is_empty() {
            return if token.kid().is_some() && !named.is_empty() {
                Err(TokenError::AlgNotAllowed)
            } else {
                Ok(KeyChoice::Unknown)
            };
        }
        // An RS256 signature is exactly as long as its key's modulus.
        let sized: Vec<usize> = fitting
            .into_iter()
            .filter(|&i| self.keys[i].fits(token))
            .collect();
        if sized.is_empty() {
            return Err(TokenError::BadSignature);
        }
        Ok(KeyChoice::Candidates(sized))
    }
}

/// When to fetch the key set: a fetched set is used for `lifetime_ms`, then
/// fetched again; fetches (successful or not) are at least
/// `min_interval_ms` apart, so neither an unreachable issuer nor tokens
/// with made-up `kid`s make every request fetch. Times are milliseconds
/// since the epoch, passed in (no clock here).
#[derive(Debug)]
pub struct KeySetCache<T> {
    set: Option<(u64, T)>,
    last_attempt: Option<u64>,
}

impl<T> Default for KeySetCache<T> {
    fn default() -> Self {
        KeySetCache {
            set: None,
            last_attempt: None,
        }
    }
}

impl<T> KeySetCache<T> {
    /// The cached set, if it is younger than `lifetime_ms`.
    pub fn current(&self, now_ms: u64, lifetime_ms: u64) -> Option<&T> {
        self.set
            .as_ref()
            .filter(|(at, _)| now_ms.saturating_sub(*at) < lifetime_ms)
            .map(|(_, set)| set)
    }

    /// Whether a fetch may start now.
    pub fn may_fetch(&self, now_ms: u64, min_interval_ms: u64) -> bool {
        self.last_attempt
            .is_none_or(|at| now_ms.saturating_sub(at) >= min_interval_ms)
    }

    /// Records that a fetch starts now (before it can fail).
    pub fn fetch_started(&mut self, now_ms: u64) {
        self.last_attempt = Some(now_ms);
    }

    /// Stores a fetched set.
    pub fn fetched(&mut self, now_ms: u64, set: T) {
        self.set = Some((now_ms, set));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    fn rsa(kid: &str, bits: usize) -> Value {
        let mut n = vec![0xc5u8; bits / 8];
        n[0] = 0xd1;
        json!({"kty": "RSA", "kid": kid, "n": b64(&n), "e": "AQAB"})
    }

    fn ec(kid: &str) -> Value {
        json!({"kty": "EC", "kid": kid, "crv": "P-256", "x": b64(&[1; 32]), "y": b64(&[2; 32])})
    }

    fn set(keys: Vec<Value>) -> JwkSet {
        JwkSet::parse(json!({ "keys": keys }).to_string().as_bytes()).unwrap()
    }

    /// A token with this header and a signature of `sig_len` bytes.
    fn token(header: Value, sig_len: usize) -> String {
        format!(
            "{}.{}.{}",
            b64(header.to_string().as_bytes()),
            b64(b"{}"),
            b64(&vec![9; sig_len])
        )
    }

    fn choose(set: &JwkSet, header: Value, sig_len: usize) -> Result<KeyChoice, TokenError> {
        let t = token(header, sig_len);
        set.select(&UnverifiedToken::decode(&t).unwrap())
    }

    #[test]
    fn keeps_public_signature_keys_only() {
        let s = set(vec![
            rsa("r1", 2048),
            ec("e1"),
            rsa("small", 1024),
            json!({"kty": "oct", "kid": "h", "k": "c2VjcmV0"}),
            json!({"kty": "OKP", "crv": "Ed25519", "x": b64(&[1; 32])}),
            json!({"kty": "EC", "crv": "P-384", "x": b64(&[1; 48]), "y": b64(&[2; 48])}),
            json!({"kty": "EC", "crv": "P-256", "x": b64(&[1; 31]), "y": b64(&[2; 32])}),
            {
                let mut k = rsa("enc", 2048);
                k["use"] = json!("enc");
                k
            },
            {
                let mut k = rsa("sign-only", 2048);
                k["key_ops"] = json!(["sign"]);
                k
            },
            {
                let mut k = rsa("private", 2048);
                k["d"] = json!("AQAB");
                k
            },
            {
                let mut k = rsa("ps", 2048);
                k["alg"] = json!("PS256");
                k
            },
            {
                let mut k = ec("ok-alg");
                k["alg"] = json!("ES256");
                k["use"] = json!("sig");
                k["key_ops"] = json!(["verify"]);
                k
            },
            json!("not an object"),
        ]);
        let kids: Vec<_> = s.keys().iter().map(|k| k.kid().unwrap_or("-")).collect();
        assert_eq!(kids, ["r1", "e1", "ok-alg"]);
        assert_eq!(s.keys()[0].alg(), Alg::Rs256);
        assert_eq!(s.keys()[1].alg(), Alg::Es256);
    }

    #[test]
    fn the_imported_jwk_has_public_members_only() {
        let mut k = rsa("r1", 2048);
        k["alg"] = json!("RS256");
        k["x5c"] = json!(["MIIB..."]);
        let s = set(vec![k, ec("e1")]);
        let rsa: Value = serde_json::from_str(s.keys()[0].public_jwk_json()).unwrap();
        let mut members: Vec<_> = rsa.as_object().unwrap().keys().cloned().collect();
        members.sort();
        assert_eq!(members, ["e", "kty", "n"]);
        let ec: Value = serde_json::from_str(s.keys()[1].public_jwk_json()).unwrap();
        assert_eq!(ec["crv"], "P-256");
        assert_eq!(ec.as_object().unwrap().len(), 4);
    }

    #[test]
    fn malformed_sets_are_errors() {
        for doc in [&b"[]"[..], b"{}", b"{\"keys\": {}}", b"not json"] {
            assert!(JwkSet::parse(doc).is_err());
        }
        let many: Vec<Value> = (0..65).map(|i| ec(&i.to_string())).collect();
        assert!(JwkSet::parse(json!({ "keys": many }).to_string().as_bytes()).is_err());
        assert!(JwkSet::parse(&vec![b' '; MAX_JWKS_BYTES + 1]).is_err());
        assert_eq!(set(vec![]).keys().len(), 0);
    }

    #[test]
    fn selects_by_kid_and_algorithm() {
        let s = set(vec![rsa("r1", 2048), ec("e1"), rsa("r2", 3072), ec("e2")]);
        assert_eq!(
            choose(&s, json!({"alg": "RS256", "kid": "r2"}), 384),
            Ok(KeyChoice::Candidates(vec![2]))
        );
        assert_eq!(
            choose(&s, json!({"alg": "ES256", "kid": "e1"}), 64),
            Ok(KeyChoice::Candidates(vec![1]))
        );
        // Without a kid, every key of the algorithm (RS256: of the signature's size).
        assert_eq!(
            choose(&s, json!({"alg": "ES256"}), 64),
            Ok(KeyChoice::Candidates(vec![1, 3]))
        );
        assert_eq!(
            choose(&s, json!({"alg": "RS256"}), 256),
            Ok(KeyChoice::Candidates(vec![0]))
        );
        assert_eq!(
            choose(&s, json!({"alg": "RS256", "kid": "new"}), 256),
            Ok(KeyChoice::Unknown)
        );
        assert_eq!(
            choose(&set(vec![ec("e1")]), json!({"alg": "RS256"}), 256),
            Ok(KeyChoice::Unknown)
        );
    }

    #[test]
    fn a_key_is_never_used_for_another_algorithm() {
        let s = set(vec![rsa("r1", 2048), ec("e1")]);
        assert_eq!(
            choose(&s, json!({"alg": "ES256", "kid": "r1"}), 64),
            Err(TokenError::AlgNotAllowed)
        );
        assert_eq!(
            choose(&s, json!({"alg": "RS256", "kid": "e1"}), 256),
            Err(TokenError::AlgNotAllowed)
        );
        // Algorithm confusion: an HS256 token is never checked against the set.
        assert_eq!(
            choose(&s, json!({"alg": "HS256", "kid": "r1"}), 32),
            Err(TokenError::AlgNotAllowed)
        );
        // An RS256 signature that is not the key's size cannot be from it.
        assert_eq!(
            choose(&s, json!({"alg": "RS256", "kid": "r1"}), 384),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn the_cache_expires_and_spaces_fetches() {
        let mut c: KeySetCache<&str> = KeySetCache::default();
        assert_eq!(c.current(0, 1000), None);
        assert!(c.may_fetch(0, 100));
        c.fetch_started(1_000);
        assert!(!c.may_fetch(1_050, 100));
        c.fetched(1_010, "v1");
        assert_eq!(c.current(1_500, 1000), Some(&"v1"));
        assert_eq!(c.current(2_010, 1000), None, "expired after its lifetime");
        assert!(c.may_fetch(1_100, 100));
        // A failed fetch leaves the old set to expire and blocks retries for a while.
        c.fetch_started(2_100);
        assert!(!c.may_fetch(2_150, 100));
        assert!(c.may_fetch(2_200, 100));
        assert_eq!(c.current(2_100, 1000), None);
    }
}

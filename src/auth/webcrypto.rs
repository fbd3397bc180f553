//! RS256 and ES256 signature checks with the runtime's WebCrypto
//! (`crypto.subtle`): no cryptography compiled into the Worker.

use js_sys::{Array, Promise, Uint8Array, JSON};
use strata_core::jwt::Alg;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = ["crypto", "subtle"], js_name = importKey, catch)]
    fn import_key(
        format: &str,
        key_data: &JsValue,
        algorithm: &JsValue,
        extractable: bool,
        usages: &Array,
    ) -> Result<Promise, JsValue>;

    #[wasm_bindgen(js_namespace = ["crypto", "subtle"], js_name = verify, catch)]
    fn subtle_verify(
        algorithm: &JsValue,
        key: &JsValue,
        signature: &Uint8Array,
        data: &Uint8Array,
    ) -> Result<Promise, JsValue>;
}

/// WebCrypto's parameters for `alg`: (importKey, verify). HS256 has none:
/// its secret is never imported here (the core checks it).
fn algorithms(alg: Alg) -> Result<(&'static str, &'static str), String> {
    match alg {
        Alg::Rs256 => Ok((
            r#"{"name":"RSASSA-PKCS1-v1_5","hash":"SHA-256"}"#,
            r#"{"name":"RSASSA-PKCS1-v1_5"}"#,
        )),
        // JWS's ES256 signature is r||s, 64 bytes: the form WebCrypto takes.
        Alg::Es256 => Ok((
            r#"{"name":"ECDSA","namedCurve":"P-256"}"#,
            r#"{"name":"ECDSA","hash":"SHA-256"}"#,
        )),
        Alg::Hs256 => Err("HS256 is not verified with WebCrypto".into()),
    }
}

fn js_error(e: JsValue) -> String {
    e.dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| e.as_string())
        .unwrap_or_else(|| "a JavaScript error".into())
}

/// Imports a public JWK (JSON) as a verify-only `CryptoKey` for `alg`.
pub async fn import_public_jwk(alg: Alg, jwk_json: &str) -> Result<JsValue, String> {
    let (import, _) = algorithms(alg)?;
    let jwk = JSON::parse(jwk_json).map_err(js_error)?;
    let algorithm = JSON::parse(import).map_err(js_error)?;
    let usages = Array::of1(&JsValue::from_str("verify"));
    let promise = import_key("jwk", &jwk, &algorithm, false, &usages).map_err(js_error)?;
    JsFuture::from(promise).await.map_err(js_error)
}

/// Whether `signature` over `data` verifies with `key` (imported for `alg`).
pub async fn verify(
    alg: Alg,
    key: &JsValue,
    signature: &[u8],
    data: &[u8],
) -> Result<bool, String> {
    let (_, verify) = algorithms(alg)?;
    let algorithm = JSON::parse(verify).map_err(js_error)?;
    // Copies: WebCrypto must not see a view into wasm memory.
    let signature = Uint8Array::from(signature);
    let data = Uint8Array::from(data);
    let promise = subtle_verify(&algorithm, key, &signature, &data).map_err(js_error)?;
    let result = JsFuture::from(promise).await.map_err(js_error)?;
    Ok(result.as_bool() == Some(true))
}

//! Opaque keyset cursors.
//!
//! A cursor holds the ordering values of the last row of a page (and a
//! fingerprint of the ordering). The next page is "rows after that one" in
//! the same total order — an index range, not an offset — so it costs the
//! same at any depth and stays correct while rows are inserted. The values
//! are only ever bound as parameters, so a forged cursor can at most select
//! rows the caller could select anyway.

use crate::encoding::URL_SAFE_NO_PAD;
use crate::error::{ApiError, ErrorCode};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Serialize, Deserialize)]
struct Payload {
    o: String,
    v: Vec<Value>,
}

/// Encodes a cursor for the row with `values` under the ordering `signature`.
pub fn encode(signature: &str, values: Vec<Value>) -> String {
    let json = serde_json::to_vec(&Payload {
        o: signature.to_string(),
        v: values,
    })
    .unwrap_or_default();
    URL_SAFE_NO_PAD.encode(json)
}

/// Decodes a cursor, checking it belongs to this ordering.
pub fn decode(cursor: &str, signature: &str) -> Result<Vec<Value>, ApiError> {
    let bad = || {
        ApiError::new(
            ErrorCode::RestParse,
            "the cursor is not valid for this request",
        )
        .with_hint("use the Link rel=\"next\" URL as given, with the same order")
    };
    let bytes = URL_SAFE_NO_PAD.decode(cursor.trim()).map_err(|_| bad())?;
    let p: Payload = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    if p.o != signature {
        return Err(bad());
    }
    Ok(p.v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trips_and_checks_the_ordering() {
        let c = encode("id.asc.nullslast", vec![json!(5), json!("x"), json!(null)]);
        assert!(c
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_eq!(
            decode(&c, "id.asc.nullslast").unwrap(),
            vec![json!(5), json!("x"), json!(null)]
        );
        assert_eq!(decode(&c, "id.desc.nullsfirst").unwrap_err().status(), 400);
        assert_eq!(decode("!!!", "x").unwrap_err().status(), 400);
        assert_eq!(decode("e30", "x").unwrap_err().status(), 400);
    }
}

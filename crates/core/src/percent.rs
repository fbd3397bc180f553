//! Percent-encoding, the one implementation for the whole crate: URL path
//! segments (table names, object keys), query strings, connection strings.
//!
//! Decoding is strict on purpose: a `%` not followed by two hex digits, or
//! bytes that are not UTF-8 once decoded, is an error, never "repaired" — a
//! lenient decoder would let two different URLs name the same thing.

/// Why a percent-encoded string could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// A `%` not followed by two hexadecimal digits.
    BadEscape,
    /// The decoded bytes are not UTF-8.
    NotUtf8,
}

/// Decodes `%XX` escapes exactly once. With `plus_is_space` (query strings,
/// as `application/x-www-form-urlencoded` and JavaScript's `URLSearchParams`
/// write them) `+` means a space; in paths `+` is itself.
pub fn decode(text: &str, plus_is_space: bool) -> Result<String, DecodeError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let digit = |at: usize| {
                    bytes
                        .get(at)
                        .and_then(|&b| (b as char).to_digit(16))
                        .ok_or(DecodeError::BadEscape)
                };
                out.push((digit(i + 1)? * 16 + digit(i + 2)?) as u8);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| DecodeError::NotUtf8)
}

/// Percent-encodes everything but RFC 3986's unreserved characters, and `/`
/// when `keep_slash` is set.
pub fn encode(text: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for &b in text.as_bytes() {
        let unreserved = b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~');
        if unreserved || (keep_slash && b == b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes a path segment (`+` stays `+`); `None` when it is malformed.
pub fn decode_path(s: &str) -> Option<String> {
    decode(s, false).ok()
}

/// Splits a raw query string into decoded `(name, value)` pairs as HTML
/// forms encode them (`+` is a space), strictly: the first pair with a
/// malformed escape or bytes that are not UTF-8 is the error (raw, so the
/// caller can name it in its own error format).
pub fn decode_query(raw: Option<&str>) -> Result<Vec<(String, String)>, &str> {
    let mut pairs = Vec::new();
    for pair in raw.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let k = decode(k, true).map_err(|_| pair)?;
        let v = decode(v, true).map_err(|_| pair)?;
        pairs.push((k, v));
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_once_and_strictly() {
        assert_eq!(decode_path("a%20b+c").as_deref(), Some("a b+c"));
        assert_eq!(decode_path("%2541").as_deref(), Some("%41"));
        assert_eq!(decode_path("caf%C3%A9").as_deref(), Some("café"));
        for bad in ["%", "%4", "%zz", "%ff", "%C3"] {
            assert_eq!(decode_path(bad), None, "{bad}");
        }
    }
}

//! Percent-decoding of URL path segments, exactly once and strictly.

/// Decodes `%XX` escapes; `None` for a malformed escape or bytes that are
/// not UTF-8. `+` stays `+` (it means space only in query strings).
pub fn decode_path(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = |c: u8| (c as char).to_digit(16);
            let hi = hex(*b.get(i + 1)?)?;
            let lo = hex(*b.get(i + 2)?)?;
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
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

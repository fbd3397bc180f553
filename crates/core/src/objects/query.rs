//! Strict percent-decoding and query strings.
//!
//! Decoding is strict on purpose: a `%` not followed by two hex digits, or
//! bytes that are not UTF-8 once decoded, is a client error, never passed on
//! or "repaired" — a lenient decoder would make two different URLs name the
//! same object, or one URL name different objects on different servers.

use super::invalid;
use crate::error::ApiError;

pub use crate::percent::{decode as percent_decode, encode as percent_encode, DecodeError};

/// One `name[=value]` pair of a query string, both decoded. `value` is
/// `None` for a bare name (`?uploads`), `Some("")` for `name=`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    /// The decoded name.
    pub name: String,
    /// The decoded value, if the pair had an `=`.
    pub value: Option<String>,
}

/// Parses a query string (without the `?`) into decoded pairs, in order.
/// Empty pairs (`a=1&&b=2`) are skipped; a repeated name is an error, since
/// every parameter here has one meaning and "which one wins" would be a guess.
pub fn parse(query: Option<&str>) -> Result<Vec<Param>, ApiError> {
    let mut params: Vec<Param> = Vec::new();
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (raw_name, raw_value) = match pair.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (pair, None),
        };
        let decode = |s: &str| {
            percent_decode(s, true).map_err(|_| {
                invalid("the query string has an invalid percent-encoding or is not UTF-8")
            })
        };
        let name = decode(raw_name)?;
        let value = raw_value.map(decode).transpose()?;
        if params.iter().any(|p| p.name == name) {
            return Err(invalid(format!(
                "the query parameter {name:?} is given more than once"
            )));
        }
        params.push(Param { name, value });
    }
    Ok(params)
}

/// Rejects any parameter not in `allowed`, naming the ones that are.
pub fn only(params: &[Param], allowed: &[&str], context: &str) -> Result<(), ApiError> {
    match params.iter().find(|p| !allowed.contains(&p.name.as_str())) {
        None => Ok(()),
        Some(p) if allowed.is_empty() => Err(invalid(format!(
            "unknown query parameter {:?}: {context} takes none",
            p.name
        ))),
        Some(p) => Err(invalid(format!(
            "unknown query parameter {:?}: {context} takes {}",
            p.name,
            allowed.join(", ")
        ))),
    }
}

/// The value of a parameter, if present (a bare name counts as empty).
pub fn value<'a>(params: &'a [Param], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|p| p.name == name)
        .map(|p| p.value.as_deref().unwrap_or(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_exactly_once() {
        assert_eq!(percent_decode("a%20b+c", false).unwrap(), "a b+c");
        assert_eq!(percent_decode("a%20b+c", true).unwrap(), "a b c");
        assert_eq!(percent_decode("%2541", false).unwrap(), "%41");
        assert_eq!(
            percent_decode("caf%C3%A9/%E2%82%AC", false).unwrap(),
            "café/€"
        );
        assert_eq!(percent_decode("a%2F..%2Fb", false).unwrap(), "a/../b");
    }

    #[test]
    fn rejects_bad_escapes_and_non_utf8() {
        for bad in ["%", "%4", "%zz", "a%g0", "%%41"] {
            assert_eq!(
                percent_decode(bad, false),
                Err(DecodeError::BadEscape),
                "{bad}"
            );
        }
        for bad in ["%ff", "%C3", "%C3%28", "%ED%A0%80"] {
            assert_eq!(
                percent_decode(bad, false),
                Err(DecodeError::NotUtf8),
                "{bad}"
            );
        }
    }

    #[test]
    fn encodes_everything_but_unreserved() {
        assert_eq!(
            percent_encode("a b/c?d#e%+é~", true),
            "a%20b/c%3Fd%23e%25%2B%C3%A9~"
        );
        assert_eq!(percent_encode("a/b", false), "a%2Fb");
        for s in ["x y", "ü/../%", "+&=?"] {
            assert_eq!(percent_decode(&percent_encode(s, false), false).unwrap(), s);
        }
    }

    #[test]
    fn parses_pairs_and_bare_names() {
        let p = parse(Some("uploads&prefix=a%2Fb+c&&limit=")).unwrap();
        assert_eq!(
            p,
            vec![
                Param {
                    name: "uploads".into(),
                    value: None
                },
                Param {
                    name: "prefix".into(),
                    value: Some("a/b c".into())
                },
                Param {
                    name: "limit".into(),
                    value: Some("".into())
                },
            ]
        );
        assert_eq!(value(&p, "uploads"), Some(""));
        assert_eq!(value(&p, "prefix"), Some("a/b c"));
        assert_eq!(value(&p, "cursor"), None);
        assert!(parse(None).unwrap().is_empty());
        assert!(parse(Some("")).unwrap().is_empty());
    }

    #[test]
    fn rejects_repeats_bad_encoding_and_unknown_names() {
        assert_eq!(parse(Some("a=1&a=2")).unwrap_err().status(), 400);
        assert_eq!(parse(Some("a=%zz")).unwrap_err().status(), 400);
        assert_eq!(parse(Some("%ff=1")).unwrap_err().status(), 400);
        let p = parse(Some("prefix=a&perfix=b")).unwrap();
        let e = only(&p, &["prefix", "limit"], "listing").unwrap_err();
        assert!(
            e.message.contains("perfix") && e.message.contains("prefix, limit"),
            "{}",
            e.message
        );
        assert!(only(&p[..1], &["prefix"], "listing").is_ok());
        assert!(only(&p, &[], "GET")
            .unwrap_err()
            .message
            .contains("takes none"));
    }
}

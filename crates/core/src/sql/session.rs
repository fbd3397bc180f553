//! D1 read replication (D1's Sessions API): the bookmark a client sends back
//! in `x-d1-bookmark`, checked before it can reach the binding, where a
//! request's session starts, and the bookmark every D1 answer carries.
//!
//! D1 serves a read from a replica near the Worker only inside a session,
//! and a session is sequentially consistent: each query sees at least what
//! the previous one saw. A session starts either from a bookmark (its first
//! query then reads a copy at least as new as that bookmark) or from a
//! constraint: `first-primary` when the request's first statements may write
//! (they must reach the primary anyway) or when the client asks for it (the
//! newest state, e.g. a copy that must miss nothing), `first-unconstrained`
//! when they only read (any replica may answer). A client keeps
//! read-your-writes across requests by sending back the last bookmark it was
//! given.

use crate::error::{ApiError, ErrorCode};
use crate::http::Reply;

/// The request and response header carrying a bookmark.
pub const HEADER: &str = "x-d1-bookmark";

/// The one constraint a client may ask for instead of a bookmark: start at
/// the primary, to read the newest state.
pub const PRIMARY: &str = "first-primary";

/// The longest bookmark accepted. D1's are four hyphen-separated groups of
/// lowercase hex (`00000085-0000024c-00004c6d-` and a 32- or 64-digit
/// hash): at most 91 characters today, with room to grow.
pub const MAX_LEN: usize = 128;

/// Where a client asks its session to start: a bookmark as it sent it back
/// (hex digits in hyphen-separated groups, at most [`MAX_LEN`] characters),
/// or [`PRIMARY`]. Nothing else reaches the binding, which would take any
/// other text for a bookmark.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bookmark(String);

impl Bookmark {
    /// The bookmark of an `x-d1-bookmark` request header. Absent or blank:
    /// none (a client echoing an empty header it was given has none).
    /// Anything else not shaped like a bookmark: `400 invalid_bookmark`.
    pub fn from_header(value: Option<&str>) -> Result<Option<Bookmark>, ApiError> {
        // HTTP's optional whitespace only (the runtime strips it already).
        let value = value.map(|v| v.trim_matches([' ', '\t']));
        let Some(value) = value.filter(|v| !v.is_empty()) else {
            return Ok(None);
        };
        let well_formed = value == PRIMARY
            || value.len() <= MAX_LEN
                && value
                    .split('-')
                    .all(|g| !g.is_empty() && g.bytes().all(|b| b.is_ascii_hexdigit()));
        if !well_formed {
            return Err(ApiError::new(
                ErrorCode::InvalidBookmark,
                format!("the {HEADER} header is not a D1 bookmark"),
            )
            .with_details(serde_json::json!({ "maxLength": MAX_LEN }))
            .with_hint(
                "send back the x-d1-bookmark of an earlier response unchanged, or first-primary, or nothing",
            ));
        }
        Ok(Some(Bookmark(value.to_string())))
    }

    /// The bookmark's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a D1 session starts from: the client's bookmark, else
/// `first-primary` if the first statements may write, else
/// `first-unconstrained`.
pub fn start(bookmark: Option<&Bookmark>, read_only: bool) -> &str {
    match bookmark {
        Some(b) => b.as_str(),
        None if read_only => "first-unconstrained",
        None => "first-primary",
    }
}

/// Puts a session's latest bookmark on the answer, success or error, so a
/// client always has the newest one to send back.
pub fn with_bookmark(
    result: Result<Reply, ApiError>,
    bookmark: Option<String>,
) -> Result<Reply, ApiError> {
    match (result, bookmark) {
        (Ok(reply), Some(b)) => Ok(reply.with_header(HEADER, b)),
        (Err(e), Some(b)) => Err(e.with_header(HEADER, b)),
        (result, None) => result,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REAL: &str = "00000085-0000024c-00004c6d-8e61117bf38d7adb71b934ebbf891683";

    fn parse(v: &str) -> Result<Option<Bookmark>, ApiError> {
        Bookmark::from_header(Some(v))
    }

    #[test]
    fn real_bookmarks_are_accepted_as_sent() {
        let long = "00000085-0000024c-00004c6d-8e611177d83f7fb2f0396d0847be2cc62eaa94debb2f65eae0a58c44c4cf6a74";
        for b in [REAL, long, "0000000000000001", PRIMARY] {
            assert_eq!(parse(b).unwrap().unwrap().as_str(), b);
        }
        assert_eq!(parse(&format!(" {REAL} ")).unwrap().unwrap().as_str(), REAL);
    }

    #[test]
    fn absent_or_blank_is_no_bookmark() {
        assert_eq!(Bookmark::from_header(None).unwrap(), None);
        assert_eq!(parse("").unwrap(), None);
        assert_eq!(parse(" \t").unwrap(), None);
    }

    #[test]
    fn junk_and_oversized_are_refused() {
        let too_long = "a".repeat(MAX_LEN + 1);
        let repeated = format!("{REAL}, {REAL}");
        for junk in [
            "first-unconstrained",
            "First-Primary",
            "first-primary-",
            "0000-",
            "-0000",
            "00--00",
            "0000 0001",
            "\u{85}0001",
            "0001\u{a0}",
            "0000;drop",
            "zz",
            "00000085-0000024c-00004c6d-\u{0660}",
            repeated.as_str(),
            too_long.as_str(),
        ] {
            let e = parse(junk).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidBookmark, "{junk}");
            assert_eq!(e.status(), 400);
            assert!(!e.body().contains(junk), "the body echoes no input");
        }
        assert!(parse(&"a".repeat(MAX_LEN)).unwrap().is_some());
    }

    #[test]
    fn the_session_starts_from_the_bookmark_else_by_what_may_be_written() {
        let b = parse(REAL).unwrap().unwrap();
        assert_eq!(start(Some(&b), false), REAL);
        assert_eq!(start(Some(&b), true), REAL);
        assert_eq!(start(None, true), "first-unconstrained");
        assert_eq!(start(None, false), "first-primary");
        let primary = parse(PRIMARY).unwrap().unwrap();
        assert_eq!(start(Some(&primary), true), "first-primary");
    }

    #[test]
    fn the_bookmark_goes_on_successes_and_errors() {
        let ok = with_bookmark(Ok(Reply::json(200, &1)), Some(REAL.into())).unwrap();
        assert_eq!(ok.header(HEADER), Some(REAL));
        let err = with_bookmark(Err(ApiError::internal()), Some(REAL.into())).unwrap_err();
        assert!(err.headers.contains(&(HEADER, REAL.to_string())));
        let none = with_bookmark(Ok(Reply::json(200, &1)), None).unwrap();
        assert_eq!(none.header(HEADER), None);
    }
}

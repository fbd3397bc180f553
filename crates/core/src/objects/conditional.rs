//! Conditional requests (RFC 9110 §13).
//!
//! The four preconditions are parsed once and evaluated in the order
//! §13.2.2 prescribes, against the validators of the object as it is
//! *now* (`None` when there is none):
//!
//! 1. `If-Match` — false → 412. Only when it is absent, `If-Unmodified-Since`
//!    — false → 412.
//! 2. `If-None-Match` — false → 304 for GET/HEAD, 412 otherwise. Only when
//!    it is absent and the method is GET/HEAD, `If-Modified-Since` — false
//!    → 304.
//! 3. Otherwise the request proceeds (`If-Range` is the range module's).
//!
//! Malformed entity-tag lists are a 400, because silently ignoring an
//! `If-Match` a client relies on would turn a safe write into a blind one.
//! Unparsable dates are ignored, as §13.1.3/§13.1.4 require.

use super::etag::{EntityTag, EtagCondition};
use super::time::parse_http_date;
use super::{invalid, RequestHeaders};
use crate::error::ApiError;

/// What a precondition is compared with: the current object's strong ETag
/// and its modification time (whole seconds, as `Last-Modified` shows it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validators {
    /// The object's entity tag.
    pub etag: EntityTag,
    /// `Last-Modified`, in seconds since the epoch.
    pub last_modified: u64,
}

/// Whether the request reads (GET/HEAD) or changes state (PUT, DELETE):
/// a failed `If-None-Match` means 304 for the first and 412 for the second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// GET or HEAD.
    Read,
    /// PUT or DELETE.
    Write,
}

/// What the preconditions decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Carry on with the request.
    Proceed,
    /// Answer 304 with the validators (GET/HEAD only).
    NotModified,
    /// Answer 412 and do nothing.
    PreconditionFailed,
}

/// The preconditions a request carries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Preconditions {
    /// `If-Match`.
    pub if_match: Option<EtagCondition>,
    /// `If-None-Match`.
    pub if_none_match: Option<EtagCondition>,
    /// `If-Modified-Since`, seconds (ignored when unparsable).
    pub if_modified_since: Option<u64>,
    /// `If-Unmodified-Since`, seconds (ignored when unparsable).
    pub if_unmodified_since: Option<u64>,
}

impl Preconditions {
    /// Reads the four headers.
    pub fn parse(headers: &RequestHeaders) -> Result<Preconditions, ApiError> {
        let tags = |name: &str| -> Result<Option<EtagCondition>, ApiError> {
            match headers.get(name) {
                None => Ok(None),
                Some(v) => EtagCondition::parse(v).map(Some).ok_or_else(|| {
                    invalid(format!("{name} must be * or a list of quoted entity tags")).with_hint(
                        format!("{name}: \"<etag>\" — the ETag header's value, quotes included"),
                    )
                }),
            }
        };
        Ok(Preconditions {
            if_match: tags("if-match")?,
            if_none_match: tags("if-none-match")?,
            if_modified_since: headers.get("if-modified-since").and_then(parse_http_date),
            if_unmodified_since: headers.get("if-unmodified-since").and_then(parse_http_date),
        })
    }

    /// Whether anything constrains a write (`If-Modified-Since` never does:
    /// it applies to GET and HEAD only).
    pub fn constrains_write(&self) -> bool {
        self.if_match.is_some()
            || self.if_none_match.is_some()
            || self.if_unmodified_since.is_some()
    }

    /// Evaluates the preconditions against the current object. For reads the
    /// caller has already answered 404 when there is no object: RFC 9110
    /// §13.2.1 has preconditions ignored when the answer would not be 2xx.
    pub fn evaluate(&self, access: Access, current: Option<&Validators>) -> Outcome {
        // Step 1: If-Match, else If-Unmodified-Since.
        if let Some(condition) = &self.if_match {
            if !current.is_some_and(|c| condition.matches_strong(&c.etag)) {
                return Outcome::PreconditionFailed;
            }
        } else if let (Some(date), Some(c)) = (self.if_unmodified_since, current) {
            // With no object there is no modification date, and §13.1.4
            // says to ignore the field then.
            if c.last_modified > date {
                return Outcome::PreconditionFailed;
            }
        }
        // Step 2: If-None-Match, else If-Modified-Since (GET/HEAD only).
        let not_modified = match access {
            Access::Read => Outcome::NotModified,
            Access::Write => Outcome::PreconditionFailed,
        };
        if let Some(condition) = &self.if_none_match {
            if current.is_some_and(|c| condition.matches_weak(&c.etag)) {
                return not_modified;
            }
        } else if let (Access::Read, Some(date), Some(c)) =
            (access, self.if_modified_since, current)
        {
            if c.last_modified <= date {
                return Outcome::NotModified;
            }
        }
        Outcome::Proceed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Outcome::*;

    const T: u64 = 1_700_000_000;
    const DATE_T: &str = "Tue, 14 Nov 2023 22:13:20 GMT";
    const DATE_BEFORE: &str = "Tue, 14 Nov 2023 22:13:19 GMT";
    const DATE_AFTER: &str = "Tue, 14 Nov 2023 22:13:21 GMT";

    fn current() -> Validators {
        Validators {
            etag: EntityTag::strong("abc"),
            last_modified: T,
        }
    }

    fn pre(headers: &[(&str, &str)]) -> Preconditions {
        Preconditions::parse(&RequestHeaders::new(
            headers.iter().map(|(n, v)| (n.to_string(), v.to_string())),
        ))
        .unwrap()
    }

    fn read(headers: &[(&str, &str)]) -> Outcome {
        pre(headers).evaluate(Access::Read, Some(&current()))
    }

    fn write(headers: &[(&str, &str)], exists: bool) -> Outcome {
        let c = current();
        pre(headers).evaluate(Access::Write, exists.then_some(&c))
    }

    #[test]
    fn dates_are_the_rfc_example() {
        assert_eq!(parse_http_date(DATE_T), Some(T));
    }

    #[test]
    fn if_match_uses_strong_comparison() {
        assert_eq!(read(&[("if-match", "\"abc\"")]), Proceed);
        assert_eq!(read(&[("if-match", "\"x\", \"abc\"")]), Proceed);
        assert_eq!(read(&[("if-match", "*")]), Proceed);
        assert_eq!(read(&[("if-match", "W/\"abc\"")]), PreconditionFailed);
        assert_eq!(read(&[("if-match", "\"x\"")]), PreconditionFailed);
    }

    #[test]
    fn if_none_match_uses_weak_comparison_and_304s_reads() {
        assert_eq!(read(&[("if-none-match", "\"abc\"")]), NotModified);
        assert_eq!(read(&[("if-none-match", "W/\"abc\"")]), NotModified);
        assert_eq!(read(&[("if-none-match", "*")]), NotModified);
        assert_eq!(read(&[("if-none-match", "\"x\"")]), Proceed);
        assert_eq!(
            write(&[("if-none-match", "\"abc\"")], true),
            PreconditionFailed
        );
    }

    #[test]
    fn modification_dates() {
        assert_eq!(read(&[("if-modified-since", DATE_T)]), NotModified);
        assert_eq!(read(&[("if-modified-since", DATE_AFTER)]), NotModified);
        assert_eq!(read(&[("if-modified-since", DATE_BEFORE)]), Proceed);
        assert_eq!(read(&[("if-modified-since", "garbage")]), Proceed);
        assert_eq!(read(&[("if-unmodified-since", DATE_T)]), Proceed);
        assert_eq!(read(&[("if-unmodified-since", DATE_AFTER)]), Proceed);
        assert_eq!(
            read(&[("if-unmodified-since", DATE_BEFORE)]),
            PreconditionFailed
        );
        assert_eq!(read(&[("if-unmodified-since", "garbage")]), Proceed);
    }

    #[test]
    fn evaluation_order_of_rfc_9110() {
        // If-Match wins over If-Unmodified-Since (which is then not consulted).
        assert_eq!(
            read(&[
                ("if-match", "\"abc\""),
                ("if-unmodified-since", DATE_BEFORE)
            ]),
            Proceed
        );
        assert_eq!(
            read(&[("if-match", "\"x\""), ("if-unmodified-since", DATE_AFTER)]),
            PreconditionFailed
        );
        // 412 before 304: a failed If-Match beats a matching If-None-Match.
        assert_eq!(
            read(&[("if-match", "\"x\""), ("if-none-match", "\"abc\"")]),
            PreconditionFailed
        );
        assert_eq!(
            read(&[
                ("if-unmodified-since", DATE_BEFORE),
                ("if-modified-since", DATE_T)
            ]),
            PreconditionFailed
        );
        // If-None-Match wins over If-Modified-Since (which is then not consulted).
        assert_eq!(
            read(&[
                ("if-none-match", "\"x\""),
                ("if-modified-since", DATE_AFTER)
            ]),
            Proceed
        );
        assert_eq!(
            read(&[
                ("if-none-match", "\"abc\""),
                ("if-modified-since", DATE_BEFORE)
            ]),
            NotModified
        );
        // Both steps pass.
        assert_eq!(
            read(&[("if-match", "\"abc\""), ("if-none-match", "\"x\"")]),
            Proceed
        );
    }

    #[test]
    fn writes_against_absent_and_present_objects() {
        // Create-only.
        assert_eq!(write(&[("if-none-match", "*")], false), Proceed);
        assert_eq!(write(&[("if-none-match", "*")], true), PreconditionFailed);
        // Replace-only-this-version.
        assert_eq!(write(&[("if-match", "\"abc\"")], true), Proceed);
        assert_eq!(write(&[("if-match", "\"abc\"")], false), PreconditionFailed);
        assert_eq!(write(&[("if-match", "*")], false), PreconditionFailed);
        assert_eq!(write(&[("if-match", "\"old\"")], true), PreconditionFailed);
        // No modification date without an object: ignored.
        assert_eq!(
            write(&[("if-unmodified-since", DATE_BEFORE)], false),
            Proceed
        );
        assert_eq!(
            write(&[("if-unmodified-since", DATE_BEFORE)], true),
            PreconditionFailed
        );
        // If-Modified-Since does not apply to writes.
        assert_eq!(write(&[("if-modified-since", DATE_AFTER)], true), Proceed);
        assert_eq!(write(&[], true), Proceed);
    }

    #[test]
    fn what_constrains_a_write() {
        assert!(!pre(&[]).constrains_write());
        assert!(!pre(&[("if-modified-since", DATE_T)]).constrains_write());
        assert!(pre(&[("if-match", "*")]).constrains_write());
        assert!(pre(&[("if-none-match", "*")]).constrains_write());
        assert!(pre(&[("if-unmodified-since", DATE_T)]).constrains_write());
        // An unparsable date constrains nothing: it is ignored.
        assert!(!pre(&[("if-unmodified-since", "soon")]).constrains_write());
    }

    #[test]
    fn malformed_tag_lists_are_400() {
        for (name, value) in [
            ("if-match", "abc"),
            ("if-none-match", "\"a\" \"b\""),
            ("if-match", ""),
        ] {
            let headers = RequestHeaders::new([(name.to_string(), value.to_string())]);
            let e = Preconditions::parse(&headers).unwrap_err();
            assert_eq!(e.status(), 400);
            assert!(e.message.contains(name), "{}", e.message);
        }
    }
}

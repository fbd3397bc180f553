//! Range requests (RFC 9110 §14): `Range: bytes=…` and `If-Range`.
//!
//! Strata serves one byte range per request. Decisions where the RFC leaves
//! a choice, all of them answering with the whole object (200), which the
//! RFC always allows ("a server MAY ignore the Range header field"):
//!
//! * several ranges (`bytes=0-1,5-9`) — no `multipart/byteranges`, whose
//!   body would have to be assembled in the Worker instead of streamed;
//! * a malformed `Range`, or a unit other than `bytes`;
//! * a suffix range of an empty object (satisfiable in theory, but there
//!   is no `Content-Range` for zero bytes).
//!
//! A single range that starts at or after the end of the object (or
//! `bytes=-0`) is unsatisfiable: 416 with `Content-Range: bytes */<size>`.
//! `If-Range` is honoured: unless its entity tag matches strongly (or its
//! date equals `Last-Modified`), the whole object is sent.

use super::conditional::Validators;
use super::etag::EntityTag;
use super::time::parse_http_date;

/// One range as written in the header, before the object's size is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeSpec {
    /// `first-last` (inclusive).
    Bounded {
        /// First byte.
        first: u64,
        /// Last byte, inclusive (may be past the end).
        last: u64,
    },
    /// `first-`: to the end.
    From {
        /// First byte.
        first: u64,
    },
    /// `-length`: the last `length` bytes.
    Suffix {
        /// How many bytes from the end.
        length: u64,
    },
}

/// Parses a `Range` header. `None` means "ignore it and send everything":
/// absent unit `bytes`, malformed, or more than one range.
pub fn parse_range(header: &str) -> Option<RangeSpec> {
    let header = header.trim_matches([' ', '\t']);
    let (unit, set) = header.split_once('=')?;
    if !unit.eq_ignore_ascii_case("bytes") {
        return None;
    }
    // Empty list elements are allowed (RFC 9110 §5.6.1).
    let mut specs = set
        .split(',')
        .map(|s| s.trim_matches([' ', '\t']))
        .filter(|s| !s.is_empty());
    let spec = specs.next()?;
    if specs.next().is_some() {
        return None;
    }
    let (first, last) = spec.split_once('-')?;
    let number = |s: &str| -> Option<u64> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    match (first.is_empty(), last.is_empty()) {
        (true, true) => None,
        (true, false) => Some(RangeSpec::Suffix {
            length: number(last)?,
        }),
        (false, true) => Some(RangeSpec::From {
            first: number(first)?,
        }),
        (false, false) => {
            let (first, last) = (number(first)?, number(last)?);
            (first <= last).then_some(RangeSpec::Bounded { first, last })
        }
    }
}

/// The validator an `If-Range` carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IfRange {
    /// An entity tag (compared strongly).
    Tag(EntityTag),
    /// An HTTP date (must equal `Last-Modified` exactly).
    Date(u64),
    /// Neither: the condition can never hold, so the whole object is sent.
    Unusable,
}

impl IfRange {
    /// Parses an `If-Range` value.
    pub fn parse(value: &str) -> IfRange {
        let value = value.trim_matches([' ', '\t']);
        if let Some(tag) = EntityTag::parse(value) {
            IfRange::Tag(tag)
        } else if let Some(date) = parse_http_date(value) {
            IfRange::Date(date)
        } else {
            IfRange::Unusable
        }
    }

    /// Whether the representation is still the one the client has part of.
    pub fn holds(&self, current: &Validators) -> bool {
        match self {
            IfRange::Tag(tag) => tag.strong_eq(&current.etag),
            IfRange::Date(date) => *date == current.last_modified,
            IfRange::Unusable => false,
        }
    }
}

/// Bytes `start..=end` of an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    /// First byte.
    pub start: u64,
    /// Last byte, inclusive.
    pub end: u64,
}

impl ByteRange {
    /// Number of bytes.
    pub fn len(&self) -> u64 {
        self.end - self.start + 1
    }

    /// Never true: a range has at least one byte (kept for clippy's sake).
    pub fn is_empty(&self) -> bool {
        false
    }

    /// `Content-Range` of a 206: `bytes <start>-<end>/<size>`.
    pub fn content_range(&self, size: u64) -> String {
        format!("bytes {}-{}/{size}", self.start, self.end)
    }
}

/// `Content-Range` of a 416: `bytes */<size>`.
pub fn unsatisfied_content_range(size: u64) -> String {
    format!("bytes */{size}")
}

/// What to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// 200 with the whole object.
    Full,
    /// 206 with these bytes.
    Partial(ByteRange),
    /// 416.
    Unsatisfiable,
}

/// Decides what a GET sends, given its (parsed) `Range`, its `If-Range` and
/// the current object. Call it after the preconditions passed.
pub fn plan(
    range: Option<RangeSpec>,
    if_range: Option<&IfRange>,
    current: &Validators,
    size: u64,
) -> Plan {
    let Some(spec) = range else {
        return Plan::Full;
    };
    if if_range.is_some_and(|c| !c.holds(current)) {
        return Plan::Full;
    }
    match spec {
        RangeSpec::Bounded { first, .. } | RangeSpec::From { first } if first >= size => {
            Plan::Unsatisfiable
        }
        RangeSpec::Bounded { first, last } => Plan::Partial(ByteRange {
            start: first,
            end: last.min(size - 1),
        }),
        RangeSpec::From { first } => Plan::Partial(ByteRange {
            start: first,
            end: size - 1,
        }),
        RangeSpec::Suffix { length: 0 } => Plan::Unsatisfiable,
        RangeSpec::Suffix { .. } if size == 0 => Plan::Full,
        RangeSpec::Suffix { length } => Plan::Partial(ByteRange {
            start: size - length.min(size),
            end: size - 1,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v() -> Validators {
        Validators {
            etag: EntityTag::strong("abc"),
            last_modified: 1_700_000_000,
        }
    }

    fn plan_for(header: &str, size: u64) -> Plan {
        plan(parse_range(header), None, &v(), size)
    }

    fn partial(start: u64, end: u64) -> Plan {
        Plan::Partial(ByteRange { start, end })
    }

    #[test]
    fn parses_the_three_forms() {
        assert_eq!(
            parse_range("bytes=0-499"),
            Some(RangeSpec::Bounded {
                first: 0,
                last: 499
            })
        );
        assert_eq!(
            parse_range("bytes=9500-"),
            Some(RangeSpec::From { first: 9500 })
        );
        assert_eq!(
            parse_range("bytes=-500"),
            Some(RangeSpec::Suffix { length: 500 })
        );
        assert_eq!(
            parse_range("Bytes=1-1"),
            Some(RangeSpec::Bounded { first: 1, last: 1 })
        );
        assert_eq!(
            parse_range(" bytes=1-2 , "),
            Some(RangeSpec::Bounded { first: 1, last: 2 })
        );
        assert_eq!(
            parse_range("bytes=-0"),
            Some(RangeSpec::Suffix { length: 0 })
        );
    }

    #[test]
    fn ignores_invalid_other_units_and_multiple_ranges() {
        for h in [
            "",
            "bytes",
            "bytes=",
            "bytes=-",
            "bytes=5-1",
            "bytes=a-1",
            "bytes=1-b",
            "bytes=+1-2",
            "bytes=1--2",
            "bytes = 1-2",
            "items=0-1",
            "bytes=0-1,5-9",
            "bytes=0-1, -1",
            "bytes=99999999999999999999-",
            "bytes=0x1-2",
            "bytes=1",
        ] {
            assert_eq!(parse_range(h), None, "{h:?}");
        }
    }

    #[test]
    fn resolves_against_the_size() {
        assert_eq!(plan_for("bytes=0-0", 10), partial(0, 0));
        assert_eq!(plan_for("bytes=2-5", 10), partial(2, 5));
        assert_eq!(plan_for("bytes=2-100", 10), partial(2, 9));
        assert_eq!(plan_for("bytes=9-", 10), partial(9, 9));
        assert_eq!(plan_for("bytes=0-", 10), partial(0, 9));
        assert_eq!(plan_for("bytes=-3", 10), partial(7, 9));
        assert_eq!(plan_for("bytes=-100", 10), partial(0, 9));
        assert_eq!(plan_for("bytes=0-1,2-3", 10), Plan::Full);
        assert_eq!(plan_for("garbage", 10), Plan::Full);
    }

    #[test]
    fn unsatisfiable_ranges() {
        assert_eq!(plan_for("bytes=10-", 10), Plan::Unsatisfiable);
        assert_eq!(plan_for("bytes=10-20", 10), Plan::Unsatisfiable);
        assert_eq!(plan_for("bytes=-0", 10), Plan::Unsatisfiable);
        assert_eq!(plan_for("bytes=0-0", 0), Plan::Unsatisfiable);
        assert_eq!(plan_for("bytes=0-", 0), Plan::Unsatisfiable);
        // A suffix of an empty object: the whole (empty) object.
        assert_eq!(plan_for("bytes=-5", 0), Plan::Full);
        assert_eq!(unsatisfied_content_range(10), "bytes */10");
    }

    #[test]
    fn content_range_and_length() {
        let r = ByteRange { start: 2, end: 5 };
        assert_eq!(r.len(), 4);
        assert_eq!(r.content_range(10), "bytes 2-5/10");
    }

    #[test]
    fn if_range_sends_everything_unless_it_holds() {
        let range = parse_range("bytes=0-1");
        let check = |value: &str| plan(range, Some(&IfRange::parse(value)), &v(), 10);
        assert_eq!(check("\"abc\""), partial(0, 1));
        assert_eq!(check("\"other\""), Plan::Full);
        // Weak tags never match (strong comparison).
        assert_eq!(check("W/\"abc\""), Plan::Full);
        assert_eq!(check("Tue, 14 Nov 2023 22:13:20 GMT"), partial(0, 1));
        assert_eq!(check("Tue, 14 Nov 2023 22:13:21 GMT"), Plan::Full);
        assert_eq!(check("Tue, 14 Nov 2023 22:13:19 GMT"), Plan::Full);
        assert_eq!(check("nonsense"), Plan::Full);
        // If-Range without Range changes nothing.
        assert_eq!(
            plan(None, Some(&IfRange::parse("\"abc\"")), &v(), 10),
            Plan::Full
        );
        // If-Range does not rescue an unsatisfiable range when it holds...
        assert_eq!(
            plan(
                parse_range("bytes=50-"),
                Some(&IfRange::parse("\"abc\"")),
                &v(),
                10
            ),
            Plan::Unsatisfiable
        );
        // ...and sends everything when it does not.
        assert_eq!(
            plan(
                parse_range("bytes=50-"),
                Some(&IfRange::parse("\"x\"")),
                &v(),
                10
            ),
            Plan::Full
        );
    }
}

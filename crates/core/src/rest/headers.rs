//! The REST request and response headers: `Prefer`, `Range`, `Accept`,
//! `Content-Range`, parsed as PostgREST reads them.

use crate::error::{ApiError, ErrorCode};
use crate::http::RequestHeaders;

/// `Prefer: return=...`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Return {
    /// No body (PostgREST's default for writes).
    #[default]
    Minimal,
    /// The affected rows.
    Representation,
}

/// `Prefer: resolution=...` for upserts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// Update the existing row.
    MergeDuplicates,
    /// Keep the existing row.
    IgnoreDuplicates,
}

/// `Prefer: count=...`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Count {
    /// `count(*)`.
    Exact,
    /// The Postgres planner's estimate (exact on D1, which has none).
    Planned,
    /// Exact when the planner expects at most `REST_MAX_ROWS` rows, else planned.
    Estimated,
}

/// Everything `Prefer` asked for that we honour.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Prefer {
    /// `return=`.
    pub return_: Return,
    /// `count=exact|planned|estimated`.
    pub count: Option<Count>,
    /// `resolution=`.
    pub resolution: Option<Resolution>,
    /// `params=single-object`: an `/rpc` body is the function's one argument.
    pub single_object: bool,
    /// `missing=default`: a key a row lacks takes the column's default, not NULL.
    pub missing_default: bool,
    /// `handling=strict`: an unknown preference is an error, not ignored.
    pub strict: bool,
    /// The preferences not understood.
    pub unknown: Vec<String>,
    /// The preferences applied, for `Preference-Applied`.
    pub applied: Vec<String>,
}

impl Prefer {
    /// The request's `Prefer` (the runtime joins repeated headers with ", "),
    /// checked against `handling=strict`.
    pub fn from_request(headers: &RequestHeaders) -> Result<Prefer, ApiError> {
        let values: Vec<String> = headers
            .get("prefer")
            .map(str::to_string)
            .into_iter()
            .collect();
        let prefer = Prefer::parse(&values);
        prefer.check_strict()?;
        Ok(prefer)
    }

    /// Parses every `Prefer` value (comma-separated); unknown preferences are
    /// ignored, as RFC 7240 asks.
    pub fn parse(values: &[String]) -> Prefer {
        let mut p = Prefer::default();
        for token in values.iter().flat_map(|v| v.split(',')).map(str::trim) {
            let applied = match token {
                "return=representation" => {
                    p.return_ = Return::Representation;
                    true
                }
                "return=minimal" => {
                    p.return_ = Return::Minimal;
                    true
                }
                "count=exact" => {
                    p.count = Some(Count::Exact);
                    true
                }
                "count=planned" => {
                    p.count = Some(Count::Planned);
                    true
                }
                "count=estimated" => {
                    p.count = Some(Count::Estimated);
                    true
                }
                "missing=default" => {
                    p.missing_default = true;
                    true
                }
                "missing=null" => {
                    p.missing_default = false;
                    true
                }
                "handling=strict" | "handling=lenient" => {
                    p.strict = token == "handling=strict";
                    true
                }
                "" => false,
                "resolution=merge-duplicates" => {
                    p.resolution = Some(Resolution::MergeDuplicates);
                    true
                }
                "resolution=ignore-duplicates" => {
                    p.resolution = Some(Resolution::IgnoreDuplicates);
                    true
                }
                "params=single-object" => {
                    p.single_object = true;
                    true
                }
                _ => {
                    p.unknown.push(token.chars().take(100).collect());
                    false
                }
            };
            if applied && !p.applied.iter().any(|a| a == token) {
                p.applied.push(token.to_string());
            }
        }
        p
    }

    /// With `handling=strict`, a preference not understood is `400 PGRST122`
    /// (by default it is ignored, as RFC 7240 asks).
    pub fn check_strict(&self) -> Result<(), ApiError> {
        if !self.strict || self.unknown.is_empty() {
            return Ok(());
        }
        Err(ApiError::new(
            ErrorCode::RestInvalidPreference,
            "invalid preferences given with handling=strict",
        )
        .with_details(serde_json::json!({ "invalid": self.unknown })))
    }
}

/// `Range: a-b` / `a-` (items). `None` when absent or not an items range.
pub fn parse_range(
    range: Option<&str>,
    unit: Option<&str>,
) -> Result<Option<(u64, Option<u64>)>, ApiError> {
    let Some(range) = range.map(str::trim).filter(|r| !r.is_empty()) else {
        return Ok(None);
    };
    if unit.is_some_and(|u| !u.trim().eq_ignore_ascii_case("items")) {
        return Ok(None);
    }
    let spec = range.strip_prefix("items=").unwrap_or(range);
    let Some((a, b)) = spec.split_once('-') else {
        return Ok(None);
    };
    let Ok(start) = a.trim().parse::<u64>() else {
        return Ok(None);
    };
    let end = b.trim();
    if end.is_empty() {
        return Ok(Some((start, None)));
    }
    let Ok(end) = end.parse::<u64>() else {
        return Ok(None);
    };
    if end < start {
        return Err(ApiError::new(
            ErrorCode::RestRangeNotSatisfiable,
            "the Range ends before it starts",
        )
        .with_header("Content-Range", "*/*"));
    }
    Ok(Some((start, Some(end - start + 1))))
}

/// What the client accepts: an array of rows, or exactly one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// `application/json` (the default).
    Array,
    /// `application/vnd.pgrst.object+json`: exactly one row, as an object.
    Single,
    /// `text/csv`: a header line, then one line per row.
    Csv,
}

/// Reads `Accept`; 406 for a type we do not produce.
pub fn parse_accept(accept: Option<&str>) -> Result<Shape, ApiError> {
    let Some(accept) = accept.map(str::trim).filter(|a| !a.is_empty()) else {
        return Ok(Shape::Array);
    };
    for media in accept.split(',') {
        let m = media
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match m.as_str() {
            "application/vnd.pgrst.object+json" | "application/vnd.pgrst.object" => {
                return Ok(Shape::Single)
            }
            "application/json" | "application/*" | "*/*" => return Ok(Shape::Array),
            "text/csv" => return Ok(Shape::Csv),
            _ => {}
        }
    }
    Err(ApiError::new(
        ErrorCode::RestNotAcceptable,
        "none of the Accept media types is available",
    )
    .with_hint("accept application/json, application/vnd.pgrst.object+json or text/csv"))
}

/// `Content-Range` for `returned` rows from `offset`, of `total` if counted.
pub fn content_range(offset: u64, returned: u64, total: Option<u64>) -> String {
    let total = total.map_or_else(|| "*".to_string(), |t| t.to_string());
    if returned == 0 {
        format!("*/{total}")
    } else {
        format!("{offset}-{}/{total}", offset + returned - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefer_values() {
        let p = Prefer::parse(&[
            "return=representation, count=exact".into(),
            "resolution=merge-duplicates, foo=bar".into(),
        ]);
        assert_eq!(p.return_, Return::Representation);
        assert_eq!(p.count, Some(Count::Exact));
        assert!(
            p.check_strict().is_ok(),
            "unknown preferences are ignored by default"
        );
        assert_eq!(p.unknown, ["foo=bar"]);
        let strict = Prefer::parse(&["handling=strict, count=planned, tx=commit".into()]);
        assert_eq!(strict.count, Some(Count::Planned));
        let e = strict.check_strict().unwrap_err();
        assert_eq!((e.status(), e.code.as_str()), (400, "PGRST122"));
        assert_eq!(
            e.details,
            Some(serde_json::json!({"invalid": ["tx=commit"]}))
        );
        let lenient = Prefer::parse(&["handling=lenient, missing=default, x".into()]);
        assert!(lenient.check_strict().is_ok() && lenient.missing_default);
        assert_eq!(p.resolution, Some(Resolution::MergeDuplicates));
        assert_eq!(
            p.applied,
            [
                "return=representation",
                "count=exact",
                "resolution=merge-duplicates"
            ]
        );
        assert_eq!(Prefer::parse(&[]).return_, Return::Minimal);
    }

    #[test]
    fn ranges() {
        assert_eq!(
            parse_range(Some("0-9"), Some("items")).unwrap(),
            Some((0, Some(10)))
        );
        assert_eq!(parse_range(Some("5-"), None).unwrap(), Some((5, None)));
        assert_eq!(parse_range(Some("bytes=0-9"), Some("bytes")).unwrap(), None);
        assert_eq!(parse_range(Some("x-y"), None).unwrap(), None);
        assert_eq!(parse_range(Some("9-0"), None).unwrap_err().status(), 416);
        assert_eq!(parse_range(None, None).unwrap(), None);
    }

    #[test]
    fn accept_and_content_range() {
        assert_eq!(parse_accept(None).unwrap(), Shape::Array);
        assert_eq!(
            parse_accept(Some("application/vnd.pgrst.object+json")).unwrap(),
            Shape::Single
        );
        assert_eq!(
            parse_accept(Some("text/html, */*;q=0.1")).unwrap(),
            Shape::Array
        );
        assert_eq!(parse_accept(Some("text/csv")).unwrap(), Shape::Csv);
        assert_eq!(parse_accept(Some("text/html")).unwrap_err().status(), 406);
        assert_eq!(content_range(0, 10, Some(25)), "0-9/25");
        assert_eq!(content_range(20, 5, None), "20-24/*");
        assert_eq!(content_range(30, 0, Some(25)), "*/25");
    }
}

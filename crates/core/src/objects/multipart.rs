//! The body that completes a multipart upload.
//!
//! `POST /v1/objects/{key}?uploadId=<id>` with
//! `{"parts": [{"partNumber": 1, "etag": "…"}, …]}`: the parts to assemble,
//! in ascending part-number order, each with the ETag its upload answered
//! (quoted or not). R2 then checks what it alone can: that every part
//! exists with that ETag, that all parts but the last are the same size and
//! at least 5 MiB, and that the last is no larger.

use super::{invalid, MAX_PART_NUMBER};
use crate::error::{ApiError, ErrorCode};
use serde::Deserialize;

/// One part to assemble.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartRef {
    /// 1 to 10 000.
    pub part_number: u16,
    /// The part's etag, without quotes.
    pub etag: String,
}

/// The parsed body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompleteUpload {
    /// Parts in ascending order, no duplicates.
    pub parts: Vec<PartRef>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    parts: Vec<PartBody>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PartBody {
    part_number: serde_json::Value,
    etag: String,
}

impl CompleteUpload {
    /// Parses and checks the body.
    pub fn parse(body: &[u8]) -> Result<CompleteUpload, ApiError> {
        let body: Body = serde_json::from_slice(body).map_err(|e| {
            let message = if e.is_syntax() || e.is_eof() {
                "the body is not valid JSON".to_string()
            } else {
                format!("the body must be {{\"parts\": [{{\"partNumber\": 1, \"etag\": \"...\"}}, ...]}}: {e}")
            };
            let code = if e.is_data() { ErrorCode::InvalidRequest } else { ErrorCode::InvalidJson };
            ApiError::new(code, message)
        })?;
        if body.parts.is_empty() {
            return Err(invalid(
                "parts is empty: an upload completes with at least one part",
            ));
        }
        let mut parts = Vec::with_capacity(body.parts.len());
        for (i, part) in body.parts.into_iter().enumerate() {
            let part_number = part
                .part_number
                .as_u64()
                .filter(|n| (1..=u64::from(MAX_PART_NUMBER)).contains(n))
                .map(|n| n as u16)
                .ok_or_else(|| {
                    invalid(format!(
                        "parts[{i}].partNumber must be an integer from 1 to {MAX_PART_NUMBER}"
                    ))
                })?;
            if parts
                .last()
                .is_some_and(|p: &PartRef| p.part_number >= part_number)
            {
                return Err(invalid(format!(
                    "parts[{i}]: part numbers must be listed in ascending order without repeats"
                )));
            }
            let etag = part.etag.trim();
            let etag = etag
                .strip_prefix('"')
                .and_then(|e| e.strip_suffix('"'))
                .unwrap_or(etag);
            if etag.is_empty() || etag.len() > 1024 {
                return Err(invalid(format!(
                    "parts[{i}].etag must be the ETag the part's upload answered"
                )));
            }
            parts.push(PartRef {
                part_number,
                etag: etag.to_string(),
            });
        }
        Ok(CompleteUpload { parts })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_parts_and_unquotes_etags() {
        let c = CompleteUpload::parse(
            br#"{"parts":[{"partNumber":1,"etag":"\"a\""},{"partNumber":3,"etag":"b"}]}"#,
        )
        .unwrap();
        assert_eq!(
            c.parts,
            vec![
                PartRef {
                    part_number: 1,
                    etag: "a".into()
                },
                PartRef {
                    part_number: 3,
                    etag: "b".into()
                }
            ]
        );
    }

    #[test]
    fn rejects_bad_bodies() {
        assert_eq!(
            CompleteUpload::parse(b"{").unwrap_err().code,
            ErrorCode::InvalidJson
        );
        for body in [
            r#"{"parts":[]}"#,
            r#"{}"#,
            r#"{"parts":[{"partNumber":0,"etag":"a"}]}"#,
            r#"{"parts":[{"partNumber":10001,"etag":"a"}]}"#,
            r#"{"parts":[{"partNumber":1.5,"etag":"a"}]}"#,
            r#"{"parts":[{"partNumber":"1","etag":"a"}]}"#,
            r#"{"parts":[{"partNumber":1,"etag":""}]}"#,
            r#"{"parts":[{"partNumber":1,"etag":"\"\""}]}"#,
            r#"{"parts":[{"partNumber":2,"etag":"a"},{"partNumber":1,"etag":"b"}]}"#,
            r#"{"parts":[{"partNumber":1,"etag":"a"},{"partNumber":1,"etag":"b"}]}"#,
            r#"{"parts":[{"partNumber":1,"etag":"a","size":3}]}"#,
            r#"{"parts":[{"partNumber":1,"etag":"a"}],"extra":1}"#,
            r#"[1]"#,
        ] {
            let e = CompleteUpload::parse(body.as_bytes()).unwrap_err();
            assert_eq!(e.status(), 400, "{body}");
            assert_eq!(e.code, ErrorCode::InvalidRequest, "{body}: {}", e.message);
        }
    }
}

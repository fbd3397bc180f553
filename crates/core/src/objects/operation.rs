//! Which operation a request on `/v1/objects/{key}` asks for.
//!
//! Plain methods act on the object; multipart uploads use S3's query
//! parameters, so the scheme is familiar and every step is one request:
//!
//! | request | operation |
//! |---|---|
//! | `GET`, `HEAD` | read the object |
//! | `PUT` | store the object |
//! | `DELETE` | delete the object |
//! | `POST ?uploads` | start a multipart upload |
//! | `PUT ?uploadId=&partNumber=` | upload one part |
//! | `POST ?uploadId=` | complete the upload (JSON list of parts) |
//! | `DELETE ?uploadId=` | abort the upload |
//!
//! Any other parameter is a 400, so a typo never silently turns a multipart
//! step into a plain write. Listing an upload's parts is not offered: R2's
//! Workers binding has no `listParts`, so clients keep each part's ETag.

use super::query::{self, Param};
use super::{invalid, MAX_PART_NUMBER};
use crate::error::ApiError;

/// Longest upload id accepted (R2's are far shorter; this bounds the input).
const MAX_UPLOAD_ID_BYTES: usize = 1024;

/// An operation on one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    /// `GET`: the object's bytes (or a range of them).
    Get,
    /// `HEAD`: the object's headers.
    Head,
    /// `PUT`: store a body as the object.
    Put,
    /// `DELETE`: remove the object.
    Delete,
    /// `POST ?uploads`: start a multipart upload.
    CreateUpload,
    /// `PUT ?uploadId=&partNumber=`: one part.
    UploadPart {
        /// The upload.
        upload_id: String,
        /// 1 to 10 000.
        part_number: u16,
    },
    /// `POST ?uploadId=`: assemble the parts into the object.
    CompleteUpload {
        /// The upload.
        upload_id: String,
    },
    /// `DELETE ?uploadId=`: discard the upload and its parts.
    AbortUpload {
        /// The upload.
        upload_id: String,
    },
}

impl Operation {
    /// Parses the method and the raw query string.
    pub fn parse(method: &str, raw_query: Option<&str>) -> Result<Operation, ApiError> {
        let params = query::parse(raw_query)?;
        let has = |name: &str| params.iter().any(|p| p.name == name);
        match method {
            "GET" | "HEAD" => {
                if has("uploadId") {
                    return Err(invalid(
                        "listing an upload's parts is not supported: R2's Workers binding has no listParts",
                    )
                    .with_hint("keep the ETag each part upload answers with; complete with POST ?uploadId="));
                }
                query::only(&params, &[], &format!("{method} of an object"))?;
                Ok(if method == "GET" { Operation::Get } else { Operation::Head })
            }
            "PUT" if params.is_empty() => Ok(Operation::Put),
            "PUT" => {
                query::only(&params, &["uploadId", "partNumber"], "PUT of a part")?;
                let part = query::value(&params, "partNumber")
                    .ok_or_else(|| invalid("a part upload needs both uploadId and partNumber"))?;
                Ok(Operation::UploadPart {
                    upload_id: upload_id(&params)?,
                    part_number: part_number(part)?,
                })
            }
            "POST" if has("uploads") => {
                query::only(&params, &["uploads"], "starting an upload (POST ?uploads)")?;
                if query::value(&params, "uploads") != Some("") {
                    return Err(invalid("?uploads takes no value"));
                }
                Ok(Operation::CreateUpload)
            }
            "POST" if has("uploadId") => {
                query::only(&params, &["uploadId"], "completing an upload (POST ?uploadId=)")?;
                Ok(Operation::CompleteUpload {
                    upload_id: upload_id(&params)?,
                })
            }
            "POST" => Err(invalid(
                "POST on an object takes ?uploads (start a multipart upload) or ?uploadId=<id> (complete one)",
            )),
            "DELETE" if params.is_empty() => Ok(Operation::Delete),
            "DELETE" => {
                query::only(&params, &["uploadId"], "aborting an upload (DELETE ?uploadId=)")?;
                Ok(Operation::AbortUpload {
                    upload_id: upload_id(&params)?,
                })
            }
            _ => Err(ApiError::method_not_allowed(&["GET", "HEAD", "PUT", "DELETE", "POST"])),
        }
    }

    /// Whether the operation changes the bucket (`objects:write`) or only
    /// reads it (`objects:read`).
    pub fn writes(&self) -> bool {
        !matches!(self, Operation::Get | Operation::Head)
    }
}

fn upload_id(params: &[Param]) -> Result<String, ApiError> {
    match query::value(params, "uploadId") {
        None => Err(invalid("a part upload needs both uploadId and partNumber")),
        Some("") => Err(invalid("uploadId is empty")),
        Some(id) if id.len() > MAX_UPLOAD_ID_BYTES => Err(invalid("uploadId is too long")),
        Some(id) => Ok(id.to_string()),
    }
}

fn part_number(text: &str) -> Result<u16, ApiError> {
    let n = (!text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse::<u16>().ok())
        .flatten()
        .filter(|n| (1..=MAX_PART_NUMBER).contains(n));
    n.ok_or_else(|| {
        invalid(format!(
            "partNumber must be an integer from 1 to {MAX_PART_NUMBER}"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(method: &str, q: &str) -> Result<Operation, ApiError> {
        Operation::parse(method, (!q.is_empty()).then_some(q))
    }

    #[test]
    fn plain_methods() {
        assert_eq!(op("GET", "").unwrap(), Operation::Get);
        assert_eq!(op("HEAD", "").unwrap(), Operation::Head);
        assert_eq!(op("PUT", "").unwrap(), Operation::Put);
        assert_eq!(op("DELETE", "").unwrap(), Operation::Delete);
        assert!(!Operation::Get.writes() && !Operation::Head.writes());
        assert!(
            Operation::Put.writes()
                && Operation::Delete.writes()
                && Operation::CreateUpload.writes()
        );
    }

    #[test]
    fn multipart_steps() {
        assert_eq!(op("POST", "uploads").unwrap(), Operation::CreateUpload);
        assert_eq!(op("POST", "uploads=").unwrap(), Operation::CreateUpload);
        assert_eq!(
            op("PUT", "uploadId=u%2B1&partNumber=7").unwrap(),
            Operation::UploadPart {
                upload_id: "u+1".into(),
                part_number: 7
            }
        );
        assert_eq!(
            op("POST", "uploadId=u1").unwrap(),
            Operation::CompleteUpload {
                upload_id: "u1".into()
            }
        );
        assert_eq!(
            op("DELETE", "uploadId=u1").unwrap(),
            Operation::AbortUpload {
                upload_id: "u1".into()
            }
        );
    }

    #[test]
    fn rejects_everything_else_clearly() {
        for (method, q) in [
            ("GET", "x=1"),
            ("HEAD", "uploads"),
            ("PUT", "uploadId=u1"),
            ("PUT", "partNumber=1"),
            ("PUT", "uploadId=&partNumber=1"),
            ("PUT", "uploadId=u&partNumber=0"),
            ("PUT", "uploadId=u&partNumber=10001"),
            ("PUT", "uploadId=u&partNumber=-1"),
            ("PUT", "uploadId=u&partNumber=1.5"),
            ("PUT", "uploadId=u&partNumber=1&extra"),
            ("PUT", "uploads"),
            ("POST", ""),
            ("POST", "uploads=yes"),
            ("POST", "uploads&uploadId=u"),
            ("POST", "uploadId=u&partNumber=1"),
            ("DELETE", "uploads"),
            ("DELETE", "uploadId=u&x"),
            ("PUT", "uploadId=u&uploadId=v&partNumber=1"),
        ] {
            assert_eq!(op(method, q).unwrap_err().status(), 400, "{method} ?{q}");
        }
        let e = op("GET", "uploadId=u").unwrap_err();
        assert!(e.message.contains("listParts"), "{}", e.message);
        assert_eq!(op("PATCH", "").unwrap_err().status(), 405);
        let max = format!("uploadId=u&partNumber={MAX_PART_NUMBER}");
        assert!(op("PUT", &max).is_ok());
    }
}

//! S3's error responses: an XML body with a code S3 clients switch on, and
//! the status S3 uses for it. HEAD errors carry no body (the shell drops it).

use super::xml::escape;
use crate::error::{ApiError, ErrorCode};

/// An S3 error: its code (S3's, e.g. `NoSuchKey`), status and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Error {
    /// S3's error code, part of the contract clients switch on.
    pub code: &'static str,
    /// The HTTP status S3 answers with for this code.
    pub status: u16,
    /// A human-readable message (never internal detail).
    pub message: String,
    /// Headers the response carries besides the body's.
    pub headers: Vec<(&'static str, String)>,
    /// What happened, for the log only (never in the response): an
    /// [`ApiError`]'s cause or message when it came from Strata's own errors.
    pub cause: Option<String>,
}

macro_rules! s3_errors {
    ($($fn:ident => $code:literal, $status:literal;)*) => {
        impl S3Error {
            $(
                #[doc = concat!("`", $code, "` (", stringify!($status), ").")]
                pub fn $fn(message: impl Into<String>) -> S3Error {
                    S3Error::new($code, $status, message)
                }
            )*
        }
    };
}

s3_errors! {
    access_denied => "AccessDenied", 403;
    signature_does_not_match => "SignatureDoesNotMatch", 403;
    invalid_access_key_id => "InvalidAccessKeyId", 403;
    request_time_too_skewed => "RequestTimeTooSkewed", 403;
    authorization_header_malformed => "AuthorizationHeaderMalformed", 400;
    authorization_query_parameters_error => "AuthorizationQueryParametersError", 400;
    missing_security_header => "MissingSecurityHeader", 400;
    content_sha256_mismatch => "XAmzContentSHA256Mismatch", 400;
    bad_digest => "BadDigest", 400;
    invalid_digest => "InvalidDigest", 400;
    invalid_request => "InvalidRequest", 400;
    invalid_argument => "InvalidArgument", 400;
    incomplete_body => "IncompleteBody", 400;
    malformed_xml => "MalformedXML", 400;
    invalid_range => "InvalidRange", 416;
    precondition_failed => "PreconditionFailed", 412;
    no_such_key => "NoSuchKey", 404;
    no_such_bucket => "NoSuchBucket", 404;
    no_such_upload => "NoSuchUpload", 404;
    no_such_version => "NoSuchVersion", 404;
    invalid_part => "InvalidPart", 400;
    invalid_part_order => "InvalidPartOrder", 400;
    entity_too_small => "EntityTooSmall", 400;
    entity_too_large => "EntityTooLarge", 400;
    missing_content_length => "MissingContentLength", 411;
    method_not_allowed => "MethodNotAllowed", 405;
    not_implemented => "NotImplemented", 501;
    internal_error => "InternalError", 500;
    service_unavailable => "ServiceUnavailable", 503;
    slow_down => "SlowDown", 503;
    request_timeout => "RequestTimeout", 400;
}

impl S3Error {
    /// An error with any code and status.
    pub fn new(code: &'static str, status: u16, message: impl Into<String>) -> S3Error {
        S3Error {
            code,
            status,
            message: message.into(),
            headers: Vec::new(),
            cause: None,
        }
    }

    /// Adds a response header.
    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> S3Error {
        self.headers.push((name, value.into()));
        self
    }

    /// The XML body (`resource` is the request path, `request_id` the
    /// pipeline's id).
    pub fn body(&self, resource: &str, request_id: &str) -> String {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{}</Message><Resource>{}</Resource><RequestId>{}</RequestId></Error>",
            self.code,
            escape(&self.message),
            escape(resource),
            escape(request_id)
        )
    }
}

/// Strata's own errors (from the objects operation, the stores, the
/// router) as the S3 error a client of S3 expects. The message is kept: it
/// is already client-safe.
impl From<ApiError> for S3Error {
    fn from(e: ApiError) -> S3Error {
        let message = e.message.clone();
        let mapped = match e.code {
            ErrorCode::NotFound | ErrorCode::ObjectNotFound => S3Error::no_such_key(message),
            ErrorCode::UploadNotFound => S3Error::no_such_upload(message),
            ErrorCode::PreconditionFailed => S3Error::precondition_failed(message),
            ErrorCode::RangeNotSatisfiable => S3Error::invalid_range(message),
            ErrorCode::LengthRequired => S3Error::missing_content_length(message),
            ErrorCode::ChecksumMismatch => S3Error::bad_digest(message),
            ErrorCode::MethodNotAllowed => S3Error::method_not_allowed(message),
            ErrorCode::Unauthorized | ErrorCode::Forbidden | ErrorCode::ReadOnly => {
                S3Error::access_denied(message)
            }
            ErrorCode::PayloadTooLarge => S3Error::entity_too_large(message),
            ErrorCode::StoreUnavailable => S3Error::service_unavailable(message),
            ErrorCode::Timeout => S3Error::request_timeout(message),
            ErrorCode::ConfigInvalid | ErrorCode::Internal => {
                S3Error::internal_error("We encountered an internal error. Please try again.")
            }
            _ => match e.status() {
                404 => S3Error::no_such_key(message),
                412 => S3Error::precondition_failed(message),
                416 => S3Error::invalid_range(message),
                409 => S3Error::new("OperationAborted", 409, message),
                s if s >= 500 => {
                    S3Error::internal_error("We encountered an internal error. Please try again.")
                }
                _ => S3Error::invalid_request(message),
            },
        };
        let mut mapped = mapped;
        mapped.cause = Some(match &e.cause {
            Some(cause) => format!("{}: {cause}", e.code.as_str()),
            None => format!("{}: {}", e.code.as_str(), e.message),
        });
        mapped.headers.extend(
            e.headers
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case("retry-after"))
                .cloned(),
        );
        mapped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_is_s3_xml_with_escaped_text() {
        let e = S3Error::no_such_key("The specified key does not exist.");
        assert_eq!(e.status, 404);
        assert_eq!(
            e.body("/s3/b/a<b>&c", "r1"),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message><Resource>/s3/b/a&lt;b&gt;&amp;c</Resource><RequestId>r1</RequestId></Error>"
        );
    }

    #[test]
    fn strata_errors_become_s3_codes() {
        let e: S3Error = ApiError::new(ErrorCode::Forbidden, "needs objects:write").into();
        assert_eq!((e.code, e.status), ("AccessDenied", 403));
        let e: S3Error = ApiError::new(ErrorCode::Internal, "db at 10.0.0.1 said no").into();
        assert_eq!((e.code, e.status), ("InternalError", 500));
        assert!(!e.message.contains("10.0.0.1"));
        assert!(!e.body("/s3", "r").contains("10.0.0.1"));
        assert!(e.cause.as_deref().is_some_and(|c| c.contains("10.0.0.1")));
        let e: S3Error = ApiError::new(ErrorCode::StoreUnavailable, "r2")
            .with_header("Retry-After", "1")
            .into();
        assert_eq!((e.code, e.status), ("ServiceUnavailable", 503));
        assert_eq!(e.headers, vec![("Retry-After", "1".to_string())]);
    }
}

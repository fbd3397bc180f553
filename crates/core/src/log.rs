//! The one structured log line per request.
//!
//! It holds what an operator needs to follow a request and nothing a client
//! sent as content: no body, no query string, no header values, no key —
//! only the key's id.

use serde::Serialize;

/// One request's log record.
#[derive(Debug, Serialize)]
pub struct RequestLog<'a> {
    /// HTTP method.
    pub method: &'a str,
    /// The matched route's pattern (not the raw path), or `"unmatched"`.
    pub route: &'a str,
    /// Response status.
    pub status: u16,
    /// Wall time in milliseconds.
    #[serde(rename = "durationMs")]
    pub duration_ms: f64,
    /// The request id the response carried.
    #[serde(rename = "requestId")]
    pub request_id: &'a str,
    /// The API key id, when authenticated.
    #[serde(rename = "keyId", skip_serializing_if = "Option::is_none")]
    pub key_id: Option<&'a str>,
    /// The error code, when the response is an error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'a str>,
}

impl RequestLog<'_> {
    /// The record as one JSON line.
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_is_json_with_the_fields() {
        let line = RequestLog {
            method: "GET",
            route: "/v1/status",
            status: 503,
            duration_ms: 12.0,
            request_id: "abc",
            key_id: Some("dev"),
            error: Some("store_unavailable"),
        }
        .to_line();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["route"], "/v1/status");
        assert_eq!(v["status"], 503);
        assert_eq!(v["requestId"], "abc");
        assert_eq!(v["keyId"], "dev");
        assert!(!line.contains('\n'));
    }
}

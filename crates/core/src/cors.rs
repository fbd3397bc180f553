//! CORS: which browser origins may call the API, and the headers that tell
//! the browser so.
//!
//! The policy comes from `CORS_ALLOWED_ORIGINS` (comma-separated origins, or
//! `*`; unset: no cross-origin access), `CORS_ALLOWED_METHODS`,
//! `CORS_ALLOWED_HEADERS`, `CORS_EXPOSED_HEADERS` and `CORS_MAX_AGE_SECONDS`.
//! No response ever allows credentials (cookies): Strata's credentials are
//! bearer tokens a page sends itself, which works without them.
//!
//! * A listed origin is echoed alone in `Access-Control-Allow-Origin` (never
//!   a list), and every response carries `Vary: Origin`, since what it says
//!   depends on the request's `Origin`.
//! * With `*`, every response says `Access-Control-Allow-Origin: *`,
//!   whatever the `Origin`, so nothing varies.
//! * An origin that is not allowed gets no CORS header at all; its
//!   preflight is answered without any `Access-Control-Allow-*` header, so
//!   the browser refuses the request.

use crate::error::ApiError;

/// Every setting the policy reads.
pub const SETTINGS: [&str; 5] = [
    "CORS_ALLOWED_ORIGINS",
    "CORS_ALLOWED_METHODS",
    "CORS_ALLOWED_HEADERS",
    "CORS_EXPOSED_HEADERS",
    "CORS_MAX_AGE_SECONDS",
];

/// Default `CORS_ALLOWED_METHODS`: every method a route serves.
pub const DEFAULT_METHODS: &str = "GET, HEAD, POST, PUT, PATCH, DELETE";

/// Default `CORS_ALLOWED_HEADERS`: every request header a route reads. A
/// name ending in `*` allows every header with that prefix (object
/// metadata, `x-strata-meta-*`); a preflight's answer then names the
/// requested ones.
pub const DEFAULT_HEADERS: &str =
    "Authorization, Content-Type, Accept, Prefer, Range, Range-Unit, \
    If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since, If-Range, Content-MD5, \
    Content-Disposition, Content-Encoding, Content-Language, Cache-Control, Expires, \
    x-request-id, x-d1-bookmark, x-strata-checksum-sha256, x-strata-meta-*, \
    x-amz-*, amz-sdk-*";

/// Default `CORS_EXPOSED_HEADERS`: the response headers a page may read
/// beyond the always-visible ones. A name ending in `*` exposes the
/// response's own headers with that prefix (object metadata, S3's
/// `x-amz-*`), named one by one, since `Access-Control-Expose-Headers`
/// takes no patterns.
pub const DEFAULT_EXPOSED: &str = "Content-Range, Content-Disposition, Content-Encoding, \
    Content-Language, ETag, Last-Modified, Accept-Ranges, Location, Link, Preference-Applied, \
    Retry-After, WWW-Authenticate, Allow, x-request-id, x-d1-bookmark, x-strata-checksum-sha256, \
    x-strata-meta-*, x-amz-*";

/// Default `CORS_MAX_AGE_SECONDS`: how long a browser may reuse a preflight.
pub const DEFAULT_MAX_AGE_SECONDS: u64 = 600;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Origins {
    Nobody,
    Any,
    Listed(Vec<String>),
}

/// The validated policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorsPolicy {
    origins: Origins,
    methods: String,
    /// Allowed request headers as configured (for the preflight answer).
    headers: Vec<String>,
    /// Lowercase prefixes from `name*` entries (`""` for a bare `*`).
    header_prefixes: Vec<String>,
    exposed: String,
    /// Lowercase prefixes from `name*` entries of the exposed headers.
    exposed_prefixes: Vec<String>,
    max_age: u64,
}

/// Headers to add to a response. `vary` is appended to any `Vary` the
/// response already has, never set over it.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct CorsHeaders {
    /// Headers to set.
    pub set: Vec<(&'static str, String)>,
    /// Request headers the answer depends on.
    pub vary: Option<&'static str>,
}

impl CorsPolicy {
    /// Reads the settings through `setting` (name → value; unset or blank
    /// means the default). Errors name the setting, never its value.
    pub fn from_settings(setting: impl Fn(&str) -> Option<String>) -> Result<CorsPolicy, ApiError> {
        let get = |name: &str| setting(name).filter(|v| !v.trim().is_empty());
        let origins = match get("CORS_ALLOWED_ORIGINS") {
            None => Origins::Nobody,
            Some(v) if v.trim() == "*" => Origins::Any,
            Some(v) => Origins::Listed(
                list(&v)
                    .map(normalize_origin)
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| {
                        ApiError::config(
                            "CORS_ALLOWED_ORIGINS",
                            "is not `*` or a comma-separated list of origins like https://app.example.com",
                        )
                    })?,
            ),
        };
        let methods = get("CORS_ALLOWED_METHODS").unwrap_or_else(|| DEFAULT_METHODS.into());
        let methods: Vec<String> = list(&methods).map(str::to_ascii_uppercase).collect();
        if methods.is_empty() || !methods.iter().all(|m| is_token(m)) {
            return Err(ApiError::config(
                "CORS_ALLOWED_METHODS",
                "is not a comma-separated list of HTTP methods",
            ));
        }
        let configured = get("CORS_ALLOWED_HEADERS").unwrap_or_else(|| DEFAULT_HEADERS.into());
        let mut headers = Vec::new();
        let mut header_prefixes = Vec::new();
        for name in list(&configured) {
            match name.strip_suffix('*') {
                Some(prefix) if prefix.is_empty() || is_token(prefix) => {
                    header_prefixes.push(prefix.to_ascii_lowercase())
                }
                None if is_token(name) => headers.push(name.to_string()),
                _ => return Err(ApiError::config(
                    "CORS_ALLOWED_HEADERS",
                    "is not a comma-separated list of header names (a trailing * allows a prefix)",
                )),
            }
        }
        let exposed = get("CORS_EXPOSED_HEADERS").unwrap_or_else(|| DEFAULT_EXPOSED.into());
        let (prefixed, exposed): (Vec<&str>, Vec<&str>) =
            list(&exposed).partition(|h| h.len() > 1 && h.ends_with('*'));
        let exposed_prefixes: Vec<String> = prefixed
            .iter()
            .map(|h| h.trim_end_matches('*').to_ascii_lowercase())
            .collect();
        if !exposed.iter().all(|h| *h == "*" || is_token(h))
            || !exposed_prefixes.iter().all(|p| is_token(p))
        {
            return Err(ApiError::config(
                "CORS_EXPOSED_HEADERS",
                "is not a comma-separated list of header names (a trailing * exposes a prefix)",
            ));
        }
        let max_age = match get("CORS_MAX_AGE_SECONDS") {
            None => DEFAULT_MAX_AGE_SECONDS,
            Some(v) => v
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|n| *n <= 86_400)
                .ok_or_else(|| {
                    ApiError::config(
                        "CORS_MAX_AGE_SECONDS",
                        "is not a whole number from 0 to 86400",
                    )
                })?,
        };
        Ok(CorsPolicy {
            origins,
            methods: methods.join(", "),
            headers,
            header_prefixes,
            exposed: exposed.join(", "),
            exposed_prefixes,
            max_age,
        })
    }

    /// Whether a request is a CORS preflight: `OPTIONS` with `Origin` and
    /// `Access-Control-Request-Method`. A plain `OPTIONS` is not.
    pub fn is_preflight(method: &str, origin: Option<&str>, request_method: Option<&str>) -> bool {
        method == "OPTIONS" && origin.is_some() && request_method.is_some()
    }

    /// The headers of a preflight's `204` for `origin`, given its
    /// `Access-Control-Request-Headers`.
    pub fn preflight(&self, origin: &str, request_headers: Option<&str>) -> CorsHeaders {
        let mut answer = CorsHeaders {
            set: Vec::new(),
            vary: self.vary(),
        };
        let Some(allow_origin) = self.allowed(origin) else {
            return answer;
        };
        let mut allowed: Vec<String> = self.headers.clone();
        if !self.header_prefixes.is_empty() {
            // The answer names the requested headers a prefix allows, so it
            // depends on what was requested.
            answer.vary = Some(match answer.vary {
                Some(_) => "Origin, Access-Control-Request-Headers",
                None => "Access-Control-Request-Headers",
            });
            for name in list(request_headers.unwrap_or("")) {
                let lower = name.to_ascii_lowercase();
                let listed = allowed.iter().any(|a| a.eq_ignore_ascii_case(name));
                if !listed
                    && is_token(name)
                    && self
                        .header_prefixes
                        .iter()
                        .any(|p| lower.starts_with(p.as_str()))
                {
                    allowed.push(lower);
                }
            }
        }
        answer
            .set
            .push(("Access-Control-Allow-Origin", allow_origin));
        answer
            .set
            .push(("Access-Control-Allow-Methods", self.methods.clone()));
        if !allowed.is_empty() {
            answer
                .set
                .push(("Access-Control-Allow-Headers", allowed.join(", ")));
        }
        answer
            .set
            .push(("Access-Control-Max-Age", self.max_age.to_string()));
        answer
    }

    /// The CORS headers of any other response (success or error).
    pub fn actual(&self, origin: Option<&str>) -> CorsHeaders {
        let mut answer = CorsHeaders {
            set: Vec::new(),
            vary: self.vary(),
        };
        if let Some(allow_origin) = origin.and_then(|o| self.allowed(o)) {
            answer
                .set
                .push(("Access-Control-Allow-Origin", allow_origin));
            if !self.exposed.is_empty() {
                answer
                    .set
                    .push(("Access-Control-Expose-Headers", self.exposed.clone()));
            }
        } else if self.origins == Origins::Any {
            // `*` is the answer for every request, Origin or not.
            answer.set.push(("Access-Control-Allow-Origin", "*".into()));
            if !self.exposed.is_empty() {
                answer
                    .set
                    .push(("Access-Control-Expose-Headers", self.exposed.clone()));
            }
        }
        answer
    }

    /// Adds the response's headers that an exposed `name*` prefix matches
    /// (`names`, the response's header names) to the `actual` answer's
    /// `Access-Control-Expose-Headers`.
    pub fn expose_present<'a>(
        &self,
        answer: &mut CorsHeaders,
        names: impl Iterator<Item = &'a str>,
    ) {
        let allowed = answer
            .set
            .iter()
            .any(|(n, _)| *n == "Access-Control-Allow-Origin");
        let matched: Vec<String> = names
            .map(str::to_ascii_lowercase)
            .filter(|n| {
                self.exposed_prefixes
                    .iter()
                    .any(|p| n.starts_with(p.as_str()))
            })
            .collect();
        if !allowed || matched.is_empty() {
            return;
        }
        let matched = matched.join(", ");
        match answer
            .set
            .iter_mut()
            .find(|(n, _)| *n == "Access-Control-Expose-Headers")
        {
            Some((_, value)) => {
                value.push_str(", ");
                value.push_str(&matched);
            }
            None => answer.set.push(("Access-Control-Expose-Headers", matched)),
        }
    }

    /// The `Access-Control-Allow-Origin` value for `origin`, if allowed.
    fn allowed(&self, origin: &str) -> Option<String> {
        match &self.origins {
            Origins::Nobody => None,
            Origins::Any => Some("*".into()),
            Origins::Listed(list) => {
                let origin = origin.trim();
                list.iter()
                    .find(|o| o.eq_ignore_ascii_case(origin))
                    .cloned()
            }
        }
    }

    fn vary(&self) -> Option<&'static str> {
        matches!(self.origins, Origins::Listed(_)).then_some("Origin")
    }
}

/// The non-empty, trimmed items of a comma-separated list.
fn list(value: &str) -> impl Iterator<Item = &str> {
    value.split(',').map(str::trim).filter(|s| !s.is_empty())
}

/// An HTTP token (RFC 9110 §5.6.2): what header names and methods are made of.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// `scheme://host[:port]` as a browser serializes it: lowercase, no path,
/// no trailing slash (one is forgiven in the setting). `None` if it is not
/// an http(s) origin — including `null`, which sandboxed pages and local
/// files send and which must never be allowed by listing.
fn normalize_origin(entry: &str) -> Option<String> {
    let entry = entry
        .strip_suffix('/')
        .unwrap_or(entry)
        .to_ascii_lowercase();
    let rest = entry
        .strip_prefix("https://")
        .or_else(|| entry.strip_prefix("http://"))?;
    let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
        let (addr, after) = v6.split_once(']')?;
        if addr.is_empty()
            || !addr
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return None;
        }
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':')?),
        };
        (addr, port)
    } else {
        match rest.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (rest, None),
        }
    };
    let host_ok = !host.is_empty()
        && (rest.starts_with('[')
            || host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.'));
    let port_ok =
        port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    (host_ok && port_ok).then_some(entry)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn policy(pairs: &[(&str, &str)]) -> CorsPolicy {
        try_policy(pairs).unwrap()
    }

    fn try_policy(pairs: &[(&str, &str)]) -> Result<CorsPolicy, ApiError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        CorsPolicy::from_settings(|name| map.get(name).cloned())
    }

    fn header<'a>(h: &'a CorsHeaders, name: &str) -> Option<&'a str> {
        h.set
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    const APP: &str = "https://app.example.com";

    fn listed() -> CorsPolicy {
        policy(&[(
            "CORS_ALLOWED_ORIGINS",
            "https://app.example.com, http://localhost:5173/",
        )])
    }

    #[test]
    fn recognises_preflights() {
        assert!(CorsPolicy::is_preflight("OPTIONS", Some(APP), Some("PUT")));
        assert!(!CorsPolicy::is_preflight("OPTIONS", None, Some("PUT")));
        assert!(!CorsPolicy::is_preflight("OPTIONS", Some(APP), None));
        assert!(!CorsPolicy::is_preflight("GET", Some(APP), Some("PUT")));
    }

    #[test]
    fn a_listed_origin_is_echoed_alone_and_varies() {
        let p = listed();
        let h = p.actual(Some(APP));
        assert_eq!(header(&h, "Access-Control-Allow-Origin"), Some(APP));
        let exposed = header(&h, "Access-Control-Expose-Headers").unwrap();
        assert!(exposed.contains("x-request-id") && exposed.contains("x-d1-bookmark"));
        assert_eq!(h.vary, Some("Origin"));
        let h = p.actual(Some("http://localhost:5173"));
        assert_eq!(
            header(&h, "Access-Control-Allow-Origin"),
            Some("http://localhost:5173")
        );
        assert_eq!(
            header(
                &p.actual(Some("HTTPS://APP.example.com")),
                "Access-Control-Allow-Origin"
            ),
            Some(APP)
        );
    }

    #[test]
    fn other_origins_get_nothing_but_vary() {
        let p = listed();
        for origin in [
            Some("https://evil.example.com"),
            Some("https://app.example.com.evil.example"),
            Some("http://app.example.com"),
            Some("https://app.example.com:8443"),
            Some("null"),
            Some("https://app.example.com, https://evil.example"),
            None,
        ] {
            let h = p.actual(origin);
            assert!(h.set.is_empty(), "{origin:?}");
            assert_eq!(h.vary, Some("Origin"));
            if let Some(o) = origin {
                let pre = p.preflight(o, Some("authorization"));
                assert!(pre.set.is_empty(), "{o}");
                assert_eq!(pre.vary, Some("Origin"));
            }
        }
    }

    #[test]
    fn preflight_lists_methods_headers_and_max_age() {
        let h = listed().preflight(
            APP,
            Some("authorization, content-type, x-strata-meta-owner, x-evil"),
        );
        assert_eq!(header(&h, "Access-Control-Allow-Origin"), Some(APP));
        assert_eq!(
            header(&h, "Access-Control-Allow-Methods"),
            Some(DEFAULT_METHODS)
        );
        let allowed = header(&h, "Access-Control-Allow-Headers").unwrap();
        for name in [
            "Authorization",
            "Content-Type",
            "Prefer",
            "Range",
            "Range-Unit",
            "If-Match",
            "x-request-id",
            "x-d1-bookmark",
            "x-strata-meta-owner",
        ] {
            assert!(
                allowed.split(", ").any(|a| a == name),
                "{name} in {allowed}"
            );
        }
        assert!(!allowed.contains("x-evil"));
        assert!(!allowed.contains('*'));
        assert_eq!(header(&h, "Access-Control-Max-Age"), Some("600"));
        assert!(header(&h, "Access-Control-Allow-Credentials").is_none());
    }

    #[test]
    fn any_origin_is_a_star_for_everyone() {
        let p = policy(&[
            ("CORS_ALLOWED_ORIGINS", "*"),
            ("CORS_ALLOWED_HEADERS", "Authorization, Content-Type"),
        ]);
        for origin in [Some(APP), Some("null"), None] {
            let h = p.actual(origin);
            assert_eq!(header(&h, "Access-Control-Allow-Origin"), Some("*"));
            assert_eq!(h.vary, None);
        }
        let h = p.preflight("https://anyone.example", Some("authorization"));
        assert_eq!(header(&h, "Access-Control-Allow-Origin"), Some("*"));
        assert_eq!(
            header(&h, "Access-Control-Allow-Headers"),
            Some("Authorization, Content-Type")
        );
        assert_eq!(h.vary, None);
    }

    #[test]
    fn unset_means_no_cross_origin_access() {
        let p = policy(&[]);
        assert_eq!(p.actual(Some(APP)), CorsHeaders::default());
        assert_eq!(p.preflight(APP, None), CorsHeaders::default());
    }

    #[test]
    fn custom_methods_headers_exposed_and_max_age() {
        let p = policy(&[
            ("CORS_ALLOWED_ORIGINS", APP),
            ("CORS_ALLOWED_METHODS", "get,post"),
            ("CORS_ALLOWED_HEADERS", "*"),
            ("CORS_EXPOSED_HEADERS", "ETag"),
            ("CORS_MAX_AGE_SECONDS", "0"),
        ]);
        let h = p.preflight(APP, Some("Authorization, X-Anything"));
        assert_eq!(
            header(&h, "Access-Control-Allow-Methods"),
            Some("GET, POST")
        );
        assert_eq!(
            header(&h, "Access-Control-Allow-Headers"),
            Some("authorization, x-anything")
        );
        assert_eq!(header(&h, "Access-Control-Max-Age"), Some("0"));
        assert_eq!(
            header(&p.actual(Some(APP)), "Access-Control-Expose-Headers"),
            Some("ETag")
        );
    }

    #[test]
    fn origins_are_validated() {
        for ok in [
            "https://a.example",
            "http://127.0.0.1:8787",
            "https://[::1]:3000",
            "https://x-y.example/",
        ] {
            assert!(normalize_origin(ok).is_some(), "{ok}");
        }
        for bad in [
            "null",
            "app.example.com",
            "https://a.example/path",
            "ftp://a.example",
            "https://",
            "https://a.example:",
            "https://a.example:123456",
            "https://u@a.example",
            "https://*.example.com",
        ] {
            assert!(normalize_origin(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn bad_settings_name_the_setting() {
        for (pairs, setting) in [
            (
                vec![("CORS_ALLOWED_ORIGINS", "https://a.example, null")],
                "CORS_ALLOWED_ORIGINS",
            ),
            (
                vec![("CORS_ALLOWED_ORIGINS", "*, https://a.example")],
                "CORS_ALLOWED_ORIGINS",
            ),
            (
                vec![("CORS_ALLOWED_METHODS", "GET, P UT")],
                "CORS_ALLOWED_METHODS",
            ),
            (
                vec![("CORS_ALLOWED_HEADERS", "x-a, x b")],
                "CORS_ALLOWED_HEADERS",
            ),
            (
                vec![("CORS_EXPOSED_HEADERS", "ETag;")],
                "CORS_EXPOSED_HEADERS",
            ),
            (vec![("CORS_MAX_AGE_SECONDS", "-1")], "CORS_MAX_AGE_SECONDS"),
            (
                vec![("CORS_MAX_AGE_SECONDS", "86401")],
                "CORS_MAX_AGE_SECONDS",
            ),
        ] {
            let e = try_policy(&pairs).unwrap_err();
            assert_eq!(e.status(), 500);
            assert_eq!(e.details, Some(serde_json::json!({ "setting": setting })));
        }
    }

    #[test]
    fn s3_headers_are_allowed_and_prefixed_response_headers_exposed() {
        let p = listed();
        let pre = p.preflight(
            APP,
            Some("authorization, x-amz-date, x-amz-content-sha256, x-amz-meta-owner, amz-sdk-request"),
        );
        let allowed = header(&pre, "Access-Control-Allow-Headers").unwrap();
        for name in [
            "x-amz-date",
            "x-amz-content-sha256",
            "x-amz-meta-owner",
            "amz-sdk-request",
        ] {
            assert!(allowed.contains(name), "{allowed}");
        }
        let mut h = p.actual(Some(APP));
        p.expose_present(
            &mut h,
            [
                "content-type",
                "ETag",
                "x-amz-meta-owner",
                "x-amz-bucket-region",
                "x-strata-meta-a",
            ]
            .into_iter(),
        );
        let exposed = header(&h, "Access-Control-Expose-Headers").unwrap();
        assert!(exposed.starts_with("Content-Range,"), "{exposed}");
        assert!(
            exposed.ends_with(", x-amz-meta-owner, x-amz-bucket-region, x-strata-meta-a"),
            "{exposed}"
        );
        assert!(!exposed.contains("content-type"), "{exposed}");
        // Not for an origin that is not allowed.
        let mut h = p.actual(Some("https://evil.example"));
        p.expose_present(&mut h, ["x-amz-meta-owner"].into_iter());
        assert_eq!(header(&h, "Access-Control-Expose-Headers"), None);
        // Only the prefixes configured; a bad one names the setting.
        let p = CorsPolicy::from_settings(|n| match n {
            "CORS_ALLOWED_ORIGINS" => Some(APP.into()),
            "CORS_EXPOSED_HEADERS" => Some("ETag".into()),
            _ => None,
        })
        .unwrap();
        let mut h = p.actual(Some(APP));
        p.expose_present(&mut h, ["x-amz-meta-owner"].into_iter());
        assert_eq!(header(&h, "Access-Control-Expose-Headers"), Some("ETag"));
        let e = CorsPolicy::from_settings(|n| match n {
            "CORS_EXPOSED_HEADERS" => Some("x amz*".into()),
            _ => None,
        })
        .unwrap_err();
        assert!(
            e.message.contains("CORS_EXPOSED_HEADERS")
                || format!("{e:?}").contains("CORS_EXPOSED_HEADERS")
        );
    }
}

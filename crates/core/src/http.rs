//! The HTTP shapes core speaks with the Worker shell: a request as the
//! operations read it, and a response as they decide it.
//!
//! Every resource has the same shape: core turns the request into one typed
//! command (`parse`), the shell runs it against a store through the traits
//! of [`crate::store`], and core turns the outcome into one [`Reply`]. The
//! shell only moves bytes: it copies a [`Reply`]'s status, headers and body
//! into the runtime's response, unchanged.

/// Request headers as the shell read them: lowercase names, one entry per
/// name (the runtime joins repeated fields with `", "`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestHeaders {
    entries: Vec<(String, String)>,
}

impl RequestHeaders {
    /// Wraps `(name, value)` pairs; names are lowercased here so lookups
    /// never depend on how the caller spelled them.
    pub fn new(entries: impl IntoIterator<Item = (String, String)>) -> Self {
        RequestHeaders {
            entries: entries
                .into_iter()
                .map(|(n, v)| (n.to_ascii_lowercase(), v))
                .collect(),
        }
    }

    /// The value of a header (name in lowercase), if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every header.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }
}

/// A request's method, URL and headers, as the shell reads them from the
/// runtime in one call: the text `method \n url \n name:value \n ...`
/// (lowercase names; the runtime joins repeated fields with `", "`).
///
/// One crossing instead of one per header read (a JSON request reads eight
/// or so: its id, origin, credential, content type and length, ...). The
/// newline is a safe separator: the fetch standard forbids CR, LF and NUL
/// in header values, and a serialized URL or method never holds one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestHead {
    /// The method as sent (`QUERY` stays `QUERY`).
    pub method: String,
    /// The URL as the runtime serialized it.
    pub url: String,
    /// Every header.
    pub headers: RequestHeaders,
}

impl RequestHead {
    /// Reads the shell's text; `None` if it is not of that shape (the shell
    /// then reads the headers one by one).
    pub fn parse(text: &str) -> Option<Self> {
        let mut lines = text.split('\n');
        let method = lines.next().filter(|m| !m.is_empty())?.to_string();
        let url = lines.next()?.to_string();
        let mut entries = Vec::new();
        for line in lines {
            let (name, value) = line.split_once(':')?;
            if name.is_empty() {
                return None;
            }
            entries.push((name.to_string(), value.to_string()));
        }
        Some(RequestHead {
            method,
            url,
            headers: RequestHeaders::new(entries),
        })
    }

    /// One header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)
    }

    /// The URL's path, still percent-encoded (`/` for none).
    pub fn path(&self) -> &str {
        let url = self.url.split(['?', '#']).next().unwrap_or_default();
        let after_scheme = url.find("://").map_or(0, |i| i + 3);
        match url[after_scheme..].find('/') {
            Some(i) => &url[after_scheme + i..],
            None => "/",
        }
    }

    /// The raw (still percent-encoded) query: what follows the first `?`
    /// before any fragment; `None` without one.
    pub fn raw_query(&self) -> Option<&str> {
        let url = self
            .url
            .split_once('#')
            .map_or(self.url.as_str(), |(u, _)| u);
        url.split_once('?').map(|(_, query)| query)
    }

    /// The URL's origin (`scheme://host[:port]`, the default port already
    /// left out by the serialization).
    pub fn origin(&self) -> &str {
        let url = &self.url;
        let host_start = url.find("://").map_or(0, |i| i + 3);
        let end = url[host_start..]
            .find(['/', '?', '#'])
            .map_or(url.len(), |i| host_start + i);
        &url[..end]
    }
}

/// A response's headers in order, as the shell hands them to the runtime in
/// one call. Names compare without case; [`set`](Self::set) replaces a
/// value, as the runtime's `Headers.set` does, and [`append`](Self::append)
/// joins one on with `", "`, as `Headers.append` does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResponseHeaders {
    entries: Vec<(String, String)>,
}

impl ResponseHeaders {
    /// No headers.
    pub fn new() -> Self {
        ResponseHeaders::default()
    }

    /// Sets `name` to `value`, replacing any value it had.
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        let value = value.into();
        match self.position(name) {
            Some(i) => self.entries[i].1 = value,
            None => self.entries.push((name.to_string(), value)),
        }
    }

    /// Adds `value` to `name`'s values (`a, b`), or sets it.
    pub fn append(&mut self, name: &str, value: &str) {
        match self.position(name) {
            Some(i) => {
                let existing = &mut self.entries[i].1;
                existing.push_str(", ");
                existing.push_str(value);
            }
            None => self.entries.push((name.to_string(), value.to_string())),
        }
    }

    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.position(name).map(|i| self.entries[i].1.as_str())
    }

    /// Every header's name, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(n, _)| n.as_str())
    }

    fn position(&self, name: &str) -> Option<usize> {
        self.entries
            .iter()
            .position(|(n, _)| n.eq_ignore_ascii_case(name))
    }

    /// The text the shell's `respond` snippet reads: `name:value` lines.
    /// A header that could not travel that way (a name that is empty or
    /// holds `:`, or a name or value with CR, LF or NUL — none of which the
    /// runtime would accept either) is left out, and its name returned so
    /// the shell can log it; the response itself never fails for a header.
    pub fn to_text(&self) -> (String, Vec<&str>) {
        let mut text = String::new();
        let mut dropped = Vec::new();
        let unsafe_char = |c: char| matches!(c, '\r' | '\n' | '\0');
        for (name, value) in &self.entries {
            if name.is_empty()
                || name.contains(':')
                || name.contains(unsafe_char)
                || value.contains(unsafe_char)
            {
                dropped.push(name.as_str());
                continue;
            }
            if !text.is_empty() {
                text.push('\n');
            }
            text.push_str(name);
            text.push(':');
            text.push_str(value);
        }
        (text, dropped)
    }
}

impl<N: AsRef<str>> FromIterator<(N, String)> for ResponseHeaders {
    /// Headers set in order (a later one replaces an earlier of the same name).
    fn from_iter<I: IntoIterator<Item = (N, String)>>(pairs: I) -> Self {
        let mut headers = ResponseHeaders::new();
        for (name, value) in pairs {
            headers.set(name.as_ref(), value);
        }
        headers
    }
}

/// A response as core decided it. `B` is the body: bytes for JSON, or a
/// store's stream handle the shell hands to the runtime untouched.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply<B = Vec<u8>> {
    /// The status code.
    pub status: u16,
    /// Response headers, in order.
    pub headers: Vec<(&'static str, String)>,
    /// The body; `None` for none.
    pub body: Option<B>,
}

impl<B> Reply<B> {
    /// A reply without a body.
    pub fn empty(status: u16) -> Self {
        Reply {
            status,
            headers: Vec::new(),
            body: None,
        }
    }

    /// Adds a header.
    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// A header's value (the first with this lowercase name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl Reply<Vec<u8>> {
    /// A JSON reply (`content-type` as given: REST says `charset=utf-8`).
    pub fn json_as<T: serde::Serialize>(status: u16, content_type: &str, body: &T) -> Self {
        // Serialising `Value`s and derived structs cannot fail.
        let bytes = serde_json::to_vec(body).unwrap_or_default();
        Reply {
            status,
            headers: vec![("content-type", content_type.to_string())],
            body: Some(bytes),
        }
    }

    /// A JSON reply typed `application/json`.
    pub fn json<T: serde::Serialize>(status: u16, body: &T) -> Self {
        Reply::json_as(status, "application/json", body)
    }

    /// The body as JSON, for tests and logs.
    pub fn json_body(&self) -> Option<serde_json::Value> {
        self.body
            .as_deref()
            .and_then(|b| serde_json::from_slice(b).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_found_whatever_the_spelling() {
        let h = RequestHeaders::new([("Content-Type".to_string(), "a/b".to_string())]);
        assert_eq!(h.get("content-type"), Some("a/b"));
        assert_eq!(h.get("accept"), None);
        let r: Reply = Reply::json(201, &serde_json::json!({"a": 1})).with_header("Location", "/x");
        assert_eq!(r.header("location"), Some("/x"));
        assert_eq!(r.header("Content-Type"), Some("application/json"));
        assert_eq!(r.json_body(), Some(serde_json::json!({"a": 1})));
    }

    #[test]
    fn a_request_head_is_read_from_one_text() {
        let head = RequestHead::parse(
            "POST\nhttps://api.example.com:8443/v1/rest/t?a=b:c&d=%3F#frag\nauthorization:Bearer a:b\ncontent-type:application/json\nx-empty:",
        )
        .unwrap();
        assert_eq!(head.method, "POST");
        assert_eq!(head.header("authorization"), Some("Bearer a:b"));
        assert_eq!(head.header("x-empty"), Some(""));
        assert_eq!(head.header("accept"), None);
        assert_eq!(head.path(), "/v1/rest/t");
        assert_eq!(head.raw_query(), Some("a=b:c&d=%3F"));
        assert_eq!(head.origin(), "https://api.example.com:8443");
        let bare = RequestHead::parse("GET\nhttp://h").unwrap();
        assert_eq!(
            (bare.path(), bare.raw_query(), bare.origin()),
            ("/", None, "http://h")
        );
        assert!(bare.headers.iter().next().is_none());
        // Not of the shape: the shell reads the headers one by one instead.
        for bad in [
            "",
            "\nhttp://h",
            "GET",
            "GET\nhttp://h\nno-colon",
            "GET\nhttp://h\n:v",
        ] {
            assert_eq!(RequestHead::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn response_headers_set_append_and_travel_as_text() {
        let mut h: ResponseHeaders = [
            ("Content-Type", "text/plain".to_string()),
            ("x-meta", "a:b".to_string()),
            ("content-type", "application/json".to_string()),
        ]
        .into_iter()
        .collect();
        assert_eq!(
            h.get("CONTENT-TYPE"),
            Some("application/json"),
            "a later set replaces"
        );
        h.append("vary", "Origin");
        h.append("Vary", "Accept");
        assert_eq!(h.get("vary"), Some("Origin, Accept"));
        assert_eq!(
            h.names().collect::<Vec<_>>(),
            ["Content-Type", "x-meta", "vary"]
        );
        let (text, dropped) = h.to_text();
        assert_eq!(
            text,
            "Content-Type:application/json\nx-meta:a:b\nvary:Origin, Accept"
        );
        assert!(dropped.is_empty());
        // What cannot travel as a line is left out and named, the rest kept.
        h.set("x-bad", "a\nx-injected:1");
        h.set("x-nul", "a\0b");
        h.set("", "empty name");
        h.set("x:colon", "v");
        let (text, dropped) = h.to_text();
        assert_eq!(
            text,
            "Content-Type:application/json\nx-meta:a:b\nvary:Origin, Accept"
        );
        assert_eq!(dropped, ["x-bad", "x-nul", "", "x:colon"]);
        assert_eq!(ResponseHeaders::new().to_text(), (String::new(), vec![]));
    }
}

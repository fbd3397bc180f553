//! The XML S3 speaks: the bodies it answers with (listings, the bucket,
//! multipart results) and the two it reads (CompleteMultipartUpload and
//! DeleteObjects), with a reader just big enough for those flat documents.

use super::S3Error;
use crate::objects::list::ListPage;
use crate::objects::multipart::PartRef;
use crate::objects::time::rfc3339_millis;
use crate::objects::ObjectMeta;

const DECL: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
const NS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

/// Escapes text for an XML element or attribute.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters XML 1.0 cannot carry at all.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {
                out.push_str(&format!("&#x{:X};", c as u32))
            }
            c => out.push(c),
        }
    }
    out
}

fn el(out: &mut String, name: &str, value: &str) {
    out.push('<');
    out.push_str(name);
    out.push('>');
    out.push_str(&escape(value));
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

/// How keys are written in a listing (`encoding-type=url` asks for them
/// percent-encoded, which keeps keys with control characters readable).
fn key_text(key: &str, url: bool) -> String {
    if url {
        crate::percent::encode(key, true)
    } else {
        key.to_string()
    }
}

fn contents(out: &mut String, o: &ObjectMeta, url: bool) {
    out.push_str("<Contents>");
    el(out, "Key", &key_text(&o.key, url));
    el(out, "LastModified", &rfc3339_millis(o.uploaded_ms));
    el(out, "ETag", &format!("\"{}\"", o.etag));
    el(out, "Size", &o.size.to_string());
    el(out, "StorageClass", "STANDARD");
    out.push_str("</Contents>");
}

/// What a listing request asked for, echoed in the answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListEcho {
    /// The bucket.
    pub bucket: String,
    /// `prefix`.
    pub prefix: Option<String>,
    /// `delimiter`.
    pub delimiter: Option<String>,
    /// `max-keys`.
    pub max_keys: u32,
    /// `encoding-type=url`.
    pub url_encoding: bool,
    /// v2: `continuation-token`; v1: `marker`.
    pub token: Option<String>,
    /// v2: `start-after`.
    pub start_after: Option<String>,
}

fn list_common(out: &mut String, echo: &ListEcho, page: &ListPage) {
    el(out, "Name", &echo.bucket);
    el(
        out,
        "Prefix",
        &key_text(echo.prefix.as_deref().unwrap_or(""), echo.url_encoding),
    );
    if let Some(d) = &echo.delimiter {
        el(out, "Delimiter", &key_text(d, echo.url_encoding));
    }
    el(out, "MaxKeys", &echo.max_keys.to_string());
    if echo.url_encoding {
        el(out, "EncodingType", "url");
    }
    el(
        out,
        "IsTruncated",
        if page.truncated { "true" } else { "false" },
    );
}

fn list_entries(out: &mut String, echo: &ListEcho, page: &ListPage) {
    for o in &page.objects {
        contents(out, o, echo.url_encoding);
    }
    for p in &page.prefixes {
        out.push_str("<CommonPrefixes>");
        el(out, "Prefix", &key_text(p, echo.url_encoding));
        out.push_str("</CommonPrefixes>");
    }
}

/// `ListBucketResult` of ListObjectsV2. The next continuation token is the
/// store's cursor.
pub fn list_objects_v2(echo: &ListEcho, page: &ListPage) -> String {
    let mut out = format!("{DECL}<ListBucketResult xmlns=\"{NS}\">");
    list_common(&mut out, echo, page);
    el(
        &mut out,
        "KeyCount",
        &(page.objects.len() + page.prefixes.len()).to_string(),
    );
    if let Some(t) = &echo.token {
        el(&mut out, "ContinuationToken", t);
    }
    if let Some(s) = &echo.start_after {
        el(&mut out, "StartAfter", &key_text(s, echo.url_encoding));
    }
    if page.truncated {
        if let Some(c) = &page.cursor {
            el(&mut out, "NextContinuationToken", c);
        }
    }
    list_entries(&mut out, echo, page);
    out.push_str("</ListBucketResult>");
    out
}

/// `ListBucketResult` of ListObjects (v1). `marker` is a key, as in S3;
/// `NextMarker` is the page's last key or rolled-up prefix (always given
/// when truncated; S3 gives it with a delimiter only, and clients fall back
/// to the last key, the same value).
pub fn list_objects_v1(echo: &ListEcho, page: &ListPage) -> String {
    let mut out = format!("{DECL}<ListBucketResult xmlns=\"{NS}\">");
    list_common(&mut out, echo, page);
    let marker = echo.token.as_deref().unwrap_or("");
    el(&mut out, "Marker", &key_text(marker, echo.url_encoding));
    if page.truncated {
        let last_key = page.objects.last().map(|o| o.key.as_str());
        let last_prefix = page.prefixes.last().map(String::as_str);
        if let Some(next) = last_key.max(last_prefix) {
            el(&mut out, "NextMarker", &key_text(next, echo.url_encoding));
        }
    }
    list_entries(&mut out, echo, page);
    out.push_str("</ListBucketResult>");
    out
}

/// `ListAllMyBucketsResult`: the one bucket.
pub fn list_buckets(bucket: &str, owner: &str) -> String {
    let mut out = format!("{DECL}<ListAllMyBucketsResult xmlns=\"{NS}\"><Owner>");
    el(&mut out, "ID", owner);
    el(&mut out, "DisplayName", owner);
    out.push_str("</Owner><Buckets><Bucket>");
    el(&mut out, "Name", bucket);
    el(&mut out, "CreationDate", "2025-01-01T00:00:00.000Z");
    out.push_str("</Bucket></Buckets></ListAllMyBucketsResult>");
    out
}

/// `LocationConstraint` (GetBucketLocation): the region.
pub fn bucket_location(region: &str) -> String {
    format!(
        "{DECL}<LocationConstraint xmlns=\"{NS}\">{}</LocationConstraint>",
        escape(region)
    )
}

/// `InitiateMultipartUploadResult`.
pub fn initiate_multipart(bucket: &str, key: &str, upload_id: &str) -> String {
    let mut out = format!("{DECL}<InitiateMultipartUploadResult xmlns=\"{NS}\">");
    el(&mut out, "Bucket", bucket);
    el(&mut out, "Key", key);
    el(&mut out, "UploadId", upload_id);
    out.push_str("</InitiateMultipartUploadResult>");
    out
}

/// `CompleteMultipartUploadResult`.
pub fn complete_multipart(location: &str, bucket: &str, key: &str, etag: &str) -> String {
    let mut out = format!("{DECL}<CompleteMultipartUploadResult xmlns=\"{NS}\">");
    el(&mut out, "Location", location);
    el(&mut out, "Bucket", bucket);
    el(&mut out, "Key", key);
    el(&mut out, "ETag", &format!("\"{etag}\""));
    out.push_str("</CompleteMultipartUploadResult>");
    out
}

/// `CopyObjectResult` or `CopyPartResult` (`root`).
pub fn copy_result(root: &str, etag: &str, uploaded_ms: u64) -> String {
    let mut out = format!("{DECL}<{root} xmlns=\"{NS}\">");
    el(&mut out, "LastModified", &rfc3339_millis(uploaded_ms));
    el(&mut out, "ETag", &format!("\"{}\"", etag.trim_matches('"')));
    out.push_str("</");
    out.push_str(root);
    out.push('>');
    out
}

/// `DeleteResult`: the keys deleted (none in quiet mode) and the errors.
pub fn delete_result(deleted: &[String], errors: &[(String, S3Error)], quiet: bool) -> String {
    let mut out = format!("{DECL}<DeleteResult xmlns=\"{NS}\">");
    if !quiet {
        for k in deleted {
            out.push_str("<Deleted>");
            el(&mut out, "Key", k);
            out.push_str("</Deleted>");
        }
    }
    for (k, e) in errors {
        out.push_str("<Error>");
        el(&mut out, "Key", k);
        el(&mut out, "Code", e.code);
        el(&mut out, "Message", &e.message);
        out.push_str("</Error>");
    }
    out.push_str("</DeleteResult>");
    out
}

// ---------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------

/// Largest XML body read (DeleteObjects of 1000 keys of 1 KiB fits).
pub const MAX_XML_BYTES: usize = 2 * 1024 * 1024;

/// A flat element: its name and its text, in document order, with the
/// depth it sits at.
#[derive(Debug, PartialEq, Eq)]
struct Event {
    depth: usize,
    name: String,
    open: bool,
    text: String,
}

fn unescape(s: &str) -> Result<String, S3Error> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let end = rest[i..].find(';').ok_or_else(malformed)? + i;
        let entity = &rest[i + 1..end];
        let c = match entity {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            e => {
                let n = if let Some(h) = e.strip_prefix("#x") {
                    u32::from_str_radix(h, 16).ok()
                } else if let Some(d) = e.strip_prefix('#') {
                    d.parse().ok()
                } else {
                    None
                };
                n.and_then(char::from_u32).ok_or_else(malformed)?
            }
        };
        out.push(c);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn malformed() -> S3Error {
    S3Error::malformed_xml(
        "The XML you provided was not well-formed or did not validate against our published schema",
    )
}

/// Tokenises a small document of elements and text (no attributes that
/// matter, no CDATA): what S3's request bodies are.
fn events(body: &[u8]) -> Result<Vec<Event>, S3Error> {
    if body.len() > MAX_XML_BYTES {
        return Err(malformed());
    }
    let text = std::str::from_utf8(body).map_err(|_| malformed())?;
    let mut out = Vec::new();
    let mut stack: Vec<String> = Vec::new();
    let mut rest = text;
    let mut pending_text = String::new();
    while let Some(lt) = rest.find('<') {
        pending_text.push_str(&rest[..lt]);
        let gt = rest[lt..].find('>').ok_or_else(malformed)? + lt;
        let tag = &rest[lt + 1..gt];
        rest = &rest[gt + 1..];
        if tag.starts_with('?') || tag.starts_with('!') {
            continue;
        }
        if let Some(name) = tag.strip_prefix('/') {
            let open = stack.pop().ok_or_else(malformed)?;
            if open != name.trim() {
                return Err(malformed());
            }
            out.push(Event {
                depth: stack.len(),
                name: open,
                open: false,
                text: unescape(&std::mem::take(&mut pending_text))?,
            });
        } else {
            pending_text.clear();
            let self_closing = tag.ends_with('/');
            let name = tag
                .trim_end_matches('/')
                .split_whitespace()
                .next()
                .ok_or_else(malformed)?
                .to_string();
            out.push(Event {
                depth: stack.len(),
                name: name.clone(),
                open: true,
                text: String::new(),
            });
            if self_closing {
                out.push(Event {
                    depth: stack.len(),
                    name,
                    open: false,
                    text: String::new(),
                });
            } else {
                stack.push(name);
            }
        }
    }
    if !stack.is_empty() || !rest.trim().is_empty() {
        return Err(malformed());
    }
    Ok(out)
}

/// The parts a `CompleteMultipartUpload` body lists, in its order.
pub fn parse_complete_multipart(body: &[u8]) -> Result<Vec<PartRef>, S3Error> {
    let events = events(body)?;
    if events.first().map(|e| e.name.as_str()) != Some("CompleteMultipartUpload") {
        return Err(malformed());
    }
    let mut parts = Vec::new();
    let (mut number, mut etag) = (None, None);
    for e in events.iter().filter(|e| !e.open) {
        match (e.depth, e.name.as_str()) {
            (2, "PartNumber") => {
                number = Some(e.text.trim().parse::<u16>().map_err(|_| malformed())?)
            }
            (2, "ETag") => etag = Some(e.text.trim().trim_matches('"').to_string()),
            (1, "Part") => {
                let (Some(part_number), Some(etag)) = (number.take(), etag.take()) else {
                    return Err(malformed());
                };
                parts.push(PartRef { part_number, etag });
            }
            _ => {}
        }
    }
    if parts.is_empty() {
        return Err(malformed());
    }
    if parts
        .windows(2)
        .any(|w| w[0].part_number >= w[1].part_number)
    {
        return Err(S3Error::invalid_part_order(
            "The list of parts was not in ascending order. The parts list must be specified in order by part number.",
        ));
    }
    Ok(parts)
}

/// The keys a `Delete` body names, and whether it asks for quiet mode.
pub fn parse_delete(body: &[u8]) -> Result<(Vec<String>, bool), S3Error> {
    let events = events(body)?;
    if events.first().map(|e| e.name.as_str()) != Some("Delete") {
        return Err(malformed());
    }
    let mut keys = Vec::new();
    let mut quiet = false;
    for e in events.iter().filter(|e| !e.open) {
        match (e.depth, e.name.as_str()) {
            (2, "Key") => keys.push(e.text.clone()),
            (1, "Quiet") => quiet = e.text.trim() == "true",
            _ => {}
        }
    }
    if keys.is_empty() || keys.len() > 1000 {
        return Err(malformed());
    }
    Ok((keys, quiet))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(key: &str) -> ObjectMeta {
        ObjectMeta {
            key: key.to_string(),
            size: 5,
            etag: "abc".to_string(),
            uploaded_ms: 1_700_000_000_123,
            ..Default::default()
        }
    }

    #[test]
    fn list_v2_echoes_and_pages() {
        let page = ListPage {
            objects: vec![meta("a&b.txt")],
            prefixes: vec!["dir/".to_string()],
            cursor: Some("tok".to_string()),
            truncated: true,
        };
        let echo = ListEcho {
            bucket: "strata".into(),
            prefix: None,
            delimiter: Some("/".into()),
            max_keys: 2,
            ..Default::default()
        };
        let x = list_objects_v2(&echo, &page);
        assert!(x.starts_with("<?xml"), "{x}");
        for part in [
            "<Name>strata</Name>",
            "<Prefix></Prefix>",
            "<Delimiter>/</Delimiter>",
            "<MaxKeys>2</MaxKeys>",
            "<IsTruncated>true</IsTruncated>",
            "<KeyCount>2</KeyCount>",
            "<NextContinuationToken>tok</NextContinuationToken>",
            "<Contents><Key>a&amp;b.txt</Key><LastModified>2023-11-14T22:13:20.123Z</LastModified><ETag>&quot;abc&quot;</ETag><Size>5</Size><StorageClass>STANDARD</StorageClass></Contents>",
            "<CommonPrefixes><Prefix>dir/</Prefix></CommonPrefixes>",
        ] {
            assert!(x.contains(part), "{part} in {x}");
        }
        let url = ListEcho {
            url_encoding: true,
            ..echo
        };
        assert!(list_objects_v2(&url, &page).contains("<Key>a%26b.txt</Key>"));
        let v1 = list_objects_v1(&url, &page);
        assert!(
            v1.contains("<NextMarker>dir/</NextMarker>") && v1.contains("<Marker></Marker>"),
            "{v1}"
        );
    }

    #[test]
    fn bucket_documents() {
        assert!(list_buckets("strata", "s3:AKID").contains("<Bucket><Name>strata</Name>"));
        assert!(bucket_location("auto").ends_with(">auto</LocationConstraint>"));
        assert!(
            initiate_multipart("b", "k<", "u").contains("<Key>k&lt;</Key><UploadId>u</UploadId>")
        );
        let d = delete_result(
            &["a".into()],
            &[("b".into(), S3Error::access_denied("no"))],
            false,
        );
        assert!(
            d.contains(
                "<Deleted><Key>a</Key></Deleted><Error><Key>b</Key><Code>AccessDenied</Code>"
            ),
            "{d}"
        );
        assert!(!delete_result(&["a".into()], &[], true).contains("Deleted"));
    }

    #[test]
    fn reads_complete_multipart_bodies() {
        let body = br#"<?xml version="1.0" encoding="UTF-8"?>
<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Part><ETag>"e1"</ETag><PartNumber>1</PartNumber><ChecksumCRC32>AAAAAA==</ChecksumCRC32></Part>
  <Part><PartNumber>2</PartNumber><ETag>&quot;e2&quot;</ETag></Part>
</CompleteMultipartUpload>"#;
        let parts = parse_complete_multipart(body).unwrap();
        assert_eq!(
            parts,
            vec![
                PartRef {
                    part_number: 1,
                    etag: "e1".into()
                },
                PartRef {
                    part_number: 2,
                    etag: "e2".into()
                }
            ]
        );
        let unordered = b"<CompleteMultipartUpload><Part><PartNumber>2</PartNumber><ETag>a</ETag></Part><Part><PartNumber>1</PartNumber><ETag>b</ETag></Part></CompleteMultipartUpload>";
        assert_eq!(
            parse_complete_multipart(unordered).unwrap_err().code,
            "InvalidPartOrder"
        );
        for bad in [&b"<CompleteMultipartUpload>"[..], b"<X></X>", b"<CompleteMultipartUpload></CompleteMultipartUpload>", b"<CompleteMultipartUpload><Part><PartNumber>x</PartNumber><ETag>a</ETag></Part></CompleteMultipartUpload>", b"\xff"] {
            assert_eq!(parse_complete_multipart(bad).unwrap_err().code, "MalformedXML");
        }
    }

    #[test]
    fn reads_delete_bodies() {
        let body = b"<Delete xmlns=\"x\"><Object><Key>a&amp;b</Key></Object><Object><Key>c</Key><VersionId>v</VersionId></Object><Quiet>true</Quiet></Delete>";
        assert_eq!(
            parse_delete(body).unwrap(),
            (vec!["a&b".to_string(), "c".to_string()], true)
        );
        assert_eq!(
            parse_delete(b"<Delete></Delete>").unwrap_err().code,
            "MalformedXML"
        );
    }
}

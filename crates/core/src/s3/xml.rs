//! The XML S3 speaks: the bodies it answers with (listings, the bucket,
//! multipart results) and the two it reads (CompleteMultipartUpload and
//! DeleteObjects), with a reader just big enough for those flat documents:
//! what it does not understand exactly (a DOCTYPE, a stray element) is
//! `MalformedXML`, never guessed at, and its size, depth and element count
//! are bounded.

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

/// `DeleteResult`: the objects deleted (none in quiet mode) and the
/// errors, each with the `VersionId` it was named with.
pub fn delete_result(
    deleted: &[DeleteEntry],
    errors: &[(DeleteEntry, S3Error)],
    quiet: bool,
) -> String {
    let mut out = format!("{DECL}<DeleteResult xmlns=\"{NS}\">");
    if !quiet {
        for d in deleted {
            out.push_str("<Deleted>");
            el(&mut out, "Key", &d.key);
            if let Some(v) = &d.version_id {
                el(&mut out, "VersionId", v);
            }
            out.push_str("</Deleted>");
        }
    }
    for (d, e) in errors {
        out.push_str("<Error>");
        el(&mut out, "Key", &d.key);
        if let Some(v) = &d.version_id {
            el(&mut out, "VersionId", v);
        }
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

/// Deepest element nesting read: S3's request bodies are three levels
/// deep (`Delete/Object/Key`); anything far deeper is not one of them.
const MAX_XML_DEPTH: usize = 8;

/// Most elements read from one body: a `CompleteMultipartUpload` of 10000
/// parts, each with its number, ETag and a checksum or two, fits. The cap
/// bounds the memory a 2 MiB body of tiny elements could take.
const MAX_XML_ELEMENTS: usize = 100_000;

/// An element once closed: its name, its text (entities resolved, CDATA
/// taken as is) and the depth it sits at (the root is 0), in document order.
#[derive(Debug, PartialEq, Eq)]
struct Element {
    depth: usize,
    name: String,
    text: String,
}

/// A document read: the root element's name and every element.
#[derive(Debug)]
struct Document {
    root: String,
    elements: Vec<Element>,
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

/// `rest` after the first `end`, and what came before it; malformed when
/// `end` never comes.
fn split_at<'a>(rest: &'a str, end: &str) -> Result<(&'a str, &'a str), S3Error> {
    let i = rest.find(end).ok_or_else(malformed)?;
    Ok((&rest[..i], &rest[i + end.len()..]))
}

/// Reads a small document of elements and text: what S3's request bodies
/// are. Understood exactly: the XML declaration and other processing
/// instructions (skipped), comments (skipped), CDATA sections (their text
/// taken verbatim), the five predefined entities and character references,
/// and attributes (ignored: only the root's `xmlns` is ever sent).
/// Refused as `MalformedXML`, never guessed at: a DOCTYPE (and so any
/// entity it could declare), any other `<!` markup, a `>` inside an
/// attribute value, text or a second element outside the root, mismatched
/// tags, nesting deeper than [`MAX_XML_DEPTH`] and more than
/// [`MAX_XML_ELEMENTS`] elements.
fn read_document(body: &[u8]) -> Result<Document, S3Error> {
    if body.len() > MAX_XML_BYTES {
        return Err(malformed());
    }
    let text = std::str::from_utf8(body).map_err(|_| malformed())?;
    let mut rest = text.strip_prefix('\u{FEFF}').unwrap_or(text);
    let mut elements = Vec::new();
    let mut root: Option<String> = None;
    let mut stack: Vec<String> = Vec::new();
    let mut pending = String::new();
    let mut count = 0usize;
    loop {
        let Some(lt) = rest.find('<') else {
            if !stack.is_empty() || !rest.trim().is_empty() {
                return Err(malformed());
            }
            break;
        };
        let raw = &rest[..lt];
        if stack.is_empty() {
            // Between the prolog, the root and the end only blanks.
            if !raw.trim().is_empty() {
                return Err(malformed());
            }
        } else {
            pending.push_str(&unescape(raw)?);
        }
        let markup = &rest[lt + 1..];
        if let Some(after) = markup.strip_prefix("![CDATA[") {
            if stack.is_empty() {
                return Err(malformed());
            }
            let (data, after) = split_at(after, "]]>")?;
            pending.push_str(data);
            rest = after;
            continue;
        }
        if let Some(after) = markup.strip_prefix("!--") {
            rest = split_at(after, "-->")?.1;
            continue;
        }
        if markup.starts_with('!') {
            // DOCTYPE (with the entities it may declare) and anything else.
            return Err(malformed());
        }
        if let Some(after) = markup.strip_prefix('?') {
            rest = split_at(after, "?>")?.1;
            continue;
        }
        let (tag, after) = split_at(markup, ">")?;
        rest = after;
        // A quote left open means the `>` ended an attribute's value.
        if tag.matches('"').count() % 2 != 0 || tag.matches('\'').count() % 2 != 0 {
            return Err(malformed());
        }
        if let Some(name) = tag.strip_prefix('/') {
            let open = stack.pop().ok_or_else(malformed)?;
            if open != name.trim_end() {
                return Err(malformed());
            }
            elements.push(Element {
                depth: stack.len(),
                name: open,
                text: std::mem::take(&mut pending),
            });
            continue;
        }
        pending.clear();
        let self_closing = tag.ends_with('/');
        let name = tag.trim_end_matches('/');
        let name = name
            .split(|c: char| c.is_ascii_whitespace())
            .next()
            .filter(|n| !n.is_empty())
            .ok_or_else(malformed)?
            .to_string();
        count += 1;
        if count > MAX_XML_ELEMENTS || stack.len() >= MAX_XML_DEPTH {
            return Err(malformed());
        }
        if stack.is_empty() {
            if root.is_some() {
                return Err(malformed());
            }
            root = Some(name.clone());
        }
        if self_closing {
            elements.push(Element {
                depth: stack.len(),
                name,
                text: String::new(),
            });
        } else {
            stack.push(name);
        }
    }
    Ok(Document {
        root: root.ok_or_else(malformed)?,
        elements,
    })
}

/// Sets `slot` once: an element given twice in one parent is malformed.
fn once(slot: &mut Option<String>, text: &str) -> Result<(), S3Error> {
    if slot.replace(text.to_string()).is_some() {
        return Err(malformed());
    }
    Ok(())
}

/// The parts a `CompleteMultipartUpload` body lists, in its order. Each
/// `Part` needs its `PartNumber` and `ETag`; its checksums are not read
/// (the parts' own were verified when they were uploaded).
pub fn parse_complete_multipart(body: &[u8]) -> Result<Vec<PartRef>, S3Error> {
    let doc = read_document(body)?;
    if doc.root != "CompleteMultipartUpload" {
        return Err(malformed());
    }
    let mut parts = Vec::new();
    let (mut number, mut etag) = (None, None);
    for e in &doc.elements {
        match (e.depth, e.name.as_str()) {
            (2, "PartNumber") => once(&mut number, &e.text)?,
            (2, "ETag") => once(&mut etag, &e.text)?,
            (2, _) => {}
            (1, "Part") => {
                let (Some(n), Some(tag)) = (number.take(), etag.take()) else {
                    return Err(malformed());
                };
                parts.push(PartRef {
                    part_number: n.trim().parse::<u16>().map_err(|_| malformed())?,
                    etag: tag.trim().trim_matches('"').to_string(),
                });
            }
            (0, _) if number.is_none() && etag.is_none() => {}
            _ => return Err(malformed()),
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

/// Most objects one DeleteObjects names, as in S3.
pub const MAX_DELETE_OBJECTS: usize = 1000;

/// One `<Object>` of a DeleteObjects body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteEntry {
    /// `Key`, as sent (not trimmed: spaces are part of a key).
    pub key: String,
    /// `VersionId`: the bucket keeps no versions, so only `null` (the one
    /// version an unversioned object has in S3) names the object.
    pub version_id: Option<String>,
    /// `ETag`: delete only if the object's ETag is this one.
    pub etag: Option<String>,
}

/// A DeleteObjects body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteRequest {
    /// The objects, in the body's order.
    pub objects: Vec<DeleteEntry>,
    /// `Quiet`: report errors only.
    pub quiet: bool,
}

/// Reads a DeleteObjects (`Delete`) body, held to S3's schema: `Object`s
/// (1 to [`MAX_DELETE_OBJECTS`]) with one `Key` and at most one
/// `VersionId` and `ETag`, and at most one `Quiet` (`true` or `false`).
/// Any other element is `MalformedXML`, not skipped: a condition the
/// reader skipped would be a delete the client did not ask for. S3's
/// `LastModifiedTime` and `Size` conditions (directory buckets only) are
/// `501 NotImplemented`.
pub fn parse_delete(body: &[u8]) -> Result<DeleteRequest, S3Error> {
    let doc = read_document(body)?;
    if doc.root != "Delete" {
        return Err(malformed());
    }
    let mut objects = Vec::new();
    let mut quiet: Option<String> = None;
    let (mut key, mut version_id, mut etag) = (None, None, None);
    let mut children = false;
    for e in &doc.elements {
        match (e.depth, e.name.as_str()) {
            (2, "Key") => once(&mut key, &e.text)?,
            (2, "VersionId") => once(&mut version_id, &e.text)?,
            (2, "ETag") => once(&mut etag, &e.text)?,
            (2, "LastModifiedTime" | "Size") => {
                return Err(S3Error::not_implemented(
                    "DeleteObjects conditions on LastModifiedTime or Size are not implemented (S3 applies them in directory buckets only); use ETag",
                ))
            }
            (1, "Object") => {
                let Some(key) = key.take() else {
                    return Err(malformed());
                };
                objects.push(DeleteEntry {
                    key,
                    version_id: version_id.take(),
                    etag: etag.take(),
                });
                children = false;
                continue;
            }
            (1, "Quiet") if !children => once(&mut quiet, &e.text)?,
            (0, _) if !children => {}
            _ => return Err(malformed()),
        }
        children = e.depth == 2;
    }
    let quiet = match quiet.as_deref().map(str::trim) {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(malformed()),
    };
    if objects.is_empty() || objects.len() > MAX_DELETE_OBJECTS {
        return Err(malformed());
    }
    Ok(DeleteRequest { objects, quiet })
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
        let entry = |key: &str, version: Option<&str>| DeleteEntry {
            key: key.into(),
            version_id: version.map(str::to_string),
            etag: None,
        };
        let d = delete_result(
            &[entry("a", None), entry("n", Some("null"))],
            &[(entry("b", Some("v1")), S3Error::access_denied("no"))],
            false,
        );
        assert!(
            d.contains(
                "<Deleted><Key>a</Key></Deleted><Deleted><Key>n</Key><VersionId>null</VersionId></Deleted><Error><Key>b</Key><VersionId>v1</VersionId><Code>AccessDenied</Code>"
            ),
            "{d}"
        );
        assert!(!delete_result(&[entry("a", None)], &[], true).contains("Deleted"));
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
        for bad in [&b"<CompleteMultipartUpload>"[..], b"<X></X>", b"<CompleteMultipartUpload><X><PartNumber>1</PartNumber></X><Part><ETag>a</ETag></Part></CompleteMultipartUpload>", b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><PartNumber>2</PartNumber><ETag>a</ETag></Part></CompleteMultipartUpload>", b"<CompleteMultipartUpload></CompleteMultipartUpload>", b"<CompleteMultipartUpload><Part><PartNumber>x</PartNumber><ETag>a</ETag></Part></CompleteMultipartUpload>", b"\xff"] {
            assert_eq!(parse_complete_multipart(bad).unwrap_err().code, "MalformedXML");
        }
    }

    fn keys(body: &[u8]) -> Result<Vec<String>, &'static str> {
        parse_delete(body)
            .map(|d| d.objects.into_iter().map(|o| o.key).collect())
            .map_err(|e| e.code)
    }

    #[test]
    fn reads_delete_bodies() {
        let body = b"<Delete xmlns=\"x\"><Object><Key>a&amp;b</Key></Object><Object><Key> c </Key><VersionId>v</VersionId><ETag>e1</ETag></Object><Quiet>true</Quiet></Delete>";
        assert_eq!(
            parse_delete(body).unwrap(),
            DeleteRequest {
                objects: vec![
                    DeleteEntry {
                        key: "a&b".into(),
                        version_id: None,
                        etag: None
                    },
                    DeleteEntry {
                        key: " c ".into(),
                        version_id: Some("v".into()),
                        etag: Some("e1".into())
                    },
                ],
                quiet: true
            }
        );
        let one = |k: &str| format!("<Object><Key>{k}</Key></Object>");
        let max = format!("<Delete>{}</Delete>", one("k").repeat(MAX_DELETE_OBJECTS));
        assert_eq!(keys(max.as_bytes()).unwrap().len(), 1000);
        let over = format!(
            "<Delete>{}</Delete>",
            one("k").repeat(MAX_DELETE_OBJECTS + 1)
        );
        for bad in [
            "<Delete></Delete>".to_string(),
            over,
            // Structure S3's schema does not have is refused, not skipped.
            "<Delete><Object><Key>a</Key><Key>b</Key></Object></Delete>".into(),
            "<Delete><Object><VersionId>v</VersionId></Object></Delete>".into(),
            "<Delete><Object><Key>a</Key><Etag>x</Etag></Object></Delete>".into(),
            "<Delete><Object><Key>a</Key></Object><Key>b</Key></Delete>".into(),
            "<Delete><Quiet><Key>b</Key></Quiet><Object><Key>a</Key></Object></Delete>".into(),
            "<Delete><Object><Key>a</Key></Object><Quiet>yes</Quiet></Delete>".into(),
            "<Delete><Object><Key>a</Key></Object><Quiet>true</Quiet><Quiet>false</Quiet></Delete>"
                .into(),
            "<Delete><Object><Key><Key>a</Key></Key></Object></Delete>".into(),
            "<Remove><Object><Key>a</Key></Object></Remove>".into(),
        ] {
            assert_eq!(keys(bad.as_bytes()), Err("MalformedXML"), "{bad}");
        }
        assert_eq!(
            keys(b"<Delete><Object><Key>a</Key><Size>3</Size></Object></Delete>"),
            Err("NotImplemented")
        );
    }

    #[test]
    fn markup_is_understood_or_refused() {
        // The declaration, comments (even with `>` inside) and processing
        // instructions are skipped; CDATA is text, taken verbatim.
        let ok = b"\xEF\xBB\xBF<?xml version=\"1.0\"?>\n<!-- a > b -->\n<Delete><?pi x > y?><Object><Key>a<!-- <Key>x</Key> -->b</Key></Object><Object><Key><![CDATA[<c>&amp;]]>d</Key></Object></Delete>\n<!-- end -->";
        assert_eq!(
            keys(ok).unwrap(),
            vec!["ab".to_string(), "<c>&amp;d".to_string()]
        );
        let deep = format!("<Delete>{}{}</Delete>", "<a>".repeat(20), "</a>".repeat(20));
        for bad in [
            // A DTD could declare entities the reader would not expand.
            "<!DOCTYPE Delete [<!ENTITY x \"k\">]><Delete><Object><Key>&x;</Key></Object></Delete>"
                .to_string(),
            "<Delete><Object><Key>&x;</Key></Object></Delete>".into(),
            "<Delete><Object><Key><!ELEMENT x></Key></Object></Delete>".into(),
            "<Delete><Object><Key><![CDATA[a</Key></Object></Delete>".into(),
            "<Delete><!-- never closed <Object><Key>a</Key></Object></Delete>".into(),
            "<Delete><Object a=\"x>y\"><Key>a</Key></Object></Delete>".into(),
            "junk<Delete><Object><Key>a</Key></Object></Delete>".into(),
            "<![CDATA[x]]><Delete><Object><Key>a</Key></Object></Delete>".into(),
            "<Delete><Object><Key>a</Key></Object></Delete><Delete></Delete>".into(),
            "<Delete><Object><Key>a</Key></Object></Delete>tail".into(),
            "<Delete><Object><Key>a</Object></Key></Delete>".into(),
            "<Delete><Object><Key>a</Key></Object>".into(),
            "<><Delete><Object><Key>a</Key></Object></Delete>".into(),
            deep,
        ] {
            assert_eq!(keys(bad.as_bytes()), Err("MalformedXML"), "{bad}");
        }
        let many = format!("<Delete>{}</Delete>", "<x/>".repeat(MAX_XML_ELEMENTS));
        assert_eq!(keys(many.as_bytes()), Err("MalformedXML"));
    }
}

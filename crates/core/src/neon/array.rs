//! Parser for Postgres text array literals, as `array_out` prints them.
//!
//! Typed mode turns `{1,2,NULL}` into `[1,2,null]`, so the endpoint (and any client that only has
//! raw text) must split the literal back into elements without being fooled by quoted commas,
//! braces, backslashes or the string `"NULL"`. The grammar accepted is `array_in`'s: optional
//! dimension decoration (`[0:1]={...}`), nested braces for more dimensions, double-quoted
//! elements with backslash escapes, unquoted elements with surrounding whitespace ignored, and
//! the unquoted keyword `NULL` (any case) for a null element.

use std::fmt;

/// One element of a parsed array.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArrayElement {
    /// The unquoted keyword `NULL`.
    Null,
    /// An element's text, unescaped (still Postgres text: convert it by the element type).
    Text(String),
    /// A sub-array: one more dimension.
    Array(Vec<ArrayElement>),
}

/// The text is not a well-formed array literal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArrayParseError {
    /// Byte offset where parsing stopped.
    pub offset: usize,
    /// What was expected there.
    pub reason: &'static str,
}

impl fmt::Display for ArrayParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "malformed array literal at byte {}: {}",
            self.offset, self.reason
        )
    }
}

impl std::error::Error for ArrayParseError {}

/// Parses a Postgres array literal into its top-level elements.
///
/// `delimiter` is the element type's `typdelim`: `,` for every built-in type except `box`,
/// which uses `;` (see [`crate::neon::values::array_delimiter`]).
pub fn parse_array(text: &str, delimiter: u8) -> Result<Vec<ArrayElement>, ArrayParseError> {
    let mut parser = Parser {
        bytes: text.as_bytes(),
        text,
        pos: 0,
        delimiter,
    };
    parser.skip_whitespace();
    if parser.peek() == Some(b'[') {
        parser.skip_dimensions()?;
    }
    parser.skip_whitespace();
    let elements = parser.array()?;
    parser.skip_whitespace();
    if parser.pos != parser.bytes.len() {
        return Err(parser.error("end of input after the closing brace"));
    }
    Ok(elements)
}

struct Parser<'a> {
    bytes: &'a [u8],
    text: &'a str,
    pos: usize,
    delimiter: u8,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn error(&self, reason: &'static str) -> ArrayParseError {
        ArrayParseError {
            offset: self.pos,
            reason,
        }
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b) if is_pg_space(b)) {
            self.pos += 1;
        }
    }

    /// Skips `[lo:hi][lo:hi]...=`: bounds matter to Postgres, not to a JSON array.
    fn skip_dimensions(&mut self) -> Result<(), ArrayParseError> {
        while self.peek() == Some(b'[') {
            match self.bytes[self.pos..].iter().position(|&b| b == b']') {
                Some(close) => self.pos += close + 1,
                None => return Err(self.error("`]` closing the dimension bounds")),
            }
            self.skip_whitespace();
        }
        if self.peek() != Some(b'=') {
            return Err(self.error("`=` after the dimension bounds"));
        }
        self.pos += 1;
        Ok(())
    }

    /// Parses `{...}` starting at the current `{`.
    fn array(&mut self) -> Result<Vec<ArrayElement>, ArrayParseError> {
        if self.peek() != Some(b'{') {
            return Err(self.error("`{`"));
        }
        self.pos += 1;
        let mut elements = Vec::new();
        self.skip_whitespace();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(elements);
        }
        loop {
            self.skip_whitespace();
            let element = match self.peek() {
                Some(b'{') => ArrayElement::Array(self.array()?),
                Some(b'"') => ArrayElement::Text(self.quoted()?),
                Some(_) => self.unquoted()?,
                None => return Err(self.error("an element")),
            };
            elements.push(element);
            self.skip_whitespace();
            match self.peek() {
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(elements);
                }
                Some(b) if b == self.delimiter => self.pos += 1,
                _ => return Err(self.error("a delimiter or `}` after an element")),
            }
        }
    }

    /// Parses `"..."` starting at the opening quote; `\x` stands for `x`.
    fn quoted(&mut self) -> Result<String, ArrayParseError> {
        self.pos += 1;
        let mut out = String::new();
        let mut run_start = self.pos;
        loop {
            match self.peek() {
                None => return Err(self.error("closing `\"`")),
                Some(b'"') => {
                    out.push_str(&self.text[run_start..self.pos]);
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    out.push_str(&self.text[run_start..self.pos]);
                    self.pos += 1;
                    let escaped = self
                        .take_char()
                        .ok_or_else(|| self.error("a character after `\\`"))?;
                    out.push(escaped);
                    run_start = self.pos;
                }
                // Multi-byte UTF-8 sequences never contain ASCII bytes, so byte-wise scanning
                // only ever slices at character boundaries.
                Some(_) => self.pos += 1,
            }
        }
    }

    /// Parses an unquoted element up to the delimiter or `}`; `\x` stands for `x` and keeps
    /// trailing whitespace and the word NULL from being special.
    fn unquoted(&mut self) -> Result<ArrayElement, ArrayParseError> {
        let mut out = String::new();
        // Length of `out` that must survive trailing-whitespace trimming (ends with an escape).
        let mut protected_len = 0;
        let mut escaped_any = false;
        loop {
            match self.peek() {
                None => return Err(self.error("a delimiter or `}` after an element")),
                Some(b'}') => break,
                Some(b) if b == self.delimiter => break,
                Some(b'{') | Some(b'"') => {
                    return Err(self.error("no `{` or `\"` inside an unquoted element"))
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let escaped = self
                        .take_char()
                        .ok_or_else(|| self.error("a character after `\\`"))?;
                    out.push(escaped);
                    protected_len = out.len();
                    escaped_any = true;
                }
                Some(_) => {
                    let c = self.take_char().ok_or_else(|| self.error("a character"))?;
                    out.push(c);
                }
            }
        }
        let keep = out
            .trim_end_matches(|c: char| c.is_ascii() && is_pg_space(c as u8))
            .len();
        out.truncate(keep.max(protected_len));
        if out.is_empty() && !escaped_any {
            return Err(self.error("an element (empty unquoted elements are not allowed)"));
        }
        if !escaped_any && out.eq_ignore_ascii_case("NULL") {
            Ok(ArrayElement::Null)
        } else {
            Ok(ArrayElement::Text(out))
        }
    }

    fn take_char(&mut self) -> Option<char> {
        let c = self.text.get(self.pos..)?.chars().next()?;
        self.pos += c.len_utf8();
        Some(c)
    }
}

/// Postgres's `scanner_isspace`: the whitespace `array_in` skips.
fn is_pg_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'\x0c' | b'\x0b')
}

#[cfg(test)]
mod tests {
    use super::*;
    use ArrayElement::{Array, Null, Text};

    fn t(s: &str) -> ArrayElement {
        Text(s.to_owned())
    }

    fn parse(s: &str) -> Vec<ArrayElement> {
        parse_array(s, b',').unwrap_or_else(|e| panic!("{s:?}: {e}"))
    }

    #[test]
    fn simple_and_empty() {
        assert_eq!(parse("{}"), vec![]);
        assert_eq!(parse("{1,2,3}"), vec![t("1"), t("2"), t("3")]);
        assert_eq!(parse("{abc}"), vec![t("abc")]);
    }

    #[test]
    fn null_versus_quoted_null() {
        assert_eq!(
            parse(r#"{NULL,"NULL",null,nullx}"#),
            vec![Null, t("NULL"), Null, t("nullx")]
        );
        assert_eq!(
            parse(r"{\NULL}"),
            vec![t("NULL")],
            "an escaped NULL is text"
        );
    }

    #[test]
    fn quotes_backslashes_commas_and_braces_inside_elements() {
        assert_eq!(
            parse(r#"{"a,b","c\"d","e\\f","{g}","",h}"#),
            vec![t("a,b"), t("c\"d"), t("e\\f"), t("{g}"), t(""), t("h")]
        );
        // What array_out prints for text[] ARRAY['x y', 'bytea \x00']
        assert_eq!(
            parse(r#"{"x y","bytea \\x00"}"#),
            vec![t("x y"), t(r"bytea \x00")]
        );
    }

    #[test]
    fn unicode_elements() {
        assert_eq!(
            parse(r#"{"héllo, wörld",ünï,"日本"}"#),
            vec![t("héllo, wörld"), t("ünï"), t("日本")]
        );
    }

    #[test]
    fn multidimensional() {
        assert_eq!(
            parse("{{1,2},{3,NULL}}"),
            vec![Array(vec![t("1"), t("2")]), Array(vec![t("3"), Null])]
        );
        assert_eq!(
            parse(r#"{{{"a"}},{{"}"}}}"#),
            vec![
                Array(vec![Array(vec![t("a")])]),
                Array(vec![Array(vec![t("}")])])
            ]
        );
        assert_eq!(parse("{{},{}}"), vec![Array(vec![]), Array(vec![])]);
    }

    #[test]
    fn dimension_decoration_and_whitespace() {
        assert_eq!(parse("[0:1]={7,8}"), vec![t("7"), t("8")]);
        assert_eq!(
            parse("[1:1][2:3]={{a,b}}"),
            vec![Array(vec![t("a"), t("b")])]
        );
        assert_eq!(parse(" { 1 , 2 } "), vec![t("1"), t("2")]);
        assert_eq!(
            parse(r"{a\ }"),
            vec![t("a ")],
            "escaped trailing space is kept"
        );
        assert_eq!(parse("{a b}"), vec![t("a b")], "inner whitespace is kept");
    }

    #[test]
    fn box_arrays_use_semicolons() {
        assert_eq!(
            parse_array("{(1,1),(0,0);(2,2),(1,1)}", b';').unwrap(),
            vec![t("(1,1),(0,0)"), t("(2,2),(1,1)")]
        );
    }

    #[test]
    fn malformed_literals_are_errors() {
        for bad in [
            "",
            "1,2",
            "{1,2",
            "{1,2}x",
            r#"{"abc}"#,
            "{a\"b}",
            "{1,,2}",
            "[1:2]{1,2}",
            "{a\\",
        ] {
            assert!(parse_array(bad, b',').is_err(), "{bad:?} should fail");
        }
        let err = parse_array("{1,2", b',').unwrap_err();
        assert_eq!(err.offset, 4);
        assert!(err.to_string().contains("byte 4"));
    }
}

//! JSON parameters → Postgres text bind values.
//!
//! The proxy binds every parameter as untyped text and lets Postgres infer the type from the
//! statement, so encoding is only about producing the text form Postgres's input functions
//! accept. That is why numbers are sent as their JSON text, exactly as the client wrote it
//! (serde_json keeps it: `arbitrary_precision`): `1e3` is valid numeric input, a `numeric` gets
//! every digit, and `float8in` rounds the text correctly — never a double one step off.

use serde_json::Value;

/// Encodes one JSON parameter as the text Postgres receives, `None` meaning SQL NULL.
///
/// * `null` → NULL; string → verbatim; `true`/`false` → `true`/`false`;
/// * number → its JSON text;
/// * object → compact JSON (for `json`/`jsonb` columns);
/// * array → a Postgres array literal, built recursively (see [`json_to_pg_array`]).
pub fn json_to_pg_text(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Array(items) => Some(json_to_pg_array(items)),
        // bool, number and object all print as their compact JSON text.
        other => Some(other.to_string()),
    }
}

/// Builds a Postgres array literal (`{1,"a",NULL,{2,3}}`) from JSON array items.
///
/// Strings and objects are always double-quoted with `"` and `\` backslash-escaped, so commas,
/// braces, spaces and the word `NULL` inside them stay data; a JSON `null` becomes the bare
/// keyword `NULL`; nested arrays become nested braces (multidimensional arrays).
pub fn json_to_pg_array(items: &[Value]) -> String {
    let mut out = String::with_capacity(2 + items.len() * 4);
    write_array(items, &mut out);
    out
}

fn write_array(items: &[Value], out: &mut String) {
    out.push('{');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        match item {
            Value::Null => out.push_str("NULL"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Number(n) => out.push_str(&n.to_string()),
            Value::String(s) => write_quoted(s, out),
            Value::Object(_) => write_quoted(&item.to_string(), out),
            Value::Array(inner) => write_array(inner, out),
        }
    }
    out.push('}');
}

fn write_quoted(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::neon::array::{parse_array, ArrayElement};
    use serde_json::json;

    #[test]
    fn scalars() {
        assert_eq!(json_to_pg_text(&Value::Null), None);
        assert_eq!(
            json_to_pg_text(&json!("it's \"x\"")).as_deref(),
            Some("it's \"x\"")
        );
        assert_eq!(json_to_pg_text(&json!("")).as_deref(), Some(""));
        assert_eq!(json_to_pg_text(&json!(true)).as_deref(), Some("true"));
        assert_eq!(json_to_pg_text(&json!(false)).as_deref(), Some("false"));
        assert_eq!(json_to_pg_text(&json!(42)).as_deref(), Some("42"));
        assert_eq!(json_to_pg_text(&json!(-7)).as_deref(), Some("-7"));
        assert_eq!(json_to_pg_text(&json!(1.5)).as_deref(), Some("1.5"));
        assert_eq!(
            json_to_pg_text(&json!(u64::MAX)).as_deref(),
            Some("18446744073709551615")
        );
    }

    #[test]
    fn objects_are_compact_json() {
        assert_eq!(
            json_to_pg_text(&json!({"a": [1, {"b": null}], "c": "d e"})).as_deref(),
            Some(r#"{"a":[1,{"b":null}],"c":"d e"}"#)
        );
        assert_eq!(json_to_pg_text(&json!({})).as_deref(), Some("{}"));
    }

    #[test]
    fn arrays() {
        assert_eq!(json_to_pg_text(&json!([])).as_deref(), Some("{}"));
        assert_eq!(
            json_to_pg_text(&json!([1, 2, 3])).as_deref(),
            Some("{1,2,3}")
        );
        assert_eq!(
            json_to_pg_text(&json!(["a", null, "NULL", true])).as_deref(),
            Some(r#"{"a",NULL,"NULL",true}"#)
        );
        assert_eq!(
            json_to_pg_text(&json!([[1, 2], [3, null]])).as_deref(),
            Some("{{1,2},{3,NULL}}")
        );
        assert_eq!(
            json_to_pg_text(&json!([r#"say "hi""#, r"back\slash", "a,b", "{x}", " sp "]))
                .as_deref(),
            Some(r#"{"say \"hi\"","back\\slash","a,b","{x}"," sp "}"#)
        );
        assert_eq!(
            json_to_pg_text(&json!([{"k": "v\"q"}])).as_deref(),
            Some(r#"{"{\"k\":\"v\\\"q\"}"}"#)
        );
    }

    #[test]
    fn encoded_arrays_parse_back_to_the_same_elements() {
        let input = json!(["a,b", "c\"d", "e\\f", null, "NULL", "", "{}", " x "]);
        let literal = json_to_pg_text(&input).unwrap();
        let parsed = parse_array(&literal, b',').unwrap();
        let expected: Vec<ArrayElement> = input
            .as_array()
            .unwrap()
            .iter()
            .map(|v| match v {
                Value::String(s) => ArrayElement::Text(s.clone()),
                _ => ArrayElement::Null,
            })
            .collect();
        assert_eq!(parsed, expected);
    }
}

//! Postgres text values → JSON, as the proxy's typed mode (the default) encodes them.
//!
//! Only types whose JSON form loses nothing are converted: bool, the small integers, the floats
//! (except NaN/±Infinity, which JSON cannot hold) and json/jsonb. Everything else — int8 and
//! numeric included — stays the Postgres text in a JSON string, so no precision is ever lost;
//! arrays are split into nested JSON arrays whose elements follow the same rules.

use serde_json::{Number, Value};

use super::array::{parse_array, ArrayElement};

/// Type OIDs of the built-in types the conversion (and its tests) needs to name.
///
/// These are fixed by Postgres's catalog (`pg_type.dat`) and identical on every server, which is
/// what makes decoding by OID possible at all.
pub mod oid {
    /// `bool`.
    pub const BOOL: u32 = 16;
    /// `bytea`.
    pub const BYTEA: u32 = 17;
    /// `"char"` (single byte).
    pub const CHAR: u32 = 18;
    /// `name`.
    pub const NAME: u32 = 19;
    /// `int8` / `bigint`.
    pub const INT8: u32 = 20;
    /// `int2` / `smallint`.
    pub const INT2: u32 = 21;
    /// `int4` / `integer`.
    pub const INT4: u32 = 23;
    /// `text`.
    pub const TEXT: u32 = 25;
    /// `oid`.
    pub const OID: u32 = 26;
    /// `json`.
    pub const JSON: u32 = 114;
    /// `xml`.
    pub const XML: u32 = 142;
    /// `point`.
    pub const POINT: u32 = 600;
    /// `box` — the one built-in type whose array delimiter is `;`.
    pub const BOX: u32 = 603;
    /// `float4` / `real`.
    pub const FLOAT4: u32 = 700;
    /// `float8` / `double precision`.
    pub const FLOAT8: u32 = 701;
    /// `unknown` (an untyped literal such as `select 'a'`).
    pub const UNKNOWN: u32 = 705;
    /// `money`.
    pub const MONEY: u32 = 790;
    /// `inet`.
    pub const INET: u32 = 869;
    /// `bpchar` / `char(n)`.
    pub const BPCHAR: u32 = 1042;
    /// `varchar`.
    pub const VARCHAR: u32 = 1043;
    /// `date`.
    pub const DATE: u32 = 1082;
    /// `time`.
    pub const TIME: u32 = 1083;
    /// `timestamp`.
    pub const TIMESTAMP: u32 = 1114;
    /// `timestamptz`.
    pub const TIMESTAMPTZ: u32 = 1184;
    /// `interval`.
    pub const INTERVAL: u32 = 1186;
    /// `numeric`.
    pub const NUMERIC: u32 = 1700;
    /// `uuid`.
    pub const UUID: u32 = 2950;
    /// `jsonb`.
    pub const JSONB: u32 = 3802;

    /// `bool[]`.
    pub const BOOL_ARRAY: u32 = 1000;
    /// `int2[]`.
    pub const INT2_ARRAY: u32 = 1005;
    /// `int4[]`.
    pub const INT4_ARRAY: u32 = 1007;
    /// `int8[]`.
    pub const INT8_ARRAY: u32 = 1016;
    /// `text[]`.
    pub const TEXT_ARRAY: u32 = 1009;
    /// `float4[]`.
    pub const FLOAT4_ARRAY: u32 = 1021;
    /// `float8[]`.
    pub const FLOAT8_ARRAY: u32 = 1022;
    /// `box[]`.
    pub const BOX_ARRAY: u32 = 1020;
    /// `json[]`.
    pub const JSON_ARRAY: u32 = 199;
    /// `jsonb[]`.
    pub const JSONB_ARRAY: u32 = 3807;
    /// `numeric[]`.
    pub const NUMERIC_ARRAY: u32 = 1231;
}

/// Array type OID → element type OID for every built-in array type of Postgres 15 whose element
/// is a base type (pairs from `pg_type.typarray`).
const ARRAY_ELEMENTS: &[(u32, u32)] = &[
    (1000, 16),   // bool
    (1001, 17),   // bytea
    (1002, 18),   // char
    (1003, 19),   // name
    (1016, 20),   // int8
    (1005, 21),   // int2
    (1006, 22),   // int2vector
    (1007, 23),   // int4
    (1008, 24),   // regproc
    (1009, 25),   // text
    (1028, 26),   // oid
    (1010, 27),   // tid
    (1011, 28),   // xid
    (1012, 29),   // cid
    (1013, 30),   // oidvector
    (199, 114),   // json
    (143, 142),   // xml
    (271, 5069),  // xid8
    (1017, 600),  // point
    (1018, 601),  // lseg
    (1019, 602),  // path
    (1020, 603),  // box
    (1027, 604),  // polygon
    (629, 628),   // line
    (1021, 700),  // float4
    (1022, 701),  // float8
    (719, 718),   // circle
    (791, 790),   // money
    (1040, 829),  // macaddr
    (775, 774),   // macaddr8
    (1041, 869),  // inet
    (651, 650),   // cidr
    (1034, 1033), // aclitem
    (1014, 1042), // bpchar
    (1015, 1043), // varchar
    (1182, 1082), // date
    (1183, 1083), // time
    (1115, 1114), // timestamp
    (1185, 1184), // timestamptz
    (1187, 1186), // interval
    (1270, 1266), // timetz
    (1561, 1560), // bit
    (1563, 1562), // varbit
    (1231, 1700), // numeric
    (2201, 1790), // refcursor
    (2207, 2202), // regprocedure
    (2208, 2203), // regoper
    (2209, 2204), // regoperator
    (2210, 2205), // regclass
    (4192, 4191), // regcollation
    (2211, 2206), // regtype
    (4097, 4096), // regrole
    (4090, 4089), // regnamespace
    (3735, 3734), // regconfig
    (3770, 3769), // regdictionary
    (2951, 2950), // uuid
    (3221, 3220), // pg_lsn
    (3643, 3614), // tsvector
    (3644, 3642), // gtsvector
    (3645, 3615), // tsquery
    (3807, 3802), // jsonb
    (4073, 4072), // jsonpath
    (2949, 2970), // txid_snapshot
    (5039, 5038), // pg_snapshot
    (3905, 3904), // int4range
    (3907, 3906), // numrange
    (3909, 3908), // tsrange
    (3911, 3910), // tstzrange
    (3913, 3912), // daterange
    (3927, 3926), // int8range
    (6150, 4451), // int4multirange
    (6151, 4532), // nummultirange
    (6152, 4533), // tsmultirange
    (6153, 4534), // tstzmultirange
    (6155, 4535), // datemultirange
    (6157, 4536), // int8multirange
    (1263, 2275), // cstring
    (2287, 2249), // record
];

/// The element type of a built-in array type, `None` if `type_oid` is not one.
///
/// User-defined array types (arrays of enums, domains, composites) have OIDs assigned at
/// creation; they are not known here and come back as text, which loses nothing.
pub fn array_element_oid(type_oid: u32) -> Option<u32> {
    ARRAY_ELEMENTS
        .iter()
        .find(|(array, _)| *array == type_oid)
        .map(|(_, element)| *element)
}

/// The element delimiter Postgres prints in arrays of `element_oid`: `;` for `box`, else `,`.
pub fn array_delimiter(element_oid: u32) -> u8 {
    if element_oid == oid::BOX {
        b';'
    } else {
        b','
    }
}

/// Encodes one column value for a response: `None` (SQL NULL) → `null`; in raw text mode the text
/// as a JSON string; otherwise [`pg_text_to_json`].
pub fn pg_value_to_json(type_oid: u32, text: Option<&str>, raw_text_output: bool) -> Value {
    match text {
        None => Value::Null,
        Some(text) if raw_text_output => Value::String(text.to_owned()),
        Some(text) => pg_text_to_json(type_oid, text),
    }
}

/// Converts the Postgres text form of a non-null value of type `type_oid` to JSON (typed mode).
///
/// * bool → `true`/`false`; int2/int4 → number; float4/float8 → number, but `NaN`, `Infinity`
///   and `-Infinity` stay strings;
/// * json/jsonb → the embedded JSON value;
/// * built-in arrays → nested JSON arrays, elements converted by the element type, `NULL`
///   elements → `null`;
/// * anything else (int8, numeric, dates, timestamps, uuid, bytea, ...) → the text as a string.
///
/// Text that does not parse as its declared type (which Postgres never sends) falls back to a
/// string rather than failing the whole response.
pub fn pg_text_to_json(type_oid: u32, text: &str) -> Value {
    if let Some(element_oid) = array_element_oid(type_oid) {
        return match parse_array(text, array_delimiter(element_oid)) {
            Ok(elements) => elements_to_json(element_oid, elements),
            Err(_) => Value::String(text.to_owned()),
        };
    }
    match type_oid {
        oid::BOOL => match text {
            "t" => Value::Bool(true),
            "f" => Value::Bool(false),
            _ => Value::String(text.to_owned()),
        },
        oid::INT2 | oid::INT4 => match text.parse::<i64>() {
            Ok(n) => Value::Number(n.into()),
            Err(_) => Value::String(text.to_owned()),
        },
        oid::FLOAT4 | oid::FLOAT8 => match text.parse::<f64>().ok().and_then(Number::from_f64) {
            // from_f64 refuses NaN and the infinities: they stay strings.
            Some(n) => Value::Number(n),
            None => Value::String(text.to_owned()),
        },
        oid::JSON | oid::JSONB => serde_json::from_slice(text.as_bytes())
            .unwrap_or_else(|_| Value::String(text.to_owned())),
        _ => Value::String(text.to_owned()),
    }
}

fn elements_to_json(element_oid: u32, elements: Vec<ArrayElement>) -> Value {
    Value::Array(
        elements
            .into_iter()
            .map(|element| match element {
                ArrayElement::Null => Value::Null,
                ArrayElement::Text(text) => pg_text_to_json(element_oid, &text),
                ArrayElement::Array(inner) => elements_to_json(element_oid, inner),
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn scalars() {
        assert_eq!(pg_text_to_json(oid::BOOL, "t"), json!(true));
        assert_eq!(pg_text_to_json(oid::BOOL, "f"), json!(false));
        assert_eq!(pg_text_to_json(oid::INT2, "-32768"), json!(-32768));
        assert_eq!(pg_text_to_json(oid::INT4, "2147483647"), json!(2147483647));
        assert_eq!(pg_text_to_json(oid::FLOAT8, "1.5"), json!(1.5));
        assert_eq!(pg_text_to_json(oid::FLOAT4, "-0.25"), json!(-0.25));
        assert_eq!(pg_text_to_json(oid::FLOAT8, "1e+100"), json!(1e100));
    }

    #[test]
    fn non_finite_floats_stay_strings() {
        for s in ["NaN", "Infinity", "-Infinity"] {
            assert_eq!(pg_text_to_json(oid::FLOAT8, s), json!(s));
            assert_eq!(pg_text_to_json(oid::FLOAT4, s), json!(s));
        }
    }

    #[test]
    fn lossless_types_stay_strings() {
        assert_eq!(
            pg_text_to_json(oid::INT8, "9223372036854775807"),
            json!("9223372036854775807")
        );
        assert_eq!(pg_text_to_json(oid::NUMERIC, "1.10"), json!("1.10"));
        assert_eq!(pg_text_to_json(oid::TEXT, "t"), json!("t"));
        assert_eq!(pg_text_to_json(oid::BYTEA, r"\x0102"), json!(r"\x0102"));
        assert_eq!(
            pg_text_to_json(oid::TIMESTAMPTZ, "2024-01-02 03:04:05+00"),
            json!("2024-01-02 03:04:05+00")
        );
        assert_eq!(
            pg_text_to_json(oid::UUID, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
            json!("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")
        );
        assert_eq!(pg_text_to_json(12345, "custom"), json!("custom"));
    }

    #[test]
    fn json_is_embedded() {
        assert_eq!(
            pg_text_to_json(oid::JSONB, r#"{"a": [1, null]}"#),
            json!({"a": [1, null]})
        );
        assert_eq!(pg_text_to_json(oid::JSON, "3"), json!(3));
        assert_eq!(pg_text_to_json(oid::JSON, r#""s""#), json!("s"));
        assert_eq!(pg_text_to_json(oid::JSON, "null"), Value::Null);
    }

    #[test]
    fn arrays_convert_elements_by_type() {
        assert_eq!(
            pg_text_to_json(oid::INT4_ARRAY, "{1,2,NULL}"),
            json!([1, 2, null])
        );
        assert_eq!(pg_text_to_json(oid::INT8_ARRAY, "{1,2}"), json!(["1", "2"]));
        assert_eq!(
            pg_text_to_json(oid::BOOL_ARRAY, "{t,f}"),
            json!([true, false])
        );
        assert_eq!(
            pg_text_to_json(oid::FLOAT8_ARRAY, "{1.5,NaN,-Infinity}"),
            json!([1.5, "NaN", "-Infinity"])
        );
        assert_eq!(
            pg_text_to_json(
                oid::TEXT_ARRAY,
                r#"{"a,b",NULL,"NULL","q\"uote","back\\slash"}"#
            ),
            json!(["a,b", null, "NULL", "q\"uote", "back\\slash"])
        );
        assert_eq!(
            pg_text_to_json(oid::JSONB_ARRAY, r#"{"{\"a\": 1}","[2]"}"#),
            json!([{"a": 1}, [2]])
        );
        assert_eq!(pg_text_to_json(oid::INT4_ARRAY, "{}"), json!([]));
        assert_eq!(
            pg_text_to_json(oid::INT4_ARRAY, "{{1,2},{3,4}}"),
            json!([[1, 2], [3, 4]])
        );
        assert_eq!(
            pg_text_to_json(oid::INT4_ARRAY, "[0:1]={5,6}"),
            json!([5, 6])
        );
        assert_eq!(
            pg_text_to_json(oid::BOX_ARRAY, "{(1,1),(0,0);(2,2),(1,1)}"),
            json!(["(1,1),(0,0)", "(2,2),(1,1)"])
        );
        assert_eq!(
            pg_text_to_json(oid::NUMERIC_ARRAY, "{1.0,NaN}"),
            json!(["1.0", "NaN"])
        );
    }

    #[test]
    fn malformed_array_text_falls_back_to_a_string() {
        assert_eq!(pg_text_to_json(oid::INT4_ARRAY, "{1,2"), json!("{1,2"));
    }

    #[test]
    fn raw_mode_and_nulls() {
        assert_eq!(pg_value_to_json(oid::INT4, Some("1"), true), json!("1"));
        assert_eq!(
            pg_value_to_json(oid::INT4_ARRAY, Some("{1}"), true),
            json!("{1}")
        );
        assert_eq!(pg_value_to_json(oid::INT4, None, true), Value::Null);
        assert_eq!(pg_value_to_json(oid::INT4, None, false), Value::Null);
        assert_eq!(pg_value_to_json(oid::INT4, Some("1"), false), json!(1));
    }

    #[test]
    fn element_oids() {
        assert_eq!(array_element_oid(oid::INT4_ARRAY), Some(oid::INT4));
        assert_eq!(array_element_oid(oid::JSONB_ARRAY), Some(oid::JSONB));
        assert_eq!(array_element_oid(oid::INT4), None);
        // No OID appears twice as an array type.
        for (i, (a, _)) in ARRAY_ELEMENTS.iter().enumerate() {
            assert!(
                ARRAY_ELEMENTS[i + 1..].iter().all(|(b, _)| a != b),
                "duplicate {a}"
            );
        }
    }
}

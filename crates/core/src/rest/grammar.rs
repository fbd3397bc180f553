//! PostgREST's URL grammar, parsed into a typed request (a faithful subset).
//!
//! ```text
//! select=a,b,alias:c          order=a.desc.nullslast,b
//! col=eq.5   col=not.in.(1,2,"x,y")   col=is.null   col=like.*abc*
//! or=(a.eq.1,and(b.gt.2,c.lt.3))   not.and=(...)   limit=10   offset=20
//! ```
//!
//! Parsing only shapes the request; identifiers are checked against the
//! introspected schema later and values are always bound parameters.

use crate::error::{ApiError, ErrorCode};

/// Query parameters that are not filters.
pub const RESERVED: &[&str] = &[
    "select",
    "order",
    "limit",
    "offset",
    "on_conflict",
    "columns",
    "cursor",
];

/// A comparison operator with its operand(s), as text from the URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// `eq.v` → `=`
    Eq(String),
    /// `neq.v` → `<>`
    Neq(String),
    /// `gt.v` → `>`
    Gt(String),
    /// `gte.v` → `>=`
    Gte(String),
    /// `lt.v` → `<`
    Lt(String),
    /// `lte.v` → `<=`
    Lte(String),
    /// `like.pattern` (`*` is a wildcard), case-sensitive.
    Like(String),
    /// `ilike.pattern`, case-insensitive.
    Ilike(String),
    /// `in.(a,b,...)`
    In(Vec<String>),
    /// `is.null|true|false`
    Is(IsValue),
}

/// Operands of `is`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IsValue {
    /// `IS NULL`
    Null,
    /// `IS TRUE`
    True,
    /// `IS FALSE`
    False,
}

/// A filter tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    /// One condition on a column.
    Cond {
        /// Column name (checked against the schema later).
        column: String,
        /// `not.` before the operator.
        negated: bool,
        /// The operator.
        op: Op,
    },
    /// All of (`and=(...)`), possibly negated.
    And(Vec<Filter>, bool),
    /// Any of (`or=(...)`), possibly negated.
    Or(Vec<Filter>, bool),
}

/// One `order` term.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderTerm {
    /// Column name.
    pub column: String,
    /// Descending.
    pub desc: bool,
    /// `Some(true)` nullsfirst, `Some(false)` nullslast, `None` the
    /// PostgreSQL default (last ascending, first descending).
    pub nulls_first: Option<bool>,
}

impl OrderTerm {
    /// Where NULLs go, with PostgreSQL's default made explicit (SQLite's differs).
    pub fn nulls_first_effective(&self) -> bool {
        self.nulls_first.unwrap_or(self.desc)
    }
}

/// One `select` item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectItem {
    /// Column name.
    pub column: String,
    /// Output name (`alias:column`).
    pub alias: Option<String>,
}

/// An embedded resource in `select`: `alias:target!hint!inner(items)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Embed {
    /// The table embedded.
    pub target: String,
    /// Output name (`alias:`); the target's name otherwise.
    pub alias: Option<String>,
    /// `!fk_name` or `!column`: which relationship, when several fit.
    pub hint: Option<String>,
    /// `!inner`: keep only parent rows that have a matching child.
    pub inner: bool,
    /// Why the target cannot be embedded as a table (it is not exposed, or
    /// another store serves it), set when the request is checked against
    /// the exposed tables: it may then only name a self-referencing key
    /// column of the parent (`manager:manager_id(...)`), and this is the
    /// refusal when it does not.
    pub not_a_table: Option<&'static str>,
    /// The child's own select, embeds, filters, order, limit and offset
    /// (`alias.col=eq.x`, `alias.order=...`, `alias.limit=...`).
    pub query: UrlQuery,
}

impl Embed {
    /// The output key, which is also how child parameters name it.
    pub fn key(&self) -> &str {
        self.alias.as_deref().unwrap_or(&self.target)
    }
}

/// Everything a URL says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UrlQuery {
    /// Selected columns; empty means `*` (unless [`UrlQuery::no_columns`]).
    pub select: Vec<SelectItem>,
    /// `select=child(...)` with neither `*` nor a column: only the embeds.
    pub no_columns: bool,
    /// Embedded resources.
    pub embeds: Vec<Embed>,
    /// Filters, all of which must hold.
    pub filters: Vec<Filter>,
    /// Ordering.
    pub order: Vec<OrderTerm>,
    /// `limit=`.
    pub limit: Option<u64>,
    /// `offset=`.
    pub offset: Option<u64>,
    /// `on_conflict=a,b`.
    pub on_conflict: Vec<String>,
    /// `columns=a,b` (which keys of a body to insert).
    pub columns: Vec<String>,
    /// `cursor=` (opaque keyset cursor).
    pub cursor: Option<String>,
}

/// A 400 naming the offending part (PostgREST's PGRST100).
pub fn parse_error(part: &str, why: &str) -> ApiError {
    let shown: String = part.chars().take(200).collect();
    ApiError::new(
        ErrorCode::RestParse,
        format!("failed to parse {shown:?}: {why}"),
    )
    .with_details(serde_json::json!({ "part": shown }))
}

/// A `limit` or `offset`: both stores take at most a signed 64-bit integer.
fn parse_u64(key: &str, v: &str) -> Result<u64, ApiError> {
    v.parse::<u64>()
        .ok()
        .filter(|n| i64::try_from(*n).is_ok())
        .ok_or_else(|| {
            parse_error(
                &format!("{key}={v}"),
                "expected a non-negative integer (at most 2^63 - 1)",
            )
        })
}

/// Splits a raw query string into decoded pairs as HTML forms encode them
/// (`+` is a space), but strictly: a malformed escape or bytes that are not
/// UTF-8 are a 400, never replacement characters that would quietly filter
/// on another value.
pub fn decode_query(raw: Option<&str>) -> Result<Vec<(String, String)>, ApiError> {
    crate::percent::decode_query(raw).map_err(|pair| {
        parse_error(
            pair,
            "the query string has an invalid percent-encoding or is not UTF-8 once decoded",
        )
    })
}

/// Splits at commas that are outside parentheses and double quotes.
fn split_top(s: &str) -> Result<Vec<&str>, &'static str> {
    let mut parts = Vec::new();
    let (mut depth, mut quoted, mut escaped, mut start) = (0i32, false, false, 0);
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => {
                depth -= 1;
                if depth < 0 {
                    return Err("unbalanced parentheses");
                }
            }
            ',' if !quoted && depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if quoted {
        return Err("unterminated double quote");
    }
    if depth != 0 {
        return Err("unbalanced parentheses");
    }
    parts.push(&s[start..]);
    Ok(parts)
}

/// A list value: `"quoted, with \" escapes"` or bare.
fn unquote(v: &str) -> String {
    let t = v.trim();
    if t.len() >= 2 && t.starts_with('"') && t.ends_with('"') {
        let mut out = String::new();
        let mut chars = t[1..t.len() - 1].chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            } else {
                out.push(c);
            }
        }
        out
    } else {
        t.to_string()
    }
}

/// Parses `op.value` (with an optional `not.`) for `column`.
fn parse_condition(column: &str, expr: &str, whole: &str) -> Result<Filter, ApiError> {
    let (negated, rest) = match expr.strip_prefix("not.") {
        Some(r) => (true, r),
        None => (false, expr),
    };
    let (op, value) = rest
        .split_once('.')
        .ok_or_else(|| parse_error(whole, "expected operator.value"))?;
    let value_text = || unquote(value);
    let op = match op {
        "eq" => Op::Eq(value_text()),
        "neq" => Op::Neq(value_text()),
        "gt" => Op::Gt(value_text()),
        "gte" => Op::Gte(value_text()),
        "lt" => Op::Lt(value_text()),
        "lte" => Op::Lte(value_text()),
        "like" => Op::Like(value_text()),
        "ilike" => Op::Ilike(value_text()),
        "in" => {
            let inner = value
                .strip_prefix('(')
                .and_then(|v| v.strip_suffix(')'))
                .ok_or_else(|| parse_error(whole, "in. needs a list in parentheses: in.(a,b)"))?;
            if inner.trim().is_empty() {
                Op::In(Vec::new())
            } else {
                let items = split_top(inner).map_err(|why| parse_error(whole, why))?;
                Op::In(items.into_iter().map(unquote).collect())
            }
        }
        "is" => Op::Is(match value.to_ascii_lowercase().as_str() {
            "null" => IsValue::Null,
            "true" => IsValue::True,
            "false" => IsValue::False,
            _ => return Err(parse_error(whole, "is. takes null, true or false")),
        }),
        other => {
            return Err(parse_error(
                whole,
                &format!(
                    "unknown operator {other:?} (eq, neq, gt, gte, lt, lte, like, ilike, in, is)"
                ),
            ))
        }
    };
    if column.is_empty() {
        return Err(parse_error(whole, "missing column name"));
    }
    Ok(Filter::Cond {
        column: field_name(column),
        negated,
        op,
    })
}

/// Parses a logic tree body `(a.eq.1,or(b.gt.2,c.lt.3))` into its items.
fn parse_logic_items(body: &str, whole: &str, depth: usize) -> Result<Vec<Filter>, ApiError> {
    if depth > 16 {
        return Err(parse_error(whole, "logic trees nest at most 16 deep"));
    }
    let inner = body
        .strip_prefix('(')
        .and_then(|b| b.strip_suffix(')'))
        .ok_or_else(|| {
            parse_error(
                whole,
                "a logic tree is a parenthesised list: or=(a.eq.1,b.eq.2)",
            )
        })?;
    let parts = split_top(inner).map_err(|why| parse_error(whole, why))?;
    let mut out = Vec::with_capacity(parts.len());
    for part in parts {
        let part = part.trim();
        // `not.and(...)` / `not.or(...)` negate a subtree; a negated condition
        // is written `col.not.op.value`, as at the top level.
        let (negated, rest) = match part.strip_prefix("not.") {
            Some(r) if r.starts_with("and(") || r.starts_with("or(") => (true, r),
            _ => (false, part),
        };
        if let Some(b) = rest.strip_prefix("and(") {
            let items = parse_logic_items(&format!("({b}"), whole, depth + 1)?;
            out.push(Filter::And(items, negated));
        } else if let Some(b) = rest.strip_prefix("or(") {
            let items = parse_logic_items(&format!("({b}"), whole, depth + 1)?;
            out.push(Filter::Or(items, negated));
        } else {
            let (column, expr) = part
                .split_once('.')
                .ok_or_else(|| parse_error(part, "expected column.operator.value"))?;
            out.push(parse_condition(column, expr, part)?);
        }
    }
    if out.is_empty() {
        return Err(parse_error(whole, "empty logic tree"));
    }
    Ok(out)
}

/// A column name as written: bare, or double-quoted (`"my col"`, as
/// postgrest-js sends `columns=`).
fn field_name(raw: &str) -> String {
    unquote(raw)
}

fn names(key: &str, v: &str) -> Result<Vec<String>, ApiError> {
    split_top(v)
        .map_err(|why| parse_error(&format!("{key}={v}"), why))?
        .into_iter()
        .map(|c| {
            let c = field_name(c);
            if c.is_empty() {
                Err(parse_error(&format!("{key}={v}"), "empty column name"))
            } else {
                Ok(c)
            }
        })
        .collect()
}

/// How deep embeds nest (`a(b(c(...)))`): 8 levels below the table.
pub const MAX_EMBED_DEPTH: usize = 8;

/// How many resources one request embeds, at every level together: each is
/// a correlated subquery run for every row of its parent, so the work a
/// request asks of the store is bounded by this, the depth and the row caps.
pub const MAX_EMBEDS: usize = 16;

/// Parses a `select` list into `q` (recursing into embeds, at most
/// [`MAX_EMBED_DEPTH`] deep).
fn parse_select(q: &mut UrlQuery, value: &str, depth: usize) -> Result<(), ApiError> {
    let whole = format!("select={value}");
    if depth > MAX_EMBED_DEPTH {
        return Err(parse_error(
            &whole,
            &format!("embeds nest at most {MAX_EMBED_DEPTH} deep"),
        ));
    }
    let mut star = false;
    for item in split_top(value).map_err(|why| parse_error(&whole, why))? {
        let item = item.trim();
        if item == "*" {
            star = true;
            continue;
        }
        if item.contains("->") || item.contains("::") {
            return Err(parse_error(item, "JSON paths and casts are not supported"));
        }
        if let Some((head, rest)) = item.split_once('(') {
            let inner = rest
                .strip_suffix(')')
                .ok_or_else(|| parse_error(item, "an embed is name(columns)"))?;
            let (alias, head) = match head.split_once(':') {
                Some((a, h)) => (Some(field_name(a)), h),
                None => (None, head),
            };
            let mut parts = head.split('!');
            let target = field_name(parts.next().unwrap_or(""));
            let (mut hint, mut inner_join) = (None, false);
            for m in parts {
                match m {
                    "inner" => inner_join = true,
                    "left" => inner_join = false,
                    "" => return Err(parse_error(item, "empty ! modifier")),
                    h => hint = Some(field_name(h)),
                }
            }
            if target.is_empty() || alias.as_deref() == Some("") {
                return Err(parse_error(item, "empty embed name"));
            }
            let mut query = UrlQuery::default();
            parse_select(&mut query, inner, depth + 1)?;
            q.embeds.push(Embed {
                target,
                alias,
                hint,
                inner: inner_join,
                not_a_table: None,
                query,
            });
            continue;
        }
        let (alias, column) = match item.split_once(':') {
            Some((a, c)) => (Some(field_name(a)), field_name(c)),
            None => (None, field_name(item)),
        };
        if column.is_empty() || alias.as_deref() == Some("") {
            return Err(parse_error(&whole, "empty select item"));
        }
        q.select.push(SelectItem { column, alias });
    }
    q.no_columns = !star && q.select.is_empty() && !q.embeds.is_empty();
    Ok(())
}

impl UrlQuery {
    /// Parses decoded query pairs.
    pub fn parse(pairs: &[(String, String)]) -> Result<UrlQuery, ApiError> {
        let mut q = UrlQuery::default();
        let mut nested = Vec::new();
        for (key, value) in pairs {
            // `child.param=...` (a quoted column name may hold dots).
            if !key.starts_with('"') && !key.starts_with("not.") {
                if let Some((path, param)) = key.rsplit_once('.') {
                    nested.push((path, param, value));
                    continue;
                }
            }
            q.apply(key, value, true)?;
        }
        for (path, param, value) in nested {
            let mut at = &mut q;
            for name in path.split('.') {
                at = at
                    .embeds
                    .iter_mut()
                    .find(|e| e.key() == name)
                    .map(|e| &mut e.query)
                    .ok_or_else(|| {
                        parse_error(
                            &format!("{path}.{param}"),
                            &format!("{name:?} is not an embedded resource in select"),
                        )
                    })?;
            }
            at.apply(param, value, false)?;
        }
        Ok(q)
    }

    /// Applies one parameter; `top` is false for an embed's own parameters.
    fn apply(&mut self, key: &str, value: &str, top: bool) -> Result<(), ApiError> {
        let q = self;
        let whole = format!("{key}={value}");
        match key {
            "select" if top => {
                parse_select(q, value, 0)?;
                let embeds = q.embed_count();
                if embeds > MAX_EMBEDS {
                    return Err(parse_error(
                        "select",
                        &format!(
                            "a request embeds at most {MAX_EMBEDS} resources (at every level together); this one has {embeds}"
                        ),
                    ));
                }
            }
            "order" => {
                for term in value.split(',') {
                    let mut parts = term.trim().split('.');
                    let column = field_name(parts.next().unwrap_or(""));
                    if column.is_empty() {
                        return Err(parse_error(&whole, "empty order column"));
                    }
                    let mut t = OrderTerm {
                        column,
                        desc: false,
                        nulls_first: None,
                    };
                    for modifier in parts {
                        match modifier {
                            "asc" => t.desc = false,
                            "desc" => t.desc = true,
                            "nullsfirst" => t.nulls_first = Some(true),
                            "nullslast" => t.nulls_first = Some(false),
                            other => {
                                return Err(parse_error(
                                    term,
                                    &format!("unknown order modifier {other:?} (asc, desc, nullsfirst, nullslast)"),
                                ))
                            }
                        }
                    }
                    q.order.push(t);
                }
            }
            "limit" => q.limit = Some(parse_u64(key, value)?),
            "offset" => q.offset = Some(parse_u64(key, value)?),
            "on_conflict" if top => q.on_conflict = names(key, value)?,
            "columns" if top => q.columns = names(key, value)?,
            "cursor" if top => q.cursor = Some(value.to_string()),
            "select" | "on_conflict" | "columns" | "cursor" => {
                return Err(parse_error(&whole, "applies to the top level only"))
            }
            "or" | "and" | "not.or" | "not.and" => {
                let items = parse_logic_items(value, &whole, 0)?;
                let negated = key.starts_with("not.");
                q.filters.push(if key.ends_with("or") {
                    Filter::Or(items, negated)
                } else {
                    Filter::And(items, negated)
                });
            }
            column => q.filters.push(parse_condition(column, value, &whole)?),
        }
        Ok(())
    }

    /// How many resources this query embeds, nested ones included.
    pub fn embed_count(&self) -> usize {
        self.embeds.iter().map(|e| 1 + e.query.embed_count()).sum()
    }

    /// Every column name the query mentions (for checking against the schema).
    pub fn columns_mentioned(&self) -> Vec<&str> {
        fn walk<'a>(f: &'a Filter, out: &mut Vec<&'a str>) {
            match f {
                Filter::Cond { column, .. } => out.push(column),
                Filter::And(items, _) | Filter::Or(items, _) => {
                    items.iter().for_each(|i| walk(i, out))
                }
            }
        }
        let mut out: Vec<&str> = self.select.iter().map(|s| s.column.as_str()).collect();
        self.filters.iter().for_each(|f| walk(f, &mut out));
        out.extend(self.order.iter().map(|o| o.column.as_str()));
        out.extend(self.on_conflict.iter().map(String::as_str));
        out.extend(self.columns.iter().map(String::as_str));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_decode_strictly() {
        let pairs = decode_query(Some("name=eq.a+b%2Cc&&select=id&flag")).unwrap();
        let want: Vec<(String, String)> = [("name", "eq.a b,c"), ("select", "id"), ("flag", "")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(pairs, want);
        assert_eq!(decode_query(None).unwrap(), vec![]);
        for bad in [
            "name=eq.%FF",
            "na%C3me=eq.1",
            "name=eq.%zz",
            "name=eq.%",
            "%ED%A0%80=1",
        ] {
            let e = decode_query(Some(bad)).unwrap_err();
            assert_eq!((e.status(), e.code), (400, ErrorCode::RestParse), "{bad}");
        }
    }

    #[test]
    fn limits_and_offsets_fit_a_signed_64_bit_integer() {
        assert_eq!(
            p(&[("offset", "9223372036854775807")]).unwrap().offset,
            Some(i64::MAX as u64)
        );
        for bad in ["9223372036854775808", "18446744073709551615", "-1", "1e3"] {
            assert!(p(&[("offset", bad)]).is_err(), "{bad}");
            assert!(p(&[("limit", bad)]).is_err(), "{bad}");
        }
    }

    fn p(pairs: &[(&str, &str)]) -> Result<UrlQuery, ApiError> {
        let owned: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        UrlQuery::parse(&owned)
    }

    fn cond(column: &str, negated: bool, op: Op) -> Filter {
        Filter::Cond {
            column: column.into(),
            negated,
            op,
        }
    }

    #[test]
    fn select_order_limit_offset() {
        let q = p(&[
            ("select", "a,b,nick:name"),
            ("order", "a.desc.nullslast,b"),
            ("limit", "10"),
            ("offset", "5"),
        ])
        .unwrap();
        assert_eq!(q.select.len(), 3);
        assert_eq!(
            q.select[2],
            SelectItem {
                column: "name".into(),
                alias: Some("nick".into())
            }
        );
        assert_eq!(
            q.order[0],
            OrderTerm {
                column: "a".into(),
                desc: true,
                nulls_first: Some(false)
            }
        );
        assert!(!q.order[1].desc && q.order[1].nulls_first.is_none());
        assert!(!q.order[1].nulls_first_effective() && q.order[0].desc);
        assert_eq!((q.limit, q.offset), (Some(10), Some(5)));
        assert!(p(&[("select", "*")]).unwrap().select.is_empty());
    }

    #[test]
    fn every_operator() {
        let q = p(&[
            ("a", "eq.1"),
            ("b", "neq.x.y"),
            ("c", "gt.2"),
            ("d", "gte.2"),
            ("e", "lt.2"),
            ("f", "lte.2"),
            ("g", "like.*ab*"),
            ("h", "ilike.AB*"),
            ("i", "in.(1,\"a,b\",\"q\\\"x\")"),
            ("j", "is.null"),
            ("k", "not.eq.3"),
            ("l", "is.TRUE"),
            ("m", "in.()"),
        ])
        .unwrap();
        assert_eq!(q.filters[0], cond("a", false, Op::Eq("1".into())));
        assert_eq!(q.filters[1], cond("b", false, Op::Neq("x.y".into())));
        assert_eq!(
            q.filters[8],
            cond(
                "i",
                false,
                Op::In(vec!["1".into(), "a,b".into(), "q\"x".into()])
            )
        );
        assert_eq!(q.filters[9], cond("j", false, Op::Is(IsValue::Null)));
        assert_eq!(q.filters[10], cond("k", true, Op::Eq("3".into())));
        assert_eq!(q.filters[11], cond("l", false, Op::Is(IsValue::True)));
        assert_eq!(q.filters[12], cond("m", false, Op::In(vec![])));
    }

    #[test]
    fn logic_trees_nest() {
        let q = p(&[
            (
                "or",
                "(a.eq.1,and(b.gt.2,c.not.in.(3,4)),not.or(d.is.null,e.like.x*))",
            ),
            ("not.and", "(f.eq.1,g.eq.2)"),
        ])
        .unwrap();
        let Filter::Or(items, false) = &q.filters[0] else {
            panic!("{:?}", q.filters)
        };
        assert_eq!(items.len(), 3);
        assert_eq!(
            items[1],
            Filter::And(
                vec![
                    cond("b", false, Op::Gt("2".into())),
                    cond("c", true, Op::In(vec!["3".into(), "4".into()]))
                ],
                false
            )
        );
        assert!(matches!(&items[2], Filter::Or(v, true) if v.len() == 2));
        assert!(matches!(&q.filters[1], Filter::And(v, true) if v.len() == 2));
        let mentioned = q.columns_mentioned();
        assert_eq!(mentioned, ["a", "b", "c", "d", "e", "f", "g"]);
    }

    #[test]
    fn quoted_column_names() {
        let q = p(&[
            ("columns", "\"id\",\"my col\""),
            ("select", "\"id\",n:\"my col\""),
            ("\"my col\"", "eq.1"),
        ])
        .unwrap();
        assert_eq!(q.columns, ["id", "my col"]);
        assert_eq!(
            q.select[1],
            SelectItem {
                column: "my col".into(),
                alias: Some("n".into())
            }
        );
        assert_eq!(q.filters[0], cond("my col", false, Op::Eq("1".into())));
    }

    #[test]
    fn embeds_with_aliases_hints_and_their_own_parameters() {
        let q = p(&[
            (
                "select",
                "*,author:users!author_id!inner(name,c:comments(body))",
            ),
            ("author.name", "eq.x"),
            ("author.c.order", "body.desc"),
            ("author.c.limit", "2"),
            ("author.or", "(name.eq.a,name.eq.b)"),
        ])
        .unwrap();
        assert!(q.select.is_empty() && !q.no_columns && q.filters.is_empty());
        let e = &q.embeds[0];
        assert_eq!(
            (e.target.as_str(), e.key(), e.hint.as_deref(), e.inner),
            ("users", "author", Some("author_id"), true)
        );
        assert_eq!(e.query.filters.len(), 2);
        let c = &e.query.embeds[0];
        assert_eq!((c.key(), c.query.limit), ("c", Some(2)));
        assert!(c.query.order[0].desc);
        assert!(p(&[("select", "users(name)")]).unwrap().no_columns);
        for bad in [
            vec![("select", "id"), ("nope.id", "eq.1")],
            vec![("select", "users(name)"), ("users.select", "id")],
            vec![("select", "users(name")],
            vec![("select", "users!(name)")],
            vec![("select", ":users(name)")],
        ] {
            assert_eq!(p(&bad).unwrap_err().code, ErrorCode::RestParse, "{bad:?}");
        }
    }

    #[test]
    fn embeds_are_bounded_in_number_and_depth() {
        let flat = |n: usize| {
            (0..n)
                .map(|i| format!("e{i}:t(id)"))
                .collect::<Vec<_>>()
                .join(",")
        };
        let q = p(&[("select", &flat(MAX_EMBEDS))]).unwrap();
        assert_eq!(q.embed_count(), MAX_EMBEDS);
        let e = p(&[("select", &flat(MAX_EMBEDS + 1))]).unwrap_err();
        assert_eq!((e.status(), e.code), (400, ErrorCode::RestParse));
        assert!(e.message.contains("at most 16"), "{}", e.message);
        // Nested ones count too: 4 children with 3 grandchildren each is 16.
        let family = |kids: usize| {
            (0..4)
                .map(|i| format!("c{i}:t(id,{})", flat(kids)))
                .collect::<Vec<_>>()
                .join(",")
        };
        assert_eq!(p(&[("select", &family(3))]).unwrap().embed_count(), 16);
        assert!(p(&[("select", &family(4))]).is_err());
        // Depth: the table, then at most MAX_EMBED_DEPTH levels.
        let nest = |levels: usize| format!("id,{}id{}", "t(".repeat(levels), ")".repeat(levels));
        assert!(p(&[("select", &nest(MAX_EMBED_DEPTH))]).is_ok());
        let e = p(&[("select", &nest(MAX_EMBED_DEPTH + 1))]).unwrap_err();
        assert!(e.message.contains("8 deep"), "{}", e.message);
    }

    #[test]
    fn bad_grammar_names_the_part() {
        for (k, v) in [
            ("a", "equals.1"),
            ("a", "eq"),
            ("a", "in.1,2"),
            ("a", "is.maybe"),
            ("or", "a.eq.1"),
            ("or", "(a.eq.1"),
            ("or", "()"),
            ("order", "a.sideways"),
            ("limit", "-1"),
            ("offset", "x"),
            ("select", "a,(select 1)"),
            ("select", "a->b"),
            ("select", "a,,b"),
            ("a", "in.(\"x)"),
        ] {
            let e = p(&[(k, v)]).unwrap_err();
            assert_eq!(e.status(), 400, "{k}={v}");
            assert_eq!(e.code, ErrorCode::RestParse);
        }
        let deep = format!("{}a.eq.1{}", "and(".repeat(20), ")".repeat(20));
        assert!(p(&[("or", &format!("({deep})"))]).is_err());
    }
}

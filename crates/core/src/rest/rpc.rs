//! `/v1/rest/rpc/{function}`: Postgres functions, called as PostgREST does.
//!
//! A function is exposed like a table: under the name `rpc/<function>` in
//! `REST_TABLES` (or by `"*"`), and only on Postgres (D1 has no functions:
//! a function placed on D1 is a `400`). Arguments are named: the JSON body's
//! keys on `POST` (or the whole body as the one argument with
//! `Prefer: params=single-object`), the query parameters named like an
//! argument on `GET`. A function returning one value answers that value; one
//! returning rows answers them through the REST grammar (`select`, filters,
//! `order`, `limit`, `offset`, `Range`, `count`), applied in the same SQL.
//!
//! `STABLE` and `IMMUTABLE` functions run read-only (the read role), with a
//! `pg:read` key, by `GET` or `POST`; `VOLATILE` ones need `pg:write` and
//! `POST`, and run as writes.

use super::build::{self, ident, Window};
use super::grammar::{decode_query, parse_error, UrlQuery};
use super::headers::{self, Prefer, Shape};
use super::placement::Placement;
use super::schema::{is_internal, ColumnInfo, TableSchema};
use super::service::{reply, respond, Limits};
use crate::auth::{Principal, Scope};
use crate::error::{ApiError, ErrorCode};
use crate::http::{Reply, RequestHeaders};
use crate::percent;
use crate::sql::errors;
use crate::sql::request::{parse_json, Statement};
use crate::sql::Store;
use crate::store::{RunOptions, SqlStores};
use serde_json::{Map, Value};

/// Every overload of a function in schema `public`, one row each: `v`
/// (volatility), `rs` (returns a set), `tt` (the return type's kind), `n`
/// (input arguments), `nd` (how many of the last ones have defaults),
/// `names`, `modes`, `types` (all arguments, in order) and `cols` (the
/// columns of a returned table row type). An extension's functions (e.g.
/// `dblink`, `pgcrypto` installed in `public`) are never exposed, even by `"*"`:
/// they belong to the extension, not the application.
pub const LOOKUP_SQL: &str = "SELECT p.provolatile::text AS v, p.proretset AS rs, \
     (SELECT t.typtype::text FROM pg_catalog.pg_type t WHERE t.oid = p.prorettype) AS tt, \
     p.pronargs::int4 AS n, p.pronargdefaults::int4 AS nd, \
     coalesce(p.proargnames, ARRAY[]::text[]) AS names, \
     coalesce(p.proargmodes::text[], ARRAY[]::text[]) AS modes, \
     ARRAY(SELECT pg_catalog.format_type(u.x, NULL) FROM pg_catalog.unnest(coalesce(p.proallargtypes, p.proargtypes::pg_catalog.oid[])) \
     WITH ORDINALITY AS u(x, i) ORDER BY u.i) AS types, \
     ARRAY(SELECT a.attname::text FROM pg_catalog.pg_type t JOIN pg_catalog.pg_attribute a ON a.attrelid = t.typrelid \
     WHERE t.oid = p.prorettype AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum) AS cols \
     FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace s ON s.oid = p.pronamespace \
     WHERE s.nspname = 'public' AND p.proname = $1 AND p.prokind = 'f' \
     AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass \
     AND d.objid = p.oid AND d.deptype = 'e') ORDER BY p.pronargs";

/// One overload of a function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Function {
    /// Its name.
    pub name: String,
    /// `STABLE` or `IMMUTABLE`: it cannot write.
    pub read_only: bool,
    /// `RETURNS SETOF` / `RETURNS TABLE`.
    pub returns_set: bool,
    /// Input arguments: (name, type, has a default).
    pub args: Vec<(String, String, bool)>,
    /// The columns of its rows; empty when it returns one plain value.
    pub columns: Vec<String>,
}

impl Function {
    /// The overload a [`LOOKUP_SQL`] row describes.
    pub fn from_row(name: &str, row: &Value) -> Option<Function> {
        let list = |k: &str| -> Vec<String> {
            row[k]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default()
        };
        let (names, modes, types) = (list("names"), list("modes"), list("types"));
        let (mut args, mut out) = (Vec::new(), Vec::new());
        for (i, ty) in types.iter().enumerate() {
            let arg = names.get(i).cloned().unwrap_or_default();
            match modes.get(i).map(String::as_str) {
                Some("o") | Some("t") => out.push(arg),
                _ => args.push((arg, ty.clone(), false)),
            }
        }
        // Postgres's names for unnamed OUT arguments: one alone is the
        // function's value, its column named by the call's alias (the
        // function's name here); several are `column1`, `column2`, ...
        let single = out.len() == 1;
        for (i, column) in out.iter_mut().enumerate() {
            if column.is_empty() {
                *column = if single {
                    name.to_string()
                } else {
                    format!("column{}", i + 1)
                };
            }
        }
        let defaults = row["nd"].as_u64().unwrap_or(0) as usize;
        let first_default = args.len().saturating_sub(defaults);
        for a in args.iter_mut().skip(first_default) {
            a.2 = true;
        }
        let composite = row["tt"].as_str() == Some("c");
        let returns_set = row["rs"].as_bool().unwrap_or(false);
        let columns = if !out.is_empty() {
            out
        } else if composite {
            list("cols")
        } else if returns_set {
            // `SETOF <scalar>`: one column, named after the function.
            vec![name.to_string()]
        } else {
            Vec::new()
        };
        Some(Function {
            name: name.to_string(),
            read_only: matches!(row["v"].as_str(), Some("s") | Some("i")),
            returns_set,
            args,
            columns,
        })
    }

    /// Whether these argument names call this overload. An argument
    /// without a name cannot be given by name: an overload with one that
    /// has no default is never called this way.
    fn accepts(&self, given: &[&str]) -> bool {
        given.iter().all(|g| self.takes(g))
            && self
                .args
                .iter()
                .all(|a| a.2 || (!a.0.is_empty() && given.contains(&a.0.as_str())))
    }

    /// Whether `name` is one of its (named) input arguments.
    fn takes(&self, name: &str) -> bool {
        !name.is_empty() && self.args.iter().any(|a| a.0 == name)
    }

    /// Whether it has an input argument that has neither a name nor a default.
    fn needs_unnamed(&self) -> bool {
        self.args.iter().any(|a| a.0.is_empty() && !a.2)
    }
}

/// No overload takes these names, and one has an argument without a name:
/// say why rather than "no such function".
fn unnamed_arguments(name: &str) -> ApiError {
    ApiError::new(
        ErrorCode::InvalidRequest,
        "this function has arguments without names, which cannot be passed by name",
    )
    .with_details(serde_json::json!({ "function": name }))
    .with_hint(
        "name the arguments in CREATE FUNCTION; a function of one argument can also take \
         the whole body as that argument with Prefer: params=single-object",
    )
}

/// One `/rpc` request, parsed and authorised for reading.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcCommand {
    /// The function, percent-decoded.
    pub name: String,
    get: bool,
    may_write: bool,
    pairs: Vec<(String, String)>,
    prefer: Prefer,
    shape: Shape,
    range: Option<(u64, Option<u64>)>,
    limits: Limits,
}

fn no_function(name: &str) -> ApiError {
    ApiError::new(
        ErrorCode::NotFound,
        "no such function (with these arguments)",
    )
    .with_details(serde_json::json!({ "pgrstCode": "PGRST202", "function": name }))
}

impl RpcCommand {
    /// The function and its exposure, the scope (a read key may call it;
    /// whether it must write is known once it is looked up), the URL and
    /// the headers.
    pub fn parse(
        method: &str,
        function: &str,
        url: &str,
        headers: &RequestHeaders,
        principal: &Principal,
        placement: &Placement,
        limits: Limits,
    ) -> Result<RpcCommand, ApiError> {
        // Strata's own names (`strata_*`) are never exposed, "*" or not.
        let name = percent::decode_path(function)
            .filter(|n| !is_internal(n))
            .ok_or_else(|| no_function(function))?;
        let get = match method {
            "GET" | "HEAD" => true,
            "POST" => false,
            _ => return Err(ApiError::method_not_allowed(&["GET", "HEAD", "POST"])),
        };
        match placement.resolve(&format!("rpc/{name}")).map(|p| p.store) {
            None => return Err(no_function(&name)),
            Some(Store::D1) => {
                // Said only to a key that could call a function at all.
                principal.require(Scope::PgRead)?;
                return Err(ApiError::new(
                    ErrorCode::InvalidRequest,
                    "functions run on Postgres only; this one is placed on D1",
                )
                .with_details(serde_json::json!({ "function": name })));
            }
            Some(Store::Pg) => principal.require(Scope::PgRead)?,
        }
        let raw_query = url
            .split('#')
            .next()
            .unwrap_or(url)
            .split_once('?')
            .map(|(_, q)| q);
        let prefer = Prefer::from_request(headers)?;
        Ok(RpcCommand {
            name,
            get,
            may_write: principal.allows(Scope::PgWrite),
            pairs: decode_query(raw_query)?,
            prefer,
            shape: headers::parse_accept(headers.get("accept"))?,
            range: headers::parse_range(headers.get("range"), headers.get("range-unit"))?,
            limits,
        })
    }

    /// Whether [`execute`] needs the JSON body.
    pub fn needs_body(&self) -> bool {
        !self.get
    }
}

/// Looks the function up, checks what calling it needs, and calls it in
/// one statement (two with `Prefer: count=exact`). A database error loses
/// the fields that would show the function's body (its PL/pgSQL context,
/// its tables: [`errors::for_rest`]).
pub async fn execute<S: SqlStores>(
    cmd: &RpcCommand,
    body: Option<&[u8]>,
    stores: &S,
) -> Result<Reply, ApiError> {
    call_function(cmd, body, stores)
        .await
        .map_err(errors::for_rest)
}

async fn call_function<S: SqlStores>(
    cmd: &RpcCommand,
    body: Option<&[u8]>,
    stores: &S,
) -> Result<Reply, ApiError> {
    let lookup = Statement {
        sql: LOOKUP_SQL.to_string(),
        params: vec![Value::String(cmd.name.clone())],
    };
    let rows = stores
        .run(Store::Pg, &[lookup], RunOptions::READ)
        .await?
        .pop()
        .map(|r| r.rows)
        .unwrap_or_default();
    let overloads: Vec<Function> = rows
        .iter()
        .filter_map(|r| Function::from_row(&cmd.name, r))
        .collect();
    // Arguments: the body's keys (POST), or query parameters named like an argument (GET).
    let mut grammar = Vec::new();
    let mut args: Map<String, Value> = Map::new();
    // `Prefer: params=single-object` names its overload: the one of one argument.
    let mut single = None;
    if cmd.get {
        for (k, v) in &cmd.pairs {
            if overloads.iter().any(|f| f.takes(k)) {
                args.insert(k.clone(), Value::String(v.clone()));
            } else {
                grammar.push((k.clone(), v.clone()));
            }
        }
    } else {
        grammar = cmd.pairs.clone();
        let body = body.unwrap_or_default();
        let value = if body.iter().all(u8::is_ascii_whitespace) {
            Value::Object(Map::new())
        } else {
            parse_json(body)?
        };
        match (cmd.prefer.single_object, value) {
            (true, v) => {
                let one = overloads
                    .iter()
                    .find(|f| f.args.len() == 1)
                    .ok_or_else(|| no_function(&cmd.name))?;
                args.insert(one.args[0].0.clone(), v);
                single = Some(one);
            }
            (false, Value::Object(o)) => args = o,
            _ => {
                return Err(parse_error(
                    "body",
                    "the arguments are a JSON object of name to value",
                ))
            }
        }
    }
    let given: Vec<&str> = args.keys().map(String::as_str).collect();
    let f = match single {
        Some(one) => one,
        None => overloads
            .iter()
            .find(|f| f.accepts(&given))
            .ok_or_else(|| match overloads.iter().any(Function::needs_unnamed) {
                true => unnamed_arguments(&cmd.name),
                false => no_function(&cmd.name),
            })?,
    };
    if !f.read_only {
        if cmd.get {
            return Err(ApiError::method_not_allowed(&["POST"])
                .with_hint("a VOLATILE function may write: call it with POST"));
        }
        if !cmd.may_write {
            return Err(ApiError::forbidden_scope(Scope::PgWrite.as_str()));
        }
    }
    let options = if f.read_only {
        RunOptions::READ
    } else {
        RunOptions::WRITE
    };
    let mut call = format!("\"public\".{}(", ident(&f.name));
    let mut params = Vec::new();
    for (name, ty, _) in f.args.iter().filter(|a| args.contains_key(&a.0)) {
        params.push(args.get(name).cloned().unwrap_or(Value::Null));
        if params.len() > 1 {
            call.push_str(", ");
        }
        // The type is the catalog's own spelling of it, never the request's.
        // An argument without a name is passed by position: that is only
        // the one argument of a `params=single-object` call (a name given
        // in a request never matches an unnamed argument).
        let n = params.len();
        call.push_str(&match name.is_empty() {
            true => format!("${n}::{ty}"),
            false => format!("{} => ${n}::{ty}", ident(name)),
        });
    }
    call.push(')');
    if f.columns.is_empty() {
        let st = Statement {
            sql: format!("SELECT {call} AS {}", ident(&f.name)),
            params,
        };
        let mut results = stores
            .run(Store::Pg, &[st], options)
            .await
            .map_err(|e| write_error(e, f))?;
        let row = results
            .pop()
            .and_then(|r| r.rows.into_iter().next())
            .unwrap_or(Value::Null);
        return Ok(reply(200, Some(&row[&f.name]), Vec::new()));
    }
    let q = UrlQuery::parse(&grammar)?;
    if q.cursor.is_some() {
        return Err(parse_error(
            "cursor",
            "a function's rows page by limit and offset",
        ));
    }
    let table = TableSchema {
        schema: Some("public".into()),
        name: f.name.clone(),
        columns: f
            .columns
            .iter()
            .map(|c| ColumnInfo {
                name: c.clone(),
                type_name: String::new(),
                nullable: true,
            })
            .collect(),
        primary_key: Vec::new(),
        rowid: None,
        source: Some((format!("{call} AS {}", ident(&f.name)), params)),
    };
    let max = cmd.limits.max_rows;
    let offset = q.offset.or(cmd.range.map(|r| r.0)).unwrap_or(0);
    let limit = [q.limit, cmd.range.and_then(|r| r.1), Some(max)]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(max);
    // Counting runs the function again: only for one that cannot write.
    let count = cmd.prefer.count.is_some() && f.read_only;
    let plan = build::read(
        Store::Pg,
        None,
        &table,
        &q,
        Window {
            offset,
            limit,
            embed_limit: max,
        },
        None,
        count,
    )?;
    let mut statements = vec![plan.statement];
    statements.extend(plan.count);
    let mut results = stores
        .run(Store::Pg, &statements, options)
        .await
        .map_err(|e| write_error(e, f))?;
    let total = if count {
        let c = results.pop().ok_or_else(ApiError::internal)?;
        let n = &c.rows.first().ok_or_else(ApiError::internal)?["n"];
        n.as_u64()
            .or_else(|| n.as_str().and_then(|s| s.parse().ok()))
    } else {
        None
    };
    let mut rows = results.pop().ok_or_else(ApiError::internal)?.rows;
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    for row in rows.iter_mut() {
        if let Some(obj) = row.as_object_mut() {
            for h in &plan.hidden {
                obj.shift_remove(h);
            }
        }
    }
    let extra = vec![(
        "content-range",
        headers::content_range(offset, rows.len() as u64, total),
    )];
    if f.returns_set {
        return respond(200, rows, cmd.shape, extra);
    }
    Ok(reply(
        200,
        Some(&rows.into_iter().next().unwrap_or(Value::Null)),
        extra,
    ))
}

/// A failed call of a function that may have written is not retryable.
fn write_error(e: crate::store::StoreError, f: &Function) -> ApiError {
    let e = ApiError::from(e);
    if f.read_only {
        e
    } else {
        e.for_write()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strata_names_are_never_functions_even_under_a_star() {
        let placement = Placement::parse(Some(r#"{"*": "pg"}"#)).unwrap();
        let admin = Principal {
            key_id: "k".into(),
            scopes: vec![Scope::Admin],
        };
        let parse = |f: &str| {
            RpcCommand::parse(
                "POST",
                f,
                &format!("/v1/rest/rpc/{f}"),
                &RequestHeaders::new(Vec::<(String, String)>::new()),
                &admin,
                &placement,
                Limits {
                    max_rows: 10,
                    max_insert_rows: 10,
                },
            )
        };
        assert!(parse("add").is_ok());
        let e = parse("strata_secret").unwrap_err();
        assert_eq!(e.status(), 404);
    }

    /// Answers the catalogue lookup with `overload`, then each call with
    /// `answer`; records the SQL it was sent.
    struct Catalog {
        overload: Value,
        answer: Value,
        sent: std::cell::RefCell<Vec<String>>,
    }

    impl SqlStores for Catalog {
        async fn run(
            &self,
            _store: Store,
            statements: &[Statement],
            _options: RunOptions,
        ) -> Result<Vec<crate::sql::result::SqlResult>, crate::store::StoreError> {
            let rows = if statements[0].sql == LOOKUP_SQL {
                vec![self.overload.clone()]
            } else {
                self.sent.borrow_mut().push(statements[0].sql.clone());
                vec![self.answer.clone()]
            };
            Ok(vec![crate::sql::result::SqlResult {
                columns: Vec::new(),
                row_count: rows.len() as u64,
                rows,
                meta: Map::new(),
            }])
        }

        async fn schema(
            &self,
            _store: Store,
            _table: &str,
        ) -> Result<std::rc::Rc<super::super::schema::Schema>, crate::store::StoreError> {
            Err(crate::store::StoreError::unavailable("neon", "not here"))
        }

        fn forget_schema(&self, _store: Store) {}
    }

    fn post(
        function: &str,
        prefer: Option<&str>,
        body: &str,
        catalog: &Catalog,
    ) -> Result<Reply, ApiError> {
        let headers: Vec<(String, String)> = prefer
            .map(|p| ("prefer".to_string(), p.to_string()))
            .into_iter()
            .collect();
        let cmd = RpcCommand::parse(
            "POST",
            function,
            &format!("https://h/v1/rest/rpc/{function}"),
            &RequestHeaders::new(headers),
            &Principal {
                key_id: "k".into(),
                scopes: vec![Scope::Admin],
            },
            &Placement::parse(Some(r#"{"*": "pg"}"#))?,
            Limits {
                max_rows: 10,
                max_insert_rows: 10,
            },
        )?;
        crate::testing::block_on(execute(&cmd, Some(body.as_bytes()), catalog))
    }

    #[test]
    fn unnamed_arguments_are_passed_by_position_or_refused_clearly() {
        // `create function inc(int) returns int`: proargnames is NULL.
        let inc = Catalog {
            overload: json!({"v": "i", "rs": false, "tt": "b", "n": 1, "nd": 0, "names": [], "modes": [], "types": ["integer"], "cols": []}),
            answer: json!({"inc": 5}),
            sent: Default::default(),
        };
        for body in [r#"{}"#, r#"{"": 4}"#, r#"{"x": 4}"#] {
            let e = post("inc", None, body, &inc).unwrap_err();
            assert_eq!(
                (e.status(), e.code.as_str()),
                (400, "invalid_request"),
                "{body}"
            );
            assert!(e
                .hint
                .as_deref()
                .is_some_and(|h| h.contains("single-object")));
        }
        assert!(inc.sent.borrow().is_empty(), "nothing called");
        let r = post("inc", Some("params=single-object"), "4", &inc).unwrap();
        assert_eq!(r.json_body(), Some(json!(5)));
        assert_eq!(
            inc.sent.borrow().as_slice(),
            ["SELECT \"public\".\"inc\"($1::integer) AS \"inc\""]
        );
        // An unnamed argument with a default is left to its default.
        let f = Function::from_row(
            "u",
            &json!({"v": "i", "rs": false, "tt": "b", "nd": 2, "names": ["", "b"], "modes": [], "types": ["integer", "integer"], "cols": []}),
        )
        .unwrap();
        assert!(f.accepts(&["b"]) && f.accepts(&[]) && !f.accepts(&[""]));
        assert!(!f.needs_unnamed());
    }

    #[test]
    fn unnamed_out_arguments_get_postgres_column_names() {
        let two = Function::from_row(
            "pair",
            &json!({"v": "s", "rs": false, "tt": "p", "nd": 0, "names": ["a", "", ""], "modes": ["i", "o", "o"], "types": ["integer", "integer", "text"], "cols": []}),
        )
        .unwrap();
        assert_eq!(two.columns, ["column1", "column2"]);
        assert_eq!(two.args.len(), 1);
        let one = Function::from_row(
            "seven",
            &json!({"v": "s", "rs": false, "tt": "b", "nd": 0, "names": [""], "modes": ["o"], "types": ["integer"], "cols": []}),
        )
        .unwrap();
        assert_eq!(one.columns, ["seven"]);
        assert!(one.args.is_empty());
        let catalog = Catalog {
            overload: json!({"v": "s", "rs": false, "tt": "p", "nd": 0, "names": ["a", "", ""], "modes": ["i", "o", "o"], "types": ["integer", "integer", "text"], "cols": []}),
            answer: json!({"column1": 1, "column2": "1"}),
            sent: Default::default(),
        };
        let r = post("pair", None, r#"{"a": 1}"#, &catalog).unwrap();
        assert_eq!(r.json_body(), Some(json!({"column1": 1, "column2": "1"})));
        let sql = catalog.sent.borrow()[0].clone();
        assert!(sql.starts_with("SELECT \"column1\", \"column2\" FROM \"public\".\"pair\"(\"a\" => $1::integer) AS \"pair\""), "{sql}");
        assert!(!sql.contains("\"\""), "{sql}");
    }

    #[test]
    fn catalog_rows_become_overloads() {
        let add = Function::from_row(
            "add",
            &json!({"v": "i", "rs": false, "tt": "b", "n": 2, "nd": 1, "names": ["a", "b"], "modes": [], "types": ["integer", "integer"], "cols": []}),
        )
        .unwrap();
        assert!(add.read_only && !add.returns_set && add.columns.is_empty());
        assert_eq!(add.args[1], ("b".to_string(), "integer".to_string(), true));
        assert!(add.accepts(&["a"]) && add.accepts(&["a", "b"]));
        assert!(!add.accepts(&["b"]) && !add.accepts(&["a", "c"]));
        let table = Function::from_row(
            "top",
            &json!({"v": "v", "rs": true, "tt": "p", "n": 1, "nd": 0, "names": ["min", "id", "votes"], "modes": ["i", "t", "t"], "types": ["integer", "integer", "integer"], "cols": []}),
        )
        .unwrap();
        assert!(!table.read_only && table.returns_set);
        assert_eq!(table.columns, ["id", "votes"]);
        assert_eq!(table.args.len(), 1);
        let setof = Function::from_row("ids", &json!({"v": "s", "rs": true, "tt": "b", "nd": 0, "names": null, "modes": null, "types": [], "cols": []})).unwrap();
        assert_eq!(setof.columns, ["ids"]);
        assert!(
            LOOKUP_SQL.contains("d.deptype = 'e'") && LOOKUP_SQL.contains("s.nspname = 'public'")
        );
    }
}

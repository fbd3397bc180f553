//! `/v1/admin/placement`: see and change which store serves each REST table,
//! and whether it is moving (scope `admin`).
//!
//! * `GET /v1/admin/placement` — every REST-visible table: its store, state,
//!   whether `REST_TABLES` (`config`) or a `strata_placement` row
//!   (`runtime`) decides, since when, and its row count (one `count(*)` per
//!   table, batched per store; `null` if that fails).
//! * `DELETE /v1/admin/placement/{table}` — drops the run-time row of a
//!   ready table whose `REST_TABLES` entry names the same store.
//! * `PUT /v1/admin/placement/{table}` — `{"store": "d1"|"pg", "state":
//!   "ready"|"moving", "target"?: "d1"|"pg"}` writes the table's run-time
//!   row. The table must exist in `store` (a flip to a store without the
//!   table would 404 every request), and the change must be one safe step
//!   from where the table is now (see [`check_step`]): a table changes
//!   store only by being frozen (`moving`, with its target) and then
//!   flipped to that target. The write is a compare-and-set against the
//!   placement the check saw, so two admins racing cannot both win. Every
//!   isolate sees the change within `PLACEMENT_CACHE_SECONDS`.

use super::build::table_ref;
use super::placement::{Origin, Placement, Resolved, RuntimeEntry, State};
use super::schema::is_internal;
use crate::auth::{Principal, Scope};
use crate::error::{ApiError, ErrorCode};
use crate::http::Reply;
use crate::percent;
use crate::sql::request::{parse_json, Statement};
use crate::sql::Store;
use crate::store::{RunOptions, SqlStores};
use serde::Deserialize;
use serde_json::{json, Value};

fn store_name(store: Store) -> &'static str {
    match store {
        Store::D1 => "d1",
        Store::Pg => "pg",
    }
}

fn entry_json(table: &str, r: &Resolved, rows: Option<u64>) -> Value {
    json!({
        "table": table,
        "store": store_name(r.store),
        "state": r.state.as_str(),
        "source": r.origin.as_str(),
        "since": r.since,
        "target": r.target.map(store_name),
        "rows": rows,
    })
}

/// `GET /v1/admin/placement`. `cache_seconds` is `PLACEMENT_CACHE_SECONDS`
/// (a client that freezes a table waits that long before trusting that no
/// isolate still writes).
pub async fn list<S: SqlStores>(
    principal: &Principal,
    placement: &Placement,
    cache_seconds: u64,
    stores: &S,
) -> Result<Reply, ApiError> {
    principal.require(Scope::Admin)?;
    let mut names = placement.named();
    if let Some(default) = placement.default_store() {
        let schema = stores.schema(default, "").await?;
        names.extend(schema.tables().map(|t| t.name.clone()));
        crate::sort::sort(&mut names);
        names.dedup();
    }
    // Only tables that exist in the store serving them are visible.
    let mut visible: Vec<(String, Resolved, Option<String>)> = Vec::new();
    for name in names {
        let Some(r) = placement.resolve(&name) else {
            continue;
        };
        let schema = stores.schema(r.store, &name).await?;
        if let Some(t) = schema.table(&name) {
            let count = format!("SELECT count(*) AS n FROM {}", table_ref(t));
            visible.push((name, r, Some(count)));
        }
    }
    let mut counts: Vec<Option<u64>> = vec![None; visible.len()];
    for store in [Store::D1, Store::Pg] {
        let idx: Vec<usize> = (0..visible.len())
            .filter(|&i| visible[i].1.store == store)
            .collect();
        if idx.is_empty() {
            continue;
        }
        let statements: Vec<Statement> = idx
            .iter()
            .map(|&i| Statement {
                sql: visible[i].2.clone().unwrap_or_default(),
                params: Vec::new(),
            })
            .collect();
        if let Ok(results) = stores.run(store, &statements, RunOptions::READ).await {
            for (&i, r) in idx.iter().zip(results) {
                let n = r.rows.first().map(|row| &row["n"]);
                counts[i] = n.and_then(|n| {
                    n.as_u64()
                        .or_else(|| n.as_str().and_then(|s| s.parse().ok()))
                });
            }
        }
    }
    let tables: Vec<Value> = visible
        .iter()
        .zip(counts)
        .map(|((name, r, _), rows)| entry_json(name, r, rows))
        .collect();
    Ok(Reply::json(
        200,
        &json!({ "tables": tables, "cacheSeconds": cache_seconds }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PutBody {
    store: String,
    state: String,
    #[serde(default)]
    target: Option<String>,
}

/// A parsed, authorised `PUT /v1/admin/placement/{table}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutCommand {
    /// The table, percent-decoded.
    pub table: String,
    /// The store to serve it from.
    pub store: Store,
    /// Its state.
    pub state: State,
    /// While moving: where to.
    pub target: Option<Store>,
}

fn parse_store(what: &str, name: &str) -> Result<Store, ApiError> {
    match name {
        "d1" => Ok(Store::D1),
        "pg" => Ok(Store::Pg),
        _ => Err(ApiError::new(
            ErrorCode::InvalidRequest,
            format!("{what} is \"d1\" or \"pg\""),
        )
        .with_details(json!({ "field": what }))),
    }
}

impl PutCommand {
    /// Checks the scope, the table name and the body.
    pub fn parse(table: &str, body: &[u8], principal: &Principal) -> Result<PutCommand, ApiError> {
        principal.require(Scope::Admin)?;
        let table = percent::decode_path(table)
            .filter(|t| !t.is_empty() && !is_internal(t))
            .ok_or_else(|| ApiError::new(ErrorCode::NotFound, "no such table"))?;
        let body: PutBody = parse_json(body)?;
        let store = parse_store("store", &body.store)?;
        let state = State::parse(&body.state).ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidRequest,
                "state is \"ready\" or \"moving\"",
            )
            .with_details(json!({ "field": "state" }))
        })?;
        let target = body
            .target
            .as_deref()
            .map(|t| parse_store("target", t))
            .transpose()?;
        let bad_target = |message: &str| {
            Err(ApiError::new(ErrorCode::InvalidRequest, message)
                .with_details(json!({ "field": "target" })))
        };
        match (state, target) {
            (State::Ready, Some(_)) => return bad_target("target applies to a moving table only"),
            (State::Moving, None) => return bad_target("a moving table needs its target store"),
            (State::Moving, Some(t)) if t == store => {
                return bad_target("target is the store the table moves away from")
            }
            _ => {}
        }
        Ok(PutCommand {
            table,
            store,
            state,
            target,
        })
    }
}

/// The upsert of one `strata_placement` row (on D1). `since` changes only
/// when the store or the state does.
const UPSERT_SQL: &str = "INSERT INTO strata_placement \
     (table_name, store, state, since, source, target, updated_at) \
     VALUES (?1, ?2, ?3, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), ?4, ?5, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) \
     ON CONFLICT (table_name) DO UPDATE SET store = excluded.store, state = excluded.state, \
     since = CASE WHEN strata_placement.store = excluded.store AND strata_placement.state = excluded.state \
     THEN strata_placement.since ELSE excluded.since END, \
     source = excluded.source, target = excluded.target, updated_at = excluded.updated_at \
     WHERE strata_placement.store = ?6 AND strata_placement.state = ?7 \
     AND strata_placement.target IS ?8 \
     RETURNING table_name, store, state, since, source, target, updated_at";

fn conflict(table: &str, message: &str, now: Option<&Resolved>) -> ApiError {
    ApiError::new(ErrorCode::PlacementConflict, message)
        .with_details(json!({
            "table": table,
            "store": now.map(|r| store_name(r.store)),
            "state": now.map(|r| r.state.as_str()),
            "target": now.and_then(|r| r.target).map(store_name),
        }))
        .with_hint("read GET /v1/admin/placement; strata-dev graduate moves a table safely")
}

/// Whether `cmd` is one safe step from `now` (the table's placement, `None`
/// when it is not served at all):
///
/// * `ready` on the store serving it: a pin, or the end of an aborted move;
/// * `ready` on the target of its move: the flip;
/// * `ready` anywhere, for a table not served yet: exposing it;
/// * `moving` away from the store serving it, to the other store, unless
///   another move is under way (abort that one first).
///
/// Anything else would switch the store under live clients without a
/// freeze, or serve reads from a store the data has not reached.
pub fn check_step(cmd: &PutCommand, now: Option<&Resolved>) -> Result<(), ApiError> {
    let Some(now) = now else {
        return match cmd.state {
            State::Ready => Ok(()),
            State::Moving => Err(conflict(
                &cmd.table,
                "a table that is not served yet has nothing to move: put it ready",
                None,
            )),
        };
    };
    let moving_to = (now.state == State::Moving).then_some(now.target).flatten();
    let ok = match cmd.state {
        State::Ready => cmd.store == now.store || moving_to == Some(cmd.store),
        State::Moving => cmd.store == now.store && (moving_to.is_none() || moving_to == cmd.target),
    };
    if ok {
        return Ok(());
    }
    let message = match (cmd.state, moving_to) {
        (State::Ready, None) => {
            "a table changes store only through a move: put it moving (with its target) first"
        }
        (State::Ready, Some(_)) => {
            "a moving table can only be flipped to its target or returned to its source"
        }
        (State::Moving, Some(_)) if cmd.store == now.store => {
            "another move of this table is under way: abort it first"
        }
        (State::Moving, _) => "a move starts from the store that serves the table",
    };
    Err(conflict(&cmd.table, message, Some(now)))
}

/// `PUT /v1/admin/placement/{table}`: checks the step from `placement` (a
/// fresh read), writes the row if the placement is still what was checked,
/// answers the table's placement as `GET` shows it.
pub async fn put<S: SqlStores>(
    cmd: &PutCommand,
    placement: &Placement,
    stores: &S,
) -> Result<Reply, ApiError> {
    let schema = stores.schema(cmd.store, &cmd.table).await?;
    if schema.table(&cmd.table).is_none() {
        return Err(ApiError::new(
            ErrorCode::NotFound,
            format!("no such table in {}", store_name(cmd.store)),
        )
        .with_details(json!({ "table": cmd.table, "store": store_name(cmd.store) })));
    }
    let mut now = placement.resolve(&cmd.table);
    // A placement naming a store that lacks the table serves nothing.
    if let Some(r) = now.as_ref().filter(|r| r.origin == Origin::Config) {
        if r.store != cmd.store
            && stores
                .schema(r.store, &cmd.table)
                .await?
                .table(&cmd.table)
                .is_none()
        {
            now = None;
        }
    }
    check_step(cmd, now.as_ref())?;
    // Compare-and-set: the row must still be what was checked (no row, when
    // the setting decided; `store = NULL` never matches).
    let expected = now.as_ref().filter(|r| r.origin == Origin::Runtime);
    let source = (cmd.state == State::Moving).then_some(cmd.store);
    let statement = Statement {
        sql: UPSERT_SQL.to_string(),
        params: vec![
            json!(cmd.table),
            json!(store_name(cmd.store)),
            json!(cmd.state.as_str()),
            json!(source.map(store_name)),
            json!(cmd.target.map(store_name)),
            json!(expected.map(|r| store_name(r.store))),
            json!(expected.map(|r| r.state.as_str())),
            json!(expected.and_then(|r| r.target).map(store_name)),
        ],
    };
    let mut results = stores
        .run(Store::D1, &[statement], RunOptions::WRITE)
        .await
        .map_err(|e| ApiError::from(e).for_write())?;
    let rows = results.pop().map(|r| r.rows).unwrap_or_default();
    let entry = RuntimeEntry::from_rows(&rows).pop().ok_or_else(|| {
        conflict(
            &cmd.table,
            "the placement changed while this request was checked: read it again",
            None,
        )
    })?;
    let resolved = Resolved {
        store: entry.store,
        state: entry.state,
        origin: Origin::Runtime,
        since: Some(entry.since),
        target: entry.target,
    };
    Ok(Reply::json(200, &entry_json(&cmd.table, &resolved, None)))
}

/// Deletes a ready table's run-time row when `REST_TABLES` already names
/// the same store for it (say, after the setting caught up with a move):
/// the row is then redundant, and nothing a client sees changes. `since`
/// and `source` go back to `null`/`config`.
const DELETE_SQL: &str = "DELETE FROM strata_placement \
     WHERE table_name = ?1 AND store = ?2 AND state = 'ready' RETURNING table_name";

/// `DELETE /v1/admin/placement/{table}`: removes the table's run-time row
/// if that changes nothing a client sees; `409 placement_conflict`
/// otherwise (a moving table, or a setting naming another store — the
/// delete would switch stores without a move, or hide the table).
pub async fn delete<S: SqlStores>(
    table: &str,
    principal: &Principal,
    placement: &Placement,
    stores: &S,
) -> Result<Reply, ApiError> {
    principal.require(Scope::Admin)?;
    let table = percent::decode_path(table)
        .filter(|t| !t.is_empty() && !is_internal(t))
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, "no such table"))?;
    let now = placement
        .resolve(&table)
        .filter(|r| r.origin == Origin::Runtime)
        .ok_or_else(|| {
            ApiError::new(ErrorCode::NotFound, "no run-time placement for this table")
                .with_details(json!({ "table": table }))
        })?;
    if now.state != State::Ready || placement.configured(&table) != Some(now.store) {
        return Err(conflict(
            &table,
            "only a ready table whose REST_TABLES entry names the same store can drop its run-time placement",
            Some(&now),
        ));
    }
    let statement = Statement {
        sql: DELETE_SQL.to_string(),
        params: vec![json!(table), json!(store_name(now.store))],
    };
    let mut results = stores
        .run(Store::D1, &[statement], RunOptions::WRITE)
        .await
        .map_err(|e| ApiError::from(e).for_write())?;
    if results.pop().map(|r| r.rows.is_empty()).unwrap_or(true) {
        return Err(conflict(
            &table,
            "the placement changed while this request was checked: read it again",
            None,
        ));
    }
    let resolved = Resolved {
        store: now.store,
        state: State::Ready,
        origin: Origin::Config,
        since: None,
        target: None,
    };
    Ok(Reply::json(200, &entry_json(&table, &resolved, None)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rest::placement::load_runtime;
    use crate::rest::schema::Schema;
    use crate::sql::result::SqlResult;
    use crate::store::StoreError;
    use crate::testing::block_on;
    use serde_json::Map;
    use std::cell::RefCell;
    use std::rc::Rc;

    /// D1 has `todos` and `strata_placement` (its rows in `placement`), Postgres
    /// has `orders` and `todos`; `run` answers counts, the placement query and
    /// the upsert, and can fail.
    struct Fake {
        placement: RefCell<Vec<Value>>,
        ran: RefCell<Vec<(Store, String)>>,
        fail: Option<StoreError>,
    }

    fn schema(store: Store) -> Rc<Schema> {
        let col = |t: &str, c: &str, pk: u64| json!({"s": "public", "t": t, "c": c, "ty": "text", "nn": pk > 0, "pk": pk, "k": "table", "wr": 0});
        let rows = match store {
            Store::D1 => vec![
                col("todos", "id", 1),
                col("strata_placement", "table_name", 1),
            ],
            Store::Pg => vec![col("orders", "id", 1), col("todos", "id", 1)],
        };
        Rc::new(Schema::from_rows(store, &rows))
    }

    fn result(rows: Vec<Value>) -> SqlResult {
        SqlResult {
            columns: Vec::new(),
            row_count: rows.len() as u64,
            rows,
            meta: Map::new(),
        }
    }

    impl SqlStores for Fake {
        async fn run(
            &self,
            store: Store,
            statements: &[Statement],
            _options: RunOptions,
        ) -> Result<Vec<SqlResult>, StoreError> {
            if let Some(e) = &self.fail {
                return Err(e.clone());
            }
            let mut out = Vec::new();
            for s in statements {
                self.ran.borrow_mut().push((store, s.sql.clone()));
                if s.sql.starts_with("SELECT count(*)") {
                    out.push(result(vec![
                        json!({"n": if store == Store::Pg { json!("7") } else { json!(3) }}),
                    ]));
                } else if s.sql.starts_with("SELECT table_name") {
                    out.push(result(self.placement.borrow().clone()));
                } else if s.sql.starts_with("INSERT INTO strata_placement") {
                    let p = &s.params;
                    let row = json!({"table_name": p[0], "store": p[1], "state": p[2],
                        "since": "2026-11-30T10:00:00.000Z", "source": p[3], "target": p[4],
                        "updated_at": "2026-11-30T10:00:00.000Z"});
                    // The upsert's compare-and-set: an existing row is
                    // updated only if it is what the caller checked.
                    let mut rows = self.placement.borrow_mut();
                    if let Some(old) = rows.iter().find(|r| r["table_name"] == p[0]) {
                        let same = !p[5].is_null()
                            && old["store"] == p[5]
                            && old["state"] == p[6]
                            && old["target"] == p[7];
                        if !same {
                            out.push(result(Vec::new()));
                            continue;
                        }
                    }
                    rows.retain(|r| r["table_name"] != p[0]);
                    rows.push(row.clone());
                    out.push(result(vec![row]));
                } else if s.sql.starts_with("DELETE FROM strata_placement") {
                    let p = &s.params;
                    let mut rows = self.placement.borrow_mut();
                    let before = rows.len();
                    rows.retain(|r| {
                        !(r["table_name"] == p[0] && r["store"] == p[1] && r["state"] == "ready")
                    });
                    let gone = before - rows.len();
                    out.push(result(vec![json!({"table_name": p[0]}); gone]));
                } else {
                    return Err(StoreError::unavailable("d1", "unexpected statement"));
                }
            }
            Ok(out)
        }

        async fn schema(&self, store: Store, _table: &str) -> Result<Rc<Schema>, StoreError> {
            Ok(schema(store))
        }

        fn forget_schema(&self, _store: Store) {}
    }

    impl Fake {
        fn wrote(&self) -> bool {
            self.ran
                .borrow()
                .iter()
                .any(|(_, sql)| sql.starts_with("INSERT"))
        }
    }

    fn fake() -> Fake {
        Fake {
            placement: RefCell::new(Vec::new()),
            ran: RefCell::new(Vec::new()),
            fail: None,
        }
    }

    fn admin() -> Principal {
        Principal {
            key_id: "k".into(),
            scopes: vec![Scope::Admin],
        }
    }

    fn placement(fake: &Fake) -> Placement {
        let runtime = block_on(load_runtime(fake)).unwrap();
        Placement::parse(Some(r#"{"todos": "d1", "ghost": "d1", "*": "pg"}"#))
            .unwrap()
            .with_runtime(runtime)
    }

    #[test]
    fn lists_every_visible_table_with_counts() {
        let fake = fake();
        let r = block_on(list(&admin(), &placement(&fake), 5, &fake)).unwrap();
        assert_eq!(r.status, 200);
        let body = r.json_body().unwrap();
        assert_eq!(body["cacheSeconds"], 5);
        // `ghost` is configured but exists nowhere; internal tables never show.
        assert_eq!(
            body["tables"],
            json!([
                {"table": "orders", "store": "pg", "state": "ready", "source": "config", "since": null, "target": null, "rows": 7},
                {"table": "todos", "store": "d1", "state": "ready", "source": "config", "since": null, "target": null, "rows": 3},
            ])
        );
    }

    #[test]
    fn a_put_overrides_the_setting_and_keeps_since_in_the_row() {
        let fake = fake();
        let cmd = PutCommand::parse(
            "todos",
            br#"{"store": "d1", "state": "moving", "target": "pg"}"#,
            &admin(),
        )
        .unwrap();
        let r = block_on(put(&cmd, &placement(&fake), &fake)).unwrap();
        assert_eq!(
            r.json_body().unwrap(),
            json!({"table": "todos", "store": "d1", "state": "moving", "source": "runtime",
                   "since": "2026-11-30T10:00:00.000Z", "target": "pg", "rows": null})
        );
        let p = placement(&fake);
        let todos = p.resolve("todos").unwrap();
        assert_eq!((todos.store, todos.state), (Store::D1, State::Moving));
        // The flip: the table exists on Postgres.
        let cmd =
            PutCommand::parse("todos", br#"{"store": "pg", "state": "ready"}"#, &admin()).unwrap();
        block_on(put(&cmd, &placement(&fake), &fake)).unwrap();
        assert_eq!(placement(&fake).store_for("todos"), Some(Store::Pg));
        let body = block_on(list(&admin(), &placement(&fake), 5, &fake))
            .unwrap()
            .json_body()
            .unwrap();
        assert_eq!(body["tables"][1]["source"], "runtime");
        assert_eq!(body["tables"][1]["rows"], 7);
    }

    #[test]
    fn puts_are_checked_before_any_store_call() {
        let reader = Principal {
            key_id: "k".into(),
            scopes: vec![Scope::PgRead, Scope::D1Write],
        };
        let ok = br#"{"store": "pg", "state": "ready"}"#;
        let status =
            |t: &str, b: &[u8], p: &Principal| PutCommand::parse(t, b, p).unwrap_err().status();
        assert_eq!(status("todos", ok, &reader), 403);
        assert_eq!(status("strata_placement", ok, &admin()), 404);
        assert_eq!(status("%ZZ", ok, &admin()), 404);
        assert_eq!(status("todos", b"{", &admin()), 400);
        assert_eq!(
            status(
                "todos",
                br#"{"store": "mysql", "state": "ready"}"#,
                &admin()
            ),
            400
        );
        assert_eq!(
            status("todos", br#"{"store": "pg", "state": "gone"}"#, &admin()),
            400
        );
        assert_eq!(
            status(
                "todos",
                br#"{"store": "pg", "state": "ready", "x": 1}"#,
                &admin()
            ),
            400
        );
        assert_eq!(
            status(
                "todos",
                br#"{"store": "pg", "state": "ready", "target": "d1"}"#,
                &admin()
            ),
            400
        );
        // A list needs the scope too.
        let fake = fake();
        let e = block_on(list(&reader, &placement(&fake), 5, &fake)).unwrap_err();
        assert_eq!(e.status(), 403);
    }

    #[test]
    fn a_put_to_a_store_without_the_table_is_404_and_writes_nothing() {
        let fake = fake();
        let cmd =
            PutCommand::parse("orders", br#"{"store": "d1", "state": "ready"}"#, &admin()).unwrap();
        assert_eq!(
            block_on(put(&cmd, &placement(&fake), &fake))
                .unwrap_err()
                .status(),
            404
        );
        assert!(!fake.wrote());
    }

    fn put_as(fake: &Fake, p: &Placement, table: &str, body: &str) -> Result<Reply, ApiError> {
        let cmd = PutCommand::parse(table, body.as_bytes(), &admin())?;
        block_on(put(&cmd, p, fake))
    }

    fn code(r: Result<Reply, ApiError>) -> &'static str {
        match r {
            Ok(_) => "ok",
            Err(e) => e.code.as_str(),
        }
    }

    #[test]
    fn a_table_changes_store_only_through_a_move() {
        let fake = fake();
        let put = |table: &str, body: &str| code(put_as(&fake, &placement(&fake), table, body));
        // `todos` is served by D1 (the setting); it exists on Postgres too.
        assert_eq!(
            put("todos", r#"{"store": "pg", "state": "ready"}"#),
            "placement_conflict"
        );
        assert_eq!(
            put(
                "todos",
                r#"{"store": "pg", "state": "moving", "target": "d1"}"#
            ),
            "placement_conflict"
        );
        assert!(!fake.wrote(), "a refused step writes nothing");
        // Target missing, or the store it leaves: a bad body.
        assert_eq!(
            put("todos", r#"{"store": "d1", "state": "moving"}"#),
            "invalid_request"
        );
        assert_eq!(
            put(
                "todos",
                r#"{"store": "d1", "state": "moving", "target": "d1"}"#
            ),
            "invalid_request"
        );
        // Freeze, freeze again (a resumed move), then only the target or the
        // source may end it; a move the other way is refused meanwhile.
        let freeze = r#"{"store": "d1", "state": "moving", "target": "pg"}"#;
        assert_eq!(put("todos", freeze), "ok");
        assert_eq!(put("todos", freeze), "ok");
        assert_eq!(
            put(
                "todos",
                r#"{"store": "pg", "state": "moving", "target": "d1"}"#
            ),
            "placement_conflict"
        );
        assert_eq!(put("todos", r#"{"store": "d1", "state": "ready"}"#), "ok");
        assert_eq!(put("todos", freeze), "ok");
        assert_eq!(put("todos", r#"{"store": "pg", "state": "ready"}"#), "ok");
        assert_eq!(placement(&fake).store_for("todos"), Some(Store::Pg));
        // Served by Postgres now: straight back to D1 is refused too.
        assert_eq!(
            put("todos", r#"{"store": "d1", "state": "ready"}"#),
            "placement_conflict"
        );
        // A table no store serves yet (configured on D1, which lacks it) may
        // be exposed where it exists, but not moved.
        let p = Placement::parse(Some(r#"{"orders": "d1"}"#)).unwrap();
        assert_eq!(
            code(put_as(
                &fake,
                &p,
                "orders",
                r#"{"store": "pg", "state": "moving", "target": "d1"}"#
            )),
            "placement_conflict"
        );
        assert_eq!(
            code(put_as(
                &fake,
                &p,
                "orders",
                r#"{"store": "pg", "state": "ready"}"#
            )),
            "ok"
        );
    }

    #[test]
    fn a_change_checked_against_a_stale_placement_writes_nothing() {
        let fake = fake();
        let stale = placement(&fake);
        let freeze = r#"{"store": "d1", "state": "moving", "target": "pg"}"#;
        assert_eq!(
            code(put_as(&fake, &placement(&fake), "todos", freeze)),
            "ok"
        );
        // Checked against the placement before the freeze: a pin on D1 looks
        // safe, but the row is no longer what was checked.
        let e = put_as(
            &fake,
            &stale,
            "todos",
            r#"{"store": "d1", "state": "ready"}"#,
        )
        .unwrap_err();
        assert_eq!((e.code, e.status()), (ErrorCode::PlacementConflict, 409));
        let todos = placement(&fake).resolve("todos").unwrap();
        assert_eq!((todos.store, todos.state), (Store::D1, State::Moving));
    }

    #[test]
    fn a_run_time_row_is_deleted_only_where_it_changes_nothing() {
        let fake = fake();
        let del = |table: &str| code(block_on(delete(table, &admin(), &placement(&fake), &fake)));
        // No row: nothing to delete.
        assert_eq!(del("todos"), "not_found");
        let put = |body: &str| code(put_as(&fake, &placement(&fake), "todos", body));
        assert_eq!(
            put(r#"{"store": "d1", "state": "moving", "target": "pg"}"#),
            "ok"
        );
        // Moving: the delete would end the freeze.
        assert_eq!(del("todos"), "placement_conflict");
        assert_eq!(put(r#"{"store": "pg", "state": "ready"}"#), "ok");
        // Served by Postgres; the setting says D1, where the (kept) source is.
        assert_eq!(del("todos"), "placement_conflict");
        assert_eq!(
            placement(&fake).resolve("todos").unwrap().origin,
            Origin::Runtime
        );
        // The setting catches up: the row is redundant and goes.
        let caught_up = Placement::parse(Some(r#"{"todos": "pg"}"#))
            .unwrap()
            .with_runtime(block_on(load_runtime(&fake)).unwrap());
        let r = block_on(delete("todos", &admin(), &caught_up, &fake)).unwrap();
        assert_eq!(r.json_body().unwrap()["source"], "config");
        assert_eq!(block_on(load_runtime(&fake)).unwrap(), Vec::new());
        // A key without the scope.
        let reader = Principal {
            key_id: "k".into(),
            scopes: vec![Scope::PgRead],
        };
        assert_eq!(
            code(block_on(delete("todos", &reader, &caught_up, &fake))),
            "forbidden"
        );
    }

    #[test]
    fn store_failures() {
        // No placement table yet, or no D1: the setting alone decides.
        let mut f = fake();
        f.fail = Some(StoreError::Refused(ApiError::new(
            ErrorCode::UndefinedTable,
            "no such table",
        )));
        assert_eq!(block_on(load_runtime(&f)).unwrap(), Vec::new());
        f.fail = Some(StoreError::Config(ApiError::config("DB", "missing")));
        assert_eq!(block_on(load_runtime(&f)).unwrap(), Vec::new());
        // D1 down: every REST request would guess otherwise, so it fails.
        f.fail = Some(StoreError::unavailable("d1", "down"));
        assert_eq!(
            ApiError::from(block_on(load_runtime(&f)).unwrap_err()).status(),
            503
        );
        // Counts are optional: a failure leaves them null.
        let p = Placement::parse(Some(r#"{"*": "pg"}"#)).unwrap();
        let body = block_on(list(&admin(), &p, 5, &f))
            .unwrap()
            .json_body()
            .unwrap();
        assert_eq!(body["tables"][0]["rows"], Value::Null);
        // A write that times out may have committed.
        f.fail = Some(StoreError::Timeout { store: "d1" });
        let cmd =
            PutCommand::parse("todos", br#"{"store": "d1", "state": "ready"}"#, &admin()).unwrap();
        let e = block_on(put(&cmd, &placement(&fake()), &f)).unwrap_err();
        assert_eq!(e.status(), 504);
        assert_eq!(e.details.clone().unwrap()["retryable"], false);
    }
}

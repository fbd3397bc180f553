//! Embedding through self-referencing foreign keys on both stores, in
//! PostgREST's spelling: the many-to-one names the key column
//! (`manager:manager_id(...)`), the one-to-many the table with the key as
//! its hint (`reports:es_staff!manager_id(...)`); two such keys and no
//! hint answer `300 PGRST201`.

use crate::client::{call_base, Reply};
use crate::stack::Stack;
use crate::{Outcome, TestFn};
use serde_json::{json, Value};

pub fn tests() -> Vec<TestFn> {
    trials![rest_embed_self::self_references_embed_both_ways_on_both_stores]
}

pub fn self_references_embed_both_ways_on_both_stores(s: &Stack) -> Outcome {
    let w = s.spawn_isolated_worker(
        "wrangler-rest-embed-self",
        &[("REST_TABLES", r#"{"es_staff": "d1", "*": "pg"}"#)],
    )?;
    let send = |method: &str, path: &str, body: Option<&str>| -> Reply {
        let h: &[(&str, &str)] = if body.is_some() {
            &[("content-type", "application/json")]
        } else {
            &[]
        };
        call_base(
            &w.base,
            method,
            path,
            Some(&s.admin_key),
            h,
            body.map(str::as_bytes),
        )
    };
    for (store, table) in [("d1", "es_staff"), ("pg", "es_staff_pg")] {
        for statement in [
            format!(
                "create table {table} (id integer primary key, name text not null, \
                 manager_id integer references {table}(id), \
                 mentor_id integer references {table}(id))"
            ),
            format!(
                "insert into {table} (id, name, manager_id, mentor_id) values \
                 (1, 'ada', null, null), (2, 'bob', 1, null), (3, 'cy', 1, 2), (4, 'dee', 2, 2)"
            ),
        ] {
            let body = json!({ "sql": statement }).to_string();
            let r = send("POST", &format!("/v1/{store}/query"), Some(&body));
            assert_eq!(r.status, 200, "{store}: {statement}: {}", r.text());
        }
        let get = |query: &str| send("GET", &format!("/v1/rest/{table}?{query}"), None);
        let ok = |query: &str| -> Value {
            let r = get(query);
            assert_eq!(r.status, 200, "{store} {query}: {}", r.text());
            r.json()
        };
        // Many-to-one: each row's manager, a distinct instance of the table.
        assert_eq!(
            ok("select=id,name,manager:manager_id(id,name)&order=id"),
            json!([
                {"id": 1, "name": "ada", "manager": null},
                {"id": 2, "name": "bob", "manager": {"id": 1, "name": "ada"}},
                {"id": 3, "name": "cy", "manager": {"id": 1, "name": "ada"}},
                {"id": 4, "name": "dee", "manager": {"id": 2, "name": "bob"}},
            ]),
            "{store}"
        );
        // One-to-many: who reports to each row, by column or constraint hint;
        // the child's own filter and order apply to the child instance only.
        let want = json!([
            {"id": 1, "reports": [{"id": 2}, {"id": 3}]},
            {"id": 2, "reports": [{"id": 4}]},
            {"id": 3, "reports": []},
            {"id": 4, "reports": []},
        ]);
        let hinted = format!("select=id,reports:{table}!manager_id(id)&reports.order=id&order=id");
        assert_eq!(ok(&hinted), want, "{store}");
        let fkey = format!("{table}_manager_id_fkey");
        let by_name = format!("select=id,reports:{table}!{fkey}(id)&reports.order=id&order=id");
        assert_eq!(ok(&by_name), want, "{store}");
        let rows = ok(&format!(
            "select=id,reports:{table}!manager_id(id)&reports.id=gt.2&reports.order=id.desc&id=eq.1"
        ));
        assert_eq!(rows, json!([{"id": 1, "reports": [{"id": 3}]}]), "{store}");
        // Both ways nested, with !inner: managers who have reports, and theirs.
        let rows = ok(&format!(
            "select=name,boss:manager_id(name),reports:{table}!manager_id!inner(name)&order=id"
        ));
        assert_eq!(
            rows,
            json!([
                {"name": "ada", "boss": null, "reports": [{"name": "bob"}, {"name": "cy"}]},
                {"name": "bob", "boss": {"name": "ada"}, "reports": [{"name": "dee"}]},
            ]),
            "{store}"
        );
        // The other key, both ways.
        let rows = ok(&format!(
            "select=id,mentor:mentor_id(name),mentees:{table}!mentor_id(id)&mentees.order=id&order=id"
        ));
        assert_eq!(
            rows,
            json!([
                {"id": 1, "mentor": null, "mentees": []},
                {"id": 2, "mentor": null, "mentees": [{"id": 3}, {"id": 4}]},
                {"id": 3, "mentor": {"name": "bob"}, "mentees": []},
                {"id": 4, "mentor": {"name": "bob"}, "mentees": []},
            ]),
            "{store}"
        );
        // The table without a hint fits both keys: 300, naming both.
        let r = get(&format!("select=id,{table}(id)"));
        assert_eq!(r.status, 300, "{store}: {}", r.text());
        let e = r.json();
        assert_eq!(e["code"], "PGRST201", "{store}: {e}");
        let hint = e["hint"].as_str().unwrap_or_default();
        assert!(
            hint.contains(&format!("'{table}!{table}_manager_id_fkey'"))
                && hint.contains(&format!("'{table}!{table}_mentor_id_fkey'")),
            "{store}: {e}"
        );
        // A column that is no self-referencing key embeds nothing.
        let r = get("select=id,name(id)");
        assert_eq!(r.status, 400, "{store}: {}", r.text());
        assert_eq!(r.json()["code"], "PGRST200", "{store}");
    }
    Ok(())
}

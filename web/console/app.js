// Strata console: one page, four views (Overview, Tables, SQL, Objects), hash
// routes (#/tables/<name>, #/objects?prefix=...). It calls only the public API
// (api.js) and puts every value into the page as text (dom.js).
import { api, ApiError, bearer, onUnauthorized, session, why } from "./api.js";
import { bytes, cellText, h, put } from "./dom.js";

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const who = document.getElementById("who");
const banner = document.getElementById("banner");
const signout = document.getElementById("signout");

const PAGE_SIZES = [25, 50, 100];
const HISTORY_KEY = "strata.console.sqlHistory";
const TABLES_KEY = "strata.console.tables";
const MULTIPART_THRESHOLD = 8 * 1024 * 1024;
const PART_SIZE = 5 * 1024 * 1024;

// What the key may do, learned at sign-in from answers of the API itself
// (no route tells a key its scopes): 403 means no, anything else yes.
let caps = null;
// GET /v1/admin/placement's tables (admin keys), by name.
let placement = null;

// ---------------------------------------------------------------- errors

/** A refusal of the API, explained: code, status, message, why, details. */
function errorBox(e, sql) {
  if (!(e instanceof ApiError)) {
    return h("div", { class: "error", role: "alert" }, h("strong", {}, "Error"), " ", String((e && e.message) || e));
  }
  const d = e.details || {};
  const rows = [];
  for (const [k, v] of Object.entries(d)) {
    rows.push(h("dt", {}, k), h("dd", {}, typeof v === "object" ? JSON.stringify(v) : String(v)));
  }
  const explanation = why(e);
  let caret = null;
  const pos = Number(d.position);
  if (sql && Number.isInteger(pos) && pos > 0 && pos <= sql.length + 1) {
    // Postgres counts characters from 1: show the line with a marker under it.
    const before = sql.slice(0, pos - 1);
    const lineStart = before.lastIndexOf("\n") + 1;
    const lineEnd = sql.indexOf("\n", pos - 1);
    const line = sql.slice(lineStart, lineEnd === -1 ? undefined : lineEnd);
    const lineNo = before.split("\n").length;
    caret = h("pre", { class: "caret" }, `line ${lineNo}: ${line}\n${" ".repeat(`line ${lineNo}: `.length + (pos - 1 - lineStart))}^`);
  }
  return h(
    "div",
    { class: "error", role: "alert", "data-code": e.code },
    h("p", {}, h("strong", { class: "code" }, e.code), " ", h("span", { class: "status" }, e.status ? `HTTP ${e.status}` : ""), " — ", e.message),
    explanation && h("p", { class: "why" }, explanation),
    caret,
    rows.length > 0 && h("dl", { class: "details" }, rows),
    e.hint && h("p", { class: "hint" }, "Hint: ", e.hint),
    e.requestId && h("p", { class: "rid" }, "request id ", e.requestId),
  );
}

function showBanner(node) {
  if (!node) {
    banner.hidden = true;
    banner.replaceChildren();
    return;
  }
  put(banner, node);
  banner.hidden = false;
}

onUnauthorized((e) => {
  showBanner(h("div", {}, errorBox(e), h("button", { type: "button", onclick: signOut }, "Sign in again")));
});

// ---------------------------------------------------------------- sign-in

async function probe(fn) {
  try {
    return { ok: true, value: await fn() };
  } catch (e) {
    if (e instanceof ApiError && (e.status === 403 || e.status === 401)) return { ok: false, error: e };
    // Anything else (a store down, a setting missing) is not a refusal of the key.
    return { ok: true, error: e };
  }
}

async function learnCaps(key) {
  const [admin, objectsRead, objectsWrite, sql] = await Promise.all([
    probe(() => api("GET", "/v1/admin/placement", { key })),
    probe(() => api("GET", "/v1/objects?limit=1", { key })),
    // Signing a PUT URL needs objects:write and writes nothing.
    probe(() => api("POST", "/v1/signed-urls", { key, body: { method: "PUT", key: "strata-console-probe", expiresIn: 60 } })),
    probe(() => api("POST", "/v1/d1/query", { key, body: { sql: "select 1" } })),
  ]);
  placement = admin.ok && admin.value ? admin.value.data : null;
  return { admin: admin.ok, objectsRead: objectsRead.ok, objectsWrite: objectsWrite.ok, sql: sql.ok, adminError: admin.error };
}

function signInView(message) {
  const input = h("input", { id: "key", name: "key", type: "password", autocomplete: "off", spellcheck: "false", required: true, "aria-describedby": "key-help" });
  const out = h("div", { id: "signin-result", "aria-live": "polite" }, message);
  const button = h("button", { type: "submit" }, "Sign in");
  const form = h(
    "form",
    {
      class: "signin card",
      onsubmit: async (ev) => {
        ev.preventDefault();
        const key = input.value.trim();
        if (!key) return;
        button.disabled = true;
        put(out, "Checking the key…");
        try {
          await api("GET", "/v1/status", { key });
        } catch (e) {
          if (e instanceof ApiError && e.status === 401) {
            button.disabled = false;
            put(out, h("div", { class: "error", role: "alert", "data-code": e.code }, h("strong", {}, "Wrong key. "), why(e), " (", e.message, ")"));
            input.focus();
            input.select();
            return;
          }
          // 503: a store is down, but the key was accepted; the overview says which.
        }
        session.set(key);
        caps = await learnCaps(key);
        button.disabled = false;
        signedIn();
        location.hash = "#/overview";
        route();
      },
    },
    h("h1", {}, "Sign in"),
    h("label", { for: "key" }, "API key"),
    input,
    h("p", { id: "key-help", class: "muted" }, "Kept in this tab's session storage only, sent as Authorization: Bearer. Scopes decide what you see."),
    button,
    out,
  );
  put(main, form);
  input.focus();
}

function signedIn() {
  nav.hidden = false;
  signout.hidden = false;
  const can = [];
  if (caps.admin) can.push("admin");
  if (caps.sql) can.push("SQL");
  if (caps.objectsWrite) can.push("objects: write");
  else if (caps.objectsRead) can.push("objects: read");
  put(who, h("span", { class: "muted" }, "key: "), can.length ? can.join(" · ") : "REST tables only");
}

function signOut() {
  session.clear();
  caps = null;
  placement = null;
  nav.hidden = true;
  signout.hidden = true;
  put(who);
  showBanner(null);
  location.hash = "";
  signInView();
}
signout.addEventListener("click", signOut);

// ---------------------------------------------------------------- routing

function route() {
  if (!session.key) return signInView();
  // Still learning what the key may do: start() or the sign-in routes next.
  if (!caps) return undefined;
  showBanner(null);
  const hash = location.hash.replace(/^#\/?/, "");
  const [path, query] = hash.split("?");
  const parts = path.split("/").filter(Boolean).map((p) => {
    try {
      return decodeURIComponent(p);
    } catch {
      return p; // a hand-typed malformed escape: taken as it stands
    }
  });
  const params = new URLSearchParams(query || "");
  const view = parts[0] || "overview";
  for (const a of nav.querySelectorAll("a")) {
    if (a.dataset.view === view) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  document.title = `Strata · ${view}`;
  if (view === "tables" && parts[1]) return tableView(parts[1]);
  if (view === "tables") return tablesView();
  if (view === "sql") return sqlView();
  if (view === "objects") return objectsView(params.get("prefix") || "");
  return overviewView();
}

window.addEventListener("hashchange", route);

async function start() {
  if (!session.key) return signInView();
  caps = await learnCaps(undefined);
  signedIn();
  route();
}

// ---------------------------------------------------------------- overview

async function overviewView() {
  const health = h("div", { id: "health", class: "cards" }, "Loading…");
  const version = h("p", { id: "version", class: "muted" });
  const places = h("div", { id: "placement" }, "Loading…");
  put(
    main,
    h("h1", {}, "Overview"),
    h("section", { "aria-labelledby": "h-stores" }, h("h2", { id: "h-stores" }, "Stores"), health, version),
    h("section", { "aria-labelledby": "h-place" }, h("h2", { id: "h-place" }, "Placement of REST tables"), places),
    h("button", { type: "button", onclick: () => overviewView() }, "Refresh"),
  );
  let status = null;
  let statusError = null;
  try {
    status = (await api("GET", "/v1/status")).data;
  } catch (e) {
    statusError = e;
    status = e.details && e.details.stores ? { stores: e.details.stores } : null;
  }
  if (status && status.stores) {
    put(
      health,
      Object.entries(status.stores).map(([name, s]) =>
        h(
          "div",
          { class: `card store ${s.ok ? "ok" : "bad"}`, "data-store": name },
          h("h3", {}, { d1: "D1", r2: "R2", neon: "Postgres (Neon)" }[name] || name),
          h("p", { class: "state" }, s.ok ? "healthy" : "failing"),
          h("p", {}, `${s.latencyMs ?? "?"} ms`),
        ),
      ),
    );
    if (statusError) health.append(errorBox(statusError));
  } else {
    put(health, errorBox(statusError));
  }
  const parts = [];
  if (status && status.isolate) parts.push(`isolate memory ${bytes(status.isolate.wasmMemoryBytes)}`);
  try {
    const doc = (await api("GET", "/v1/openapi.json", { key: null })).data;
    parts.unshift(`API ${doc.info.title} version ${doc.info.version}`);
  } catch {
    // the version is a nicety
  }
  put(version, parts.join(" · "));
  try {
    placement = (await api("GET", "/v1/admin/placement")).data;
    put(places, placementTable(placement.tables));
  } catch (e) {
    put(places, errorBox(e), h("p", { class: "muted" }, "Placement is listed for keys with the admin scope only."));
  }
}

function placementTable(tables) {
  if (!tables.length) return h("p", {}, "No REST table is exposed (REST_TABLES is empty).");
  return h(
    "div",
    { class: "scroll" },
    h(
      "table",
      { class: "grid" },
      h("thead", {}, h("tr", {}, ["table", "store", "state", "source", "rows", "since"].map((c) => h("th", { scope: "col" }, c)))),
      h(
        "tbody",
        {},
        tables.map((t) =>
          h(
            "tr",
            {},
            h("td", {}, h("a", { href: `#/tables/${encodeURIComponent(t.table)}` }, t.table)),
            h("td", {}, t.store === "pg" ? "Postgres" : "D1"),
            h("td", { class: t.state === "moving" ? "warn" : "" }, t.state === "moving" ? `moving → ${t.target === "pg" ? "Postgres" : "D1"}` : t.state),
            h("td", {}, t.source),
            h("td", { class: "num" }, t.rows === null || t.rows === undefined ? "?" : String(t.rows)),
            h("td", {}, t.since || ""),
          ),
        ),
      ),
    ),
  );
}

// ---------------------------------------------------------------- tables

function rememberedTables() {
  try {
    const v = JSON.parse(localStorage.getItem(TABLES_KEY) || "[]");
    return Array.isArray(v) ? v.filter((x) => typeof x === "string").slice(0, 20) : [];
  } catch {
    return [];
  }
}

function rememberTable(name) {
  const list = [name, ...rememberedTables().filter((t) => t !== name)].slice(0, 20);
  localStorage.setItem(TABLES_KEY, JSON.stringify(list));
}

async function tablesView() {
  const body = h("div", { id: "table-list" }, "Loading…");
  const nameInput = h("input", { id: "open-table", type: "text", autocomplete: "off", spellcheck: "false" });
  put(
    main,
    h("h1", {}, "Tables"),
    body,
    h(
      "form",
      {
        class: "inline",
        onsubmit: (ev) => {
          ev.preventDefault();
          const n = nameInput.value.trim();
          if (n) location.hash = `#/tables/${encodeURIComponent(n)}`;
        },
      },
      h("label", { for: "open-table" }, "Open a table by name"),
      nameInput,
      h("button", { type: "submit" }, "Open"),
    ),
  );
  try {
    placement = (await api("GET", "/v1/admin/placement")).data;
    put(body, placementTable(placement.tables));
  } catch (e) {
    const known = rememberedTables();
    put(
      body,
      errorBox(e),
      h("p", { class: "muted" }, "Only an admin key can list every REST table; open one by name below."),
      known.length > 0 &&
        h("ul", { class: "links" }, known.map((t) => h("li", {}, h("a", { href: `#/tables/${encodeURIComponent(t)}` }, t)))),
    );
  }
}

const NUMERIC = /^(int|integer|smallint|bigint|int2|int4|int8|real|float|float4|float8|double|numeric|decimal|serial|bigserial)/i;
const BOOLEAN = /^bool/i;
const JSONISH = /^jsonb?$/i;

/** An edited text turned into the JSON value the column wants. */
function parseInput(text, type) {
  if (NUMERIC.test(type || "") && /^-?\d+(\.\d+)?([eE][+-]?\d+)?$/.test(text)) {
    const n = Number(text);
    // Whole numbers beyond 2^53 travel as strings (exact on both stores).
    return Number.isSafeInteger(n) || !/^-?\d+$/.test(text) ? n : text;
  }
  if (BOOLEAN.test(type || "") && (text === "true" || text === "false")) return text === "true";
  if (JSONISH.test(type || "")) {
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }
  return text;
}

async function introspect(name, store) {
  // Column types and the primary key need the catalog: raw SQL (sql:read).
  if (!caps.sql || !store) return null;
  try {
    if (store === "d1") {
      const r = await api("POST", "/v1/d1/query", {
        body: { sql: 'select name, type, pk, "notnull" as nn from pragma_table_info(?1) order by cid', params: [name] },
      });
      return r.data.rows.map((c) => ({ name: c.name, type: (c.type || "").toLowerCase(), pk: c.pk > 0, notnull: c.nn === 1 }));
    }
    const r = await api("POST", "/v1/pg/query", {
      body: {
        sql:
          "select a.attname as name, format_type(a.atttypid, a.atttypmod) as type, " +
          "coalesce(a.attnum = any(i.indkey), false) as pk, a.attnotnull as nn " +
          "from pg_attribute a join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace " +
          "left join pg_index i on i.indrelid = c.oid and i.indisprimary " +
          "where n.nspname = 'public' and c.relname = $1 and a.attnum > 0 and not a.attisdropped order by a.attnum",
        params: [name],
      },
    });
    return r.data.rows.map((c) => ({ name: c.name, type: c.type, pk: c.pk === true, notnull: c.nn === true }));
  } catch {
    return null;
  }
}

function inferColumns(rows) {
  const cols = [];
  for (const row of rows) {
    for (const [k, v] of Object.entries(row)) {
      let c = cols.find((x) => x.name === k);
      if (!c) {
        c = { name: k, type: "", pk: false };
        cols.push(c);
      }
      if (!c.type && v !== null) {
        c.type = typeof v === "number" ? "number" : typeof v === "boolean" ? "boolean" : typeof v === "object" ? (v.$binary ? "binary" : "json") : "text";
      }
    }
  }
  return cols;
}

function restPath(name, params) {
  return `/v1/rest/${encodeURIComponent(name)}${params.length ? "?" + params.join("&") : ""}`;
}

/** "a=gt.1&b=like.*x*" → encoded query pairs (each part encoded once). */
function filterPairs(text) {
  const out = [];
  for (const raw of text.split("&")) {
    const s = raw.trim();
    if (!s) continue;
    const at = s.indexOf("=");
    if (at < 1) throw new Error(`"${s}" is not column=op.value`);
    out.push(`${encodeURIComponent(s.slice(0, at))}=${encodeURIComponent(s.slice(at + 1))}`);
  }
  return out;
}

function nextLink(res) {
  const link = res.headers.get("link") || "";
  const m = /<([^>]+)>\s*;\s*rel="next"/.exec(link);
  if (!m) return null;
  // The Worker may see another host behind a proxy: keep the path and query.
  const u = new URL(m[1], location.origin);
  return u.pathname + u.search;
}

async function tableView(name) {
  rememberTable(name);
  const t = {
    name,
    store: null,
    read: true,
    write: false,
    columns: null,
    filter: "",
    order: null, // {col, dir}
    limit: 50,
    pages: [], // URLs of the pages before the current one
    url: null,
    page: 0,
    total: null,
  };
  const known = placement && placement.tables.find((p) => p.table === name);
  if (known) t.store = known.store;
  if (known && known.state === "moving") t.moving = known.target || "?";
  put(main, h("p", {}, "Loading…"));

  // Write access, asked without writing: a DELETE without filters is refused
  // (400) by any key that may write and never runs; 403 names the scope.
  try {
    await api("DELETE", restPath(name, []));
  } catch (e) {
    if (e.status === 403 && e.code === "forbidden") {
      const s = e.details && e.details.requiredScope;
      if (s && !t.store) t.store = s.startsWith("pg") ? "pg" : "d1";
    } else if (e.status === 400 || e.code === "table_moving") {
      t.write = true;
    } else if (e.status === 404) {
      put(main, h("h1", {}, name), errorBox(e), h("p", {}, h("a", { href: "#/tables" }, "Back to the tables")));
      return;
    }
  }
  t.columns = await introspect(name, t.store);
  renderTable(t);
}

function renderTable(t) {
  const status = h("div", { id: "table-status", "aria-live": "polite" });
  const grid = h("div", { class: "scroll", id: "rows" });
  const filterInput = h("input", { id: "filter", type: "text", value: t.filter, spellcheck: "false", autocomplete: "off", placeholder: "e.g. qty=gt.10&name=like.*a*" });
  const sizeSelect = h("select", { id: "page-size" }, PAGE_SIZES.map((n) => h("option", { value: n, selected: n === t.limit }, String(n))));
  const prev = h("button", { type: "button", id: "prev" }, "← Previous");
  const next = h("button", { type: "button", id: "next" }, "Next →");
  const first = h("button", { type: "button", id: "first" }, "First");
  const editArea = h("div", { id: "insert-area" });

  const build = () => {
    const params = ["select=*", `limit=${t.limit}`];
    if (t.order) params.push(`order=${encodeURIComponent(`${t.order.col}.${t.order.dir}`)}`);
    params.push(...filterPairs(t.filter));
    return restPath(t.name, params);
  };

  async function load(url) {
    put(status, "Loading…");
    let r;
    try {
      r = await api("GET", url, { headers: { prefer: "count=exact" } });
    } catch (e) {
      put(status, errorBox(e));
      put(grid);
      return;
    }
    t.url = url;
    const rows = Array.isArray(r.data) ? r.data : [];
    if (!t.columns || !t.columns.length) t.columns = inferColumns(rows);
    if (!colSelect.options.length) put(colSelect, t.columns.map((c) => h("option", { value: c.name }, c.name)));
    const range = /\/(\d+|\*)$/.exec(r.res.headers.get("content-range") || "");
    t.total = range && range[1] !== "*" ? Number(range[1]) : null;
    t.next = nextLink(r.res);
    const from = t.page * t.limit;
    put(
      status,
      rows.length ? `Rows ${from + 1}–${from + rows.length}` : "No rows",
      t.total !== null ? ` of ${t.total}${t.filter.trim() ? " matching the filter" : ""}` : "",
      ` · page ${t.page + 1}`,
      url.includes("cursor=") ? " · keyset cursor" : "",
    );
    status.dataset.from = String(from + 1);
    prev.disabled = t.pages.length === 0;
    first.disabled = t.pages.length === 0;
    next.disabled = !t.next;
    put(grid, rowsTable(t, rows, () => load(t.url)));
  }

  const reload = () => {
    try {
      t.pages = [];
      t.page = 0;
      load(build());
    } catch (e) {
      put(status, errorBox(e));
    }
  };
  next.addEventListener("click", () => {
    if (!t.next) return;
    t.pages.push(t.url);
    t.page++;
    load(t.next);
  });
  prev.addEventListener("click", () => {
    if (!t.pages.length) return;
    t.page--;
    load(t.pages.pop());
  });
  first.addEventListener("click", reload);
  sizeSelect.addEventListener("change", () => {
    t.limit = Number(sizeSelect.value);
    reload();
  });
  t.sortBy = (col) => {
    t.order = t.order && t.order.col === col ? (t.order.dir === "asc" ? { col, dir: "desc" } : null) : { col, dir: "asc" };
    reload();
  };

  // A small builder over the REST grammar; the text field is the grammar itself.
  const colSelect = h("select", { id: "f-col", "aria-label": "column" }, (t.columns || []).map((c) => h("option", { value: c.name }, c.name)));
  const opSelect = h("select", { id: "f-op", "aria-label": "operator" }, ["eq", "neq", "gt", "gte", "lt", "lte", "like", "ilike", "is"].map((o) => h("option", { value: o }, o)));
  const valInput = h("input", { id: "f-val", type: "text", "aria-label": "value", autocomplete: "off" });
  const addFilter = h("button", {
    type: "button",
    onclick: () => {
      if (!colSelect.value) return;
      const clause = `${colSelect.value}=${opSelect.value}.${valInput.value}`;
      filterInput.value = filterInput.value.trim() ? `${filterInput.value.trim()}&${clause}` : clause;
      t.filter = filterInput.value;
      reload();
    },
  }, "Add filter");

  put(
    main,
    h("h1", {}, t.name, " ", h("span", { class: "badge", id: "table-store" }, t.store === "pg" ? "Postgres" : t.store === "d1" ? "D1" : "store unknown"),
      t.moving && " ", t.moving && h("span", { class: "badge warn" }, `moving → ${t.moving === "pg" ? "Postgres" : "D1"}`)),
    h("p", { class: "muted", id: "table-access" }, t.write ? "This key may read and write this table." : "Read-only for this key: no write controls."),
    t.columns && t.columns.length > 0 &&
      h("details", { class: "columns" }, h("summary", {}, `${t.columns.length} columns`),
        h("ul", {}, t.columns.map((c) => h("li", {}, h("code", {}, c.name), " ", h("span", { class: "muted" }, [c.type || "?", c.pk ? "primary key" : "", c.notnull ? "not null" : ""].filter(Boolean).join(", ")))))),
    h(
      "form",
      {
        class: "filters",
        onsubmit: (ev) => {
          ev.preventDefault();
          t.filter = filterInput.value;
          reload();
        },
      },
      h("label", { for: "filter" }, "Filter (REST grammar)"),
      filterInput,
      h("button", { type: "submit" }, "Apply"),
      h("span", { class: "builder" }, colSelect, opSelect, valInput, addFilter),
    ),
    h("div", { class: "pager" }, first, prev, next, h("label", { for: "page-size" }, "Rows per page"), sizeSelect,
      t.write && h("button", { type: "button", id: "insert", onclick: () => insertForm(t, editArea, () => load(t.url)) }, "Insert row")),
    editArea,
    status,
    grid,
  );
  reload();
}

function rowFilter(t, row) {
  const keys = (t.columns || []).filter((c) => c.pk).map((c) => c.name);
  const cols = keys.length ? keys : Object.keys(row);
  const params = [];
  for (const c of cols) {
    const v = row[c];
    if (v !== null && typeof v === "object") continue;
    params.push(`${encodeURIComponent(c)}=${encodeURIComponent(v === null ? "is.null" : `eq.${v}`)}`);
  }
  return params;
}

function rowsTable(t, rows, refresh) {
  const cols = t.columns && t.columns.length ? t.columns : inferColumns(rows);
  const head = h(
    "tr",
    {},
    cols.map((c) =>
      h(
        "th",
        { scope: "col", "aria-sort": t.order && t.order.col === c.name ? (t.order.dir === "asc" ? "ascending" : "descending") : null },
        h("button", { type: "button", class: "sort", onclick: () => t.sortBy(c.name), title: `Sort by ${c.name}` }, c.name,
          t.order && t.order.col === c.name ? (t.order.dir === "asc" ? " ▲" : " ▼") : ""),
        h("span", { class: "type" }, c.type || ""),
      ),
    ),
    t.write && h("th", { scope: "col" }, h("span", { class: "sr" }, "actions")),
  );
  const body = h("tbody");
  for (const row of rows) {
    const tr = h("tr", {}, cols.map((c) => h("td", { class: row[c.name] === null ? "null" : typeof row[c.name] === "number" ? "num" : "" }, cellText(row[c.name]))));
    if (t.write) {
      const actions = h("td", { class: "actions" });
      actions.append(
        h("button", { type: "button", class: "edit", onclick: () => editRow(t, cols, row, tr, refresh) }, "Edit"),
        h("button", {
          type: "button",
          class: "delete",
          onclick: async () => {
            if (!confirm(`Delete this row of ${t.name}?`)) return;
            try {
              await api("DELETE", restPath(t.name, rowFilter(t, row)));
              refresh();
            } catch (e) {
              showRowError(tr, cols.length + 1, e);
            }
          },
        }, "Delete"),
      );
      tr.append(actions);
    }
    body.append(tr);
  }
  return h("table", { class: "grid", id: "rows-table" }, h("thead", {}, head), body);
}

function showRowError(tr, span, e) {
  const old = tr.nextElementSibling;
  if (old && old.classList.contains("row-error")) old.remove();
  tr.after(h("tr", { class: "row-error" }, h("td", { colspan: span }, errorBox(e))));
}

function editRow(t, cols, row, tr, refresh) {
  const inputs = cols.map((c) => {
    const v = row[c.name];
    const binary = v !== null && typeof v === "object" && v.$binary;
    return h("input", {
      type: "text",
      "aria-label": c.name,
      "data-col": c.name,
      value: v === null ? "" : typeof v === "object" ? JSON.stringify(v) : String(v),
      disabled: Boolean(binary),
      placeholder: v === null ? "NULL" : "",
    });
  });
  const original = inputs.map((i) => i.value);
  const save = h("button", {
    type: "button",
    class: "save",
    onclick: async () => {
      const set = {};
      cols.forEach((c, i) => {
        if (inputs[i].value !== original[i]) set[c.name] = inputs[i].value === "" ? null : parseInput(inputs[i].value, c.type);
      });
      if (!Object.keys(set).length) return refresh();
      try {
        await api("PATCH", restPath(t.name, rowFilter(t, row)), { body: set });
        refresh();
      } catch (e) {
        showRowError(tr, cols.length + 1, e);
      }
    },
  }, "Save");
  const cancel = h("button", { type: "button", onclick: refresh }, "Cancel");
  put(tr, inputs.map((i) => h("td", {}, i)), h("td", { class: "actions" }, save, cancel));
  tr.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter") save.click();
    if (ev.key === "Escape") refresh();
  });
  const firstEnabled = inputs.find((i) => !i.disabled);
  if (firstEnabled) firstEnabled.focus();
}

function insertForm(t, area, refresh) {
  const cols = t.columns || [];
  const inputs = cols.map((c) => h("input", { type: "text", id: `ins-${c.name}`, "data-col": c.name, autocomplete: "off" }));
  const out = h("div", { "aria-live": "polite" });
  put(
    area,
    h(
      "form",
      {
        class: "card insert",
        onsubmit: async (ev) => {
          ev.preventDefault();
          const row = {};
          cols.forEach((c, i) => {
            if (inputs[i].value !== "") row[c.name] = parseInput(inputs[i].value, c.type);
          });
          try {
            await api("POST", restPath(t.name, []), { body: row });
            put(area);
            refresh();
          } catch (e) {
            put(out, errorBox(e));
          }
        },
      },
      h("h2", {}, "Insert a row"),
      h("p", { class: "muted" }, "Empty fields are left to the column's default."),
      cols.map((c, i) => h("div", { class: "field" }, h("label", { for: `ins-${c.name}` }, c.name, " ", h("span", { class: "type" }, c.type || "")), inputs[i])),
      h("button", { type: "submit" }, "Insert"),
      h("button", { type: "button", onclick: () => put(area) }, "Cancel"),
      out,
    ),
  );
  if (inputs[0]) inputs[0].focus();
}

// ---------------------------------------------------------------- SQL

function history() {
  try {
    const v = JSON.parse(localStorage.getItem(HISTORY_KEY) || "[]");
    return Array.isArray(v) ? v.filter((q) => q && typeof q.sql === "string").slice(0, 20) : [];
  } catch {
    return [];
  }
}

function remember(entry) {
  // Queries only: never the key, never results.
  const list = [entry, ...history().filter((q) => q.sql !== entry.sql || q.store !== entry.store)].slice(0, 20);
  localStorage.setItem(HISTORY_KEY, JSON.stringify(list));
}

function sqlView() {
  const last = history()[0];
  const d1 = h("input", { type: "radio", name: "store", id: "store-d1", value: "d1", checked: !last || last.store === "d1" });
  const pg = h("input", { type: "radio", name: "store", id: "store-pg", value: "pg", checked: last && last.store === "pg" });
  const sql = h("textarea", { id: "sql", rows: 6, spellcheck: "false", "aria-describedby": "sql-help" });
  sql.value = last ? last.sql : "select 1 as one";
  const params = h("input", { id: "params", type: "text", spellcheck: "false", autocomplete: "off", placeholder: '[1, "text"]' });
  params.value = last && last.params ? last.params : "";
  const out = h("div", { id: "sql-result", "aria-live": "polite" });
  const list = h("ol", { id: "history", class: "history" });
  const run = h("button", { type: "submit", id: "run" }, "Run");

  const renderHistory = () =>
    put(
      list,
      history().map((q) =>
        h("li", {}, h("button", {
          type: "button",
          class: "link",
          onclick: () => {
            (q.store === "pg" ? pg : d1).checked = true;
            sql.value = q.sql;
            params.value = q.params || "";
            sql.focus();
          },
        }, h("span", { class: "badge" }, q.store === "pg" ? "pg" : "d1"), " ", q.sql.length > 120 ? q.sql.slice(0, 120) + "…" : q.sql)),
      ),
    );

  const submit = async (ev) => {
    if (ev) ev.preventDefault();
    const store = pg.checked ? "pg" : "d1";
    let p = [];
    if (params.value.trim()) {
      try {
        p = JSON.parse(params.value);
        if (!Array.isArray(p)) throw new Error("parameters must be a JSON array");
      } catch (e) {
        put(out, h("div", { class: "error", role: "alert" }, h("strong", {}, "Parameters: "), e.message));
        return;
      }
    }
    const text = sql.value;
    remember({ store, sql: text, params: params.value.trim() });
    renderHistory();
    run.disabled = true;
    put(out, "Running…");
    const t0 = performance.now();
    try {
      const r = await api("POST", `/v1/${store}/query`, { body: { sql: text, params: p, rowMode: "array" } });
      const ms = Math.round(performance.now() - t0);
      put(out, resultGrid(r.data, ms));
    } catch (e) {
      put(out, errorBox(e, text));
    } finally {
      run.disabled = false;
    }
  };
  sql.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) submit(ev);
  });

  put(
    main,
    h("h1", {}, "SQL"),
    !caps.sql && errorBox(new ApiError(403, { code: "forbidden", message: "raw SQL needs the scope sql:read (or sql, admin)", details: { requiredScope: "sql:read" } })),
    h(
      "form",
      { class: "sql", onsubmit: submit },
      h("fieldset", { class: "stores" }, h("legend", {}, "Store"), d1, h("label", { for: "store-d1" }, "D1"), pg, h("label", { for: "store-pg" }, "Postgres")),
      h("label", { for: "sql" }, "Statement"),
      sql,
      h("p", { id: "sql-help", class: "muted" }, "One statement. Placeholders: ?1 on D1, $1 on Postgres. Ctrl+Enter runs."),
      h("label", { for: "params" }, "Parameters (JSON array)"),
      params,
      run,
    ),
    out,
    h("h2", {}, "Recent queries"),
    h("p", { class: "muted" }, "Kept in this browser's local storage (queries only)."),
    list,
  );
  renderHistory();
  sql.focus();
}

function resultGrid(data, ms) {
  const cols = data.columns || [];
  const meta = Object.entries(data.meta || {}).map(([k, v]) => `${k} ${typeof v === "object" ? JSON.stringify(v) : v}`);
  return h(
    "div",
    { class: "result" },
    h("p", { class: "muted", id: "sql-summary" }, `${data.rowCount} row${data.rowCount === 1 ? "" : "s"} · ${ms} ms`, meta.length ? ` · ${meta.join(" · ")}` : ""),
    cols.length > 0 &&
      h(
        "div",
        { class: "scroll" },
        h(
          "table",
          { class: "grid" },
          h("thead", {}, h("tr", {}, cols.map((c) => h("th", { scope: "col" }, c.name, h("span", { class: "type" }, c.type))))),
          h("tbody", {}, (data.rows || []).map((r) => h("tr", {}, (Array.isArray(r) ? r : cols.map((c) => r[c.name])).map((v) => h("td", { class: v === null ? "null" : typeof v === "number" ? "num" : "" }, cellText(v)))))),
        ),
      ),
  );
}

// ---------------------------------------------------------------- objects

function objectPath(key) {
  // encodeURIComponent keeps "/" inside the key as %2F (the same key) and
  // makes "." and ".." segments addressable.
  return `/v1/objects/${encodeURIComponent(key)}`;
}

async function objectsView(prefix) {
  const listEl = h("div", { id: "objects" }, "Loading…");
  const detail = h("div", { id: "object-detail" });
  const crumbs = h("nav", { class: "crumbs", "aria-label": "Prefix" });
  const parts = prefix.split("/").filter((x, i, a) => x !== "" || i < a.length - 1);
  crumbs.append(h("a", { href: "#/objects" }, "bucket"));
  let acc = "";
  for (const p of parts) {
    acc += `${p}/`;
    crumbs.append(" / ", h("a", { href: `#/objects?prefix=${encodeURIComponent(acc)}` }, p));
  }
  const list = () => listObjects(prefix, listEl, detail);
  put(
    main,
    h("h1", {}, "Objects"),
    crumbs,
    caps.objectsWrite && uploadForm(prefix, list),
    h("div", { class: "split" }, listEl, detail),
  );
  await list();
}

async function listObjects(prefix, listEl, detail) {
  if (!caps.objectsRead) {
    put(listEl, errorBox(new ApiError(403, { code: "forbidden", message: "listing objects needs the scope objects:read", details: { requiredScope: "objects:read" } })));
    return;
  }
  const table = h("tbody");
  const more = h("button", { type: "button", id: "more", hidden: true }, "Load more");
  put(
    listEl,
    h("div", { class: "scroll" }, h("table", { class: "grid" }, h("thead", {}, h("tr", {}, ["name", "size", "type", "uploaded"].map((c) => h("th", { scope: "col" }, c)))), table)),
    more,
  );
  let cursor = null;
  let seen = 0;
  const page = async () => {
    const q = new URLSearchParams({ prefix, delimiter: "/", limit: "100" });
    if (cursor) q.set("cursor", cursor);
    let r;
    try {
      r = await api("GET", `/v1/objects?${q}`);
    } catch (e) {
      put(listEl, errorBox(e));
      return;
    }
    for (const p of r.data.prefixes || []) {
      table.append(h("tr", { class: "folder" }, h("td", {}, h("a", { href: `#/objects?prefix=${encodeURIComponent(p)}` }, "📁 ", p.slice(prefix.length))), h("td"), h("td"), h("td")));
    }
    for (const o of r.data.objects || []) {
      table.append(
        h(
          "tr",
          {},
          h("td", {}, h("button", { type: "button", class: "link", "data-key": o.key, onclick: () => objectDetail(o.key, detail, () => listObjects(prefix, listEl, detail)) }, o.key.slice(prefix.length))),
          h("td", { class: "num" }, bytes(o.size)),
          h("td", {}, o.contentType || ""),
          h("td", {}, o.uploaded || ""),
        ),
      );
    }
    seen += (r.data.prefixes || []).length + (r.data.objects || []).length;
    if (!seen) table.append(h("tr", {}, h("td", { colspan: 4 }, "Nothing under this prefix.")));
    cursor = r.data.truncated ? r.data.cursor : null;
    more.hidden = !cursor;
  };
  more.addEventListener("click", page);
  await page();
}

async function objectDetail(key, area, relist) {
  put(area, "Loading…");
  let res;
  try {
    res = (await api("HEAD", objectPath(key))).res;
  } catch (e) {
    put(area, errorBox(e));
    return;
  }
  const hd = res.headers;
  const meta = [];
  hd.forEach((v, k) => {
    if (k.startsWith("x-strata-meta-")) meta.push(h("dt", {}, k.slice(14)), h("dd", {}, v));
  });
  const size = Number(hd.get("content-length"));
  const out = h("div", { "aria-live": "polite" });
  const method = h("select", { id: "sign-method" }, h("option", { value: "GET" }, "GET (download)"), caps.objectsWrite && h("option", { value: "PUT" }, "PUT (upload)"));
  const expires = h("input", { id: "sign-expires", type: "number", min: 1, max: 604800, value: 3600 });
  const signed = h("div", { id: "signed" });
  put(
    area,
    h(
      "section",
      { class: "card", "aria-labelledby": "obj-h" },
      h("h2", { id: "obj-h" }, key),
      h(
        "dl",
        { class: "details" },
        h("dt", {}, "size"), h("dd", {}, `${bytes(size)} (${size} bytes)`),
        h("dt", {}, "type"), h("dd", {}, hd.get("content-type") || ""),
        h("dt", {}, "ETag"), h("dd", {}, hd.get("etag") || ""),
        h("dt", {}, "last modified"), h("dd", {}, hd.get("last-modified") || ""),
        meta,
      ),
      h("button", { type: "button", id: "download", onclick: () => download(key, out) }, "Download"),
      caps.objectsWrite &&
        h("button", {
          type: "button",
          id: "delete-object",
          class: "danger",
          onclick: async () => {
            if (!confirm(`Delete ${key}?`)) return;
            try {
              await api("DELETE", objectPath(key));
              put(area, `Deleted ${key}.`);
              relist();
            } catch (e) {
              put(out, errorBox(e));
            }
          },
        }, "Delete"),
      out,
      h(
        "form",
        {
          class: "inline",
          onsubmit: async (ev) => {
            ev.preventDefault();
            try {
              const r = await api("POST", "/v1/signed-urls", { body: { method: method.value, key, expiresIn: Number(expires.value) } });
              const url = new URL(r.data.url, location.origin).href;
              const field = h("input", { type: "text", readonly: true, id: "signed-url", value: url, "aria-label": "signed URL" });
              put(signed, field, h("button", { type: "button", onclick: () => navigator.clipboard.writeText(url).catch(() => field.select()) }, "Copy"),
                h("p", { class: "muted" }, `${r.data.method} until ${r.data.expiresAt}`));
              field.select();
            } catch (e) {
              put(signed, errorBox(e));
            }
          },
        },
        h("h3", {}, "Signed URL"),
        h("label", { for: "sign-method" }, "Method"), method,
        h("label", { for: "sign-expires" }, "Expires in (s)"), expires,
        h("button", { type: "submit" }, "Generate"),
      ),
      signed,
    ),
  );
}

async function download(key, out) {
  put(out, "Downloading…");
  try {
    const { res } = await api("GET", objectPath(key), { raw: true });
    const blob = await res.blob();
    const url = URL.createObjectURL(blob);
    const a = h("a", { href: url, download: key.split("/").pop() || "object" });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
    put(out, `Downloaded ${bytes(blob.size)}.`);
  } catch (e) {
    put(out, errorBox(e));
  }
}

function xhrPut(url, blob, type, onProgress) {
  return new Promise((resolve, reject) => {
    const x = new XMLHttpRequest();
    x.open("PUT", url);
    x.setRequestHeader("authorization", bearer());
    if (type) x.setRequestHeader("content-type", type);
    x.upload.onprogress = (ev) => onProgress(ev.loaded);
    x.onload = () => {
      let body = null;
      try {
        body = JSON.parse(x.responseText);
      } catch {
        body = null;
      }
      if (x.status >= 200 && x.status < 300) resolve({ body, etag: x.getResponseHeader("etag") });
      else reject(new ApiError(x.status, body, x.getResponseHeader("x-request-id")));
    };
    x.onerror = () => reject(new ApiError(0, { code: "network", message: "the upload was interrupted" }, null));
    x.send(blob);
  });
}

function uploadForm(prefix, relist) {
  const file = h("input", { type: "file", id: "upload-file" });
  const keyInput = h("input", { type: "text", id: "upload-key", autocomplete: "off", spellcheck: "false" });
  const bar = h("progress", { id: "upload-progress", max: 1, value: 0 });
  const text = h("span", { id: "upload-text", "aria-live": "polite" });
  const out = h("div");
  file.addEventListener("change", () => {
    if (file.files[0]) keyInput.value = prefix + file.files[0].name;
  });
  return h(
    "form",
    {
      class: "card upload",
      onsubmit: async (ev) => {
        ev.preventDefault();
        const f = file.files[0];
        const key = keyInput.value;
        if (!f || !key) return;
        put(out);
        bar.max = f.size || 1;
        bar.value = 0;
        const progress = (n) => {
          bar.value = n;
          put(text, `${bytes(n)} of ${bytes(f.size)}`);
        };
        try {
          await upload(f, key, progress, text);
          progress(f.size);
          put(text, `Uploaded ${key} (${bytes(f.size)}).`);
          relist();
        } catch (e) {
          put(out, errorBox(e));
        }
      },
    },
    h("h2", {}, "Upload"),
    h("label", { for: "upload-file" }, "File"), file,
    h("label", { for: "upload-key" }, "Key"), keyInput,
    h("button", { type: "submit", id: "upload" }, "Upload"),
    bar, text, out,
  );
}

async function upload(f, key, progress, text) {
  const type = f.type || "application/octet-stream";
  if (f.size <= MULTIPART_THRESHOLD) {
    await xhrPut(objectPath(key), f, type, progress);
    return;
  }
  // Multipart: equal parts of PART_SIZE (R2 wants all but the last equal, ≥ 5 MiB).
  const start = await api("POST", `${objectPath(key)}?uploads`, { headers: { "content-type": type } });
  const id = start.data.uploadId;
  const parts = [];
  try {
    for (let n = 1, off = 0; off < f.size; n++, off += PART_SIZE) {
      put(text, `part ${n}`);
      const r = await xhrPut(`${objectPath(key)}?uploadId=${encodeURIComponent(id)}&partNumber=${n}`, f.slice(off, off + PART_SIZE), null, (loaded) => progress(off + loaded));
      parts.push({ partNumber: n, etag: r.body ? r.body.etag : r.etag });
    }
    await api("POST", `${objectPath(key)}?uploadId=${encodeURIComponent(id)}`, { body: { parts } });
  } catch (e) {
    await api("DELETE", `${objectPath(key)}?uploadId=${encodeURIComponent(id)}`).catch(() => {});
    throw e;
  }
}

start();

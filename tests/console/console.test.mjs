// The browser console (web/console/) in a real headless Chromium (Debian's
// `chromium`, driven by playwright-core), against a running stack. Run by
// tests/api/console.rs, which passes the stack's URL and keys:
//   STRATA_BASE_URL, STRATA_ADMIN_KEY, STRATA_READ_KEY (d1:read only),
//   STRATA_OBJECTS_READ_KEY (objects:read only), STRATA_CONSOLE_SCREENSHOTS (a folder).
// Tables console_d1 (D1, placed there at run time through
// /v1/admin/placement) and console_pg (Postgres) are made here through the API.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const BASE = process.env.STRATA_BASE_URL;
const ADMIN = process.env.STRATA_ADMIN_KEY;
const READ = process.env.STRATA_READ_KEY;
const OBJ_READ = process.env.STRATA_OBJECTS_READ_KEY;
const SHOTS = process.env.STRATA_CONSOLE_SCREENSHOTS || "target/console-screenshots";
const CHROMIUM = process.env.STRATA_CHROMIUM || "/usr/bin/chromium";
if (!BASE || !ADMIN || !READ || !OBJ_READ) throw new Error("STRATA_BASE_URL, STRATA_ADMIN_KEY, STRATA_READ_KEY and STRATA_OBJECTS_READ_KEY are needed");

const D1_ROWS = 260;
const PG_ROWS = 120;
const tag = randomBytes(4).toString("hex");
let browser;
let work;
const problems = [];

async function call(method, path, body, key = ADMIN) {
  const res = await fetch(BASE + path, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null };
}

async function sql(store, statement, params = []) {
  const r = await call("POST", `/v1/${store}/query`, { sql: statement, params });
  assert.equal(r.status, 200, `${store}: ${statement}: ${JSON.stringify(r.json)}`);
  return r.json;
}

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  work = mkdtempSync(join(tmpdir(), "strata-console-"));
  await sql("d1", "drop table if exists console_d1");
  await sql("d1", "create table console_d1 (id integer primary key, name text not null, qty integer not null check (qty >= 0))");
  await sql("d1", `with recursive n(i) as (select 1 union all select i + 1 from n where i < ${D1_ROWS}) insert into console_d1 select i, 'item-' || i, i % 17 from n`);
  // Whatever REST_TABLES says, the run-time placement puts it on D1 (within
  // PLACEMENT_CACHE_SECONDS on every isolate: wait until the read key sees it).
  const placed = await call("PUT", "/v1/admin/placement/console_d1", { store: "d1", state: "ready" });
  assert.equal(placed.status, 200, JSON.stringify(placed.json));
  for (let i = 0; (await call("GET", "/v1/rest/console_d1?limit=1", undefined, READ)).status !== 200; i++) {
    assert.ok(i < 100, "console_d1 never became readable on D1");
    await new Promise((r) => setTimeout(r, 200));
  }
  await sql("pg", "drop table if exists console_pg");
  await sql("pg", "create table console_pg (id int4 primary key, name text not null unique, price numeric(10,2))");
  await sql("pg", `insert into console_pg select i, 'pg-' || i, i * 1.25 from generate_series(1, ${PG_ROWS}) i`);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
    // A fresh profile each run: launch() makes its own temporary --user-data-dir
    // (and refuses one passed in args), removed when the browser closes.
  });
});

after(async () => {
  if (browser) await browser.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** A fresh page (own sessionStorage) that records script errors and CSP violations. */
async function newPage(options = {}) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, acceptDownloads: true, ...options });
  const page = await context.newPage();
  page.setDefaultTimeout(20000);
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error" && !/status of (4|5)\d\d/.test(m.text())) problems.push(`console error: ${m.text()}`);
  });
  return page;
}

async function signIn(page, key) {
  await page.goto(`${BASE}/console/`);
  await page.fill("#key", key);
  await page.click("form.signin button[type=submit]");
}

const shot = (page, name) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });

test("a wrong key is told so and not kept", { timeout: 240000 }, async () => {
  const page = await newPage();
  // By keyboard alone: the key field has the focus, Enter signs in.
  await page.goto(`${BASE}/console/`);
  await page.keyboard.type("sk_this_key_does_not_exist");
  await page.keyboard.press("Enter");
  const err = page.locator("#signin-result .error[data-code=unauthorized]");
  await err.waitFor();
  assert.match(await err.textContent(), /Wrong key/);
  assert.equal(await page.evaluate(() => sessionStorage.length), 0);
  assert.equal(await page.locator("#nav").isHidden(), true);
  await shot(page, "signin-wrong-key");
  await page.context().close();
});

test("admin: overview, tables on both stores, cursor paging, filter, edit, SQL, objects", { timeout: 240000 }, async () => {
  const page = await newPage();
  await signIn(page, ADMIN);

  // Overview: every store healthy, the placement of both tables.
  await page.locator(".store.ok").nth(2).waitFor();
  const stores = await page.locator(".store").evaluateAll((els) => els.map((e) => [e.dataset.store, e.querySelector(".state").textContent]));
  assert.deepEqual(stores.sort(), [["d1", "healthy"], ["neon", "healthy"], ["r2", "healthy"]]);
  await page.locator("#placement table").waitFor();
  const placed = await page.locator("#placement tbody tr").evaluateAll((rows) => rows.map((r) => [...r.cells].map((c) => c.textContent)));
  const d1Row = placed.find((r) => r[0] === "console_d1");
  const pgRow = placed.find((r) => r[0] === "console_pg");
  assert.deepEqual([d1Row[1], d1Row[2], d1Row[4]], ["D1", "ready", String(D1_ROWS)]);
  assert.deepEqual([pgRow[1], pgRow[2], pgRow[4]], ["Postgres", "ready", String(PG_ROWS)]);
  assert.match(await page.locator("#version").textContent(), /version 1/);
  assert.equal(await page.evaluate(() => Object.keys(localStorage).some((k) => localStorage.getItem(k).includes("sk_"))), false);
  await shot(page, "overview");

  // A D1 table: columns with types, count, deep keyset paging.
  await page.click("a[data-view=tables]");
  await page.click("#table-list a >> text=console_d1");
  await page.locator("#rows-table").waitFor();
  assert.equal(await page.locator("#table-store").textContent(), "D1");
  const status = page.locator("#table-status");
  await assert.doesNotReject(status.filter({ hasText: `Rows 1–50 of ${D1_ROWS}` }).waitFor());
  const types = await page.locator("#rows-table thead th .type").allTextContents();
  assert.deepEqual(types, ["integer", "text", "integer"]);
  for (let p = 1; p <= 5; p++) {
    await page.click("#next");
    await status.filter({ hasText: `Rows ${p * 50 + 1}–` }).waitFor();
    assert.match(await status.textContent(), /keyset cursor/);
  }
  assert.equal(await page.locator("#rows-table tbody tr").first().locator("td").first().textContent(), "251");
  assert.equal(await page.locator("#rows-table tbody tr").count(), D1_ROWS - 250);
  assert.equal(await page.locator("#next").isDisabled(), true);
  await page.click("#prev");
  await status.filter({ hasText: "Rows 201–250" }).waitFor();
  assert.equal(await page.locator("#rows-table tbody tr").first().locator("td").first().textContent(), "201");

  // Filter through the REST grammar, then edit a row and read it back through the API.
  await page.fill("#filter", "id=lte.3&qty=gte.0");
  await page.press("#filter", "Enter");
  await status.filter({ hasText: "Rows 1–3 of 3" }).waitFor();
  const row2 = page.locator("#rows-table tbody tr", { has: page.locator("td", { hasText: /^2$/ }) });
  await row2.locator("button.edit").click();
  await page.fill("#rows-table input[data-col=name]", `renamed <b>&'"; -- ${tag}`);
  await page.click("#rows-table button.save");
  await page.locator("#rows-table tbody td", { hasText: `renamed <b>&'"; -- ${tag}` }).waitFor();
  const back = await call("GET", "/v1/rest/console_d1?id=eq.2");
  assert.deepEqual(back.json, [{ id: 2, name: `renamed <b>&'"; -- ${tag}`, qty: 2 }]);
  assert.equal(await page.locator("#rows-table b").count(), 0, "a value is text, never markup");
  // A CHECK constraint refuses an edit: the error sits under the row.
  await page.locator("#rows-table tbody tr").first().locator("button.edit").click();
  await page.fill("#rows-table input[data-col=qty]", "-5");
  await page.press("#rows-table input[data-col=qty]", "Enter");
  const rowErr = page.locator("#rows-table tr.row-error .error[data-code=check_violation]");
  await rowErr.waitFor();
  assert.equal((await call("GET", "/v1/rest/console_d1?id=eq.1")).json[0].qty, 1, "nothing written");
  await shot(page, "table-d1");

  // A Postgres table: types from the catalog, a UNIQUE violation next to the row.
  await page.goto(`${BASE}/console/#/tables/console_pg`);
  await page.locator("#rows-table").waitFor();
  assert.equal(await page.locator("#table-store").textContent(), "Postgres");
  await status.filter({ hasText: `of ${PG_ROWS}` }).waitFor();
  assert.deepEqual(await page.locator("#rows-table thead th .type").allTextContents(), ["integer", "text", "numeric(10,2)"]);
  await page.locator("#rows-table tbody tr").nth(1).locator("button.edit").click();
  await page.fill("#rows-table input[data-col=name]", "pg-1");
  await page.click("#rows-table button.save");
  await page.locator("#rows-table tr.row-error .error[data-code=unique_violation]").waitFor();
  // An insert with a price, read back exactly.
  await page.click("#insert");
  await page.fill("#ins-id", "1001");
  await page.fill("#ins-name", `new-${tag}`);
  await page.fill("#ins-price", "12.50");
  await page.click("form.insert button[type=submit]");
  await page.locator("form.insert").waitFor({ state: "detached" });
  assert.deepEqual((await call("GET", "/v1/rest/console_pg?id=eq.1001")).json, [{ id: 1001, name: `new-${tag}`, price: "12.50" }]);
  await shot(page, "table-pg");

  // SQL: an error with its code and position, then a result grid with types.
  await page.click("a[data-view=sql]");
  await page.check("#store-pg");
  await page.fill("#sql", "select id,\n  nope from console_pg");
  await page.click("#run");
  const sqlErr = page.locator("#sql-result .error[data-code=undefined_column]");
  await sqlErr.waitFor();
  assert.match(await sqlErr.textContent(), /42703/);
  assert.match(await page.locator("#sql-result pre.caret").textContent(), /line 2: {3}nope from console_pg\n {10}\^/);
  await shot(page, "sql-error");
  await page.fill("#sql", "select id, name, price from console_pg where id <= $1 order by id");
  await page.fill("#params", "[3]");
  await page.press("#sql", "Control+Enter");
  await page.locator("#sql-summary", { hasText: "3 rows" }).waitFor();
  assert.deepEqual(await page.locator("#sql-result thead th .type").allTextContents(), ["int4", "text", "numeric"]);
  await page.check("#store-d1");
  await page.fill("#sql", "select count(*) as n from console_d1");
  await page.fill("#params", "");
  await page.click("#run");
  await page.locator("#sql-result td", { hasText: String(D1_ROWS) }).waitFor();
  const hist = await page.evaluate(() => localStorage.getItem("strata.console.sqlHistory"));
  assert.match(hist, /nope from console_pg/);
  assert.equal(hist.includes(ADMIN), false, "the key is never kept with the queries");
  await shot(page, "sql");

  // Objects: a multipart upload with a moving progress bar, a byte-identical download.
  const size = 12 * 1024 * 1024 + 12345;
  const data = randomBytes(size);
  const file = join(work, `big-${tag}.bin`);
  writeFileSync(file, data);
  await page.click("a[data-view=objects]");
  await page.locator("#upload-file").setInputFiles(file);
  const key = `console-${tag}/big.bin`;
  await page.fill("#upload-key", key);
  const seen = page.evaluate(() => new Promise((resolve) => {
    const values = [];
    const bar = document.getElementById("upload-progress");
    const t = setInterval(() => {
      values.push(bar.value);
      const done = document.getElementById("upload-text").textContent.startsWith("Uploaded");
      if (done || document.querySelector("form.upload .error")) {
        clearInterval(t);
        resolve(values);
      }
    }, 5);
  }));
  await page.click("#upload");
  const values = await seen;
  const between = values.filter((v) => v > 0 && v < size);
  assert.ok(between.length >= 2 && new Set(between).size >= 2, `the bar moved: ${JSON.stringify(values.slice(0, 50))}`);
  const head = await fetch(`${BASE}/v1/objects/${encodeURIComponent(key)}`, { method: "HEAD", headers: { authorization: `Bearer ${ADMIN}` } });
  assert.match(head.headers.get("etag"), /-3"$/, "uploaded in 3 parts");
  await page.locator(`#objects a`, { hasText: `console-${tag}/` }).click();
  await page.locator(`button[data-key="${key}"]`).click();
  await page.locator("#object-detail h2", { hasText: key }).waitFor();
  const [dl] = await Promise.all([page.waitForEvent("download"), page.click("#download")]);
  const saved = join(work, "downloaded.bin");
  await dl.saveAs(saved);
  const sha = (b) => createHash("sha256").update(b).digest("hex");
  assert.equal(sha(readFileSync(saved)), sha(data), "downloaded byte for byte");
  // A signed GET URL that works without a key.
  await page.click("#object-detail form.inline button[type=submit]");
  const url = await page.locator("#signed-url").inputValue();
  const got = await fetch(url);
  assert.equal(got.status, 200);
  assert.equal(sha(Buffer.from(await got.arrayBuffer())), sha(data));
  await shot(page, "objects");

  // A table moving between stores: the overview says where to; a write is
  // refused with table_moving, explained under the row.
  const moving = await call("PUT", "/v1/admin/placement/console_pg", { store: "pg", state: "moving", target: "d1" });
  assert.equal(moving.status, 200, JSON.stringify(moving.json));
  try {
    await page.click("a[data-view=overview]");
    await page.locator("#placement td", { hasText: "moving → D1" }).waitFor();
    await page.click("#placement a >> text=console_pg");
    await page.locator("#rows-table").waitFor();
    await page.locator("h1 .badge.warn", { hasText: "moving → D1" }).waitFor();
    for (let i = 0; ; i++) {
      await page.locator("#rows-table tbody tr").first().locator("button.edit").click();
      await page.fill("#rows-table input[data-col=name]", `moving-${tag}`);
      await page.click("#rows-table button.save");
      const refused = page.locator("#rows-table tr.row-error .error[data-code=table_moving]");
      // Isolates may serve the old placement for PLACEMENT_CACHE_SECONDS.
      if (await refused.waitFor({ timeout: 3000 }).then(() => true, () => false)) break;
      assert.ok(i < 10, "a write to a moving table was never refused");
      await call("PATCH", "/v1/rest/console_pg?id=eq.1", { name: "pg-1" });
      await page.reload();
      await page.locator("#rows-table").waitFor();
    }
    await shot(page, "table-moving");
  } finally {
    const ready = await call("PUT", "/v1/admin/placement/console_pg", { store: "pg", state: "ready" });
    assert.equal(ready.status, 200, JSON.stringify(ready.json));
  }

  // 360 px wide: nothing but the grids' own scroll areas is wider than the screen.
  await page.setViewportSize({ width: 360, height: 740 });
  await page.goto(`${BASE}/console/#/tables/console_d1`);
  await page.locator("#rows-table").waitFor();
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= 360), "readable at 360 px");
  await shot(page, "narrow-360");
  await page.context().close();
});

test("read-only keys see no write controls; refusals are explained", { timeout: 240000 }, async () => {
  const page = await newPage({ colorScheme: "dark" });
  await signIn(page, READ);
  const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  assert.equal(bg, "rgb(21, 23, 26)", "dark colours under prefers-color-scheme: dark");
  await page.locator("#placement .error[data-code=forbidden]").waitFor();
  assert.match(await page.locator("#placement").textContent(), /admin/);
  await page.goto(`${BASE}/console/#/tables/console_d1`);
  await page.locator("#rows-table").waitFor();
  assert.match(await page.locator("#table-access").textContent(), /Read-only/);
  assert.equal(await page.locator("#insert, button.edit, button.delete").count(), 0);
  assert.equal(await page.locator("#table-store").textContent(), "D1");
  await page.locator("#table-status", { hasText: `of ${D1_ROWS}` }).waitFor();
  // Without sql:read the columns come from the rows: the filter builder has them.
  assert.deepEqual(await page.locator("#f-col option").allTextContents(), ["id", "name", "qty"]);
  await shot(page, "read-only-dark");
  // Postgres is beyond this key: the 403 names the scope it lacks.
  await page.goto(`${BASE}/console/#/tables/console_pg`);
  await page.locator("#table-status .error[data-code=forbidden]", { hasText: "pg:read" }).waitFor();
  await page.click("a[data-view=objects]");
  await page.locator("#objects .error[data-code=forbidden]").waitFor();
  assert.equal(await page.locator("#upload-file").count(), 0);
  await page.click("a[data-view=sql]");
  await page.locator("main .error[data-code=forbidden]", { hasText: "sql:read" }).waitFor();
  await page.context().close();

  const objects = await newPage();
  await signIn(objects, OBJ_READ);
  await objects.click("a[data-view=objects]");
  await objects.locator(`#objects a`, { hasText: `console-${tag}/` }).click();
  await objects.locator("button[data-key]").first().click();
  await objects.locator("#download").waitFor();
  assert.equal(await objects.locator("#upload-file, #delete-object").count(), 0);
  assert.deepEqual(await objects.locator("#sign-method option").allTextContents(), ["GET (download)"]);
  await objects.context().close();
});

test("no script error and no blocked resource on any page", () => {
  assert.deepEqual(problems, []);
});

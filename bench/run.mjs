#!/usr/bin/env node
// Object throughput and workerd memory: Strata's /v1/objects routes against
// a minimal JavaScript Worker doing the same R2 passthrough (bench/js-worker),
// in the same run, each on its own local R2 (one --persist-to directory per
// Worker under the same temporary folder: two workerd processes sharing one
// local R2's SQLite stall each other under load — a GET right after a large
// PUT could hang for minutes — which would measure the lock, not the Worker).
//
//   node bench/run.mjs [--sizes 16,256] [--reps 3]      (make bench)
//
// For every size (MiB), both Workers are started fresh, warmed up, and then
// each uploads a file of random bytes (PUT with
// Content-Length, streamed from disk) `reps` times and downloads it (streamed
// to nowhere, bytes counted) four times per upload, the two Workers taking
// turns in alternating order. The first round trip is untimed and checks the download's
// SHA-256 against the file's. Reported: throughput (median and best) per
// Worker and direction with the ratio Strata / JS, and the peak resident
// memory (VmHWM, reset after the warm-up — 20 round trips of 1 MiB —
// through /proc/<pid>/clear_refs) of
// the workerd process running each Worker, over all transfers of that size.
// Local R2 lives in that same process, so the JS Worker's figures show what
// the runtime and local R2 themselves take; a Worker that buffered bodies
// would add the object's size on top.
//
// Strata runs from a snapshot of build/ with the repository's wrangler.toml
// minus its [build] section, so an edit during the run cannot make wrangler
// rebuild and restart workerd mid-measurement.
//
// Needs Linux (/proc), a built Worker (make build) and the npm packages
// (wrangler). Everything runs on 127.0.0.1 on free ports and is stopped at
// the end; the temporary state is deleted.

import { spawn } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const wrangler = path.join(root, "node_modules/.bin/wrangler");
const MiB = 1024 * 1024;

function option(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}
const sizes = option("sizes", "16,256").split(",").map(Number);
const reps = Number(option("reps", "3"));

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "strata-bench-"));
const persistRoot = path.join(tmp, "state");
const children = [];

function cleanup() {
  const alive = (pid) => {
    try {
      process.kill(-pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  for (const child of children) {
    try {
      process.kill(-child.pid, "SIGTERM");
    } catch {}
  }
  // A wrangler that does not stop on SIGTERM (seen with its workerd children
  // already gone) would outlive the benchmark: give the groups 3 s, then kill
  // what is left. An exit handler cannot await, so it waits synchronously.
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (let waited = 0; waited < 3000 && children.some((c) => alive(c.pid)); waited += 100) {
    Atomics.wait(pause, 0, 0, 100);
  }
  for (const child of children) {
    if (alive(child.pid)) {
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {}
    }
  }
  fs.rmSync(tmp, { recursive: true, force: true });
}
process.on("exit", cleanup);
process.on("SIGINT", () => process.exit(130));
process.on("SIGTERM", () => process.exit(143));

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
    server.on("error", reject);
  });
}

/// A copy of the built Worker and its configuration without `[build]`.
function snapshotStrata() {
  const dir = path.join(tmp, "strata-worker");
  fs.cpSync(path.join(root, "build"), path.join(dir, "build"), {
    recursive: true,
    filter: (src) => !src.includes(`${path.sep}.tmp`),
  });
  // Static assets, when wrangler.toml serves a directory of them.
  if (fs.existsSync(path.join(root, "web"))) fs.cpSync(path.join(root, "web"), path.join(dir, "web"), { recursive: true });
  const config = fs.readFileSync(path.join(root, "wrangler.toml"), "utf8").replace(/^\[build\][\s\S]*?(?=^\[)/m, "");
  fs.writeFileSync(path.join(dir, "wrangler.toml"), config);
  return dir;
}

async function startWorker(name, cwd, vars) {
  const port = await freePort();
  const inspector = await freePort();
  const args = ["dev", "--ip", "127.0.0.1", "--port", String(port), "--inspector-port", String(inspector),
    "--persist-to", path.join(persistRoot, name), "--show-interactive-dev-session=false"];
  for (const [k, v] of Object.entries(vars)) args.push("--var", `${k}:${v}`);
  const log = fs.openSync(path.join(tmp, `${name}.log`), "a");
  const child = spawn(wrangler, args, {
    cwd,
    detached: true, // its own process group, so workerd is stopped with it
    stdio: ["ignore", log, log],
    env: { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "true" },
  });
  children.push(child);
  const worker = { name, port, wranglerPid: child.pid };
  const deadline = Date.now() + 180_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) break;
    try {
      const res = await fetch(`http://127.0.0.1:${port}/${name === "strata" ? "v1/health" : "health"}`);
      if (res.ok) return worker;
    } catch {}
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${name} did not start:\n${fs.readFileSync(path.join(tmp, `${name}.log`), "utf8").slice(-3000)}`);
}

/// Every workerd process under `rootPid` (`wrangler dev` starts two: the
/// runtime and a proxy in front of it that owns the public port).
function workerdUnder(rootPid) {
  const parent = new Map();
  const comm = new Map();
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
      const close = stat.lastIndexOf(")");
      comm.set(Number(entry), stat.slice(stat.indexOf("(") + 1, close));
      parent.set(Number(entry), Number(stat.slice(close + 2).split(" ")[1]));
    } catch {}
  }
  const pids = [...comm].filter(([pid, name]) => {
    if (name !== "workerd") return false;
    for (let p = parent.get(pid); p; p = parent.get(p)) if (p === rootPid) return true;
    return false;
  }).map(([pid]) => pid);
  if (pids.length === 0) throw new Error(`no workerd under ${rootPid}`);
  return pids;
}

/// The workerd process that runs the Worker (and local R2, which miniflare
/// hosts in the same runtime): of the two, the one with the inspector.
function workerdOf(wranglerPid) {
  for (const pid of workerdUnder(wranglerPid)) {
    let cmdline = "";
    try {
      cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8");
    } catch {}
    if (cmdline.includes("--inspector-addr")) return pid;
  }
  throw new Error(`no Worker runtime (workerd with an inspector) under wrangler ${wranglerPid}`);
}

function status(pid, field) {
  let text;
  try {
    text = fs.readFileSync(`/proc/${pid}/status`, "utf8");
  } catch {
    throw new Error(`workerd ${pid} went away during the run (did wrangler restart it?)`);
  }
  const line = text.split("\n").find((l) => l.startsWith(`${field}:`));
  return Number(line.split(/\s+/)[1]) * 1024; // kB → bytes
}

/// Resets VmHWM to the current RSS, so the next reading is the peak since now.
function resetPeak(pid) {
  fs.writeFileSync(`/proc/${pid}/clear_refs`, "5");
}

/// Fails a transfer that stalls instead of waiting forever.
const TRANSFER_TIMEOUT_MS = 600_000;

function upload(worker, urlPath, headers, file, size) {
  return new Promise((resolve, reject) => {
    // A fresh connection per transfer (agent: false): no reuse of a socket
    // the local proxy may have given up on.
    const req = http.request({ host: "127.0.0.1", port: worker.port, method: "PUT", path: urlPath, agent: false,
      timeout: TRANSFER_TIMEOUT_MS,
      headers: { ...headers, "content-length": String(size), "content-type": "application/octet-stream" } }, (res) => {
      let body = "";
      res.on("data", (d) => (body += d));
      res.on("end", () => (res.statusCode === 200 || res.statusCode === 201
        ? resolve() : reject(new Error(`${worker.name} PUT ${res.statusCode}: ${body}`))));
    });
    req.on("error", reject);
    req.on("timeout", () => req.destroy(new Error(`${worker.name} PUT stalled`)));
    fs.createReadStream(file, { highWaterMark: MiB }).pipe(req);
  });
}

function download(worker, urlPath, headers, hash) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: "127.0.0.1", port: worker.port, path: urlPath, headers, agent: false,
      timeout: TRANSFER_TIMEOUT_MS }, (res) => {
      if (res.statusCode !== 200) return reject(new Error(`${worker.name} GET ${res.statusCode}`));
      let bytes = 0;
      const sha = hash ? crypto.createHash("sha256") : null;
      res.on("data", (d) => {
        bytes += d.length;
        sha?.update(d);
      });
      res.on("end", () => resolve({ bytes, sha256: sha?.digest("hex") }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.on("timeout", () => req.destroy(new Error(`${worker.name} GET stalled`)));
  });
}

async function writeRandomFile(file, size) {
  const sha = crypto.createHash("sha256");
  const fd = fs.openSync(file, "w");
  for (let done = 0; done < size; done += MiB) {
    const chunk = crypto.randomBytes(Math.min(MiB, size - done));
    sha.update(chunk);
    fs.writeSync(fd, chunk);
  }
  fs.closeSync(fd);
  return sha.digest("hex");
}

const WARM_UP_ROUND_TRIPS = 20;
const DOWNLOADS_PER_UPLOAD = 4;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const mb = (bytes) => (bytes / MiB).toFixed(1);

async function stopWorker(worker) {
  const child = children.find((c) => c.pid === worker.wranglerPid);
  if (!child || child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  try {
    process.kill(-child.pid, "SIGTERM");
  } catch {}
  await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
  children.splice(children.indexOf(child), 1);
}

async function main() {
  const apiKey = crypto.randomBytes(24).toString("hex");
  const apiKeys = JSON.stringify({ bench: { sha256: crypto.createHash("sha256").update(apiKey).digest("hex"), scopes: ["admin"] } });
  const strataDir = snapshotStrata();
  const warmFile = path.join(tmp, "warm");
  await writeRandomFile(warmFile, MiB);

  const results = []; // {worker, size, dir, seconds}
  const memory = []; // {worker, size, idle, peak}
  for (const sizeMiB of sizes) {
    const size = sizeMiB * MiB;
    const file = path.join(tmp, `data-${sizeMiB}`);
    const expected = await writeRandomFile(file, size);
    // Fresh processes for every size, so one size's peak says nothing about
    // the memory another size left behind.
    console.error(`${sizeMiB} MiB: starting both Workers…`);
    const targets = [
      { ...(await startWorker("strata", strataDir, { API_KEYS: apiKeys, SIGNING_SECRET: crypto.randomBytes(32).toString("hex") })),
        path: (k) => `/v1/objects/${k}`, headers: { authorization: `Bearer ${apiKey}` } },
      { ...(await startWorker("js", path.join(root, "bench/js-worker"), {})), path: (k) => `/objects/${k}`, headers: {} },
    ];
    for (const t of targets) {
      // Warm up on a 1 MiB object, then take the baseline and start counting
      // the peak. 20 round trips, because the runtime keeps optimising a
      // Worker's code for its first few dozen requests: Strata's 1 MiB of
      // wasm grows workerd by ~55 MiB over its first ~30 requests whatever
      // they carry (bodyless listings included), which is not what this
      // measures.
      for (let i = 0; i < WARM_UP_ROUND_TRIPS; i++) {
        await upload(t, t.path("bench/warm"), t.headers, warmFile, MiB);
        await download(t, t.path("bench/warm"), t.headers, false);
      }
      t.workerd = workerdOf(t.wranglerPid);
      t.idle = status(t.workerd, "VmRSS");
      resetPeak(t.workerd);
      // Untimed round trip of the full size: checks every byte.
      const key = `bench/${t.name}-${sizeMiB}-check`;
      await upload(t, t.path(key), t.headers, file, size);
      const { bytes, sha256 } = await download(t, t.path(key), t.headers, true);
      if (bytes !== size || sha256 !== expected) throw new Error(`${t.name}: download differs from upload`);
    }
    for (let rep = 0; rep < reps; rep++) {
      const order = rep % 2 === 0 ? targets : [...targets].reverse();
      for (const t of order) {
        const start = process.hrtime.bigint();
        await upload(t, t.path(`bench/${t.name}-${sizeMiB}`), t.headers, file, size);
        results.push({ worker: t.name, size: sizeMiB, dir: "upload", seconds: Number(process.hrtime.bigint() - start) / 1e9 });
      }
      // Downloads take a fraction of an upload's time, so each repetition
      // measures several, the two Workers taking turns back to back.
      for (let d = 0; d < DOWNLOADS_PER_UPLOAD; d++) {
        for (const t of d % 2 === 0 ? order : [...order].reverse()) {
          const start = process.hrtime.bigint();
          const { bytes } = await download(t, t.path(`bench/${t.name}-${sizeMiB}`), t.headers, false);
          if (bytes !== size) throw new Error(`${t.name}: downloaded ${bytes} of ${size} bytes`);
          results.push({ worker: t.name, size: sizeMiB, dir: "download", seconds: Number(process.hrtime.bigint() - start) / 1e9 });
        }
      }
    }
    for (const t of targets) {
      memory.push({ worker: t.name, size: sizeMiB, idle: t.idle, peak: status(t.workerd, "VmHWM") });
      await stopWorker(t);
    }
    fs.rmSync(file);
  }

  const name = (w) => (w === "strata" ? "Strata (Rust)" : "JS Worker");
  const rates = (worker, size, dir) =>
    results.filter((r) => r.worker === worker && r.size === size && r.dir === dir).map((r) => size / r.seconds);
  console.log(`\n${os.cpus().length} CPUs (${os.cpus()[0]?.model.trim()}), ${mb(os.totalmem())} MiB RAM, ` +
    `node ${process.version}, load average ${os.loadavg().map((l) => l.toFixed(1)).join(" ")}; ${reps} uploads and ${reps * DOWNLOADS_PER_UPLOAD} downloads each\n`);
  console.log("| size | direction | Strata MiB/s (median / best) | JS Worker MiB/s (median / best) | Strata / JS (median / best) |");
  console.log("|---|---|---|---|---|");
  for (const size of sizes) {
    for (const dir of ["upload", "download"]) {
      const s = rates("strata", size, dir);
      const j = rates("js", size, dir);
      const pct = (a, b) => `${((100 * a) / b).toFixed(0)}%`;
      console.log(`| ${size} MiB | ${dir} | ${median(s).toFixed(0)} / ${Math.max(...s).toFixed(0)} | ` +
        `${median(j).toFixed(0)} / ${Math.max(...j).toFixed(0)} | ${pct(median(s), median(j))} / ${pct(Math.max(...s), Math.max(...j))} |`);
    }
  }
  console.log("\n| workerd running the Worker | size | RSS after warm-up | peak RSS (VmHWM) over all transfers | growth |");
  console.log("|---|---|---|---|---|");
  for (const m of memory) {
    console.log(`| ${name(m.worker)} | ${m.size} MiB | ${mb(m.idle)} MiB | ${mb(m.peak)} MiB | +${mb(m.peak - m.idle)} MiB |`);
  }
  console.log("\nraw:", JSON.stringify({ results, memory }));
}

// The Worker launcher is shared with bench/s3.mjs, which imports this file.
// Shared with compare.mjs and s3.mjs: the launcher, its scratch directory
// and child processes (removed and stopped at exit), a free port.
export { children, freePort, snapshotStrata, startWorker, tmp, workerdUnder, writeRandomFile };

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().then(
    () => process.exit(0),
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
}

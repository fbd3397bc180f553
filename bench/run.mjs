#!/usr/bin/env node
// Object throughput and workerd memory: Strata's /v1/objects routes against
// a minimal JavaScript Worker doing the same R2 passthrough (bench/js-worker),
// in the same run, on the same local R2 (one --persist-to directory).
//
//   node bench/run.mjs [--sizes 16,256] [--reps 3]      (make bench)
//
// For every size (MiB) and repetition, each Worker uploads a file of random
// bytes (PUT with Content-Length, streamed from disk) and downloads it again
// (streamed to nowhere, bytes counted). The order of the two Workers
// alternates between repetitions. Reported: median throughput per Worker
// and direction, the ratio Strata / JS, and the peak resident memory
// (VmHWM) of each Worker's workerd process during each transfer — reset
// before every transfer through /proc/<pid>/clear_refs, so each figure is
// that transfer's own peak. Every download is checked against the upload's
// SHA-256 once, outside the timed runs.
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
const persist = path.join(tmp, "state");
const children = [];

function cleanup() {
  for (const child of children) {
    try {
      process.kill(-child.pid, "SIGTERM");
    } catch {}
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

async function startWorker(name, cwd, vars) {
  const port = await freePort();
  const inspector = await freePort();
  const args = ["dev", "--ip", "127.0.0.1", "--port", String(port), "--inspector-port", String(inspector),
    "--persist-to", persist, "--show-interactive-dev-session=false"];
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

/// The workerd process wrangler runs for a Worker (a descendant of it).
function workerdOf(wranglerPid) {
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
  for (const [pid, name] of comm) {
    if (name !== "workerd") continue;
    for (let p = parent.get(pid); p; p = parent.get(p)) {
      if (p === wranglerPid) return pid;
    }
  }
  throw new Error(`no workerd under wrangler ${wranglerPid}`);
}

function status(pid, field) {
  const line = fs.readFileSync(`/proc/${pid}/status`, "utf8").split("\n").find((l) => l.startsWith(`${field}:`));
  return Number(line.split(/\s+/)[1]) * 1024; // kB → bytes
}

/// Resets VmHWM to the current RSS, so the next reading is the peak since now.
function resetPeak(pid) {
  fs.writeFileSync(`/proc/${pid}/clear_refs`, "5");
}

function upload(worker, urlPath, headers, file, size) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port: worker.port, method: "PUT", path: urlPath,
      headers: { ...headers, "content-length": String(size), "content-type": "application/octet-stream" } }, (res) => {
      let body = "";
      res.on("data", (d) => (body += d));
      res.on("end", () => (res.statusCode === 200 || res.statusCode === 201
        ? resolve() : reject(new Error(`${worker.name} PUT ${res.statusCode}: ${body}`))));
    });
    req.on("error", reject);
    fs.createReadStream(file, { highWaterMark: MiB }).pipe(req);
  });
}

function download(worker, urlPath, headers, hash) {
  return new Promise((resolve, reject) => {
    http.get({ host: "127.0.0.1", port: worker.port, path: urlPath, headers }, (res) => {
      if (res.statusCode !== 200) return reject(new Error(`${worker.name} GET ${res.statusCode}`));
      let bytes = 0;
      const sha = hash ? crypto.createHash("sha256") : null;
      res.on("data", (d) => {
        bytes += d.length;
        sha?.update(d);
      });
      res.on("end", () => resolve({ bytes, sha256: sha?.digest("hex") }));
      res.on("error", reject);
    }).on("error", reject);
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

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const mb = (bytes) => (bytes / MiB).toFixed(1);

async function main() {
  const apiKey = crypto.randomBytes(24).toString("hex");
  const apiKeys = JSON.stringify({ bench: { sha256: crypto.createHash("sha256").update(apiKey).digest("hex"), scopes: ["admin"] } });
  console.error("starting both Workers on one local R2 state…");
  const strata = await startWorker("strata", root, { API_KEYS: apiKeys, SIGNING_SECRET: crypto.randomBytes(32).toString("hex") });
  const js = await startWorker("js", path.join(root, "bench/js-worker"), {});
  const targets = [
    { ...strata, path: (k) => `/v1/objects/${k}`, headers: { authorization: `Bearer ${apiKey}` } },
    { ...js, path: (k) => `/objects/${k}`, headers: {} },
  ];
  for (const t of targets) {
    t.workerd = workerdOf(t.wranglerPid);
    t.idleRss = status(t.workerd, "VmRSS");
  }

  const results = []; // {worker, size, dir, seconds, peak}
  for (const sizeMiB of sizes) {
    const size = sizeMiB * MiB;
    const file = path.join(tmp, `data-${sizeMiB}`);
    const expected = await writeRandomFile(file, size);
    for (const t of targets) {
      // Untimed round trip first: warms the isolate and checks the bytes.
      const key = `bench/${t.name}-${sizeMiB}-check`;
      await upload(t, t.path(key), t.headers, file, size);
      const { bytes, sha256 } = await download(t, t.path(key), t.headers, true);
      if (bytes !== size || sha256 !== expected) throw new Error(`${t.name}: download differs from upload`);
    }
    for (let rep = 0; rep < reps; rep++) {
      const order = rep % 2 === 0 ? targets : [...targets].reverse();
      for (const t of order) {
        const key = `bench/${t.name}-${sizeMiB}`;
        t.workerd = workerdOf(t.wranglerPid);
        resetPeak(t.workerd);
        let start = process.hrtime.bigint();
        await upload(t, t.path(key), t.headers, file, size);
        let seconds = Number(process.hrtime.bigint() - start) / 1e9;
        results.push({ worker: t.name, size: sizeMiB, dir: "upload", seconds, peak: status(t.workerd, "VmHWM") });
        resetPeak(t.workerd);
        start = process.hrtime.bigint();
        const { bytes } = await download(t, t.path(key), t.headers, false);
        seconds = Number(process.hrtime.bigint() - start) / 1e9;
        if (bytes !== size) throw new Error(`${t.name}: downloaded ${bytes} of ${size} bytes`);
        results.push({ worker: t.name, size: sizeMiB, dir: "download", seconds, peak: status(t.workerd, "VmHWM") });
      }
    }
    fs.rmSync(file);
  }

  const pick = (worker, size, dir) => results.filter((r) => r.worker === worker && r.size === size && r.dir === dir);
  console.log(`\n${os.cpus().length} CPUs (${os.cpus()[0]?.model.trim()}), ${mb(os.totalmem())} MiB RAM, node ${process.version}; ${reps} runs each, median\n`);
  console.log("| size | direction | Strata (Rust) MiB/s | JS Worker MiB/s | Strata / JS |");
  console.log("|---|---|---|---|---|");
  for (const size of sizes) {
    for (const dir of ["upload", "download"]) {
      const rate = (w) => size / median(pick(w, size, dir).map((r) => r.seconds));
      const s = rate("strata");
      const j = rate("js");
      console.log(`| ${size} MiB | ${dir} | ${s.toFixed(0)} | ${j.toFixed(0)} | ${((100 * s) / j).toFixed(0)}% |`);
    }
  }
  console.log("\n| workerd peak RSS (VmHWM) | idle | " + sizes.flatMap((s) => [`${s} MiB up`, `${s} MiB down`]).join(" | ") + " |");
  console.log("|---|---|" + sizes.map(() => "---|---|").join(""));
  for (const t of targets) {
    const cells = sizes.flatMap((s) => ["upload", "download"].map((d) => `${mb(Math.max(...pick(t.name, s, d).map((r) => r.peak)))} MiB`));
    console.log(`| ${t.name === "strata" ? "Strata (Rust)" : "JS Worker"} | ${mb(t.idleRss)} MiB | ${cells.join(" | ")} |`);
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

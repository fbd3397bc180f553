#!/usr/bin/env node
// Where does a re-streamed upload's time go under the local runtime?
// (BENCHMARKS.md, "S3 API against the objects routes".) The minimal JS
// Worker (bench/js-worker) under `wrangler dev` with local R2, the same
// launcher as bench/s3.mjs, takes one file of random bytes by each of its
// upload paths in rotating order:
//
//   objects            request.body straight to R2 put()
//   objects-fixed      request.body → FixedLengthStream → put()
//   objects-transform  … through an identity TransformStream
//   objects-writer     reader → awaited writes into the FixedLengthStream
//   objects-pull       a new pull-based ReadableStream → FixedLengthStream
//   objects-response   new Response(request.body).body → put()
//   objects-buffer     arrayBuffer() → put()
//   drain              the body read and dropped (no R2)
//
//   node bench/s3-stream.mjs   STRATA_BENCH_STREAM_MIB (default 64)
//                              STRATA_BENCH_STREAM_REPS (default 3)
//                              STRATA_BENCH_STREAM_WAYS (comma-separated subset)
//
// Printed: a Markdown table of MiB/s (median, best) per way, and the chunk
// sizes the Worker's reader saw on `drain`.
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startWorker, tmp, writeRandomFile } from './run.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const MiB = 1024 * 1024;
const sizeMiB = Number(process.env.STRATA_BENCH_STREAM_MIB ?? 64);
const reps = Number(process.env.STRATA_BENCH_STREAM_REPS ?? 3);
const all = ['objects', 'objects-fixed', 'objects-transform', 'objects-writer', 'objects-pull', 'objects-response', 'objects-buffer', 'drain'];
const names = process.env.STRATA_BENCH_STREAM_WAYS ? process.env.STRATA_BENCH_STREAM_WAYS.split(',') : all;
const size = sizeMiB * MiB;

const js = await startWorker('js', path.join(root, 'bench/js-worker'), {});
const base = `http://127.0.0.1:${js.port}`;

function putFile(url, file) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'PUT', agent: false, timeout: 600_000, headers: { 'content-length': String(size) } }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => (res.statusCode < 300 ? resolve(body) : reject(new Error(`PUT ${url} ${res.statusCode}: ${body}`))));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('PUT stalled')));
    fs.createReadStream(file, { highWaterMark: MiB }).pipe(req);
  });
}

const file = path.join(tmp, `data-${sizeMiB}`);
await writeRandomFile(file, size);
const speeds = Object.fromEntries(names.map((w) => [w, []]));
let chunking = null;
for (let rep = 0; rep < reps; rep++) {
  for (let i = 0; i < names.length; i++) {
    const way = names[(i + rep) % names.length];
    const url = way === 'drain' ? `${base}/drain` : `${base}/${way}/bench/stream-${way}`;
    const started = process.hrtime.bigint();
    const body = await putFile(url, file);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    if (way === 'drain') {
      chunking = JSON.parse(body);
      if (chunking.bytes !== size) throw new Error(`drain saw ${chunking.bytes} bytes, expected ${size}`);
    }
    speeds[way].push(sizeMiB / seconds);
    console.error(`${way}: ${seconds.toFixed(2)} s`);
  }
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(`| way (${sizeMiB} MiB PUT, JS Worker) | MiB/s median | MiB/s best | transfers |`);
console.log('|---|---|---|---|');
for (const way of names) console.log(`| ${way} | ${median(speeds[way]).toFixed(1)} | ${Math.max(...speeds[way]).toFixed(1)} | ${reps} |`);
if (chunking) console.log(`\ndrain: ${chunking.chunks} chunks for ${chunking.bytes} bytes; most common sizes [bytes, count]: ${JSON.stringify(chunking.common)}`);
console.log(`\n${os.cpus().length} CPUs, node ${process.version}, load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
process.exit(0);

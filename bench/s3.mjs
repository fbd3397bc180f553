#!/usr/bin/env node
// /s3 against /v1/objects: PutObject and GetObject of the same file through
// both surfaces of one Strata, in the same run (make bench-s3). Strata runs
// from a snapshot of build/ under its own `wrangler dev` with local R2,
// started by bench/run.mjs's launcher (so a rebuild of build/ by other work
// cannot restart workerd mid-measurement).
//
//   node bench/s3.mjs      STRATA_BENCH_S3_SIZES  MiB, comma-separated (default 1,256)
//                          STRATA_BENCH_S3_REPS   transfers per size and way
//                                                 (default: 20 for <= 16 MiB, else 3)
//                          STRATA_BENCH_S3_WAYS   a ;-separated subset of the
//                                                 ways' names (default: all)
//                          STRATA_BENCH_S3_BUILD  serve this build directory
//                                                 instead of build/ (a before/after)
//
// Per size, a file of random bytes is moved, the ways taking turns in
// rotating order so load on the machine falls on all alike:
//
// * objects PUT / GET  — `PUT /v1/objects/{key}` streamed from disk with
//   Content-Length and an API key; `GET` streamed and counted.
// * S3 PutObject (SDK default) — @aws-sdk/client-s3 at its defaults with a
//   file stream: aws-chunked with a CRC32 trailer, so the body passes
//   through the Worker (framing removed, CRC computed) on its way to R2.
// * S3 PutObject (signed SHA-256) — the SDK with
//   requestChecksumCalculation "WHEN_REQUIRED" and a Buffer: a hex SHA-256
//   signed over http, no chunk framing; it passes through the Worker too.
// * S3 presigned PUT — a presigned URL (UNSIGNED-PAYLOAD), streamed from
//   disk: the body goes to R2 untouched, like the objects route.
// * S3 GetObject (SDK) — streamed and counted.
//
// The first download of each way is checked against the file's SHA-256.
// Printed: a Markdown table of MiB/s (median and best) per way and size.
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { S3Client, PutObjectCommand, GetObjectCommand } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { snapshotStrata, startWorker, writeRandomFile } from './run.mjs';

const sizes = (process.env.STRATA_BENCH_S3_SIZES ?? '1,256').split(',').map(Number);
const MiB = 1024 * 1024;
// A transfer that moves nothing for this long is given up and made once
// more (local R2 occasionally stalls a read right after a large write).
const STALL_MS = 60_000;
const Bucket = 'strata';
const apiKey = crypto.randomBytes(24).toString('hex');
const s3Secret = crypto.randomBytes(24).toString('hex');
const served = snapshotStrata();
if (process.env.STRATA_BENCH_S3_BUILD) {
  fs.rmSync(path.join(served, 'build'), { recursive: true });
  fs.cpSync(process.env.STRATA_BENCH_S3_BUILD, path.join(served, 'build'), { recursive: true });
}
const strata = await startWorker('strata', served, {
  API_KEYS: JSON.stringify({ bench: { sha256: crypto.createHash('sha256').update(apiKey).digest('hex'), scopes: ['admin'] } }),
  S3_CREDENTIALS: JSON.stringify({ BENCH: { secret: s3Secret, scopes: ['objects:read', 'objects:write'] } }),
  SIGNING_SECRET: crypto.randomBytes(32).toString('hex'),
});
const base = `http://127.0.0.1:${strata.port}`;
// The SDK asks for `Expect: 100-continue` on a PutObject of more than 2 MB
// and holds the body back until the server answers `100 Continue`, or for
// max(6 s, requestTimeout) — here 60 s. wrangler dev's local runtime never
// answers it (bench/s3-stream.mjs, BENCHMARKS.md), so every large upload
// waited out the full timeout before its first byte. The header is taken
// off so the transfer, not that wait, is timed (STRATA_BENCH_S3_EXPECT=1
// keeps it, to see the wait).
function s3Client(extra = {}) {
  const client = new S3Client({
    region: 'auto', endpoint: `${base}/s3`, credentials: { accessKeyId: 'BENCH', secretAccessKey: s3Secret },
    requestHandler: { requestTimeout: STALL_MS }, ...extra,
  });
  if (!process.env.STRATA_BENCH_S3_EXPECT) {
    client.middlewareStack.add((next) => (args) => {
      delete args.request.headers.Expect;
      delete args.request.headers.expect;
      return next(args);
    }, { step: 'finalizeRequest', priority: 'low', name: 'benchNoExpectContinue' });
  }
  return client;
}
const s3 = s3Client();
const s3Sha256 = s3Client({ requestChecksumCalculation: 'WHEN_REQUIRED' });
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-bench-s3-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

// A PUT of the file to `url`, streamed from disk with its length.
function putFile(url, headers, file, size) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'PUT', agent: false, timeout: STALL_MS, headers: { ...headers, 'content-length': String(size) } }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => (res.statusCode < 300 ? resolve() : reject(new Error(`PUT ${res.statusCode}: ${body}`))));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('PUT stalled')));
    fs.createReadStream(file, { highWaterMark: MiB }).pipe(req);
  });
}

// Counts (and hashes) a download stream.
async function drain(stream) {
  const sha = crypto.createHash('sha256');
  let bytes = 0;
  for await (const chunk of stream) {
    bytes += chunk.length;
    sha.update(chunk);
  }
  return { bytes, sha256: sha.digest('hex') };
}

function getUrl(url, headers) {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, headers, timeout: STALL_MS }, (res) => {
      if (res.statusCode !== 200) return reject(new Error(`GET ${res.statusCode}`));
      drain(res).then(resolve, reject);
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('GET stalled')));
  });
}

const auth = { authorization: `Bearer ${apiKey}` };
const ways = {
  'objects PUT': (key, file, size) => putFile(`${base}/v1/objects/${key}`, auth, file, size),
  'S3 PutObject (SDK default: aws-chunked, CRC32 trailer)': (key, file, size) => s3.send(new PutObjectCommand({
    Bucket, Key: key, Body: fs.createReadStream(file, { highWaterMark: MiB }), ContentLength: size,
  })),
  'S3 PutObject (signed SHA-256, no checksum)': (key, file, size) => s3Sha256.send(new PutObjectCommand({
    Bucket, Key: key, Body: fs.readFileSync(file), ContentLength: size,
  })),
  'S3 presigned PUT (UNSIGNED-PAYLOAD)': async (key, file, size) => putFile(
    await getSignedUrl(s3, new PutObjectCommand({ Bucket, Key: key }), { expiresIn: 3600 }), {}, file, size),
  'objects GET': (key) => getUrl(`${base}/v1/objects/${key}`, auth),
  'S3 GetObject (SDK)': async (key) => drain((await s3.send(new GetObjectCommand({ Bucket, Key: key }))).Body),
};

let retried = 0;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const rows = [];
for (const sizeMiB of sizes) {
  const size = sizeMiB * MiB;
  const reps = Number(process.env.STRATA_BENCH_S3_REPS ?? (sizeMiB <= 16 ? 20 : 3));
  const file = path.join(tmp, `data-${sizeMiB}`);
  const expected = await writeRandomFile(file, size);
  const key = `bench/s3-${sizeMiB}mib`;
  const speeds = Object.fromEntries(Object.keys(ways).map((w) => [w, []]));
  const names = process.env.STRATA_BENCH_S3_WAYS
    ? process.env.STRATA_BENCH_S3_WAYS.split(';').map((w) => w.trim())
    : Object.keys(ways);
  for (const w of names) if (!ways[w]) throw new Error(`no way named ${w}`);
  const checked = new Set();
  for (let rep = 0; rep < reps; rep++) {
    // Rotate the order every round.
    for (let i = 0; i < names.length; i++) {
      const way = names[(i + rep) % names.length];
      // Every way moves the same key; a GET reads what the last PUT wrote
      // (the same file's bytes, whichever way wrote them).
      let started = process.hrtime.bigint();
      let got;
      try {
        got = await ways[way](key, file, size);
      } catch (e) {
        // wrangler dev's proxy answers a 503 of its own when workerd restarts
        // under it (a rebuild of build/ by other work on the machine): that
        // transfer is not timed, it is said, and made once more.
        console.error(`${sizeMiB} MiB ${way}: ${e.message.split('\n')[0]} (status ${e.$metadata?.httpStatusCode ?? '?'}); once more`);
        retried += 1;
        started = process.hrtime.bigint();
        got = await ways[way](key, file, size);
      }
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      if (got?.bytes !== undefined) {
        if (got.bytes !== size) throw new Error(`${way}: ${got.bytes} bytes, expected ${size}`);
        if (!checked.has(way)) {
          if (got.sha256 !== expected) throw new Error(`${way}: the download differs from the file`);
          checked.add(way);
        }
      }
      speeds[way].push(size / MiB / seconds);
      if (sizeMiB > 16) console.error(`${sizeMiB} MiB ${way}: ${seconds.toFixed(1)} s`);
    }
    console.error(`${sizeMiB} MiB: round ${rep + 1}/${reps}`);
  }
  for (const way of names) {
    rows.push(`| ${sizeMiB} MiB | ${way} | ${median(speeds[way]).toFixed(1)} | ${Math.max(...speeds[way]).toFixed(1)} | ${reps} |`);
  }
}
console.log('| size | way | MiB/s median | MiB/s best | transfers |');
console.log('|---|---|---|---|---|');
for (const r of rows) console.log(r);
console.log(`\n${os.cpus().length} CPUs, node ${process.version}, load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
console.log(`\ntransfers made once more after a failure: ${retried}`);
process.exit(0);

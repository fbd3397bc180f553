// What an application sees through the official driver over WebSocket: `Client` set-up
// (connect + first query) and `query('select 1')` round trips, against a running neon-local.
//
//   node crates/neon-local/examples/driver_bench.mjs READY_FILE [SESSIONS QUERIES]
//
// READY_FILE holds neon-local's ready line (e.g. .strata/neon-local.ready under `make dev`).
// The protocol-level comparison with direct TCP is ws_bench.rs next to this file.

import { readFileSync } from 'node:fs';
import { Client, neonConfig } from '@neondatabase/serverless';
import ws from 'ws';

const [readyFile, sessions = '200', queries = '2000'] = process.argv.slice(2);
const ready = JSON.parse(readFileSync(readyFile, 'utf8').split('\n')[0]);
neonConfig.webSocketConstructor = ws;
neonConfig.wsProxy = ready.ws_proxy;
neonConfig.useSecureWebSocket = false;

function summary(samples) {
  samples.sort((a, b) => a - b);
  const at = (q) => samples[Math.round((samples.length - 1) * q)].toFixed(3);
  const mean = (samples.reduce((a, b) => a + b, 0) / samples.length).toFixed(3);
  return `median ${at(0.5)} ms, p90 ${at(0.9)} ms, mean ${mean} ms (n = ${samples.length})`;
}

async function open() {
  const client = new Client(ready.database_url);
  await client.connect();
  await client.query('select 1');
  return client;
}

for (let i = 0; i < 10; i++) await (await open()).end(); // warm-up
const setup = [];
for (let i = 0; i < Number(sessions); i++) {
  const started = performance.now();
  const client = await open();
  setup.push(performance.now() - started);
  await client.end();
}
const client = await open();
const rtt = [];
for (let i = 0; i < Number(queries); i++) {
  const started = performance.now();
  await client.query('select 1');
  rtt.push(performance.now() - started);
}
await client.end();
console.log(`driver Client set-up (connect + select 1): ${summary(setup)}`);
console.log(`driver query('select 1') round trip:       ${summary(rtt)}`);

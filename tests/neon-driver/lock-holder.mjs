// A client for websocket.test.mjs to kill: connects over WebSocket, opens a transaction, locks
// a row and prints {"pid":N} on stdout; then waits idle (`idle`) or runs a long statement
// (`busy`) until it is killed. Not a test file itself.
//
// Usage: node lock-holder.mjs WS_PROXY DATABASE_URL TABLE idle|busy

import { Client, neonConfig } from '@neondatabase/serverless';
import ws from 'ws';

const [wsProxy, databaseUrl, table, mode] = process.argv.slice(2);
neonConfig.webSocketConstructor = ws;
neonConfig.wsProxy = wsProxy;
neonConfig.useSecureWebSocket = false;

const client = new Client(databaseUrl);
await client.connect();
await client.query('BEGIN');
await client.query(`select id from ${table} where id = 1 for update`);
process.stdout.write(`${JSON.stringify({ pid: client.processID })}\n`);
if (mode === 'busy') await client.query('select pg_sleep(600)');
setInterval(() => {}, 60_000); // idle: keep the process (and its transaction) alive

// The official Neon driver's Pool and Client (Neon's WebSocket protocol, with `ws` as in Node)
// against neon-local: sessions, interactive transactions, concurrency, a killed client, cancels,
// LISTEN/NOTIFY, a large result under backpressure, and the endpoint's limits.
//
// Every "checked from another session" goes through SQL over HTTP (`neon()`), a different
// PostgreSQL session from any WebSocket one. Run from the repo root: `node --test
// tests/neon-driver/` (after `cargo build -p neon-local`).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import path from 'node:path';

import { Client, Pool, neon, neonConfig } from '@neondatabase/serverless';
import ws from 'ws';

import { repoRoot, startEndpoint } from './endpoint.mjs';

// The lines `make dev` prints: all an application needs to reach the local endpoint.
neonConfig.webSocketConstructor = ws;
neonConfig.useSecureWebSocket = false;
// neonConfig.wsProxy = ready.ws_proxy, set in `before` once the port is known.

let endpoint;
let ready;
/** SQL over HTTP: the observer session. */
let sql;

before(async () => {
  endpoint = await startEndpoint();
  ready = endpoint.ready;
  // A string: the driver appends ?address=host:port of the connection string, which the
  // endpoint checks against its database.
  neonConfig.wsProxy = ready.ws_proxy;
  neonConfig.fetchEndpoint = () => ready.sql_url;
  sql = neon(ready.database_url);
});

after(async () => {
  await endpoint?.stop();
});

/**
 * A connected Client whose login is through; `configure(client)` runs before connecting.
 *
 * With the default `pipelineConnect: "password"`, `connect()` resolves before the server has
 * answered at all (start-up, password and first query are sent together), so a login error
 * and the backend's `processID` arrive with the first query: one round trip here.
 */
async function connectClient(url = ready.database_url, configure = () => {}) {
  const client = new Client(url);
  configure(client);
  // Errors also reject the pending query; without a listener an 'error' event would throw.
  client.on('error', () => {});
  await client.connect();
  await client.query('select');
  return client;
}

/** Expects `promise` to reject; returns the error. */
async function rejection(promise) {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  assert.fail('expected a failure');
}

/** Polls `check` until it returns something truthy; fails after `ms`. */
async function waitFor(what, check, ms = 10_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Resolves with the first `event` emitted by `emitter`, or rejects after `ms`. */
function nextEvent(emitter, event, ms = 10_000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${event} event within ${ms} ms`)), ms);
    emitter.once(event, (value) => {
      clearTimeout(timer);
      resolve(value);
    });
  });
}

/** The backend's row in pg_stat_activity, seen from another session (undefined when gone). */
async function backend(pid) {
  const [row] = await sql`select state, wait_event from pg_stat_activity where pid = ${pid}`;
  return row;
}

describe('Pool and Client over WebSocket', { timeout: 60_000 }, () => {
  test('the application module: a Pool from a connection string, query(text, params)', async () => {
    // What an application written for Neon contains, unchanged; only the neonConfig lines
    // at the top of this file are local.
    const pool = new Pool({ connectionString: ready.database_url });
    const query = (text, params) => pool.query(text, params);
    try {
      const { rows } = await query('select $1::int + 1 as n, $2::text as s', [41, 'x']);
      assert.deepEqual(rows, [{ n: 42, s: 'x' }]);
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const { rows: inTx } = await client.query('select count(*)::int as n from pg_class where relname = $1', ['pg_class']);
        assert.deepEqual(inTx, [{ n: 1 }]);
        await client.query('COMMIT');
      } finally {
        client.release();
      }
    } finally {
      await pool.end();
    }
  });

  test('parameters and types round-trip', async () => {
    const pool = new Pool({ connectionString: ready.database_url });
    try {
      const text = `it's "quoted", a\\b, ünïcödé, {braces}`;
      const value = { a: [1, 'x', null], b: { c: true } };
      const when = new Date('2024-02-29T12:34:56.789Z');
      const id = 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11';
      const bytes = Buffer.from([0, 1, 2, 127, 128, 255]);
      const words = ['a,b', 'q"uote', 'back\\slash', null, 'NULL', ''];
      const { rows: [row], fields } = await pool.query(
        `select $1::int4 as i, $2::int8 as big, $3::numeric as n, $4::text as t, $5::bool as yes,
                $6::text as nothing, $7::jsonb as jb, $8::int[] as ints, $9::text[] as words,
                $10::bytea as b, $11::timestamptz as at, $12::uuid as id, 1.5::float8 as f`,
        [42, '9007199254740993', '12345.678900', text, true, null, value, [1, 2, 3], words, bytes, when, id],
      );
      assert.equal(row.i, 42);
      assert.equal(row.big, '9007199254740993', 'int8 stays a string');
      assert.equal(row.n, '12345.678900');
      assert.equal(row.t, text);
      assert.equal(row.yes, true);
      assert.equal(row.nothing, null);
      assert.deepEqual(row.jb, value);
      assert.deepEqual(row.ints, [1, 2, 3]);
      assert.deepEqual(row.words, words);
      assert.deepEqual([...row.b], [...bytes]);
      assert.equal(row.at.toISOString(), when.toISOString());
      assert.equal(row.id, id);
      assert.equal(row.f, 1.5);
      assert.deepEqual(fields.map((f) => f.dataTypeID), [23, 20, 1700, 25, 16, 25, 3802, 1007, 1009, 17, 1184, 2950, 701]);
    } finally {
      await pool.end();
    }
  });

  test('a SQL error keeps its fields, and the session goes on', async () => {
    const client = await connectClient();
    try {
      const err = await rejection(client.query('selec 1'));
      assert.equal(err.code, '42601');
      assert.equal(err.position, '1');
      assert.deepEqual((await client.query('select 1 as one')).rows, [{ one: 1 }]);
    } finally {
      await client.end();
    }
  });

  for (const pipelineConnect of ['password', false]) {
    test(`login with pipelineConnect: ${JSON.stringify(pipelineConnect)}; a wrong password is 28P01`, async () => {
      const configure = (client) => {
        client.neonConfig.pipelineConnect = pipelineConnect;
      };
      const client = await connectClient(ready.database_url, configure);
      try {
        const { rows } = await client.query('select current_user as u, current_setting($1) as app', ['application_name']);
        assert.equal(rows[0].u, new URL(ready.database_url).username);
        assert.match(rows[0].app, /neondatabase/, 'the start-up parameters reach Postgres');
      } finally {
        await client.end();
      }
      const wrong = new URL(ready.database_url);
      wrong.password = 'definitely-wrong';
      const err = await rejection(connectClient(wrong.toString(), configure));
      assert.equal(err.code, '28P01');
    });
  }
});

describe('interactive transactions', { timeout: 60_000 }, () => {
  before(async () => {
    await sql`create table if not exists ws_tx (id int primary key, note text)`;
  });

  test('BEGIN … COMMIT: invisible to others until committed', async () => {
    const client = await connectClient();
    try {
      await client.query('BEGIN');
      await client.query('insert into ws_tx values ($1, $2)', [1, 'committed']);
      assert.equal((await client.query('select count(*)::int as n from ws_tx where id = 1')).rows[0].n, 1);
      assert.deepEqual(await sql`select id from ws_tx where id = 1`, [], 'not visible before COMMIT');
      await client.query('COMMIT');
      assert.deepEqual(await sql`select note from ws_tx where id = 1`, [{ note: 'committed' }]);
    } finally {
      await client.end();
    }
  });

  test('ROLLBACK discards', async () => {
    const client = await connectClient();
    try {
      await client.query('BEGIN');
      await client.query('insert into ws_tx values (2, $1)', ['rolled back']);
      await client.query('ROLLBACK');
      assert.deepEqual(await sql`select id from ws_tx where id = 2`, []);
    } finally {
      await client.end();
    }
  });

  test('an error mid-transaction, then ROLLBACK; the session is usable after', async () => {
    const client = await connectClient();
    try {
      await client.query('BEGIN');
      await client.query('insert into ws_tx values (3, $1)', ['before the error']);
      const err = await rejection(client.query('insert into ws_tx values (3, $1)', ['duplicate']));
      assert.equal(err.code, '23505');
      const aborted = await rejection(client.query('select 1'));
      assert.equal(aborted.code, '25P02', 'the transaction is aborted until ROLLBACK');
      await client.query('ROLLBACK');
      assert.deepEqual(await sql`select id from ws_tx where id = 3`, [], 'the first insert is gone too');
      assert.deepEqual((await client.query('select 1 as one')).rows, [{ one: 1 }]);
    } finally {
      await client.end();
    }
  });

  test('20 concurrent clients, each in its own transaction, do not interfere', async () => {
    await sql`create table if not exists ws_concurrent (client int, n int)`;
    await sql`truncate ws_concurrent`;
    const clients = await Promise.all(Array.from({ length: 20 }, () => connectClient()));
    try {
      const pids = clients.map((c) => c.processID);
      assert.equal(new Set(pids).size, 20, 'one backend each');
      await Promise.all(clients.map((c) => c.query('BEGIN')));
      await Promise.all(
        clients.map((c, i) => c.query('insert into ws_concurrent select $1, g from generate_series(1, $2) g', [i, i + 1])),
      );
      // All 20 transactions are open at the same time.
      const [{ open }] = await sql`select count(*)::int as open from pg_stat_activity
                                   where pid = any(${pids}) and state = 'idle in transaction'`;
      assert.equal(open, 20);
      // Each sees its own rows and nobody else's uncommitted ones.
      const seen = await Promise.all(
        clients.map((c) => c.query('select client, count(*)::int as n from ws_concurrent group by client')),
      );
      seen.forEach(({ rows }, i) => assert.deepEqual(rows, [{ client: i, n: i + 1 }], `client ${i}`));
      assert.deepEqual(await sql`select count(*)::int as n from ws_concurrent`, [{ n: 0 }]);
      // Even ones commit, odd ones roll back.
      await Promise.all(clients.map((c, i) => c.query(i % 2 === 0 ? 'COMMIT' : 'ROLLBACK')));
      const rows = await sql`select client, count(*)::int as n from ws_concurrent group by client order by client`;
      assert.deepEqual(
        rows,
        Array.from({ length: 10 }, (_, k) => ({ client: 2 * k, n: 2 * k + 1 })),
      );
    } finally {
      await Promise.all(clients.map((c) => c.end()));
    }
  });
});

describe('a killed client, a cancelled statement', { timeout: 60_000 }, () => {
  before(async () => {
    await sql`create table if not exists ws_locks (id int primary key)`;
    await sql`insert into ws_locks values (1) on conflict do nothing`;
  });

  /** Starts lock-holder.mjs; resolves with the child and its backend's pid once it holds the lock. */
  async function lockHolder(mode) {
    const script = path.join(repoRoot, 'tests', 'neon-driver', 'lock-holder.mjs');
    const child = spawn(process.execPath, [script, ready.ws_proxy, ready.database_url, 'ws_locks', mode], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const line = await nextEvent(createInterface({ input: child.stdout }), 'line', 20_000);
    return { child, pid: JSON.parse(line).pid };
  }

  /** Whether another session can lock the row now (NOWAIT: 55P03 when someone holds it). */
  async function rowIsFree() {
    try {
      await sql.transaction([sql`select id from ws_locks where id = 1 for update nowait`]);
      return true;
    } catch (err) {
      if (err.code === '55P03') return false;
      throw err;
    }
  }

  for (const mode of ['idle', 'busy']) {
    test(`killed while ${mode === 'idle' ? 'idle in' : 'running a statement in'} a transaction: its backend ends, its locks are released`, async () => {
      const { child, pid } = await lockHolder(mode);
      assert.equal(await rowIsFree(), false, 'the row is locked while the client lives');
      if (mode === 'busy') {
        await waitFor('the statement to run', async () => (await backend(pid))?.state === 'active');
      }
      const killedAt = Date.now();
      child.kill('SIGKILL');
      await waitFor('the backend to end', async () => (await backend(pid)) === undefined, 5_000);
      await waitFor('the lock to be released', rowIsFree, 5_000);
      assert.ok(Date.now() - killedAt < 5_000);
    });
  }

  test('pg_cancel_backend from another session: 57014, and the session goes on', async () => {
    const client = await connectClient();
    try {
      const running = rejection(client.query('select pg_sleep(30)'));
      await waitFor('the statement to run', async () => (await backend(client.processID))?.state === 'active');
      await sql`select pg_cancel_backend(${client.processID})`;
      const err = await running;
      assert.equal(err.code, '57014');
      assert.deepEqual((await client.query('select 1 as one')).rows, [{ one: 1 }]);
    } finally {
      await client.end();
    }
  });

  test("the driver's own cancel (a CancelRequest over a new WebSocket): 57014", async () => {
    const client = await connectClient();
    try {
      const running = rejection(client.query('select pg_sleep(30)'));
      await waitFor('the statement to run', async () => (await backend(client.processID))?.state === 'active');
      new Client(ready.database_url).cancel(client, client.activeQuery);
      const err = await running;
      assert.equal(err.code, '57014');
      assert.deepEqual((await client.query('select 2 as two')).rows, [{ two: 2 }]);
    } finally {
      await client.end();
    }
  });
});

describe('LISTEN/NOTIFY and a large result', { timeout: 120_000 }, () => {
  test('LISTEN/NOTIFY between two clients', async () => {
    const listener = await connectClient();
    const notifier = await connectClient();
    try {
      await listener.query('LISTEN ws_channel');
      const first = nextEvent(listener, 'notification');
      await notifier.query('select pg_notify($1, $2)', ['ws_channel', 'hello ünïcödé']);
      const message = await first;
      assert.equal(message.channel, 'ws_channel');
      assert.equal(message.payload, 'hello ünïcödé');
      assert.equal(message.processId, notifier.processID);
      // Delivered while the listener sits idle, and only on commit.
      await notifier.query('BEGIN');
      await notifier.query("NOTIFY ws_channel, 'on commit'");
      const second = nextEvent(listener, 'notification');
      await notifier.query('COMMIT');
      assert.equal((await second).payload, 'on commit');
    } finally {
      await Promise.all([listener.end(), notifier.end()]);
    }
  });

  test('100 000 rows stream through; a client that stops reading stops the server, not fills the endpoint', async () => {
    const client = await connectClient();
    try {
      const socket = client.connection.stream.ws; // the `ws` WebSocket under the driver
      const rssBefore = endpoint.rssBytes();
      socket.pause();
      // ~100 MB of rows: more than all the socket buffers on the way can hold.
      const result = client.query(`select g, repeat('x', 1000) as pad from generate_series(1, 100000) g`);
      await waitFor(
        'the backend to wait for its client',
        async () => (await backend(client.processID))?.wait_event === 'ClientWrite',
        20_000,
      );
      // Give a buffering endpoint time to show it.
      await new Promise((resolve) => setTimeout(resolve, 500));
      const grew = endpoint.rssBytes() - rssBefore;
      assert.equal((await backend(client.processID))?.wait_event, 'ClientWrite', 'still blocked');
      assert.ok(grew < 16 * 1024 * 1024, `the endpoint grew by ${(grew / 1048576).toFixed(1)} MiB while the client paused`);
      socket.resume();
      const { rows } = await result;
      assert.equal(rows.length, 100_000);
      assert.deepEqual(rows[0], { g: 1, pad: 'x'.repeat(1000) });
      assert.equal(rows[99_999].g, 100_000);
    } finally {
      await client.end();
    }
  });
});

describe('limits, the address check, idle timeout and shutdown', { timeout: 60_000 }, () => {
  /** A second endpoint over the same database (no cluster of its own: starts in milliseconds). */
  async function extraEndpoint(args) {
    return startEndpoint(['--upstream', ready.database_url, ...args]);
  }

  /** Points a client at `other` instead of the main endpoint. */
  const via = (other) => (client) => {
    client.neonConfig.wsProxy = other.ready.ws_proxy;
  };

  test('an address other than the local database is refused (08004), never contacted', async () => {
    for (const elsewhere of ['127.0.0.1:1', 'db.example.com:5432']) {
      const url = new URL(ready.database_url);
      [url.hostname, url.port] = elsewhere.split(':');
      const err = await rejection(connectClient(url.toString()));
      assert.equal(err.code, '08004', elsewhere);
      assert.match(err.message, /not this endpoint's database/);
    }
    // localhost reaches the same loopback server.
    const url = new URL(ready.database_url);
    url.hostname = 'localhost';
    const client = await connectClient(url.toString());
    await client.end();
  });

  test('sessions are bounded: one more gets 53300 at once, and a place frees when one ends', async () => {
    const small = await extraEndpoint(['--ws-max-sessions', '2']);
    try {
      const a = await connectClient(ready.database_url, via(small));
      const b = await connectClient(ready.database_url, via(small));
      const err = await rejection(connectClient(ready.database_url, via(small)));
      assert.equal(err.code, '53300');
      assert.match(err.message, /too many WebSocket sessions.*--ws-max-sessions/);
      await a.end();
      const c = await waitFor('a free place', () => connectClient(ready.database_url, via(small)).catch(() => null));
      await Promise.all([b.end(), c.end()]);
    } finally {
      await small.stop();
    }
  });

  test('an idle session is closed and its backend ended', async () => {
    const impatient = await extraEndpoint(['--ws-idle-timeout', '1']);
    try {
      const client = await connectClient(ready.database_url, via(impatient));
      const pid = client.processID;
      await client.query('BEGIN');
      await nextEvent(client, 'end', 5_000);
      await waitFor('the backend to end', async () => (await backend(pid)) === undefined, 5_000);
      assert.equal((await rejection(client.query('select 1'))).message.length > 0, true);
    } finally {
      await impatient.stop();
    }
  });

  test('shutdown: a client mid-statement sees a closed connection at once, its backend ends', async () => {
    const doomed = await extraEndpoint([]);
    const client = await connectClient(ready.database_url, via(doomed));
    const pid = client.processID;
    const running = rejection(client.query('select pg_sleep(30)'));
    await waitFor('the statement to run', async () => (await backend(pid))?.state === 'active');
    const stoppedAt = Date.now();
    await doomed.stop();
    const err = await running;
    assert.match(err.message, /terminated|closed|ended/i);
    assert.ok(Date.now() - stoppedAt < 5_000, 'no hang');
    await waitFor('the backend to end', async () => (await backend(pid)) === undefined, 5_000);
  });
});

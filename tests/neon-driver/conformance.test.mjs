// The official Neon driver (@neondatabase/serverless, HTTP mode) against our local endpoint.
//
// If neon-local speaks Neon's SQL-over-HTTP protocol faithfully, the driver runs queries,
// transactions and gets structured errors from it exactly as from Neon. The endpoint binary is
// started here and stopped in `after` (also when tests fail).
//
// Run from the repo root: `node --test tests/neon-driver/` (after `cargo build -p neon-local`);
// see endpoint.mjs for which binary. The WebSocket side (Pool, Client) is websocket.test.mjs.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { neon, neonConfig } from '@neondatabase/serverless';

import { startEndpoint } from './endpoint.mjs';

let endpoint; // see endpoint.mjs
let ready; // its ready line: { sql_url, database_url, pg_port }

let sql;

before(async () => {
  endpoint = await startEndpoint();
  ready = endpoint.ready;
  neonConfig.fetchEndpoint = () => ready.sql_url;
  sql = neon(ready.database_url);
});

after(async () => {
  await endpoint?.stop();
});

/** Expects `promise` to reject; returns the error. */
async function rejection(promise) {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  assert.fail('expected the query to fail');
}

describe('parameters round-trip with the driver\'s type parsing', () => {
  test('int4, int8, numeric', async () => {
    const [row] = await sql`select ${42}::int4 as i, ${'9007199254740993'}::int8 as big, ${'12345.678900'}::numeric as n`;
    assert.equal(row.i, 42);
    assert.equal(row.big, '9007199254740993', 'int8 stays a string: no precision lost');
    assert.equal(row.n, '12345.678900');
  });

  test('text, bool, NULL', async () => {
    const text = `it's "quoted", a\\b, ünïcödé, {braces}`;
    const [row] = await sql`select ${text}::text as t, ${true}::bool as yes, ${false}::bool as no, ${null}::text as nothing`;
    assert.equal(row.t, text);
    assert.equal(row.yes, true);
    assert.equal(row.no, false);
    assert.equal(row.nothing, null);
  });

  test('json and jsonb', async () => {
    const value = { a: [1, 'x', null], b: { c: true }, s: 'q"uote' };
    const [row] = await sql`select ${value}::json as j, ${value}::jsonb as jb, ${value}::jsonb -> 'b' as sub`;
    assert.deepEqual(row.j, value);
    assert.deepEqual(row.jb, value);
    assert.deepEqual(row.sub, { c: true });
  });

  test('int and text arrays', async () => {
    const words = ['a,b', 'q"uote', 'back\\slash', null, 'NULL', '', '{x}'];
    const [row] = await sql`select ${[1, 2, 3]}::int[] as ints, ${words}::text[] as words, '{{1,2},{3,4}}'::int[] as grid`;
    assert.deepEqual(row.ints, [1, 2, 3]);
    assert.deepEqual(row.words, words);
    assert.deepEqual(row.grid, [[1, 2], [3, 4]]);
  });

  test('bytea', async () => {
    const bytes = Buffer.from([0, 1, 2, 127, 128, 255]);
    const [row] = await sql`select ${bytes} as b, octet_length(${bytes}) as len`;
    assert.ok(Buffer.isBuffer(row.b), 'bytea comes back as a Buffer');
    assert.deepEqual([...row.b], [...bytes]);
    assert.equal(row.len, 6);
  });

  test('timestamptz and uuid', async () => {
    const when = new Date('2024-02-29T12:34:56.789Z');
    const id = 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11';
    const [row] = await sql`select ${when}::timestamptz as at, ${id}::uuid as id, ${id}::uuid = ${id}::uuid as same`;
    assert.ok(row.at instanceof Date, 'timestamptz comes back as a Date');
    assert.equal(row.at.toISOString(), when.toISOString());
    assert.equal(row.id, id);
    assert.equal(row.same, true);
  });

  test('sql.query with $n placeholders and an untyped parameter', async () => {
    const rows = await sql.query('select $1::int + 1 as n, $2 as untyped', [41, 'x']);
    assert.deepEqual(rows, [{ n: 42, untyped: 'x' }]);
  });
});

describe('transactions', () => {
  test('isolation level, read only and deferrable are applied', async () => {
    const results = await sql.transaction(
      [sql`show transaction_isolation`, sql`show transaction_read_only`, sql`show transaction_deferrable`],
      { isolationLevel: 'Serializable', readOnly: true, deferrable: true },
    );
    assert.deepEqual(results, [
      [{ transaction_isolation: 'serializable' }],
      [{ transaction_read_only: 'on' }],
      [{ transaction_deferrable: 'on' }],
    ]);
  });

  test('a write in a read-only transaction fails with 25006', async () => {
    const err = await rejection(sql.transaction([sql`create table ro_nope (x int)`], { readOnly: true }));
    assert.equal(err.code, '25006');
  });

  test('a failing transaction is rolled back entirely', async () => {
    await sql`create table if not exists driver_tx (id int primary key)`;
    await sql`truncate driver_tx`;
    await sql`insert into driver_tx values (1)`;
    const err = await rejection(
      sql.transaction([sql`insert into driver_tx values (2)`, sql`insert into driver_tx values (1)`]),
    );
    assert.equal(err.code, '23505');
    const rows = await sql`select id from driver_tx order by id`;
    assert.deepEqual(rows, [{ id: 1 }], 'the first insert was rolled back too');
  });

  test('a successful transaction commits and returns one result per query', async () => {
    await sql`create table if not exists driver_ok (id int)`;
    const [inserted, counted] = await sql.transaction((tx) => [
      tx`insert into driver_ok values (${7}) returning id`,
      tx`select count(*)::int as n from driver_ok where id = ${7}`,
    ]);
    assert.deepEqual(inserted, [{ id: 7 }]);
    assert.ok(counted[0].n >= 1);
  });
});

describe('structured errors', () => {
  test('syntax error: code, message, position', async () => {
    const err = await rejection(sql`selec 1`);
    assert.equal(err.code, '42601');
    assert.match(err.message, /syntax error at or near "selec"/);
    assert.equal(err.position, '1');
    assert.equal(err.severity, 'ERROR');
  });

  test('unique violation: code, detail, constraint, table', async () => {
    await sql`create table if not exists driver_unique (id int primary key)`;
    await sql`insert into driver_unique values (1) on conflict do nothing`;
    const err = await rejection(sql`insert into driver_unique values (${1})`);
    assert.equal(err.code, '23505');
    assert.match(err.message, /duplicate key value violates unique constraint "driver_unique_pkey"/);
    assert.equal(err.detail, 'Key (id)=(1) already exists.');
    assert.equal(err.constraint, 'driver_unique_pkey');
    assert.equal(err.table, 'driver_unique');
    assert.equal(err.schema, 'public');
  });

  test('two statements in one query fail with 42601', async () => {
    const err = await rejection(sql.query('select 1; select 2'));
    assert.equal(err.code, '42601');
  });

  test('a wrong password is a 28P01 error', async () => {
    const url = new URL(ready.database_url);
    url.password = 'definitely-wrong';
    const err = await rejection(neon(url.toString())`select 1`);
    assert.equal(err.code, '28P01');
  });
});

describe('result shapes', () => {
  test('fullResults: fields, command, rowCount, rowAsArray', async () => {
    const full = neon(ready.database_url, { fullResults: true });
    const result = await full`select 1::int as a, 'x'::text as b`;
    assert.equal(result.command, 'SELECT');
    assert.equal(result.rowCount, 1);
    assert.equal(result.rowAsArray, false);
    assert.deepEqual(result.rows, [{ a: 1, b: 'x' }]);
    assert.deepEqual(result.fields.map((f) => [f.name, f.dataTypeID]), [['a', 23], ['b', 25]]);

    await full`create table if not exists driver_full (x int)`;
    const inserted = await full`insert into driver_full select generate_series(1, 3)`;
    assert.equal(inserted.command, 'INSERT');
    assert.equal(inserted.rowCount, 3);
  });

  test('arrayMode: rows as arrays', async () => {
    const arrays = neon(ready.database_url, { arrayMode: true });
    assert.deepEqual(await arrays`select 1 as a, 'two' as b, null as c`, [[1, 'two', null]]);
    const full = await sql.query('select 1 as a', [], { arrayMode: true, fullResults: true });
    assert.equal(full.rowAsArray, true);
    assert.deepEqual(full.rows, [[1]]);
  });
});

// The official PostgREST client (@supabase/postgrest-js) against Strata's
// /v1/rest, on a D1 table and on a Postgres table. Run by the integration
// harness (tests/api/rest.rs) against its live stack:
//   STRATA_BASE_URL, STRATA_API_KEY  the worker and an admin key
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PostgrestClient } from '@supabase/postgrest-js';

const base = process.env.STRATA_BASE_URL;
const key = process.env.STRATA_API_KEY;
if (!base || !key) throw new Error('STRATA_BASE_URL and STRATA_API_KEY must be set (run via the integration tests)');

const auth = { Authorization: `Bearer ${key}` };
const client = new PostgrestClient(`${base}/v1/rest`, { headers: auth });

async function sql(store, statement) {
  const res = await fetch(`${base}/v1/${store}/query`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify({ sql: statement }),
  });
  assert.equal(res.status, 200, `${store}: ${statement}: ${await res.text()}`);
}

for (const [store, table] of [['d1', 'rest_client'], ['pg', 'rest_client_pg']]) {
  test(`postgrest-js on ${store}`, async () => {
    await sql(store, `create table ${table} (id integer primary key, name text not null, age integer)`);

    // insert + select representation
    let { data, error, status } = await client
      .from(table)
      .insert([{ id: 1, name: 'ada', age: 36 }, { id: 2, name: 'bob', age: 25 }, { id: 3, name: 'cyd', age: 41 }])
      .select();
    assert.equal(error, null);
    assert.equal(status, 201);
    assert.deepEqual(data.map((r) => r.id), [1, 2, 3]);

    // select with filters and order
    ({ data, error } = await client.from(table).select('id,name').gt('age', 30).order('age', { ascending: false }));
    assert.equal(error, null);
    assert.deepEqual(data, [{ id: 3, name: 'cyd' }, { id: 1, name: 'ada' }]);

    ({ data, error } = await client.from(table).select('name').in('id', [1, 2]).order('id'));
    assert.deepEqual(data, [{ name: 'ada' }, { name: 'bob' }]);

    ({ data, error } = await client.from(table).select('id').or('age.lt.30,name.eq.cyd').order('id'));
    assert.deepEqual(data, [{ id: 2 }, { id: 3 }]);

    // range + exact count
    let count;
    ({ data, error, count, status } = await client.from(table).select('id', { count: 'exact' }).order('id').range(0, 1));
    assert.equal(error, null);
    assert.equal(count, 3);
    assert.equal(status, 206);
    assert.deepEqual(data, [{ id: 1 }, { id: 2 }]);

    // single
    ({ data, error } = await client.from(table).select('name,age').eq('id', 2).single());
    assert.equal(error, null);
    assert.deepEqual(data, { name: 'bob', age: 25 });
    ({ data, error } = await client.from(table).select('*').gt('id', 1).single());
    assert.equal(data, null);
    assert.equal(error.code, 'PGRST116');

    // upsert
    ({ error } = await client.from(table).upsert({ id: 2, name: 'bobby', age: 26 }));
    assert.equal(error, null);
    ({ data } = await client.from(table).select('name,age').eq('id', 2).single());
    assert.deepEqual(data, { name: 'bobby', age: 26 });

    // update
    ({ data, error } = await client.from(table).update({ age: 37 }).eq('id', 1).select());
    assert.equal(error, null);
    assert.deepEqual(data, [{ id: 1, name: 'ada', age: 37 }]);

    // delete
    ({ error, status } = await client.from(table).delete().eq('id', 3));
    assert.equal(error, null);
    assert.equal(status, 204);
    ({ data } = await client.from(table).select('id').order('id'));
    assert.deepEqual(data, [{ id: 1 }, { id: 2 }]);

    // errors come back structured
    ({ error } = await client.from(table).insert({ id: 1, name: 'dup' }));
    assert.equal(error.code, 'unique_violation');
    ({ error } = await client.from(table).select('nope'));
    assert.equal(error.code, 'PGRST204');
    ({ error, status } = await client.from('no_such_table').select());
    assert.equal(status, 404);
  });
}

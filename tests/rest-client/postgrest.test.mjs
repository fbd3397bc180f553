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

// Embedding, ordered write representations and limited writes (issue 18):
// users <- posts (author_id, editor_id: two keys, so ambiguous) <- comments.
for (const [store, s] of [['d1', ''], ['pg', '_pg']]) {
  test(`postgrest-js embedding and write order on ${store}`, async () => {
    const [users, posts, comments] = ['rc_users', 'rc_posts', 'rc_comments'].map((t) => t + s);
    await sql(store, `create table ${users} (id integer primary key, name text not null)`);
    await sql(store, `create table ${posts} (id integer primary key, author_id integer references ${users}(id), editor_id integer references ${users}(id), title text)`);
    await sql(store, `create table ${comments} (id integer primary key, post_id integer not null references ${posts}(id), body text, votes integer)`);

    // The chained upsert: the representation comes back in the asked order.
    let { data, error, status } = await client
      .from(users)
      .upsert([{ id: 2, name: 'bob' }, { id: 1, name: 'ada' }], { onConflict: 'id' })
      .select('id,name')
      .order('id');
    assert.equal(error, null);
    assert.equal(status, 201);
    assert.deepEqual(data, [{ id: 1, name: 'ada' }, { id: 2, name: 'bob' }]);
    // ... also by a column it does not return, descending.
    ({ data, error } = await client.from(users).upsert([{ id: 1, name: 'ada' }, { id: 2, name: 'bob' }]).select('name').order('id', { ascending: false }));
    assert.equal(error, null);
    assert.deepEqual(data, [{ name: 'bob' }, { name: 'ada' }]);

    ({ error } = await client.from(posts).insert([
      { id: 1, author_id: 1, editor_id: 2, title: 'p1' },
      { id: 2, author_id: 1, editor_id: 1, title: 'p2' },
      { id: 3, author_id: 2, editor_id: null, title: 'p3' },
    ]));
    assert.equal(error, null);
    ({ error } = await client.from(comments).insert([
      { id: 1, post_id: 1, body: 'c1', votes: 3 },
      { id: 2, post_id: 1, body: 'c2', votes: 5 },
      { id: 3, post_id: 2, body: 'c3', votes: 1 },
    ]));
    assert.equal(error, null);

    // Two keys lead from posts to users: ambiguous, candidates named.
    ({ data, error, status } = await client.from(posts).select(`title,${users}(name)`));
    assert.equal(status, 300);
    assert.equal(error.code, 'PGRST201');
    assert.equal(error.details.length, 2);
    assert.match(error.hint, /!/);

    // Many-to-one as an object, picked by a column hint, aliased.
    ({ data, error } = await client.from(posts).select(`title,author:${users}!author_id(name),editor:${users}!editor_id(name)`).order('id'));
    assert.equal(error, null);
    assert.deepEqual(data, [
      { title: 'p1', author: { name: 'ada' }, editor: { name: 'bob' } },
      { title: 'p2', author: { name: 'ada' }, editor: { name: 'ada' } },
      { title: 'p3', author: { name: 'bob' }, editor: null },
    ]);

    // One-to-many two levels deep, with a filter and order on the grandchildren.
    ({ data, error } = await client
      .from(users)
      .select(`name,posts:${posts}!author_id(title,${comments}(body,votes))`)
      .eq('id', 1)
      .order('id', { referencedTable: 'posts' })
      .gt(`posts.${comments}.votes`, 2)
      .order('votes', { referencedTable: `posts.${comments}`, ascending: false }));
    assert.equal(error, null);
    assert.deepEqual(data, [{
      name: 'ada',
      posts: [
        { title: 'p1', [comments]: [{ body: 'c2', votes: 5 }, { body: 'c1', votes: 3 }] },
        { title: 'p2', [comments]: [] },
      ],
    }]);
    // limit on the embedded resource.
    ({ data, error } = await client.from(posts).select(`id,${comments}(id)`).eq('id', 1).order('id', { referencedTable: comments, ascending: false }).limit(1, { referencedTable: comments }));
    assert.equal(error, null);
    assert.deepEqual(data, [{ id: 1, [comments]: [{ id: 2 }] }]);

    // !inner: only parents with a matching child; counted the same way.
    let count;
    ({ data, error, count } = await client.from(posts).select(`title,${comments}!inner(body)`, { count: 'exact' }).eq(`${comments}.body`, 'c3'));
    assert.equal(error, null);
    assert.equal(count, 1);
    assert.deepEqual(data, [{ title: 'p2', [comments]: [{ body: 'c3' }] }]);
    ({ data } = await client.from(posts).select(`title,${comments}(body)`).eq(`${comments}.body`, 'c3').order('id'));
    assert.deepEqual(data.map((p) => p[comments].length), [0, 1, 0]);

    // No relationship; a table of the other store.
    ({ error, status } = await client.from(comments).select(`body,${users}(name)`));
    assert.equal(status, 400);
    assert.equal(error.code, 'PGRST200');
    const other = store === 'd1' ? 'rc_users_pg' : 'rc_users';
    ({ error, status } = await client.from(posts).select(`title,${other}(name)`));
    assert.equal(status, 400);
    assert.equal(error.code, 'PGRST200');
    assert.match(error.message, /another store/);

    // Limited update: only the lowest-voted comment changes, returned in order.
    ({ data, error } = await client.from(comments).update({ votes: 0 }).gt('votes', 0).order('votes').limit(1).select('id,votes'));
    assert.equal(error, null);
    assert.deepEqual(data, [{ id: 3, votes: 0 }]);
    ({ data, error } = await client.from(comments).delete().gte('votes', 0).order('votes', { ascending: false }).limit(2).select('id'));
    assert.equal(error, null);
    assert.deepEqual(data, [{ id: 2 }, { id: 1 }]);
  });
}

// Postgres functions through /rpc (issue 18). A read key may call STABLE and
// IMMUTABLE functions, not VOLATILE ones; a function placed on D1 is refused.
test('postgrest-js rpc', async () => {
  await sql('pg', 'create table rc_scores (id integer primary key, who text, score integer)');
  await sql('pg', "insert into rc_scores values (1, 'ada', 30), (2, 'bob', 10), (3, 'cyd', 20), (4, 'dee', 5)");
  await sql('pg', 'create function rc_add(a integer, b integer default 10) returns integer language sql immutable as $$ select a + b $$');
  await sql('pg', 'create function rc_at_least(min integer) returns setof rc_scores language sql stable as $$ select * from rc_scores where score >= min $$');
  await sql('pg', 'create function rc_bump(n integer) returns integer language sql volatile as $$ update rc_scores set score = score + n returning 1 $$');

  let { data, error, status } = await client.rpc('rc_add', { a: 1, b: 2 });
  assert.equal(error, null);
  assert.equal(status, 200);
  assert.equal(data, 3);
  ({ data, error } = await client.rpc('rc_add', { a: 1 }, { get: true }));
  assert.equal(error, null);
  assert.equal(data, 11, 'the default fills b; GET takes arguments from the query');

  // A set result, filtered, ordered and limited by the REST grammar.
  let count;
  ({ data, error, count } = await client
    .rpc('rc_at_least', { min: 10 }, { count: 'exact' })
    .select('who,score')
    .neq('who', 'cyd')
    .order('score', { ascending: false })
    .limit(5));
  assert.equal(error, null);
  assert.equal(count, 2);
  assert.deepEqual(data, [{ who: 'ada', score: 30 }, { who: 'bob', score: 10 }]);

  ({ error, status } = await client.rpc('rc_add', { nope: 1 }));
  assert.equal(status, 404);
  ({ error, status } = await client.rpc('rc_no_such_function'));
  assert.equal(status, 404);

  // VOLATILE: a read key is refused, a write key calls it.
  const reader = new PostgrestClient(`${base}/v1/rest`, { headers: { Authorization: `Bearer ${process.env.STRATA_PG_READ_KEY}` } });
  ({ data, error, status } = await reader.rpc('rc_at_least', { min: 25 }));
  assert.equal(error, null);
  assert.deepEqual(data.map((r) => r.who), ['ada']);
  ({ error, status } = await reader.rpc('rc_bump', { n: 1 }));
  assert.equal(status, 403);
  assert.equal(error.code, 'forbidden');
  ({ data, error } = await client.rpc('rc_bump', { n: 1 }));
  assert.equal(error, null);
  assert.equal(data, 1);

  // A VOLATILE function is not called by GET.
  ({ error, status } = await client.rpc('rc_bump', { n: 1 }, { get: true }));
  assert.equal(status, 405);

  // Prefer: params=single-object: the body is the one argument.
  await sql('pg', "create function rc_keys(doc json) returns text language sql immutable as $$ select string_agg(k, ',' order by k) from json_object_keys(doc) k $$");
  const single = await fetch(`${base}/v1/rest/rpc/rc_keys`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json', prefer: 'params=single-object' },
    body: JSON.stringify({ b: 1, a: 2 }),
  });
  assert.equal(single.status, 200);
  assert.equal(await single.json(), 'a,b');

  // Placed on D1: functions are Postgres only.
  ({ error, status } = await client.rpc('rc_d1fn'));
  assert.equal(status, 400);
  assert.match(error.message, /Postgres only/);
});

// The rest of the common surface (issue 18): CSV, strict preferences,
// missing=default, columns, planned and estimated counts.
for (const [store, table] of [['d1', 'rest_client_more'], ['pg', 'rest_client_more_pg']]) {
  test(`postgrest-js csv, preferences and columns on ${store}`, async () => {
    await sql(store, `create table ${table} (id integer primary key, name text, tag text default 'fresh')`);
    let { error, status } = await client.from(table).insert([{ id: 1, name: 'a, "quoted"' }, { id: 2, tag: 'kept' }]);
    assert.equal(error, null);

    // missing=default: a key a row lacks takes the default, not NULL.
    const res = await fetch(`${base}/v1/rest/${table}?columns=id,name,tag`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json', prefer: 'missing=default, return=representation' },
      body: JSON.stringify([{ id: 3, name: 'c', extra: 'ignored' }, { id: 4, name: 'd', tag: 'own' }]),
    });
    assert.equal(res.status, 201, await res.clone().text());
    assert.match(res.headers.get('preference-applied'), /missing=default/);
    let data;
    ({ data } = await client.from(table).select('id,name,tag').order('id'));
    assert.deepEqual(data, [
      { id: 1, name: 'a, "quoted"', tag: null },
      { id: 2, name: null, tag: 'kept' },
      { id: 3, name: 'c', tag: 'fresh' },
      { id: 4, name: 'd', tag: 'own' },
    ]);

    // text/csv.
    ({ data, error } = await client.from(table).select('id,name').lte('id', 2).order('id').csv());
    assert.equal(error, null);
    assert.equal(data, 'id,name\r\n1,"a, ""quoted"""\r\n2,');

    // handling=strict refuses what it does not understand; lenient ignores it.
    const strict = await fetch(`${base}/v1/rest/${table}`, { headers: { ...auth, prefer: 'handling=strict, tx=commit' } });
    assert.equal(strict.status, 400);
    assert.equal((await strict.json()).code, 'PGRST122');
    const lenient = await fetch(`${base}/v1/rest/${table}`, { headers: { ...auth, prefer: 'handling=lenient, tx=commit' } });
    assert.equal(lenient.status, 200);

    // planned and estimated counts (exact on D1; an estimate on Postgres).
    let count;
    ({ data, error, count, status } = await client.from(table).select('id', { count: 'estimated' }).limit(1));
    assert.equal(error, null);
    assert.equal(count, 4, 'few rows: estimated counts exactly');
    ({ error, count } = await client.from(table).select('id', { count: 'planned' }).limit(1));
    assert.equal(error, null);
    assert.equal(typeof count, 'number');
    if (store === 'd1') assert.equal(count, 4);
  });
}

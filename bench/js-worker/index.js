// The least a Worker can do with the same bindings Strata uses — the ceiling
// Strata's routes are measured against (bench/run.mjs, bench/compare.mjs).
// No auth, no validation, no log line (unless the var JS_LOG is set), no
// headers beyond the ETag:
//
//   /health, /objects/{key}   R2 passthrough: the request's body stream goes
//                             straight to put(), R2's body stream straight to
//                             the response
//   /d1/query                 {"sql","params"} → D1 prepare/bind/all → JSON
//   /pg/query                 {"sql","params"} → one fetch to the Neon
//                             SQL-over-HTTP endpoint (NEON_SQL_URL,
//                             DATABASE_URL) → JSON
//
// Every path is also served under /v1, so a benchmark sends both Workers the
// same paths.
export default {
  async fetch(request, env) {
    const started = Date.now();
    const response = await route(request, env);
    if (env.JS_LOG) {
      console.log(JSON.stringify({ method: request.method, route: new URL(request.url).pathname, status: response.status, durationMs: Date.now() - started }));
    }
    return response;
  },
};

async function route(request, env) {
  const url = new URL(request.url);
  const path = url.pathname.startsWith("/v1/") ? url.pathname.slice(3) : url.pathname;
  if (path === "/health") return Response.json({ status: "ok" });
  if (path === "/d1/query" && request.method === "POST") {
    const { sql, params = [] } = await request.json();
    const result = await env.DB.prepare(sql).bind(...params).all();
    return Response.json({ rows: result.results, rowCount: result.results.length, meta: result.meta });
  }
  if (path === "/pg/query" && request.method === "POST") {
    const { sql, params = [] } = await request.json();
    const res = await fetch(env.NEON_SQL_URL, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "neon-connection-string": env.DATABASE_URL,
        "neon-raw-text-output": "true",
        "neon-array-mode": "true",
      },
      body: JSON.stringify({ query: sql, params }),
    });
    const answer = await res.json();
    if (!res.ok) return Response.json(answer, { status: res.status });
    const columns = answer.fields.map((f) => ({ name: f.name, type: f.dataTypeID }));
    return Response.json({ columns, rows: answer.rows, rowCount: answer.rowCount, meta: { command: answer.command } });
  }
  if (!path.startsWith("/objects/")) return new Response("not found", { status: 404 });
  const key = decodeURIComponent(path.slice("/objects/".length));
  if (request.method === "PUT") {
    const object = await env.BUCKET.put(key, request.body);
    return new Response(null, { status: 201, headers: { etag: object.httpEtag } });
  }
  if (request.method === "GET") {
    const object = await env.BUCKET.get(key);
    if (object === null) return new Response("not found", { status: 404 });
    return new Response(object.body, { headers: { etag: object.httpEtag } });
  }
  return new Response("method not allowed", { status: 405 });
}

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
// Uploads the Worker re-streams (PUT only; bench/s3-stream.mjs measures them
// against /objects to tell where a re-made stream's cost lies):
//
//   /objects-fixed/{key}      request.body piped into a FixedLengthStream
//                             (Content-Length) whose readable goes to put()
//   /objects-transform/{key}  the same through an identity TransformStream
//   /objects-writer/{key}     read with a reader, each chunk awaited into the
//                             FixedLengthStream's writer
//   /objects-pull/{key}       a new ReadableStream pulling from the request's
//                             reader, into a FixedLengthStream (the shape of
//                             a Rust stream handed to JS by wasm-streams)
//   /objects-response/{key}   put(new Response(request.body).body)
//   /objects-buffer/{key}     the whole body read with arrayBuffer(), then put
//   /drain                    the body read and dropped; answers the number
//                             of chunks and bytes and the sizes seen
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
  if (path === "/drain" && request.method === "PUT") return drain(request);
  const remade = path.match(/^\/objects-(fixed|transform|writer|pull|response|buffer)\/(.+)$/);
  if (remade && request.method === "PUT") return putRemade(remade[1], decodeURIComponent(remade[2]), request, env);
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

// The request's body, re-made into a new stream one way or another, to put().
async function putRemade(way, key, request, env) {
  const length = Number(request.headers.get("content-length"));
  let body;
  let feeding = Promise.resolve();
  if (way === "response") {
    body = new Response(request.body).body;
  } else if (way === "buffer") {
    body = await request.arrayBuffer();
  } else if (way === "pull") {
    const reader = request.body.getReader();
    const source = new ReadableStream({
      async pull(controller) {
        const { done, value } = await reader.read();
        if (done) controller.close();
        else controller.enqueue(value);
      },
    });
    const fixed = new FixedLengthStream(length);
    feeding = source.pipeTo(fixed.writable);
    body = fixed.readable;
  } else {
    const fixed = new FixedLengthStream(length);
    if (way === "fixed") feeding = request.body.pipeTo(fixed.writable);
    if (way === "transform") feeding = request.body.pipeThrough(new TransformStream()).pipeTo(fixed.writable);
    if (way === "writer") {
      feeding = (async () => {
        const reader = request.body.getReader();
        const writer = fixed.writable.getWriter();
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          await writer.write(value);
        }
        await writer.close();
      })();
    }
    body = fixed.readable;
  }
  const [object] = await Promise.all([env.BUCKET.put(key, body), feeding]);
  return new Response(null, { status: 201, headers: { etag: object.httpEtag } });
}

async function drain(request) {
  const reader = request.body.getReader();
  const sizes = new Map();
  let chunks = 0;
  let bytes = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks += 1;
    bytes += value.byteLength;
    sizes.set(value.byteLength, (sizes.get(value.byteLength) ?? 0) + 1);
  }
  const common = [...sizes].sort((a, b) => b[1] - a[1]).slice(0, 5);
  return Response.json({ chunks, bytes, common });
}

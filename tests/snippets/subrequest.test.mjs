// src/stores/subrequest.js, the Worker's subrequest snippet, against a real
// HTTP server: what it answers, where it stops reading, when it gives up.
// (The integration tests run it inside the Worker: every Postgres query and
// the JWKS fetch go through it; this pins down the edges they cannot reach.)
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { fetch_capped, TIMED_OUT, INVALID } from "../../src/stores/subrequest.js";

let server;
let base;
const sent = {}; // how many body bytes each route wrote before the client went away

before(async () => {
  server = http.createServer((req, res) => {
    const route = new URL(req.url, "http://x").pathname;
    let received = "";
    req.on("data", (c) => (received += c));
    req.on("end", () => {
      switch (route) {
        case "/echo":
          res.writeHead(200, { "content-type": "application/json" });
          res.end(JSON.stringify({ method: req.method, header: req.headers["x-test"], body: received }));
          break;
        case "/rejected":
          res.writeHead(400, { "content-type": "application/json" });
          res.end('{"message":"no"}');
          break;
        case "/empty":
          res.writeHead(204);
          res.end();
          break;
        case "/declared-large":
          res.writeHead(200, { "content-length": String(10_000_000) });
          res.write(Buffer.alloc(1024));
          break; // never finishes: the snippet must not wait for it
        case "/chunked": {
          const n = Number(new URL(req.url, "http://x").searchParams.get("n"));
          res.writeHead(200, { "content-type": "application/octet-stream" });
          let i = 0;
          sent.chunked = 0;
          const next = () => {
            if (i === n || res.destroyed) return res.end();
            const chunk = Buffer.alloc(1000, i % 256);
            sent.chunked += chunk.length;
            res.write(chunk, () => setTimeout(next, 1));
            i++;
          };
          next();
          break;
        }
        case "/redirect":
          res.writeHead(302, { location: "/echo" });
          res.end();
          break;
        case "/silent":
          break; // no answer at all
        case "/stalled-body":
          res.writeHead(200, { "content-type": "application/json" });
          res.write("[1,");
          break; // the rest never comes
        default:
          res.writeHead(404);
          res.end();
      }
    });
  });
  await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
  base = `http://127.0.0.1:${server.address().port}`;
});

after(() => {
  server.closeAllConnections();
  server.close();
});

const text = (bytes) => new TextDecoder().decode(bytes);

test("sends the method, headers and body, and answers the status and bytes", async () => {
  const answer = await fetch_capped("POST", `${base}/echo`, JSON.stringify({ "x-test": "a:b" }), '{"q":1}', false, 5000, 1000);
  assert.equal(answer.status, 200);
  assert.deepEqual(JSON.parse(text(answer.body)), { method: "POST", header: "a:b", body: '{"q":1}' });
});

test("an error status is an answer, with its body", async () => {
  const answer = await fetch_capped("GET", `${base}/rejected`, "{}", undefined, false, 5000, 1000);
  assert.equal(answer.status, 400);
  assert.equal(text(answer.body), '{"message":"no"}');
});

test("no body is an empty body, not one over the limit", async () => {
  const answer = await fetch_capped("GET", `${base}/empty`, "{}", undefined, false, 5000, 1000);
  assert.equal(answer.status, 204);
  assert.ok(answer.body instanceof Uint8Array);
  assert.equal(answer.body.length, 0);
});

test("a declared length over the limit is refused without reading it", async () => {
  const started = Date.now();
  const answer = await fetch_capped("GET", `${base}/declared-large`, "{}", undefined, false, 5000, 1_000_000);
  assert.equal(answer.status, 200);
  assert.equal(answer.body, null);
  assert.ok(Date.now() - started < 4000, "answered without waiting for the body");
});

test("a body without a length is read whole within the limit, in order", async () => {
  const answer = await fetch_capped("GET", `${base}/chunked?n=5`, "{}", undefined, false, 5000, 5000);
  assert.equal(answer.body.length, 5000);
  for (let i = 0; i < 5; i++) assert.equal(answer.body[i * 1000], i, `chunk ${i} in place`);
});

test("a body without a length stops at the limit", async () => {
  const answer = await fetch_capped("GET", `${base}/chunked?n=1000`, "{}", undefined, false, 10_000, 4500);
  assert.equal(answer.body, null);
  // Cancelled where it crossed the limit: the server did not get to write the
  // whole megabyte (it writes a chunk per millisecond).
  await new Promise((ok) => setTimeout(ok, 50));
  assert.ok(sent.chunked < 1_000_000, `stopped early (${sent.chunked} bytes sent)`);
});

test("no answer within the time is TIMED_OUT, at the time", async () => {
  const started = Date.now();
  await assert.rejects(fetch_capped("GET", `${base}/silent`, "{}", undefined, false, 200, 1000), (e) => e === TIMED_OUT);
  const took = Date.now() - started;
  assert.ok(took >= 190 && took < 3000, `gave up at the timeout (${took} ms)`);
});

test("the body counts against the time too", async () => {
  await assert.rejects(fetch_capped("GET", `${base}/stalled-body`, "{}", undefined, false, 200, 1000), (e) => e === TIMED_OUT);
});

test("a request the runtime cannot make is INVALID", async () => {
  for (const [url, headers] of [["not a url", "{}"], [`${base}/echo`, JSON.stringify({ "x-test": "a\nb" })], [`${base}/echo`, "not json"]]) {
    await assert.rejects(fetch_capped("GET", url, headers, undefined, false, 1000, 1000), (e) => e === INVALID, `${url} ${headers}`);
  }
});

test("a failure to connect is the runtime's own error, neither marker", async () => {
  const closed = http.createServer();
  await new Promise((ok) => closed.listen(0, "127.0.0.1", ok));
  const port = closed.address().port;
  await new Promise((ok) => closed.close(ok));
  await assert.rejects(fetch_capped("GET", `http://127.0.0.1:${port}/`, "{}", undefined, false, 5000, 1000), (e) => e !== TIMED_OUT && e !== INVALID);
});

test("a redirect is the answer unless following is asked for", async () => {
  const headers = JSON.stringify({ "x-test": "secret" });
  const answer = await fetch_capped("GET", `${base}/redirect`, headers, undefined, false, 5000, 1000);
  assert.equal(answer.status, 302);
  const followed = await fetch_capped("GET", `${base}/redirect`, headers, undefined, true, 5000, 1000);
  assert.equal(followed.status, 200);
  assert.equal(JSON.parse(text(followed.body)).method, "GET");
});

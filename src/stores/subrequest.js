// The Worker's subrequests (the Neon SQL-over-HTTP endpoint, a JWKS), made,
// timed and read in one call from wasm (`stores::fetch_capped`).
//
// Why in JavaScript: built through workers-rs (`Request`, `RequestInit`,
// `Headers`, an `AbortController`, a wasm timer future, a reader and a read
// per chunk) a Postgres query's subrequest took a JS crossing per header,
// init field, timer and chunk; profiles put that at ~8% of the Worker's CPU
// for `POST /v1/pg/query`. Here it is one call and one promise.
//
// Tested on its own by tests/snippets/subrequest.test.mjs (node --test).

/** What `fetch_capped` rejects with when `ms` passed first. */
export const TIMED_OUT = "strata: the subrequest timed out";
/** What it rejects with when the request cannot be made (a URL or header value the runtime refuses: the configuration's fault). */
export const INVALID = "strata: the subrequest is not a valid request";

/**
 * Sends `method url` with `headers` (a JSON object of names to values) and
 * `body` (text or undefined), following redirects only when `follow` is true
 * (a redirect is otherwise the answer: the fetch standard keeps custom
 * headers — Neon's connection string — on a redirect to another origin);
 * gives up after `ms` milliseconds, aborting the
 * subrequest (and so its body) — the whole exchange, body included, is timed.
 * Resolves to `{ status, body }`: `body` the answer's bytes, or `null` when
 * they are more than `limit` (a declared Content-Length over it is refused
 * before reading; a body without one is read up to the limit and cancelled
 * there, so a huge answer never fills the isolate's memory).
 */
export async function fetch_capped(method, url, headers, body, follow, ms, limit) {
  const controller = new AbortController();
  let request;
  try {
    request = new Request(url, {
      method,
      headers: JSON.parse(headers),
      body,
      redirect: follow ? "follow" : "manual",
      signal: controller.signal,
    });
  } catch {
    throw INVALID;
  }
  const timer = setTimeout(() => controller.abort(), ms);
  try {
    const response = await fetch(request);
    return { status: response.status, body: await capped(response, limit) };
  } catch (e) {
    throw controller.signal.aborted ? TIMED_OUT : e;
  } finally {
    clearTimeout(timer);
  }
}

async function capped(response, limit) {
  const declared = response.headers.get("content-length");
  if (declared !== null && Number(declared) > limit) {
    response.body?.cancel().catch(() => {});
    return null;
  }
  if (response.body === null) return new Uint8Array(0);
  const reader = response.body.getReader();
  const chunks = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      reader.cancel().catch(() => {});
      return null;
    }
    chunks.push(value);
  }
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.byteLength;
  }
  return out;
}

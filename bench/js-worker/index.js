// The least a Worker can do to move an object between a client and R2:
// the request's body stream goes straight to put(), R2's body stream
// straight to the response. No auth, no validation, no headers beyond the
// ETag — the ceiling Strata's routes are measured against.
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname === "/health") return new Response("ok");
    if (!url.pathname.startsWith("/objects/")) return new Response("not found", { status: 404 });
    const key = decodeURIComponent(url.pathname.slice("/objects/".length));
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
  },
};

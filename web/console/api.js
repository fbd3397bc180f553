// The console's only way out: Strata's public API, same origin, with the key
// the person typed (sessionStorage only: never a URL, a cookie or
// localStorage) as `Authorization: Bearer`.

const KEY = "strata.console.key";

export const session = {
  get key() {
    return sessionStorage.getItem(KEY);
  },
  set(key) {
    sessionStorage.setItem(KEY, key);
  },
  clear() {
    sessionStorage.removeItem(KEY);
  },
};

/** An answer of the API that is not a success, in its one error format. */
export class ApiError extends Error {
  constructor(status, body, requestId) {
    super((body && typeof body.message === "string" && body.message) || `HTTP ${status}`);
    this.status = status;
    this.code = (body && typeof body.code === "string" && body.code) || `http_${status}`;
    this.details = body && typeof body.details === "object" ? body.details : null;
    this.hint = body && typeof body.hint === "string" ? body.hint : null;
    this.requestId = requestId;
  }
}

let unauthorized = () => {};
/** Called with the error whenever the API answers 401 to the session's key. */
export function onUnauthorized(fn) {
  unauthorized = fn;
}

function authHeaders(key, headers) {
  const out = { ...headers };
  if (key) out.authorization = `Bearer ${key}`;
  return out;
}

/**
 * Calls the API. `body`: a plain value is sent as JSON; a Blob or string as is.
 * Returns {res, data}: data is the parsed JSON (null for 204/HEAD, or when
 * `raw` asks for the Response untouched).
 */
export async function api(method, path, { body, headers = {}, raw = false, key } = {}) {
  const usedKey = key === undefined ? session.key : key;
  const h = authHeaders(usedKey, headers);
  let payload = body;
  if (body !== undefined && !(body instanceof Blob) && typeof body !== "string") {
    payload = JSON.stringify(body);
    h["content-type"] = "application/json";
  }
  let res;
  try {
    res = await fetch(path, { method, headers: h, body: payload, cache: "no-store", credentials: "omit", redirect: "error" });
  } catch (e) {
    throw new ApiError(0, { code: "network", message: `the API could not be reached (${e.message})` }, null);
  }
  if (!res.ok) {
    let parsed = null;
    try {
      parsed = await res.json();
    } catch {
      parsed = null;
    }
    const err = new ApiError(res.status, parsed, res.headers.get("x-request-id"));
    if (res.status === 401 && key === undefined) unauthorized(err);
    throw err;
  }
  if (raw) return { res, data: null };
  if (res.status === 204 || method === "HEAD") return { res, data: null };
  const text = await res.text();
  return { res, data: text ? JSON.parse(text) : null };
}

/** Bearer header for an XMLHttpRequest (uploads report their progress only there). */
export function bearer() {
  return `Bearer ${session.key}`;
}

/** Why the API refused, in words, for the person at the keyboard. */
export function why(e) {
  if (!(e instanceof ApiError)) return String((e && e.message) || e);
  if (e.status === 0) return "The network request failed: is the Worker running?";
  if (e.status === 401) return "The API did not accept this key: it is unknown, revoked or mistyped. Sign out and sign in with a valid key.";
  if (e.code === "forbidden") {
    const scope = e.details && e.details.requiredScope;
    return scope ? `This key lacks the scope ${scope}; a key with it (or admin) may do this.` : "This key may not do this.";
  }
  if (e.code === "read_only") return "This key may only read here: the write was refused and nothing was changed.";
  if (e.code === "signature_invalid") return "The signed URL was refused.";
  if (e.code === "table_moving") return "The table is moving between stores: reads work, writes resume when it has arrived.";
  if (e.code === "store_unavailable") return "A store could not be reached; try again shortly.";
  if (e.code === "unique_violation" || e.code === "foreign_key_violation" || e.code === "not_null_violation" || e.code === "check_violation") {
    return "A constraint of the table refused the change; nothing was written.";
  }
  return "";
}

// Serves the Worker locally: what `wrangler dev` does, through wrangler's
// startWorker API, with one difference that matters for long sessions and
// load runs: the DevTools inspector is off.
//
// Why: with the inspector on, wrangler's InspectorProxyWorker keeps every
// message the runtime sends (each console.log line) in an array that only
// drains while a DevTools window is attached. Strata logs one line per
// request, so under `wrangler dev` the proxy's workerd grows without bound
// (BENCHMARKS.md, "Memory"). With the inspector off, workerd writes the logs
// to its stdout and wrangler prints them; nothing accumulates.
//
// Usage: node scripts/serve-worker.mjs [--ip 127.0.0.1] [--port 8787]
//          [--persist-to DIR] [--var NAME:VALUE]... [--no-watch] [--inspect]
//          [--inspector-port N] [--config wrangler.toml]
// --inspect keeps the inspector (for attaching DevTools), as `wrangler dev`;
// --inspector-port picks its port (default 9229). --config serves another
// Worker (bench/compare.mjs serves its JS baseline with this same launcher).
import { unstable_startWorker } from "wrangler";

const opts = { ip: "127.0.0.1", port: 8787, persist: undefined, vars: {}, watch: true, inspect: false, inspectorPort: undefined, config: "wrangler.toml" };
const args = process.argv.slice(2);
for (let i = 0; i < args.length; i++) {
  const flag = args[i];
  const value = () => {
    const v = args[++i];
    if (v === undefined) fail(`${flag} needs a value`);
    return v;
  };
  switch (flag) {
    case "--ip": opts.ip = value(); break;
    case "--port": opts.port = Number(value()); break;
    case "--persist-to": opts.persist = value(); break;
    case "--var": {
      const v = value();
      const at = v.indexOf(":");
      if (at < 1) fail(`--var wants NAME:VALUE, got ${v}`);
      // hidden: printed as "(hidden)" in the bindings table, as `wrangler dev --var` does.
      opts.vars[v.slice(0, at)] = { type: "plain_text", value: v.slice(at + 1), hidden: true };
      break;
    }
    case "--no-watch": opts.watch = false; break;
    case "--inspect": opts.inspect = true; break;
    case "--inspector-port": opts.inspect = true; opts.inspectorPort = Number(value()); break;
    case "--config": opts.config = value(); break;
    default: fail(`unknown option ${flag}`);
  }
}
if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) fail("--port wants a port number");

function fail(message) {
  console.error(`serve-worker: ${message}`);
  process.exit(2);
}

const worker = await unstable_startWorker({
  config: opts.config,
  bindings: opts.vars,
  dev: {
    server: { hostname: opts.ip, port: opts.port },
    inspector: opts.inspect ? { hostname: "127.0.0.1", port: opts.inspectorPort } : false,
    persist: opts.persist,
    watch: opts.watch,
    logLevel: "log",
  },
});
await worker.ready;
const url = await worker.url;
console.log(`Ready on ${url.origin}`);

// A signal stops workerd cleanly; a second one, or 5 s without finishing, exits anyway.
let stopping = false;
const stop = async () => {
  if (stopping) process.exit(1);
  stopping = true;
  setTimeout(() => process.exit(1), 5000).unref();
  await worker.dispose().catch(() => {});
  process.exit(0);
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);

#!/usr/bin/env bash
# The baseline for workerd's memory in the local runtime: a trivial
# JavaScript Worker (no bindings; LOG=1 makes it console.log one line per
# request, as Strata does) served the way `make dev` and the tests serve
# Strata (scripts/serve-worker.mjs; INSPECT=1 keeps wrangler's inspector on,
# as plain `wrangler dev` does), driven by wrk with 32 connections, workerd
# RSS printed every 10 s. Usage: bench/baseline-memory.sh [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
seconds=${1:-60}
dir=$(mktemp -d)
pgid=
trap '[ -n "$pgid" ] && kill -- -"$pgid" 2>/dev/null; rm -rf "$dir"' EXIT
log=""
[ "${LOG:-0}" = 1 ] && log='console.log(JSON.stringify({ method: request.method, route: "/", status: 200, requestId: crypto.randomUUID() }));'
cat > "$dir/index.js" <<JS
export default { async fetch(request) { $log return new Response('{"status":"ok"}', { headers: { "content-type": "application/json" } }); } };
JS
printf 'name = "baseline"\nmain = "index.js"\ncompatibility_date = "2026-04-01"\n' > "$dir/wrangler.toml"
port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
( cd "$dir" && WRANGLER_SEND_METRICS=false exec setsid node "$root/scripts/serve-worker.mjs" --port "$port" --no-watch \
    ${INSPECT:+--inspect} > "$dir/log" 2>&1 ) &
for _ in $(seq 1 150); do curl -fs "http://127.0.0.1:$port/" >/dev/null 2>&1 && break; sleep 0.2; done
pgid=$(ps -o pgid= -p "$(pgrep -f "serve-worker.mjs --port $port" | head -n 1)" | tr -d ' ')
rss() { for p in $(pgrep -g "$pgid" -f workerd); do awk '/VmRSS/ {print $2}' "/proc/$p/status"; done | paste -sd+ | bc; }
echo "baseline workerd RSS at start: $(($(rss) / 1024)) MiB"
wrk -t2 -c32 -d"${seconds}s" "http://127.0.0.1:$port/" > "$dir/wrk" &
wrk_pid=$!
for t in $(seq 10 10 "$seconds"); do sleep 10; printf '%ss:%sMiB ' "$t" "$(($(rss) / 1024))"; done; echo
wait "$wrk_pid"
grep -E "requests in|Requests/sec|Non-2xx|Socket" "$dir/wrk"

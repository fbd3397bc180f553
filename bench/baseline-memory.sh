#!/usr/bin/env bash
# The baseline for workerd's memory under `wrangler dev`: a trivial
# JavaScript Worker (no bindings, no logging) driven by wrk, RSS of its
# workerd sampled before and after. Usage: bench/baseline-memory.sh [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
dir=$(mktemp -d)
trap 'kill -- -$pgid 2>/dev/null || true; rm -rf "$dir"' EXIT
cat > "$dir/index.js" <<'JS'
export default { async fetch() { return new Response('{"status":"ok"}', { headers: { "content-type": "application/json" } }); } };
JS
printf 'name = "baseline"\nmain = "index.js"\ncompatibility_date = "2026-04-01"\n' > "$dir/wrangler.toml"
port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
insp=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
root=$PWD
( cd "$dir" && WRANGLER_SEND_METRICS=false setsid "$root/node_modules/.bin/wrangler" dev --ip 127.0.0.1 --port "$port" \
    --inspector-port "$insp" --show-interactive-dev-session=false > "$dir/log" 2>&1 ) &
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/" >/dev/null 2>&1 && break; sleep 0.2; done
pgid=$(ps -o pgid= -p "$(pgrep -f "wrangler dev --ip 127.0.0.1 --port $port" | head -n 1)" | tr -d ' ')
rss() { for p in $(pgrep -g "$pgid" -f workerd); do awk '/VmRSS/ {print $2}' "/proc/$p/status"; done | paste -sd+ | bc; }
before=$(rss)
wrk -t2 -c32 -d"${seconds}s" "http://127.0.0.1:$port/" | grep -E "requests in|Requests/sec"
after=$(rss)
echo "baseline workerd RSS: before $((before / 1024)) MiB, after $((after / 1024)) MiB"

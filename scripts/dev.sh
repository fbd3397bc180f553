#!/usr/bin/env bash
# `make dev`: the whole local stack in one command (run after `make build
# host-bins`, which the Makefile does first).
#
#   PostgreSQL (data kept in .strata/pg)   ← neon-local, the Neon-compatible
#   SQL-over-HTTP endpoint on 127.0.0.1:$NEON_PORT   ← wrangler dev (workerd,
#   local D1 and R2 under .wrangler/state) on 127.0.0.1:$PORT
#
# Ctrl-C (or SIGTERM) stops everything this script started.
set -euo pipefail
cd "$(dirname "$0")/.."

PORT=${PORT:-8787}
NEON_PORT=${NEON_PORT:-4444}
PG_PORT=${PG_PORT:-5444}
export WRANGLER_SEND_METRICS=false
TARGET_DIR=${CARGO_TARGET_DIR:-target}
BIN=$TARGET_DIR/debug

say() { printf '[dev] %s\n' "$*" >&2; }
# start_neon_local, json_field
. "$(dirname "$0")/neon-local.sh"

mkdir -p .strata
pids=()
cleanup() {
  trap - INT TERM EXIT
  if [ ${#pids[@]} -gt 0 ]; then
    say "stopping"
    kill -TERM "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# 1. PostgreSQL + the local Neon endpoint (neon-local owns the postgres
#    process: it can never outlive it).
ready_file=.strata/neon-local.ready
started=0
start_neon_local "$BIN/neon-local" "$ready_file" .strata/neon-local.log \
  --listen "127.0.0.1:$NEON_PORT" --data-dir .strata/pg --pg-port "$PG_PORT" && started=1
pids+=("$neon_pid")
[ "$started" = 1 ] || { say "see .strata/neon-local.log"; exit 1; }
DATABASE_URL=$(json_field "$ready_file" database_url)
NEON_SQL_URL=$(json_field "$ready_file" sql_url)
NEON_WS_PROXY=$(json_field "$ready_file" ws_proxy)

# 2. Migrations: Postgres over a direct connection, D1 with wrangler's own.
"$BIN/strata-dev" migrate --database-url "$DATABASE_URL" --dir migrations/pg
CI=true node_modules/.bin/wrangler d1 migrations apply DB --local >/dev/null
# The SELECT-only role read-only requests use (DATABASE_URL_READ), so Postgres
# itself refuses their writes; its password is kept in .strata/. The URL goes
# through the environment, not the command line (ps would show it).
DATABASE_URL_READ=$(DATABASE_URL="$DATABASE_URL" "$BIN/strata-dev" read-role --password-file .strata/pg-read-password)

# 3. The development key and .dev.vars (wrangler's local secrets file).
if [ -n "${STRATA_DEV_KEY:-}" ]; then
  DEV_KEY=$STRATA_DEV_KEY
elif [ -s .strata/dev-key ]; then
  DEV_KEY=$(cat .strata/dev-key)
else
  DEV_KEY=$("$BIN/strata-dev" keygen --format json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>process.stdout.write(JSON.parse(s).key))')
fi
umask 077
printf '%s\n' "$DEV_KEY" > .strata/dev-key
API_KEYS=$("$BIN/strata-dev" keygen --id dev --key "$DEV_KEY" --format json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>process.stdout.write(JSON.stringify(JSON.parse(s).entry)))')
if [ ! -f .dev.vars ]; then
  say "writing .dev.vars"
  {
    echo "# Local development settings for wrangler dev (written by make dev; gitignored)."
    echo "DATABASE_URL=\"$DATABASE_URL\""
    echo "NEON_SQL_URL=\"$NEON_SQL_URL\""
    echo "API_KEYS='$API_KEYS'"
  } > .dev.vars
elif [ -n "${STRATA_DEV_KEY:-}" ]; then
  # An explicit key always wins: replace just the API_KEYS line.
  grep -v '^API_KEYS=' .dev.vars > .dev.vars.tmp || true
  echo "API_KEYS='$API_KEYS'" >> .dev.vars.tmp
  mv .dev.vars.tmp .dev.vars
fi
# DATABASE_URL_READ follows the local read role, also in a .dev.vars written
# before it existed; a .dev.vars pointed at another database keeps its own.
read_line="DATABASE_URL_READ=\"$DATABASE_URL_READ\""
if grep -qxF "DATABASE_URL=\"$DATABASE_URL\"" .dev.vars && ! grep -qxF "$read_line" .dev.vars; then
  say "writing DATABASE_URL_READ to .dev.vars"
  grep -v '^DATABASE_URL_READ=' .dev.vars > .dev.vars.tmp || true
  echo "$read_line" >> .dev.vars.tmp
  mv .dev.vars.tmp .dev.vars
fi
# Signed object URLs need a secret: one is made the first time it is missing.
if ! grep -q '^SIGNING_SECRET=' .dev.vars; then
  echo "SIGNING_SECRET=\"$(node -e 'process.stdout.write(require("crypto").randomBytes(32).toString("hex"))')\"" >> .dev.vars
fi
# The S3-compatible API (/s3) needs an access key pair: one is made the first
# time it is missing (strata-dev keygen --s3), and shown below.
if ! grep -q '^S3_CREDENTIALS=' .dev.vars; then
  say "writing S3_CREDENTIALS to .dev.vars"
  S3_ENTRY=$("$BIN/strata-dev" keygen --s3 --format json 2>/dev/null | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>process.stdout.write(JSON.stringify(JSON.parse(s).entry)))')
  echo "S3_CREDENTIALS='$S3_ENTRY'" >> .dev.vars
fi
S3_PAIR=$(sed -n "s/^S3_CREDENTIALS='\(.*\)'\$/\1/p" .dev.vars | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{try{const [id,v]=Object.entries(JSON.parse(s))[0];process.stdout.write(id+" "+v.secret)}catch{}})')
S3_ID=${S3_PAIR%% *}
S3_SECRET=${S3_PAIR#* }

# 4. The Worker.
# scripts/serve-worker.mjs is `wrangler dev` with the DevTools inspector off
# (with it on, wrangler's proxy keeps every log line: BENCHMARKS.md, "Memory");
# STRATA_INSPECT=1 turns it back on for attaching DevTools.
node scripts/serve-worker.mjs --ip 127.0.0.1 --port "$PORT" ${STRATA_INSPECT:+--inspect} &
pids+=($!)
for _ in $(seq 1 600); do
  node -e 'fetch(process.argv[1]).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))' "http://127.0.0.1:$PORT/v1/health" && break
  kill -0 "${pids[1]}" 2>/dev/null || { say "the Worker (wrangler) exited"; exit 1; }
  sleep 0.2
done

cat >&2 <<MSG

  Strata is running.
    API            http://127.0.0.1:$PORT        (try: curl http://127.0.0.1:$PORT/v1/health)
    Console        http://127.0.0.1:$PORT/console/  (sign in with the API key below)
    Neon endpoint  $NEON_SQL_URL (SQL over HTTP)
                   ws://$NEON_WS_PROXY (the driver's Pool and Client), in Node:
                     import ws from 'ws';
                     neonConfig.webSocketConstructor = ws;
                     neonConfig.wsProxy = '$NEON_WS_PROXY';
                     neonConfig.useSecureWebSocket = false;
                   with DATABASE_URL as the connection string
    DATABASE_URL   $DATABASE_URL
                   (read-only requests log in as strata_read: DATABASE_URL_READ in .dev.vars)
    API key        $DEV_KEY
                   curl -H "Authorization: Bearer $DEV_KEY" http://127.0.0.1:$PORT/v1/status
    S3 endpoint    http://127.0.0.1:$PORT/s3  (bucket strata, region auto; S3_CREDENTIALS in .dev.vars)
                   access key id      $S3_ID
                   secret access key  $S3_SECRET

  Ctrl-C stops everything.
MSG
wait -n "${pids[@]}"

#!/usr/bin/env bash
# `make migrate`: applies both stores' migrations (run after `make host-bins`,
# which the Makefile does first).
#
#   Postgres  migrations/pg with `strata-dev migrate` (each file once, in name
#             order, tracked in strata_migrations; see crates/devtools/README.md):
#               * DATABASE_URL set    → that database (Neon: TLS, certificate verified)
#               * otherwise           → the local development cluster in .strata/pg,
#                 the one `make dev` runs on PG_PORT (default 5444). When `make dev`
#                 is not running, neon-local is started on the same data directory
#                 and port just for the migration, and stopped after it.
#   D1        migrations/d1 checked by `strata-dev d1-check`, then applied with
#             wrangler's own D1 migrations, locally (.wrangler/state, what
#             `make dev` serves).
#
# The remote D1 database is migrated by `make deploy` (scripts/deploy.sh).
# Tools can be replaced for tests: STRATA_DEV, NEON_LOCAL, WRANGLER.
set -euo pipefail
cd "$(dirname "$0")/.."

PG_PORT=${PG_PORT:-5444}
PG_DATA=.strata/pg
BIN=${CARGO_TARGET_DIR:-target}/debug
STRATA_DEV=${STRATA_DEV:-$BIN/strata-dev}
NEON_LOCAL=${NEON_LOCAL:-$BIN/neon-local}
WRANGLER=${WRANGLER:-node_modules/.bin/wrangler}
export WRANGLER_SEND_METRICS=false

say() { printf '[migrate] %s\n' "$*" >&2; }
die() { printf '[migrate] error: %s\n' "$*" >&2; exit 1; }

# start_neon_local, json_field
. "$(dirname "$0")/neon-local.sh"

# The port of the PostgreSQL running on $PG_DATA, if one is (postmaster.pid:
# line 1 the pid, line 4 the port).
running_dev_port() {
  local pidfile=$PG_DATA/postmaster.pid pid port
  [ -r "$pidfile" ] || return 1
  pid=$(sed -n 1p "$pidfile")
  port=$(sed -n 4p "$pidfile")
  [ -n "$pid" ] && [ -d "/proc/$pid" ] && [ -n "$port" ] || return 1
  echo "$port"
}

neon_pid=""
tmp=""
cleanup() {
  if [ -n "$neon_pid" ]; then
    kill -TERM "$neon_pid" 2>/dev/null || true
    wait "$neon_pid" 2>/dev/null || true
  fi
  [ -z "$tmp" ] || rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# 1. Postgres.
if [ -n "${DATABASE_URL:-}" ]; then
  say "Postgres: DATABASE_URL"
  pg_url=$DATABASE_URL
elif port=$(running_dev_port); then
  # `make dev` is running: use the URL it printed (same cluster, same port).
  ready=.strata/neon-local.ready
  [ -s "$ready" ] && [ "$(json_field "$ready" pg_port)" = "$port" ] ||
    die "a PostgreSQL is running on $PG_DATA (port $port) but $ready does not describe it; stop it or set DATABASE_URL"
  say "Postgres: the running local cluster (port $port)"
  pg_url=$(json_field "$ready" database_url)
else
  say "Postgres: starting the local cluster ($PG_DATA, port $PG_PORT) for the migration"
  mkdir -p .strata
  tmp=$(mktemp -d)
  start_neon_local "$NEON_LOCAL" "$tmp/ready" "$tmp/log" \
    --listen 127.0.0.1:0 --data-dir "$PG_DATA" --pg-port "$PG_PORT" --quiet || die "no local PostgreSQL"
  pg_url=$(json_field "$tmp/ready" database_url)
fi
[ -n "$pg_url" ] || die "no Postgres URL"
DATABASE_URL=$pg_url "$STRATA_DEV" migrate --dir migrations/pg

# 2. D1 (local), after strata-dev d1-check (table rebuilds, foreign keys without
#    an index: crates/devtools/README.md).
say "D1: strata-dev d1-check, then wrangler d1 migrations apply DB --local"
"$STRATA_DEV" d1-check --dir migrations/d1
CI=true "$WRANGLER" d1 migrations apply DB --local

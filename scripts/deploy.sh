#!/usr/bin/env bash
# `make deploy`: the release, in order; the first failing step stops it.
#
#   1. build        make build host-bins (the Worker bundle, strata-dev)
#   2. budget       scripts/bundle-budget.sh (wrangler deploy --dry-run, gzip size)
#   3. postgres     strata-dev migrate → DATABASE_URL (Neon): squawk refuses
#                   locking or breaking migrations before any runs, and each runs
#                   under a 1 s lock_timeout, retried, so a held lock stops the
#                   release instead of queueing the live Worker's queries
#   4. d1           wrangler d1 migrations apply DB --remote
#   5. deploy       wrangler deploy
#
# Needs a Cloudflare account (CLOUDFLARE_API_TOKEN and CLOUDFLARE_ACCOUNT_ID,
# or `wrangler login`), DATABASE_URL (Neon, direct connection) and the real
# database_id in wrangler.toml (scripts/provision.sh prints it). The Worker's
# own secrets (DATABASE_URL, API_KEYS, SIGNING_SECRET) are set once with
# `wrangler secret put`, not here.
#
# Schema changes must be additive (expand, deploy, then contract in a later
# release): migrations run before the new Worker, while the old one still
# serves (docs/migrations.md, "Expand and contract"). The D1 files were checked
# by `strata-dev d1-check` in `make test`; wrangler applies them here.
#
# `make deploy-dry-run` (--dry-run) runs every step that needs no account:
#   1, 2 as above; 3 applies the Postgres migrations to a throw-away local
#   PostgreSQL — or, with DATABASE_URL set, lists what would be applied
#   (`migrate --dry-run`, changes nothing, still refuses edited files);
#   4 applies the D1 migrations to a throw-away local D1; 5 is step 2's
#   `wrangler deploy --dry-run`.
#
# Tools can be replaced for tests: MAKE, STRATA_DEV, NEON_LOCAL, WRANGLER.
set -euo pipefail
cd "$(dirname "$0")/.."

dry_run=""
case "${1:-}" in
  "") ;;
  --dry-run) dry_run=yes ;;
  *) echo "usage: scripts/deploy.sh [--dry-run]" >&2; exit 2 ;;
esac

MAKE=${MAKE:-make}
BIN=${CARGO_TARGET_DIR:-target}/debug
STRATA_DEV=${STRATA_DEV:-$BIN/strata-dev}
NEON_LOCAL=${NEON_LOCAL:-$BIN/neon-local}
WRANGLER=${WRANGLER:-node_modules/.bin/wrangler}
export WRANGLER_SEND_METRICS=false
PLACEHOLDER_ID=00000000-0000-0000-0000-000000000000

step_no=0
step() {
  step_no=$((step_no + 1))
  printf '\n[deploy] %d/5 %s\n' "$step_no" "$*" >&2
}
die() { printf '[deploy] error: %s\n' "$*" >&2; exit 1; }
# start_neon_local, json_field
. "$(dirname "$0")/neon-local.sh"
stopped() { printf '[deploy] stopped: step %d failed; nothing after it ran\n' "$step_no" >&2; }

tmp=""
neon_pid=""
cleanup() {
  local status=$?
  if [ -n "$neon_pid" ]; then
    kill -TERM "$neon_pid" 2>/dev/null || true
    wait "$neon_pid" 2>/dev/null || true
  fi
  [ -z "$tmp" ] || rm -rf "$tmp"
  if [ "$status" -ne 0 ] && [ "$step_no" -gt 0 ]; then stopped; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Preconditions of a real release, checked before anything runs.
if [ -z "$dry_run" ]; then
  [ -n "${DATABASE_URL:-}" ] || die "DATABASE_URL is not set: the Neon connection string the Postgres migrations go to"
  if grep -q "database_id = \"$PLACEHOLDER_ID\"" wrangler.toml; then
    die "wrangler.toml still has the placeholder D1 database_id: put in the one scripts/provision.sh (or wrangler d1 create) printed"
  fi
fi
tmp=$(mktemp -d)

step "build: make build host-bins"
"$MAKE" --no-print-directory build host-bins

step "bundle budget: scripts/bundle-budget.sh"
WRANGLER=$WRANGLER scripts/bundle-budget.sh

if [ -z "$dry_run" ]; then
  step "Postgres migrations: strata-dev migrate (DATABASE_URL)"
  "$STRATA_DEV" migrate --dir migrations/pg

  step "D1 migrations: wrangler d1 migrations apply DB --remote"
  CI=true "$WRANGLER" d1 migrations apply DB --remote

  step "deploy: wrangler deploy"
  "$WRANGLER" deploy
  printf '\n[deploy] released\n' >&2
  exit 0
fi

if [ -n "${DATABASE_URL:-}" ]; then
  step "Postgres migrations (dry run): strata-dev migrate --dry-run (DATABASE_URL)"
  "$STRATA_DEV" migrate --dir migrations/pg --dry-run
else
  step "Postgres migrations (dry run): applied to a throw-away local PostgreSQL"
  start_neon_local "$NEON_LOCAL" "$tmp/ready" "$tmp/neon-local.log" --listen 127.0.0.1:0 --quiet ||
    die "no throw-away PostgreSQL"
  url=$(json_field "$tmp/ready" database_url)
  DATABASE_URL=$url "$STRATA_DEV" migrate --dir migrations/pg
  kill -TERM "$neon_pid" 2>/dev/null || true
  wait "$neon_pid" 2>/dev/null || true
  neon_pid=""
fi

step "D1 migrations (dry run): applied to a throw-away local D1"
CI=true "$WRANGLER" d1 migrations apply DB --local --persist-to "$tmp/d1"

step "deploy (dry run): done in step 2 by wrangler deploy --dry-run; needs an account for real"
printf '\n[deploy] dry run passed: every step that needs no account\n' >&2

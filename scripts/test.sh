#!/usr/bin/env bash
# Runs every test suite, in order of speed, and fails if any fails:
#   0. formatting and lints, warnings as errors (scripts/lint.sh)
#   1. host unit tests of the pure crates (cargo test), and the OpenAPI
#      document checked by a real validator (scripts/check-openapi.py)
#   2. the official Neon driver against the local Neon endpoint (node --test)
#   3. the integration tests: real workerd, local D1/R2, Postgres via the endpoint
#   4. the release: workflow lint (actionlint), the bundle budget (wrangler
#      deploy --dry-run), the release scripts with stand-in tools (node --test)
# Each suite starts and tears down its own isolated processes.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== format and lints (cargo fmt --check, cargo clippy -D warnings: host and wasm32) =="
scripts/lint.sh

echo "== unit tests (host) =="
cargo test --locked --workspace --exclude strata --exclude strata-tests

echo "== API contract: openapi/openapi.json is valid OpenAPI 3.1, every example valid =="
.venv/bin/python scripts/check-openapi.py

echo "== Neon driver conformance (node --test) =="
node --test tests/neon-driver/

echo "== the Worker's JavaScript modules on their own (node --test) =="
node --test tests/snippets/

echo "== integration tests (wrangler dev + local stack) =="
cargo test --locked -p strata-tests

echo "== release: workflow lint, release scripts, bundle budget =="
node scripts/lint-workflows.mjs
scripts/bundle-budget.sh
node scripts/console-budget.mjs
node --test tests/release/

#!/usr/bin/env bash
# Installs every tool the build, `make dev` and `make test` need, and skips
# each one that is already present at the right version, so a warm machine
# passes through in well under a second.
#
#   rustup target wasm32-unknown-unknown
#   worker-build        (cargo install, pinned)
#   wasm-bindgen-cli    (cargo install, = the wasm-bindgen pinned in Cargo.toml)
#   node_modules        (npm ci from package-lock.json: wrangler, binaryen, esbuild, ...)
#   PostgreSQL server binaries (checked; apt-get installed when root and missing)
set -euo pipefail
cd "$(dirname "$0")/.."

WORKER_BUILD_VERSION=0.8.7
WASM_BINDGEN_VERSION=$(sed -n 's/^wasm-bindgen = "=\([0-9.]*\)".*/\1/p' Cargo.toml)
CARGO_BIN=${CARGO_HOME:-$HOME/.cargo}/bin
export PATH="$CARGO_BIN:$PATH"

say() { printf '[tools] %s\n' "$*" >&2; }
die() { printf '[tools] error: %s\n' "$*" >&2; exit 1; }

command -v cargo >/dev/null || die "cargo is not installed (install Rust with rustup: https://rustup.rs)"
command -v node >/dev/null || die "node is not installed (Node.js >= 20.3 is needed for wrangler)"
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] || die "Node.js >= 20.3 is needed, found $(node --version)"

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

# The first x.y.z in `<tool> --version` (worker-build prints "0.8.7",
# wasm-bindgen "wasm-bindgen 0.2.130").
installed_version() { { "$1" --version 2>/dev/null || true; } | grep -oE '[0-9]+\.[0-9]+\.[0-9]+' | head -n 1; }

# Checked where `cargo install` puts them (and where the Makefile points
# worker-build), not wherever PATH finds a copy.
if [ "$(installed_version "$CARGO_BIN/worker-build")" != "$WORKER_BUILD_VERSION" ]; then
  say "installing worker-build $WORKER_BUILD_VERSION (about 6 minutes on 2 cores, once)"
  cargo install worker-build --version "$WORKER_BUILD_VERSION" --locked --force
fi

[ -n "$WASM_BINDGEN_VERSION" ] || die "Cargo.toml must pin wasm-bindgen exactly (wasm-bindgen = \"=X.Y.Z\")"
if [ "$(installed_version "$CARGO_BIN/wasm-bindgen")" != "$WASM_BINDGEN_VERSION" ]; then
  say "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (about 4 minutes on 2 cores, once)"
  # Not --locked: the CLI's lockfile names a crate version the registry lacks.
  cargo install wasm-bindgen-cli --version "=$WASM_BINDGEN_VERSION" --force
fi

lock_sum=$(sha256sum package-lock.json | awk '{print $1}')
if [ ! -f node_modules/.strata-lock-sum ] || [ "$(cat node_modules/.strata-lock-sum)" != "$lock_sum" ]; then
  say "installing npm packages (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$lock_sum" > node_modules/.strata-lock-sum
fi

# PostgreSQL server binaries for the local cluster (initdb, postgres).
pg_found=""
if command -v initdb >/dev/null && command -v postgres >/dev/null; then
  pg_found=yes
else
  for dir in /usr/lib/postgresql/*/bin; do
    [ -x "$dir/initdb" ] && [ -x "$dir/postgres" ] && pg_found=yes && break
  done
fi
if [ -z "$pg_found" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing the PostgreSQL server (apt-get)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  else
    die "PostgreSQL server binaries (initdb, postgres) not found: install PostgreSQL 15+ (e.g. apt-get install postgresql)"
  fi
fi

#!/usr/bin/env bash
# Installs every tool the build, `make dev` and `make test` need, and skips
# each one that is already present at the right version, so a warm machine
# passes through in well under a second.
#
#   rustup target wasm32-unknown-unknown, components rustfmt and clippy
#   worker-build        (cargo install, pinned)
#   wasm-bindgen-cli    (cargo install, = the wasm-bindgen pinned in Cargo.toml)
#   node_modules        (npm ci from package-lock.json: wrangler, binaryen, esbuild, ...)
#   PostgreSQL server binaries (checked; apt-get installed when root and missing)
#   chromium            (Debian's package at /usr/bin/chromium: the console's browser
#                        tests; apt-get installed when root and missing)
#   .venv/              (Python venv from scripts/python-requirements.txt: schemathesis,
#                        openapi-spec-validator, jsonschema — the API-contract tests;
#                        squawk — the migration linter of `strata-dev migrate`)
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
# `make test` starts with `cargo fmt --check` and `cargo clippy` (scripts/lint.sh).
for component in rustfmt clippy; do
  if ! rustup component list --installed 2>/dev/null | grep -q "^$component-"; then
    say "adding the $component component"
    rustup component add "$component"
  fi
done

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

# Several `make` runs may share a work tree: after a lock change, concurrent
# `npm ci`s delete each other's node_modules (it happened: all of them failed
# and left it empty). One installs, the others wait and then find it current.
lock_sum=$(sha256sum package-lock.json | awk '{print $1}')
exec 8<package-lock.json
flock 8
if [ ! -f node_modules/.strata-lock-sum ] || [ "$(cat node_modules/.strata-lock-sum)" != "$lock_sum" ]; then
  say "installing npm packages (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$lock_sum" > node_modules/.strata-lock-sum
fi
exec 8<&-

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

# Chromium for the console's browser tests (tests/console/, driven by the
# pinned playwright-core, which downloads no browser of its own).
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing chromium (apt-get; the console's browser tests)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    die "/usr/bin/chromium not found: install Debian's chromium package (apt-get install chromium) for the console's browser tests"
  fi
fi

# Python tools of the API-contract tests (OpenAPI validation, schemathesis) in
# a project-local venv, pinned by scripts/python-requirements.txt. Built with
# the newest Python >= 3.12 found (PATH, then pyenv's versions): under 3.11,
# hypothesis trips over a CPython bug ("AST constructor recursion depth
# mismatch") while generating nested JSON. Reinstalled when the requirements
# or the interpreter change, or the venv's schemathesis is not the pinned one.
find_python() {
  local c pyenv_versions=${PYENV_ROOT:-$HOME/.pyenv}/versions
  for c in $(ls -d "$pyenv_versions"/3.1[2-9]*/bin/python3 2>/dev/null | sort -rV) \
    python3.14 python3.13 python3.12 python3; do
    if "$c" -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; then
      command -v "$c"
      return
    fi
  done
}
py_reqs=scripts/python-requirements.txt
schemathesis_version=$(sed -n 's/^schemathesis==//p' "$py_reqs")
squawk_version=$(sed -n 's/^squawk-cli==//p' "$py_reqs")
# Several `make` runs may share a work tree: one installs, the others wait.
exec 9<"$py_reqs"
flock 9
python=$(find_python)
if [ -z "$python" ]; then
  command -v python3 >/dev/null || {
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      say "installing Python 3 (apt-get)"
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv >/dev/null
    else
      die "python3 (>= 3.10, with venv) is needed for the API-contract tests"
    fi
  }
  python3 -c 'import sys; sys.exit(sys.version_info < (3, 10))' || die "Python >= 3.10 is needed, found $(python3 --version)"
  say "warning: no Python >= 3.12 found; using $(python3 --version) (the fuzzer may hit a CPython 3.11 bug)"
  python=$(command -v python3)
fi
py_sum="$(sha256sum "$py_reqs" | awk '{print $1}') $("$python" --version 2>&1)"
venv_ok() {
  [ -x .venv/bin/python ] && [ -f .venv/.strata-req-sum ] && [ "$(cat .venv/.strata-req-sum)" = "$py_sum" ] &&
    [ "$(.venv/bin/python -c 'import importlib.metadata as m; print(m.version("schemathesis"))' 2>/dev/null)" = "$schemathesis_version" ] &&
    [ "$(installed_version .venv/bin/squawk)" = "$squawk_version" ]
}
if ! venv_ok; then
  if ! "$python" -c 'import venv, ensurepip' 2>/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      say "installing python3-venv (apt-get)"
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    else
      die "Python's venv module is missing (apt-get install python3-venv)"
    fi
  fi
  say "installing the Python test tools into .venv ($("$python" --version 2>&1), schemathesis $schemathesis_version; about a minute, once)"
  rm -rf .venv
  "$python" -m venv .venv
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-input -r "$py_reqs"
  echo "$py_sum" > .venv/.strata-req-sum
  venv_ok || die "the venv's schemathesis is not $schemathesis_version or its squawk not $squawk_version after installing them"
fi
exec 9<&-

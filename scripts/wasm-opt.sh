#!/usr/bin/env bash
# The wasm-opt worker-build runs (WASM_OPT_BIN in the Makefile): binaryen's
# wasm-opt from node_modules, minus --debuginfo.
#
# Why: worker-build always appends --debuginfo, which keeps the wasm name
# section (function names: ~190 KiB raw, ~40 KiB gzip of the upload) that the
# runtime never needs. Without it a panic still logs its message and location
# (console_error_panic_hook); a stack shows wasm function indices instead of
# names. Everything else worker-build asks for (-Oz from Cargo.toml, the
# feature flags) is passed through unchanged.
set -euo pipefail
args=()
for arg in "$@"; do
  case "$arg" in
    --debuginfo | -g) ;;
    *) args+=("$arg") ;;
  esac
done
exec "$(dirname "$0")/../node_modules/.bin/wasm-opt" "${args[@]}"

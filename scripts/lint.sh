#!/usr/bin/env bash
# Formatting and lints, the first step of `make test` (and `make lint` alone):
#   cargo fmt --check                   every crate of the workspace
#   cargo clippy, all targets, host     the host crates, their tests, and the
#                                       Worker crate compiled for the host
#   cargo clippy, wasm32                the Worker crate for the target it ships on
# Warnings are errors. The lint levels are `[workspace.lints]` in Cargo.toml,
# their configuration clippy.toml.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo fmt --all --check
cargo clippy --locked --workspace --all-targets -- -D warnings
cargo clippy --locked --target wasm32-unknown-unknown -p strata -- -D warnings

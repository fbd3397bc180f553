# Strata — the two commands a new user needs are `make dev` and `make test`.
# Both install whatever is missing first (scripts/tools.sh skips what is there).

SHELL := /bin/bash
.DEFAULT_GOAL := help

CARGO_BIN := $(or $(CARGO_HOME),$(HOME)/.cargo)/bin
export PATH := $(CARGO_BIN):$(PATH)
# worker-build finds its external tools here instead of downloading them.
export WASM_BINDGEN_BIN := $(CARGO_BIN)/wasm-bindgen
# scripts/wasm-opt.sh: binaryen's wasm-opt without --debuginfo (no name section).
export WASM_OPT_BIN := $(CURDIR)/scripts/wasm-opt.sh
export ESBUILD_BIN := $(CURDIR)/node_modules/.bin/esbuild
export WRANGLER_SEND_METRICS := false

# Everything the wasm build reads: a change to any of these rebuilds it.
WORKER_INPUTS := $(shell find src crates/core/src -name '*.rs') \
	Cargo.toml Cargo.lock crates/core/Cargo.toml scripts/wasm-opt.sh

.PHONY: bench-load bench-compare help tools build dev test test-unit test-integration test-neon-driver test-snippets host-bins clean
.PHONY: migrate deploy deploy-dry-run provision bundle-budget lint-workflows lint

help:
	@echo "make dev    install what is missing, start the local stack, serve the API"
	@echo "make test   install what is missing, run every test"
	@echo "make build  build the Worker (build/index.js + build/index_bg.wasm)"
	@echo "make lint   cargo fmt --check and cargo clippy (host and wasm32), warnings as errors"
	@echo "make migrate         apply migrations/pg (DATABASE_URL or the local cluster) and migrations/d1 (local)"
	@echo "make deploy          release: build, bundle budget, migrations, wrangler deploy (needs accounts)"
	@echo "make deploy-dry-run  every release step that needs no account"
	@echo "make provision       create the D1 database, R2 bucket and Neon project (needs accounts)"
	@echo "make bench-compare   per-request cost: Strata against a minimal JS Worker, side by side (BENCHMARKS.md)"

tools:
	@scripts/tools.sh

build: tools build/index.js web/openapi.json

# GET /v1/openapi.json serves the document from the static assets (not
# from the wasm: src/routes/openapi.rs); this is the copy wrangler uploads.
web/openapi.json: openapi/openapi.json
	cp $< $@

build/index.js: $(WORKER_INPUTS)
	$(CARGO_BIN)/worker-build --release
	@touch $@

host-bins: tools
	cargo build --locked -p neon-local -p strata-devtools

dev: build host-bins
	@scripts/dev.sh

test: build host-bins
	@scripts/test.sh

# Also the first step of `make test`.
lint: tools
	@scripts/lint.sh

test-unit: tools
	cargo test --locked --workspace --exclude strata --exclude strata-tests

test-integration: build host-bins
	cargo test --locked -p strata-tests

test-neon-driver: host-bins
	node --test tests/neon-driver/

test-snippets:
	node --test tests/snippets/

# Release (docs/deploying.md); scripts/deploy.sh stops at the first failing step.
migrate: host-bins
	@scripts/migrate.sh

deploy: build host-bins
	@scripts/deploy.sh

deploy-dry-run: build host-bins
	@scripts/deploy.sh --dry-run

provision: tools host-bins
	@scripts/provision.sh

bundle-budget: build
	@scripts/bundle-budget.sh

lint-workflows: tools
	@node scripts/lint-workflows.mjs

# Object throughput and workerd peak memory, Strata against a plain JS Worker
# (bench/README.md). Minutes long, so not part of `make test`.
.PHONY: bench
bench: build
	node bench/run.mjs

clean:
	rm -rf build target node_modules .wrangler .strata

# The load benchmark: mixed reads and writes over all three stores with 32
# connections (wrk), 180 s of warm-up then 60 s measured (STRATA_LOAD_WARMUP,
# STRATA_LOAD_SECONDS); fails on any error or on workerd memory growing in the
# measured minute. Numbers: BENCHMARKS.md.
bench-load: build host-bins
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && { apt-get install -y -qq wrk || { apt-get update -qq && apt-get install -y -qq wrk; }; }; } \
		|| { echo "install wrk (apt-get install wrk)"; exit 1; }
	cargo test --locked -p strata-tests --test api -- --ignored bench::load --nocapture

# /s3 against /v1/objects: PutObject and GetObject of 1 MiB and 256 MiB in
# the same run (bench/s3.mjs; STRATA_BENCH_S3_SIZES, STRATA_BENCH_S3_REPS).
# Numbers: BENCHMARKS.md.
.PHONY: bench-s3
bench-s3: build
	node bench/s3.mjs

# Per-request cost side by side: Strata and a minimal JS Worker with the same
# bindings (bench/js-worker), same launcher, interleaved wrk rounds with 16
# connections; medians and ratios (bench/compare.mjs, BENCHMARKS.md).
# ARGS passes options, e.g. ARGS="--rounds 3 --routes health,d1".
bench-compare: build host-bins
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && { apt-get install -y -qq wrk || { apt-get update -qq && apt-get install -y -qq wrk; }; }; } \
		|| { echo "install wrk (apt-get install wrk)"; exit 1; }
	node bench/compare.mjs $(ARGS)

# Move a REST table between D1 and Postgres on the running `make dev` stack
# (docs/graduation.md): make graduate TABLE=todos TO=pg [ARGS=--dry-run]
# STRATA_API and STRATA_KEY point it at another Worker.
.PHONY: graduate
graduate: host-bins
	$${CARGO_TARGET_DIR:-target}/debug/strata-dev graduate "$(TABLE)" --to "$(TO)" \
		--api "$${STRATA_API:-http://127.0.0.1:8787}" --key "$${STRATA_KEY:-$$(cat .strata/dev-key)}" $(ARGS)

# pi5trading: `make run` runs the system, `make test` runs every test. `make help` lists the rest.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
# rustup's toolchain when present; Debian's cargo otherwise.
export PATH := $(HOME)/.cargo/bin:$(PATH)
# Constrain build dependencies (maturin) as well as runtime ones.
export PIP_CONSTRAINT := $(CURDIR)/constraints.txt
export PIP_DISABLE_PIP_VERSION_CHECK := 1

INSTALLED := $(VENV)/.installed
CORE_SO := python/pi5trading/_core.abi3.so
RUST_SRC := Cargo.toml Cargo.lock rust_core/Cargo.toml $(shell find rust_core/src -name '*.rs' 2>/dev/null)

.PHONY: bench-peers help run test system-run system-test install core lint test-rust test-py bench wheel lock clean
.PHONY: wheel-aarch64 smoke-aarch64 wheel-native wheel-check image-check image-check-if-root
.PHONY: test-gates test-products proof
.PHONY: dashboard dashboard-if-node test-frontend

help: ## list the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

run: system-run install core dashboard-if-node ## set up and run the system (API and dashboard on http://127.0.0.1:8080)
	$(BIN)/pi5trading serve

# Two lines of work at once, one per core: the gates (lint, Rust tests, Python tests) and
# the products (the dashboard's tests in Chromium, both wheels built and used, the arm64
# image built and run). One waits on the database, the other on the browser, the cross
# compiler and qemu; one after the other they took about 19 minutes before the image check
# joined. The products' lines are prefixed [products].
test: system-test install core dashboard ## set up and run every test and quality gate
	@$(MAKE) --no-print-directory -j2 test-gates test-products
	@echo ">> make test: every gate passed"

test-gates:
	@$(MAKE) --no-print-directory -j1 lint test-rust test-py

test-products:
	@set -o pipefail; $(MAKE) --no-print-directory -j1 test-frontend wheel-check image-check-if-root 2>&1 \
		| sed -u 's/^/[products] /'

system-run:
	@scripts/dev/system_deps.sh run

system-test:
	@PI5_TIMESCALEDB_BACKGROUND=1 scripts/dev/system_deps.sh test
	@if [ "$$(id -u)" -eq 0 ]; then scripts/dev/system_deps.sh image; fi
	@scripts/dev/aarch64_deps.sh

# The dashboard (frontend/): built into the Python package, where the API serves it and a
# wheel ships it. npm ci runs again only when the lock file changed.
FRONTEND := frontend
NODE_OK := $(FRONTEND)/node_modules/.installed
DASHBOARD := python/pi5trading/api/_dashboard/index.html
FRONTEND_SRC := $(shell find $(FRONTEND)/src $(FRONTEND)/public -type f 2>/dev/null) \
	$(FRONTEND)/index.html $(FRONTEND)/vite.config.ts $(FRONTEND)/tsconfig.json

$(NODE_OK): $(FRONTEND)/package-lock.json $(FRONTEND)/package.json
	cd $(FRONTEND) && npm ci --no-audit --no-fund
	@touch $@

$(DASHBOARD): $(NODE_OK) $(FRONTEND_SRC)
	cd $(FRONTEND) && npx vite build --logLevel warn

dashboard: $(DASHBOARD) ## build the web dashboard (npm ci + vite build) into the Python package

# make run: the dashboard when Node >= 20.19 is here; the API runs either way.
dashboard-if-node:
	@if command -v node >/dev/null 2>&1 && node -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>20||(a===20&&b>=19)?0:1)'; then \
		$(MAKE) --no-print-directory dashboard; \
	else \
		echo ">> no Node.js >= 20.19: the API runs without the dashboard (install nodejs and npm, then make dashboard)"; \
	fi

# The frontend's gates: lint and format (biome), types, unit tests, the client's drift
# from the server's schema, the build, and the end-to-end tests in Debian's Chromium
# against a real server.
# The build is the dashboard target's (once: the wheels package what it wrote).
test-frontend: $(NODE_OK) install core $(DASHBOARD) ## dashboard: biome, tsc, vitest, client drift check, vite build, e2e (Chromium)
	cd $(FRONTEND) && npx biome check .
	cd $(FRONTEND) && npx tsc --noEmit
	cd $(FRONTEND) && npx vitest run
	cd $(FRONTEND) && PYTHON=$(abspath $(PY)) node scripts/client.mjs check
	cd $(FRONTEND) && PI5TRADING_BIN=$(abspath $(BIN))/pi5trading npx playwright test

$(INSTALLED): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	@# Editable install: builds the Rust extension in release mode into python/pi5trading/.
	$(BIN)/pip install -q -e ".[dev,cluster]"
	@touch $@

install: $(INSTALLED) ## create .venv and install pinned dependencies

$(CORE_SO): $(INSTALLED) $(RUST_SRC)
	VIRTUAL_ENV=$(abspath $(VENV)) $(BIN)/maturin develop --release --skip-install -q
	@touch $@

core: $(CORE_SO) ## (re)build the Rust extension in release mode

lint: install core ## ruff, mypy --strict, stubtest, import contracts, cargo fmt, cargo clippy
	$(BIN)/ruff check python tests benches
	$(BIN)/ruff format --check python tests benches
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python -m mypy.stubtest pi5trading._core
	cargo fmt --all --check
	cargo clippy --all-targets -q -- -D warnings
	cargo clippy -p pi5trading-core --no-default-features --all-targets -q -- -D warnings

test-rust: ## cargo test (pure-Rust logic, no interpreter)
	cargo test -p pi5trading-core --no-default-features -q

test-py: install core ## pytest (unit + integration with real PostgreSQL/Redis)
	@scripts/dev/timescaledb_wait.sh
	$(BIN)/pytest

bench: install core ## benchmarks: Rust criterion benches and pytest-benchmark suites
	cargo bench -p pi5trading-core --no-default-features --profile bench-lto
	$(BIN)/pytest benches --benchmark-only -p no:cacheprovider

# The long proof (issue 17), NOT in make test: the determinism check on 200,000 bars, the
# property tests at 20x their examples (Rust at 2,000 cases each), the API fuzz at 20x, the
# hostile-input and fault tests, 3 minutes of load on a live node (benches/live_load.py);
# each step timed, in test-artifacts/proof/report.md and report.json. Sizes: PROOF_ARGS="--scale 5 --bars 50000 --steps determinism,api-fuzz".
proof: install core ## the long proof (determinism, properties and fuzz at scale, faults): test-artifacts/proof/report.md
	$(BIN)/python scripts/dev/proof.py $(PROOF_ARGS)

BENCH_VENV := .bench-venv
$(BENCH_VENV)/.installed: benches/side_by_side/requirements.txt
	@test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	PIP_CONSTRAINT= $(BENCH_VENV)/bin/pip install -q -r benches/side_by_side/requirements.txt
	@touch $@

# NautilusTrader needs pandas<3, so it gets its own virtualenv.
NAUT_VENV := .bench-venv-nautilus
$(NAUT_VENV)/.installed: benches/side_by_side/requirements-nautilus.txt
	@test -x $(NAUT_VENV)/bin/python || $(PYTHON) -m venv $(NAUT_VENV)
	PIP_CONSTRAINT= $(NAUT_VENV)/bin/pip install -q -r benches/side_by_side/requirements-nautilus.txt
	@touch $@

bench-peers: $(BENCH_VENV)/.installed $(NAUT_VENV)/.installed install core ## side-by-side SMA crossover vs backtesting.py, backtrader, NautilusTrader
	$(BIN)/python benches/side_by_side/compare.py --bars $${BARS:-1000000} --peer-python $(BENCH_VENV)/bin/python --nautilus-python $(NAUT_VENV)/bin/python

wheel: wheel-native wheel-aarch64 ## build the x86_64 and aarch64 (Pi 5) wheels into dist/

wheel-native: install dashboard ## build this machine's release wheel (abi3, CPython >= 3.11, with the dashboard) into dist/
	rm -f dist/pi5trading-*$(shell uname -m).whl
	$(BIN)/maturin build --release -o dist

wheel-check: wheel ## install both wheels as a user would (aarch64 under qemu) and use them
	scripts/dev/wheel_check.sh --expect-dashboard

# About 2 minutes with the bases cached (measured); the bases add about 1 (docs/DEPLOYMENT.md).
image-check: wheel-aarch64 ## build the arm64 image from the aarch64 wheel (buildah, qemu) and run it (podman), as root
	@scripts/dev/system_deps.sh image
	scripts/dev/image_check.sh --no-archive

# make test: the image check needs root (binfmt_misc, container storage); said, not hidden.
image-check-if-root: wheel-aarch64
	@if [ "$$(id -u)" -eq 0 ]; then \
		$(MAKE) --no-print-directory image-check; \
	else \
		echo ">> image check NOT run: it needs root (sudo make image-check); CI runs it"; \
	fi

# Cross build for the Raspberry Pi 5 (recipe: /work/shared/ARM64.md, docs/development.md).
# Debian's rustc/cargo (the rustup toolchain has no aarch64 std) through links first on PATH,
# maturin's zig as linker (no CARGO_TARGET_*_LINKER: aarch64-linux-gnu-gcc would win and link
# against glibc 2.34+ symbols, failing the manylinux2014 check), its own target dir: the
# native build and its settings stay untouched.
AARCH64 := aarch64-unknown-linux-gnu
CROSS_BIN := target/cross-bin
CROSS_ENV := PATH=$(abspath $(CROSS_BIN)):$(abspath $(BIN)):$$PATH RUSTC=/usr/bin/rustc \
	CARGO_TARGET_DIR=$(abspath target/cross)

wheel-aarch64: install dashboard ## cross-build the aarch64 (Pi 5) wheel (with the dashboard), manylinux2014, into dist/
	@scripts/dev/aarch64_deps.sh
	$(BIN)/pip install -q -r scripts/dev/requirements-cross.txt
	@mkdir -p $(CROSS_BIN) && ln -sf /usr/bin/cargo $(CROSS_BIN)/cargo && ln -sf /usr/bin/rustc $(CROSS_BIN)/rustc
	rm -f dist/pi5trading-*aarch64.whl
	$(CROSS_ENV) $(BIN)/maturin build --release --target $(AARCH64) --zig --compatibility manylinux2014 -o dist

smoke-aarch64: wheel-aarch64 ## run the aarch64 wheel under qemu (emulated CPython 3.11)
	scripts/dev/aarch64_smoke.sh

lock: ## re-pin constraints.txt from a fresh resolve of pyproject.toml
	rm -rf .lockenv && $(PYTHON) -m venv .lockenv
	PIP_CONSTRAINT= .lockenv/bin/pip install -q -e ".[dev,cluster]"
	.lockenv/bin/pip freeze --exclude-editable | grep -v '^pi5trading' > constraints.txt
	rm -rf .lockenv

clean: ## remove build outputs and the virtualenv
	rm -rf $(VENV) target dist $(CORE_SO) .mypy_cache .ruff_cache .pytest_cache
	rm -rf $(FRONTEND)/node_modules python/pi5trading/api/_dashboard test-artifacts/e2e

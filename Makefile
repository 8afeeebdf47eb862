# nextplane developer commands. The README's two: `make run`, `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
CONFIG ?= etc/nextplane.example.toml
CERTS  := var/certs
# This machine's PostgreSQL (trust auth); override for your own.
export NEXTPLANE_TEST_PG_DSN ?= dbname=test host=127.0.0.1 user=root

.PHONY: help venv certs run check unit lint typecheck test system interop interop-xmpp \
        interop-sip interop-deps browser-deps browser test-deps bench clean

help:
	@echo "make run       create the venv, install, make dev certificates, start the hub (SQLite)"
	@echo "make test      everything CI runs: unit, PostgreSQL, process and real-peer interop suites"
	@echo "make check     fast unit tests + ruff + mypy"
	@echo "make interop   real-peer suites (Prosody, ejabberd, Kamailio/sipp, baresip) in a netns"
	@echo "make bench     benchmarks; JSON results in bench/results/"

$(VENV)/.installed: setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]' --config-settings editable_mode=compat
	touch $@

# Chart.js for the admin portal, pinned and vendored at build time (no CDN).
CHARTJS := nextplane/admin/portal/static/vendor/chart.umd.js
$(CHARTJS): scripts/vendor-chartjs.sh
	sh scripts/vendor-chartjs.sh $(dir $@)

venv: $(VENV)/.installed $(CHARTJS)

$(CERTS)/acme.test.crt: | $(VENV)/.installed
	$(PY) -m nextplane.devcerts --out $(CERTS) acme.test

certs: $(CERTS)/acme.test.crt

run: venv certs
	@echo "nextplane: starting with $(CONFIG); health at http://127.0.0.1:8080/healthz (Ctrl-C stops)"
	$(VENV)/bin/twistd --nodaemon --pidfile= nextplane --config $(CONFIG)

# Test-only data from npm (the Teams app manifest schema), pinned by tests/npm/package-lock.json.
NPM_DEPS := tests/npm/node_modules/.installed
$(NPM_DEPS): tests/npm/package.json tests/npm/package-lock.json
	npm ci --prefix tests/npm --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $@

test-deps: $(NPM_DEPS)

unit: venv test-deps
	$(PY) scripts/run_suites.py unit

lint: venv
	$(VENV)/bin/ruff check nextplane twisted tests bench scripts
	$(VENV)/bin/ruff format --check nextplane twisted tests bench scripts

typecheck: venv
	$(VENV)/bin/mypy

check: unit lint typecheck

system: venv certs
	$(PY) scripts/run_suites.py system

interop-deps:
	bash scripts/install-interop-deps.sh

# Debian's chromium for the portal's browser suite (Playwright drives it;
# no browser is ever downloaded).
browser-deps:
	bash scripts/install-browser-deps.sh

browser: venv browser-deps
	$(PY) scripts/run_suites.py browser

interop: venv interop-deps
	$(PY) scripts/run_suites.py interop

interop-xmpp: venv interop-deps
	$(PY) scripts/run_suites.py interop-xmpp

interop-sip: venv interop-deps
	$(PY) scripts/run_suites.py interop-sip

# Everything CI runs; installs what it needs (Debian packages for the peers).
test: venv test-deps interop-deps browser-deps certs lint typecheck
	$(PY) scripts/run_suites.py unit system browser interop

# BENCH="B1 B6" picks benchmarks; BENCH_FLAGS=--quick for a smoke run.
bench: venv interop-deps certs
	scripts/in-netns $(PY) bench/run.py $(BENCH_FLAGS) $(BENCH)

clean:
	rm -rf _trial_temp* .mypy_cache .ruff_cache build *.egg-info $(CHARTJS)

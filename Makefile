# Two commands a newcomer needs: `make run` and `make test`. Both set everything up themselves.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: run test test-fast setup browser-deps db-deps lint docs bench clean translations messages
BROWSER_STAMP := $(VENV)/.browser-deps-$(shell cat tests/web/package-lock.json | cksum | cut -d' ' -f1)

$(PY):
	$(PYTHON) -m venv $(VENV)

# torch first, pinned to the local CPU build, so nothing pulls a multi-GB CUDA build.
$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[dev]"
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

setup: $(STAMP) translations

# The page's message catalogues (issue 17): `translations` compiles the .po files to the .mo files the page
# loads (run by setup); `messages` extracts the page's strings (babel.cfg) into the .pot and updates every .po.
translations: $(STAMP)
	$(VENV)/bin/pybabel compile -d service/web/locale -D messages --statistics

messages: $(STAMP)
	$(VENV)/bin/pybabel extract -F babel.cfg -k N_ --no-location --sort-output --project=partnermatch \
		--copyright-holder="partnermatch contributors" -o service/web/locale/messages.pot .
	$(VENV)/bin/pybabel update -i service/web/locale/messages.pot -d service/web/locale -D messages \
		--width 120 --ignore-obsolete

# The browser tests drive Debian's headless Chromium (Playwright, never `playwright install`)
# and check accessibility with axe-core from npm. Missing pieces make those tests fail loudly.
$(BROWSER_STAMP): tests/web/package-lock.json | $(PY)
	command -v chromium >/dev/null 2>&1 || { apt-get update -q && apt-get install -y -q chromium chromium-driver fonts-noto-color-emoji; }
	npm ci --prefix tests/web --no-audit --no-fund --silent
	rm -f $(VENV)/.browser-deps-*
	touch $(BROWSER_STAMP)

browser-deps: $(BROWSER_STAMP)

# The service and store tests run on SQLite and on a real PostgreSQL that they start themselves
# (tests/support/postgres.py: initdb + pg_ctl in a temporary directory), so the server binaries must be here.
db-deps:
	command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { apt-get update -q && apt-get install -y -q postgresql; }

run: setup
	$(PY) -m service serve --demo

# ruff, then the layering (import-linter contracts in pyproject.toml), then every test.
test: setup browser-deps db-deps
	$(PY) -m ruff check .
	$(VENV)/bin/lint-imports
	$(PY) -m pytest -q

# The inner loop (under 2 minutes): the same checks without the slow tests (browser, multi-process, notebooks,
# schemathesis, the real model), so it needs no Chromium (PostgreSQL yes: both databases are tested).
test-fast: setup db-deps
	$(PY) -m ruff check .
	$(VENV)/bin/lint-imports
	$(PY) -m pytest -q -m "not slow"

lint: setup
	$(PY) -m ruff check .

# The docs site (mkdocs, material theme, API reference from the docstrings) into build/site/.
# `make test` builds it too (tests/docs/test_site.py), with --strict.
docs: setup
	$(VENV)/bin/mkdocs build --strict

bench: setup
	$(PY) benchmarks/bench_suggest.py
	$(PY) benchmarks/bench_encode.py

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .hypothesis build/site

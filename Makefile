# One list of targets for people and CI (`make help` lists them). Everything runs from the project's own
# virtualenv, made by `make venv` and installed again only when pyproject.toml changes.
PY ?= .venv/bin/python
SOURCES = catalog jobs tests bench

.DEFAULT_GOAL := help
.PHONY: help venv test test-fast lint format wheel-smoke bench bundle

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z][a-z-]*:.*## / {printf "  make %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

venv: ## make .venv with the test extras (again when pyproject.toml changed)
	@test -x $(PY) || python3 -m venv .venv
	@if [ ! -f .venv/.installed ] || [ pyproject.toml -nt .venv/.installed ]; then \
		$(PY) -m pip install -q -e '.[test]' && touch .venv/.installed; fi

test: venv ## every test, on every core (what CI runs: the README's test command)
	$(PY) -m pytest -n auto

test-fast: venv ## every test not marked slow: the inner loop, under a minute on two cores
	$(PY) -m pytest -n auto -m "not slow"

lint: venv ## ruff (rules and format), mypy, the import-layer contracts
	$(PY) -m ruff check $(SOURCES)
	$(PY) -m ruff format --check $(SOURCES)
	$(PY) -m mypy
	$(dir $(PY))lint-imports --no-cache --no-logo

format: venv ## rewrite the sources in the house format and apply ruff's fixes
	$(PY) -m ruff format $(SOURCES)
	$(PY) -m ruff check --fix $(SOURCES)

wheel-smoke: venv ## build the wheel, install it in a fresh virtualenv in a temp folder, run the commands there
	bash .ci/wheel-smoke

bench: venv ## the benchmarks (figures, not pass/fail)
	$(PY) bench/startup.py
	$(PY) bench/first_start.py
	$(PY) bench/sync.py
	$(PY) bench/upstream_caps.py
	$(PY) bench/history.py
	$(PY) bench/service.py
	$(PY) bench/api.py
	$(PY) bench/cheapest.py
	$(PY) bench/site.py
	$(PY) -m pip install -q -e '.[bench]'
	$(PY) bench/cost_engine.py
	$(PY) bench/client.py

bundle: venv ## rebuild data/bundle from the recordings in ../shared
	$(PY) -m catalog.bundle build --from ../shared/data/openrouter

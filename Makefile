# One list of targets for people and CI. Everything runs from the project's own virtualenv.
PY ?= .venv/bin/python

.PHONY: venv test lint format typecheck bench bundle

venv:
	test -x $(PY) || python3 -m venv .venv
	$(PY) -m pip install -q -e '.[test]'

test: venv
	$(PY) -m pytest -n auto

lint: venv
	$(PY) -m ruff check catalog jobs tests bench
	$(PY) -m ruff format --check catalog jobs tests bench
	$(PY) -m mypy
	$(dir $(PY))lint-imports --no-cache --no-logo

format: venv
	$(PY) -m ruff format catalog jobs tests bench
	$(PY) -m ruff check --fix catalog jobs tests bench

bench: venv
	$(PY) bench/sync.py
	$(PY) bench/history.py
	$(PY) bench/service.py
	$(PY) bench/api.py
	$(PY) bench/site.py
	$(PY) -m pip install -q -e '.[bench]'
	$(PY) bench/cost_engine.py
	$(PY) bench/client.py

bundle: venv
	$(PY) -m catalog.bundle build --from ../shared/data/openrouter

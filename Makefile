# Everything installs itself from the checked-in lock files; only python3 (>= 3.11) is needed.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
RUNTIME_STAMP := $(VENV)/.runtime-installed
DEV_STAMP     := $(VENV)/.dev-installed

.PHONY: demo test soak lint typecheck imports check php bench lock clean messages

$(RUNTIME_STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -r requirements.lock
	$(BIN)/python -m pip install -q --no-deps -e .
	touch $@

$(DEV_STAMP): $(RUNTIME_STAMP) requirements-dev.lock
	$(BIN)/python -m pip install -q -r requirements-dev.lock
	touch $@

## The main job on embedded defaults: SQLite under ./var and the sandboxes on loopback.
demo: $(RUNTIME_STAMP)
	$(BIN)/bitrix-inflow demo $(DEMO_ARGS)

## The whole test suite (PostgreSQL tests too when BITRIX_INFLOW_TEST_PG is set), one worker per core; a file's
## tests stay on one worker, in order (module-scoped sandboxes are shared by a file's tests).
PYTEST_WORKERS ?= auto
test: $(DEV_STAMP)
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

## Long soak/load tests, kept out of `make test`.
soak: $(DEV_STAMP)
	$(BIN)/python -m pytest -m soak -o addopts="-ra --strict-markers --import-mode=importlib" $(PYTEST_ARGS)

lint: $(DEV_STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(DEV_STAMP)
	$(BIN)/mypy

## The architecture: the import contracts in pyproject.toml ([tool.importlinter]).
imports: $(DEV_STAMP)
	$(BIN)/lint-imports --no-cache

check: lint typecheck imports

## The companion Bitrix module: every file through php -l, then its plain PHP tests (needs php-cli).
php:
	find bitrix-module -name '*.php' -print0 | xargs -0 -n1 php -l >/dev/null
	php bitrix-module/tests/run.php

bench: $(DEV_STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

## Re-resolve the lock files after editing pyproject.toml (needs uv: pip install uv).
lock:
	uv pip compile pyproject.toml -q --python-version 3.11 -o requirements.lock
	uv pip compile pyproject.toml -q --extra dev --python-version 3.11 -c requirements.lock -o requirements-dev.lock

## The console's texts from its templates and code into the catalogs; then translate the new ones in the .po files.
messages: $(DEV_STAMP)
	mkdir -p var
	$(BIN)/pybabel extract -F babel.cfg -k _ -k N_ --no-location --sort-output -o var/console.pot .
	$(BIN)/pybabel update -i var/console.pot -d src/bitrix_inflow/web/console/locale -D console --no-location

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache

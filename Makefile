# Every target builds its own virtual environment from this repo's files first.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo dev test lint imports venv clean lock

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q uv==0.13.9
	$(VENV)/bin/uv pip install -q --python $(PY) -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(PY) -m zuora_assets demo

dev: $(STAMP)
	DAGSTER_HOME=$${DAGSTER_HOME:-$(CURDIR)/.dagster_home} $(PY) -m zuora_assets dev

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports --no-cache
	$(PY) -m pytest -q

# The image's pinned dependencies (deploy/requirements.txt), resolved again from pyproject.toml.
lock: $(STAMP)
	$(VENV)/bin/uv pip compile pyproject.toml --universal --python-version 3.11 --generate-hashes \
		--custom-compile-command "make lock" -o deploy/requirements.txt

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports --no-cache

# DESIGN.md section 5's import rules (the contracts are in pyproject.toml).
imports: $(STAMP)
	$(VENV)/bin/lint-imports --no-cache

clean:
	rm -rf $(VENV) .lake .dagster_home

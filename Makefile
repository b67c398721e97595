# Two commands do all the set-up on a fresh machine: `make plan` and `make test`.
# Each creates .venv (the virtualenv Pulumi.yaml names) and installs pyproject.toml into it:
# `make plan` only the runtime dependencies, `make test` and `make lint` the dev tools as well.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
RUNTIME := $(VENV)/.runtime
STAMP  := $(VENV)/.installed
STACK  ?= dev

PLAN_ARGS := --stack $(STACK)
ifdef CONFIG_FILE
PLAN_ARGS += --config-file $(CONFIG_FILE)
endif
ifdef BASE
PLAN_ARGS += --base $(BASE)
endif
ifdef JSON
PLAN_ARGS += --json $(JSON)
endif
ifdef MARKDOWN
PLAN_ARGS += --markdown $(MARKDOWN)
endif
ifdef MARKDOWN_LIMIT
PLAN_ARGS += --markdown-limit $(MARKDOWN_LIMIT)
endif

.PHONY: plan plan-all test lint format bench venv clean

## plan: offline plan of STACK (default dev) [CONFIG_FILE=f] [BASE=f] [JSON=f] [MARKDOWN=f] [MARKDOWN_LIMIT=n]
plan: $(RUNTIME)
	$(PY) -m scripts.plan $(PLAN_ARGS)

## plan-all: offline plan of every shipped stack; each failing stack's error, then a summary
plan-all: $(RUNTIME)
	$(PY) -m scripts.plan.all

## test: the whole test suite (no network, no cloud account)
test: $(STAMP)
	$(PY) -m pytest -q -n auto

## lint: ruff (lint + format check) and mypy
lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	$(VENV)/bin/lint-imports

format: $(STAMP)
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

## bench: time the offline plan of every shipped stack and the bare SDK imports
bench: $(RUNTIME)
	$(PY) -m scripts.bench

venv: $(STAMP)

# uv installs (downloads in parallel, byte-compiles on every core: a fresh `make test` sets up in
# about 40 s instead of 100 s with pip). Where uv cannot install, for example behind a package
# mirror set in pip.conf (uv does not read it), pip does the same install.
$(RUNTIME): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(call install,-e .)
	@touch $(RUNTIME)

$(STAMP): $(RUNTIME)
	$(call install,-e '.[dev]')
	@touch $(STAMP)

define install
	@$(PY) -m pip install --quiet uv 2>/dev/null \
	  && $(VENV)/bin/uv pip install --quiet --native-tls --compile-bytecode --python $(PY) $(1) \
	  || { echo "make: installing with pip"; $(PY) -m pip install --quiet --upgrade pip \
	       && $(PY) -m pip install --quiet $(1); }
endef

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis *.egg-info

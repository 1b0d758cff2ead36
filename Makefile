# The two README commands: `make run` and `make test`. Each sets up .venv itself.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
# This machine's pip config names a local index that may be absent; its warnings are noise.
QUIET_PIP := sed '/is ignored: it is neither a file nor a directory/d'
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint setup leaderboard bench clean-venv browser

setup: $(STAMP)

# Idempotent: reinstalls only when the lock or the project metadata change.
$(STAMP): requirements.lock pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.lock 2>&1 | $(QUIET_PIP)
	$(PY) -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e . --config-settings editable_mode=compat 2>&1 | $(QUIET_PIP)
	@touch $(STAMP)

# Debian's chromium for the real-browser leaderboard test (installed once, root only).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	    || echo "warning: could not install chromium; the browser test will be skipped"; \
	  else echo "warning: chromium missing and not root; the browser test will be skipped"; fi; }

run: $(STAMP)
	bash scripts/run_default.sh

# The linters hold the line (configuration in pyproject.toml), then the suite.
test: $(STAMP) browser lint
	$(PY) -m pytest -q -n 2 --dist loadfile tests

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

leaderboard: $(STAMP)
	$(VENV)/bin/tomobench leaderboard serve

bench: $(STAMP)
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean-venv:
	rm -rf $(VENV)

# Two commands on a fresh machine: `make run` (the main job) and `make test` (the whole suite).
# Both create .venv in the repo and install the pinned dependencies the first time.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
export PATH := $(abspath $(BIN)):$(PATH)

# The stamp holds the checksums of what was installed: `nbdev-export` rewrites pyproject.toml (a newer file, the same
# content), which then only refreshes the stamp instead of reinstalling everything.
$(BIN)/.installed: requirements.txt pyproject.toml
	@if [ -f $@ ] && sha256sum --status -c $@ 2>/dev/null; then touch $@; exit 0; fi; \
	set -e; \
	$(PY) -m venv $(VENV); \
	$(BIN)/python -m pip install -q --upgrade pip; \
	$(BIN)/python -m pip install -q -r requirements.txt; \
	$(BIN)/python -m pip install -q --no-deps -e .; \
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null; \
	sha256sum requirements.txt pyproject.toml > $@

install: $(BIN)/.installed
	@command -v bwrap >/dev/null || apt-get install -y -qq bubblewrap >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq bubblewrap; } >/dev/null 2>&1 || echo 'bubblewrap unavailable: the sandbox degrades to rlimits (see README, Dependencies)'
	@# the browser test (tests/test_browser.py) drives headless Chromium; without it that test is skipped, saying why
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || apt-get install -y -qq chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq chromium; } >/dev/null 2>&1 || echo 'chromium unavailable: the browser test will be skipped'

# the main job on the embedded default: the tiny preset, the built-in search, whatever device exists
run: install
	$(BIN)/autokernel run

# the whole test suite: export drift, the notebooks' own tests, pytest, ruff
test: install
	$(BIN)/nbdev-export
	git diff --exit-code -- autokernel || (echo "autokernel/ is out of sync with nbs/: run nbdev-export and commit" && exit 1)
	@untracked=$$(git ls-files --others --exclude-standard -- autokernel); \
	  if [ -n "$$untracked" ]; then echo "untracked exported files: $$untracked"; exit 1; fi
	$(BIN)/ruff check autokernel tests benchmarks
	$(BIN)/python -m pytest tests

lab: install
	$(BIN)/jupyter lab --allow-root nbs/

.PHONY: install run test lab

# Quick start: `make main` runs the main job, `make test` runs the test suite.
# Both set up what they need first: Debian/Ubuntu packages (TTS engines, sox) and a
# virtual environment in .venv with audiojax installed in editable mode.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Speech synthesizers that the offline corpora are built from, and audio tools.
APT_PACKAGES := espeak-ng flite sox libsox-fmt-all libsndfile1 python3-venv
PYTEST_ARGS ?=

.PHONY: main test setup system-packages bench clean

main: setup
	$(BIN)/audiojax demo --out out/demo

test: setup
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

bench: setup
	$(BIN)/python benchmarks/frontends.py

setup: system-packages $(VENV)/.installed

system-packages:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages: $$missing"; \
	  $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q $$missing; \
	fi

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

clean:
	rm -rf $(VENV) out .pytest_cache

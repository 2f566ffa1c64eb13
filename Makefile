# Two commands set up a fresh machine (see README):
#   make demo   — create .venv, install dramac, render the examples to outputs/
#   make test   — create .venv, install dramac with its test tools (and the Dia2 tier when its source
#                 is present; Debian's chromium for the studio's browser tests when root), run the test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The Dia2 test tier runs nari-labs' own code: from this source (a clone of nari-labs/dia2, or the
# snapshot beside the project), copied into the venv because the source may be read-only.
DIA2_SOURCE ?= ../shared/vendor/dia2
DIA2_COPY := $(VENV)/dia2-src
# A CPU build on the project's machines; torch is only needed for the Dia2 tier.
TORCH_VERSION ?= 2.13.0

.PHONY: demo test install install-test install-dia2-tier install-browser bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -e .

install-test: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'

demo: install
	$(BIN)/dramac build examples/night-ferry/night-ferry.fountain examples/lighthouse/lighthouse.md -o outputs

install-dia2-tier: install-test
	@if [ -f "$(DIA2_SOURCE)/dia2/engine.py" ]; then \
	  echo "dramac: installing the Dia2 tier from $(DIA2_SOURCE) (torch $(TORCH_VERSION), pinned dependencies)"; \
	  $(BIN)/pip install --quiet "torch==$(TORCH_VERSION)" && \
	  $(BIN)/pip install --quiet -e '.[test,dia2]' && \
	  rm -rf $(DIA2_COPY) && cp -r "$(DIA2_SOURCE)" $(DIA2_COPY) && chmod -R u+w $(DIA2_COPY) && \
	  $(BIN)/pip install --quiet --no-deps -e $(DIA2_COPY); \
	else \
	  echo "dramac: the Dia2 tier was not installed: no Dia2 source at $(DIA2_SOURCE) (set DIA2_SOURCE to a clone of nari-labs/dia2)"; \
	fi

# The studio's browser tests drive Debian's chromium (Playwright for Python, from the test extra, is
# pointed at /usr/bin/chromium; it never downloads a browser). Installed here when missing, as root with apt-get.
install-browser:
	@if ! command -v chromium >/dev/null 2>&1 && [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "dramac: installing Debian's chromium for the studio's browser tests"; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get install -y -qq chromium >/dev/null 2>&1 || \
	      { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq chromium >/dev/null 2>&1; } || \
	      echo "dramac: chromium could not be installed; the studio's browser tests will be skipped"; \
	  else \
	    echo "dramac: no chromium (as root: apt-get install chromium); the studio's browser tests will be skipped"; \
	  fi; \
	fi

test: install-dia2-tier install-browser
	$(BIN)/python -m pytest -q

bench: install-test
	$(BIN)/pip install --quiet -e '.[bench]'
	$(BIN)/python benchmarks/parse.py
	$(BIN)/python benchmarks/render.py
	$(BIN)/python benchmarks/stitch.py
	$(BIN)/python benchmarks/master.py

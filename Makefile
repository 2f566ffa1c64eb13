# Two commands set up a fresh machine (see README):
#   make demo   — create .venv, install dramac, render the examples to outputs/
#   make test   — create .venv, install dramac with its test tools, run the test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test install install-test bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -e .

install-test: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'

demo: install
	$(BIN)/dramac build examples/night-ferry/night-ferry.fountain examples/lighthouse/lighthouse.md -o outputs

test: install-test
	$(BIN)/python -m pytest -q

bench: install-test
	$(BIN)/pip install --quiet -e '.[bench]'
	$(BIN)/python benchmarks/parse.py
	$(BIN)/python benchmarks/render.py
	$(BIN)/python benchmarks/stitch.py
	$(BIN)/python benchmarks/master.py

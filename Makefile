# Two commands do everything on a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.garden-installed

.PHONY: install demo test bench clean

install: $(STAMP)

# torch goes in first, pinned, so nothing later can pull a CUDA build.
$(STAMP): setup.cfg constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -c constraints.txt -e '.[train,dev]'
	touch $(STAMP)

demo: install
	$(BIN)/garden run recipes/demo.yaml

test: install
	$(BIN)/python -m pytest -q tests

bench: install
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) out build *.egg-info

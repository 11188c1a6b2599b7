# Two commands do all the set-up on a fresh machine:
#   make train   - create .venv, install minicnn with what training needs, train the default model on MNIST
#   make test    - create .venv, install minicnn with the test tools, run every test (and again
#                  on the oldest and newest Python: scripts/test-other-pythons.sh)
VENV   := .venv
PY     := $(VENV)/bin/python
# The real datasets live beside the project on the development machines and in CI.
export MINICNN_DATA_DIR ?= $(abspath ../shared/datasets)

.PHONY: train test bench lessons clean

$(PY):
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# minicnn was installed as `minicnn` before it took its name on the package index
# (minicnn-by-hand): that old install would own the same `minicnn` folder and command.
$(VENV)/.renamed: | $(PY)
	$(PY) -m pip uninstall -q -y minicnn 2>/dev/null || true
	touch $@

# training: NumPy, threadpoolctl (DataParallel) and tqdm (progress bars), nothing more
$(VENV)/.train: pyproject.toml | $(PY) $(VENV)/.renamed
	$(PY) -m pip install -q -e ".[train]"
	touch $@

# tests: PyTorch (CPU build) to compare against, pytest, JupyterLab, Playwright, plotting
$(VENV)/.test: pyproject.toml | $(PY) $(VENV)/.renamed
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[dev]"
	touch $@ $(VENV)/.train

train: $(VENV)/.train
	$(VENV)/bin/minicnn train

# then the tests without PyTorch on Python 3.10 at the declared minimum versions and on 3.13
test: $(VENV)/.test
	bash scripts/install-browser.sh || true
	$(PY) -m pytest -q
	PYTHON=$(PY) bash scripts/test-other-pythons.sh

bench: $(VENV)/.test
	$(PY) -m benchmarks

# Re-execute every lesson in normal mode on the real data and save the outputs.
lessons: $(VENV)/.test
	$(PY) lessons/_build/build.py --execute

clean:
	rm -rf $(VENV) .pytest_cache

#!/usr/bin/env bash
# The claims pyproject.toml makes, tested: the tests that need no PyTorch, run on
#   Python 3.10 (the oldest supported) with every dependency at the minimum version declared
#            (scripts/minimum_versions.py turns each "name>=X" into "name==X"), and on
#   Python 3.13 (the newest) with the newest versions pip finds,
# each in a new virtual environment with minicnn, the train, viz and lessons extras and pytest.
# `make test` runs this after the main suite (and .ci/run runs `make test`).
#
# Left to the main suite: the notebooks (test_lessons.py), the browser and the benchmark, which
# need JupyterLab, chromium or PyTorch, and the CuPy stand-in (MINICNN_FAKE_CUPY=0): these runs
# are about versions. Where an interpreter is not installed, its run is skipped with a line
# saying so. Exit status 1 if a run failed, or collected no tests at all.
set -uo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-.venv/bin/python}          # reads pyproject.toml to list the minimums
status=0

find_python() {                         # the first python3.X that runs: on PATH, else pyenv's
    local candidate
    for candidate in $(command -v "python$1") \
            $(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$1".*/bin/python"$1" 2>/dev/null | sort -rV); do
        # (a pyenv shim is on PATH even where that version is not selected, and then fails)
        if "$candidate" -c "import sys; sys.exit(sys.version_info[:2] != (${1/./, }))" 2>/dev/null; then
            echo "$candidate"; return
        fi
    done
}

run() {                                 # run VERSION minimum|newest
    local version=$1 mode=$2 python venv constraints=() started=$SECONDS rc
    python=$(find_python "$version")
    if [ -z "$python" ]; then
        echo "other-pythons: Python $version is not installed here (nor under pyenv): skipped"
        return
    fi
    venv=$(mktemp -d)
    echo "other-pythons: Python $version ($python), $mode versions of the dependencies ..."
    if [ "$mode" = minimum ]; then
        "$py" scripts/minimum_versions.py train viz lessons > "$venv/minimums.txt" || { status=1; rm -rf "$venv"; return; }
        constraints=(-c "$venv/minimums.txt")
        echo "other-pythons: $(tr '\n' ' ' < "$venv/minimums.txt")"
    fi
    if ! { "$python" -m venv "$venv/env" &&
           "$venv/env/bin/python" -m pip install -q "${constraints[@]}" -e ".[train,viz,lessons]" \
               "pytest-timeout>=2"; } > "$venv/pip.log" 2>&1; then
        grep -v "^WARNING: Location" "$venv/pip.log" | tail -20
        echo "other-pythons: FAILED to install on Python $version ($mode versions)"
        status=1; rm -rf "$venv"; return
    fi
    MINICNN_FAKE_CUPY=0 "$venv/env/bin/python" -m pytest -q -p no:cacheprovider -o addopts= -rfE tests \
        --ignore=tests/test_lessons.py --ignore=tests/test_browser.py --ignore=tests/test_benchmark.py
    rc=$?
    if [ $rc -eq 5 ]; then
        echo "other-pythons: pytest collected no tests on Python $version: that is a failure here"
    fi
    if [ $rc -ne 0 ]; then
        status=1
    fi
    echo "other-pythons: Python $version ($mode versions): pytest exit status $rc, $((SECONDS - started)) s"
    rm -rf "$venv"
}

run 3.10 minimum
run 3.13 newest
exit $status

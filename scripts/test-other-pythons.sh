#!/usr/bin/env bash
# The claims pyproject.toml makes, tested: the tests that need no PyTorch, run on
#   Python 3.10 (the oldest supported) with every dependency at the minimum version declared
#            (scripts/minimum_versions.py turns each "name>=X" into "name==X"), and on
#   Python 3.13 (the newest) with the newest versions pip finds,
# each in a new virtual environment with minicnn, the train, viz and lessons extras and pytest.
# `make test` runs this after the main suite (and .ci/run runs `make test`).
#
# Left to the main suite: the notebooks (test_lessons.py), the browser, the benchmark, the README's
# full epoch and the slow tests, which need JupyterLab, chromium, PyTorch or minutes; and the
# CuPy stand-in (MINICNN_FAKE_CUPY=0): these runs are about versions. The two run side by side,
# as the main suite has finished and left the cores free. Where an interpreter is not installed,
# its run is skipped with a line saying so. Exit status 1 if a run failed or collected no tests.
set -uo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-.venv/bin/python}          # reads pyproject.toml to list the minimums
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

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

run() {                                 # run VERSION minimum|newest: prints to $work/VERSION.log
    local version=$1 mode=$2 python=$3 dir=$work/$1 constraints=() started=$SECONDS rc
    mkdir -p "$dir"
    echo "other-pythons: Python $version ($python), $mode versions of the dependencies"
    if [ "$mode" = minimum ]; then
        "$py" scripts/minimum_versions.py train viz lessons > "$dir/minimums.txt" || return 1
        constraints=(-c "$dir/minimums.txt")
        echo "other-pythons: $(tr '\n' ' ' < "$dir/minimums.txt")"
    fi
    if ! { "$python" -m venv "$dir/env" &&
           "$dir/env/bin/python" -m pip install -q "${constraints[@]}" -e ".[train,viz,lessons]" \
               "pytest-timeout>=2"; } > "$dir/pip.log" 2>&1; then
        grep -v "^WARNING: Location" "$dir/pip.log" | tail -20
        echo "other-pythons: FAILED to install on Python $version ($mode versions)"
        return 1
    fi
    MINICNN_FAKE_CUPY=0 "$dir/env/bin/python" -m pytest -q -p no:cacheprovider -o addopts= -rfE \
        -m "not slow and not browser" tests --ignore=tests/test_lessons.py \
        --ignore=tests/test_browser.py --ignore=tests/test_benchmark.py --ignore=tests/test_readme.py
    rc=$?
    if [ $rc -eq 5 ]; then
        echo "other-pythons: pytest collected no tests on Python $version: that is a failure here"
    fi
    echo "other-pythons: Python $version ($mode versions): pytest exit status $rc, $((SECONDS - started)) s"
    return $rc
}

status=0
pids=()
for job in "3.10 minimum" "3.13 newest"; do
    set -- $job
    python=$(find_python "$1")
    if [ -z "$python" ]; then
        echo "other-pythons: Python $1 is not installed here (nor under pyenv): skipped"
        continue
    fi
    run "$1" "$2" "$python" > "$work/$1.log" 2>&1 &
    pids+=("$!:$1")
done
for entry in "${pids[@]}"; do
    pid=${entry%%:*} version=${entry#*:}
    if wait "$pid"; then               # a passing run: its first lines and its summary
        head -2 "$work/$version.log"; tail -3 "$work/$version.log"
    else                               # a failing one: all of it
        cat "$work/$version.log"; status=1
    fi
done
exit $status

#!/usr/bin/env bash
# The GPU check, in one command, for a machine with an NVIDIA GPU where CuPy and PyTorch are
# already installed (it installs nothing and needs no network):
#
#     scripts/gpu-check.sh OUT_DIR        # under 8 minutes
#
# 1. the whole test suite with MINICNN_BACKEND=cupy (pytest -q; the browser and lesson-notebook
#    tests are left out to fit the time), at most 330 s (then interrupted: pytest still writes its
#    summary and junit.xml);
# 2. a short benchmark with the CUDA contenders (minicnn CuPy, PyTorch CUDA) beside the CPU ones,
#    at most 120 s.
# OUT_DIR gets pytest.log, junit.xml, bench.log and bench/latest.md, latest.json, latest.png.
# Exit status: 0 when every test passed and the benchmark ran, 1 otherwise, 2 when CuPy sees no GPU.
# PYTHON chooses the interpreter (default: .venv/bin/python if there is one, else python3).
# This is the real check of the cupy backend: without CuPy, `make test` runs the same cases on
# tests/fakes/cupy, a NumPy stand-in that catches host/device mixing but cannot see CUDA kernels,
# device memory or speed. With CuPy installed, the tests use the real one and never the stand-in.
set -uo pipefail

out=${1:?usage: scripts/gpu-check.sh OUT_DIR}
cd "$(dirname "$0")/.."
mkdir -p "$out/bench" && out=$(cd "$out" && pwd)
py=${PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python3)}

if ! "$py" -c "import cupy, sys; sys.exit(cupy.cuda.runtime.getDeviceCount() == 0)" 2>/dev/null; then
    echo "gpu-check: CuPy is not installed or sees no GPU, so there is nothing to check here" >&2
    exit 2
fi
"$py" -c "import cupy, torch; print('gpu-check:', cupy.cuda.runtime.getDeviceProperties(0)['name'].decode(),
      '| CuPy', cupy.__version__, '| PyTorch', torch.__version__, 'CUDA', torch.version.cuda)" \
    | tee "$out/versions.txt"

echo "gpu-check: tests with MINICNN_BACKEND=cupy ..."
MINICNN_BACKEND=cupy timeout -s INT -k 30 330 "$py" -m pytest -q -rs -p no:cacheprovider \
    --ignore=tests/test_browser.py --ignore=tests/test_lessons.py \
    --junitxml="$out/junit.xml" > "$out/pytest.log" 2>&1
tests=$?

echo "gpu-check: benchmark with the CUDA contenders ..."
timeout -s INT -k 30 120 "$py" -m benchmarks --models lenet convnet --batch-sizes 64 256 --repeats 3 \
    --contenders minicnn minicnn-dp minicnn-cupy pytorch-cpu pytorch-cuda \
    --out "$out/bench" > "$out/bench.log" 2>&1
bench=$?

echo
echo "== tests (exit status $tests$([ $tests = 124 ] && echo ', stopped at 330 s')): $out/pytest.log"
grep -E "^(FAILED|ERROR) " "$out/pytest.log" | head -20
echo "skipped for CuPy or CUDA reasons: $(grep -c -iE '^SKIPPED.*(cupy|cuda|gpu)' "$out/pytest.log")"
tail -n 1 "$out/pytest.log"; echo
echo "== benchmark (exit status $bench$([ $bench = 124 ] && echo ', stopped at 120 s')): $out/bench/latest.md"
grep -E "^- skipped|\| train \|.*(CuPy|CUDA)" "$out/bench/latest.md" 2>/dev/null || tail -n 3 "$out/bench.log"

[ $tests = 0 ] && [ $bench = 0 ]

"""NumPy's OpenBLAS kernels and the training comparison: the environment as it is, and without OPENBLAS_CORETYPE.

    python benchmarks/blas_kernels.py                 # lenet and convnet, batch 64; about 2 minutes
    python benchmarks/blas_kernels.py --rounds 2 --repeats 5

Why it exists: OpenBLAS picks its matrix-multiply kernels for the CPU it runs on,
unless OPENBLAS_CORETYPE names a CPU. The development machine's environment sets
OPENBLAS_CORETYPE=Haswell (AVX2 kernels) on a CPU that has AVX-512; PyTorch's
own kernels do not read the variable. minicnn never changes the environment;
this script measures what the setting costs: each round runs the training
comparison (minicnn on NumPy against PyTorch CPU, benchmark.measure_throughput,
repetitions interleaved) in a fresh process with the environment as it is, then
in one with OPENBLAS_CORETYPE removed. Results go to stdout and are appended to
benchmarks/results/blas_kernels.txt.
"""
import argparse
import os
from pathlib import Path

import numpy as np

from minicnn.benchmark import append_results, results_header, run_json_child

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "blas_kernels.txt"

CHILD = r"""
import json, sys
from threadpoolctl import threadpool_info
from minicnn import benchmark
models, batch, repeats = sys.argv[1].split(","), int(sys.argv[2]), int(sys.argv[3])
out = {"kernels": ",".join(sorted({str(i.get("architecture")) for i in threadpool_info()
                                   if i.get("internal_api") == "openblas"})) or "?"}
for name in models:
    model, x, y = benchmark.make_problem(name, batch)
    contenders = [benchmark.make_contender("minicnn-numpy"), benchmark.make_contender("pytorch-cpu")]
    for c in contenders:
        c.setup(model, x, y)
        c.set_training(True)
    _, runs = benchmark.measure_throughput(contenders, batch, "train", repeats, None, 5)
    out[name] = runs
print(json.dumps(out))
"""


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["lenet", "convnet"], choices=("lenet", "convnet"))
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=3, help="fresh processes per setting, alternating")
    ap.add_argument("--repeats", type=int, default=9, help="interleaved repetitions in each process")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    try:
        import torch  # noqa: F401  (the comparison needs it; the child imports it again)
    except ImportError:
        raise SystemExit("benchmarks/blas_kernels.py compares with PyTorch, which is not installed "
                         "(pip install torch)") from None
    as_set = os.environ.get("OPENBLAS_CORETYPE")
    settings = {f"OPENBLAS_CORETYPE={as_set}" if as_set else "OPENBLAS_CORETYPE not set": dict(os.environ),
                "OPENBLAS_CORETYPE removed": {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}}
    runs = {s: {m: {"minicnn-numpy": [], "pytorch-cpu": []} for m in args.models} for s in settings}
    kernels = {}
    for _ in range(args.rounds):
        for setting, env in settings.items():
            result = run_json_child(CHILD, [",".join(args.models), args.batch, args.repeats],
                                    env=env, cwd=ROOT)
            kernels[setting] = result.pop("kernels")
            for m, by_contender in result.items():
                for name, values in by_contender.items():
                    runs[setting][m][name].extend(values)
    lines = [results_header(f"python benchmarks/blas_kernels.py --batch {args.batch} --rounds {args.rounds} "
                            f"--repeats {args.repeats}", "training, minicnn (NumPy) against PyTorch CPU eager"),
             f"{'model':8s} {'setting':28s} {'OpenBLAS kernels':>16s} {'minicnn img/s':>14s} "
             f"{'PyTorch img/s':>14s} {'ratio (median, min-max)':>24s}"]
    for m in args.models:
        for setting in settings:
            ours = np.array(runs[setting][m]["minicnn-numpy"])
            theirs = np.array(runs[setting][m]["pytorch-cpu"])
            ratio = ours / theirs
            lines.append(f"{m:8s} {setting:28s} {kernels[setting]:>16s} {np.median(ours):14,.0f} "
                         f"{np.median(theirs):14,.0f} {np.median(ratio):8.2f}x ({ratio.min():.2f}-{ratio.max():.2f})")
    print("\n".join(lines), flush=True)
    return append_results(args.out, lines)


if __name__ == "__main__":
    main()

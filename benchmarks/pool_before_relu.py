"""What Sequential.pool_before_relu buys: minicnn with and without it, beside PyTorch CPU, in one run.

    python benchmarks/pool_before_relu.py             # lenet and convnet, batch 64; about a minute
    python benchmarks/pool_before_relu.py --batches 64 256 --repeats 15

Sequential runs a MaxPool2d before the ReLU written just before it (the two
commute, so the numbers are the same; minicnn/sequential.py says why). This
script times training steps (benchmark.measure_throughput, repetitions
interleaved) of three contenders on the same network and batch: minicnn as
written (``pool_before_relu = False``), minicnn with the reordering (the
default), and PyTorch CPU eager, which runs the layers as written. It prints
the median images per second and the median of the per-repetition ratios.
Results go to stdout and are appended to benchmarks/results/pool_before_relu.txt.
"""
import argparse
import functools
from pathlib import Path

import numpy as np

from minicnn import benchmark
from minicnn.models import MODELS

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "pool_before_relu.txt"
AS_WRITTEN = "minicnn-numpy (as written)"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["lenet", "convnet"], choices=sorted(MODELS))
    ap.add_argument("--batches", nargs="+", type=int, default=[64])
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    names = ["minicnn-numpy", "pytorch-cpu"]
    _, skipped = benchmark.find_contenders()
    if "pytorch-cpu" in skipped:
        names.remove("pytorch-cpu")
        print(f"PyTorch CPU skipped: {skipped['pytorch-cpu']}")
    lines = [benchmark.results_header(f"python benchmarks/pool_before_relu.py --batches "
                                      f"{' '.join(map(str, args.batches))} --repeats {args.repeats}"),
             f"{'model':8s} {'batch':>5s} {'as written img/s':>17s} {'reordered img/s':>16s} "
             f"{'reordered / as written':>23s} {'as written x PyTorch':>21s} {'reordered x PyTorch':>20s}"]
    print("\n".join(lines), flush=True)
    for name in args.models:
        for batch in args.batches:
            model, x, y = benchmark.make_problem(name, batch)
            contenders = [benchmark.make_contender(n) for n in names]
            written = benchmark.make_contender("minicnn-numpy")
            written.name = AS_WRITTEN
            contenders.insert(0, written)
            for c in contenders:
                c.setup(model, x, y)
            written.model.pool_before_relu = False
            _, runs = benchmark.measure_throughput(contenders, batch, "train", args.repeats, None, warmup=3)

            ratio = functools.partial(benchmark.median_ratio_text, runs)
            line = (f"{name:8s} {batch:5d} {np.median(runs[AS_WRITTEN]):17,.0f} {np.median(runs['minicnn-numpy']):16,.0f} "
                    f"{ratio('minicnn-numpy', AS_WRITTEN):>23s} {ratio(AS_WRITTEN, 'pytorch-cpu'):>21s} "
                    f"{ratio('minicnn-numpy', 'pytorch-cpu'):>20s}")
            lines.append(line)
            print(line, flush=True)
    return benchmark.append_results(args.out, lines)


if __name__ == "__main__":
    main()

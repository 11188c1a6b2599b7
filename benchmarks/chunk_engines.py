"""Batch chunks on threads against chunks in worker processes, beside PyTorch, in one run.

    python benchmarks/chunk_engines.py                # lenet and convnet, batch 64; about a minute
    python benchmarks/chunk_engines.py --batches 64 256 --repeats 15

minicnn runs one chunk of a large batch per core (threads.py); on Linux the extra
chunks run in forked worker processes by default, elsewhere on threads
(processes.py says why). This script times training steps of the same network
with ``set_chunk_engine("threads")`` and ``set_chunk_engine("processes")`` and of
PyTorch CPU (benchmark.measure_throughput: repetitions interleaved, the order
reversed every other repetition) and prints the median images per second and the
median of the per-repetition ratios. Results go to stdout and are appended to
benchmarks/results/chunk_engines.txt.
"""
import argparse
import functools
import sys
from pathlib import Path

import numpy as np

from minicnn import benchmark, threads
from minicnn.models import MODELS

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "chunk_engines.txt"


class EngineContender(benchmark.MinicnnContender):
    """minicnn on NumPy with its batch chunks on one engine, whatever the global setting."""

    def __init__(self, engine):
        super().__init__("numpy")
        self.name, self.engine = f"minicnn-{engine}", engine

    def train_step(self):
        before = threads.get_chunk_engine()
        threads.set_chunk_engine(self.engine)
        try:
            super().train_step()
        finally:
            threads.set_chunk_engine(before)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["lenet", "convnet"], choices=sorted(MODELS))
    ap.add_argument("--batches", nargs="+", type=int, default=[64])
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    if not sys.platform.startswith("linux"):
        print("worker processes are Linux only: nothing to compare here", file=sys.stderr)
        return []
    _, skipped = benchmark.find_contenders()
    torch = "pytorch-cpu" not in skipped
    lines = [benchmark.results_header(f"python benchmarks/chunk_engines.py --batches "
                                      f"{' '.join(map(str, args.batches))} --repeats {args.repeats}",
                                      f"training, {threads.get_num_threads()} chunks"),
             f"{'model':8s} {'batch':>5s} {'threads img/s':>14s} {'processes img/s':>16s} "
             f"{'processes / threads':>20s} {'threads x PyTorch':>18s} {'processes x PyTorch':>20s}"]
    print("\n".join(lines), flush=True)
    for name in args.models:
        for batch in args.batches:
            contenders = [EngineContender("threads"), EngineContender("processes")]
            if torch:
                contenders.append(benchmark.make_contender("pytorch-cpu"))
            problem = benchmark.make_problem(name, batch)
            for c in contenders:
                c.setup(*problem)
            _, runs = benchmark.measure_throughput(contenders, batch, "train", args.repeats, None, warmup=3)

            ratio = functools.partial(benchmark.median_ratio_text, runs)
            line = (f"{name:8s} {batch:5d} {np.median(runs['minicnn-threads']):14,.0f} "
                    f"{np.median(runs['minicnn-processes']):16,.0f} "
                    f"{ratio('minicnn-processes', 'minicnn-threads'):>20s} "
                    f"{ratio('minicnn-threads', 'pytorch-cpu'):>18s} "
                    f"{ratio('minicnn-processes', 'pytorch-cpu'):>20s}")
            lines.append(line)
            print(line, flush=True)
    return benchmark.append_results(args.out, lines)


if __name__ == "__main__":
    main()

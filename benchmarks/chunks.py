"""Batch chunks on threads against one thread, batch size by batch size: where splitting pays.

    python benchmarks/chunks.py                       # lenet and convnet, batches 16-128; about a minute
    python benchmarks/chunks.py --batches 32 64 --repeats 5

For each batch size it times minicnn training steps with ``set_num_threads(1)``
and with one chunk per core (chunks forced even below threads.MIN_CHUNK),
repetitions interleaved, and prints the median step time and the speed-up.
minicnn/threads.py's MIN_CHUNK is chosen from this table. Results go to stdout
and are appended to benchmarks/results/chunks.txt.
"""
import argparse
import time
from pathlib import Path

import numpy as np

from minicnn import benchmark, threads
from minicnn.models import MODELS

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "chunks.txt"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["lenet", "convnet"], choices=sorted(MODELS))
    ap.add_argument("--batches", nargs="+", type=int, default=[16, 32, 48, 64, 128])
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    cores = threads.usable_cores()
    lines = [benchmark.results_header(f"python benchmarks/chunks.py --batches {' '.join(map(str, args.batches))} "
                                      f"--repeats {args.repeats} --steps {args.steps}",
                                      f"{cores} usable cores, MIN_CHUNK {threads.MIN_CHUNK}"),
             f"{'model':8s} {'batch':>5s} {'1 thread ms':>12s} {f'{cores} chunks ms':>14s} {'speed-up':>9s}"]
    print("\n".join(lines), flush=True)
    before_threads, before_min = threads.get_num_threads(), threads.MIN_CHUNK
    threads.MIN_CHUNK = 1                                   # split whatever the batch size
    try:
        for name in args.models:
            for batch in args.batches:
                c = benchmark.make_contender("minicnn-numpy")
                c.setup(*benchmark.make_problem(name, batch))
                c.set_training(True)
                times = {1: [], cores: []}
                for n in times:                              # warm-up, both ways
                    threads.set_num_threads(n)
                    for _ in range(3):
                        c.train_step()
                for _ in range(args.repeats):
                    for n in times:
                        threads.set_num_threads(n)
                        time.sleep(0.05)
                        start = time.perf_counter()
                        for _ in range(args.steps):
                            c.train_step()
                        times[n].append((time.perf_counter() - start) / args.steps * 1e3)
                one, split = np.median(times[1]), np.median(times[cores])
                line = f"{name:8s} {batch:5d} {one:12.2f} {split:14.2f} {one / split:8.2f}x"
                lines.append(line)
                print(line, flush=True)
    finally:
        threads.MIN_CHUNK = before_min
        threads.set_num_threads(before_threads)
    return benchmark.append_results(args.out, lines)


if __name__ == "__main__":
    main()

"""Page faults and kernel time per training step, with and without minicnn's allocator setting.

    python benchmarks/page_faults.py            # lenet, batch 64; about 30 s
    python benchmarks/page_faults.py --model convnet --steps 50

Why it exists: minicnn.backend.keep_freed_memory() asks glibc to keep freed
memory instead of handing it back to the operating system. This measures what
that is worth: each setting runs in a fresh process (the setting is made at
import), with one thread (MINICNN_NUM_THREADS=1) and with the batch in chunks
on two threads (MINICNN_CHUNK_ENGINE=threads: a worker process has a heap of its
own, and its faults would not be counted here), and reports minor page faults, kernel (system) time and wall
time per training step. Results go to stdout and benchmarks/results/page_faults.txt.
"""
import argparse
import os
from pathlib import Path

from minicnn.benchmark import append_results, results_header, run_json_child

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "page_faults.txt"

CHILD = r"""
import json, resource, sys, time
import minicnn
from minicnn import benchmark
model_name, batch, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
c = benchmark.make_contender("minicnn-numpy")
c.setup(*benchmark.make_problem(model_name, batch))
c.set_training(True)
for _ in range(10):
    c.train_step()
r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
for _ in range(steps):
    c.train_step()
wall, r1 = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps(dict(kept=minicnn.backend.KEPT_FREED_MEMORY, threads=minicnn.get_num_threads(),
                      faults=(r1.ru_minflt - r0.ru_minflt) / steps,
                      sys_ms=1e3 * (r1.ru_stime - r0.ru_stime) / steps, wall_ms=1e3 * wall / steps)))
"""


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="lenet", choices=("lenet", "convnet"))
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--out", type=Path, default=OUT, help=f"file the table is appended to (default {OUT.relative_to(ROOT)})")
    args = ap.parse_args(argv)
    lines = [results_header(f"python benchmarks/page_faults.py --model {args.model} --batch {args.batch} "
                            f"--steps {args.steps}"),
             f"{'keep freed memory':18s} {'threads':>7s} {'faults/step':>12s} {'kernel ms/step':>15s} "
             f"{'wall ms/step':>13s}"]
    print("\n".join(lines), flush=True)
    for keep in ("0", "1"):
        for threads in ("1", "2"):
            env = dict(os.environ, MINICNN_KEEP_MEMORY=keep, MINICNN_NUM_THREADS=threads,
                       MINICNN_CHUNK_ENGINE="threads")    # what it measures: threads sharing one heap
            r = run_json_child(CHILD, [args.model, args.batch, args.steps], env=env, cwd=ROOT)
            line = (f"{'yes' if r['kept'] else 'no':18s} {r['threads']:7d} {r['faults']:12.0f} "
                    f"{r['sys_ms']:15.2f} {r['wall_ms']:13.2f}")
            lines.append(line)
            print(line, flush=True)
    return append_results(args.out, lines)


if __name__ == "__main__":
    main()

"""Page faults and kernel time per training step, with and without minicnn's allocator setting.

    python -m benchmarks.page_faults                    # lenet, batch 64; about 20 s
    python -m benchmarks.page_faults --model convnet --batch 256 --steps 20

Why it exists: when training starts (the first SGD optimizer), minicnn asks glibc to
keep freed memory instead of handing it back to the operating system
(minicnn/allocator.py). This measures what that is worth: minicnn's default ("yes")
against the opt-out ``minicnn.allocator.disable()`` ("no"), each in a fresh process
(the setting changes the whole process), the plain model and DataParallel (whose
threads the setting also puts on the main heap), and reports minor page faults,
kernel (system) time and wall time per training step. Results go to stdout and are appended to benchmarks/results/page_faults.txt.
"""
import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np

from . import results_log

OUT = results_log.RESULTS / "page_faults.txt"
ENGINES = ("eager", "DataParallel")


def measure(keep, engine, model_name, batch, steps):
    """In this (fresh) process: per-step faults, kernel ms and wall ms of ``steps`` training steps."""
    import minicnn as mc
    from minicnn import allocator
    from minicnn.models import MODELS
    if not keep:
        allocator.disable()
    mc.manual_seed(0)
    model = MODELS[model_name]()
    if engine == "DataParallel":
        model = mc.DataParallel(model)
    rng = np.random.default_rng(0)
    x = rng.random((batch, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, batch)
    loss, opt = mc.NLLLoss(), mc.SGD(model.parameters(), lr=0.01, momentum=0.9)
    kept = allocator.applied()

    def step():
        opt.zero_grad()
        loss.forward(model.forward(x), y)
        model.backward(loss.backward(), input_grad=False)
        opt.step()

    for _ in range(10):          # warm-up: the first steps fault in memory whatever the setting
        step()
    r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    for _ in range(steps):
        step()
    wall, r1 = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF)
    return dict(kept=kept, faults=(r1.ru_minflt - r0.ru_minflt) / steps,
                sys_ms=1e3 * (r1.ru_stime - r0.ru_stime) / steps, wall_ms=1e3 * wall / steps)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m benchmarks.page_faults", description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="lenet", choices=("lenet", "convnet"))
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--out", default=OUT, help="file the table is appended to (default: benchmarks/results/page_faults.txt)")
    ap.add_argument("--child", nargs=2, metavar=("KEEP", "ENGINE"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:               # one setting, in the fresh process the parent started
        keep, engine = args.child
        print(json.dumps(measure(keep == "yes", engine, args.model, args.batch, args.steps)))
        return None
    lines = [results_log.header(f"python -m benchmarks.page_faults --model {args.model} --batch {args.batch} "
                                f"--steps {args.steps}"),
             f"{'keeps freed':15s} {'engine':>12s} {'faults/step':>12s} {'kernel ms/step':>15s} "
             f"{'wall ms/step':>13s}"]
    print("\n".join(lines), flush=True)
    for keep in ("no", "yes"):
        for engine in ENGINES:
            proc = subprocess.run([sys.executable, "-m", "benchmarks.page_faults", "--child", keep, engine,
                                   "--model", args.model, "--batch", str(args.batch), "--steps", str(args.steps)],
                                  capture_output=True, text=True)
            if proc.returncode != 0:
                raise SystemExit(f"the measuring process failed:\n{proc.stderr}")
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            line = (f"{keep + ('' if r['kept'] or keep == 'no' else ' (refused)'):15s} {engine:>12s} "
                    f"{r['faults']:12.0f} {r['sys_ms']:15.2f} {r['wall_ms']:13.2f}")
            lines.append(line)
            print(line, flush=True)
    return results_log.append(args.out, lines)


if __name__ == "__main__":
    main()

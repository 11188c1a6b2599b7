"""What a NumPy call costs when two threads make calls at once, as DataParallel's chunks do.

    python -m benchmarks.threads        # under a minute; BLAS on one thread per caller

Each operation below comes from a lenet training step on a chunk of 32 images. It is
timed alone, then twice more with two callers at once, each making the same calls: two
threads of one process, then two processes. Each column is that time over the time
alone: 1.0 means the two ran fully in parallel, 2.0 one after the other. Two processes
share only the machine (memory bandwidth, caches); two threads also share Python's lock
(the GIL), which NumPy lets go of while it computes but takes back to return, so a
short call may wait for the other thread. Results to stdout and appended to
benchmarks/results/threads.txt.
"""
import multiprocessing
import queue
import threading
import time

import numpy as np

from . import results_log

OUT = results_log.RESULTS / "threads.txt"


def operations():
    rng = np.random.default_rng(0)
    y = rng.random((32, 12, 12, 24), dtype=np.float32)               # lenet's first pooled map
    v = rng.random(y.shape, dtype=np.float32)
    arg, better = np.zeros(y.shape, np.uint8), np.empty(y.shape, bool)
    dx, g_offset = np.zeros((32, 12, 12, 24), np.float32), rng.random((32, 8, 8, 24), dtype=np.float32)
    g, w = rng.random((2048, 24), dtype=np.float32), rng.random((5, 5, 24, 24), dtype=np.float32)
    cols, w_mat = rng.random((2048, 600), dtype=np.float32), rng.random((600, 24), dtype=np.float32)
    small = rng.random((32, 50), dtype=np.float32)                    # after lenet's first Linear
    return {
        "ReLU of (32, 50)": lambda: np.maximum(small, np.zeros_like(small)),
        "MaxPool2d: arg == k, (32, 12, 12, 24) uint8": lambda: arg == 3,
        "Conv2d: ones @ g, bias gradient": lambda: np.ones(len(g), np.float32) @ g,
        "MaxPool2d: greater, (32, 12, 12, 24)": lambda: np.greater(v, y, out=better),
        "col2im: += one offset, (32, 8, 8, 24)": lambda: dx[:, 1:9, 2:10, :].__iadd__(g_offset),
        "Conv2d: g @ w[a, b].T, one offset": lambda: g @ w[0, 0].T,
        "Conv2d: cols @ w_mat, (2048, 600) @ (600, 24)": lambda: cols @ w_mat,
    }


def _calls(name, calls, start, seconds_out):
    """Make ``calls`` calls of one operation once ``start`` opens; put the seconds taken."""
    from threadpoolctl import threadpool_limits
    fn = operations()[name]
    with threadpool_limits(limits=1, user_api="blas"):
        fn()
        start.wait()
        began = time.perf_counter()
        for _ in range(calls):
            fn()
        seconds_out.put(time.perf_counter() - began)


def _seconds(name, calls, callers, kind):
    """Seconds of the slowest of ``callers`` callers (threads or processes), each timing its own calls."""
    if kind == "thread":
        start, out = threading.Barrier(callers), queue.Queue()
        pool = [threading.Thread(target=_calls, args=(name, calls, start, out)) for _ in range(callers)]
    else:
        context = multiprocessing.get_context("spawn")      # nothing inherited from this process
        start, out = context.Barrier(callers), context.Queue()
        pool = [context.Process(target=_calls, args=(name, calls, start, out)) for _ in range(callers)]
    for worker in pool:
        worker.start()
    seconds = max(out.get() for _ in pool)
    for worker in pool:
        worker.join()
    return seconds


def main(rounds=3, seconds=0.2, out=OUT):
    """Each operation alone, on two threads and in two processes: the best of ``rounds`` runs."""
    lines = [results_log.header("python -m benchmarks.threads", f"NumPy {np.__version__}, BLAS on one thread")]
    lines.append(f"  {'operation':46s} {'alone':>10s}  2 threads  2 processes")
    for name in operations():
        calls = max(2, int(seconds / (_seconds(name, 20, 1, "thread") / 20)))
        alone = min(_seconds(name, calls, 1, "thread") for _ in range(rounds))
        threads = min(_seconds(name, calls, 2, "thread") for _ in range(rounds))
        processes = min(_seconds(name, calls, 2, "process") for _ in range(rounds))
        lines.append(f"  {name:46s} {alone / calls * 1e6:7.1f} us  {threads / alone:8.2f}x  {processes / alone:10.2f}x")
        print(lines[-1], flush=True)
    return results_log.append(out, lines)


if __name__ == "__main__":
    main()

"""One contender in a process of its own, driven over a pipe by the parent (harness.py).

    python -m benchmarks.child NAME [--minicnn-path DIR]

It imports only its own framework (``--minicnn-path`` puts an older minicnn checkout
first on the path, for the baseline contenders), then answers one JSON request per line
on stdin with one JSON reply per line. The first reply says who it is (its pid and the
framework's settings) or why it cannot run here ({"skip": reason}). Library messages
printed to stdout are sent to stderr, so they cannot break the protocol.
"""
import argparse
import gc
import importlib
import json
import os
import sys
import time
import traceback

import numpy as np

from . import memory, timing
from .contenders import CONTENDERS, Skip
from .network import read_data


class Session:
    """The requests a contender answers; each method's keyword arguments come from the request."""

    def __init__(self, contender):
        self.contender = contender

    def setup(self, network, data):
        self.contender.free()
        x, y = read_data(data)
        self.contender.setup(network, x, y)
        self.x = x
        return self.contender.state()

    def check(self, network, data, steps):
        """The network as this framework computes it: eval-mode log-probabilities of the batch and
        the losses of ``steps`` training steps with dropout off (they agree across contenders
        only if the gradients and the SGD update do); then the weights are loaded afresh."""
        c = self.contender
        c.set_training(False)
        out = c.predict(self.x)
        losses = [c.train_step() for _ in range(steps)]
        self.setup(network, data)
        return dict(output=np.asarray(out, dtype=np.float64).tolist(), losses=losses)

    def prepare(self, task, warmup):
        """Switch to ``task`` ("train" or "infer"), run the warm-up steps; return the last one's seconds."""
        c = self.contender
        c.set_training(task == "train")
        fn = c.train_step if task == "train" else c.infer_step
        for _ in range(max(warmup - 1, 0)):
            fn()
        seconds = timing.time_block(fn, 1, c.sync)
        gc.collect()                  # now, so no timed block inherits the set-up's garbage
        return dict(seconds=seconds)

    def time(self, task, steps):
        c = self.contender
        fn = c.train_step if task == "train" else c.infer_step
        return dict(seconds=timing.time_block(fn, steps, c.sync))

    def latency(self, calls, warmup):
        """Milliseconds of each single-image prediction (eval mode, NumPy in and out)."""
        c, image = self.contender, self.x[:1]
        c.set_training(False)
        for _ in range(warmup):
            c.predict(image)
        times = []
        for _ in range(calls):
            start = time.perf_counter()
            c.predict(image)          # returns a NumPy array: GPU work is finished
            times.append((time.perf_counter() - start) * 1e3)
        return dict(ms=times)

    def layers(self, steps):
        if self.contender.layer_steps() is None:
            return {}
        return timing.layer_times(self.contender, steps)

    def matmul(self, sizes, repeats):
        return dict(gflops=timing.matmul_gflops(self.contender, sizes, repeats))

    def memory(self, network, data, steps):
        x, y = read_data(data)
        return memory.peak_memory(self.contender, network, x, y, steps)


def serve(name, requests, replies):
    """Build the contender, say hello, then answer requests until "quit" or the end of input."""
    label, device, module, cls, kwargs = CONTENDERS[name]
    try:
        contender = getattr(importlib.import_module(f"benchmarks.{module}"), cls)(**kwargs)
    except Skip as e:
        replies.write(json.dumps({"skip": str(e)}) + "\n")
        replies.flush()
        return
    replies.write(json.dumps(dict(pid=os.getpid(), device=contender.device, info=contender.info())) + "\n")
    replies.flush()
    session = Session(contender)
    for line in requests:
        request = json.loads(line)
        op = request.pop("op")
        if op == "quit":
            break
        try:
            reply = getattr(session, op)(**request)
        except Exception as e:  # noqa: BLE001 - any failure is reported to the parent, which stops the run
            traceback.print_exc(file=sys.stderr)
            reply = {"error": f"{type(e).__name__}: {e}"}
        replies.write(json.dumps(reply) + "\n")
        replies.flush()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", choices=sorted(CONTENDERS))
    parser.add_argument("--minicnn-path", help="import minicnn from this checkout instead")
    args = parser.parse_args()
    if args.minicnn_path:         # before anything imports minicnn; benchmarks is already imported
        sys.path.insert(0, os.path.abspath(args.minicnn_path))
    replies = os.fdopen(os.dup(1), "w")    # the protocol keeps the real stdout ...
    os.dup2(2, 1)                          # ... and whatever libraries print goes to stderr
    sys.stdout = sys.stderr
    serve(args.name, sys.stdin, replies)


if __name__ == "__main__":
    main()

"""A design minicnn does not use (yet), measured: the second batch chunk in a forked process, not a thread.

    python benchmarks/chunk_processes.py              # lenet and convnet, batch 64; about a minute (Linux)
    python benchmarks/chunk_processes.py --batches 64 256 --repeats 15

minicnn/threads.py runs one batch chunk per core on threads. Two CPython threads
share one interpreter lock (the GIL): each NumPy call needs it to start and to
return, so the threads wait for each other many times a step. A forked process
has an interpreter of its own. This script builds that alternative in a few
dozen lines, for measurement only (Linux, two chunks, the model's built-in
layers): a worker process forked with a copy of the leading batch-independent
layers, one shared-memory block for the weights, the input chunk, the outputs
and the gradients, and a pipe to say "forward" or "backward". It checks that a
training step gives the same gradients as minicnn's own, then times training
steps of minicnn as it comes (threads), the forked variant and PyTorch CPU,
repetitions interleaved (benchmark.measure_throughput).

What the library would still need before it could do this itself: re-forking
when the layers, dtypes or order change, Dropout inside the forked part, errors
and Ctrl-C across processes, a fallback where fork does not exist. Results go to
stdout and are appended to benchmarks/results/chunk_processes.txt.
"""
import argparse
import copy
import multiprocessing
import sys
from multiprocessing import shared_memory
from pathlib import Path

import numpy as np

from minicnn import benchmark, threads
from minicnn.backend import manual_seed
from minicnn.losses import NLLLoss
from minicnn.models import MODELS
from minicnn.optim import SGD

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "chunk_processes.txt"
NAME = "minicnn-numpy, chunk 2 in a process"
BLOCK = 256 << 20                      # bytes of shared memory: enough for batch 256 of either model


class Block:
    """Arrays laid out one after another in a shared-memory block (offsets in bytes)."""

    def __init__(self, buf):
        self.buf, self.end = buf, 0

    def put(self, a):
        """Copy ``a`` in; return its (offset, shape, dtype) spec."""
        spec = (self.end, a.shape, a.dtype.str)
        self.view(spec)[...] = a
        self.end += -(-a.nbytes // 64) * 64
        return spec

    def view(self, spec):
        offset, shape, dtype = spec
        return np.ndarray(shape, dtype=dtype, buffer=self.buf, offset=offset)


def _serve(conn, head, name):
    """The worker: run ``head`` forward or backward on the chunk the main process put in the block."""
    from threadpoolctl import threadpool_limits
    threadpool_limits(1)                                   # one core for this process
    shm = shared_memory.SharedMemory(name=name)           # closed when the process ends
    params = [p for layer in head for _, p in layer.named_parameters()]
    while True:
        msg = conn.recv()
        if msg is None:
            return
        block = Block(shm.buf)
        if msg[0] == "forward":
            _, training, param_specs, x_spec, out_at = msg
            for layer in head:
                layer.train(training)
            for p, spec in zip(params, param_specs):
                p.data = block.view(spec)                     # the main process's weights, no copy
            h = block.view(x_spec)
            for layer in head:
                h = layer.forward(h)
            block.end = out_at
            conn.send(block.put(np.ascontiguousarray(h)))
        else:
            _, g_spec, grads_at = msg
            g = block.view(g_spec)
            for i in range(len(head) - 1, -1, -1):
                if i == 0 and hasattr(head[0], "needs_input_grad"):
                    head[0].needs_input_grad = False
                g = head[i].backward(g)
            block.end = grads_at
            conn.send([block.put(p.grad) for p in params])


class ForkedContender(benchmark.MinicnnContender):
    """minicnn's layers, with the second half of the batch through the leading layers in a forked process."""

    def __init__(self):
        super().__init__("numpy")
        self.name = NAME

    def setup(self, model, x, y):
        super().setup(model, x, y)
        order = [self.model.layers[i] for i in self.model.execution_order()]
        depth = 0
        while depth < len(order) and getattr(order[depth], "batch_independent", False) \
                and not getattr(order[depth], "draws_random", False):
            depth += 1
        self.head, self.tail = order[:depth], order[depth:]
        self.params = [p for layer in self.head for _, p in layer.named_parameters()]
        self.shm = shared_memory.SharedMemory(create=True, size=BLOCK)
        ctx = multiprocessing.get_context("fork")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_serve, args=(child, copy.deepcopy(self.head), self.shm.name),
                                daemon=True)
        self.proc.start()
        self.controller = threads._blas_controller()

    def close(self):
        self.conn.send(None)
        self.proc.join()
        self.shm.unlink()             # the memory goes when this process lets go of its last view

    def _forward(self, x):
        half = len(x) // 2
        block = Block(self.shm.buf)
        param_specs = [block.put(p.data) for p in self.params]
        x_spec = block.put(x[half:])
        self.conn.send(("forward", self.model.training, param_specs, x_spec, block.end))
        h = x[:half]
        for layer in self.head:
            h = layer.forward(h)
        theirs = block.view(self.conn.recv())
        h = np.concatenate([h, theirs])
        for layer in self.tail:
            h = layer.forward(h)
        self._half, self._block_end = half, block.end + theirs.nbytes + 64
        return h

    def _backward(self, g):
        for layer in reversed(self.tail):
            g = layer.backward(g)
        block = Block(self.shm.buf)
        block.end = self._block_end
        g_spec = block.put(g[self._half:])
        self.conn.send(("backward", g_spec, block.end))
        g = g[:self._half]
        for i in range(len(self.head) - 1, -1, -1):
            if i == 0 and hasattr(self.head[0], "needs_input_grad"):
                self.head[0].needs_input_grad = False
            g = self.head[i].backward(g)
        if hasattr(self.head[0], "needs_input_grad"):
            self.head[0].needs_input_grad = True
        for p, spec in zip(self.params, self.conn.recv()):
            p.grad = p.grad + block.view(spec)

    def train_step(self):
        with self.controller.limit(limits=1, user_api="blas"):
            self.optimizer.zero_grad()
            self.loss.forward(self._forward(self.x), self.y)
            self._backward(self.loss.backward())
            self.optimizer.step()


def check_same_gradients(model, x, y):
    """Largest |difference| of the weight gradients after one step: threads against the forked process."""
    ours, forked = benchmark.make_contender("minicnn-numpy"), ForkedContender()
    try:
        for c in (ours, forked):
            c.setup(model, x, y)
            c.set_training(True)
            c.optimizer = SGD(c.model.parameters(), lr=1e-9)          # a step that changes nothing
            c.loss = NLLLoss()
            manual_seed(1)                                             # the same Dropout mask
            c.train_step()
        return max(float(np.max(np.abs(a.grad - b.grad)))
                   for a, b in zip(ours.model.parameters(), forked.model.parameters()))
    finally:
        forked.close()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["lenet", "convnet"], choices=sorted(MODELS))
    ap.add_argument("--batches", nargs="+", type=int, default=[64])
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    if "fork" not in multiprocessing.get_all_start_methods() or threads._blas_controller() is None:
        print("this measurement needs fork (Linux) and threadpoolctl", file=sys.stderr)
        return []
    names = ["minicnn-numpy", "pytorch-cpu"]
    _, skipped = benchmark.find_contenders()
    if "pytorch-cpu" in skipped:
        names.remove("pytorch-cpu")
    lines = [benchmark.results_header(f"python benchmarks/chunk_processes.py --batches "
                                      f"{' '.join(map(str, args.batches))} --repeats {args.repeats}",
                                      "training; 'threads' is minicnn as it comes"),
             f"{'model':8s} {'batch':>5s} {'threads img/s':>14s} {'process img/s':>14s} {'process / threads':>18s} "
             f"{'threads x PyTorch':>18s} {'process x PyTorch':>18s} {'max |grad diff|':>16s}"]
    print("\n".join(lines), flush=True)
    for name in args.models:
        for batch in args.batches:
            problem = benchmark.make_problem(name, batch)
            diff = check_same_gradients(*problem)
            contenders = [benchmark.make_contender(n) for n in names]
            contenders.insert(1, ForkedContender())
            try:
                for c in contenders:
                    c.setup(*problem)
                _, runs = benchmark.measure_throughput(contenders, batch, "train", args.repeats, None, warmup=3)
            finally:
                contenders[1].close()

            def ratio(a, b):
                return f"{np.median(np.array(runs[a]) / np.array(runs[b])):.2f}x" if b in runs else "-"

            line = (f"{name:8s} {batch:5d} {np.median(runs['minicnn-numpy']):14,.0f} {np.median(runs[NAME]):14,.0f} "
                    f"{ratio(NAME, 'minicnn-numpy'):>18s} {ratio('minicnn-numpy', 'pytorch-cpu'):>18s} "
                    f"{ratio(NAME, 'pytorch-cpu'):>18s} {diff:16.1e}")
            lines.append(line)
            print(line, flush=True)
    return benchmark.append_results(args.out, lines)


if __name__ == "__main__":
    main()

"""CPU processes: batch chunks in forked worker processes, on Linux.

Why this exists: ``Sequential`` runs one chunk of a large batch per core
(threads.py). On threads, every NumPy call needs Python's global lock (the GIL)
to start and to hand its result back, so two threads that each make hundreds of
calls a step keep waiting for each other. A process has an interpreter, and a
GIL, of its own. benchmarks/chunk_engines.py measured lenet and convnet training
steps at batch 64 1.04-1.06x as fast with the second chunk in a worker process
as with a thread, on the 2-core development machine.

How: the first time a Sequential splits a batch, it forks one worker process per
extra chunk. ``fork`` copies the process, so a worker starts with its own copy of
the leading layers. Each step, the main process writes the weights, the input
chunks and (in backward) the output gradients into one block of shared memory,
tells each worker "forward" or "backward" through a pipe, runs chunk 0 itself,
and reads the workers' outputs and weight gradients back from the block. A
worker is forked again when the layers, their settings or their dtypes change.

Only Linux (fork is not safe with macOS's system libraries, and Windows has
none), and only minicnn's own layers run in a worker: a learner's layer may keep
state the worker's copy would not see. ``set_chunk_engine("threads")`` (or
MINICNN_CHUNK_ENGINE=threads) goes back to threads; results agree either way up
to float rounding in the weight gradients. A model's workers end with the
model (or with Python); ``stop_workers(model)`` ends them at once.
"""
import contextlib
import json
import multiprocessing
import os
import signal
import sys
import warnings
import weakref
from multiprocessing import shared_memory

import numpy as np

from .threads import get_chunk_engine

_workers = weakref.WeakKeyDictionary()     # Sequential -> its Workers


def available():
    """True where chunks may run in worker processes: Linux, fork, and the engine set to processes."""
    return (sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods()
            and get_chunk_engine() == "processes")


class Block:
    """Arrays laid out one after another in a shared-memory block; a spec is (offset, shape, dtype)."""

    def __init__(self, buf):
        self.buf, self.end = buf, 0

    def reserve(self, shape, dtype):
        spec = (self.end, tuple(int(s) for s in shape), np.dtype(dtype).str)
        self.end += -(-int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize // 64) * 64
        return spec

    def view(self, spec):
        offset, shape, dtype = spec
        return np.ndarray(shape, dtype=dtype, buffer=self.buf, offset=offset)


def signature(steps):
    """What a worker's copy of the layers must match: index, the layer object itself, its class,
    settings, parameter dtypes and shapes (the weights themselves travel with every step)."""
    return tuple((i, id(layer), type(layer), layer.config(),
                  tuple((name, p.data.dtype, p.data.shape) for name, p in layer.named_parameters()))
                 for i, layer in steps)


def _run(head, params, block, plan, msg):
    """One command in a worker: the forward or backward of its chunk, results into the block."""
    weights, specs = plan
    if msg[0] == "forward":
        for p, spec in zip(params, weights):
            p.data = block.view(spec)                           # the main process's weights, no copy
        h = block.view(specs["x"])
        for layer, mode in zip(head, msg[2]):
            layer.train(mode)
            h = layer.forward(h)
        _write(block.view(specs["out"]), h, "output")
    else:
        input_grad = msg[2]
        g = block.view(specs["g"])
        for i in range(len(head) - 1, -1, -1):
            skip = i == 0 and not input_grad and hasattr(head[0], "needs_input_grad")
            if skip:
                head[0].needs_input_grad = False
            try:
                g = head[i].backward(g)
            finally:
                if skip:
                    head[0].needs_input_grad = True
        for p, spec in zip(params, specs["grads"]):
            _write(block.view(spec), p.grad, "weight gradient")
        if input_grad:
            _write(block.view(specs["dx"]), g, "input gradient")


def _write(slot, a, what):
    if slot.shape != a.shape or slot.dtype != a.dtype:
        raise ValueError(f"the chunk's {what} has shape {a.shape} and dtype {a.dtype}, but the main "
                         f"process expected {slot.shape} and {slot.dtype}")
    slot[...] = a


def _serve(conn, head, name):
    """A worker's life: wait for a command, run it on one core, answer "ok" or the error."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)      # Ctrl-C is the main process's to handle
    # OpenBLAS is already on one thread: the fork happened inside Sequential's one_blas_thread().
    shm = shared_memory.SharedMemory(name=name)
    params = [p for layer in head for _, p in layer.named_parameters()]
    plans = {}
    while True:
        try:
            msg = conn.recv()
        except EOFError:                               # the main process has gone
            return
        if msg is None:
            return
        if msg[0] == "plan":                           # where this worker's arrays live, for one shape
            _, key, weights, specs = msg
            plans[key] = (weights, specs)
            continue
        try:
            _run(head, params, Block(shm.buf), plans[msg[1]], msg)
            conn.send("ok")
        except Exception as e:  # noqa: BLE001 - reported to the main process, which raises it
            conn.send(f"{type(e).__name__}: {e}")


class Workers:
    """The worker processes of one Sequential: chunk j >= 1 runs in worker j - 1."""

    def __init__(self, steps, count, nbytes):
        self.signature, self.count = signature(steps), count
        self.plans = {}                                # (x shape, dtype, bounds) -> (weights, chunks)
        nbytes = max(nbytes, 1 << 20)
        free = _shared_memory_free()
        if free is not None and nbytes > free // 2:      # a full /dev/shm kills a process (SIGBUS)
            raise OSError(f"{nbytes} bytes of shared memory wanted, {free} free in /dev/shm")
        self.shm = shared_memory.SharedMemory(create=True, size=nbytes)
        # fork, not spawn: a spawned worker would import the learner's script again (running it,
        # unless it is guarded by `if __name__ == "__main__"`), and a forked one starts at once with
        # the layers already in its memory. The worker only ever uses NumPy and OpenBLAS (which
        # prepares itself for fork), not the locks other threads of this process may hold.
        ctx = multiprocessing.get_context("fork")
        self.procs, self.conns = [], []
        head = [layer for _, layer in steps]
        for _ in range(count):
            conn, child = ctx.Pipe()
            proc = ctx.Process(target=_serve, args=(child, head, self.shm.name), daemon=True,
                               name="minicnn-chunk")
            with warnings.catch_warnings():
                # Libraries with threads of their own (JAX; Python 3.12+ for any) warn at every fork,
                # because a child that used their locks could hang. This child never touches them:
                # it runs minicnn's layers on NumPy, with OpenBLAS on one thread.
                warnings.filterwarnings("ignore", message=r".*fork\(\)", category=RuntimeWarning)
                warnings.filterwarnings("ignore", message=r".*multi-threaded.*fork\(\)",
                                        category=DeprecationWarning)
                proc.start()
            child.close()
            self.procs.append(proc)
            self.conns.append(conn)
        self._stop = weakref.finalize(self, _stop, self.procs, self.conns, self.shm)

    def fits(self, steps, count):
        return (self.count == count and signature(steps) == self.signature
                and all(p.is_alive() for p in self.procs))

    @contextlib.contextmanager
    def step(self):
        """Around a command: if anything goes wrong or is interrupted before every worker has
        answered, the workers are stopped (the next forward forks new ones) and the error goes on."""
        try:
            yield
        except BaseException:
            self.close()
            raise

    def send(self, msgs):
        for conn, msg in zip(self.conns, msgs):
            conn.send(msg)

    def wait(self):
        """Every worker's answer; a failed or vanished worker raises (and step() stops them all)."""
        for j, (conn, proc) in enumerate(zip(self.conns, self.procs), start=1):
            try:
                answer = conn.recv()
            except (EOFError, OSError):
                proc.join(1)
                raise RuntimeError(f"Sequential: the worker process of batch chunk {j} ended unexpectedly "
                                   f"(exit code {proc.exitcode}); the next forward starts a new one") from None
            if answer != "ok":
                raise RuntimeError(f"Sequential: batch chunk {j} failed in its worker process: {answer}")

    def close(self):
        self._stop()


def _shared_memory_free():
    """Bytes free in /dev/shm (where Linux keeps shared memory), or None where it cannot be read."""
    try:
        st = os.statvfs("/dev/shm")
    except OSError:
        return None
    return st.f_bavail * st.f_frsize


def _stop(procs, conns, shm):
    for conn in conns:
        try:
            conn.send(None)
        except OSError:
            pass
    for proc in procs:
        proc.join(1)
        if proc.is_alive():
            proc.terminate()
            proc.join(1)
    for conn in conns:
        conn.close()
    try:
        shm.close()
    except BufferError:        # a view of the block is still alive somewhere: the OS frees it later
        pass
    shm.unlink()


def parameters(steps):
    """The Parameters of these [(index, layer)] steps, in order: the order of the weight specs."""
    return [p for _, layer in steps for _, p in layer.named_parameters()]


def usable_depth(steps, x):
    """How many leading steps may run in workers on x: minicnn's own layers, none drawing random
    numbers (their draws stay in the main process), every weight of x's float dtype."""
    from .sequential import LAYER_TYPES
    depth = 0
    for _, layer in steps if x.dtype.kind == "f" else []:
        if (type(layer) is not LAYER_TYPES.get(type(layer).__name__) or getattr(layer, "draws_random", False)
                or any(p.data.dtype != x.dtype for p in layer.parameters())):
            break
        depth += 1
    return depth


def plan(steps, x, bounds):
    """Where each array goes in the shared block: ([weight specs], [per worker chunk: specs], bytes)."""
    params = parameters(steps)
    shape = tuple(x.shape[1:])
    for _, layer in steps:
        shape = tuple(layer.output_shape(shape))
    block = Block(None)
    weights = [block.reserve(p.data.shape, x.dtype) for p in params]
    chunks = []
    for lo, hi in bounds[1:]:
        n = hi - lo
        out = block.reserve((n,) + shape, x.dtype)
        chunks.append(dict(x=block.reserve((n,) + x.shape[1:], x.dtype), out=out,
                           g=block.reserve((n,) + shape, x.dtype),
                           grads=[block.reserve(p.data.shape, x.dtype) for p in params],
                           dx=block.reserve((n,) + x.shape[1:], x.dtype)))
    return weights, chunks, block.end


def workers_for(model, steps, x, bounds):
    """(workers, key, weight specs, chunk specs) for this model's leading layers and this batch:
    the model's worker processes, forked (again) if there are none yet, the layers changed or the
    shared block is too small for this batch."""
    count, key = len(bounds) - 1, (x.shape, x.dtype.str, tuple(bounds))
    workers = _workers.get(model)
    if workers is not None and not workers.fits(steps, count):
        workers.close()
        workers = None
    if workers is None or key not in workers.plans:
        weights, chunks, nbytes = plan(steps, x, bounds)
        if workers is None or nbytes > workers.shm.size:
            if workers is not None:
                workers.close()
            workers = _workers[model] = Workers(steps, count, 2 * nbytes)
        workers.plans[key] = (weights, chunks)
        workers.send([("plan", key, weights, specs) for specs in chunks])
    return (workers, key) + workers.plans[key]


def worker_pids(model):
    """The process ids of a model's chunk workers ([] without any)."""
    workers = _workers.get(model)
    return [proc.pid for proc in workers.procs] if workers is not None else []


def stop_workers(model):
    """End a model's worker processes now (they also end with the model, or with Python)."""
    workers = _workers.pop(model, None)
    if workers is not None:
        workers.close()

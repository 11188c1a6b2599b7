"""DataParallel: chunks of the batch on every CPU core, on threads. Opt-in: the core never imports it.

    model = mc.DataParallel(lenet())     # model.module is the lenet itself
    out = model.forward(xb)              # the plain model's numbers, on every core
    model.backward(loss.backward())

NumPy runs elementwise work (a ReLU, the im2col copy) on one core, so the leading layers registered ``per_sample`` run
on chunks, a thread per core (NumPy releases the GIL; OpenBLAS is held to one thread). From the first other layer
on (a Dropout, a layer of your own) the whole batch runs as one, so random numbers are drawn as in the plain model. The
chunks' weight gradients add up in ``.grad``: the plain model's, up to float rounding. Lesson 11 races it.
"""
import contextlib
import copy
import functools
import math
import os
import weakref
from concurrent.futures import ThreadPoolExecutor, wait

from . import allocator
from .backend import get_array_module, is_gpu_array
from .layers.module import Module, Parameter
from .layers.registry import layer_type
from .optional import optional
from .sequential import Sequential

MIN_CHUNK = 32      # samples per chunk, at least: below this, handing work to a thread costs more than it saves
MAX_CHUNK = 64      # samples per chunk, at most: a bigger chunk's im2col and col2im arrays outgrow the caches
MAX_THREADS = 8     # threads per batch, at most: a 64-core machine does not start 63 threads for one batch


class DataParallel(Module):
    """Wrap a Sequential (``.module``) so that each batch runs in chunks on every core; the numbers stay the same.
    ``workers`` caps the threads per batch (default ``usable_cores()``; 1: no split), as do MAX_THREADS, MIN_CHUNK."""

    def __init__(self, module, workers=None):
        if not isinstance(module, Sequential):
            raise TypeError(f"DataParallel wraps a minicnn Sequential, received {type(module).__name__}")
        workers = usable_cores() if workers is None else workers
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError(f"DataParallel workers must be a whole number >= 1, received {workers!r}")
        self.module = module     # a sub-module: state_dict() names "module.0.weight", as PyTorch's does
        self.workers = workers
        self._pool = None
        self._last = None        # (bounds, per-chunk Sequentials) of the last split forward

    def __repr__(self):
        return f"DataParallel(workers={self.workers}, module={self.module!r})"

    def __deepcopy__(self, memo):        # the copy gets its own threads (a thread pool cannot be copied)
        return DataParallel(copy.deepcopy(self.module, memo), self.workers)

    def split_depth(self):
        """How many leading layers run on chunks: those registered per_sample (exact types; a subclass may differ)."""
        for depth, layer in enumerate(self.module.layers):
            entry = layer_type(layer)
            if entry is None or not entry.per_sample:
                return depth
        return len(self.module.layers)

    def chunk_bounds(self, n):
        """[(start, stop)] of a batch's chunks ([(0, n)]: not cut), as many per thread, of MAX_CHUNK samples at most."""
        threads = min(self.workers, n // MIN_CHUNK, MAX_THREADS)
        if threads < 2 or _blas_controller() is None:
            return [(0, n)]
        count = threads * -(-n // (threads * MAX_CHUNK))            # a whole number of chunks per thread
        edges = [n * j // count for j in range(count + 1)]
        return list(zip(edges[:-1], edges[1:]))

    def describe(self, batch_size):
        """One sentence: how a batch of this size runs."""
        n = len(self.chunk_bounds(batch_size)) if self.split_depth() else 1
        if n > 1:
            return (f"DataParallel: each batch of {batch_size} runs as {n} chunks on "
                    f"{min(self.workers, MAX_THREADS, n)} CPU cores")
        why = ("threadpoolctl is not installed (pip install threadpoolctl)" if _blas_controller() is None
               else f"{self.workers} usable core(s), at least {MIN_CHUNK} samples per chunk")
        return f"DataParallel: a batch of {batch_size} runs whole on one core ({why})"

    def forward(self, x):
        allocator.on_first_training()        # training starts: chunks and steps reuse freed memory
        self._last = None
        layers = self.module.layers
        depth = self.split_depth()
        if depth == 0 or not hasattr(x, "ndim") or x.ndim == 0 or is_gpu_array(x):
            return self.module.forward(x)
        bounds = self.chunk_bounds(len(x))
        if len(bounds) == 1:
            return self.module.forward(x)
        # Chunk 0 runs on the layers themselves, the others on twins (own cache and Parameters, same weight arrays).
        heads = [self.module[:depth]] + [_twin(self.module[:depth], {}) for _ in bounds[1:]]
        with one_blas_thread():
            outputs = self._map(lambda j: heads[j].forward(x[bounds[j][0]:bounds[j][1]]), len(bounds))
            self._last = (bounds, heads)
            return _forward(layers[depth:], get_array_module(x).concatenate(outputs), depth)

    def backward(self, grad_output, input_grad=True):
        if self._last is None:
            return self.module.backward(grad_output, input_grad)
        bounds, heads = self._last
        with one_blas_thread():
            grad_output = self.module[len(heads[0]):].backward(grad_output)              # the whole-batch tail
            grads = self._map(lambda j: heads[j].backward(grad_output[bounds[j][0]:bounds[j][1]], input_grad),
                              len(bounds))
        for p, *twins in zip(*[head.parameters() for head in heads]):                    # add the twins' gradients
            for twin in twins:
                if twin.grad is not None:
                    p.accumulate(twin.grad)
        return get_array_module(grads[0]).concatenate(grads) if input_grad else None

    def _map(self, fn, count):
        """[fn(0), ..., fn(count - 1)], fn(j) on thread j % threads (0: here); all end, then the first error rises."""
        if self._pool is None:                       # it starts a thread only when a chunk needs one
            self._pool = ThreadPoolExecutor(max_workers=MAX_THREADS - 1, thread_name_prefix="minicnn")
            weakref.finalize(self, self._pool.shutdown, wait=False)    # its threads end with it
        threads = min(self.workers, MAX_THREADS, count)
        turn = lambda t: [fn(j) for j in range(t, count, threads)]  # noqa: E731 (thread t: chunks t, t + threads, ...)
        futures = [self._pool.submit(turn, t) for t in range(1, threads)]
        try:
            done = [turn(0)]
        finally:
            wait(futures)                            # no chunk is left running when an error is raised
        done += [f.result() for f in futures]
        return [done[j % threads][j // threads] for j in range(count)]


def _forward(layers, x, first_index):
    for i, layer in enumerate(layers, start=first_index):
        try:
            x = layer.forward(x)
        except ValueError as e:                                      # as Sequential says it
            raise ValueError(f"Sequential layer {i}: {e}") from None
    return x


def _twin(value, memo):
    """For another chunk: a Module copied with its sub-modules, a Parameter made anew around the same array, each
    once (what two layers share, their twins share); a list or tuple of modules, item by item; anything else itself."""
    if isinstance(value, (list, tuple)) and any(isinstance(v, Module) for v in value):
        return type(value)(_twin(v, memo) for v in value)
    if not isinstance(value, (Module, Parameter)):
        return value
    if id(value) not in memo:
        if isinstance(value, Parameter):
            memo[id(value)] = Parameter(value.data)
        else:
            memo[id(value)] = twin = copy.copy(value)                # its own cache from its first forward on
            for name, v in vars(value).items():
                setattr(twin, name, _twin(v, memo))
    return memo[id(value)]


def usable_cores():
    """The cores this process may use: its CPU affinity, capped by a container's CPU quota."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:                                           # not Linux
        cores = os.cpu_count() or 1
    quota = cpu_quota()
    if quota is not None:          # 1.5 cores of quota gives 1: two busy threads would be throttled
        cores = min(cores, math.floor(quota))
    return max(1, cores)


def cpu_quota(cgroup_root="/sys/fs/cgroup", proc_cgroup="/proc/self/cgroup"):
    """The cores this process's cgroups allow (the least cpu.max or cfs_quota_us / period up to the root), or None."""
    try:
        with open(proc_cgroup) as f:   # "0::/user.slice" (v2), "4:cpu,cpuacct:/docker/x" (v1)
            lines = [line.rstrip("\n").split(":", 2) for line in f if line.count(":") >= 2]
    except OSError:
        lines = []
    paths = [path for _, controllers, path in lines if controllers in ("", "cpu") or "cpu," in controllers]
    limits = []
    for base in (cgroup_root, os.path.join(cgroup_root, "cpu"), os.path.join(cgroup_root, "cpu,cpuacct")):
        for path in paths or ["/"]:
            parts = [p for p in path.split("/") if p]
            for k in range(len(parts), -1, -1):                     # this cgroup, then each parent
                folder = os.path.join(base, *parts[:k])
                v2 = _numbers(os.path.join(folder, "cpu.max"))
                v1 = (_numbers(os.path.join(folder, "cpu.cfs_quota_us"))[0],
                      _numbers(os.path.join(folder, "cpu.cfs_period_us"))[0])
                for quota, period in (v2, v1):
                    if quota is not None and quota > 0 and period:
                        limits.append(quota / period)
    return min(limits) if limits else None


def _numbers(path):
    """The first two numbers of a cgroup file ("max" reads as None); Nones if absent or unreadable."""
    try:
        with open(path) as f:
            words = f.read().split() + ["max", "max"]
        return tuple(None if w == "max" else int(w) for w in words[:2])
    except (OSError, ValueError):
        return (None, None)


@functools.cache
def _blas_controller():
    """threadpoolctl's handle on the loaded BLAS libraries, or None without threadpoolctl."""
    threadpoolctl = optional("threadpoolctl")
    return threadpoolctl.ThreadpoolController() if threadpoolctl else None


def one_blas_thread():
    """OpenBLAS on the calling thread only, for a whole split pass: a just-used worker spins a while, slowing chunks."""
    controller = _blas_controller()
    return controller.limit(limits=1, user_api="blas") if controller else contextlib.nullcontext()

"""CPU threads: one chunk of the batch per core.

Why this exists: NumPy runs each elementwise operation (a ReLU, a pooling
step, the im2col copy) on ONE core; only its matrix multiplies (OpenBLAS) use
several, and each of those then waits for its slowest thread. PyTorch runs
every operation on every core. So ``Sequential`` splits a large batch into one
chunk per core and runs its layers on each chunk in a thread of its own.
NumPy and OpenBLAS release Python's global lock (the GIL) while they compute,
so the chunks really do run at the same time. While they run, OpenBLAS is held
to one thread per chunk, so the cores are not asked to do the work twice over.

The result is the same as running the whole batch at once, up to float
rounding in the weight gradients (the chunks' gradients are added up).
``set_num_threads(1)`` turns the splitting off, as ``torch.set_num_threads``
does for PyTorch; the ``MINICNN_NUM_THREADS`` variable sets the starting value.

On Linux the chunks after the first run in forked worker processes instead of
threads (processes.py: threads of one Python program wait for each other's GIL);
``set_chunk_engine("threads")`` keeps them on threads, and elsewhere they always are.

Holding OpenBLAS to one thread needs threadpoolctl (``pip install threadpoolctl``,
installed with the extras); without it minicnn stays on one thread.
"""
import contextlib
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

# Samples per chunk, at least: below this, handing work to a thread costs more than it saves.
# benchmarks/chunks.py measured it on 2 cores: batch 32 split in two was 0.91-0.94x as fast as
# one thread, batch 48 0.97-1.07x, batch 64 1.03-1.08x, batch 128 1.21-1.25x.
MIN_CHUNK = 32

_num_threads = None   # None until first asked for: MINICNN_NUM_THREADS, else the usable cores
_engine = None        # "threads" or "processes" (processes.py); None until first asked for
_pool, _pool_workers = None, 0
_blas = None          # threadpoolctl's controller for the BLAS libraries, found once


def usable_cores():
    """The cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def set_num_threads(n):
    """How many threads (batch chunks) a Sequential may use on the CPU; 1 turns splitting off."""
    global _num_threads
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_threads expects a whole number >= 1, got {n!r}")
    _num_threads = n


def get_num_threads():
    """The thread count set by set_num_threads (default: MINICNN_NUM_THREADS, else the usable cores)."""
    global _num_threads
    if _num_threads is None:
        text = os.environ.get("MINICNN_NUM_THREADS", "").strip()
        try:
            _num_threads = int(text) if text else usable_cores()
        except ValueError:
            raise ValueError(f"MINICNN_NUM_THREADS must be a whole number >= 1, got {text!r}") from None
        if _num_threads < 1:
            raise ValueError(f"MINICNN_NUM_THREADS must be a whole number >= 1, got {text!r}")
    return _num_threads


def set_chunk_engine(name):
    """Run the extra batch chunks on "threads" or in forked worker "processes" (Linux only, processes.py)."""
    global _engine
    if name not in ("threads", "processes"):
        raise ValueError(f"set_chunk_engine expects 'threads' or 'processes', got {name!r}")
    _engine = name


def get_chunk_engine():
    """The chunk engine: set_chunk_engine's, else MINICNN_CHUNK_ENGINE, else "processes" on Linux
    and "threads" elsewhere."""
    global _engine
    if _engine is None:
        text = os.environ.get("MINICNN_CHUNK_ENGINE", "").strip()
        if text not in ("", "threads", "processes"):
            raise ValueError(f"MINICNN_CHUNK_ENGINE must be 'threads' or 'processes', got {text!r}")
        _engine = text or ("processes" if sys.platform.startswith("linux") else "threads")
    return _engine


def _blas_controller():
    """threadpoolctl's handle on the loaded BLAS libraries, or None without threadpoolctl."""
    global _blas
    if _blas is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            _blas = False
        else:
            _blas = ThreadpoolController()
    return _blas or None


def chunk_bounds(n):
    """Split n samples into contiguous (start, stop) chunks, one per thread.

    A single chunk (no splitting) when threads are off, the batch is small,
    or threadpoolctl is missing.
    """
    count = min(get_num_threads(), n // MIN_CHUNK)
    if count < 2 or _blas_controller() is None:
        return [(0, n)]
    edges = [n * j // count for j in range(count + 1)]
    return list(zip(edges[:-1], edges[1:]))


def one_blas_thread():
    """A context in which OpenBLAS computes on the calling thread only.

    Used around all of a split forward or backward, not only the chunks: an
    OpenBLAS worker that has just been used keeps spinning on its core for a
    while, and would compete with the chunk threads for the same two cores.
    """
    controller = _blas_controller()
    return controller.limit(limits=1, user_api="blas") if controller else contextlib.nullcontext()


def run_chunks(fn, count):
    """[fn(0), fn(1), ...]: chunk 0 on this thread, the others on worker threads.

    Call it inside ``one_blas_thread()``. Every chunk finishes before this
    returns; an exception is re-raised for the first chunk that failed.
    """
    global _pool, _pool_workers
    if count == 1:
        return [fn(0)]
    if _pool_workers < count - 1:
        _pool_workers = count - 1
        _pool = ThreadPoolExecutor(max_workers=_pool_workers, thread_name_prefix="minicnn")
    futures = [_pool.submit(fn, j) for j in range(1, count)]
    results, errors = [None] * count, [None] * count
    try:
        results[0] = fn(0)
    except Exception as e:  # noqa: BLE001 - re-raised below, after the workers finish
        errors[0] = e
    for j, future in enumerate(futures, start=1):
        try:
            results[j] = future.result()
        except Exception as e:  # noqa: BLE001
            errors[j] = e
    for e in errors:
        if e is not None:
            raise e
    return results


class SharedDraw:
    """Random numbers for a whole batch, drawn once and shared by the batch's chunks.

    A random layer (Dropout) running on one chunk asks for its rows; the first
    chunk to ask draws the numbers for all N rows in one call, exactly as the
    unsplit batch would have. So the random stream, and every result, is the
    same whatever the number of threads.
    """

    def __init__(self, n):
        self.n = n
        self._lock = threading.Lock()
        self._values = None

    def rows(self, lo, hi, row_shape, draw):
        """Rows lo:hi of the (N, *row_shape) draw; ``draw(shape)`` makes it the first time."""
        with self._lock:
            if self._values is None:
                self._values = draw((self.n,) + tuple(row_shape))
        return self._values[lo:hi]

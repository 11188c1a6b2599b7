"""An opt-in, process-wide setting of the C memory allocator, for training speed.

    from minicnn.allocator import keep_freed_memory
    keep_freed_memory()          # once, at the start of a training script

Why: a training step allocates and frees the same multi-megabyte arrays every
time (im2col matrices, activations, gradients). By default glibc hands freed
memory at the top of its heap back to the operating system and serves large
requests with fresh memory maps, so the next step page-faults all of it back
in. Keeping up to 1 GiB of freed memory, and serving requests up to 32 MiB from
the heap, removes those faults. A third setting puts every thread on the main
heap: a thread's own arena is built of 64 MiB heaps that glibc unmaps as soon
as one empties, whatever the first setting says (DataParallel's threads).
The cost: the process keeps its peak memory.

This changes the whole process (a Jupyter kernel, PyTorch in the same process),
so minicnn never does it on import: ``minicnn train`` and the benchmark call it.
"""
import ctypes
import sys

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_ARENA_MAX = -1, -3, -8   # from glibc's <malloc.h>


def keep_freed_memory():
    """Ask glibc to keep freed memory for reuse; True when it accepted all three settings.

    Does nothing (returns False) off Linux or on a C library other than glibc.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(M_TRIM_THRESHOLD, 1 << 30) and libc.mallopt(M_MMAP_THRESHOLD, 32 << 20)
                    and libc.mallopt(M_ARENA_MAX, 1))
    except (OSError, AttributeError):                       # not glibc (musl, ...): nothing to tune
        return False

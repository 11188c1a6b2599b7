"""Training keeps freed memory for reuse: a setting of glibc's allocator, made when training starts.

Creating the first minicnn ``SGD``, or the first ``DataParallel`` forward, asks glibc (on Linux; elsewhere nothing
changes) to keep freed memory instead of handing it back. Importing minicnn changes nothing (a program that only
predicts keeps its allocator). Opt out: ``MINICNN_KEEP_FREED_MEMORY=0``, or ``allocator.disable()`` before training.

Why: every step allocates and frees the same multi-megabyte arrays (im2col matrices, activations, gradients), which
glibc would hand back and the next step page-fault in again. Kept: up to 1 GiB of freed memory, requests up to 32 MiB
served from the heap, every thread on the main heap (glibc unmaps a thread's 64 MiB heap once it empties). The cost: the
process keeps its peak memory, and the whole process (PyTorch too) keeps the setting until it ends.
"""
import ctypes
import os
import sys
import warnings

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_ARENA_MAX = -1, -3, -8   # from glibc's <malloc.h>
ENVIRONMENT_VARIABLE = "MINICNN_KEEP_FREED_MEMORY"

_kept = None        # None: nothing decided yet; True: the setting is made; False: opted out, or glibc refused it


def keep_freed_memory():
    """Make the setting now, whatever the environment says; True if glibc accepted it (False off Linux or glibc)."""
    global _kept
    _kept = _mallopt()
    return _kept


def disable():
    """Opt out: training leaves the allocator as it is. Call it before training starts."""
    global _kept
    if _kept:
        warnings.warn("minicnn.allocator.disable() came too late: the allocator already keeps freed memory "
                      "and stays so until the process ends; call disable() before creating SGD or "
                      "DataParallel, or set MINICNN_KEEP_FREED_MEMORY=0", stacklevel=2)
        return
    _kept = False


def applied():
    """True when the setting is in effect in this process."""
    return bool(_kept)


def on_first_training():
    """SGD and DataParallel call this when they start: the setting, once, unless opted out."""
    global _kept
    if _kept is None:
        _kept = os.environ.get(ENVIRONMENT_VARIABLE, "1").strip() != "0" and _mallopt()
    return _kept


def _mallopt():
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(M_TRIM_THRESHOLD, 1 << 30) and libc.mallopt(M_MMAP_THRESHOLD, 32 << 20)
                    and libc.mallopt(M_ARENA_MAX, 1))
    except (OSError, AttributeError):                       # not glibc (musl, ...): nothing to tune
        return False

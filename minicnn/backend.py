"""Where arrays live: NumPy (CPU) or CuPy (GPU), chosen by one switch.

Layers never import numpy or cupy themselves. They ask for the array module of their input
(``xp = get_array_module(x)``, as DeZero does), so one code path serves both backends. New arrays
(parameters, batches) are created on the *active* backend: ``set_backend`` or MINICNN_BACKEND.
"""
import os

import numpy as np

from .optional import pip_install

_BACKENDS = ("numpy", "cupy")
_active = None            # "numpy" or "cupy", resolved lazily
_rng = np.random.default_rng()  # CPU generator: weights are drawn here on every backend
_seed = None
_INSTALL = (f"install CuPy on a machine with an NVIDIA GPU: `{pip_install('gpu')}` for CUDA 12, "
            f"`{pip_install('gpu-cuda13')}` for CUDA 13")


def _import_cupy():
    """Return the cupy module, or raise one clear error saying what is missing and how to fix it."""
    try:
        import cupy
    except ImportError as e:
        raise RuntimeError(f"the cupy backend needs CuPy, which is not installed: {_INSTALL}") from e
    try:
        n = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:  # CUDA driver missing or broken
        raise RuntimeError(f"the cupy backend needs an NVIDIA GPU, but CUDA is unusable here ({e}): "
                           f"{_INSTALL}") from e
    if n == 0:
        raise RuntimeError(f"the cupy backend needs an NVIDIA GPU, but no GPU is visible: {_INSTALL}")
    return cupy


def set_backend(name):
    """Choose where new arrays live: "numpy" (CPU) or "cupy" (GPU)."""
    global _active
    if name not in _BACKENDS:
        raise ValueError(f"unknown backend {name!r}: expected one of {', '.join(_BACKENDS)}")
    if name == "cupy":
        cupy = _import_cupy()
        if _seed is not None:
            cupy.random.seed(_seed)
    _active = name


def get_backend():
    """The active backend's name, "numpy" or "cupy"."""
    if _active is None:
        set_backend(os.environ.get("MINICNN_BACKEND", "numpy") or "numpy")
    return _active


def xp():
    """The array module of the active backend (numpy or cupy)."""
    return _import_cupy() if get_backend() == "cupy" else np


def get_array_module(x):
    """The array module that owns ``x``: cupy for a CuPy array, else numpy."""
    if type(x).__module__.startswith("cupy"):
        import cupy
        return cupy
    return np


def is_gpu_array(x):
    return type(x).__module__.startswith("cupy")


def to_numpy(x):
    """A NumPy copy of any array (NumPy or CuPy) or scalar."""
    if is_gpu_array(x):
        return x.get()
    return np.array(x, copy=True)


def asarray(x, dtype=None):
    """``x`` as an array of the active backend (copied across devices if needed)."""
    mod = xp()
    if mod is np and is_gpu_array(x):
        x = x.get()
    return mod.asarray(x, dtype=dtype)


def move(x, device):
    """Move one array to "cpu" (NumPy) or "gpu" (CuPy)."""
    if device == "cpu":
        return x.get() if is_gpu_array(x) else x
    if device in ("gpu", "cuda"):
        cupy = _import_cupy()
        return cupy.asarray(x)
    raise ValueError(f"unknown device {device!r}: expected 'cpu' or 'gpu'")


def manual_seed(seed):
    """Seed every random number minicnn draws (initialisation, dropout, shuffling)."""
    global _rng, _seed
    _seed = int(seed)
    _rng = np.random.default_rng(_seed)
    if _active == "cupy":
        _import_cupy().random.seed(_seed)


def cpu_rng():
    """The CPU random generator behind initialisation and shuffling."""
    return _rng


def random_uniform(shape, low, high, like):
    """Uniform random numbers on the device of ``like`` (dropout masks)."""
    if is_gpu_array(like):
        import cupy
        return cupy.random.uniform(low, high, shape, dtype=like.dtype)
    u = _rng.random(shape, dtype=like.dtype if like.dtype in (np.float32, np.float64) else np.float64)
    return u if (low, high) == (0.0, 1.0) else u * (high - low) + low

"""A strict stand-in for CuPy, backed by NumPy, so the tests on the cupy backend run without a GPU.

tests/conftest.py puts its folder on ``sys.path`` of the pytest process (never of the programs
the tests start: a benchmark must not time it as a GPU) only where the real CuPy is not
installed, and ``MINICNN_FAKE_CUPY=0`` leaves it out. Its arrays are a class of their own,
``cupy.ndarray``, whose ``type(x).__module__`` is ``"cupy"``, so ``minicnn.backend`` takes them for
device arrays without knowing about this file. What it catches is what CuPy refuses on a GPU:

- an implicit copy to the host: ``np.asarray(a)``, ``np.array(a)`` (``__array__`` raises
  TypeError, as CuPy's does); ``.get()`` and ``cupy.asnumpy`` are the explicit copies;
- host and device mixed in one operation: ``a + numpy_array``, ``numpy_array * a``,
  ``cupy.maximum(a, numpy_array)`` all raise TypeError, as in CuPy;
- a NumPy function called on a device array (``np.exp(a)``, ``np.sum(a)``): minicnn's rule is
  ``xp = get_array_module(x)``. CuPy would quietly hand some of these to its own version and
  fail on the others; this stand-in refuses them all, to name the line that should use ``xp``;
- a result left on the wrong side: a reduction gives a 0-d device array, as CuPy's does, not a
  NumPy scalar, so a test that expects a device array is not fooled.

What it cannot catch: anything about the GPU itself. CUDA kernels, their speed and numerical
differences (cuBLAS, atomics, TF32), device memory and its limits, streams and synchronisation,
and every CuPy function minicnn does not use, which this file simply forwards to NumPy.
``scripts/gpu-check.sh`` on a real GPU remains the check of those.
"""
import types

import numpy as _np

__version__ = "0.0.0+numpy-stand-in"
FAKE = True                      # the real CuPy has no such attribute; conftest reports it

_HOST_COPY = ("Implicit conversion to a NumPy array is not allowed. Please use `.get()` to "
              "construct a NumPy array explicitly.")           # CuPy's own words


def _mixed(where):
    return TypeError(f"{where}: a NumPy array (host memory) cannot be mixed with a cupy.ndarray "
                     f"(device memory); move it first with cupy.asarray(x), or back with x.get()")


def _unwrap(value, where):
    """The NumPy array inside a device array; refuse a host array; leave the rest alone."""
    if isinstance(value, ndarray):
        return value._a
    if isinstance(value, _np.ndarray):
        raise _mixed(where)
    if isinstance(value, (list, tuple)):
        return type(value)(_unwrap(v, where) for v in value)
    return value


def _wrap(value):
    """NumPy results back onto the 'device': arrays and NumPy scalars become cupy.ndarray."""
    if isinstance(value, _np.ndarray):
        return ndarray(value)
    if isinstance(value, _np.generic):             # CuPy reductions give 0-d arrays
        return ndarray(_np.asarray(value))
    if isinstance(value, tuple):
        return tuple(_wrap(v) for v in value)
    if isinstance(value, list):
        return [_wrap(v) for v in value]
    return value


def _device_call(function, where):
    """``function`` (a NumPy one) made to take and give device arrays only."""
    def call(*args, **kwargs):
        args = [_unwrap(a, where) for a in args]
        kwargs = {k: _unwrap(v, where) for k, v in kwargs.items()}
        return _wrap(function(*args, **kwargs))
    call.__name__ = getattr(function, "__name__", where)
    return call


class ndarray:
    """An array 'on the device': a NumPy array that refuses to leave or mix without ``.get()``."""

    __module__ = "cupy"          # what minicnn.backend.is_gpu_array looks at

    def __init__(self, array):
        self._a = array

    # -- the explicit ways across, and the implicit ones refused -------------------------------
    def get(self):
        return self._a.copy()

    def __array__(self, *args, **kwargs):
        raise TypeError(_HOST_COPY)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        # Reached by np.exp(a) and by numpy_array + a (NumPy hands the operation to us).
        if any(isinstance(x, _np.ndarray) for x in inputs):
            raise _mixed(f"numpy.{ufunc.__name__}")
        raise TypeError(f"numpy.{ufunc.__name__} was called on a cupy.ndarray: use the array "
                        f"module of the input, xp = minicnn.get_array_module(x), and xp.{ufunc.__name__}")

    def __array_function__(self, func, types_, args, kwargs):
        raise TypeError(f"numpy.{func.__name__} was called on a cupy.ndarray: use the array module "
                        f"of the input, xp = minicnn.get_array_module(x), and xp.{func.__name__}")

    # -- what an array is ----------------------------------------------------------------------
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    strides = property(lambda self: self._a.strides)
    itemsize = property(lambda self: self._a.itemsize)
    nbytes = property(lambda self: self._a.nbytes)
    flags = property(lambda self: self._a.flags)
    base = property(lambda self: None if self._a.base is None else ndarray(self._a.base))
    T = property(lambda self: ndarray(self._a.T))

    def __getattr__(self, name):
        # The methods (sum, reshape, astype, transpose, max, argmax, ...), on the device. Never
        # NumPy's __array_interface__ and the like: through those NumPy would read the memory.
        if name.startswith("__"):
            raise AttributeError(name)
        attribute = getattr(self._a, name)
        return _device_call(attribute, f"cupy.ndarray.{name}") if callable(attribute) else attribute

    def __repr__(self):
        return f"array({_np.array2string(self._a, separator=', ')}, device='fake-gpu')"

    def __len__(self):
        return len(self._a)

    def __iter__(self):
        return (_wrap(v) for v in self._a)

    # Scalars may leave the device on purpose (CuPy synchronises and copies one number).
    def __float__(self):
        return float(self._a)

    def __int__(self):
        return int(self._a)

    def __bool__(self):
        return bool(self._a)

    def __complex__(self):
        return complex(self._a)

    def __index__(self):
        return self._a.__index__()

    def __getitem__(self, key):
        return _wrap(self._a[_unwrap(key, "cupy.ndarray[...]")])

    def __setitem__(self, key, value):
        # CuPy copies a NumPy value to the device here; only the index must be on the device.
        value = value._a if isinstance(value, ndarray) else value
        self._a[_unwrap(key, "cupy.ndarray[...] =")] = value

    def __deepcopy__(self, memo):
        return ndarray(self._a.copy())

    def __reduce__(self):                # pickling (multiprocessing) would copy to the host
        raise TypeError("a cupy.ndarray cannot be pickled here: copy it to the host with .get()")


def _operator(name):
    def op(self, *other):
        result = getattr(self._a, name)(*[_unwrap(o, f"cupy.ndarray.{name}") for o in other])
        return NotImplemented if result is NotImplemented else _wrap(result)
    op.__name__ = name
    return op


def _in_place(name):
    def op(self, other):
        getattr(self._a, name)(_unwrap(other, f"cupy.ndarray.{name}"))
        return self
    op.__name__ = name
    return op


for _name in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "and", "or",
              "xor", "lshift", "rshift"):
    setattr(ndarray, f"__{_name}__", _operator(f"__{_name}__"))
    setattr(ndarray, f"__r{_name}__", _operator(f"__r{_name}__"))
    setattr(ndarray, f"__i{_name}__", _in_place(f"__i{_name}__"))
for _name in ("lt", "le", "gt", "ge", "eq", "ne", "neg", "pos", "abs", "invert"):
    setattr(ndarray, f"__{_name}__", _operator(f"__{_name}__"))
ndarray.__hash__ = None


# -- the module: creation, explicit copies, and NumPy's functions on device arrays -------------

def asarray(a, dtype=None, order=None):
    """Host data (NumPy arrays, lists, scalars) or device arrays, as a device array."""
    if isinstance(a, ndarray):
        return a if dtype is None or a.dtype == dtype else ndarray(a._a.astype(dtype))
    return ndarray(_np.array(_on_host(a), dtype=dtype, order=order or "K", copy=True))


def array(a, dtype=None, copy=True, order="K", ndmin=0):
    return ndarray(_np.array(_on_host(a), dtype=dtype, copy=True, order=order, ndmin=ndmin))


def _on_host(a):
    """What cupy.asarray copies to the device: host data as is, device arrays unwrapped."""
    if isinstance(a, ndarray):
        return a._a
    if isinstance(a, (list, tuple)):
        return type(a)(_on_host(v) for v in a)
    return a


def asnumpy(a):
    return a.get() if isinstance(a, ndarray) else _np.asarray(a)


def get_array_module(*args):
    import sys
    return sys.modules[__name__] if any(isinstance(a, ndarray) for a in args) else _np


class _Ufunc:
    """A NumPy ufunc on device arrays, with its methods (``xp.add.at``, ``xp.maximum.reduce``)."""

    def __init__(self, ufunc):
        self._ufunc = ufunc
        self.__name__ = ufunc.__name__

    def __call__(self, *args, **kwargs):
        return _device_call(self._ufunc, f"cupy.{self.__name__}")(*args, **kwargs)

    def __getattr__(self, method):
        return _device_call(getattr(self._ufunc, method), f"cupy.{self.__name__}.{method}")


def __getattr__(name):
    # Everything else minicnn asks of CuPy is NumPy's function of the same name, made to take
    # and give device arrays only: dtypes and constants (float32, inf, newaxis) pass through.
    attribute = getattr(_np, name)
    if isinstance(attribute, _np.ufunc):
        return _Ufunc(attribute)
    if isinstance(attribute, type) or not callable(attribute):
        return attribute
    return _device_call(attribute, f"cupy.{name}")


class _RandomState:
    """cupy.random: draws on the 'device' from a NumPy generator of its own."""

    def __init__(self):
        self._rs = _np.random.RandomState()

    def seed(self, seed=None):
        self._rs.seed(seed)

    def uniform(self, low=0.0, high=1.0, size=None, dtype=float):
        return ndarray(self._rs.uniform(low, high, size).astype(dtype))


random = _RandomState()
cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=lambda: 1))
lib = types.SimpleNamespace(stride_tricks=types.SimpleNamespace(
    as_strided=lambda x, shape=None, strides=None: ndarray(
        _np.lib.stride_tricks.as_strided(_unwrap(x, "cupy.lib.stride_tricks.as_strided"),
                                         shape, strides))))

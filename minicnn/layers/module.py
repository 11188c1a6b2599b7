"""Parameter, Module and no_grad: what every layer shares.

A layer's forward saves what its backward needs (``self.save_for_backward(...)``); its backward
takes dL/d(output) and returns dL/d(input), adding dL/d(param) into ``param.grad`` on the way
(``param.accumulate(grad)``), as PyTorch does. There is no autograd: every backward is written out.
Modules nest as in PyTorch: a Module held as an attribute (or in a list or tuple attribute) is a
sub-module, and parameters, buffers, ``train()``, ``to()``, ``state_dict()`` reach the whole tree.
"""
import contextlib

import numpy as np

from ..backend import asarray, cpu_rng, get_array_module, move, to_numpy

_grad_enabled = True
_NOTHING_SAVED = object()      # what a forward inside no_grad() leaves for a backward


class no_grad(contextlib.ContextDecorator):
    """``with minicnn.no_grad():`` (or ``@minicnn.no_grad()``) forwards keep nothing for a backward,
    as in PyTorch: for inference, the caches (im2col matrices, masks) are freed layer by layer."""

    def __enter__(self):
        global _grad_enabled
        self._before, _grad_enabled = _grad_enabled, False

    def __exit__(self, *exc):
        global _grad_enabled
        _grad_enabled = self._before


def is_grad_enabled():
    """False inside ``no_grad()``."""
    return _grad_enabled


class Parameter:
    """A trainable array ``data`` and its gradient ``grad`` (same shape; None until a backward)."""

    def __init__(self, data):
        self.data, self.grad = data, None

    def accumulate(self, grad):
        """Add ``grad`` into ``.grad``: as in PyTorch, gradients add up until ``zero_grad()``."""
        if not hasattr(grad, "shape"):
            raise TypeError(f"a parameter's gradient must be an array, received {type(grad).__name__}")
        if tuple(grad.shape) != tuple(self.data.shape):
            raise ValueError(f"a gradient of shape {tuple(grad.shape)} cannot be added to a parameter "
                             f"of shape {tuple(self.data.shape)}")
        if self.grad is None:
            self.grad = grad.copy()          # our own array: adding into it never touches the caller's
        else:
            self.grad += grad

    @property
    def shape(self):
        return self.data.shape

    @property
    def dtype(self):
        return self.data.dtype

    def __repr__(self):
        return f"Parameter(shape={tuple(self.data.shape)}, dtype={self.data.dtype})"


class Module:
    """Base class of layers and networks: forward, backward, and the tree of sub-modules."""

    training = True

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def forward(self, x):
        raise NotImplementedError(f"{type(self).__name__} has no forward(self, x) of its own")

    def backward(self, grad_output):
        raise NotImplementedError(f"{type(self).__name__} has no backward(self, grad_output) of its own")

    # -- the tree of modules ---------------------------------------------------------------
    def named_children(self):
        """(name, module) of the sub-modules held as attributes, or in a list/tuple attribute ("blocks.0")."""
        for name, value in vars(self).items():
            if isinstance(value, Module):
                yield name, value
            elif isinstance(value, (list, tuple)):
                yield from ((f"{name}.{i}", v) for i, v in enumerate(value) if isinstance(v, Module))

    def children(self):                                       # the direct sub-modules
        return [m for _, m in self.named_children()]

    def named_modules(self, prefix="", _seen=None):
        """(dotted name, module) of this module ("") and every module below it, each once."""
        _seen = set() if _seen is None else _seen
        if id(self) in _seen:
            return
        _seen.add(id(self))
        yield prefix, self
        for name, child in self.named_children():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name, _seen)

    def modules(self):
        return [m for _, m in self.named_modules()]

    def apply(self, fn):
        """Call ``fn(module)`` on every sub-module, then on this one (PyTorch's order); return self."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    # -- parameters and buffers ------------------------------------------------------------
    def _tensors(self):
        """(dotted name, module, attribute) of every parameter and buffer: each module's own,
        parameters first, then its sub-modules'; a tensor shared by two modules appears once."""
        seen, out = set(), []
        for prefix, m in self.named_modules():
            own = [k for k, v in vars(m).items() if isinstance(v, Parameter)] + m.__dict__.get("_buffer_names", [])
            for k in own:
                value = getattr(m, k)
                if value is not None and id(value) not in seen:
                    seen.add(id(value))
                    out.append((f"{prefix}.{k}" if prefix else k, m, k))
        return out

    def named_parameters(self):
        """("conv.weight", Parameter), ...: each module's own parameters, then its sub-modules'."""
        return [(n, getattr(m, k)) for n, m, k in self._tensors() if isinstance(getattr(m, k), Parameter)]

    def parameters(self):
        return [p for _, p in self.named_parameters()]

    def register_buffer(self, name, array):
        """Keep ``array`` as ``self.<name>``: saved in state_dict and moved by to(), but not trained."""
        names = self.__dict__.setdefault("_buffer_names", [])
        if name not in names:
            names.append(name)
        setattr(self, name, array)

    def named_buffers(self):
        """("bn.running_mean", array), ...: the buffers of every module (None ones left out)."""
        return [(n, getattr(m, k)) for n, m, k in self._tensors() if not isinstance(getattr(m, k), Parameter)]

    def buffers(self):
        return [b for _, b in self.named_buffers()]

    def zero_grad(self):
        """Forget the gradients (``.grad = None``), as PyTorch's ``zero_grad()`` does by default."""
        for p in self.parameters():
            p.grad = None

    # -- modes, devices, dtypes ------------------------------------------------------------
    def train(self, mode=True):
        for m in self.modules():
            m.training = bool(mode)
        return self

    def eval(self):
        return self.train(False)

    def to(self, device=None, dtype=None):
        """Move parameters and buffers to "cpu"/"gpu"; cast parameters and float buffers to ``dtype``."""
        for _, m, k in self._tensors():
            a = _array(getattr(m, k))
            a = a if device is None else move(a, device)
            a = a.astype(dtype, copy=False) if dtype is not None and a.dtype.kind == "f" else a
            _assign(m, k, a)
        for m in self.modules():
            m._cache = None
        return self

    def double(self):
        return self.to(dtype="float64")

    def float(self):
        return self.to(dtype="float32")

    # -- state_dict: PyTorch's keys ------------------------------------------------------------
    def state_dict(self):
        """{"conv.weight": array, "bn.running_mean": array, ...}: parameters and buffers, PyTorch's keys."""
        return {n: _array(getattr(m, k)) for n, m, k in self._tensors()}

    def load_state_dict(self, state):
        """Copy arrays into the parameters and buffers (names and shapes must match); each keeps its own dtype
        and device (a float64 file loads into a float32 model as float32)."""
        slots = {n: (m, k) for n, m, k in self._tensors()}
        missing = [k for k in slots if k not in state]
        unexpected = [k for k in state if k not in slots]
        if missing or unexpected:
            raise ValueError(f"state dict does not match the model: missing {missing or 'nothing'}, "
                             f"unexpected {unexpected or 'nothing'}")
        for name, (m, k) in slots.items():
            have = _array(getattr(m, k)).shape
            if tuple(state[name].shape) != tuple(have):
                raise ValueError(f"{name!r} has shape {tuple(have)} in the model "
                                 f"but {tuple(state[name].shape)} in the state dict")
        for name, (m, k) in slots.items():
            like = _array(getattr(m, k))
            _assign(m, k, get_array_module(like).array(to_numpy(state[name]), dtype=like.dtype))  # a copy

    # -- what save/load and summary need ------------------------------------------------------
    def config(self):
        """The constructor arguments that rebuild this layer (JSON-serialisable)."""
        return {}

    def extra_repr(self):
        return ", ".join(f"{k}={v}" for k, v in self.config().items())

    def __repr__(self):
        children = [f"  ({name}): " + repr(m).replace("\n", "\n  ") for name, m in self.named_children()]
        if not children:
            return f"{type(self).__name__}({self.extra_repr()})"
        return f"{type(self).__name__}(\n" + "\n".join(children) + "\n)"

    def flops(self, input_shape, output_shape):
        """Forward floating-point operations for one sample (a multiply-add counts 2)."""
        return 0

    # -- for layers: the cache and the input contract ---------------------------------------
    def save_for_backward(self, *values):
        """Keep what backward needs (PyTorch's name); inside ``no_grad()`` nothing is kept."""
        self._cache = values if _grad_enabled else _NOTHING_SAVED

    @property
    def saved_tensors(self):
        """What the last forward saved for backward, or one sentence on why there is nothing."""
        cache = getattr(self, "_cache", None)
        name = type(self).__name__
        if cache is None:
            raise RuntimeError(f"{name}.backward was called before forward: run forward on a batch first")
        if cache is _NOTHING_SAVED:
            raise RuntimeError(f"{name}.backward was called after a forward inside minicnn.no_grad(), "
                               "which keeps nothing for a backward: run the forward outside no_grad()")
        return cache

    def _check_input(self, x, ndim=None, layout=""):
        """Refuse, in one sentence, a non-array, the wrong dims, integers, or floats not the parameters'."""
        name = type(self).__name__
        if not hasattr(x, "ndim") or not hasattr(x, "dtype"):
            raise ValueError(f"{name} expected an array {layout}, received {type(x).__name__}")
        if ndim is not None and x.ndim != ndim:
            raise ValueError(f"{name} expected a {ndim}-D input {layout}, received shape {tuple(x.shape)}")
        if x.dtype.kind != "f":
            raise ValueError(f"{name} received an array of {x.dtype}; layers compute on floats: convert "
                             "images with minicnn.data.as_batch(x) (float32 in [0, 1]), or x.astype('float32') / 255")
        own = [v for v in vars(self).values() if isinstance(v, Parameter)]
        if own and x.dtype != own[0].data.dtype:
            raise ValueError(f"{name} has {own[0].data.dtype} parameters but received {x.dtype} input: "
                             f"cast one to the other (x.astype('{own[0].data.dtype}'), or model.double() / "
                             "model.float())")


_deferred = False


@contextlib.contextmanager
def deferred_init():
    """Layers built inside get placeholder weights that take no memory: checkpoint.load checks a
    file's architecture against its arrays before any weight is allocated."""
    global _deferred
    before, _deferred = _deferred, True
    try:
        yield
    finally:                             # a refused file must not leave every later layer a placeholder
        _deferred = before


def _array(t):                       # a parameter's array, or a buffer (already an array)
    return t.data if isinstance(t, Parameter) else t


def _assign(module, name, array):    # put array where parameter or buffer module.<name> keeps its values
    t = getattr(module, name)
    if isinstance(t, Parameter):
        t.data, t.grad = array, None
    else:
        setattr(module, name, array)


def init_uniform(shape, bound, dtype="float32"):
    """U(-bound, bound), drawn on the CPU (the same seed, the same weights on every backend)."""
    if _deferred:
        return np.broadcast_to(np.zeros((), dtype), shape)
    return asarray(cpu_rng().uniform(-bound, bound, size=shape).astype(dtype))


def init_full(shape, value, dtype="float32"):
    """An array of ``value`` on the active backend (BatchNorm's ones and zeros)."""
    if _deferred:
        return np.broadcast_to(np.zeros((), dtype), shape)
    return asarray(np.full(shape, value, dtype=dtype))

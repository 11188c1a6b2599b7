"""Parameter and Module: what every layer shares.

A layer's forward saves what its backward needs (its "cache"); its backward
takes dL/d(output) and returns dL/d(input), adding dL/d(param) into
``param.grad`` on the way (``param.accumulate(grad)``), as PyTorch does.
There is no autograd: every backward is written out by hand.
"""
from ..backend import asarray, cpu_rng, move


class Parameter:
    """A trainable array ``data`` and its gradient ``grad`` (same shape; None until a backward)."""

    def __init__(self, data):
        self.data = data
        self.grad = None

    def accumulate(self, grad):
        """Add ``grad`` into ``.grad``, as every backward does in PyTorch.

        Gradients add up over backward passes until ``zero_grad()`` sets ``.grad``
        back to None: that is what lets several micro-batches make one step, and
        why a training loop calls ``optimizer.zero_grad()`` before each backward.
        """
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
    """Base class of layers: ``forward``, ``backward``, ``parameters``, train/eval."""

    training = True

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def forward(self, x):
        raise NotImplementedError

    def backward(self, grad_output):
        raise NotImplementedError

    # -- parameters -----------------------------------------------------------------
    def named_parameters(self):
        """(name, Parameter) pairs, in a fixed order."""
        return [(k, v) for k, v in vars(self).items() if isinstance(v, Parameter)]

    def parameters(self):
        return [p for _, p in self.named_parameters()]

    def zero_grad(self):
        """Forget the gradients (``.grad = None``), as PyTorch's ``zero_grad()`` does by default."""
        for p in self.parameters():
            p.grad = None

    # -- modes, devices, dtypes -----------------------------------------------------------
    def train(self, mode=True):
        self.training = bool(mode)
        return self

    def eval(self):
        return self.train(False)

    def to(self, device=None, dtype=None):
        """Move parameters to "cpu"/"gpu" and/or cast them to ``dtype`` (in place)."""
        for p in self.parameters():
            data = p.data if device is None else move(p.data, device)
            if dtype is not None:
                data = data.astype(dtype, copy=False)
            p.data = data
            p.grad = None
        self._cache = None
        return self

    def double(self):
        return self.to(dtype="float64")

    def float(self):
        return self.to(dtype="float32")

    # -- what save/load and summary need ------------------------------------------------
    def config(self):
        """The constructor arguments that rebuild this layer (JSON-serialisable)."""
        return {}

    def extra_repr(self):
        return ", ".join(f"{k}={v}" for k, v in self.config().items())

    def __repr__(self):
        return f"{type(self).__name__}({self.extra_repr()})"

    def flops(self, input_shape, output_shape):
        """Forward floating-point operations for one sample (a multiply-add counts 2)."""
        return 0

    # -- helpers for layers -----------------------------------------------------------
    def _need_cache(self):
        cache = getattr(self, "_cache", None)
        if cache is None:
            raise RuntimeError(f"{type(self).__name__}.backward was called before forward: "
                               "run forward on a batch first")
        return cache

    def _check_dims(self, x, ndim, layout):
        if not hasattr(x, "ndim"):
            raise ValueError(f"{type(self).__name__} expected an array {layout}, "
                             f"received {type(x).__name__}")
        if x.ndim != ndim:
            raise ValueError(f"{type(self).__name__} expected a {ndim}-D input {layout}, "
                             f"received shape {tuple(x.shape)}")


def init_uniform(shape, bound, dtype="float32"):
    """U(-bound, bound) drawn on the CPU generator, then moved to the active backend.

    Drawing on the CPU means the same seed gives the same weights on every backend.
    """
    w = cpu_rng().uniform(-bound, bound, size=shape)
    return asarray(w.astype(dtype))

"""ReLU, LogSoftmax and Dropout: elementwise and row-wise layers."""
import math

from ..backend import get_array_module, random_uniform
from .module import Module


class ReLU(Module):
    """y = max(x, 0); dy/dx = 1 where x > 0, else 0. Any shape in, same shape out."""

    def forward(self, x):
        xp = get_array_module(x)
        # Against an array of zeros rather than the number 0: NumPy's maximum only
        # takes its fast (SIMD) loop when both inputs are arrays, ~2x faster here
        # (benchmarks/micro.py).
        y = xp.zeros_like(x)
        xp.maximum(x, y, out=y)
        self._cache = (y,)
        return y

    def backward(self, grad_output):
        (y,) = self._need_cache()
        if grad_output.shape != y.shape:
            raise ValueError(f"ReLU.backward received a gradient of shape {tuple(grad_output.shape)}, "
                             f"but its last forward returned shape {tuple(y.shape)}")
        return grad_output * (y > 0)

    def output_shape(self, input_shape):
        return tuple(input_shape)

    def flops(self, input_shape, output_shape):
        return math.prod(output_shape)  # one comparison per element


class LogSoftmax(Module):
    """y = x - logsumexp(x) along ``dim``; stable for logits of any size.

    Subtracting the row's max before exp keeps every exp() in (0, 1].
    Backward: dx = dy - softmax(x) * sum(dy).   x: (N, K) -> y: (N, K)
    """

    def __init__(self, dim=1):
        self.dim = int(dim)
        self._cache = None

    def forward(self, x):
        xp = get_array_module(x)
        if not hasattr(x, "ndim") or not -x.ndim <= self.dim < x.ndim:
            raise ValueError(f"LogSoftmax(dim={self.dim}) received input of shape "
                             f"{getattr(x, 'shape', type(x).__name__)}, which has no dimension {self.dim}")
        shifted = x - x.max(axis=self.dim, keepdims=True)
        y = shifted - xp.log(xp.exp(shifted).sum(axis=self.dim, keepdims=True))
        self._cache = (y,)
        return y

    def backward(self, grad_output):
        (y,) = self._need_cache()
        xp = get_array_module(y)
        return grad_output - xp.exp(y) * grad_output.sum(axis=self.dim, keepdims=True)

    def config(self):
        return dict(dim=self.dim)

    def output_shape(self, input_shape):
        return tuple(input_shape)

    def flops(self, input_shape, output_shape):
        return 4 * math.prod(output_shape)  # max, subtract, exp, sum per element


class Dropout(Module):
    """Zero each element with probability p in training, scale the rest by 1/(1-p).

    The identity in eval mode. Any shape in, same shape out.
    """

    def __init__(self, p=0.5):
        if not 0.0 <= float(p) < 1.0:
            raise ValueError(f"Dropout probability must be in [0, 1), got {p}")
        self.p = float(p)
        self._cache = None

    def forward(self, x):
        if not self.training or self.p == 0.0:
            self._cache = (None,)
            return x
        u = random_uniform(x.shape, 0.0, 1.0, like=x)                    # (same shape as x) in [0, 1)
        keep = u >= self.p                                               # True for the kept elements
        mask = keep.astype(x.dtype)                                      # 0/1 in x's dtype, then scaled:
        mask *= mask.dtype.type(1.0 / (1.0 - self.p))                    # no float64 temporaries (micro.py)
        self._cache = (mask,)
        return x * mask

    def backward(self, grad_output):
        (mask,) = self._need_cache()
        return grad_output if mask is None else grad_output * mask

    def config(self):
        return dict(p=self.p)

    def output_shape(self, input_shape):
        return tuple(input_shape)
